"""SkipNet: RTSeg's FCN-8s-style decoder, fused in class-score space.

Siam et al., "RTSeg: Real-time Semantic Segmentation Comparative Study", ICIP
2018; after Long et al., "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder, bilinear_upsampler
from segbench.models.spec import FeatureSpec, align_to, feature_at


def _score(cin: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, num_classes, 1), nn.BatchNorm2d(num_classes))


@DECODERS.register(
    "skip",
    paper="Siam et al., RTSeg: Real-time Semantic Segmentation Comparative Study",
    year=2018,
    needs="features at strides 8, 16, 32",
)
class SkipNet(Decoder):
    """1x1 scores of the stride-32, 16 and 8 features, fused by x2 upsampling and addition.

    The scored and the upsampled maps are batch-normalised, as in the study's
    MobileNet and ShuffleNet models (whose GFLOPs are the published ones). Every
    transposed conv starts as bilinear upsampling and is trained. The last x8
    upsampling (16x16 kernel) holds a large share of the decoder's FLOPs.
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        self.taps = (feature_at(specs, 8), feature_at(specs, 16), feature_at(specs, 32))
        c = num_classes
        self.score8, self.score16, self.score32 = (_score(specs[i].channels, c) for i in self.taps)
        self.up32 = nn.Sequential(bilinear_upsampler(c, 2), nn.BatchNorm2d(c))
        self.up16 = nn.Sequential(bilinear_upsampler(c, 2), nn.BatchNorm2d(c))
        self.up8 = bilinear_upsampler(c, 8)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        f8, f16, f32 = (features[i] for i in self.taps)
        s16 = self.score16(f16)
        x = align_to(self.up32(self.score32(f32)), s16.shape[-2:]) + s16
        s8 = self.score8(f8)
        x = align_to(self.up16(x), s8.shape[-2:]) + s8
        return self.up8(x)
