"""Inference add-ons: test-time augmentation, attention to scale, a CRF and MC dropout.

Each wraps a model into another ``nn.Module``, so the grid's profiler
measures what is deployed: the FLOPs, latency and memory of a cell with an
add-on are those of the whole pipeline. Order of the wrappers, inner first:
attention to scale (part of the trained model), multi-scale/flip TTA, MC
dropout (N passes of the augmented model), then the CRF on the final logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from segbench.inference.attention import ScaleAttention
from segbench.inference.crf import ConvCRF
from segbench.inference.mc_dropout import MCDropout, Uncertainty, save_uncertainty_maps
from segbench.inference.tta import MultiScaleFlip

__all__ = [
    "ConvCRF",
    "InferenceConfig",
    "InferencePipeline",
    "MCDropout",
    "MultiScaleFlip",
    "ScaleAttention",
    "Uncertainty",
    "apply_inference",
    "parse_scales",
    "save_uncertainty_maps",
    "with_attention",
]


def parse_scales(text: str | None, what: str = "scales") -> tuple[float, ...] | None:
    """``"0.75,1,1.25"`` -> ``(0.75, 1.0, 1.25)``; empty or None -> None."""
    if text is None or not text.strip():
        return None
    try:
        scales = tuple(float(s) for s in text.split(","))
    except ValueError:
        expected = "expected a comma list of numbers, e.g. 0.75,1,1.25"
        raise ValueError(f"malformed {what} '{text}'; {expected}") from None
    return scales


def _format_scales(scales: tuple[float, ...] | None) -> str | None:
    return None if scales is None else ",".join(f"{s:g}" for s in scales)


@dataclass(frozen=True)
class InferenceConfig:
    """Which add-ons run at inference. The default is the plain model."""

    tta_scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    crf: bool = False
    crf_iterations: int = 5
    mc_samples: int = 0
    attention_scales: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tta_scales", tuple(float(s) for s in self.tta_scales))
        if self.attention_scales is not None:
            object.__setattr__(self, "attention_scales", tuple(float(s) for s in self.attention_scales))
        if not self.tta_scales or any(not 0 < s <= 4 for s in self.tta_scales):
            raise ValueError(f"test-time scales must be in (0, 4], not {_format_scales(self.tta_scales)}")
        if len(set(self.tta_scales)) != len(self.tta_scales):
            raise ValueError(f"test-time scales repeat: {_format_scales(self.tta_scales)}")
        if self.crf_iterations < 1:
            raise ValueError(f"CRF iterations must be a positive integer, not {self.crf_iterations}")
        if self.mc_samples < 0 or self.mc_samples == 1:
            raise ValueError(f"MC dropout samples must be 0 (off) or at least 2, not {self.mc_samples}")
        scales = self.attention_scales
        if scales is not None and (
            len(scales) < 2 or any(not 0 < s <= 4 for s in scales) or len(set(scales)) != len(scales)
        ):
            raise ValueError(
                "attention scales must be two or more distinct numbers in (0, 4], "
                f"not {_format_scales(scales)}"
            )

    @classmethod
    def from_options(
        cls,
        tta_scales: str | None = None,
        flip: bool = False,
        crf: bool = False,
        crf_iterations: int = 5,
        mc_samples: int = 0,
        attention_scales: str | None = None,
    ) -> InferenceConfig:
        """From command-line or suite values (scales as comma lists); raises a one-line ValueError."""
        return cls(
            tta_scales=parse_scales(tta_scales, "test-time scales") or (1.0,),
            flip=flip,
            crf=crf,
            crf_iterations=crf_iterations,
            mc_samples=mc_samples,
            attention_scales=parse_scales(attention_scales, "attention scales"),
        )

    @property
    def is_plain(self) -> bool:
        return self == InferenceConfig()

    def columns(self) -> dict[str, Any]:
        """The record's key columns (scales as text, e.g. ``"0.75,1,1.25"``, so tables can group on them)."""
        return {
            "tta_scales": _format_scales(self.tta_scales),
            "tta_flip": self.flip,
            "crf": self.crf,
            "crf_iterations": self.crf_iterations if self.crf else None,
            "mc_samples": self.mc_samples,
            "attention_scales": _format_scales(self.attention_scales),
        }

    @property
    def tag(self) -> str:
        """A short, file-name-safe suffix for cell ids (empty when plain)."""
        parts = []
        if self.attention_scales:
            parts.append("att" + "-".join(f"{s:g}" for s in self.attention_scales))
        if self.tta_scales != (1.0,):
            parts.append("ms" + "-".join(f"{s:g}" for s in self.tta_scales))
        if self.flip:
            parts.append("flip")
        if self.mc_samples:
            parts.append(f"mc{self.mc_samples}")
        if self.crf:
            parts.append(f"crf{self.crf_iterations}")
        return "_".join(parts)


#: Columns of a cell without add-ons (what records from before add-ons read as).
PLAIN_COLUMNS = dict.fromkeys(InferenceConfig().columns())


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
