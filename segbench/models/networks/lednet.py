"""LEDNet (Wang, Zhou, Ji, Chen, Gong, Wu, Latecki 2019, "LEDNet: A Lightweight Encoder-Decoder
Network for Real-Time Semantic Segmentation", ICIP; arXiv:1905.02423).

Built from the paper's Table 1 and its figures of the SS-nbt unit and the APN.

Encoder: ERFNet's downsampling unit (a 3x3/2 conv next to a 2x2 max
pooling) to 32 maps, 3 SS-nbt units; downsampling to 64, 2 SS-nbt units;
downsampling to 128, 8 SS-nbt units dilated 1, 2, 5, 9, 2, 5, 9, 17. An
SS-nbt unit splits its channels in two halves; each half goes through two
factorised 3x3 convs (3x1 and 1x3; the second pair dilated), the left half
3x1 first and the right half 1x3 first; the halves are concatenated, added
to the input, and the channels shuffled (two groups) so that the halves mix.

Decoder, the attention pyramid network (APN): a three-level pyramid over
the 1/8 features (7x7, 5x5 and 3x3 convs, each strided 2, then 7x7, 5x5 and
3x3 convs at each level, summed coarse to fine by bilinear upsampling) gives
a one-channel attention map that multiplies a 1x1 conv of the features to
the classes; a global-average-pooling branch (1x1 conv) is added, and
bilinear upsampling x8 gives the logits.

Where the paper is silent we follow the first author's public code: the pyramid is one
map wide and its kxk convs are factorised into kx1 and 1xk (with bias, then
BN and ReLU); convs in SS-nbt units carry a bias, BatchNorm uses eps 1e-3,
and dropout is 0.03 before the third downsampling and 0.3 after it. The
max pooling rounds up (``ceil_mode``) so that it matches the strided conv at
odd sizes; the input is never padded. That reading counts 0.917 M
parameters for 19 classes, 2.4% under the paper's 0.94 M.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import batch_norm_eps_1e3, check_num_classes
from segbench.models.networks.erfnet import DownsamplerBlock

#: Dilations of the eight SS-nbt units at 1/8 (Table 1, layers 9-16).
STAGE3_DILATIONS = (1, 2, 5, 9, 2, 5, 9, 17)
#: Kernel sizes of the APN pyramid, fine to coarse (1/16, 1/32, 1/64 of the input).
PYRAMID_KERNELS = (7, 5, 3)


class Downsampler(DownsamplerBlock):
    """ERFNet's downsampling unit, its pooling rounding up like the strided conv at odd sizes."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: interleave the channels of ``groups`` equal groups."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class FactorisedBranch(nn.Module):
    """Two 3x3 convs, each factorised into 3x1 and 1x3 (``vertical_first`` sets the order), the second dilated."""

    def __init__(self, channels: int, dilation: int, vertical_first: bool) -> None:
        super().__init__()

        def pair(d: int) -> list[nn.Module]:
            vertical = nn.Conv2d(channels, channels, (3, 1), padding=(d, 0), dilation=(d, 1))
            horizontal = nn.Conv2d(channels, channels, (1, 3), padding=(0, d), dilation=(1, d))
            first, second = (vertical, horizontal) if vertical_first else (horizontal, vertical)
            return [first, nn.ReLU(inplace=True), second, nn.BatchNorm2d(channels, eps=1e-3)]

        self.body = nn.Sequential(*pair(1), nn.ReLU(inplace=True), *pair(dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SSnbt(nn.Module):
    """Split-shuffle non-bottleneck unit: split, two factorised branches, concat, residual, shuffle."""

    def __init__(self, channels: int, dilation: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        half = channels // 2
        self.left = FactorisedBranch(half, dilation, vertical_first=True)
        self.right = FactorisedBranch(half, dilation, vertical_first=False)
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x.chunk(2, dim=1)
        out = self.dropout(torch.cat([self.left(left), self.right(right)], dim=1))
        return channel_shuffle(F.relu(x + out), 2)


def factorised_conv(cin: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """A one-map kxk conv as kx1 then 1xk (each with its share of the stride), BN, ReLU."""
    k, p = kernel_size, kernel_size // 2
    return nn.Sequential(
        nn.Conv2d(cin, 1, (k, 1), stride=(stride, 1), padding=(p, 0)),
        nn.Conv2d(1, 1, (1, k), stride=(1, stride), padding=(0, p)),
        nn.BatchNorm2d(1, eps=1e-3),
        nn.ReLU(inplace=True),
    )


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class AttentionPyramid(nn.Module):
    """APN: a pyramid attention map times a 1x1 projection to the classes, plus global context."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        # The 1x1 convs of the APN keep their bias although BN follows them.
        project = partial(ConvNormAct, kernel_size=1, bias=True, norm_layer=batch_norm_eps_1e3)
        self.project = project(channels, num_classes)
        self.global_context = nn.Sequential(nn.AdaptiveAvgPool2d(1), project(channels, num_classes))
        self.down = nn.ModuleList(
            factorised_conv(channels if i == 0 else 1, k, stride=2) for i, k in enumerate(PYRAMID_KERNELS)
        )
        self.lateral = nn.ModuleList(factorised_conv(1, k) for k in PYRAMID_KERNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = []
        out = x
        for down, lateral in zip(self.down, self.lateral, strict=True):
            out = down(out)
            levels.append(lateral(out))
        attention = levels[-1]
        for level in reversed(levels[:-1]):
            attention = level + _resize(attention, level.shape[-2:])
        attention = _resize(attention, x.shape[-2:])
        return attention * self.project(x) + self.global_context(x)


@NETWORKS.register(
    "lednet",
    paper="Wang et al., LEDNet: A Lightweight Encoder-Decoder Network for Real-Time Semantic Segmentation",
    year=2019,
    paper_params=0.94,
    paper_classes=19,
    params_source="paper's abstract and Cityscapes comparison (0.94 M), 19 classes",
)
class LEDNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.encoder = nn.Sequential(
            Downsampler(3, 32),
            *(SSnbt(32, 1, 0.03) for _ in range(3)),
            Downsampler(32, 64),
            *(SSnbt(64, 1, 0.03) for _ in range(2)),
            Downsampler(64, 128),
            *(SSnbt(128, d, 0.3) for d in STAGE3_DILATIONS),
        )
        self.decoder = AttentionPyramid(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _resize(self.decoder(self.encoder(x)), x.shape[-2:])
