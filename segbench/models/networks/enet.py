"""ENet (Paszke, Chaurasia, Kim, Culurciello 2016, "ENet: A Deep Neural Network Architecture for
Real-Time Semantic Segmentation", arXiv:1606.02147).

Built from the paper's Table 1: an initial block (13 strided 3x3 filters
concatenated with a max-pooled copy of the image), five bottleneck stages and a
final transposed convolution. Where the paper is silent we follow the authors'
Torch code (e-Lab ENet-training): a bottleneck's inner width is its *output*
width / 4, convolutions have no bias, PReLU has one slope per feature map, and
the last layer is a 2x2/2 full convolution.

Max unpooling needs the pooled map's exact size back, and the strided 2x2
projection of a downsampling bottleneck floors odd sizes where max pooling
does too -- but the initial block's 3x3/2 convolution rounds up. So the input
is zero-padded to a multiple of 8 (the total stride) and the logits cropped
back, which keeps every stage's size equal to the paper's at 8-divisible sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes, pad_to_multiple

#: Table 1's total stride: three halvings, undone by two unpoolings and the full convolution.
STRIDE = 8


def _bn_prelu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.PReLU(channels)]


class InitialBlock(nn.Module):
    """13 3x3/2 convolutions next to a 2x2 max pooling of the RGB input: 16 maps at half size."""

    def __init__(self, out_channels: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.post = nn.Sequential(*_bn_prelu(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(torch.cat([self.conv(x), self.pool(x)], dim=1))


class Bottleneck(nn.Module):
    """Regular, dilated or asymmetric (5x1 then 1x5) residual bottleneck at constant width."""

    def __init__(self, channels: int, dilation: int = 1, asymmetric: int = 0, dropout: float = 0.1) -> None:
        super().__init__()
        inner = channels // 4
        if asymmetric:
            k = asymmetric
            middle = [
                nn.Conv2d(inner, inner, (k, 1), padding=(k // 2, 0), bias=False),
                nn.Conv2d(inner, inner, (1, k), padding=(0, k // 2), bias=False),
            ]
        else:
            middle = [nn.Conv2d(inner, inner, 3, padding=dilation, dilation=dilation, bias=False)]
        self.branch = nn.Sequential(
            nn.Conv2d(channels, inner, 1, bias=False),
            *_bn_prelu(inner),
            *middle,
            *_bn_prelu(inner),
            nn.Conv2d(inner, channels, 1, bias=False),
            *_bn_prelu(channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.branch(x))


class DownsamplingBottleneck(nn.Module):
    """Halves the size: max pooling (indices kept for the decoder) plus zero channels on the main path."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        inner = out_channels // 4
        self.extra_channels = out_channels - in_channels
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, inner, 2, stride=2, bias=False),
            *_bn_prelu(inner),
            nn.Conv2d(inner, inner, 3, padding=1, bias=False),
            *_bn_prelu(inner),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            *_bn_prelu(out_channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        main, indices = self.pool(x)
        n, _, h, w = main.shape
        main = torch.cat([main, main.new_zeros(n, self.extra_channels, h, w)], dim=1)
        return self.act(main + self.branch(x)), indices


class UpsamplingBottleneck(nn.Module):
    """Doubles the size: 1x1 projection + max unpooling on the main path, a 3x3/2 transposed conv aside."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        inner = out_channels // 4
        self.project = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, inner, 1, bias=False),
            *_bn_prelu(inner),
            nn.ConvTranspose2d(inner, inner, 3, stride=2, padding=1, output_padding=1, bias=False),
            *_bn_prelu(inner),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            *_bn_prelu(out_channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        # Explicit ints: the size check inside max_unpool2d fails on traced shapes (fvcore).
        size = (2 * int(x.shape[-2]), 2 * int(x.shape[-1]))
        main = F.max_unpool2d(self.project(x), indices, kernel_size=(2, 2), stride=(2, 2), output_size=size)
        return self.act(main + self.branch(x))


def _stage_2_or_3() -> nn.Sequential:
    """Bottlenecks x.1-x.8 of Table 1 (stages 2 and 3 share them)."""
    return nn.Sequential(
        Bottleneck(128),
        Bottleneck(128, dilation=2),
        Bottleneck(128, asymmetric=5),
        Bottleneck(128, dilation=4),
        Bottleneck(128),
        Bottleneck(128, dilation=8),
        Bottleneck(128, asymmetric=5),
        Bottleneck(128, dilation=16),
    )


@NETWORKS.register(
    "enet",
    paper="Paszke et al., ENet: A Deep Neural Network Architecture for Real-Time Semantic Segmentation",
    year=2016,
    paper_params=0.37,
    paper_classes=19,
    params_source=(
        "paper Table 3 (0.37 M, 79x fewer than SegNet); classes only change the last 2x2 conv "
        "(Cityscapes 19 assumed)"
    ),
)
class ENet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.initial = InitialBlock(16)
        self.down1 = DownsamplingBottleneck(16, 64, dropout=0.01)
        self.stage1 = nn.Sequential(*(Bottleneck(64, dropout=0.01) for _ in range(4)))
        self.down2 = DownsamplingBottleneck(64, 128, dropout=0.1)
        self.stage2 = _stage_2_or_3()
        self.stage3 = _stage_2_or_3()
        self.up4 = UpsamplingBottleneck(128, 64)
        self.stage4 = nn.Sequential(Bottleneck(64), Bottleneck(64))
        self.up5 = UpsamplingBottleneck(64, 16)
        self.stage5 = Bottleneck(16)
        self.fullconv = nn.ConvTranspose2d(16, num_classes, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self.initial(pad_to_multiple(x, STRIDE))
        x, indices1 = self.down1(x)
        x, indices2 = self.down2(self.stage1(x))
        x = self.stage3(self.stage2(x))
        x = self.stage4(self.up4(x, indices2))
        x = self.stage5(self.up5(x, indices1))
        return self.fullconv(x)[..., :h, :w]
