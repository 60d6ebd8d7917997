"""RefineNet and Light-Weight RefineNet: cascaded refinement from stride 32 to 4.

Lin, Milan, Shen & Reid, "RefineNet: Multi-Path Refinement Networks for
High-Resolution Semantic Segmentation", CVPR 2017; Nekrasov, Shen & Reid,
"Light-Weight RefineNet for Real-Time Semantic Segmentation", BMVC 2018.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, feature_at

_STRIDES = (32, 16, 8, 4)  # deep to shallow: RefineNet-4 .. RefineNet-1
_WIDTHS = (512, 256, 256, 256)  # the paper's filter numbers for ResNet


def _conv(cin: int, cout: int, kernel_size: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=bias)


def _upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RCU(nn.Module):
    """Residual conv unit: ReLU-3x3-ReLU-3x3, added to the input (no BN, as the paper)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3, bias=True)
        self.conv2 = _conv(channels, channels, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ChainedResidualPooling(nn.Module):
    """A chain of (5x5 max pool stride 1, conv) blocks; each block's output is added to the input.

    Pooling with growing effective windows gathers context from large regions
    at full resolution; the convs learn how much of it to add.
    """

    def __init__(self, channels: int, blocks: int, kernel_size: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(5, stride=1, padding=2)
        self.convs = nn.ModuleList(_conv(channels, channels, kernel_size) for _ in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        path = x
        for conv in self.convs:
            path = conv(self.pool(path))
            x = x + path
        return x


class RefineBlock(nn.Module):
    """One RefineNet block: 2 RCUs per input path, multi-resolution fusion, CRP, output RCU.

    Path 0 is the highest-resolution input; fusion brings every path to its
    width (3x3 conv) and size (bilinear), and sums. A single input is not fused.
    """

    def __init__(self, in_channels: Sequence[int], width: int, crp_blocks: int) -> None:
        super().__init__()
        self.adapt = nn.ModuleList(nn.Sequential(RCU(c), RCU(c)) for c in in_channels)
        if len(in_channels) > 1:
            self.fuse: nn.ModuleList | None = nn.ModuleList(_conv(c, width, 3) for c in in_channels)
        else:
            self.fuse = None
        self.crp = ChainedResidualPooling(width, crp_blocks, kernel_size=3)
        self.out = RCU(width)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        xs = [adapt(x) for adapt, x in zip(self.adapt, xs, strict=True)]
        if self.fuse is None:
            x = xs[0]
        else:
            x = self.fuse[0](xs[0])
            for fuse, y in zip(self.fuse[1:], xs[1:], strict=True):
                x = x + _upsample_to(fuse(y), x)
        return self.out(self.crp(F.relu(x)))


@DECODERS.register(
    "refinenet",
    paper="Lin et al., RefineNet: Multi-Path Refinement Networks",
    year=2017,
    needs="features at strides 4, 8, 16, 32",
)
class RefineNet(Decoder):
    """4-cascaded RefineNet: RefineNet-4 on the stride-32 feature, then one block per stride down to 4.

    Each encoder feature is first brought to its path's width (512 at stride
    32, 256 below) by a 3x3 conv without bias, as the authors' code does for
    ResNet; the blocks are the paper's (2 RCUs per input, 1 output RCU). The
    chained residual pooling has 2 pool-conv blocks, as the paper's figure
    (the released code uses 4; ``crp_blocks`` sets it). The head is 2 RCUs,
    a 1x1 conv to the classes and bilinear x4 upsampling to the input.
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, crp_blocks: int = 2) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in _STRIDES)
        self.reduce = nn.ModuleList(_conv(specs[i].channels, w, 3) for i, w in zip(self.taps, _WIDTHS, strict=True))
        blocks = [RefineBlock([_WIDTHS[0]], _WIDTHS[0], crp_blocks)]
        for k in range(1, len(_WIDTHS)):
            blocks.append(RefineBlock([_WIDTHS[k], _WIDTHS[k - 1]], _WIDTHS[k], crp_blocks))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(RCU(_WIDTHS[-1]), RCU(_WIDTHS[-1]), nn.Conv2d(_WIDTHS[-1], num_classes, 1))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x: torch.Tensor | None = None
        for reduce, block, i in zip(self.reduce, self.blocks, self.taps, strict=True):
            f = reduce(features[i])
            x = block([f] if x is None else [f, x])
        assert x is not None
        return F.interpolate(self.head(x), scale_factor=4, mode="bilinear", align_corners=False)


@DECODERS.register(
    "lw_refinenet",
    paper="Nekrasov et al., Light-Weight RefineNet for Real-Time Semantic Segmentation",
    year=2018,
    needs="features at strides 4, 8, 16, 32",
)
class LightWeightRefineNet(Decoder):
    """RefineNet without RCUs, with 1x1 convs in fusion and in a 4-block CRP (as the paper).

    Per stride from 32 to 4: 1x1 reduce of the encoder feature (512 at stride
    32, 256 below; below 32 another 1x1 adapts it), sum with the previous
    block's output (1x1 to this width, bilinear up), ReLU, CRP. Then a 3x3 conv
    to the classes (the authors' code) and bilinear x4. The paper's dropout is
    left out: it has no parameters and is off at inference. With ResNet-50 and
    21 classes the model has 27,357,525 parameters (paper: 27 M); with
    ResNet-101, 46,349,653 (paper: 46 M).
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, crp_blocks: int = 4) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in _STRIDES)
        self.reduce = nn.ModuleList(_conv(specs[i].channels, w, 1) for i, w in zip(self.taps, _WIDTHS, strict=True))
        self.adapt = nn.ModuleList(_conv(w, w, 1) for w in _WIDTHS[1:])
        self.fuse = nn.ModuleList(_conv(a, b, 1) for a, b in pairwise(_WIDTHS))
        self.crp = nn.ModuleList(ChainedResidualPooling(w, crp_blocks, kernel_size=1) for w in _WIDTHS)
        self.classifier = nn.Conv2d(_WIDTHS[-1], num_classes, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.crp[0](F.relu(self.reduce[0](features[self.taps[0]])))
        for k in range(1, len(_WIDTHS)):
            f = self.adapt[k - 1](self.reduce[k](features[self.taps[k]]))
            x = self.crp[k](F.relu(f + _upsample_to(self.fuse[k - 1](x), f)))
        return F.interpolate(self.classifier(x), scale_factor=4, mode="bilinear", align_corners=False)
