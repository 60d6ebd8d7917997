"""ShuffleNet v1 (Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional
Neural Network for Mobile Devices", CVPR 2018), 1x width, 3 groups.

torchvision only has ShuffleNet v2, so v1 is written here, in two variants:

- ``shufflenet``: the paper's network (and its official code): every unit's
  bottleneck is a quarter of the stage width, and conv1 is padded.
- ``shufflenet_rtseg``: the network the RTSeg/ShuffleSeg study (Siam et al.,
  2018) actually built and published FLOPs for: stride-2 units use a
  bottleneck of a quarter of their *residual* width (out - in), and conv1 is
  unpadded (TensorFlow VALID). Both make it lighter (about 127 M instead of
  140 M multiply-adds at 224x224); it is kept so the study's numbers can be
  reproduced. Its unpadded conv1 rounds sizes down, so its features can be
  one pixel smaller than ceil(H / stride); decoders crop or pad to align.
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

_GROUPS = 3
_STEM_CHANNELS = 24
_STAGE_CHANNELS = (240, 480, 960)
_STAGE_UNITS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups (reshape/transpose, so it traces)."""
    n, c, h, w = x.shape
    x = x.reshape(n, groups, c // groups, h, w).transpose(1, 2)
    return x.reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """One ShuffleNet v1 unit (the paper's Fig. 2b/c).

    Grouped 1x1 to ``bottleneck`` channels, BN, ReLU, channel shuffle, 3x3
    depthwise (carries the stride), BN, grouped 1x1, BN. A stride-1 unit adds
    the identity; a stride-2 unit concatenates a 3x3/2 average-pooled
    shortcut, so its residual branch only produces ``out - in`` channels.
    ReLU follows the fusion.
    """

    def __init__(
        self, in_channels: int, out_channels: int, bottleneck: int, stride: int, group_first: bool = True
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        self.stride = stride
        residual = out_channels - in_channels if stride == 2 else out_channels
        self.compress = ConvNormAct(
            in_channels, bottleneck, kernel_size=1, groups=_GROUPS if group_first else 1, activation=None
        )
        self.relu = nn.ReLU(inplace=True)
        self.depthwise = ConvNormAct(
            bottleneck, bottleneck, stride=stride, groups=bottleneck, activation=None
        )
        self.expand = ConvNormAct(bottleneck, residual, kernel_size=1, groups=_GROUPS, activation=None)
        # Averages over the valid pixels only at the borders, as TensorFlow's SAME pooling does.
        self.shortcut = nn.AvgPool2d(3, 2, 1, count_include_pad=False) if stride == 2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.compress(x))
        out = channel_shuffle(out, _GROUPS)
        out = self.expand(self.depthwise(out))
        out = torch.cat([self.shortcut(x), out], dim=1) if self.stride == 2 else out + x
        return self.relu(out)


def shufflenet_v1_stages(rtseg: bool) -> list[nn.Module]:
    """conv1 (stride 2), maxpool (stride 4), then stages 2-4 (strides 8, 16, 32)."""
    stages: list[nn.Module] = [
        nn.Sequential(
            nn.Conv2d(3, _STEM_CHANNELS, 3, 2, padding=0 if rtseg else 1, bias=False),
            nn.BatchNorm2d(_STEM_CHANNELS),
            nn.ReLU(inplace=True),
        ),
        nn.MaxPool2d(3, 2, 1),
    ]
    in_channels = _STEM_CHANNELS
    for i, (out_channels, units) in enumerate(zip(_STAGE_CHANNELS, _STAGE_UNITS, strict=True)):
        # The paper sizes every bottleneck from the stage width; the study sized
        # the stride-2 unit's from the residual branch it feeds.
        first_bottleneck = (out_channels - in_channels) // 4 if rtseg else out_channels // 4
        # Stage 2's first 1x1 sees only the 24 stem channels: the paper leaves it dense.
        layers = [ShuffleUnit(in_channels, out_channels, first_bottleneck, 2, group_first=i > 0)]
        layers += [ShuffleUnit(out_channels, out_channels, out_channels // 4, 1) for _ in range(units - 1)]
        stages.append(nn.Sequential(*layers))
        in_channels = out_channels
    return stages


def _shufflenet(name: str, pretrained: bool, rtseg: bool) -> Encoder:
    if pretrained:
        raise no_pretrained_weights(name)
    channels = (_STEM_CHANNELS, _STEM_CHANNELS, *_STAGE_CHANNELS)
    specs = [FeatureSpec(c, 2 ** (i + 1)) for i, c in enumerate(channels)]
    encoder = Encoder(shufflenet_v1_stages(rtseg), specs)
    init_weights(encoder)
    return encoder


@ENCODERS.register("shufflenet", source="segbench", paper="Zhang et al., ShuffleNet", year=2018)
def shufflenet(pretrained: bool = False) -> Encoder:
    return _shufflenet("shufflenet", pretrained, rtseg=False)


@ENCODERS.register(
    "shufflenet_rtseg", source="segbench", paper="Siam et al., RTSeg (its ShuffleNet v1)", year=2018
)
def shufflenet_rtseg(pretrained: bool = False) -> Encoder:
    """The RTSeg study's ShuffleNet v1 (see the module docstring for how it differs)."""
    return _shufflenet("shufflenet_rtseg", pretrained, rtseg=True)
