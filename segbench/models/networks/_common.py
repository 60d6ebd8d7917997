"""Small pieces the whole networks share: the class-count check, and blocks of the real-time ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_num_classes(num_classes: int) -> int:
    """A whole network needs at least one output class; anything else is a user mistake."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, not {num_classes}")
    return num_classes


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad ``x`` at the bottom and right so both sides divide by ``multiple``.

    Networks whose decoder doubles sizes exactly (transposed convs, max
    unpooling, skip concatenation) need an input whose sides divide by their
    total stride; the caller crops the logits back to the input size.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


def conv_bn_prelu(
    cin: int,
    cout: int,
    kernel_size: int | tuple[int, int] = 3,
    stride: int = 1,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> nn.Sequential:
    """Bias-free conv with "same" padding, BatchNorm and PReLU (one slope per channel)."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    padding = ((k[0] - 1) // 2 * d[0], (k[1] - 1) // 2 * d[1])
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding, dilation=d, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=1e-3),
        nn.PReLU(cout),
    )


def bn_prelu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(channels, eps=1e-3), nn.PReLU(channels))


class InputInjection(nn.Sequential):
    """The RGB image average-pooled ``times`` times by 2 (ESPNet, CGNet, DABNet feed it to later stages).

    Each 3x3/2 pooling with padding 1 gives ``ceil(size / 2)``, the same size
    as a 3x3/2 convolution with padding 1, so the two always concatenate.
    """

    def __init__(self, times: int) -> None:
        super().__init__(*(nn.AvgPool2d(3, stride=2, padding=1) for _ in range(times)))
