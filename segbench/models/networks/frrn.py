"""Full-Resolution Residual Networks: a pooling stream for context beside a residual stream at full resolution.

Pohlen, Hermans, Mathias & Leibe, "Full-Resolution Residual Networks for
Semantic Segmentation in Street Scenes", CVPR 2017 (Table 1, Figs. 2-3).

The residual stream (32 channels) never leaves the input resolution. Each
full-resolution residual unit (FRRU) max-pools the residual stream down to
the pooling stream's scale, concatenates it, applies two 3x3 conv-BN-ReLU,
and sends a 1x1 convolution of the result back up (nearest neighbour) to be
added to the residual stream. The pooling stream is max-pooled on the way
down and bilinearly upsampled on the way up; at the end both streams are
concatenated, mixed by a 1x1 convolution, refined by three residual units.
Pooling rounds up, and every upsampled map is resized to the size it must
match, so odd input sizes work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: Channels of the full-resolution residual stream (Section 3.2).
RESIDUAL_CHANNELS = 32
#: Channels of the first 5x5 convolution and the residual units around the two streams.
OUTER_CHANNELS = 48

# Table 1: (FRRUs, channels) per scale. Encoder scales are 2, 4, ...; the decoder mirrors them back to 2.
FRRN_A_ENCODER = ((3, 96), (4, 192), (2, 384), (2, 384))
FRRN_A_DECODER = ((2, 192), (2, 192), (2, 96))
FRRN_B_ENCODER = ((3, 96), (4, 192), (2, 384), (2, 384), (2, 384))
FRRN_B_DECODER = ((2, 192), (2, 192), (2, 192), (2, 96))


class ResidualUnit(nn.Module):
    """RU: x + BN(conv3x3(ReLU(BN(conv3x3(x))))), channels unchanged (Fig. 3a)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FRRU(nn.Module):
    """Full-resolution residual unit at ``scale``: updates the pooling stream and adds back into the residual stream."""

    def __init__(self, cin: int, cout: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.convs = nn.Sequential(ConvNormAct(cin + RESIDUAL_CHANNELS, cout), ConvNormAct(cout, cout))
        self.to_residual = nn.Conv2d(cout, RESIDUAL_CHANNELS, 1)

    def forward(self, pooled: torch.Tensor, residual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        down = F.max_pool2d(residual, self.scale, ceil_mode=True)
        pooled = self.convs(torch.cat([pooled, down], dim=1))
        up = F.interpolate(self.to_residual(pooled), scale_factor=self.scale, mode="nearest")
        return pooled, residual + up[..., : residual.shape[-2], : residual.shape[-1]]


class FRRN(nn.Module):
    """An FRRN from its encoder and decoder (FRRUs, channels) per scale, Table 1."""

    def __init__(
        self,
        num_classes: int,
        encoder: Sequence[tuple[int, int]],
        decoder: Sequence[tuple[int, int]],
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        if len(decoder) != len(encoder) - 1:
            raise ValueError("the decoder has one scale fewer than the encoder (it stops at scale 2)")
        self.stem = nn.Sequential(
            nn.Conv2d(3, OUTER_CHANNELS, 5, padding=2, bias=False),
            nn.BatchNorm2d(OUTER_CHANNELS),
            nn.ReLU(inplace=True),
            *(ResidualUnit(OUTER_CHANNELS) for _ in range(3)),
        )
        self.split = nn.Conv2d(OUTER_CHANNELS, RESIDUAL_CHANNELS, 1)

        channels = OUTER_CHANNELS
        self.encoder = nn.ModuleList()
        for level, (n, cout) in enumerate(encoder, start=1):
            self.encoder.append(self._stage(n, channels, cout, 2**level))
            channels = cout
        self.decoder = nn.ModuleList()
        for level, (n, cout) in zip(range(len(decoder), 0, -1), decoder, strict=True):
            self.decoder.append(self._stage(n, channels, cout, 2**level))
            channels = cout

        self.merge = nn.Conv2d(channels + RESIDUAL_CHANNELS, OUTER_CHANNELS, 1)
        self.head = nn.Sequential(*(ResidualUnit(OUTER_CHANNELS) for _ in range(3)))
        self.classifier = nn.Conv2d(OUTER_CHANNELS, num_classes, 1)

    @staticmethod
    def _stage(n: int, cin: int, cout: int, scale: int) -> nn.ModuleList:
        return nn.ModuleList(FRRU(cin if i == 0 else cout, cout, scale) for i in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = self.stem(x)
        residual = self.split(pooled)
        sizes = []
        for stage in self.encoder:
            sizes.append(pooled.shape[-2:])
            pooled = F.max_pool2d(pooled, 2, ceil_mode=True)
            for unit in cast(nn.ModuleList, stage):  # FRRU stages (_stage)
                pooled, residual = unit(pooled, residual)
        for stage in self.decoder:
            pooled = F.interpolate(pooled, size=sizes.pop(), mode="bilinear", align_corners=False)
            for unit in cast(nn.ModuleList, stage):  # FRRU stages (_stage)
                pooled, residual = unit(pooled, residual)
        pooled = F.interpolate(pooled, size=size, mode="bilinear", align_corners=False)
        x = self.head(self.merge(torch.cat([pooled, residual], dim=1)))
        return self.classifier(x)


_PAPER = "Pohlen et al., Full-Resolution Residual Networks for Semantic Segmentation in Street Scenes"


@NETWORKS.register(
    "frrn_a",
    paper=_PAPER,
    year=2017,
    paper_params=17.7,
    paper_classes=19,
    params_source=(
        "derived; the paper states no count: Table 1 counted layer by layer (5x5 conv and 6 RUs of 48, "
        "FRRUs of 3x3 conv-BN pairs plus a 1x1 back to the 32-channel stream, 1x1 split/merge) = 17.71 M"
    ),
)
class FRRNA(FRRN):
    """FRRN A: pooling stream down to 1/16 (Table 1)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, FRRN_A_ENCODER, FRRN_A_DECODER)


@NETWORKS.register(
    "frrn_b",
    paper=_PAPER,
    year=2017,
    paper_params=24.7,
    paper_classes=19,
    params_source=(
        "derived; the paper states no count: Table 1 counted layer by layer as for FRRN A, plus the "
        "1/32 encoder and 1/16 decoder scales (2 FRRUs of 384 and 2 of 192) = 24.72 M"
    ),
)
class FRRNB(FRRN):
    """FRRN B: one more scale, down to 1/32 (Table 1)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, FRRN_B_ENCODER, FRRN_B_DECODER)
