"""BiSeNet V2: a wide shallow detail branch beside a narrow deep semantic branch, fused by guided aggregation.

Yu, Gao, Wang, Yu, Shen & Sang, "BiSeNet V2: Bilateral Network with Guided
Aggregation for Real-time Semantic Segmentation", IJCV 2021
(arXiv:2004.02147). Built from its Table 1 and Figs. 4-7.

- Detail branch (Table 1): three stages of 3x3 conv-BN-ReLU, 64 (2 layers),
  64 (3) and 128 (3) channels, the first of each with stride 2: 1/8.
- Semantic branch: the stem (Fig. 4a: a 3x3/2 conv to 16, then a 1x1 to 8
  and 3x3/2 to 16 beside a 3x3/2 max pool, concatenated and fused by a 3x3
  conv: 1/4); gather-and-expand layers (Fig. 5, expansion 6) 2 x 32, 2 x 64
  and 4 x 128 channels, the first of each stage with stride 2 (1/32); the
  context embedding block (Fig. 4b: global average pool, BN, 1x1
  conv-BN-ReLU, broadcast sum, 3x3 conv).
- Bilateral guided aggregation (Fig. 6): each branch gates the other at its
  own resolution (1/8 and 1/32) through sigmoids; the two results are summed
  at 1/8 and fused by a 3x3 conv and BN.
- Seg head (Fig. 7): 3x3 conv-BN-ReLU to ``Ct``, 1x1 conv to the classes,
  bilinear upsampling to the input. Booster: the same head on the stem and on
  the outputs of stages 3, 4 and the GE layers of 5, training only
  (:class:`TrainingOnly`).

Where the paper is silent (no official code was released), the reading of
the public reproductions is taken: ``Ct`` = 1024 for the main head and 128
for the booster heads; the GE layer's last depthwise conv (the only one at
stride 1) is followed by a ReLU after its BN, as in the reproductions (the
paper draws none there); the context embedding block's last conv (bare in
the paper) gets a BN; the aggregation's fusing conv is conv + BN as drawn
(the reproductions add a ReLU). The paper gives GFLOPs but no parameter count;
the registered figure is the count of these layers at 19 classes, summed by
hand in the tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders.base import TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: Detail branch stages: (channels, layers), each stage's first layer strided.
DETAIL_STAGES = ((64, 2), (64, 3), (128, 3))
#: Semantic branch GE stages after the stem: (channels, layers).
SEMANTIC_STAGES = ((32, 2), (64, 2), (128, 4))
STEM_CHANNELS = 16
EXPANSION = 6
HEAD_CHANNELS = 1024
BOOSTER_CHANNELS = 128


def _resize(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DetailBranch(nn.Sequential):
    def __init__(self) -> None:
        layers: list[nn.Module] = []
        cin = 3
        for cout, n in DETAIL_STAGES:
            layers += [ConvNormAct(cin if i == 0 else cout, cout, stride=1 if i else 2) for i in range(n)]
            cin = cout
        super().__init__(*layers)


class Stem(nn.Module):
    """Fig. 4a: two downsampling ways (conv and max pool) concatenated, then fused: 1/4, 16 channels."""

    def __init__(self, channels: int = STEM_CHANNELS) -> None:
        super().__init__()
        self.conv = ConvNormAct(3, channels, stride=2)
        self.conv_way = nn.Sequential(
            ConvNormAct(channels, channels // 2, kernel_size=1),
            ConvNormAct(channels // 2, channels, stride=2),
        )
        self.pool_way = nn.MaxPool2d(3, 2, 1)
        self.fuse = ConvNormAct(2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.fuse(torch.cat([self.conv_way(x), self.pool_way(x)], dim=1))


class GatherExpand(nn.Module):
    """Fig. 5: 3x3 conv (gather), depthwise expansion x6 (strided ones twice), linear 1x1 projection, residual."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = cin * EXPANSION
        depthwise: list[nn.Module] = [
            ConvNormAct(cin, mid, stride=stride, groups=cin, activation=nn.ReLU if stride == 1 else None)
        ]
        if stride == 2:
            depthwise.append(ConvNormAct(mid, mid, groups=mid))
        self.body = nn.Sequential(
            ConvNormAct(cin, cin), *depthwise, ConvNormAct(mid, cout, kernel_size=1, activation=None)
        )
        self.shortcut: nn.Module = (
            nn.Sequential(
                ConvNormAct(cin, cin, stride=2, groups=cin, activation=None),
                ConvNormAct(cin, cout, kernel_size=1, activation=None),
            )
            if stride == 2
            else nn.Identity()
        )
        if stride == 1 and cin != cout:
            raise ValueError(f"a stride-1 GE layer keeps its width, not {cin} -> {cout}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ContextEmbedding(nn.Module):
    """Fig. 4b: global average pool, BN, 1x1 conv-BN-ReLU, broadcast sum with the input, 3x3 conv-BN."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.context = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(channels), ConvNormAct(channels, channels, kernel_size=1)
        )
        self.out = ConvNormAct(channels, channels, activation=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x + self.context(x))


class SemanticBranch(nn.Module):
    """Stem, GE stages 3-5 and context embedding; also returns each stage's output for the booster heads."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Stem()
        stages = []
        cin = STEM_CHANNELS
        for cout, n in SEMANTIC_STAGES:
            stages.append(
                nn.Sequential(*(GatherExpand(cin if i == 0 else cout, cout, 2 if i == 0 else 1) for i in range(n)))
            )
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.context = ContextEmbedding(cin)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        taps = [x]
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return self.context(x), taps


class GuidedAggregation(nn.Module):
    """Fig. 6: the detail map (1/8) and the semantic map (1/32) gate each other, then sum at 1/8."""

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        c = channels
        self.detail_keep = nn.Sequential(
            ConvNormAct(c, c, groups=c, activation=None), nn.Conv2d(c, c, 1, bias=False)
        )
        self.detail_down = nn.Sequential(ConvNormAct(c, c, stride=2, activation=None), nn.AvgPool2d(3, 2, 1))
        self.semantic_up = ConvNormAct(c, c, activation=None)
        self.semantic_keep = nn.Sequential(
            ConvNormAct(c, c, groups=c, activation=None), nn.Conv2d(c, c, 1, bias=False)
        )
        self.fuse = ConvNormAct(c, c, activation=None)

    def forward(self, detail: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        size = detail.shape[-2:]
        high = self.detail_keep(detail) * torch.sigmoid(_resize(self.semantic_up(semantic), size))
        low = self.detail_down(detail) * torch.sigmoid(self.semantic_keep(semantic))
        return self.fuse(high + _resize(low, size))


def seg_head(cin: int, mid: int, num_classes: int) -> nn.Sequential:
    """Fig. 7: 3x3 conv-BN-ReLU to ``mid`` (the paper's Ct), 1x1 conv to the classes."""
    return nn.Sequential(ConvNormAct(cin, mid), nn.Conv2d(mid, num_classes, 1))


@NETWORKS.register(
    "bisenetv2",
    paper="Yu et al., BiSeNet V2: Bilateral Network with Guided Aggregation for Real-time Semantic Segmentation",
    year=2021,
    paper_params=3.36,
    paper_classes=19,
    params_source=(
        "no count in the paper; derived from its Table 1 widths, expansion 6 and a 1024-wide main head "
        "(the public reproductions' Ct), 19 classes, counted by hand in the tests; booster heads excluded"
    ),
)
class BiSeNetV2(nn.Module):
    """Detail and semantic branches, guided aggregation, seg head at 1/8; booster heads in training."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.detail = DetailBranch()
        self.semantic = SemanticBranch()
        self.aggregation = GuidedAggregation(DETAIL_STAGES[-1][0])
        self.head = seg_head(DETAIL_STAGES[-1][0], HEAD_CHANNELS, num_classes)
        tap_channels = (STEM_CHANNELS, *(c for c, _ in SEMANTIC_STAGES))
        self.booster = nn.ModuleList(TrainingOnly(seg_head(c, BOOSTER_CHANNELS, num_classes)) for c in tap_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        semantic, taps = self.semantic(x)
        main = _resize(self.head(self.aggregation(self.detail(x), semantic)), size)
        if not self.training:
            return main
        return (main, *(_resize(head(t), size) for head, t in zip(self.booster, taps, strict=True)))
