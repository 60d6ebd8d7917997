"""DDRNet-23-slim and DDRNet-23: two resolution branches with repeated bilateral fusion, DAPPM context.

Hong, Pan, Sun & Jia, "Deep Dual-resolution Networks for Real-time and
Accurate Semantic Segmentation of Road Scenes", arXiv:2101.06085 (2021).

Built from the paper's Table 1 (width ``C`` = 32 for -slim, 64 for -23):

- conv1: two 3x3/2 convs (C) to 1/4; conv2: 2 residual basic blocks (C);
  conv3: 2 basic blocks (2C), the first strided, to 1/8.
- conv4 and conv5_1: the branches part. The low-resolution branch goes on
  downsampling (2 basic blocks of 4C at 1/16, then 8C at 1/32); the
  high-resolution one stays at 1/8 with 2C channels (2 basic blocks each).
  After each stage a bilateral fusion: high-to-low by 3x3/2 conv-BN (two of
  them, ReLU between, for the 1/32 branch), low-to-high by 1x1 conv-BN and
  bilinear upsampling, both summed into the other branch.
- conv5_2: one residual bottleneck (expansion 2) on each branch, the low one
  strided to 1/64 (16C), then DAPPM (branch width 128, output 4C) upsampled
  to 1/8 and summed with the high branch (4C after its bottleneck).
- Head: BN-ReLU-3x3 conv to 64 (-slim) or 128 (-23) channels, BN-ReLU-1x1
  conv to the classes, bilinear to the input size.

The paper trains with an auxiliary head (same design, weight 0.4) on the
high-resolution branch after conv4's fusion; here it is :class:`TrainingOnly`.
Where the paper is silent we follow the authors' release: a ReLU before each
stage and each fusion input, none after the last block of a multi-block stage
(its consumer applies it), biased convs in conv1. DAPPM follows Fig. 5:
average pools (5/2, 9/4, 17/8, global), each BN-ReLU-1x1, upsampled and added
to the previous scale's output, then BN-ReLU-3x3; the five concatenated maps
are compressed by BN-ReLU-1x1 and added to a BN-ReLU-1x1 shortcut.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders.base import TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: DAPPM's average-pooling kernels and strides (the global pool comes after them).
DAPPM_POOLS = ((5, 2), (9, 4), (17, 8))


def resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def bn_relu_conv(cin: int, cout: int, kernel_size: int = 1, groups: int = 1) -> nn.Sequential:
    """Pre-activation conv (BN, ReLU, conv), the unit of DAPPM, PAPPM and the heads."""
    return nn.Sequential(
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, groups=groups, bias=False),
    )


class BasicBlock(nn.Module):
    """ResNet basic block; ``relu=False`` leaves out the closing ReLU (the next stage or fusion applies it)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(cin, planes, stride=stride, activation=None),
            nn.ReLU(inplace=True),
            ConvNormAct(planes, planes, activation=None),
        )
        needs_projection = stride != 1 or cin != planes
        self.shortcut = (
            ConvNormAct(cin, planes, kernel_size=1, stride=stride, activation=None)
            if needs_projection
            else nn.Identity()
        )
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x) + self.shortcut(x)
        return F.relu(out) if self.relu else out


