"""MobileNet v1 (Howard et al., "MobileNets: Efficient Convolutional Neural
Networks for Mobile Vision Applications", 2017), width multiplier 1.0.

torchvision has no MobileNet v1, so it is written here: a 3x3/2 conv, then
13 depthwise-separable blocks, each conv followed by BN and ReLU6. There are
no published weights in torchvision, so ``pretrained=True`` is an error.
"""

from __future__ import annotations

from torch import nn

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.layers import ConvNormAct
from segbench.models.pretrained import no_pretrained_weights
from segbench.models.spec import FeatureSpec

# (output channels, stride) of the separable blocks, grouped by the stride of
# the feature each group ends at. The stride-2 feature is taken after the
# first (64-channel) block rather than after conv1, so it has 64 channels.
_BLOCKS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((64, 1),),
    ((128, 2), (128, 1)),
    ((256, 2), (256, 1)),
    ((512, 2), *((512, 1),) * 5),
    ((1024, 2), (1024, 1)),
)
_STEM_CHANNELS = 32


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv (carries the stride), then 1x1 pointwise conv; BN and ReLU6 after each."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            ConvNormAct(in_channels, in_channels, stride=stride, groups=in_channels, activation=nn.ReLU6),
            ConvNormAct(in_channels, out_channels, kernel_size=1, activation=nn.ReLU6),
        )


def init_weights(module: nn.Module) -> None:
    """He (kaiming) init for convs, BN to identity; as torchvision's random init."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def mobilenet_v1_stages() -> list[nn.Sequential]:
    """The five stages, ending at strides 2, 4, 8, 16, 32."""
    stages: list[nn.Sequential] = []
    in_channels = _STEM_CHANNELS
    for i, group in enumerate(_BLOCKS):
        layers: list[nn.Module] = []
        if i == 0:
            layers.append(ConvNormAct(3, _STEM_CHANNELS, stride=2, activation=nn.ReLU6))
        for out_channels, stride in group:
            layers.append(DepthwiseSeparable(in_channels, out_channels, stride))
            in_channels = out_channels
        stages.append(nn.Sequential(*layers))
    return stages


@ENCODERS.register("mobilenet", source="segbench", paper="Howard et al., MobileNets", year=2017)
def mobilenet(pretrained: bool = False) -> Encoder:
    if pretrained:
        raise no_pretrained_weights("mobilenet")
    stages = mobilenet_v1_stages()
    specs = [FeatureSpec(group[-1][0], 2 ** (i + 1)) for i, group in enumerate(_BLOCKS)]
    encoder = Encoder(stages, specs)
    init_weights(encoder)
    return encoder
