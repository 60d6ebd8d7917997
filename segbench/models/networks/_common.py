"""Small pieces the whole networks share: the class-count check, and blocks of the real-time ones."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct, Size2d

#: BatchNorm with eps 1e-3: the setting of the ESPNet family and LEDNet here (a ``norm_layer`` for ConvNormAct).
batch_norm_eps_1e3 = partial(nn.BatchNorm2d, eps=1e-3)


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
    cin: int, cout: int, kernel_size: Size2d = 3, stride: int = 1, dilation: Size2d = 1, groups: int = 1
) -> ConvNormAct:
    """Bias-free conv with "same" padding, BatchNorm (eps 1e-3) and PReLU (one slope per channel).

    The unit of the ESPNet family here: ESPNet, ESPNetv2, CGNet and DABNet.
    """
    return ConvNormAct(cin, cout, kernel_size=kernel_size, stride=stride, dilation=dilation, groups=groups,
                       norm_layer=batch_norm_eps_1e3, activation=nn.PReLU)


def bn_prelu(channels: int) -> nn.Sequential:
    """BatchNorm (eps 1e-3) and PReLU without a conv: the ESPNet family's activation after a concat."""
    return nn.Sequential(batch_norm_eps_1e3(channels), nn.PReLU(channels))


class InputInjection(nn.Sequential):
    """The RGB image average-pooled ``times`` times by 2 (ESPNet, CGNet, DABNet feed it to later stages).

    Each 3x3/2 pooling with padding 1 gives ``ceil(size / 2)``, the same size
    as a 3x3/2 convolution with padding 1, so the two always concatenate.
    """

    def __init__(self, times: int) -> None:
        super().__init__(*(nn.AvgPool2d(3, stride=2, padding=1) for _ in range(times)))
