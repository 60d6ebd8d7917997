"""PIDNet-S, -M and -L: proportional (detail), integral (context) and derivative (boundary) branches.

Xu, Xiong & Bhattacharyya, "PIDNet: A Real-time Semantic Segmentation
Network Inspired by PID Controllers", CVPR 2023 (arXiv:2206.02066).

Built from the paper's Fig. 4 with ``(m, n, C)`` = (2, 3, 32), (2, 3, 64) and
(3, 4, 64) for S, M and L:

- I branch: two 3x3/2 convs (C, 1/4), m basic blocks (C), m basic blocks
  (2C, 1/8), n basic blocks (4C, 1/16), n basic blocks (8C, 1/32), two
  bottlenecks (16C, 1/64), then PAPPM (S, M) or DAPPM (L) to 4C.
- P branch at 1/8: m basic blocks (2C) twice, then a bottleneck (4C); after
  each of the first two, a Pag module lets the I branch's 1x1-compressed
  features in where the two agree: ``sigma = sigmoid(<f_p(p), f_i(i)>)``
  per pixel, ``p <- (1 - sigma) p + sigma i``.
- D branch at 1/8: a basic block (C for S/M, 2C for L), a bottleneck (S/M)
  or basic block (L), then a bottleneck (4C); after each of the first two
  the I branch adds its 3x3-conv features, upsampled.
- Bag fuses the three: ``sigma = sigmoid(d)``, ``sigma p + (1 - sigma) i``,
  then BN-ReLU-3x3 conv (L); Light-Bag (S, M) applies a 1x1 conv-BN to each
  side instead and sums them. Head: DDRNet's (BN-ReLU-3x3, 128 channels for
  S/M, 256 for L, BN-ReLU-1x1 to the classes).

Training only (:class:`TrainingOnly`): the P branch's auxiliary head after
the first Pag (semantic loss, weight 0.4 in the paper), and the boundary head
on the D branch after its second stage (one logit map, weighted binary
cross-entropy with coefficient 20), returned as :class:`BoundaryLogits`.
The paper's boundary-aware cross-entropy on the main output (only pixels
the boundary head is confident about) is not reproduced: segbench's loss
recipe is the run's ``--loss``.

PIDNet-M's published figures (34.4 M parameters, 197.4 GFLOPs) do not fit
its stated (2, 3, 64): they are exactly those of (2, 4, 64), one more basic
block at 1/16 and at 1/32. We build the stated, released configuration and
test the link.

Widths the paper leaves implicit are taken from the authors' release: the
pyramid's branch width (96 for S/M, 112 for L), the Pag inner width (C),
PAPPM's parallel 3x3 as one conv in 4 groups, and DDRNet's pre-activation
convention (a ReLU before each stage, none after its last block).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.losses import boundary_loss
from segbench.models.decoders.base import BoundaryLogits, TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes
from segbench.models.networks.ddrnet import (
    DAPPM,
    DAPPM_POOLS,
    BasicBlock,
    Bottleneck,
    SegmentHead,
    bn_relu_conv,
    resize,
    stage,
    stem,
)

#: The paper's weight of the boundary loss (lambda_1 in its Eq. 10).
BOUNDARY_WEIGHT = 20.0


class PAPPM(nn.Module):
    """Parallel Aggregation PPM: DAPPM's pooled scales, each added to the 1x1 branch and refined in parallel."""

    def __init__(self, cin: int, branch: int, cout: int) -> None:
        super().__init__()
        self.scale0 = bn_relu_conv(cin, branch)
        pools = [nn.AvgPool2d(k, s, k // 2) for k, s in DAPPM_POOLS] + [nn.AdaptiveAvgPool2d(1)]
        self.scales = nn.ModuleList(nn.Sequential(pool, bn_relu_conv(cin, branch)) for pool in pools)
        self.process = bn_relu_conv(branch * len(pools), branch * len(pools), 3, groups=len(pools))
        self.compression = bn_relu_conv(branch * (len(pools) + 1), cout)
        self.shortcut = bn_relu_conv(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        base = self.scale0(x)
        scales = self.process(torch.cat([resize(s(x), size) + base for s in self.scales], dim=1))
        return self.compression(torch.cat([base, scales], dim=1)) + self.shortcut(x)


class Pag(nn.Module):
    """Pixel-attention-guided fusion: the I branch flows into the P branch where their embeddings agree."""

    def __init__(self, channels: int, mid: int) -> None:
        super().__init__()
        self.embed_p = ConvNormAct(channels, mid, kernel_size=1, activation=None)
        self.embed_i = ConvNormAct(channels, mid, kernel_size=1, activation=None)

    def forward(self, p: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        size = p.shape[-2:]
        i_embedded = resize(self.embed_i(i), size)
        sigma = torch.sigmoid((self.embed_p(p) * i_embedded).sum(dim=1, keepdim=True))
        return (1 - sigma) * p + sigma * resize(i, size)


class Bag(nn.Module):
    """Boundary-attention-guided fusion: detail where the D branch sees edges, context elsewhere."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = bn_relu_conv(cin, cout, 3)

    def forward(self, p: torch.Tensor, i: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(d)
        return self.conv(sigma * p + (1 - sigma) * i)


class LightBag(nn.Module):
    """Light-Bag (PIDNet-S/M): each side of the boundary-weighted mix through its own 1x1 conv-BN, summed."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_p = ConvNormAct(cin, cout, kernel_size=1, activation=None)
        self.conv_i = ConvNormAct(cin, cout, kernel_size=1, activation=None)

    def forward(self, p: torch.Tensor, i: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(d)
        return self.conv_p((1 - sigma) * i + p) + self.conv_i(i + sigma * p)


class PIDNet(nn.Module):
    """The PIDNet family: ``m``, ``n`` block counts, width ``width``; ``large`` selects L's D branch and Bag."""

    def __init__(
        self, num_classes: int, m: int, n: int, width: int, ppm_width: int, head_width: int, large: bool
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        c = width
        self.stem = stem(c)
        # I branch.
        self.layer1 = stage(BasicBlock, c, c, m)
        self.layer2 = stage(BasicBlock, c, 2 * c, m, stride=2)
        self.layer3 = stage(BasicBlock, 2 * c, 4 * c, n, stride=2)
        self.layer4 = stage(BasicBlock, 4 * c, 8 * c, n, stride=2)
        self.layer5 = stage(Bottleneck, 8 * c, 8 * c, 2, stride=2)
        self.ppm = (DAPPM if large else PAPPM)(16 * c, ppm_width, 4 * c)
        # P branch.
        self.compression3 = ConvNormAct(4 * c, 2 * c, kernel_size=1, activation=None)
        self.compression4 = ConvNormAct(8 * c, 2 * c, kernel_size=1, activation=None)
        self.pag3 = Pag(2 * c, c)
        self.pag4 = Pag(2 * c, c)
        self.layer3_p = stage(BasicBlock, 2 * c, 2 * c, m)
        self.layer4_p = stage(BasicBlock, 2 * c, 2 * c, m)
        self.layer5_p = stage(Bottleneck, 2 * c, 2 * c, 1)
        # D branch.
        d3 = 2 * c if large else c
        self.layer3_d = stage(BasicBlock, 2 * c, d3, 1, last_relu=False)
        self.layer4_d = (
            stage(BasicBlock, d3, 2 * c, 1, last_relu=False) if large else stage(Bottleneck, c, c, 1)
        )
        self.layer5_d = stage(Bottleneck, 2 * c, 2 * c, 1)
        self.diff3 = ConvNormAct(4 * c, d3, activation=None)
        self.diff4 = ConvNormAct(8 * c, 2 * c, activation=None)
        self.fusion = (Bag if large else LightBag)(4 * c, 4 * c)
        self.head = SegmentHead(4 * c, head_width, num_classes)
        self.aux_head = TrainingOnly(SegmentHead(2 * c, head_width, num_classes))
        self.boundary_head = TrainingOnly(SegmentHead(2 * c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor | BoundaryLogits, ...]:
        size = x.shape[-2:]
        x = F.relu(self.layer2(F.relu(self.layer1(self.stem(x)))))
        p, d = self.layer3_p(x), self.layer3_d(x)
        i = F.relu(self.layer3(x))
        eighth = p.shape[-2:]
        p = self.pag3(p, self.compression3(i))
        d = d + resize(self.diff3(i), eighth)
        aux_input = p
        i = F.relu(self.layer4(i))
        p, d = self.layer4_p(F.relu(p)), self.layer4_d(F.relu(d))
        p = self.pag4(p, self.compression4(i))
        d = d + resize(self.diff4(i), eighth)
        boundary_input = d
        p, d = self.layer5_p(F.relu(p)), self.layer5_d(F.relu(d))
        i = resize(self.ppm(self.layer5(i)), eighth)
        out = resize(self.head(self.fusion(p, i, d)), size)
        if not self.training:
            return out
        aux = resize(self.aux_head(aux_input), size)
        boundary = BoundaryLogits(resize(self.boundary_head(boundary_input), size), boundary_loss, BOUNDARY_WEIGHT)
        return out, aux, boundary


_PAPER = "Xu et al., PIDNet: A Real-time Semantic Segmentation Network Inspired by PID Controllers"


@NETWORKS.register(
    "pidnet_s",
    paper=_PAPER,
    year=2023,
    paper_params=7.6,
    paper_classes=19,
    params_source="paper's Cityscapes comparison (7.6 M, 47.6 GFLOPs at 1024x2048); P and D heads excluded",
)
class PIDNetS(PIDNet):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, m=2, n=3, width=32, ppm_width=96, head_width=128, large=False)


@NETWORKS.register(
    "pidnet_m",
    paper=_PAPER,
    year=2023,
    paper_params=28.5,
    paper_classes=19,
    params_source=(
        "counted from Fig. 4 with (m, n, C) = (2, 3, 64), as the authors' release builds it; the paper's "
        "table says 34.4 M and 197.4 GFLOPs, which are exactly the counts of n = 4 (a test says so)"
    ),
)
class PIDNetM(PIDNet):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, m=2, n=3, width=64, ppm_width=96, head_width=128, large=False)


@NETWORKS.register(
    "pidnet_l",
    paper=_PAPER,
    year=2023,
    paper_params=36.9,
    paper_classes=19,
    params_source="paper's Cityscapes comparison (36.9 M, 275.8 GFLOPs at 1024x2048); P and D heads excluded",
)
class PIDNetL(PIDNet):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, m=3, n=4, width=64, ppm_width=112, head_width=256, large=True)
