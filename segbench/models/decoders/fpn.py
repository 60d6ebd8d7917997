"""Semantic FPN: a feature pyramid and Panoptic FPN's light semantic segmentation branch.

Kirillov, Girshick, He & Dollár, "Panoptic Feature Pyramid Networks", CVPR
2019; the pyramid is Lin et al., "Feature Pyramid Networks for Object
Detection", CVPR 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, align_to, feature_at

STRIDES: tuple[int, ...] = (4, 8, 16, 32)


class FeaturePyramid(nn.Module):
    """1x1 laterals to a common width, top-down nearest x2 and addition, a 3x3 conv per level."""

    def __init__(self, in_channels: Sequence[int], width: int = 256) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(c, width, 1) for c in in_channels)
        self.outputs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in in_channels)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        x = self.laterals[-1](features[-1])
        merged = [x]
        for lateral, f in zip(reversed(self.laterals[:-1]), reversed(features[:-1]), strict=True):
            lat = lateral(f)
            x = align_to(F.interpolate(x, scale_factor=2, mode="nearest"), lat.shape[-2:]) + lat
            merged.append(x)
        return [conv(m) for conv, m in zip(self.outputs, reversed(merged), strict=True)]


def _stage(cin: int, cout: int, upsample: bool) -> nn.Sequential:
    """3x3 conv, GroupNorm (32 groups), ReLU, then bilinear x2 when the level is above stride 4."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.GroupNorm(32, cout),
        nn.ReLU(inplace=True),
    ]
    if upsample:
        layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
    return nn.Sequential(*layers)


class SemanticBranch(nn.Module):
    """Brings every pyramid level to stride 4 by (conv, GN, ReLU, x2) stages, sums them, classifies.

    A level at stride 4 * 2^k gets k stages (at least one), so each level's
    convs run at no more than its own resolution and the branch stays light.
    """

    def __init__(self, strides: Sequence[int], num_classes: int, width: int = 256, dims: int = 128) -> None:
        super().__init__()
        self.base = min(strides)
        self.levels = nn.ModuleList()
        for s in strides:
            n = max(1, (s // self.base).bit_length() - 1)
            ups = s > self.base
            stages = (_stage(width if i == 0 else dims, dims, ups) for i in range(n))
            self.levels.append(nn.Sequential(*stages))
        self.predictor = nn.Conv2d(dims, num_classes, 1)

    def forward(self, pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
        size = pyramid[0].shape[-2:]
        x = sum(align_to(level(p), size) for level, p in zip(self.levels, pyramid, strict=True))
        x = self.predictor(x)
        return F.interpolate(x, scale_factor=self.base, mode="bilinear", align_corners=False)


@DECODERS.register(
    "fpn",
    paper="Kirillov et al., Panoptic Feature Pyramid Networks (semantic FPN)",
    year=2019,
    needs="features at strides 4, 8, 16, 32",
)
class SemanticFPN(Decoder):
    """FPN over strides 4-32 (256 channels), then Panoptic FPN's semantic branch (128 channels, GN)."""

    def __init__(
        self, specs: Sequence[FeatureSpec], num_classes: int, width: int = 256, dims: int = 128
    ) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in STRIDES)
        self.pyramid = FeaturePyramid([specs[i].channels for i in self.taps], width)
        self.head = SemanticBranch(STRIDES, num_classes, width, dims)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.head(self.pyramid([features[i] for i in self.taps]))