class Bottleneck(nn.Module):
    """ResNet bottleneck with expansion 2 (DDRNet's conv5_2); ``relu=False`` leaves out the closing ReLU."""

    expansion = 2

    def __init__(self, cin: int, planes: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.body = nn.Sequential(
            ConvNormAct(cin, planes, kernel_size=1, activation=None),
            nn.ReLU(inplace=True),
            ConvNormAct(planes, planes, stride=stride, activation=None),
            nn.ReLU(inplace=True),
            ConvNormAct(planes, cout, kernel_size=1, activation=None),
        )
        self.shortcut = (
            ConvNormAct(cin, cout, kernel_size=1, stride=stride, activation=None)
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x) + self.shortcut(x)
        return F.relu(out) if self.relu else out


def stage(
    block: type[BasicBlock | Bottleneck],
    cin: int,
    planes: int,
    blocks: int,
    stride: int = 1,
    last_relu: bool | None = None,
) -> nn.Sequential:
    """``blocks`` residual blocks, the first with ``stride``.

    As released, the last block of a stage of several has no closing ReLU and
    a lone block keeps it; ``last_relu`` overrides that.
    """
    last_relu = blocks == 1 if last_relu is None else last_relu
    layers = []
    for i in range(blocks):
        layers.append(block(cin, planes, stride if i == 0 else 1, relu=last_relu or i < blocks - 1))
        cin = planes * block.expansion
    return nn.Sequential(*layers)


class DAPPM(nn.Module):
    """Deep Aggregation Pyramid Pooling Module: pooled scales fused hierarchically, each with a 3x3."""

    def __init__(self, cin: int, branch: int, cout: int) -> None:
        super().__init__()
        self.scale0 = bn_relu_conv(cin, branch)
        pools = [nn.AvgPool2d(k, s, k // 2) for k, s in DAPPM_POOLS] + [nn.AdaptiveAvgPool2d(1)]
        self.scales = nn.ModuleList(nn.Sequential(pool, bn_relu_conv(cin, branch)) for pool in pools)
        self.process = nn.ModuleList(bn_relu_conv(branch, branch, 3) for _ in pools)
        self.compression = bn_relu_conv(branch * (len(pools) + 1), cout)
        self.shortcut = bn_relu_conv(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outs = [self.scale0(x)]
        for scale, process in zip(self.scales, self.process, strict=True):
            outs.append(process(resize(scale(x), size) + outs[-1]))
        return self.compression(torch.cat(outs, dim=1)) + self.shortcut(x)


class SegmentHead(nn.Sequential):
    """BN-ReLU-3x3 conv to ``mid``, BN-ReLU-1x1 conv (biased) to ``cout``; the caller upsamples."""

    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__(
            bn_relu_conv(cin, mid, 3), nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, cout, 1)
        )


def stem(width: int) -> nn.Sequential:
    """Two 3x3/2 conv-BN-ReLU (biased convs, as released): the input at 1/4 with ``width`` channels."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, 2, 1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, 2, 1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
    )


class DDRNet(nn.Module):
    """DDRNet-23 family of width ``width``; ``head_width`` is the segmentation heads' 3x3 width."""

    def __init__(self, num_classes: int, width: int, head_width: int, ppm_width: int = 128) -> None:
        super().__init__()
        check_num_classes(num_classes)
        c, high = width, 2 * width
        self.stem = stem(c)
        self.layer1 = stage(BasicBlock, c, c, 2)
        self.layer2 = stage(BasicBlock, c, 2 * c, 2, stride=2)
        # Low-resolution branch (1/16, 1/32, 1/64) and high-resolution branch (1/8).
        self.layer3 = stage(BasicBlock, 2 * c, 4 * c, 2, stride=2)
        self.layer4 = stage(BasicBlock, 4 * c, 8 * c, 2, stride=2)
        self.layer5 = stage(Bottleneck, 8 * c, 8 * c, 1, stride=2)
        self.layer3_high = stage(BasicBlock, 2 * c, high, 2)
        self.layer4_high = stage(BasicBlock, high, high, 2)
        self.layer5_high = stage(Bottleneck, high, high, 1)
        # Bilateral fusion.
        self.compression3 = ConvNormAct(4 * c, high, kernel_size=1, activation=None)
        self.compression4 = ConvNormAct(8 * c, high, kernel_size=1, activation=None)
        self.down3 = ConvNormAct(high, 4 * c, stride=2, activation=None)
        self.down4 = nn.Sequential(
            ConvNormAct(high, 4 * c, stride=2, activation=None),
            nn.ReLU(inplace=True),
            ConvNormAct(4 * c, 8 * c, stride=2, activation=None),
        )
        self.dappm = DAPPM(16 * c, ppm_width, 4 * c)
        self.head = SegmentHead(4 * c, head_width, num_classes)
        self.aux_head = TrainingOnly(SegmentHead(high, head_width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        x2 = self.layer2(F.relu(self.layer1(self.stem(x))))
        low = self.layer3(F.relu(x2))
        high = self.layer3_high(F.relu(x2))
        high_size = high.shape[-2:]
        low, high = (
            low + self.down3(F.relu(high)),
            high + resize(self.compression3(F.relu(low)), high_size),
        )
        aux_input = high
        low = self.layer4(F.relu(low))
        high = self.layer4_high(F.relu(high))
        low, high = (
            low + self.down4(F.relu(high)),
            high + resize(self.compression4(F.relu(low)), high_size),
        )
        high = self.layer5_high(F.relu(high))
        context = resize(self.dappm(self.layer5(F.relu(low))), high_size)
        out = resize(self.head(high + context), size)
        if not self.training:
            return out
        return out, resize(self.aux_head(aux_input), size)


@NETWORKS.register(
    "ddrnet23_slim",
    paper="Hong et al., Deep Dual-resolution Networks for Real-time and Accurate Semantic Segmentation",
    year=2021,
    paper_params=5.7,
    paper_classes=19,
    params_source="paper's Cityscapes comparison (5.7 M, 36.3 GFLOPs at 1024x2048); auxiliary head excluded",
)
class DDRNet23Slim(DDRNet):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, width=32, head_width=64)


@NETWORKS.register(
    "ddrnet23",
    paper="Hong et al., Deep Dual-resolution Networks for Real-time and Accurate Semantic Segmentation",
    year=2021,
    paper_params=20.1,
    paper_classes=19,
    params_source="paper's Cityscapes comparison (20.1 M, 143.1 GFLOPs at 1024x2048); auxiliary head excluded",
)
class DDRNet23(DDRNet):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, width=64, head_width=128)
