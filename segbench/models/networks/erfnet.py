"""ERFNet (Romera, Alvarez, Bergasa, Arroyo 2017/2018, "ERFNet: Efficient Residual Factorized
ConvNet for Real-time Semantic Segmentation", IEEE T-ITS).

Built from the paper's Table 1: 16 encoder layers (3 downsampler blocks and 13
non-bottleneck-1D blocks, the last 8 dilated 2, 4, 8, 16 twice) and 7 decoder
layers (2 transposed-conv upsamplers, 4 non-bottleneck-1D blocks, a final 2x2/2
transposed conv to the classes). As in the authors' code, convolutions carry
a bias, BatchNorm uses eps 1e-3, and dropout is 0.03 at 1/4 and 0.3 at 1/8.

The downsampler concatenates a 3x3/2 conv with a 2x2 max pooling, whose sizes
differ at odd sides, and the decoder exactly doubles sizes, so the input is
zero-padded to a multiple of 8 and the logits cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes, pad_to_multiple

STRIDE = 8
#: Dilations of the eight non-bottleneck-1D blocks at 1/8 (Table 1, layers 9-16).
STAGE3_DILATIONS = (2, 4, 8, 16, 2, 4, 8, 16)


class DownsamplerBlock(nn.Module):
    """ENet's initial block: ``out - in`` strided 3x3 filters next to a max pooling of the input."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(torch.cat([self.conv(x), self.pool(x)], dim=1)))


class NonBottleneck1D(nn.Module):
    """Residual block of two 3x3 convs, each factorised into 3x1 + 1x3; the second pair dilated."""

    def __init__(self, channels: int, dropout: float = 0.0, dilation: int = 1) -> None:
        super().__init__()
        d = dilation
        self.conv3x1_1 = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0))
        self.conv1x3_1 = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1))
        self.bn1 = nn.BatchNorm2d(channels, eps=1e-3)
        self.conv3x1_2 = nn.Conv2d(channels, channels, (3, 1), padding=(d, 0), dilation=(d, 1))
        self.conv1x3_2 = nn.Conv2d(channels, channels, (1, 3), padding=(0, d), dilation=(1, d))
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-3)
        self.dropout = nn.Dropout2d(dropout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.conv3x1_1(x))
        out = self.relu(self.bn1(self.conv1x3_1(out)))
        out = self.relu(self.conv3x1_2(out))
        out = self.dropout(self.bn2(self.conv1x3_2(out)))
        return self.relu(out + x)


def upsampler_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3/2 transposed conv that exactly doubles the size, with BN and ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(out_channels, eps=1e-3),
        nn.ReLU(inplace=True),
    )


@NETWORKS.register(
    "erfnet",
    paper="Romera et al., ERFNet: Efficient Residual Factorized ConvNet for Real-time Semantic Segmentation",
    year=2017,
    paper_params=2.07,
    paper_classes=19,
    params_source=(
        "2.07 M, the count usually reported for the authors' released model (not re-checked against "
        "the paper's text); Cityscapes 19 classes (the authors' code adds a void class: +64 parameters)"
    ),
)
class ERFNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.encoder = nn.Sequential(
            DownsamplerBlock(3, 16),
            DownsamplerBlock(16, 64),
            *(NonBottleneck1D(64, 0.03) for _ in range(5)),
            DownsamplerBlock(64, 128),
            *(NonBottleneck1D(128, 0.3, d) for d in STAGE3_DILATIONS),
        )
        self.decoder = nn.Sequential(
            upsampler_block(128, 64),
            NonBottleneck1D(64),
            NonBottleneck1D(64),
            upsampler_block(64, 16),
            NonBottleneck1D(16),
            NonBottleneck1D(16),
            nn.ConvTranspose2d(16, num_classes, 2, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.decoder(self.encoder(pad_to_multiple(x, STRIDE)))[..., :h, :w]
