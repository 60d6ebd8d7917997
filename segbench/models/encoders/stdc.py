"""STDC networks (Fan et al., "Rethinking BiSeNet For Real-time Semantic
Segmentation", CVPR 2021): STDC1 and STDC2, written here from the paper.

Table 1 of the paper: two 3x3/2 conv-BN-ReLU layers (32 and 64 channels,
strides 2 and 4), then three stages of STDC modules ending at strides 8, 16
and 32 with 256, 512 and 1024 channels; STDC1 repeats the module 2, 2, 2
times, STDC2 4, 5, 3 times. The first module of each stage has stride 2.

An STDC module (Fig. 3) has four blocks: a 1x1 conv to N/2 channels, then
3x3 convs to N/4, N/8 and N/8, each block fed by the one before; the module
outputs the concatenation of all four (N channels), so the receptive field
grows block by block while the width shrinks. In a stride-2 module the first
block's output reaches the concatenation through a 3x3/2 average pool. The
paper draws the stride in the second block; the authors' released code (whose
counts the paper reports: 8.44 M / 813 M multiply-adds for STDC1 and
12.47 M / 1446 M for STDC2, with the ImageNet head) puts it in a 3x3/2
depthwise conv + BN between the first and second blocks. That reading is
taken here; it adds a few thousand parameters and keeps the same shapes.

The ImageNet head of Table 1 (1x1 conv to 1024, global pool, FC 1024,
FC 1000) is not part of the encoder. There are no published weights in
torchvision, so ``pretrained=True`` is an error.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.encoders.mobilenet import init_weights
from segbench.models.layers import ConvNormAct
from segbench.models.pretrained import no_pretrained_weights
from segbench.models.spec import FeatureSpec

#: Modules per stage (strides 8, 16, 32), Table 1.
STAGE_REPEATS: dict[str, tuple[int, int, int]] = {"stdc1": (2, 2, 2), "stdc2": (4, 5, 3)}
#: Output channels of the five stages (strides 2, 4, 8, 16, 32).
STAGE_CHANNELS = (32, 64, 256, 512, 1024)
#: Blocks per STDC module (the paper's default, n = 4).
BLOCKS = 4


def block_widths(out_channels: int, blocks: int = BLOCKS) -> list[int]:
    """N/2, N/4, ..., N/2^(n-1), N/2^(n-1): the widths of the blocks, which sum to N."""
    widths = [out_channels // 2**i for i in range(1, blocks)]
    return [*widths, widths[-1]]


class STDCModule(nn.Module):
    """Short-term dense concatenate module: the concatenation of ``blocks`` ever narrower conv blocks.

    Each block is the paper's ConvX (conv, BN, ReLU: a :class:`ConvNormAct`).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, blocks: int = BLOCKS) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        widths = block_widths(out_channels, blocks)
        self.first = ConvNormAct(in_channels, widths[0], kernel_size=1)
        half = widths[0]
        if stride == 2:
            self.downsample: nn.Module = nn.Sequential(
                nn.Conv2d(half, half, 3, 2, 1, groups=half, bias=False), nn.BatchNorm2d(half)
            )
            self.skip: nn.Module = nn.AvgPool2d(3, 2, 1)
        else:
            self.downsample = self.skip = nn.Identity()
        self.rest = nn.ModuleList(ConvNormAct(a, b) for a, b in pairwise(widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.first(x)
        outputs = [self.skip(first)]
        y = self.downsample(first)
        for block in self.rest:
            y = block(y)
            outputs.append(y)
        return torch.cat(outputs, dim=1)


def stdc_stages(repeats: tuple[int, int, int]) -> list[nn.Sequential]:
    """The five stages, ending at strides 2, 4, 8, 16, 32."""
    stages = [
        nn.Sequential(ConvNormAct(3, STAGE_CHANNELS[0], stride=2)),
        nn.Sequential(ConvNormAct(STAGE_CHANNELS[0], STAGE_CHANNELS[1], stride=2)),
    ]
    cin = STAGE_CHANNELS[1]
    for cout, n in zip(STAGE_CHANNELS[2:], repeats, strict=True):
        stages.append(nn.Sequential(*(STDCModule(cin if i == 0 else cout, cout, 2 if i == 0 else 1) for i in range(n))))
        cin = cout
    return stages


def stdc_encoder(name: str, pretrained: bool = False) -> Encoder:
    """STDC1 or STDC2 as an :class:`Encoder` (also the backbone of STDC-Seg and PP-LiteSeg)."""
    if name not in STAGE_REPEATS:
        raise KeyError(f"unknown STDC variant '{name}'; expected one of {', '.join(STAGE_REPEATS)}")
    if pretrained:
        raise no_pretrained_weights(name)
    specs = [FeatureSpec(c, 2 ** (i + 1)) for i, c in enumerate(STAGE_CHANNELS)]
    encoder = Encoder(stdc_stages(STAGE_REPEATS[name]), specs)
    init_weights(encoder)
    return encoder


@ENCODERS.register("stdc1", source="segbench", paper="Fan et al., Rethinking BiSeNet (STDC1)", year=2021)
def stdc1(pretrained: bool = False) -> Encoder:
    return stdc_encoder("stdc1", pretrained)


@ENCODERS.register("stdc2", source="segbench", paper="Fan et al., Rethinking BiSeNet (STDC2)", year=2021)
def stdc2(pretrained: bool = False) -> Encoder:
    return stdc_encoder("stdc2", pretrained)
