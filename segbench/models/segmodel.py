"""An encoder and a decoder joined into a segmentation model, and the builder."""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.decoders import DECODERS, Decoder, NotApplicable
from segbench.models.encoders import Encoder, create_encoder
from segbench.models.spec import MissingFeature, align_to


class SegModel(nn.Module):
    """Returns class logits ``[N, C, H, W]`` at exactly the input's ``H, W``.

    The input is never resized or padded; the decoder's output (which rounds up
    like the encoder's strides) is cropped to the input size.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.decoder.needs_pool_indices:
            features, indices = self.encoder.forward_with_indices(x)  # type: ignore[operator]
            out = self.decoder(features, indices)
        else:
            out = self.decoder(self.encoder(x))
        if isinstance(out, tuple):  # training mode with auxiliary heads
            return tuple(align_to(o, x.shape[-2:]) for o in out)
        return align_to(out, x.shape[-2:])


def build_model(
    encoder: str,
    decoder: str,
    num_classes: int,
    pretrained: bool = False,
    output_stride: int | None = None,
) -> SegModel:
    """Build ``encoder`` + ``decoder`` for ``num_classes``, giving the decoder what it declares it needs.

    ``output_stride`` overrides the decoder's default where it accepts several
    (e.g. DeepLab v3 at 8 instead of 16). Raises :class:`NotApplicable` when the
    encoder cannot give what the decoder needs.
    """
    decoder_cls = DECODERS.get(decoder)
    stride = output_stride or decoder_cls.output_stride
    if stride not in decoder_cls.accepted_output_strides():
        valid = ", ".join(map(str, decoder_cls.accepted_output_strides()))
        raise ValueError(f"decoder '{decoder}' runs at output stride {valid}, not {stride}")
    enc = create_encoder(encoder, pretrained=pretrained, output_stride=stride)
    if decoder_cls.needs_pool_indices and not getattr(enc, "provides_pool_indices", False):
        raise NotApplicable(f"{decoder} upsamples with max-pooling indices, which {encoder} does not provide")
    try:
        head = decoder_cls(enc.feature_specs, num_classes)
    except MissingFeature as e:
        raise NotApplicable(f"{decoder} on {encoder}: {e}") from None
    return SegModel(enc, head)
