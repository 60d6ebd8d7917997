"""Model names as the literature uses them: whole networks and named encoder + decoder pairs.

A grid row is always an (encoder, decoder) pair of key columns. A whole
network has no separate encoder, so its row is ``("-", name)``: the encoder
column says "none", and the decoder column names the network. Names such as
``shuffleseg`` are not new models but the literature's name for a pair, and
resolve to it, so their rows are the very cells the grid would run.
"""

from __future__ import annotations

from segbench.config import WHOLE_NETWORK
from segbench.models.networks import NETWORKS
from segbench.registry import UnknownNameError

#: The encoder column of a whole network's row.

#: Published names of encoder + decoder pairs: (encoder, decoder, paper, year).
MODEL_ALIASES: dict[str, tuple[str, str, str, int]] = {
    "shuffleseg": ("shufflenet", "skip", "ShuffleSeg (Gamal et al.)", 2018),
    "linknet": ("resnet18", "linknet", "LinkNet (Chaurasia & Culurciello)", 2017),
    "segformer_b0": ("mit_b0", "segformer", "SegFormer-B0 (Xie et al.)", 2021),
    "segformer_b1": ("mit_b1", "segformer", "SegFormer-B1 (Xie et al.)", 2021),
    "segformer_b2": ("mit_b2", "segformer_768", "SegFormer-B2 (Xie et al.)", 2021),
    "hrnet_w18_ocr": ("hrnet_w18", "ocr", "HRNetV2-W18 + OCR (Yuan et al.)", 2020),
    "hrnet_w48_ocr": ("hrnet_w48", "ocr", "HRNetV2-W48 + OCR (Yuan et al.)", 2020),
}


def model_names() -> list[str]:
    """Every name ``--models`` takes: the whole networks and the aliases."""
    return sorted([*NETWORKS.names(), *MODEL_ALIASES])


def resolve_model(name: str) -> tuple[str, str]:
    """The ``(encoder, decoder)`` key of a model name."""
    if name in MODEL_ALIASES:
        encoder, decoder, _, _ = MODEL_ALIASES[name]
        return encoder, decoder
    if name in NETWORKS:
        return WHOLE_NETWORK, name
    raise UnknownNameError("model", name, model_names())


def model_entries() -> list[tuple[str, dict[str, object]]]:
    """``segbench list models``: each name with what it is and where it comes from."""
    entries: list[tuple[str, dict[str, object]]] = []
    for name in model_names():
        if name in MODEL_ALIASES:
            encoder, decoder, paper, year = MODEL_ALIASES[name]
            entries.append((name, {"is": f"{encoder} + {decoder}", "paper": paper, "year": year}))
        else:
            meta = NETWORKS.metadata(name)
            params = meta.get("paper_params")
            entries.append((name, {"is": "whole network", "paper": meta.get("paper", ""), "year": meta.get("year", ""),
                                   "paper params M": "" if params is None else params}))
    return entries
