"""Dilated Residual Networks DRN-C-26 and DRN-D-22 (Yu, Koltun & Funkhouser,
"Dilated Residual Networks", CVPR 2017), after the authors' code (fyu/drn).

ResNet-18-like BasicBlocks in eight levels, channels 16, 32, 64, 128, 256,
512, 512, 512. Levels 1-4 stride 1, 2, 2, 2; levels 5 and 6 keep stride 8 and
dilate by 2 and 4 instead; levels 7 and 8 (dilation 2, then 1) remove the
gridding artefacts of dilation and have no residual connections. DRN-C uses
residual blocks in levels 1-2 and 7-8, DRN-D plain 3x3 conv layers there.

These networks are natively output stride 8: the features are declared at
strides 2, 4, 8, 8, 8, the deepest (512 channels) at 8, and ``dilate`` never
has anything to do. A decoder that taps stride-16 or stride-32 features
(``feature_at``) cannot run on them. There are no ImageNet weights in
torchvision, so ``pretrained=True`` is an error.
"""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.encoders.mobilenet import init_weights
from segbench.models.pretrained import no_pretrained_weights
from segbench.models.spec import FeatureSpec

CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
LAYERS = (1, 1, 2, 2, 2, 2, 1, 1)


def conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs; ``dilation`` is per conv; ``residual=False`` drops the shortcut (levels 7-8)."""

    def __init__(
        self, cin: int, cout: int, stride: int = 1, dilation: tuple[int, int] = (1, 1), residual: bool = True
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride, dilation[0])
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout, dilation=dilation[1])
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.residual = residual
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


def residual_level(
    cin: int, cout: int, blocks: int, stride: int = 1, dilation: int = 1, new_level: bool = True,
    residual: bool = True,
) -> nn.Sequential:
    """A level of BasicBlocks; with ``new_level`` a dilated level starts at half the dilation (fyu/drn)."""
    first = (1, 1) if dilation == 1 else (dilation // 2 if new_level else dilation, dilation)
    layers = [BasicBlock(cin, cout, stride, first, residual)]
    for _ in range(blocks - 1):
        layers.append(BasicBlock(cout, cout, dilation=(dilation, dilation), residual=residual))
    return nn.Sequential(*layers)


def conv_level(cin: int, cout: int, convs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """DRN-D's plain levels: ``convs`` 3x3 conv + BN + ReLU, the first carrying the stride."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [conv3x3(cin if i == 0 else cout, cout, stride if i == 0 else 1, dilation),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def drn_stages(arch: str, layers: tuple[int, ...] = LAYERS) -> list[nn.Sequential]:
    """Five stages ending at levels 2, 3, 4, 5 and 8 (strides 2, 4, 8, 8, 8)."""
    c = CHANNELS
    stem = nn.Sequential(nn.Conv2d(3, c[0], 7, 1, 3, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
    if arch == "C":
        level1 = residual_level(c[0], c[0], layers[0])
        level2 = residual_level(c[0], c[1], layers[1], stride=2)
        level7 = residual_level(c[5], c[6], layers[6], dilation=2, new_level=False, residual=False)
        level8 = residual_level(c[6], c[7], layers[7], dilation=1, new_level=False, residual=False)
    elif arch == "D":
        level1 = conv_level(c[0], c[0], layers[0])
        level2 = conv_level(c[0], c[1], layers[1], stride=2)
        level7 = conv_level(c[5], c[6], layers[6], dilation=2)
        level8 = conv_level(c[6], c[7], layers[7], dilation=1)
    else:
        raise ValueError(f"DRN arch must be 'C' or 'D', not '{arch}'")
    return [
        nn.Sequential(stem, level1, level2),
        residual_level(c[1], c[2], layers[2], stride=2),
        residual_level(c[2], c[3], layers[3], stride=2),
        residual_level(c[3], c[4], layers[4], dilation=2, new_level=False),
        nn.Sequential(residual_level(c[4], c[5], layers[5], dilation=4, new_level=False), level7, level8),
    ]


def _drn(name: str, arch: str, pretrained: bool) -> Encoder:
    if pretrained:
        raise no_pretrained_weights(name)
    specs = [FeatureSpec(ch, s) for ch, s in zip((32, 64, 128, 256, 512), (2, 4, 8, 8, 8), strict=True)]
    encoder = Encoder(drn_stages(arch), specs)
    init_weights(encoder)
    return encoder


_PAPER = {"source": "segbench", "paper": "Yu, Koltun & Funkhouser, Dilated Residual Networks", "year": 2017}


@ENCODERS.register("drn_c_26", **_PAPER)
def drn_c_26(pretrained: bool = False) -> Encoder:
    return _drn("drn_c_26", "C", pretrained)


@ENCODERS.register("drn_d_22", **_PAPER)
def drn_d_22(pretrained: bool = False) -> Encoder:
    return _drn("drn_d_22", "D", pretrained)
