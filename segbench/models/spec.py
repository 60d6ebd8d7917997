"""The encoder/decoder contract: what an encoder emits, described by value.

A decoder is built from a tuple of :class:`FeatureSpec` and a class count and
never from an encoder's name; that is what lets any encoder meet any decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class FeatureSpec:
    """One feature map an encoder emits: its channel count and its stride to the input."""

    channels: int
    stride: int


class MissingFeature(ValueError):
    """A decoder taps a stride its encoder does not emit (e.g. stride 32 on a natively stride-8 DRN)."""


def feature_at(specs: Sequence[FeatureSpec], stride: int) -> int:
    """Index of the deepest feature whose stride is ``stride``.

    "Deepest" matters once an encoder is dilated: its last stages then share
    the same stride, and the deepest of them carries the most context.
    """
    matches = [i for i, s in enumerate(specs) if s.stride == stride]
    if not matches:
        have = ", ".join(str(s.stride) for s in specs)
        raise MissingFeature(f"no feature at stride {stride}; the encoder emits strides {have}")
    return matches[-1]


def align_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crop or zero-pad ``x`` at its bottom/right edges to spatial ``size``.

    Strided layers round up (TensorFlow's SAME convention), so an upsampled map
    can be a pixel or a few larger than its skip, or than the input; the
    excess is always at the bottom/right. Input is never resized, so FLOPs are
    those of the true input size.
    """
    h, w = int(size[0]), int(size[1])
    dh, dw = h - x.shape[-2], w - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    if dh < 0 or dw < 0:
        x = x[..., : min(h, x.shape[-2]), : min(w, x.shape[-1])]
        dh, dw = h - x.shape[-2], w - x.shape[-1]
    if dh > 0 or dw > 0:
        x = F.pad(x, (0, dw, 0, dh))
    return x
