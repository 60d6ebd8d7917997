"""DABNet (Gen Li et al. 2019, "DABNet: Depth-wise Asymmetric Bottleneck for Real-time Semantic
Segmentation", BMVC; arXiv:1907.11357).

Built from the paper's Figure 3 and Table 1: three 3x3 convs (32 maps, the
first strided); a downsampling block (ENet's initial block: 3x3/2 conv next to
a 2x2 max pooling) to 64 maps and 3 DAB modules dilated 2 at 1/4; a
downsampling block (3x3/2 conv only) to 128 maps and 6 DAB modules dilated 4,
4, 8, 8, 16, 16 at 1/8; each stage's input and output are concatenated with
the image average-pooled to that size; a 1x1 conv classifies and bilinear
upsampling reaches the input size.

A DAB module: BN-PReLU, a 3x3 conv halving the width, two parallel
depth-wise asymmetric branches (3x1 then 1x3; the second dilated), their
sum, BN-PReLU and a linear 1x1 conv back to the full width, plus the input.
Where the paper is silent we follow the authors' code: convs have no bias,
BN-PReLU follows each depth-wise conv, BatchNorm uses eps 1e-3, and the max
pooling rounds up (``ceil_mode``) so that it matches the strided conv at odd sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import InputInjection, bn_prelu, check_num_classes, conv_bn_prelu

STAGE1_DILATIONS = (2, 2, 2)
STAGE2_DILATIONS = (4, 4, 8, 8, 16, 16)


class DABModule(nn.Module):
    """Depth-wise asymmetric bottleneck with a plain and a dilated depth-wise branch."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        half = channels // 2
        self.pre = bn_prelu(channels)
        self.reduce = conv_bn_prelu(channels, half, 3)
        self.local = nn.Sequential(
            conv_bn_prelu(half, half, (3, 1), groups=half), conv_bn_prelu(half, half, (1, 3), groups=half)
        )
        self.context = nn.Sequential(
            conv_bn_prelu(half, half, (3, 1), dilation=(dilation, 1), groups=half),
            conv_bn_prelu(half, half, (1, 3), dilation=(1, dilation), groups=half),
        )
        self.post = bn_prelu(half)
        self.expand = nn.Conv2d(half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.reduce(self.pre(x))
        out = self.post(self.local(out) + self.context(out))
        return x + self.expand(out)


class DownsamplingBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.widens = in_channels < out_channels
        conv_channels = out_channels - in_channels if self.widens else out_channels
        self.conv = nn.Conv2d(in_channels, conv_channels, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True) if self.widens else None
        self.post = bn_prelu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.pool is not None:
            out = torch.cat([out, self.pool(x)], dim=1)
        return self.post(out)


@NETWORKS.register(
    "dabnet",
    paper="Li et al., DABNet: Depth-wise Asymmetric Bottleneck for Real-time Semantic Segmentation",
    year=2019,
    paper_params=0.76,
    paper_classes=19,
    params_source="paper abstract and Cityscapes comparison (0.76 M), 19 classes",
)
class DABNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.stem = nn.Sequential(
            conv_bn_prelu(3, 32, 3, stride=2), conv_bn_prelu(32, 32, 3), conv_bn_prelu(32, 32, 3)
        )
        self.image_half = InputInjection(1)
        self.image_quarter = InputInjection(2)
        self.image_eighth = InputInjection(3)
        self.post0 = bn_prelu(32 + 3)
        self.down1 = DownsamplingBlock(32 + 3, 64)
        self.stage1 = nn.Sequential(*(DABModule(64, d) for d in STAGE1_DILATIONS))
        self.post1 = bn_prelu(128 + 3)
        self.down2 = DownsamplingBlock(128 + 3, 128)
        self.stage2 = nn.Sequential(*(DABModule(128, d) for d in STAGE2_DILATIONS))
        self.post2 = bn_prelu(256 + 3)
        self.classifier = nn.Conv2d(256 + 3, num_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.post0(torch.cat([self.stem(x), self.image_half(x)], dim=1))
        d1 = self.down1(s0)
        s1 = self.post1(torch.cat([self.stage1(d1), d1, self.image_quarter(x)], dim=1))
        d2 = self.down2(s1)
        s2 = self.post2(torch.cat([self.stage2(d2), d2, self.image_eighth(x)], dim=1))
        return F.interpolate(self.classifier(s2), size=x.shape[-2:], mode="bilinear", align_corners=False)
