"""Encoders cut from torchvision's classification models.

Each keeps torchvision's modules (so its ImageNet weights load unchanged) and
drops only the classifier; a test checks the parameter count equals
torchvision's model minus that classifier.
"""

from __future__ import annotations

from itertools import pairwise

from torch import nn
from torchvision import models

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.pretrained import load_torchvision_state_dict
from segbench.models.spec import FeatureSpec

_STRIDES = (2, 4, 8, 16, 32)


def torchvision_model(name: str, pretrained: bool) -> nn.Module:
    """torchvision's ``name`` with random weights, or its cached ImageNet weights."""
    model = models.get_model(name, weights=None)
    if pretrained:
        model.load_state_dict(load_torchvision_state_dict(name))
    return model


def sequential_child(model: nn.Module, name: str) -> nn.Sequential:
    """``model``'s submodule ``name`` (dotted for nested ones), which must be an ``nn.Sequential``.

    Typed, unlike ``model.name``: ``nn.Module.__getattr__`` is typed ``Tensor | Module``.
    """
    child = model.get_submodule(name)
    if not isinstance(child, nn.Sequential):
        raise TypeError(f"{type(model).__name__}.{name} is a {type(child).__name__}, not an nn.Sequential")
    return child


def _specs(channels: tuple[int, ...]) -> list[FeatureSpec]:
    return [FeatureSpec(c, s) for c, s in zip(channels, _STRIDES, strict=True)]


VGG_CHANNELS = (64, 128, 256, 512, 512)


def vgg_stages(name: str, pretrained: bool) -> list[nn.Module]:
    """torchvision's VGG ``features`` cut after each max-pool (rounding up), one stage per pool."""
    features = sequential_child(torchvision_model(name, pretrained), "features")
    pools = []
    for i, m in enumerate(features):
        if isinstance(m, nn.MaxPool2d):
            m.ceil_mode = True  # round up, like every other strided layer here
            pools.append(i)
    bounds = [0, *(i + 1 for i in pools)]
    return [features[a:b] for a, b in pairwise(bounds)]


def vgg_specs() -> list[FeatureSpec]:
    return _specs(VGG_CHANNELS)


def _vgg(name: str, pretrained: bool) -> Encoder:
    return Encoder(vgg_stages(name, pretrained), vgg_specs())


def _resnet(name: str, pretrained: bool, channels: tuple[int, ...]) -> Encoder:
    m = torchvision_model(name, pretrained)
    layer = m.get_submodule
    stages = [
        nn.Sequential(layer("conv1"), layer("bn1"), layer("relu")),
        nn.Sequential(layer("maxpool"), layer("layer1")),
        layer("layer2"),
        layer("layer3"),
        layer("layer4"),
    ]
    return Encoder(stages, _specs(channels))


def _split_features(features: nn.Sequential, cuts: tuple[int, ...]) -> list[nn.Module]:
    bounds = [0, *cuts, len(features)]
    return [features[a:b] for a, b in pairwise(bounds)]


_BASIC = (64, 64, 128, 256, 512)
_BOTTLENECK = (64, 256, 512, 1024, 2048)
_TV = {"source": "torchvision"}


@ENCODERS.register("vgg16", paper="Simonyan & Zisserman, Very Deep Convolutional Networks", year=2014, **_TV)
def vgg16(pretrained: bool = False) -> Encoder:
    return _vgg("vgg16", pretrained)


@ENCODERS.register("resnet18", paper="He et al., Deep Residual Learning", year=2016, **_TV)
def resnet18(pretrained: bool = False) -> Encoder:
    return _resnet("resnet18", pretrained, _BASIC)


@ENCODERS.register("resnet34", paper="He et al., Deep Residual Learning", year=2016, **_TV)
def resnet34(pretrained: bool = False) -> Encoder:
    return _resnet("resnet34", pretrained, _BASIC)


@ENCODERS.register("resnet50", paper="He et al., Deep Residual Learning", year=2016, **_TV)
def resnet50(pretrained: bool = False) -> Encoder:
    return _resnet("resnet50", pretrained, _BOTTLENECK)


@ENCODERS.register("resnet101", paper="He et al., Deep Residual Learning", year=2016, **_TV)
def resnet101(pretrained: bool = False) -> Encoder:
    return _resnet("resnet101", pretrained, _BOTTLENECK)


@ENCODERS.register("mobilenet_v2", paper="Sandler et al., MobileNetV2", year=2018, **_TV)
def mobilenet_v2(pretrained: bool = False) -> Encoder:
    features = sequential_child(torchvision_model("mobilenet_v2", pretrained), "features")
    return Encoder(_split_features(features, (2, 4, 7, 14)), _specs((16, 24, 32, 96, 1280)))


@ENCODERS.register("mobilenet_v3_large", paper="Howard et al., Searching for MobileNetV3", year=2019, **_TV)
def mobilenet_v3_large(pretrained: bool = False) -> Encoder:
    features = sequential_child(torchvision_model("mobilenet_v3_large", pretrained), "features")
    return Encoder(_split_features(features, (2, 4, 7, 13)), _specs((16, 24, 40, 112, 960)))


@ENCODERS.register("shufflenet_v2", paper="Ma et al., ShuffleNet V2", year=2018, **_TV)
def shufflenet_v2(pretrained: bool = False) -> Encoder:
    layer = torchvision_model("shufflenet_v2_x1_0", pretrained).get_submodule
    stages = [
        layer("conv1"), layer("maxpool"), layer("stage2"), layer("stage3"),
        nn.Sequential(layer("stage4"), layer("conv5")),
    ]
    return Encoder(stages, _specs((24, 24, 116, 232, 1024)))
