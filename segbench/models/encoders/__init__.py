"""Encoder registry. Each entry is a factory ``(pretrained: bool) -> Encoder``.

Metadata per entry: ``source`` (torchvision or segbench), ``paper`` and
``year``. Import this package to get every built-in encoder registered.
"""

from __future__ import annotations

from typing import Protocol

from segbench.models.encoders.base import Encoder
from segbench.registry import Registry


class EncoderFactory(Protocol):
    def __call__(self, pretrained: bool = False) -> Encoder: ...


ENCODERS: Registry[EncoderFactory] = Registry("encoder")


def create_encoder(name: str, pretrained: bool = False, output_stride: int = 32) -> Encoder:
    """Build a registered encoder, dilated to ``output_stride`` when that is below 32."""
    encoder = ENCODERS.get(name)(pretrained=pretrained)
    encoder.dilate(output_stride)
    return encoder


# Registration side effects: one module per family.
from segbench.models.encoders import torchvision_backed  # noqa: E402,F401
from segbench.models.encoders import drn, mobilenet, shufflenet, torchvision_modern, vgg_bn, xception  # noqa: E402,F401,I001

__all__ = ["ENCODERS", "Encoder", "EncoderFactory", "create_encoder"]
