"""Decoder registry. Each entry is a :class:`Decoder` subclass.

Metadata per entry: ``paper``, ``year`` and ``needs`` (what it asks of the
encoder, in words); the class attribute ``output_stride`` is the machine-readable
part of that.
"""

from __future__ import annotations

from segbench.models.decoders.base import BoundaryLogits, Decoder, NotApplicable, TrainingOnly
from segbench.registry import Registry

DECODERS: Registry[type[Decoder]] = Registry("decoder")

# Registration side effects: one module per decoder.
from segbench.models.decoders import (  # noqa: E402,F401
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

__all__ = ["DECODERS", "BoundaryLogits", "Decoder", "NotApplicable", "TrainingOnly"]
