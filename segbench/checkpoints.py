"""The one loader of checkpoints: weights only, never code.

``torch.load(weights_only=False)`` unpickles arbitrary objects, so a
``last.pt`` whose ``__reduce__`` calls ``os.system`` would run it on ``eval
--checkpoint``, ``train --out`` and a ``grid --out`` resume. Every checkpoint
is read here with ``weights_only=True``: tensors, plain containers and Python
scalars only, plus numpy's numeric scalars and dtypes (data, not code), so a
checkpoint that once stored a numpy float still loads. segbench's own
checkpoints (:meth:`segbench.train.Trainer.checkpoint`) hold nothing else.

Anything else is a :class:`CheckpointError`, one line naming the file and
what was expected: random bytes, a truncated or empty file (torch raises
``EOFError`` there, which click would take for Ctrl-C and print "aborted"),
a file holding a tensor or a list, a checkpoint that lacks its model spec,
or weights of another architecture. A damaged ``last.pt`` of a training run
is set aside as ``last.pt.damaged`` (as damaged cell records are, see
:func:`segbench.rundir.RunDir.set_aside_damaged`), with a warning, so its training
starts over rather than failing on every rerun.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segbench.inputs import DamagedCheckpointWarning
from segbench.outputs import open_atomic

#: Keys every segbench checkpoint has (see Trainer.checkpoint).
REQUIRED_KEYS = ("model", "model_spec")
#: What a weights-only load may reconstruct beyond torch's own allowlist: numeric numpy scalars.
_NUMPY_SAFE = [
    np._core.multiarray.scalar,  # type: ignore[attr-defined]
    np.dtype,
    *(type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)),
]
EXPECTED = "a checkpoint written by segbench train or grid (a dict of tensors and plain values)"


class CheckpointError(ValueError):
    """A file that is not a loadable segbench checkpoint; ``str()`` names it and what was expected."""


def _refused_global(error: BaseException) -> str | None:
    """The ``module.name`` a weights-only load refused, from torch's message (None if not said)."""
    for line in str(error).splitlines():
        if "GLOBAL" in line:
            words = line.split()
            return words[words.index("GLOBAL") + 1] if words.index("GLOBAL") + 1 < len(words) else None
    return None


def read_checkpoint(
    path: Path | str, map_location: str | torch.device = "cpu", require_spec: bool = True
) -> dict[str, Any]:
    """Load ``path`` weights-only and check that it is a segbench checkpoint (a dict with a model spec).

    ``require_spec=False`` accepts an empty model spec: a trainer resuming into
    the model it already holds needs the weights, not how to rebuild them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); expected {EXPECTED}")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = _refused_global(e)
        if refused:
            raise CheckpointError(f"checkpoint {path} holds a Python object ({refused}) that a weights-only "
                                  f"load refuses to run; expected {EXPECTED}") from None
        raise CheckpointError(f"checkpoint {path} is not a torch checkpoint (unreadable data); "
                              f"expected {EXPECTED}") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError, KeyError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({reason}); expected {EXPECTED}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f"checkpoint {path} holds a {type(ckpt).__name__}, not a dict; expected {EXPECTED}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}; expected {EXPECTED}")
    spec = ckpt.get("model_spec")
    required = {"encoder", "decoder", "num_classes"}
    if not isinstance(spec, dict) or (require_spec and not required <= set(spec)):
        raise CheckpointError(f"checkpoint {path} has no model spec (encoder, decoder, num_classes); "
                              f"expected {EXPECTED}")
    return ckpt


def load_weights(model: nn.Module, ckpt: dict[str, Any], path: Path | str) -> None:
    """Load ``ckpt['model']`` into ``model``; weights of another architecture are one line naming ``path``.

    The keys and shapes are checked before anything is copied, so a refused
    checkpoint leaves ``model`` as it was.
    """
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: 'model' holds a {type(state).__name__}, not a state dict")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if getattr(state[k], "shape", None) != own[k].shape)
    if missing or unexpected or shapes:
        spec = ckpt.get("model_spec") or {}
        found = [(len(keys), what, keys[0]) for keys, what in
                 ((missing, "missing"), (unexpected, "unexpected"), (shapes, "of another shape")) if keys]
        detail = ", ".join(f"{n} {what} (e.g. {key})" for n, what, key in found)
        raise CheckpointError(
            f"checkpoint {path}: its weights do not fit {spec.get('encoder')}+{spec.get('decoder')} "
            f"({detail}); expected the weights of that model"
        )
    model.load_state_dict(state)


def set_aside(path: Path | str, reason: str) -> Path:
    """Rename a damaged checkpoint to ``<name>.damaged`` (keeping the evidence) and warn.

    Returns the new path.
    """
    path = Path(path)
    aside = path.with_name(path.name + ".damaged")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another rank of a data-parallel run set it aside first
        return aside
    warnings.warn(f"{reason}; set aside as {aside}, training starts over", DamagedCheckpointWarning,
                  stacklevel=2)
    return aside


def resumable(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The checkpoint at ``path`` to resume from, or None: absent, or damaged (then set aside)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return read_checkpoint(path, map_location)
    except CheckpointError as e:
        set_aside(path, str(e))
        return None


def write_checkpoint(ckpt: dict[str, Any], path: Path | str) -> Path:
    """``torch.save`` into ``path`` atomically (see :func:`segbench.outputs.open_atomic`).

    torch's zip writer, failing to finish a file, raises a RuntimeError that
    hides the OSError beneath (a full disk); that OSError is raised instead,
    so the caller sees one line naming the file.
    """
    with open_atomic(path, "wb") as f:
        try:
            torch.save(ckpt, f)
        except RuntimeError as e:
            if isinstance(e.__context__, OSError):
                raise e.__context__ from None
            raise
    return Path(path)


def recorded_fingerprint(path: Path | str) -> str | None:
    """The cell fingerprint a readable checkpoint was trained under; None if absent or unreadable."""
    try:
        return read_checkpoint(path)["model_spec"].get("fingerprint")
    except (CheckpointError, FileNotFoundError):
        return None


def plain(value: Any) -> Any:
    """``value`` with numpy scalars turned into Python ones, so a weights-only load needs no allowlist."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value
