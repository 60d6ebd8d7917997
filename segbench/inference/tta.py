"""Multi-scale and flip test-time augmentation around any segmentation model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of an image or logit batch (a no-op at the same size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def scaled_size(size: Sequence[int], scale: float) -> tuple[int, int]:
    """``size`` times ``scale``, rounded (``int(...)`` also accepts the traced sizes of a FLOP count)."""
    return max(1, int(float(size[0]) * scale + 0.5)), max(1, int(float(size[1]) * scale + 0.5))


class MultiScaleFlip(nn.Module):
    """Runs ``model`` on the input resized by each of ``scales`` (and mirrored, with ``flip``).

    Every view's logits are resized back to the input size (and un-mirrored);
    their softmax probabilities are averaged, as in mmsegmentation, so a view
    with large logits cannot outvote the others. The output is the log of the
    averaged probabilities, which a CRF or MC dropout can take as unary
    logits. With one view (scale 1, no flip) the model's logits pass through
    untouched. In training mode the wrapper is the bare model.
    """

    def __init__(self, model: nn.Module, scales: Sequence[float] = (1.0,), flip: bool = False) -> None:
        super().__init__()
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f"test-time scales must be positive numbers, not {tuple(scales)}")
        self.model = model
        self.scales = tuple(float(s) for s in scales)
        self.flip = flip

    @property
    def num_views(self) -> int:
        return len(self.scales) * (2 if self.flip else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.training or (self.num_views == 1 and self.scales[0] == 1.0):
            return self.model(x)
        size = (x.shape[-2], x.shape[-1])
        probs = None
        for scale in self.scales:
            view = resize(x, scaled_size(size, scale))
            for mirrored in (False, True) if self.flip else (False,):
                inp = view.flip(-1) if mirrored else view
                logits = self.model(inp)
                logits = logits.flip(-1) if mirrored else logits
                p = resize(logits.float(), size).softmax(dim=1)
                probs = p if probs is None else probs + p
        assert probs is not None
        return (probs / self.num_views).clamp_min(1e-12).log()
