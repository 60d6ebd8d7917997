"""HRNet-W18 and HRNet-W48, the full-width HRNetV2 backbones used for segmentation (Wang et al.,
"Deep High-Resolution Representation Learning for Visual Recognition", TPAMI 2020).

A stem of two 3x3 stride-2 convs (64 channels), a stage of four bottlenecks
(256 channels) at stride 4, then stages of 1, 4 and 3 multi-resolution
modules over 2, 3 and 4 parallel branches of width C, 2C, 4C, 8C at strides
4, 8, 16, 32 (C = 18 or 48). A module runs four basic residual blocks per
branch, then fuses: every output branch sums every input branch, brought up
by a 1x1 conv + BN and upsampling, or down by a chain of 3x3 stride-2 conv +
BN (ReLU between), then a ReLU. Each new branch comes from the previous
lowest-resolution one by a 3x3 stride-2 conv (the transitions).

Features: the stem's first conv (64 channels, stride 2) and the four branch
outputs of the last module (HRNetV2 keeps all four; HRNetV1 kept only the
highest). Readings taken where the paper is silent, as in the authors'
segmentation code: upsampling in the fusion is bilinear (to the exact size
of the target branch, so odd inputs line up), and convs have no bias.

HRNet keeps its branches at fixed strides by design, so it is never
dilated: decoders that need output stride 8 or 16 answer not_applicable.

Parameters (a test checks them against timm's independent implementation):
W18 9.56 M, W48 65.33 M; with HRNetV2's own head (concatenated branches,
1x1 conv 720 + BN + ReLU, 1x1 scores) W48 for 19 classes is 65.86 M, the
paper's 65.9 M. No ImageNet weights are bundled, so ``pretrained=True`` is
an error.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from segbench.models.decoders.base import NotApplicable
from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.encoders.mobilenet import init_weights
from segbench.models.layers import ConvNormAct
from segbench.models.pretrained import no_pretrained_weights
from segbench.models.spec import FeatureSpec

#: Modules per stage (stages 2, 3, 4) and residual blocks per branch in each module.
MODULES = (1, 4, 3)
BLOCKS = 4
STEM = 64


def _downsampler(cin: int, cout: int, steps: int) -> nn.Sequential:
    """``steps`` 3x3 stride-2 conv + BN; ReLU after all but the last (it is summed first)."""
    layers = [ConvNormAct(cin, cin, stride=2) for _ in range(steps - 1)]
    return nn.Sequential(*layers, ConvNormAct(cin, cout, stride=2, activation=None))


class HRModule(nn.Module):
    """Parallel residual branches, then every branch fused into every other."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(w, w) for _ in range(BLOCKS))) for w in widths
        )
        self.fuse = nn.ModuleList()
        for i, wi in enumerate(widths):
            row = nn.ModuleList()
            for j, wj in enumerate(widths):
                if j > i:
                    row.append(ConvNormAct(wj, wi, kernel_size=1, activation=None))
                elif j < i:
                    row.append(_downsampler(wj, wi, i - j))
                else:
                    row.append(nn.Identity())
            self.fuse.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for i, row in enumerate(self.fuse):
            size = xs[i].shape[-2:]
            total = xs[i]
            for j, layer in enumerate(cast(nn.ModuleList, row)):
                if j == i:
                    continue
                y = layer(xs[j])
                if j > i:
                    y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                total = total + y
            out.append(F.relu(total))
        return out


class Transition(nn.Module):
    """Adapts the existing branches' widths (3x3 conv where they change) and adds one branch at half size."""

    def __init__(self, cins: tuple[int, ...], widths: tuple[int, ...]) -> None:
        super().__init__()
        # ``widths`` has one entry more than ``cins``: the new branch's, built by ``self.new``.
        self.adapt = nn.ModuleList(
            nn.Identity() if cin == w else ConvNormAct(cin, w) for cin, w in zip(cins, widths, strict=False)
        )
        self.new = ConvNormAct(cins[-1], widths[-1], stride=2)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [layer(x) for layer, x in zip(self.adapt, xs, strict=True)] + [self.new(xs[-1])]


class HRNetEncoder(Encoder):
    """Returns the stem's stride-2 map and the four branches (strides 4-32) of the last module."""

    def __init__(self, width: int) -> None:
        nn.Module.__init__(self)  # not a chain of stages: Encoder's sequential forward does not apply
        widths = tuple(width * 2**i for i in range(4))
        self.stem1 = ConvNormAct(3, STEM, stride=2)
        self.stem2 = ConvNormAct(STEM, STEM, stride=2)
        expand = nn.Sequential(nn.Conv2d(STEM, 4 * STEM, 1, bias=False), nn.BatchNorm2d(4 * STEM))
        self.layer1 = nn.Sequential(
            Bottleneck(STEM, STEM, downsample=expand), *(Bottleneck(4 * STEM, STEM) for _ in range(BLOCKS - 1))
        )
        self.transitions = nn.ModuleList()
        self.hr_stages = nn.ModuleList()
        cins: tuple[int, ...] = (4 * STEM,)
        for n, modules in enumerate(MODULES, start=2):
            self.transitions.append(Transition(cins, widths[:n]))
            self.hr_stages.append(nn.Sequential(*(HRModule(widths[:n]) for _ in range(modules))))
            cins = widths[:n]
        self.feature_specs = (FeatureSpec(STEM, 2), *(FeatureSpec(w, 4 * 2**i) for i, w in enumerate(widths)))
        self.output_stride = 32
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s2 = self.stem1(x)
        xs = [self.layer1(self.stem2(s2))]
        for transition, stage in zip(self.transitions, self.hr_stages, strict=True):
            xs = stage(transition(xs))
        return [s2, *xs]

    def dilate(self, output_stride: int) -> None:
        if output_stride < self.output_stride:
            raise NotApplicable(
                f"HRNet keeps parallel branches at fixed strides 4-32 and is not dilated to output stride "
                f"{output_stride}"
            )


def _register(name: str, width: int) -> None:
    def factory(pretrained: bool = False) -> Encoder:
        if pretrained:
            raise no_pretrained_weights(name)
        return HRNetEncoder(width)

    factory.__doc__ = f"HRNetV2-W{width}: branches of {width}, {2 * width}, {4 * width}, {8 * width} channels."
    ENCODERS.add(name, factory, source="segbench", paper=f"Wang et al., HRNetV2-W{width}", year=2020)


_register("hrnet_w18", 18)
_register("hrnet_w48", 48)
