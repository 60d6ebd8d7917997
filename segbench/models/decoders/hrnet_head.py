"""HRNetV2's segmentation head (Wang et al., "Deep High-Resolution Representation Learning for
Visual Recognition", TPAMI 2020), and the concatenation it and OCR share.

HRNetV2 upsamples the lower-resolution branches to the highest (stride 4)
bilinearly and concatenates all four, then a 1x1 conv (with bias, as the
authors' code) + BN + ReLU keeps the width and a 1x1 conv scores the
classes; logits are upsampled x4. On any encoder the four taps are its
deepest features at strides 4, 8, 16 and 32.

Published figure: HRNetV2-W48 with this head, 19 classes (Cityscapes),
65.9 M parameters (paper); segbench gives 65.86 M (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, feature_at

STRIDES: tuple[int, ...] = (4, 8, 16, 32)


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class ConcatPyramid(nn.Module):
    """Taps strides 4-32, upsamples each to the stride-4 map's size, concatenates (HRNetV2's representation)."""

    def __init__(self, specs: Sequence[FeatureSpec]) -> None:
        super().__init__()
        self.taps = tuple(feature_at(specs, s) for s in STRIDES)
        self.out_channels = sum(specs[i].channels for i in self.taps)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        xs = [features[i] for i in self.taps]
        size = xs[0].shape[-2:]
        ups = [F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in xs[1:]]
        return torch.cat([xs[0], *ups], dim=1)


def pointwise_head(cin: int, num_classes: int) -> nn.Sequential:
    """1x1 conv cin -> cin (bias) + BN + ReLU, 1x1 scores: HRNetV2's head, and OCR's soft-region head."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 1), nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, num_classes, 1)
    )


@DECODERS.register(
    "hrnetv2",
    paper="Wang et al., HRNetV2 (concatenated branches, 1x1 head)",
    year=2020,
    needs="features at strides 4, 8, 16, 32",
)
class HRNetV2Head(Decoder):
    """Concatenate strides 4-32 at stride 4, 1x1 conv + BN + ReLU, 1x1 scores, bilinear x4."""

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        self.concat = ConcatPyramid(specs)
        self.head = pointwise_head(self.concat.out_channels, num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return upsample(self.head(self.concat(features)), STRIDES[0])
