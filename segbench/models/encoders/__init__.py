"""Encoder registry. Each entry is a factory ``(pretrained: bool) -> Encoder``.

Metadata per entry (an :class:`EncoderCard`): ``source`` (torchvision or
segbench), ``paper`` and ``year``. Import this package to get every built-in
encoder registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from segbench.models.encoders.base import Encoder
from segbench.registry import Card, Registry


class EncoderFactory(Protocol):
    def __call__(self, pretrained: bool = False) -> Encoder: ...


@dataclass(frozen=True, kw_only=True)
class EncoderCard(Card):
    #: Whose implementation: "torchvision" or "segbench" (written here).
    source: str | None = None


ENCODERS: Registry[EncoderFactory] = Registry("encoder", EncoderCard)


TIMM_PREFIX = "timm:"


def is_encoder_name(name: str) -> bool:
    """A registered name, or ``timm:NAME`` (checked against timm only when built)."""
    return name in ENCODERS or (name.startswith(TIMM_PREFIX) and len(name) > len(TIMM_PREFIX))


def create_encoder(name: str, pretrained: bool = False, output_stride: int = 32) -> Encoder:
    """Build a registered encoder, dilated to ``output_stride`` when that is below 32.

    ``timm:NAME`` builds timm's model ``NAME`` (timm is an optional dependency).
    """
    if name.startswith(TIMM_PREFIX):
        from segbench.models.encoders.timm_backed import timm_encoder

        return timm_encoder(name[len(TIMM_PREFIX):], pretrained, output_stride)
    encoder = ENCODERS.get(name)(pretrained=pretrained)
    encoder.dilate(output_stride)
    return encoder


# Registration side effects: one module per family. Imported after the registry is defined, since each module
# imports it to register itself.
from segbench.models.encoders import (  # noqa: E402, F401
    drn,
    hrnet,
    mit,
    mobilenet,
    shufflenet,
    stdc,
    torchvision_backed,
    torchvision_modern,
    vgg_bn,
    xception,
)

__all__ = ["ENCODERS", "Encoder", "EncoderCard", "EncoderFactory", "create_encoder", "is_encoder_name"]
