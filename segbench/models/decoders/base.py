"""Decoder base class and the building blocks several decoders share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from segbench.models.spec import FeatureSpec


class NotApplicable(Exception):
    """This decoder cannot be put on this encoder (e.g. it needs pooling indices); the message says why."""


class TrainingOnly(nn.Module):
    """Wraps modules used only by the training loss (auxiliary heads).

    Their parameters are left out of the inference parameter count, and they
    do not run in eval mode, so they are absent from FLOPs and latency.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.module(*args)


#: A boundary loss: ``(logits N x 1 x h x w, labels N x H x W, ignore_index) -> scalar``.
BoundaryLossFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class BoundaryLogits:
    """A training-mode output that predicts class boundaries (one logit map), not classes.

    Networks with a boundary head (PIDNet's D branch, STDC's detail head)
    return it among their auxiliary outputs with the loss their paper trains
    it with and that loss's coefficient; the training loss adds
    ``weight * loss(logits, labels, ignore_index)`` instead of the class criterion.
    """

    logits: torch.Tensor
    loss: BoundaryLossFn
    weight: float = 1.0

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> BoundaryLogits:
        """The same output with ``fn`` (a resize, say) applied to its logits."""
        return BoundaryLogits(fn(self.logits), self.loss, self.weight)

    def loss_against(self, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
        return self.weight * self.loss(self.logits, labels, ignore_index)


class Decoder(nn.Module):
    """Maps an encoder's features to class logits at (at least) the input resolution.

    Subclasses are built from feature specs and a class count alone, never from
    an encoder's name. What a decoder needs of its encoder it declares:

    - ``output_stride``: 32 (as built) or 8/16 (the builder dilates the
      encoder's last stages); ``output_strides`` lists the ones it accepts;
    - ``needs_pool_indices``: ``forward(features, indices)`` gets the
      encoder's max-pooling indices (SegNet); an encoder that cannot give
      them makes the pair "not applicable".

    In training mode a decoder may return ``(main, *aux)`` logits, every map
    at the main map's size (auxiliary losses); in eval mode one tensor. The
    model crops the logits to the input size.
    """

    output_stride: ClassVar[int] = 32
    output_strides: ClassVar[tuple[int, ...]] = ()
    needs_pool_indices: ClassVar[bool] = False

    @classmethod
    def accepted_output_strides(cls) -> tuple[int, ...]:
        return cls.output_strides or (cls.output_stride,)

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, not {num_classes}")
        self.specs = tuple(specs)
        self.num_classes = num_classes

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, ...]:  # pragma: no cover
        raise NotImplementedError


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights that make a per-channel transposed conv a bilinear upsampler (FCN's init)."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    filt = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt
    return weight


def bilinear_upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    """Trainable transposed conv (kernel 2f, stride f) that starts as bilinear x``factor``.

    Its output is exactly ``factor`` times its input size.
    """
    up = nn.ConvTranspose2d(
        channels, channels, kernel_size=2 * factor, stride=factor, padding=factor // 2, bias=False
    )
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, 2 * factor))
    return up
