"""Expand user choices into cells, validating every name and number first.

Validation happens before anything runs, and every error is a one-line
``ValueError`` naming what was wrong and what is valid, which the CLI prints
as is.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from segbench.cell import CellConfig
from segbench.checks import COMPILE_MODES
from segbench.config import EAGER
from segbench.measure.profile import PRECISIONS, resolve_device
from segbench.models import DECODERS, ENCODERS
from segbench.models.catalog import model_names, resolve_model
from segbench.models.encoders import TIMM_PREFIX, is_encoder_name
from segbench.runtimes import RUNTIMES, RuntimeCard, runtime

DEFAULT_ENCODERS = ("resnet18", "mobilenet")
DEFAULT_DECODERS = ("skip", "unet")
DEFAULT_SIZE = (360, 480)
MIN_SIZE = 32
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$")


def parse_names(text: str | Sequence[str], kind: str, valid: Sequence[str]) -> list[str]:
    """A comma list (or sequence) of registry names, each checked, duplicates dropped."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip() for n in items if n.strip()]
    encoders = kind == "encoder"  # encoders also take timm:NAME
    listing = ", ".join(valid) + (" or timm:NAME" if encoders else "")
    if not names:
        raise ValueError(f"no {kind} given; valid: {listing}")
    for name in names:
        if name not in valid and not (encoders and is_encoder_name(name)):
            raise ValueError(f"unknown {kind} '{name}'; valid: {listing}")
        if encoders and name not in valid and name.startswith(TIMM_PREFIX):  # now, not as a failed row
            from segbench.models.encoders.timm_backed import check_timm_model

            check_timm_model(name[len(TIMM_PREFIX):])
    return list(dict.fromkeys(names))


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` (or ``N`` for a square), each side at least 32; a list of sizes is split on commas before."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"malformed size '{text}'; expected HxW, e.g. 360x480 (several: 360x480,720x960)")
    h = int(m.group(1))
    w = int(m.group(2) or h)
    if h < MIN_SIZE or w < MIN_SIZE:
        raise ValueError(f"size '{text}' is too small; each side must be at least {MIN_SIZE}")
    return h, w


def check_positive(value: int, what: str) -> int:
    if value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value}")
    return value


def model_pairs(
    encoders: str | Sequence[str] | None, decoders: str | Sequence[str] | None, models: str | Sequence[str] | None
) -> list[tuple[str, str]]:
    """The (encoder, decoder) rows of a grid: every encoder x decoder, then each named model.

    With models and neither encoders nor decoders, the grid is the models alone;
    with neither, it is the default encoder x decoder grid. A model that is the
    literature's name for a pair already in the grid is not run twice.
    """
    if models is not None and encoders is None and decoders is None:
        pairs: list[tuple[str, str]] = []
    else:
        encs = parse_names(DEFAULT_ENCODERS if encoders is None else encoders, "encoder", ENCODERS.names())
        decs = parse_names(DEFAULT_DECODERS if decoders is None else decoders, "decoder", DECODERS.names())
        pairs = list(itertools.product(encs, decs))
    if models is not None:
        pairs += [resolve_model(m) for m in parse_names(models, "model", model_names())]
    return list(dict.fromkeys(pairs))


def expand_grid(
    encoders: Sequence[str] | None = None,
    decoders: Sequence[str] | None = None,
    sizes: Sequence[tuple[int, int]] = (DEFAULT_SIZE,),
    batch_sizes: Sequence[int] = (1,),
    precisions: Sequence[str] = ("fp32",),
    device: str = "auto",
    num_classes: int = 21,
    channels_last: bool = False,
    threads: int | None = None,
    pretrained: bool = False,
    models: Sequence[str] | None = None,
    runtimes: Sequence[str] = (EAGER,),
    compile_mode: str = "default",
) -> list[CellConfig]:
    """Every model (see :func:`model_pairs`) x size x batch x precision x runtime, in that nesting order.

    A size, batch size, precision or runtime named twice is one (``--size '64x64;64x64'`` runs one cell, not two).
    ``compile_mode`` goes to the runtimes that take one (their card says so); the others' cells have None.
    """
    pairs = model_pairs(encoders, decoders, models)
    unique_sizes = list(dict.fromkeys(sizes))
    unique_batch_sizes = list(dict.fromkeys(batch_sizes))
    unique_precisions = list(dict.fromkeys(precisions))
    for p in unique_precisions:
        if p not in PRECISIONS:
            raise ValueError(f"unknown precision '{p}'; valid: {', '.join(PRECISIONS)}")
    for b in unique_batch_sizes:
        check_positive(b, "batch size")
    check_positive(num_classes, "number of classes")
    if threads is not None:
        check_positive(threads, "threads")
    unique_runtimes = parse_runtimes(runtimes)
    if compile_mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode '{compile_mode}'; valid: {', '.join(COMPILE_MODES)}")
    dev = resolve_device(device).type
    return [
        CellConfig(
            encoder=e,
            decoder=d,
            input_h=h,
            input_w=w,
            batch_size=b,
            precision=p,
            device=dev,
            channels_last=channels_last,
            num_classes=num_classes,
            threads=threads,
            pretrained=pretrained,
            runtime=r,
            compile_mode=compile_mode if _takes_compile_mode(r) else None,
        )
        for (e, d), (h, w), b, p, r in itertools.product(pairs, unique_sizes, unique_batch_sizes, unique_precisions,
                                                          unique_runtimes)
    ]


def parse_runtimes(names: Sequence[str]) -> list[str]:
    """Registered runtimes, each checked, duplicates dropped; one whose library is missing says how to get it."""
    checked = parse_names(names, "runtime", RUNTIMES.names())
    for name in checked:
        missing = runtime(name).missing()
        if missing:
            raise ValueError(missing)
    return checked


def _takes_compile_mode(name: str) -> bool:
    card = RUNTIMES.card(name)
    return isinstance(card, RuntimeCard) and card.compile_mode
