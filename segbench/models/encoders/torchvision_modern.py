"""Encoders cut from torchvision's newer classification models: EfficientNet,
RegNet and ConvNeXt.

As in :mod:`torchvision_backed`, torchvision's modules are kept as they are
(so ImageNet weights load unchanged) and only the classifier is dropped. For
ConvNeXt that classifier includes torchvision's final ``LayerNorm2d``: the
deepest feature is the last stage's output before that norm, like the other
three, so the encoder's parameters are the model's minus ``classifier``.
"""

from __future__ import annotations

from itertools import pairwise

from torch import nn

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.encoders.torchvision_backed import sequential_child, torchvision_model
from segbench.models.spec import FeatureSpec

_TV = {"source": "torchvision"}


def _specs(channels: tuple[int, ...], strides: tuple[int, ...] = (2, 4, 8, 16, 32)) -> list[FeatureSpec]:
    return [FeatureSpec(c, s) for c, s in zip(channels, strides, strict=True)]


def _split(features: nn.Sequential, cuts: tuple[int, ...]) -> list[nn.Module]:
    bounds = [0, *cuts, len(features)]
    return [features[a:b] for a, b in pairwise(bounds)]


class ConvNeXtEncoder(Encoder):
    """ConvNeXt's stages, with a dilation that keeps the 2x2 downsamplers size-preserving.

    ConvNeXt downsamples with 2x2 stride-2 convs without padding. The generic
    :meth:`Encoder.dilate` sets such a conv to stride 1, where a 2x2 kernel
    would shrink the map by one pixel per downsampler (and the later, dilated
    ones get a symmetric padding that does keep the size). An undilated one is
    therefore given one pixel of zero padding at the bottom/right, where
    segbench puts every rounding excess.
    """

    def dilate(self, output_stride: int) -> None:
        super().dilate(output_stride)
        shrinking = [
            (parent, i)
            for parent in self.modules()
            if isinstance(parent, nn.Sequential)
            for i, child in enumerate(parent)
            if _shrinks_by_one(child)
        ]
        for parent, i in shrinking:
            parent[i] = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), parent[i])


def _shrinks_by_one(m: nn.Module) -> bool:
    return (
        isinstance(m, nn.Conv2d)
        and m.kernel_size == (2, 2)
        and m.stride == (1, 1)
        and m.dilation == (1, 1)
        and m.padding == (0, 0)
    )


@ENCODERS.register("efficientnet_b0", paper="Tan & Le, EfficientNet", year=2019, **_TV)
def efficientnet_b0(pretrained: bool = False) -> Encoder:
    """Features after blocks 1, 2, 3, 5 and the final 1x1 conv (16, 24, 40, 112, 1280 channels)."""
    features = sequential_child(torchvision_model("efficientnet_b0", pretrained), "features")
    return Encoder(_split(features, (2, 3, 4, 6)), _specs((16, 24, 40, 112, 1280)))


@ENCODERS.register("regnet_y_800mf", paper="Radosavovic et al., Designing Network Design Spaces", year=2020,
                   **_TV)
def regnet_y_800mf(pretrained: bool = False) -> Encoder:
    layer = torchvision_model("regnet_y_800mf", pretrained).get_submodule
    stages = [layer("stem"), *(layer(f"trunk_output.block{i}") for i in range(1, 5))]
    return Encoder(stages, _specs((32, 64, 144, 320, 784)))


@ENCODERS.register("convnext_tiny", paper="Liu et al., A ConvNet for the 2020s", year=2022, **_TV)
def convnext_tiny(pretrained: bool = False) -> Encoder:
    """Strides 4, 8, 16, 32 only: the stem is a 4x4 stride-4 patchify conv.

    The stem and downsamplers have no padding, so sizes round down
    (``floor(H / stride)``, one pixel under segbench's usual ``ceil``); the
    decoders align maps by cropping/padding, so that is harmless.
    """
    features = sequential_child(torchvision_model("convnext_tiny", pretrained), "features")
    return ConvNeXtEncoder(_split(features, (2, 4, 6)), _specs((96, 192, 384, 768), (4, 8, 16, 32)))
