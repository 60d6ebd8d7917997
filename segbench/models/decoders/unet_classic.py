"""The U-Net expanding path: learned x2 upsampling, concatenated skips, two 3x3 convs per stage.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.layers import ConvNormAct
from segbench.models.spec import FeatureSpec, align_to, feature_at


class ExpandBlock(nn.Module):
    """2x2 transposed conv x2 halving the channels, concatenate the skip, two 3x3 conv-BN-ReLU.

    The block outputs the skip's channel count; on the paper's own encoder
    that is also half the input, as in the paper. Convs are padded (the paper
    crops instead), so sizes follow the encoder's.
    """

    def __init__(self, cin: int, skip_channels: int) -> None:
        super().__init__()
        up = max(cin // 2, 1)
        self.up = nn.ConvTranspose2d(cin, up, 2, stride=2)
        self.convs = nn.Sequential(
            ConvNormAct(up + skip_channels, skip_channels),
            ConvNormAct(skip_channels, skip_channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = align_to(self.up(x), skip.shape[-2:])
        return self.convs(torch.cat([x, skip], dim=1))


@DECODERS.register(
    "unet_classic",
    paper="Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation",
    year=2015,
    needs="features at every stride from 32 down to the shallowest (2 here)",
)
class UNetClassic(Decoder):
    """From the stride-32 features, one expanding block per shallower stride; 1x1 classifier; up to the input.

    The final bilinear upsampling covers the shallowest feature's stride (2 for
    every encoder here; the paper's encoder has a stride-1 feature instead).
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        strides = sorted({s.stride for s in specs})
        self.taps = tuple(feature_at(specs, s) for s in strides)  # shallow to deep
        channels = [specs[i].channels for i in self.taps]
        self.blocks = nn.ModuleList(
            ExpandBlock(channels[i + 1], channels[i]) for i in reversed(range(len(channels) - 1))
        )
        self.classifier = nn.Conv2d(channels[0], num_classes, 1)
        self.scale = strides[0]

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = [features[i] for i in self.taps]
        x = skips[-1]
        for block, skip in zip(self.blocks, reversed(skips[:-1]), strict=True):
            x = block(x, skip)
        x = self.classifier(x)
        if self.scale > 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return x
