"""segbench: which encoder with which decoder, at what cost.

The Python API mirrors the CLI::

    model = segbench.build_model(encoder="resnet18", decoder="unet", num_classes=19)
    model = segbench.build_model(model="enet", num_classes=19)   # a whole network
    record = segbench.profile(model, input_size=(360, 640), device="auto")
"""

from __future__ import annotations

__version__ = "0.1.0"

from segbench.measure.profile import Profile, profile
from segbench.models import DECODERS, ENCODERS, build_model
from segbench.models.catalog import model_names


def list_encoders(pattern: str = "*") -> list[str]:
    """Registered encoder names matching a glob."""
    return ENCODERS.names(pattern)


def list_decoders(pattern: str = "*") -> list[str]:
    """Registered decoder names matching a glob."""
    return DECODERS.names(pattern)


def list_models(pattern: str = "*") -> list[str]:
    """Whole networks and the literature's names for encoder + decoder pairs, matching a glob."""
    import fnmatch

    return [n for n in model_names() if fnmatch.fnmatchcase(n, pattern)]


__all__ = [
    "Profile", "__version__", "build_model", "list_decoders", "list_encoders", "list_models", "profile",
]
