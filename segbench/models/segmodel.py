"""An encoder and a decoder joined into a segmentation model, and the builder."""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.decoders import DECODERS, Decoder
from segbench.models.encoders import Encoder, create_encoder
from segbench.models.spec import align_to


class SegModel(nn.Module):
    """Returns class logits ``[N, C, H, W]`` at exactly the input's ``H, W``.

    The input is never resized or padded; the decoder's output (which rounds up
    like the encoder's strides) is cropped to the input size.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(self.encoder(x))
        return align_to(logits, x.shape[-2:])


def build_model(
    encoder: str,
    decoder: str,
    num_classes: int,
    pretrained: bool = False,
) -> SegModel:
    """Build ``encoder`` + ``decoder`` for ``num_classes``, dilating the encoder if the decoder asks."""
    decoder_cls = DECODERS.get(decoder)
    enc = create_encoder(encoder, pretrained=pretrained, output_stride=decoder_cls.output_stride)
    return SegModel(enc, decoder_cls(enc.feature_specs, num_classes))
