"""ImageNet weights from the local torch hub cache, never from the network.

Benchmarks must be reproducible offline: if the weights file is not already
in the cache, fail with a message that says exactly where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.models import get_model_weights


class PretrainedWeightsUnavailable(RuntimeError):
    """The requested pretrained weights are not in the local cache."""


def cached_weights_path(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_torchvision_state_dict(model_name: str) -> dict[str, torch.Tensor]:
    """torchvision's DEFAULT ImageNet weights for ``model_name``, from the hub cache only."""
    weights = get_model_weights(model_name).DEFAULT
    path = cached_weights_path(weights.url)
    if not path.is_file():
        raise PretrainedWeightsUnavailable(
            f"pretrained weights for '{model_name}' are not cached at {path}; "
            f"fetch {weights.url} on a machine with network access and copy it there, "
            "or run without --pretrained"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def no_pretrained_weights(name: str) -> PretrainedWeightsUnavailable:
    return PretrainedWeightsUnavailable(
        f"encoder '{name}' has no published ImageNet weights in torchvision; run without --pretrained"
    )
