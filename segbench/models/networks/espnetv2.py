"""ESPNetv2 for segmentation (Mehta, Rastegari, Shapiro, Hajishirzi 2019, "ESPNetv2: A
Light-weight, Power Efficient, and General Purpose Convolutional Neural Network", CVPR;
arXiv:1811.11431), at width s = 2.0, the width of the authors' published segmentation figures.

Encoder (the paper's Figures 1-2 and Table 1, cut after the 1/16 level as
for segmentation): a 3x3/2 conv (32); strided EESP units to 128 (1/4), 256
(1/8) and 512 (1/16), followed by 3 and 7 EESP units at 1/8 and 1/16.

- An EESP unit reduces its input with a grouped 1x1 conv (K = 4 groups) to
  ``N/K`` maps, runs K depthwise 3x3 convs whose dilations give receptive
  fields 3, 5, 7, 9 capped by the level's limit (13, 11, 9, 7 at 1/2 to 1/16:
  a capped branch falls back to dilation 1), fuses them hierarchically (each
  adds the previous), concatenates, BN-PReLU, expands with a grouped 1x1
  conv (K groups), adds the input, and ends with a PReLU.
- A strided EESP unit runs its depthwise convs with stride 2, concatenates
  the average-pooled input beside them, and adds a shortcut from the image
  (average-pooled to that size, a 3x3 conv and a 1x1 conv), then a PReLU.

The decoder is that of the authors' released segmentation models (their
EdgeNets repository), the models whose figures are published: 0.79 M
parameters and 2.70 G convolution multiply-adds at 1024x512 on Cityscapes
(0.76 G at 384x384 on PASCAL VOC), which this build reproduces within 0.2%
(tests check them). Bottom up from the 1/16 features, at each level an
efficient pyramid pooling (a 1x1 projection to ``min(C/2, 16)`` maps, a
depthwise 3x3 conv on that map resized by 2, 1.5, 1, 0.5 and 0.1,
concatenation, channel shuffle, a grouped 3x3 conv and a 1x1 conv) gives
64, 48, 32 and finally C maps; between levels the map is upsampled x2 and
added to the encoder's features of that level, projected by a grouped 3x3
conv gated by a channel attention (sigmoid of a 1x1 conv of their global
average), then BN-PReLU. Bilinear upsampling reaches the input size.

Sizes that the stride does not divide are aligned by resizing to the skip's
size; the input is never padded. Bilinear resizing uses
``align_corners=False`` and BatchNorm eps 1e-3 (segbench's shared helpers;
the authors' code uses ``True`` and 1e-5): neither changes a count.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import batch_norm_eps_1e3, bn_prelu, check_num_classes, conv_bn_prelu

#: Encoder widths at s = 2.0 (levels 1/2, 1/4, 1/8, 1/16).
WIDTHS = (32, 128, 256, 512)
#: EESP units after the strided one at 1/8 and 1/16.
REPEATS = (3, 7)
#: Receptive-field limit of the branches at 1/2, 1/4, 1/8, 1/16.
RECEPTIVE_LIMITS = (13, 11, 9, 7)
BRANCHES = 4
#: Decoder widths from 1/16 up to 1/2 (then the classes); pyramid width cap.
DECODER_WIDTHS = (64, 48, 32)
PYRAMID_WIDTH = 16
PYRAMID_SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)
#: The pyramid's smallest resized map (rows and columns).
PYRAMID_MIN_SIZE = 5


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def branch_dilations(receptive_limit: int, branches: int = BRANCHES) -> list[int]:
    """Dilations of the depthwise branches: receptive fields 3, 5, 7, ... capped (then 3), ascending."""
    sizes = sorted(k if k <= receptive_limit else 3 for k in range(3, 3 + 2 * branches, 2))
    return [(k - 1) // 2 for k in sizes]


class EESP(nn.Module):
    """Extremely efficient spatial pyramid unit: reduce (grouped), split, depthwise dilated, HFF, merge."""

    def __init__(self, cin: int, cout: int, stride: int = 1, receptive_limit: int = 7) -> None:
        super().__init__()
        if cout % BRANCHES or cin % BRANCHES:
            raise ValueError(f"EESP widths must divide by {BRANCHES}: {cin} -> {cout}")
        n = cout // BRANCHES
        self.stride = stride
        self.reduce = conv_bn_prelu(cin, n, 1, groups=BRANCHES)
        self.branches = nn.ModuleList(
            nn.Conv2d(n, n, 3, stride, padding=d, dilation=d, groups=n, bias=False)
            for d in branch_dilations(receptive_limit)
        )
        self.merge = bn_prelu(cout)
        self.expand = ConvNormAct(
            cout, cout, kernel_size=1, groups=BRANCHES, norm_layer=batch_norm_eps_1e3, activation=None
        )
        self.residual = stride == 1 and cin == cout
        self.act = nn.PReLU(cout) if stride == 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outs = [self.branches[0](reduced)]
        for branch in self.branches[1:]:
            outs.append(branch(reduced) + outs[-1])
        out = self.expand(self.merge(torch.cat(outs, dim=1)))
        if self.residual:
            out = out + x
        return self.act(out)


class StridedEESP(nn.Module):
    """Down-sampling: strided EESP beside an average pooling, plus a shortcut from the image."""

    def __init__(self, cin: int, cout: int, receptive_limit: int) -> None:
        super().__init__()
        self.eesp = EESP(cin, cout - cin, stride=2, receptive_limit=receptive_limit)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.image_shortcut = nn.Sequential(
            conv_bn_prelu(3, 3, 3),
            ConvNormAct(3, cout, kernel_size=1, norm_layer=batch_norm_eps_1e3, activation=None),
        )
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.pool(x), self.eesp(x)], dim=1)
        return self.act(out + self.image_shortcut(image))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class EfficientPyramidPooling(nn.Module):
    """Project, one depthwise 3x3 conv per scale on the resized map, shuffle-merge, 1x1 out."""

    def __init__(self, cin: int, width: int, cout: int, last: bool = False) -> None:
        super().__init__()
        k = len(PYRAMID_SCALES)
        self.project = conv_bn_prelu(cin, width, 1)
        self.stages = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False) for _ in PYRAMID_SCALES
        )
        self.merge = bn_prelu(k * width)
        self.fuse = conv_bn_prelu(k * width, width, 3, groups=width)
        self.out = nn.Conv2d(width, cout, 1, bias=last)
        self.post = nn.Identity() if last else bn_prelu(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        h, w = x.shape[-2:]
        outs = []
        for scale, stage in zip(PYRAMID_SCALES, self.stages, strict=True):
            size = (max(math.ceil(h * scale), PYRAMID_MIN_SIZE), max(math.ceil(w * scale), PYRAMID_MIN_SIZE))
            if scale > 1:
                outs.append(F.adaptive_avg_pool2d(stage(_resize(x, size)), (h, w)))
            elif scale < 1:
                outs.append(_resize(stage(F.adaptive_avg_pool2d(x, size)), (h, w)))
            else:
                outs.append(stage(x))
        out = channel_shuffle(self.merge(torch.cat(outs, dim=1)), len(self.stages))
        return self.post(self.out(self.fuse(out)))


class GatedProjection(nn.Module):
    """A skip's projection: grouped 3x3 conv-BN-PReLU, scaled per channel by sigmoid(1x1(global average))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.Sigmoid())
        self.expand = conv_bn_prelu(cin, cout, 3, groups=math.gcd(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(x) * self.gate(x)


@NETWORKS.register(
    "espnetv2",
    paper=(
        "Mehta et al., ESPNetv2: A Light-weight, Power Efficient, and General Purpose Convolutional "
        "Neural Network"
    ),
    year=2019,
    paper_params=0.79,
    paper_classes=20,
    params_source=(
        "0.79 M, the authors' model zoo (EdgeNets) for the s = 2.0 Cityscapes model, 20 classes (the "
        "19 and a void class); its convolution cost there (2.70 G multiply-adds at 1024x512) is matched"
    ),
)
class ESPNetv2(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        w1, w2, w3, w4 = WIDTHS
        r1, r2, r3, r4 = RECEPTIVE_LIMITS
        self.level1 = conv_bn_prelu(3, w1, 3, stride=2)
        self.down2 = StridedEESP(w1, w2, r1)
        self.down3 = StridedEESP(w2, w3, r2)
        self.level3 = nn.Sequential(*(EESP(w3, w3, receptive_limit=r3) for _ in range(REPEATS[0])))
        self.down4 = StridedEESP(w3, w4, r3)
        self.level4 = nn.Sequential(*(EESP(w4, w4, receptive_limit=r4) for _ in range(REPEATS[1])))
        self.image_pool = nn.AvgPool2d(3, stride=2, padding=1)

        d1, d2, d3 = DECODER_WIDTHS
        width = min(num_classes // 2, PYRAMID_WIDTH) or 1
        self.pyramid16 = EfficientPyramidPooling(w4, width, d1)
        self.pyramid8 = EfficientPyramidPooling(d1, width, d2)
        self.pyramid4 = EfficientPyramidPooling(d2, width, d3)
        self.pyramid2 = EfficientPyramidPooling(d3, width, num_classes, last=True)
        self.skip8 = GatedProjection(w3, d1)
        self.skip4 = GatedProjection(w2, d2)
        self.skip2 = GatedProjection(w1, d3)
        self.post8, self.post4, self.post2 = bn_prelu(d1), bn_prelu(d2), bn_prelu(d3)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Features at 1/2, 1/4, 1/8 and 1/16; each strided unit sees the image pooled to its size."""
        image4 = self.image_pool(self.image_pool(x))
        image8 = self.image_pool(image4)
        l1 = self.level1(x)
        l2 = self.down2(l1, image4)
        l3 = self.level3(self.down3(l2, image8))
        l4 = self.level4(self.down4(l3, self.image_pool(image8)))
        return l1, l2, l3, l4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l1, l2, l3, l4 = self.encode(x)
        out = self.pyramid16(l4)
        for skip, post, pyramid, feature in (
            (self.skip8, self.post8, self.pyramid8, l3),
            (self.skip4, self.post4, self.pyramid4, l2),
            (self.skip2, self.post2, self.pyramid2, l1),
        ):
            out = pyramid(post(_resize(out, feature.shape[-2:]) + skip(feature)))
        return _resize(out, x.shape[-2:])
