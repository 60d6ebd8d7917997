"""STDC1-Seg and STDC2-Seg: BiSeNet's context path on an STDC backbone, without a spatial path.

Fan, Lai, Huang, Wei, Chai, Luo & Wei, "Rethinking BiSeNet For Real-time
Semantic Segmentation", CVPR 2021 (Fig. 4).

- Backbone: STDC1 or STDC2 (:mod:`segbench.models.encoders.stdc`); its
  stride-8 features (256 channels) stand in for BiSeNet's spatial path.
- Context path, as BiSeNet's: a global average pool of the stride-32
  features, attention refinement modules (ARM) on the stride-32 and stride-16
  features, each summed with the deeper context and refined by a 3x3
  conv-BN-ReLU after upsampling.
- Feature fusion module (FFM) of the stride-8 features and the context, a
  3x3 seg head, bilinear upsampling to the input.
- Training only (:class:`TrainingOnly`): seg heads on the two context outputs
  (BiSeNet's auxiliary losses) and the detail head on the stride-8 features,
  whose loss (:mod:`segbench.models.detail_guidance`) teaches the backbone
  boundaries at no inference cost.

The paper is silent on the head widths; the authors' code is followed: ARM
and context width 128, FFM to 256 with a channel attention reduced 4x, main
head 3x3 to 256, auxiliary and detail heads 3x3 to 64, nearest upsampling
inside the context path. The paper gives no parameter count for the
segmentation networks; the registered figure is derived from its backbone
counts (Table 3 of the paper: 8.44 M and 12.47 M with the ImageNet head of its
Table 1) minus that head (a 1x1 conv 1024-1024 with BN and two FC layers
1024-1024 and 1024-1000, 3.13 M) plus the segmentation head (2.96 M at 19
classes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders.base import BoundaryLogits, TrainingOnly
from segbench.models.detail_guidance import detail_loss
from segbench.models.encoders.stdc import stdc_encoder
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes
from segbench.models.networks.bisenet import AttentionRefinement

#: Width of the context path (ARM outputs and refinements).
CONTEXT = 128
#: Output width of the FFM.
FUSED = 256


def _resize(x: torch.Tensor, size: torch.Size, mode: str = "bilinear") -> torch.Tensor:
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def seg_head(cin: int, mid: int, out: int) -> nn.Sequential:
    """3x3 conv-BN-ReLU to ``mid``, then a bias-free 1x1 conv to ``out`` maps."""
    return nn.Sequential(ConvNormAct(cin, mid), nn.Conv2d(mid, out, 1, bias=False))


class FeatureFusion(nn.Module):
    """FFM: concatenate, 1x1 conv-BN-ReLU, then ``x + x * attention(x)`` (channel attention reduced 4x)."""

    def __init__(self, cin: int, cout: int, reduction: int = 4) -> None:
        super().__init__()
        self.conv = ConvNormAct(cin, cout, kernel_size=1)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cout, cout // reduction, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout // reduction, cout, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.conv(torch.cat([spatial, context], dim=1))
        return x + x * self.attention(x)


class ContextPath(nn.Module):
    """Global context + ARMs on the stride-32 and stride-16 features; returns the context at 1/8 and 1/16."""

    def __init__(self, c16: int, c32: int) -> None:
        super().__init__()
        self.global_context = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvNormAct(c32, CONTEXT, kernel_size=1))
        self.arm32 = AttentionRefinement(c32, CONTEXT)
        self.arm16 = AttentionRefinement(c16, CONTEXT)
        self.refine32 = ConvNormAct(CONTEXT, CONTEXT)
        self.refine16 = ConvNormAct(CONTEXT, CONTEXT)

    def forward(
        self, f8: torch.Tensor, f16: torch.Tensor, f32: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        top = self.arm32(f32) + self.global_context(f32)  # the 1x1 global map broadcasts
        context16 = self.refine32(_resize(top, f16.shape[-2:], "nearest"))
        context8 = self.refine16(_resize(self.arm16(f16) + context16, f8.shape[-2:], "nearest"))
        return context8, context16


class STDCSeg(nn.Module):
    """STDC backbone, context path, FFM and head; auxiliary and detail heads in training."""

    def __init__(self, num_classes: int, backbone: str) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.backbone = stdc_encoder(backbone)
        c8, c16, c32 = (s.channels for s in self.backbone.feature_specs[2:])
        self.context_path = ContextPath(c16, c32)
        self.fusion = FeatureFusion(c8 + CONTEXT, FUSED)
        self.head = seg_head(FUSED, FUSED, num_classes)
        self.aux8 = TrainingOnly(seg_head(CONTEXT, 64, num_classes))
        self.aux16 = TrainingOnly(seg_head(CONTEXT, 64, num_classes))
        self.detail_head = TrainingOnly(seg_head(c8, 64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor | BoundaryLogits, ...]:
        size = x.shape[-2:]
        *_, f8, f16, f32 = self.backbone(x)
        context8, context16 = self.context_path(f8, f16, f32)
        main = _resize(self.head(self.fusion(f8, context8)), size)
        if not self.training:
            return main
        return (
            main,
            _resize(self.aux8(context8), size),
            _resize(self.aux16(context16), size),
            BoundaryLogits(_resize(self.detail_head(f8), size), detail_loss),
        )


_PAPER = "Fan et al., Rethinking BiSeNet For Real-time Semantic Segmentation"
_SOURCE = (
    "no count in the paper; derived: its {backbone} count ({imagenet} M, Table 3) less the ImageNet head of "
    "Table 1 (3.13 M), plus the context path, FFM and head at the authors' widths (2.96 M, 19 classes); "
    "detail and auxiliary heads excluded"
)


@NETWORKS.register(
    "stdc1_seg",
    paper=_PAPER,
    year=2021,
    paper_params=8.27,
    paper_classes=19,
    params_source=_SOURCE.format(backbone="STDC1", imagenet=8.44),
)
class STDC1Seg(STDCSeg):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, "stdc1")


@NETWORKS.register(
    "stdc2_seg",
    paper=_PAPER,
    year=2021,
    paper_params=12.30,
    paper_classes=19,
    params_source=_SOURCE.format(backbone="STDC2", imagenet=12.47),
)
class STDC2Seg(STDCSeg):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, "stdc2")
