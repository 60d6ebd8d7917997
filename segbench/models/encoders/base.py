"""Encoder base class and the generic output-stride (dilation) surgery.

An encoder is a sequence of stages; each stage's output is one feature map,
declared up front as a :class:`FeatureSpec`. Decoders that need a denser top
(Dilation, DeepLab) ask for output stride 8 or 16: :meth:`Encoder.dilate`
then turns the strided layers past that stride into stride 1 and dilates
every later spatial kernel, the DeepLab way, for any architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, cast

import torch
from torch import nn

from segbench.models.spec import FeatureSpec

_STRIDED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
StridedLayer: TypeAlias = nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d


class Encoder(nn.Module):
    """Runs ``stages`` in order and returns every stage's output, shallow to deep."""

    def __init__(self, stages: Sequence[nn.Module], specs: Sequence[FeatureSpec]) -> None:
        super().__init__()
        if len(stages) != len(specs):
            raise ValueError(f"{len(stages)} stages but {len(specs)} feature specs")
        self.stages = nn.ModuleList(stages)
        self.feature_specs: tuple[FeatureSpec, ...] = tuple(specs)
        self.output_stride = max(s.stride for s in specs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def dilate(self, output_stride: int) -> None:
        """Run at ``output_stride`` (8 or 16) by dilating instead of striding."""
        if output_stride >= self.output_stride:
            return
        if output_stride not in (8, 16):
            raise ValueError(f"output stride must be 8, 16 or 32, not {output_stride}")
        input_strides = _probe_input_strides(self)
        for module, in_stride in input_strides.items():
            _dilate_layer(module, in_stride, output_stride)
        self.feature_specs = tuple(
            FeatureSpec(s.channels, min(s.stride, output_stride)) for s in self.feature_specs
        )
        self.output_stride = output_stride


def _probe_input_strides(encoder: nn.Module, size: int = 128) -> dict[StridedLayer, int]:
    """Stride (to the input) of the map entering each conv/pool, found by a dummy forward."""
    seen: dict[StridedLayer, int] = {}

    def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        # Hooked on the _STRIDED layers only.
        seen.setdefault(cast(StridedLayer, module), round(size / args[0].shape[-1]))

    handles = [m.register_forward_pre_hook(record) for m in encoder.modules() if isinstance(m, _STRIDED)]
    was_training = encoder.training
    try:
        encoder.eval()
        with torch.no_grad():
            encoder(torch.zeros(1, 3, size, size))
    finally:
        encoder.train(was_training)
        for handle in handles:
            handle.remove()
    return seen


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _dilate_layer(module: StridedLayer, in_stride: int, output_stride: int) -> None:
    """Adjust one layer that sees maps at ``in_stride`` for a target ``output_stride``.

    A strided layer whose output would pass the target runs at stride 1; a
    spatial kernel whose input was coarser than the target is dilated by the
    ratio, so it keeps its receptive field. A strided conv keeps the dilation
    of its input (the DeepLab convention).
    """
    stride = _pair(module.stride)
    if isinstance(module, nn.Conv2d):
        if in_stride > output_stride:
            d = in_stride // output_stride
            kh, kw = module.kernel_size
            if (kh, kw) != (1, 1) and module.padding == ((kh - 1) // 2, (kw - 1) // 2):
                module.dilation = (d, d)
                module.padding = (d * (kh - 1) // 2, d * (kw - 1) // 2)
        if stride != (1, 1) and in_stride * stride[0] > output_stride:
            module.stride = (1, 1)
    elif stride != (1, 1) and in_stride * stride[0] > output_stride:
        # Pooling: stride 1 with a 3x3 window keeps the size (DeepLab-v1 style).
        module.stride = 1
        module.kernel_size = 3
        module.padding = 1
        if isinstance(module, nn.MaxPool2d):
            module.ceil_mode = False
