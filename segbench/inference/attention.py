"""Attention to scale (Chen et al., CVPR 2016): learned per-pixel weights over multi-scale predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from segbench.inference.tta import resize, scaled_size
from segbench.models.decoders.base import BoundaryLogits


def _resize_output(
    out: torch.Tensor | BoundaryLogits, size: tuple[int, int]
) -> torch.Tensor | BoundaryLogits:
    if isinstance(out, BoundaryLogits):
        return out.map(lambda logits: resize(logits, size))
    return resize(out, size)


class ScaleAttention(nn.Module):
    """One shared ``model`` run at each of ``scales``; a small head weighs the scales per pixel.

    Chen et al. feed the attention model the networks' last features; a
    wrapper around *any* model sees only its logits, so here the head reads
    the per-scale logits (resized to the input size, concatenated): a 3x3
    conv, ReLU and a 1x1 conv to one score per scale, softmax over scales.
    The fused map is the attention-weighted sum of the per-scale logits.

    Trained end to end: in training mode it returns ``(fused, *per_scale,
    *aux)``, so segbench's auxiliary-loss handling adds the paper's extra
    supervision on every scale (weighted by the recipe's ``aux_weight``) and
    keeps the model's own auxiliary heads (those of the first scale). In eval
    mode it returns the fused logits alone.
    """

    def __init__(self, model: nn.Module, num_classes: int, scales: Sequence[float] = (1.0, 0.5),
                 hidden: int = 64) -> None:
        super().__init__()
        if len(scales) < 2 or any(s <= 0 for s in scales):
            raise ValueError(f"attention to scale needs at least two positive scales, not {tuple(scales)}")
        self.model = model
        self.scales = tuple(float(s) for s in scales)
        self.attention = nn.Sequential(
            nn.Conv2d(num_classes * len(self.scales), hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, len(self.scales), 1),
        )

    def weights(self, per_scale: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per-pixel softmax weights over the scales, ``[N, S, H, W]``."""
        return self.attention(torch.cat(list(per_scale), dim=1)).softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor | BoundaryLogits, ...]:
        size = (x.shape[-2], x.shape[-1])
        per_scale: list[torch.Tensor] = []
        aux: list[torch.Tensor | BoundaryLogits] = []
        for i, scale in enumerate(self.scales):
            out = self.model(resize(x, scaled_size(size, scale)))
            if isinstance(out, tuple):  # training mode with auxiliary heads
                out, *extra = out
                if i == 0:
                    aux = [_resize_output(a, size) for a in extra]
            per_scale.append(resize(out, size))
        w = self.weights(per_scale)
        # a tensor, not sum()'s 0: there are two scales or more
        fused = cast(torch.Tensor, sum(w[:, i : i + 1] * logits for i, logits in enumerate(per_scale)))
        if self.training:
            return (fused, *per_scale, *aux)
        return fused
