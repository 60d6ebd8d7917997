"""Encoders, decoders and the models built from them."""

from segbench.models.decoders import DECODERS, Decoder
from segbench.models.encoders import ENCODERS, Encoder, create_encoder
from segbench.models.segmodel import SegModel, build_model
from segbench.models.spec import FeatureSpec

__all__ = [
    "DECODERS",
    "ENCODERS",
    "Decoder",
    "Encoder",
    "FeatureSpec",
    "SegModel",
    "build_model",
    "create_encoder",
]
