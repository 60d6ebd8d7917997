"""RegSeg: a backbone of dilated grouped-conv "D blocks" that stays at 1/16, and a light decoder.

Gao, "Rethinking Dilated Convolution for Real-time Semantic Segmentation"
(first titled "Rethink Dilated Convolution for Real-time Semantic
Segmentation"), arXiv:2111.09957 (2021).

- D block (SE-ResNeXt-like): 1x1 conv-BN-ReLU; a 3x3 grouped conv (group
  width 16) whose channels are split in two halves with dilations ``(1, d)``
  (one dilation 1 conv where there is a single rate); BN-ReLU; squeeze-and-
  excitation (reduction to a quarter of the block's *input* width); 1x1
  conv-BN; the shortcut (average pool 2x2, ceil mode, then 1x1 conv-BN when
  the block strides or changes width) is added before the final ReLU. A
  strided block strides its 3x3 conv.
- Backbone: a 3x3/2 conv (32), one D block to 1/4 (48), three to 1/8 (128),
  then at 1/16 one strided block (256), then blocks of dilation rates 1,
  (1, 2), four of (1, 4) and six of (1, 14) at 256 channels, and a last
  (1, 14) block widening to 320: the paper's final RegSeg, 18 D blocks.
- Decoder (the paper's Fig. 4): 1x1 conv-BN-ReLU on the 1/16 (to 128), 1/8
  (to 128) and 1/4 (to 8) features; 1/16 upsampled and added to 1/8, a 3x3
  conv-BN-ReLU (64), upsampled and concatenated with 1/4, a 3x3 conv-BN-ReLU
  (64), a 1x1 classifier, bilinear x4 to the input size.

RegSeg has no auxiliary head. The SE layers' biases and the 320-wide last
block are from the author's release, where the paper's table is silent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

GROUP_WIDTH = 16

#: Dilation rates of the 1/16 stage after its strided block: 1, (1, 2), (1, 4) x 4, (1, 14) x 7.
STAGE16_DILATIONS: tuple[tuple[int, ...], ...] = ((1,), (1, 2)) + ((1, 4),) * 4 + ((1, 14),) * 7


class SplitDilatedConv(nn.Module):
    """Grouped 3x3 conv whose channel halves (one part per rate) use different dilations."""

    def __init__(self, channels: int, dilations: tuple[int, ...], stride: int = 1) -> None:
        super().__init__()
        if channels % len(dilations):
            raise ValueError(f"{channels} channels do not split into {len(dilations)} dilation groups")
        part = channels // len(dilations)
        self.convs = nn.ModuleList(
            nn.Conv2d(part, part, 3, stride, d, dilation=d, groups=part // GROUP_WIDTH, bias=False)
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.chunk(len(self.convs), dim=1)
        return torch.cat([conv(p) for conv, p in zip(self.convs, parts, strict=True)], dim=1)


class SqueezeExcitation(nn.Sequential):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, squeezed, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, channels, 1),
            nn.Sigmoid(),
        )


class DBlock(nn.Module):
    """RegSeg's D block: 1x1, split dilated grouped 3x3, SE, 1x1, residual."""

    def __init__(self, cin: int, cout: int, dilations: tuple[int, ...] = (1,), stride: int = 1) -> None:
        super().__init__()
        self.reduce = ConvNormAct(cin, cout, kernel_size=1)
        self.spatial = nn.Sequential(
            SplitDilatedConv(cout, dilations, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )
        self.se = SqueezeExcitation(cout, cin // 4)
        self.expand = nn.Sequential(nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout))
        shortcut: list[nn.Module] = []
        if stride != 1:
            shortcut.append(nn.AvgPool2d(2, 2, ceil_mode=True))
        if stride != 1 or cin != cout:
            shortcut += [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.spatial(self.reduce(x))
        out = self.expand(out * self.se(out))
        return F.relu(out + self.shortcut(x))


class RegSegDecoder(nn.Module):
    """Fig. 4: 1/16 into 1/8 by addition, then into 1/4 by concatenation; 1x1 classifier at 1/4."""

    def __init__(self, channels4: int, channels8: int, channels16: int, num_classes: int) -> None:
        super().__init__()
        self.head16 = ConvNormAct(channels16, 128, kernel_size=1)
        self.head8 = ConvNormAct(channels8, 128, kernel_size=1)
        self.head4 = ConvNormAct(channels4, 8, kernel_size=1)
        self.conv8 = ConvNormAct(128, 64)
        self.conv4 = ConvNormAct(64 + 8, 64)
        self.classifier = nn.Conv2d(64, num_classes, 1)

    def forward(self, x4: torch.Tensor, x8: torch.Tensor, x16: torch.Tensor) -> torch.Tensor:
        x8 = self.head8(x8)
        x8 = self.conv8(x8 + F.interpolate(self.head16(x16), x8.shape[-2:], mode="bilinear", align_corners=False))
        x4 = self.head4(x4)
        x8 = F.interpolate(x8, x4.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.conv4(torch.cat([x8, x4], dim=1)))


@NETWORKS.register(
    "regseg",
    paper="Gao, Rethinking Dilated Convolution for Real-time Semantic Segmentation",
    year=2021,
    paper_params=3.34,
    paper_classes=19,
    params_source="paper's Cityscapes comparison (3.34 M, 39.1 GFLOPs at 1024x2048)",
)
class RegSeg(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.stem = ConvNormAct(3, 32, stride=2)
        self.stage4 = DBlock(32, 48, stride=2)
        self.stage8 = nn.Sequential(DBlock(48, 128, stride=2), DBlock(128, 128), DBlock(128, 128))
        *middle, last = STAGE16_DILATIONS
        self.stage16 = nn.Sequential(
            DBlock(128, 256, stride=2), *(DBlock(256, 256, d) for d in middle), DBlock(256, 320, last)
        )
        self.decoder = RegSegDecoder(48, 128, 320, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x4 = self.stage4(self.stem(x))
        x8 = self.stage8(x4)
        out = self.decoder(x4, x8, self.stage16(x8))
        return F.interpolate(out, x.shape[-2:], mode="bilinear", align_corners=False)
