"""DeepLab v1 (LargeFOV), v2 (ASPP-L), v3 (ASPP with image pooling) and v3+ (ASPP + decoder).

Chen et al., "Semantic Image Segmentation with Deep Convolutional Nets and Fully
Connected CRFs", ICLR 2015; "DeepLab: Semantic Image Segmentation with Deep
Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2017;
"Rethinking Atrous Convolution for Semantic Image Segmentation", arXiv 2017;
Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic
Image Segmentation", ECCV 2018. The CRF post-processing of v1/v2 is not part of
the network and is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, feature_at


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear x``factor``: at least the input size, which the model then crops to."""
    size = (x.shape[-2] * factor, x.shape[-1] * factor)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _top_stride(specs: Sequence[FeatureSpec], accepted: Sequence[int], name: str) -> int:
    stride = specs[-1].stride
    if stride not in accepted:
        valid = " or ".join(map(str, accepted))
        raise ValueError(f"{name} needs its deepest features at stride {valid}, got {stride}")
    return stride


@DECODERS.register(
    "deeplabv1",
    paper="Chen et al., Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected CRFs"
    " (DeepLab-LargeFOV)",
    year=2015,
    needs="encoder at output stride 8",
)
class DeepLabV1(Decoder):
    """DeepLab-LargeFOV's head: fc6 3x3 at dilation 12 (1024), fc7 1x1 (1024), 1x1 scores, x8 bilinear.

    LargeFOV's 1024-channel, dilation-12 fc6 is the paper's cheap stand-in for
    VGG's 4096-channel 7x7 fc6 with the same large field of view.
    """

    output_stride = 8

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 1024) -> None:
        super().__init__(specs, num_classes)
        _top_stride(specs, (8,), "deeplabv1")
        self.head = nn.Sequential(
            nn.Conv2d(specs[-1].channels, channels, 3, padding=12, dilation=12),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return _upsample(self.head(features[-1]), 8)


@DECODERS.register(
    "deeplabv2",
    paper="Chen et al., DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,"
    " Atrous Convolution, and Fully Connected CRFs",
    year=2017,
    needs="encoder at output stride 8",
)
class DeepLabV2(Decoder):
    """ASPP-L: four 3x3 convs at rates 6, 12, 18, 24 straight to class scores, summed; x8 bilinear.

    This is the head of the paper's ResNet-101 model, where each branch is a
    single classifier layer (the VGG version had fc6/fc7 per branch).
    """

    output_stride = 8
    rates: tuple[int, ...] = (6, 12, 18, 24)

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        _top_stride(specs, (8,), "deeplabv2")
        cin = specs[-1].channels
        self.branches = nn.ModuleList(
            nn.Conv2d(cin, num_classes, 3, padding=r, dilation=r) for r in self.rates
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        return _upsample(sum(branch(x) for branch in self.branches), 8)


class ASPPPooling(nn.Sequential):
    """Image-level features: global average, 1x1 conv, BN, ReLU, broadcast back to the map's size."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return F.interpolate(super().forward(x), size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """v3's ASPP: 1x1, three dilated 3x3 and image pooling, each 256 + BN + ReLU; concat; 1x1 projection.

    Laid out as torchvision's ``ASPP`` (projection dropout 0.5 included), so
    parameter counts can be compared one to one.
    """

    def __init__(self, cin: int, rates: Sequence[int], cout: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
        ]
        for r in rates:
            branches.append(
                nn.Sequential(
                    nn.Conv2d(cin, cout, 3, padding=r, dilation=r, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                )
            )
        branches.append(ASPPPooling(cin, cout))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * cout, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


def aspp_rates(output_stride: int) -> tuple[int, int, int]:
    """6/12/18 at output stride 16; doubled at 8, so the fields of view stay those of the input."""
    return tuple(r * 16 // output_stride for r in (6, 12, 18))  # type: ignore[return-value]


@DECODERS.register(
    "deeplabv3",
    paper="Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation",
    year=2017,
    needs="encoder at output stride 16 (or 8)",
)
class DeepLabV3(Decoder):
    """ASPP, then torchvision's head: 3x3 conv 256, BN, ReLU, 1x1 scores; bilinear to the input scale.

    The paper leaves the layers after ASPP open ("another 1x1 conv ... before
    the final 1x1 conv that generates the logits"); we follow torchvision's
    ``DeepLabHead`` so that resnet50 + deeplabv3 has its parameter count.
    """

    output_stride = 16
    output_strides = (16, 8)

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 256) -> None:
        super().__init__(specs, num_classes)
        self.stride = _top_stride(specs, self.output_strides, "deeplabv3")
        self.aspp = ASPP(specs[-1].channels, aspp_rates(self.stride), channels)
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return _upsample(self.head(self.aspp(features[-1])), self.stride)


@DECODERS.register(
    "deeplabv3plus",
    paper="Chen et al., Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation",
    year=2018,
    needs="encoder at output stride 16 (or 8); features at stride 4",
)
class DeepLabV3Plus(Decoder):
    """v3's ASPP, upsampled to stride 4 and concatenated with the stride-4 features cut to 48 channels.

    Two 3x3 convs (256, BN, ReLU) refine the object boundaries, a 1x1 gives the
    scores, bilinear x4 the input scale. The low-level features are reduced
    to 48 so they do not outweigh the 256 ASPP channels (the paper's ablation).
    Plain (not separable) 3x3 convs, as in the paper's ResNet-101 model.
    """

    output_stride = 16
    output_strides = (16, 8)

    def __init__(
        self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 256, low_channels: int = 48
    ) -> None:
        super().__init__(specs, num_classes)
        stride = _top_stride(specs, self.output_strides, "deeplabv3plus")
        self.low = feature_at(specs, 4)
        self.aspp = ASPP(specs[-1].channels, aspp_rates(stride), channels)
        self.reduce = nn.Sequential(
            nn.Conv2d(specs[self.low].channels, low_channels, 1, bias=False),
            nn.BatchNorm2d(low_channels),
            nn.ReLU(inplace=True),
        )
        self.refine = nn.Sequential(
            nn.Conv2d(channels + low_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low = self.reduce(features[self.low])
        # Resize to the stride-4 map's exact size: x4 of a rounded-up map can differ by a pixel or so.
        x = F.interpolate(self.aspp(features[-1]), size=low.shape[-2:], mode="bilinear", align_corners=False)
        return _upsample(self.refine(torch.cat([x, low], dim=1)), 4)
