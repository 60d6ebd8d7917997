"""ICNet: an image cascade where only the coarsest input goes through the deep network.

Zhao, Qi, Shen, Shi & Jia, "ICNet for Real-Time Semantic Segmentation on
High-Resolution Images", ECCV 2018 (Figs. 2-3).

Three branches share the work:

- low resolution (1/4 input): the deep PSPNet-50-style part. As in the
  authors' release, it does not re-run the stem on a separately downsampled
  image but takes the medium branch's stride-8 features downsampled x2 (the
  same stride-8 features a 1/4 image would give, at 1/32 of the input), runs
  dilated ResNet-50 stages 4-5 on them, then a pyramid pooling module whose
  pooled maps are summed (not concatenated) to save computation;
- medium resolution (1/2 input): ResNet-50 stem and stages 2-3, weights shared
  with the low branch by construction (the low branch continues from them);
- high resolution (full input): three 3x3 stride-2 conv-BN-ReLU (32, 32, 64).

Cascade feature fusion (CFF) upsamples the coarser map x2, applies a dilated
3x3 conv-BN, projects the finer map with a 1x1 conv-BN, and sums them. Each
CFF also predicts labels from its upsampled coarse input: with the final 1/4
prediction these are the cascade label guidance, supervised at 1/16, 1/8 and
1/4; the two extra classifiers are training-only.

The backbone is torchvision's ResNet-50 (single 7x7 stem, randomly initialised)
at full width; the paper's speed figures use a half-width model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from segbench.models.decoders.base import TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: Pyramid pooling bin sizes (PSPNet's).
PYRAMID_BINS = (1, 2, 3, 6)
#: Channels after the pyramid pooling module, and out of each CFF (Fig. 3: C3 = 128).
LOW_CHANNELS = 256
CFF_CHANNELS = 128


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _half(size: torch.Size | tuple[int, int]) -> tuple[int, int]:
    return math.ceil(size[0] / 2), math.ceil(size[1] / 2)


class SumPyramidPooling(nn.Module):
    """Average-pool to each bin size, upsample back, and sum with the input; then 1x1 conv-BN-ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.project = ConvNormAct(cin, cout, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = x
        for bins in PYRAMID_BINS:
            pooled = pooled + _resize(F.adaptive_avg_pool2d(x, bins), size)
        return self.project(pooled)


class CascadeFeatureFusion(nn.Module):
    """CFF (Fig. 3): dilated 3x3 conv-BN on the upsampled coarse map + 1x1 conv-BN on the fine map, ReLU."""

    def __init__(self, coarse_channels: int, fine_channels: int, num_classes: int) -> None:
        super().__init__()
        self.coarse = nn.Sequential(
            nn.Conv2d(coarse_channels, CFF_CHANNELS, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm2d(CFF_CHANNELS),
        )
        self.fine = nn.Sequential(
            nn.Conv2d(fine_channels, CFF_CHANNELS, 1, bias=False), nn.BatchNorm2d(CFF_CHANNELS)
        )
        self.guidance = TrainingOnly(nn.Conv2d(coarse_channels, num_classes, 1))

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        up = _resize(coarse, fine.shape[-2:])
        fused = F.relu(self.coarse(up) + self.fine(fine))
        return fused, self.guidance(up) if self.training else None


@NETWORKS.register(
    "icnet",
    paper="Zhao et al., ICNet for Real-Time Semantic Segmentation on High-Resolution Images",
    year=2018,
    paper_params=24.6,
    paper_classes=19,
    params_source=(
        "derived; the paper states no count: torchvision ResNet-50 without its classifier (23.51 M) + "
        "pyramid 1x1 2048->256 (0.52 M) + two CFFs (0.52 M) + high branch (0.03 M) + 1x1 classifier = 24.58 M"
    ),
)
class ICNet(nn.Module):
    """Image cascade network: low (1/4), medium (1/2) and high (1) resolution branches fused by two CFFs."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        resnet = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, True, True])
        self.high_branch = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.medium_branch = nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1, resnet.layer2
        )
        self.low_branch = nn.Sequential(resnet.layer3, resnet.layer4, SumPyramidPooling(2048, LOW_CHANNELS))
        self.cff_low_medium = CascadeFeatureFusion(LOW_CHANNELS, 512, num_classes)
        self.cff_medium_high = CascadeFeatureFusion(CFF_CHANNELS, 64, num_classes)
        self.classifier = nn.Conv2d(CFF_CHANNELS, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        medium = self.medium_branch(_resize(x, _half(size)))  # 1/16 of the input
        low = self.low_branch(_resize(medium, _half(medium.shape[-2:])))  # 1/32
        high = self.high_branch(x)  # 1/8
        fused16, guide16 = self.cff_low_medium(low, medium)
        fused8, guide8 = self.cff_medium_high(fused16, high)
        quarter = self.classifier(F.interpolate(fused8, scale_factor=2, mode="bilinear", align_corners=False))
        main = _resize(quarter, size)
        if not self.training:
            return main
        return main, _resize(guide16, size), _resize(guide8, size)
