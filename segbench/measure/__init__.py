"""Measurements: parameters, FLOPs, latency, memory and (segmentation) accuracy.

``Profile`` and ``profile`` load on first use (PEP 562): the column
descriptions in :mod:`segbench.measure.costs` are read without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Profile": "segbench.measure.costs", "profile": "segbench.measure.profile"}

__all__ = ["Profile", "profile"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
