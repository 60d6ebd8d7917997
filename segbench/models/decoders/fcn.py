"""FCN-32s, FCN-16s and FCN-8s: the convolutionalised classifier and learned upsampling.

Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder, bilinear_upsampler
from segbench.models.spec import FeatureSpec, align_to, feature_at


class FCNHead(nn.Sequential):
    """VGG's fc6/fc7 as convolutions (7x7, then 1x1), each with ReLU and dropout, then a 1x1 score.

    fc6 is padded by 3 so it keeps the map size: the paper pads the input by
    100 instead, which the input-size contract here rules out.
    """

    def __init__(self, cin: int, num_classes: int, width: int = 4096, dropout: float = 0.5) -> None:
        super().__init__(
            nn.Conv2d(cin, width, 7, padding=3),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv2d(width, width, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv2d(width, num_classes, 1),
        )


def _skip_score(cin: int, num_classes: int) -> nn.Conv2d:
    """1x1 score of a shallower feature, zero-initialised so training starts from the coarser net."""
    score = nn.Conv2d(cin, num_classes, 1)
    assert score.bias is not None  # built with a bias
    nn.init.zeros_(score.weight)
    nn.init.zeros_(score.bias)
    return score


class _FCN(Decoder):
    """Scores the stride-32 features; per skip, learned x2 up and add its score; then up to stride 1.

    ``skip_strides`` (deep to shallow) is what tells the three variants apart.
    Every transposed conv starts as bilinear upsampling and is learned (the
    paper keeps the final one fixed at bilinear).
    """

    skip_strides: ClassVar[tuple[int, ...]] = ()

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, width: int = 4096) -> None:
        super().__init__(specs, num_classes)
        self.top = feature_at(specs, 32)
        self.taps = tuple(feature_at(specs, s) for s in self.skip_strides)
        c = num_classes
        self.head = FCNHead(specs[self.top].channels, c, width)
        self.scores = nn.ModuleList(_skip_score(specs[i].channels, c) for i in self.taps)
        self.ups = nn.ModuleList(bilinear_upsampler(c, 2) for _ in self.taps)
        final_stride = self.skip_strides[-1] if self.skip_strides else 32
        self.final_up = bilinear_upsampler(c, final_stride)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.head(features[self.top])
        for i, score, up in zip(self.taps, self.scores, self.ups, strict=True):
            s = score(features[i])
            x = align_to(up(x), s.shape[-2:]) + s
        return self.final_up(x)


_PAPER = "Long et al., Fully Convolutional Networks for Semantic Segmentation"
_HEAD = "features at stride 32 (fc6 7x7 conv to 4096, fc7, score)"


@DECODERS.register("fcn32s", paper=_PAPER, year=2015, needs=_HEAD)
class FCN32s(_FCN):
    """Single-stream FCN: stride-32 scores upsampled x32 (64x64 transposed conv)."""


@DECODERS.register("fcn16s", paper=_PAPER, year=2015, needs=f"{_HEAD}; stride-16 features")
class FCN16s(_FCN):
    """Adds the stride-16 ("pool4") scores before upsampling x16."""

    skip_strides = (16,)


@DECODERS.register("fcn8s", paper=_PAPER, year=2015, needs=f"{_HEAD}; stride-16 and stride-8 features")
class FCN8s(_FCN):
    """Adds the stride-16 ("pool4") and stride-8 ("pool3") scores before upsampling x8."""

    skip_strides = (16, 8)
