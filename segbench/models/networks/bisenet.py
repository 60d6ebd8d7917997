"""BiSeNet with a ResNet-18 context path: a shallow wide spatial path beside a deep fast context path.

Yu, Wang, Peng, Gao, Yu & Sang, "BiSeNet: Bilateral Segmentation Network for
Real-time Semantic Segmentation", ECCV 2018.

- Spatial path: three stride-2 conv-BN-ReLU layers, so 1/8 of the input with
  wide features (channel widths from the authors' TorchSeg code: a 7x7 and
  two 3x3 convolutions of 64, then a 1x1 to 128).
- Context path: ResNet-18 (randomly initialised, no download) with global
  average pooling on its 1/32 features; attention refinement modules (ARM) on
  the 1/32 and 1/16 features, each summed with the upsampled deeper context.
- Feature fusion module (FFM): concatenate both paths, conv-BN-ReLU, and
  reweight channels with a squeeze-and-excitation style attention.
- Auxiliary heads on the context path's two refined outputs (the 1/32 branch
  at 1/16, the 1/16 branch at 1/8) supervise it in training only
  (:class:`TrainingOnly`), as in the authors' code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from segbench.models.decoders.base import TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: Channels the context path and spatial path hand to the FFM (TorchSeg's BiSeNet-R18).
PATH_CHANNELS = 128


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SpatialPath(nn.Sequential):
    """Three stride-2 conv-BN-ReLU layers (1/8 resolution), then a 1x1 projection."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            ConvNormAct(64, PATH_CHANNELS, kernel_size=1),
        )


class AttentionRefinement(nn.Module):
    """ARM: 3x3 conv-BN-ReLU to ``cout``, then scale channels by sigmoid(BN(1x1(global average)))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvNormAct(cin, cout)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cout, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x * self.attention(x)


class FeatureFusion(nn.Module):
    """FFM: concatenate, 1x1 conv-BN-ReLU, then ``x + x * attention(x)`` with a two-layer channel attention."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvNormAct(cin, cout, kernel_size=1)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cout, cout, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 1),
            nn.Sigmoid(),
        )

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.conv(torch.cat([spatial, context], dim=1))
        return x + x * self.attention(x)


def _head(cin: int, mid: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(ConvNormAct(cin, mid), nn.Conv2d(mid, num_classes, 1))


class ContextPath(nn.Module):
    """ResNet-18 to 1/32, global context, ARMs at 1/32 and 1/16, each refined after upsampling.

    Returns the context at ``size`` (the spatial path's, 1/8) and at 1/16, the
    two maps the auxiliary heads supervise (as in the authors' code).
    """

    def __init__(self) -> None:
        super().__init__()
        resnet = torchvision.models.resnet18(weights=None)
        self.stem = nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1, resnet.layer2
        )
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        self.global_context = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), ConvNormAct(512, PATH_CHANNELS, kernel_size=1)
        )
        self.arm32 = AttentionRefinement(512, PATH_CHANNELS)
        self.arm16 = AttentionRefinement(256, PATH_CHANNELS)
        self.refine32 = ConvNormAct(PATH_CHANNELS, PATH_CHANNELS)
        self.refine16 = ConvNormAct(PATH_CHANNELS, PATH_CHANNELS)

    def forward(self, x: torch.Tensor, size: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        c16 = self.layer3(self.stem(x))
        c32 = self.layer4(c16)
        f32 = self.arm32(c32) + self.global_context(c32)  # the 1x1 global map broadcasts
        f16 = self.refine32(_resize(f32, c16.shape[-2:]))
        f8 = self.refine16(_resize(self.arm16(c16) + f16, size))
        return f8, f16


@NETWORKS.register(
    "bisenet",
    paper="Yu et al., BiSeNet: Bilateral Segmentation Network for Real-time Semantic Segmentation",
    year=2018,
    paper_params=12.9,
    paper_classes=19,
    params_source=(
        "12.9 M, the count of the authors' TorchSeg BiSeNet-R18 that this build matches; the paper's "
        "'49.0 M' for Res18 is its float32 size in MiB (12.9e6 x 4 B = 49.2 MiB), as its Xception39 "
        "'5.8 M' is for 1.5 M parameters"
    ),
)
class BiSeNet(nn.Module):
    """BiSeNet-R18: FFM of the spatial and context paths, a 3x3 head at 1/8, bilinear to the input size."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.spatial_path = SpatialPath()
        self.context_path = ContextPath()
        self.fusion = FeatureFusion(2 * PATH_CHANNELS, 2 * PATH_CHANNELS)
        self.head = _head(2 * PATH_CHANNELS, 64, num_classes)
        self.aux8 = TrainingOnly(_head(PATH_CHANNELS, 256, num_classes))
        self.aux16 = TrainingOnly(_head(PATH_CHANNELS, 256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        spatial = self.spatial_path(x)
        context, context16 = self.context_path(x, spatial.shape[-2:])
        main = _resize(self.head(self.fusion(spatial, context)), size)
        if not self.training:
            return main
        return main, _resize(self.aux8(context), size), _resize(self.aux16(context16), size)
