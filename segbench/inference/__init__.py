"""Inference add-ons: test-time augmentation, attention to scale, a CRF and MC dropout.

Each wraps a model into another ``nn.Module``, so the grid's profiler
measures what is deployed: the FLOPs, latency and memory of a cell with an
add-on are those of the whole pipeline. Order of the wrappers, inner first:
attention to scale (part of the trained model), multi-scale/flip TTA, MC
dropout (N passes of the augmented model), then the CRF on the final logits.
"""

from __future__ import annotations

import torch
from torch import nn

from segbench.config import PLAIN_COLUMNS, InferenceConfig
from segbench.inference.attention import ScaleAttention
from segbench.inference.crf import ConvCRF
from segbench.inference.mc_dropout import MCDropout, Uncertainty, save_uncertainty_maps
from segbench.inference.tta import MultiScaleFlip

__all__ = [
    "PLAIN_COLUMNS",
    "ConvCRF",
    "InferenceConfig",
    "InferencePipeline",
    "MCDropout",
    "MultiScaleFlip",
    "ScaleAttention",
    "Uncertainty",
    "apply_inference",
    "save_uncertainty_maps",
    "with_attention",
]


def num_classes_of(model: nn.Module) -> int:
    decoder = getattr(model, "decoder", None)
    if decoder is None or not hasattr(decoder, "num_classes"):
        raise ValueError("attention to scale needs the class count; pass num_classes")
    return int(decoder.num_classes)


def with_attention(
    model: nn.Module, config: InferenceConfig | None, num_classes: int | None = None
) -> nn.Module:
    """``model`` inside attention to scale if ``config`` asks for it (do this before training)."""
    if config is None or config.attention_scales is None:
        return model
    return ScaleAttention(model, num_classes or num_classes_of(model), config.attention_scales)


class InferencePipeline(nn.Module):
    """``model`` (already wrapped in TTA / MC dropout) followed by an optional CRF on its logits."""

    def __init__(self, model: nn.Module, crf: ConvCRF | None = None) -> None:
        super().__init__()
        self.model = model
        self.crf = crf

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.model(x)
        if self.crf is None or self.training:
            return out
        return self.crf(x, out)


def apply_inference(model: nn.Module, config: InferenceConfig | None) -> nn.Module:
    """The deployed pipeline around a (trained) model: TTA, then MC dropout, then the CRF.

    Attention to scale is not applied here: it is part of the model that
    trains (see :func:`with_attention`). A plain config returns ``model``.
    """
    if config is None:
        return model
    if config.tta_scales != (1.0,) or config.flip:
        model = MultiScaleFlip(model, config.tta_scales, config.flip)
    if config.mc_samples:
        model = MCDropout(model, config.mc_samples)
    if config.crf:
        model = InferencePipeline(model, ConvCRF(iterations=config.crf_iterations))
    return model
