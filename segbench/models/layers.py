"""Building blocks that encoders, decoders and whole networks share.

:class:`ConvNormAct` is the one conv -> norm -> activation unit (in the
manner of ``torchvision.ops.Conv2dNormActivation``). It is an
``nn.Sequential``, so its parameters are named ``0.weight`` (the conv),
``1.weight``, ``1.bias`` (the norm), as the hand-written sequences it replaced
named them: state dicts and parameter counts do not depend on which one built
a model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

#: An int or an (h, w) pair, as ``nn.Conv2d`` takes its kernel size, stride and dilation.
Size2d = int | tuple[int, int]


def same_padding(kernel_size: Size2d, dilation: Size2d = 1) -> int | tuple[int, int]:
    """``(k - 1) // 2 * dilation`` per dimension: an odd kernel keeps H at stride 1, gives ceil(H / s)."""
    if isinstance(kernel_size, int) and isinstance(dilation, int):
        return (kernel_size - 1) // 2 * dilation
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    return ((k[0] - 1) // 2 * d[0], (k[1] - 1) // 2 * d[1])


def make_activation(
    activation: Callable[..., nn.Module], channels: int, inplace: bool | None = True
) -> nn.Module:
    """Build ``activation`` for ``channels`` maps.

    It is called with ``inplace=inplace`` where it takes ``inplace`` (``nn.ReLU``,
    ``nn.ReLU6``, ``nn.Hardswish``, ...) and ``inplace`` is not ``None``, with
    ``num_parameters=channels`` where it takes that (``nn.PReLU``: one learnt
    slope per channel), and with neither otherwise (``nn.GELU``, ``nn.Sigmoid``,
    a ``lambda``).
    """
    params: Mapping[str, Any]
    try:
        params = inspect.signature(activation).parameters
    except (TypeError, ValueError):  # a callable without a signature: call it bare
        params = {}
    kwargs: dict[str, Any] = {}
    if "num_parameters" in params:
        kwargs["num_parameters"] = channels
    if "inplace" in params and inplace is not None:
        kwargs["inplace"] = inplace
    return activation(**kwargs)


class ConvNormAct(nn.Sequential):
    """``nn.Conv2d``, ``norm_layer(out_channels)``, then the activation; the last two may each be ``None``.

    - ``padding`` defaults to :func:`same_padding` (``(k - 1) // 2 * dilation``);
    - ``bias`` defaults to ``norm_layer is None`` (a norm's shift makes a conv bias redundant);
    - ``norm_layer`` is any ``channels -> module`` factory: ``nn.BatchNorm2d`` (the default),
      ``functools.partial(nn.BatchNorm2d, eps=1e-3)``, or ``None`` for none;
    - ``activation`` is a class or factory built by :func:`make_activation` (``nn.ReLU``, the
      default, ``nn.ReLU6``, ``nn.PReLU`` with one slope per channel, ...), or ``None`` for none.

    Examples: ``ConvNormAct(64, 128, kernel_size=1)``, ``ConvNormAct(c, c, stride=2, groups=c,
    activation=nn.ReLU6)``, ``ConvNormAct(c, n, activation=None)`` (conv + BN only).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: Size2d = 3,
        stride: Size2d = 1,
        padding: Size2d | None = None,
        dilation: Size2d = 1,
        groups: int = 1,
        bias: bool | None = None,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        activation: Callable[..., nn.Module] | None = nn.ReLU,
        inplace: bool | None = True,
    ) -> None:
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation is not None:
            layers.append(make_activation(activation, out_channels, inplace))
        super().__init__(*layers)
