"""An encoder and a decoder joined into a segmentation model, and the builder."""

from __future__ import annotations

import torch
from torch import nn

from segbench.config import is_whole_network
from segbench.models.catalog import resolve_model
from segbench.models.decoders import DECODERS, Decoder, NotApplicable
from segbench.models.encoders import Encoder, create_encoder
from segbench.models.networks import NETWORKS
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
    encoder: str | None = None,
    decoder: str | None = None,
    num_classes: int = 21,
    pretrained: bool = False,
    output_stride: int | None = None,
    *,
    model: str | None = None,
) -> nn.Module:
    """Build ``encoder`` + ``decoder``, or the named ``model``, for ``num_classes``.

    ``model`` is a whole network (``enet``) or the literature's name for a pair
    (``shuffleseg``); the pair ``("-", NAME)`` also builds whole network NAME, so
    a record's key columns always rebuild its model. ``output_stride``
    overrides the decoder's default where it accepts several (e.g. DeepLab v3
    at 8 instead of 16). Raises :class:`NotApplicable` when the encoder cannot
    give what the decoder needs.
    """
    if model is not None:
        if encoder is not None or decoder is not None:
            raise ValueError("give either model= or encoder= and decoder=, not both")
        encoder, decoder = resolve_model(model)
    if encoder is None or decoder is None:
        raise ValueError("build_model needs model=NAME, or both encoder= and decoder=")
    if is_whole_network(encoder):
        return _build_network(decoder, num_classes, pretrained, output_stride)
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


def _build_network(name: str, num_classes: int, pretrained: bool, output_stride: int | None) -> nn.Module:
    """A whole network: built as its paper describes it, from scratch."""
    network_cls = NETWORKS.get(name)
    if output_stride is not None:
        raise ValueError(f"'{name}' is a whole network with its own output stride; drop output_stride")
    if pretrained:
        raise NotApplicable(f"{name} is a whole network trained from scratch; it has no ImageNet encoder to load")
    return network_cls(num_classes=num_classes)
