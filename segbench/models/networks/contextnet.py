"""ContextNet (Poudel, Bonde, Liwicki, Zach 2018, "ContextNet: Exploring Context and Detail for
Semantic Segmentation in Real-time", BMVC; arXiv:1805.04554).

Two branches over one image, built from the paper's Table 1:

- a shallow branch at full resolution: a 3x3/2 conv (32) and three
  depthwise-separable convs (64/2, 128/2, 128), giving detail at 1/8;
- a deep branch on the image bilinearly downsampled by 4: a 3x3/2 conv (32),
  MobileNetV2 bottlenecks (t, c, n, s) = (1, 32, 1, 1), (6, 32, 1, 1),
  (6, 48, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 128, 2, 1) and a last
  conv to 128, giving context at 1/32 of the full image;
- fusion: the deep branch upsampled x4 through a 3x3 depthwise conv dilated 4
  and a 1x1 conv, the shallow one through a 1x1 conv, added; a 1x1 conv
  classifies and bilinear upsampling reaches the input size.

The fusion unit and the blocks are Fast-SCNN's (the same authors' follow-up
reuses them), imported from :mod:`fast_scnn`. The paper does not give the
kernel of the deep branch's last conv nor the classifier's form; a 1x1 conv
for both counts 0.857 M parameters for 19 classes, 0.8% over the paper's
0.85 M (a 3x3 last conv would give 0.99 M, and Fast-SCNN's two-layer
classifier 0.89 M). The paper names no auxiliary loss, so there is no
auxiliary head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes
from segbench.models.networks.fast_scnn import FeatureFusion, InvertedResidual, ds_conv

#: Table 1, deep branch: (expansion t, channels c, repeats n, stride s).
DEEP_BOTTLENECKS = ((1, 32, 1, 1), (6, 32, 1, 1), (6, 48, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 128, 2, 1))
#: The deep branch sees the image at a quarter of its resolution.
DEEP_INPUT_SCALE = 4
CHANNELS = 128


def shallow_branch() -> nn.Sequential:
    """Full-resolution detail: 3x3/2 conv, then depthwise-separable convs 64/2, 128/2, 128/1."""
    return nn.Sequential(
        ConvNormAct(3, 32, stride=2),
        ds_conv(32, 64, 2),
        ds_conv(64, CHANNELS, 2),
        ds_conv(CHANNELS, CHANNELS),
    )


def deep_branch() -> nn.Sequential:
    """Quarter-resolution context: 3x3/2 conv, the bottleneck rows of Table 1, a last 1x1 conv."""
    layers: list[nn.Module] = [ConvNormAct(3, 32, stride=2)]
    cin = 32
    for t, c, n, s in DEEP_BOTTLENECKS:
        layers += [InvertedResidual(cin if i == 0 else c, c, s if i == 0 else 1, t) for i in range(n)]
        cin = c
    layers.append(ConvNormAct(cin, CHANNELS, kernel_size=1))
    return nn.Sequential(*layers)


@NETWORKS.register(
    "contextnet",
    paper="Poudel et al., ContextNet: Exploring Context and Detail for Semantic Segmentation in Real-time",
    year=2018,
    paper_params=0.85,
    paper_classes=19,
    params_source=(
        "paper's Cityscapes comparison (0.85 M), 19 classes; the last deep conv and the classifier "
        "read as 1x1 (the paper gives no kernel)"
    ),
)
class ContextNet(nn.Module):
    """ContextNet-14: a shallow full-resolution branch and a deep quarter-resolution one, fused at 1/8."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.shallow = shallow_branch()
        self.deep = deep_branch()
        self.fusion = FeatureFusion(CHANNELS, CHANNELS, CHANNELS, scale=DEEP_INPUT_SCALE)
        self.classifier = nn.Conv2d(CHANNELS, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        quarter = [math.ceil(s / DEEP_INPUT_SCALE) for s in size]
        small = F.interpolate(x, size=quarter, mode="bilinear", align_corners=False)
        out = self.classifier(self.fusion(self.shallow(x), self.deep(small)))
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)
