"""segbench: which encoder with which decoder, at what cost.

The Python API mirrors the CLI::

    model = segbench.build_model(encoder="resnet18", decoder="unet", num_classes=19)
    model = segbench.build_model(model="enet", num_classes=19)   # a whole network
    record = segbench.profile(model, input_size=(360, 640), device="auto")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The API's names, loaded on first use (PEP 562): ``import segbench`` (and ``segbench --help``) does not
#: load torch or the model zoo until something needs them.
_LAZY = {
    "Profile": "segbench.measure.costs",
    "profile": "segbench.measure.profile",
    "build_model": "segbench.models",
    "ENCODERS": "segbench.models",
    "DECODERS": "segbench.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def list_encoders(pattern: str = "*") -> list[str]:
    """Registered encoder names matching a glob."""
    from segbench.models import ENCODERS

    return ENCODERS.names(pattern)


def list_decoders(pattern: str = "*") -> list[str]:
    """Registered decoder names matching a glob."""
    from segbench.models import DECODERS

    return DECODERS.names(pattern)


def list_models(pattern: str = "*") -> list[str]:
    """Whole networks and the literature's names for encoder + decoder pairs, matching a glob."""
    import fnmatch

    from segbench.models.catalog import model_names

    return [n for n in model_names() if fnmatch.fnmatchcase(n, pattern)]


__all__ = [
    "Profile", "__version__", "build_model", "list_decoders", "list_encoders", "list_models", "profile",
]
