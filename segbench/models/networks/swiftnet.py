"""SwiftNetRN-18, single scale: ResNet-18, spatial pyramid pooling, a ladder of light upsampling modules.

Oršić, Krešo, Bevandić & Šegvić, "In Defense of Pre-trained ImageNet
Architectures for Real-time Semantic Segmentation of Road-driving Images",
CVPR 2019.

- Encoder: torchvision's ResNet-18 (randomly initialised here, nothing is
  downloaded), its four stages at 1/4, 1/8, 1/16 and 1/32. The lateral
  connections take each stage's output *before* its last ReLU (the paper
  found that better than after it).
- Context: spatial pyramid pooling on the 1/32 features (also pre-ReLU). Every conv of the
  decoder is BN-ReLU-conv (pre-activation). A 1x1 bottleneck to 128
  channels; three levels average-pooled to grids of 8, 4 and 2 rows (the
  columns follow the image's aspect ratio), each 1x1 to 128 // 3 = 42
  channels and upsampled; the concatenation (254) fused by a 1x1 to 128.
- Upsampling modules at 1/16, 1/8 and 1/4: a 1x1 lateral conv of the skip
  to 128 channels, the coarser map bilinearly upsampled and added, then a
  3x3 blend conv (128).
- Classifier: BN-ReLU-1x1 conv (biased) to the classes at 1/4, bilinear x4.

The pyramid's grid sizes and level widths are not in the paper's text;
they are from the authors' release, as is the 1x1 classifier (a 3x3 one
would add 2.6 GMACs at 1024x2048 and miss the paper's 104 GFLOPs). No auxiliary
head: SwiftNet trains with the plain cross-entropy.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

WIDTH = 128
SPP_GRIDS = (8, 4, 2)


def bn_relu_conv(cin: int, cout: int, kernel_size: int = 1, bias: bool = False) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=bias),
    )


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _run_stage(stage: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A ResNet stage's output after and before its last ReLU (the lateral takes the latter)."""
    *first, last = stage
    if not isinstance(last, BasicBlock):
        raise TypeError(f"expected a ResNet basic block, got {type(last).__name__}")
    for block in first:
        x = block(x)
    identity = x if last.downsample is None else last.downsample(x)
    out = last.bn2(last.conv2(last.relu(last.bn1(last.conv1(x))))) + identity
    return F.relu(out), out


class SpatialPyramidPooling(nn.Module):
    """SwiftNet's SPP: a bottleneck, pooled levels with aspect-ratio grids, a 1x1 fusion."""

    def __init__(self, cin: int, width: int = WIDTH, grids: tuple[int, ...] = SPP_GRIDS) -> None:
        super().__init__()
        level_width = width // len(grids)
        self.grids = grids
        self.bottleneck = bn_relu_conv(cin, width)
        self.levels = nn.ModuleList(bn_relu_conv(width, level_width) for _ in grids)
        self.fuse = bn_relu_conv(width + len(grids) * level_width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = self.bottleneck(x)
        aspect = int(size[1]) / int(size[0])  # plain ints, also under tracing
        pooled = [
            _resize(level(F.adaptive_avg_pool2d(x, (rows, max(1, round(aspect * rows))))), size)
            for level, rows in zip(self.levels, self.grids, strict=True)
        ]
        return self.fuse(torch.cat([x, *pooled], dim=1))


class Upsample(nn.Module):
    """Ladder step: lateral 1x1 of the skip, plus the upsampled coarser map, then a 3x3 blend."""

    def __init__(self, skip_channels: int, width: int = WIDTH) -> None:
        super().__init__()
        self.lateral = bn_relu_conv(skip_channels, width)
        self.blend = bn_relu_conv(width, width, 3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        skip = self.lateral(skip)
        return self.blend(skip + _resize(x, skip.shape[-2:]))


@NETWORKS.register(
    "swiftnet_rn18",
    paper="Oršić et al., In Defense of Pre-trained ImageNet Architectures for Real-time Semantic Segmentation",
    year=2019,
    paper_params=11.8,
    paper_classes=19,
    params_source="paper's Cityscapes comparison, single-scale SwiftNetRN-18 (11.8 M, 104 GFLOPs at 1024x2048)",
)
class SwiftNetRN18(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        resnet = torchvision.models.resnet18(weights=None)
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.stages = nn.ModuleList([resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4])
        self.spp = SpatialPyramidPooling(512)
        self.upsample = nn.ModuleList(Upsample(c) for c in (256, 128, 64))  # 1/16, 1/8, 1/4
        self.classifier = bn_relu_conv(WIDTH, num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        features, skips = self.stem(x), []
        for stage in self.stages:
            features, lateral = _run_stage(cast(nn.Sequential, stage), features)  # ResNet layer1-4
            skips.append(lateral)
        out = self.spp(skips[-1])
        for up, skip in zip(self.upsample, reversed(skips[:-1]), strict=True):
            out = up(out, skip)
        return _resize(self.classifier(out), size)
