"""Aligned (modified) Xception-65, DeepLab v3+'s backbone (Chen et al., "Encoder-Decoder
with Atrous Separable Convolution for Semantic Image Segmentation", ECCV 2018).

Changes from Chollet's Xception, as the paper lists them: a deeper middle flow
(16 repeats, hence Xception-65), every max-pooling replaced by a depthwise
separable conv with stride 2 (so the generic :meth:`Encoder.dilate` can turn
any of them into atrous convs), and BN + ReLU after each 3x3 depthwise conv,
MobileNet style. The parameter count is not quoted from the paper (it gives
none for the backbone); the test derives it layer by layer.

No ImageNet weights for it are in torchvision, so ``pretrained=True`` is an error.
"""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.encoders.mobilenet import init_weights
from segbench.models.layers import ConvNormAct
from segbench.models.pretrained import no_pretrained_weights
from segbench.models.spec import FeatureSpec

MIDDLE_REPEATS = 16


class SeparableConv(nn.Sequential):
    """3x3 depthwise (carries the stride), BN, ReLU; 1x1 pointwise, BN, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class XceptionBlock(nn.Module):
    """Three separable convs, the last carrying the stride, plus a shortcut.

    ``shortcut`` is ``"conv"`` (1x1 strided conv + BN, where shape changes),
    ``"sum"`` (identity, the middle flow) or ``"none"`` (the last exit block).
    """

    def __init__(self, cin: int, channels: tuple[int, int, int], stride: int, shortcut: str) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.convs = nn.Sequential(
            SeparableConv(cin, c1), SeparableConv(c1, c2), SeparableConv(c2, c3, stride)
        )
        self.shortcut: nn.Module | None
        if shortcut == "conv":
            self.shortcut = nn.Sequential(nn.Conv2d(cin, c3, 1, stride, bias=False), nn.BatchNorm2d(c3))
        elif shortcut == "sum":
            self.shortcut = nn.Identity()
        elif shortcut == "none":
            self.shortcut = None
        else:
            raise ValueError(f"unknown shortcut '{shortcut}'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.convs(x)
        return out if self.shortcut is None else out + self.shortcut(x)


def xception65_stages() -> list[nn.Sequential]:
    """Stages ending at strides 2 (64 ch), 4 (128), 8 (256), 16 (728, after the middle flow), 32 (2048)."""
    middle = [XceptionBlock(728, (728, 728, 728), 1, "sum") for _ in range(MIDDLE_REPEATS)]
    return [
        nn.Sequential(ConvNormAct(3, 32, stride=2), ConvNormAct(32, 64)),
        nn.Sequential(XceptionBlock(64, (128, 128, 128), 2, "conv")),
        nn.Sequential(XceptionBlock(128, (256, 256, 256), 2, "conv")),
        nn.Sequential(XceptionBlock(256, (728, 728, 728), 2, "conv"), *middle),
        nn.Sequential(
            XceptionBlock(728, (728, 1024, 1024), 2, "conv"),
            XceptionBlock(1024, (1536, 1536, 2048), 1, "none"),
        ),
    ]


@ENCODERS.register(
    "xception", source="segbench", paper="Chen et al., DeepLab v3+ (aligned Xception-65)", year=2018
)
def xception(pretrained: bool = False) -> Encoder:
    if pretrained:
        raise no_pretrained_weights("xception")
    specs = [FeatureSpec(c, s) for c, s in zip((64, 128, 256, 728, 2048), (2, 4, 8, 16, 32), strict=True)]
    encoder = Encoder(xception65_stages(), specs)
    init_weights(encoder)
    return encoder
