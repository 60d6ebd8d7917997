"""The original U-Net, as in its paper: no batch norm, 64 to 1024 channels, 2x2 up-convolutions.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015 (Fig. 1).

One deliberate change: the paper's 3x3 convolutions are unpadded, so its
output is smaller than its input (388x388 for 572x572) and the skips are
cropped. Here they are padded, so the logits are at the input size with the
same parameters (padding adds none). Pooling rounds up and each upsampled map
is cropped to its skip, so odd sizes work too.
"""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes
from segbench.models.spec import align_to

#: Channels of the five contracting stages (Fig. 1).
STAGE_CHANNELS = (64, 128, 256, 512, 1024)


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by a ReLU (padded here; see the module docstring)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class ExpandingStage(nn.Module):
    """2x2 up-convolution halving the channels, concatenation with the skip, two 3x3 convolutions."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.convs = double_conv(cin, cin // 2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([skip, align_to(self.up(x), skip.shape[-2:])], dim=1))


@NETWORKS.register(
    "unet_original",
    paper="Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation",
    year=2015,
    paper_params=31.0,
    paper_classes=2,
    params_source="Fig. 1 counted layer by layer (23 convolutions, 2 classes): 31.03 M",
)
class UNetOriginal(nn.Module):
    """Contracting path of five double-conv stages with 2x2 max pooling, expanding path of four, 1x1 classifier."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        cins = (3, *STAGE_CHANNELS[:-1])
        self.contracting = nn.ModuleList(double_conv(cin, cout) for cin, cout in zip(cins, STAGE_CHANNELS, strict=True))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.expanding = nn.ModuleList(ExpandingStage(c) for c in reversed(STAGE_CHANNELS[1:]))
        self.classifier = nn.Conv2d(STAGE_CHANNELS[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, stage in enumerate(self.contracting):
            x = stage(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for stage in self.expanding:
            x = stage(x, skips.pop())
        return self.classifier(x)
