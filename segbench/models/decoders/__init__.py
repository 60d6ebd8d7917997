"""Decoder registry. Each entry is a :class:`Decoder` subclass.

Metadata per entry (a :class:`DecoderCard`): ``paper``, ``year`` and
``needs`` (what it asks of the encoder, in words); the class attribute
``output_stride`` is the machine-readable part of that.
"""

from __future__ import annotations

from dataclasses import dataclass

from segbench.models.decoders.base import BoundaryLogits, Decoder, NotApplicable, TrainingOnly
from segbench.registry import Card, Registry


@dataclass(frozen=True, kw_only=True)
class DecoderCard(Card):
    #: What the decoder asks of its encoder, in words ("features at strides 4, 8, 16, 32").
    needs: str | None = None
    #: The embedding width, for decoders registered at several (SegFormer's E).
    embed_dim: int | None = None


DECODERS: Registry[type[Decoder]] = Registry("decoder", DecoderCard)

# Registration side effects: one module per decoder. Imported after the registry is defined, since each module
# imports it to register itself.
from segbench.models.decoders import (  # noqa: E402, F401
    context,
    deeplab,
    dilation,
    duc,
    fcn,
    fpn,
    gcn,
    hrnet_head,
    linknet,
    ocr,
    psp,
    refinenet,
    segformer,
    segnet,
    skip,
    unet,
    unet_classic,
    upernet,
)

__all__ = ["DECODERS", "BoundaryLogits", "Decoder", "DecoderCard", "NotApplicable", "TrainingOnly"]
