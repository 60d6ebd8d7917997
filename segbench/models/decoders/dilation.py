"""Dilation frontend: a stride-8 dilated encoder, a 1x1 classifier and x8 upsampling.

Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR
2016, as the decoding method of Siam et al., RTSeg, ICIP 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder, bilinear_upsampler
from segbench.models.spec import FeatureSpec


@DECODERS.register(
    "dilation",
    paper="Yu & Koltun, Multi-Scale Context Aggregation by Dilated Convolutions (RTSeg frontend)",
    year=2016,
    needs="encoder at output stride 8 (last two stages dilated 2 and 4)",
)
class DilationFrontend(Decoder):
    """Classifies the deepest (stride-8, dilated) features and upsamples x8.

    The encoder's dilation is applied by the builder to every layer of the
    dilated stages, the main path included (the study's ResNet-18 version
    dilated only the shortcut, a bug not reproduced here).
    """

    output_stride = 8

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        top = specs[-1]
        if top.stride != 8:
            raise ValueError(f"dilation needs stride-8 features, got stride {top.stride}")
        self.classifier = nn.Conv2d(top.channels, num_classes, 1)
        self.up = bilinear_upsampler(num_classes, 8)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.up(self.classifier(features[-1]))
