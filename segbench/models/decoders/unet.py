"""UNet as RTSeg built it: additive skips, LinkNet-style decoder blocks.

Siam et al., RTSeg, ICIP 2018; the blocks are those of Chaurasia & Culurciello,
"LinkNet: Exploiting Encoder Representations for Efficient Semantic
Segmentation", VCIP 2017 (with a ResNet-18 encoder this decoder is LinkNet's).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, align_to, feature_at


class UpBlock(nn.Sequential):
    """1x1 reduce to in/4, 3x3 transposed conv x2, 1x1 expand; each with BN and ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        mid = max(cin // 4, 1)
        super().__init__(
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class FinalBlock(nn.Sequential):
    """LinkNet's head: 3x3 transposed conv x2 to ``width``, 3x3 conv, 2x2 transposed conv x2 to the classes."""

    def __init__(self, cin: int, num_classes: int, width: int = 32) -> None:
        super().__init__(
            nn.ConvTranspose2d(cin, width, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, num_classes, 2, stride=2),
        )


class AdditiveSkipDecoder(Decoder):
    """LinkNet's decoding, shared by ``unet`` and ``linknet``: stride 32 to 4 by x2 blocks and added skips.

    Each :class:`UpBlock` outputs the channel count of the skip it meets, so
    the addition needs no projection. Subclasses put a :class:`FinalBlock` on
    :meth:`decode`'s stride-4 map (``skip_channels[0]`` channels).
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in (4, 8, 16, 32))  # shallow to deep
        self.skip_channels = tuple(specs[i].channels for i in self.taps)
        channels = self.skip_channels
        self.blocks = nn.ModuleList(UpBlock(channels[i + 1], channels[i]) for i in reversed(range(3)))

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Deep to shallow: x2 block, align to the skip's size, add the skip; the stride-4 sum."""
        skips = [features[i] for i in self.taps]
        x = skips[-1]
        for block, skip in zip(self.blocks, reversed(skips[:-1]), strict=True):
            x = align_to(block(x), skip.shape[-2:]) + skip
        return x


@DECODERS.register(
    "unet",
    paper="Siam et al., RTSeg (UNet decoding method; LinkNet blocks)",
    year=2018,
    needs="features at strides 4, 8, 16, 32",
)
class UNet(AdditiveSkipDecoder):
    """From stride 32 to 4: upsample x2, add the encoder's feature, repeat; then x4 and classify.

    The head is LinkNet's: 3x3 transposed conv x2 to ``head_channels`` (32),
    3x3 conv, 2x2 transposed conv x2 to the classes. The same design as
    ``linknet`` (see :class:`AdditiveSkipDecoder`), under RTSeg's name.
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, head_channels: int = 32) -> None:
        super().__init__(specs, num_classes)
        self.head = FinalBlock(self.skip_channels[0], num_classes, head_channels)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.head(self.decode(features))
