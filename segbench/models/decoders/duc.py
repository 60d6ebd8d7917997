"""DUC-HDC: hybrid dilated convolution on the deepest features, dense upsampling convolution to the input.

Wang et al., "Understanding Convolution for Semantic Segmentation", WACV 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.layers import ConvNormAct
from segbench.models.spec import FeatureSpec


@DECODERS.register(
    "duc",
    paper="Wang et al., Understanding Convolution for Semantic Segmentation (DUC-HDC)",
    year=2018,
    needs="encoder at output stride 8",
)
class DUC(Decoder):
    """HDC (3x3 convs at dilations 1, 2, 3; 512 channels), then a 3x3 conv to C * 8^2 and PixelShuffle(8).

    HDC's co-prime dilations cover every pixel of the receptive field, avoiding
    the "gridding" holes of a repeated single rate. DUC learns the x8
    upsampling: each stride-8 cell predicts its 8x8 block of input-resolution
    scores, recovering detail bilinear interpolation cannot. The paper puts
    HDC inside the encoder's last stages; here it is a light stack on top, so
    it works with any encoder.
    """

    output_stride = 8
    dilations: tuple[int, ...] = (1, 2, 3)

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 512) -> None:
        super().__init__(specs, num_classes)
        top = specs[-1]
        if top.stride != 8:
            raise ValueError(f"duc needs stride-8 features, got stride {top.stride}")
        cins = (top.channels, *(channels,) * (len(self.dilations) - 1))
        self.hdc = nn.Sequential(
            *(ConvNormAct(c, channels, dilation=d) for c, d in zip(cins, self.dilations, strict=True))
        )
        self.duc = nn.Sequential(nn.Conv2d(channels, num_classes * 8 * 8, 3, padding=1), nn.PixelShuffle(8))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.duc(self.hdc(features[-1]))
