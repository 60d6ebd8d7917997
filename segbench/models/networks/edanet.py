"""EDANet (Lo, Hang, Chan, Lin 2019, "Efficient Dense Modules of Asymmetric Convolution for
Real-Time Semantic Segmentation", ACM MM Asia; arXiv:1809.06323).

Built from the paper's Table 1 / Figure 3: three downsampling blocks (to 15,
60 and 130 channels) and two densely connected stages of EDA modules, 5 at 1/4
(dilations 1, 1, 1, 2, 2) and 8 at 1/8 (dilations 2, 2, 4, 4, 8, 8, 16, 16),
each adding 40 channels, then a 1x1 projection to the classes and bilinear x8
upsampling. There is no decoder. As in the authors' code, convolutions carry a
bias and the EDA module drops out 2% of its output.

The first two downsamplers concatenate a 3x3/2 conv with a 2x2 max pooling; the
pooling rounds up (``ceil_mode``) so the two match at odd sides, and the final
upsampling goes to the input size exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

GROWTH_RATE = 40
STAGE1_DILATIONS = (1, 1, 1, 2, 2)
STAGE2_DILATIONS = (2, 2, 4, 4, 8, 8, 16, 16)


class DownsamplingBlock(nn.Module):
    """3x3/2 conv, concatenated with a 2x2 max pooling when it widens the input (ENet's initial block)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.widens = in_channels < out_channels
        conv_channels = out_channels - in_channels if self.widens else out_channels
        self.conv = nn.Conv2d(in_channels, conv_channels, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True) if self.widens else None
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.pool is not None:
            out = torch.cat([out, self.pool(x)], dim=1)
        return F.relu(self.bn(out))


class EDAModule(nn.Module):
    """1x1 bottleneck to ``growth`` maps, two asymmetric 3x3 pairs (the second dilated); output
    concatenated to the input (dense connectivity), so the width grows by ``growth``."""

    def __init__(
        self, in_channels: int, dilation: int, growth: int = GROWTH_RATE, dropout: float = 0.02
    ) -> None:
        super().__init__()
        d = dilation
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, growth, 1),
            nn.BatchNorm2d(growth),
            nn.ReLU(inplace=True),
            nn.Conv2d(growth, growth, (3, 1), padding=(1, 0)),
            nn.Conv2d(growth, growth, (1, 3), padding=(0, 1)),
            nn.BatchNorm2d(growth),
            nn.ReLU(inplace=True),
            nn.Conv2d(growth, growth, (3, 1), padding=(d, 0), dilation=(d, 1)),
            nn.Conv2d(growth, growth, (1, 3), padding=(0, d), dilation=(1, d)),
            nn.BatchNorm2d(growth),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch(x), x], dim=1)


def _eda_stage(in_channels: int, dilations: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    modules = [EDAModule(in_channels + i * GROWTH_RATE, d) for i, d in enumerate(dilations)]
    return nn.Sequential(*modules), in_channels + len(dilations) * GROWTH_RATE


@NETWORKS.register(
    "edanet",
    paper="Lo et al., Efficient Dense Modules of Asymmetric Convolution for Real-Time Semantic Segmentation",
    year=2019,
    paper_params=0.68,
    paper_classes=19,
    params_source="paper's comparison table on Cityscapes (0.68 M), 19 classes",
)
class EDANet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.down1 = DownsamplingBlock(3, 15)
        self.down2 = DownsamplingBlock(15, 60)
        self.stage1, width = _eda_stage(60, STAGE1_DILATIONS)
        self.down3 = DownsamplingBlock(width, 130)
        self.stage2, width = _eda_stage(130, STAGE2_DILATIONS)
        self.project = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stage1(self.down2(self.down1(x)))
        out = self.project(self.stage2(self.down3(out)))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
