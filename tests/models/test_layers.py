"""ConvNormAct: the one conv-norm-activation unit reproduces the hand-written sequences it replaced."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from segbench.models.layers import ConvNormAct, make_activation, same_padding


# The copies that ConvNormAct replaced, as they were written (decoders/base.py, encoders/mobilenet.py,
# networks/_common.py, networks/bisenetv2.py, networks/lednet.py).
def old_conv_bn_relu(cin: int, cout: int, kernel_size: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def old_conv_bn_relu6(cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


def old_conv_bn_prelu(cin: int, cout: int, kernel_size: tuple[int, int], dilation: tuple[int, int]) -> nn.Sequential:
    padding = ((kernel_size[0] - 1) // 2 * dilation[0], (kernel_size[1] - 1) // 2 * dilation[1])
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, 1, padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout, eps=1e-3),
        nn.PReLU(cout),
    )


def old_conv_bn_no_relu(cin: int, cout: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(cout)
    )


def old_conv_bn_relu_1x1_with_bias(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU(inplace=True))


CASES = {
    "conv_bn_relu 3x3": (lambda: old_conv_bn_relu(16, 32), lambda: ConvNormAct(16, 32)),
    "conv_bn_relu 1x1": (lambda: old_conv_bn_relu(16, 8, 1), lambda: ConvNormAct(16, 8, kernel_size=1)),
    "depthwise relu6 /2": (
        lambda: old_conv_bn_relu6(16, 16, 3, 2, groups=16),
        lambda: ConvNormAct(16, 16, stride=2, groups=16, activation=nn.ReLU6),
    ),
    "prelu 3x1 dilated": (
        lambda: old_conv_bn_prelu(8, 12, (3, 1), (2, 1)),
        lambda: ConvNormAct(8, 12, kernel_size=(3, 1), dilation=(2, 1),
                            norm_layer=partial(nn.BatchNorm2d, eps=1e-3), activation=nn.PReLU),
    ),
    "conv_bn grouped /2": (
        lambda: old_conv_bn_no_relu(16, 32, 2, 4),
        lambda: ConvNormAct(16, 32, stride=2, groups=4, activation=None),
    ),
    "1x1 with bias": (
        lambda: old_conv_bn_relu_1x1_with_bias(16, 5),
        lambda: ConvNormAct(16, 5, kernel_size=1, bias=True, norm_layer=partial(nn.BatchNorm2d, eps=1e-3)),
    ),
}


def _layout(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def _describe(module: nn.Module) -> list[str]:
    """Each layer's type and settings: the same repr whoever built it."""
    return [repr(m) for m in module.children()]


@pytest.mark.parametrize("case", CASES)
def test_the_same_keys_shapes_parameters_settings_and_output_as_the_old_helper(case: str) -> None:
    build_old, build_new = CASES[case]
    torch.manual_seed(0)
    old = build_old()
    torch.manual_seed(0)
    new = build_new()
    assert isinstance(new, nn.Sequential)
    assert _layout(new) == _layout(old)
    assert sum(p.numel() for p in new.parameters()) == sum(p.numel() for p in old.parameters())
    assert _describe(new) == _describe(old)
    x = torch.randn(2, old[0].in_channels, 13, 10)
    torch.testing.assert_close(new.eval()(x), old.eval()(x), rtol=0, atol=0)


def test_the_key_names_of_a_conv_bn_relu() -> None:
    assert [k for k, _ in _layout(ConvNormAct(3, 4))] == [
        "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
    ]
    assert [k for k, _ in _layout(ConvNormAct(3, 4, norm_layer=None, activation=None))] == ["0.weight", "0.bias"]
    assert [k for k, _ in _layout(ConvNormAct(3, 4, activation=nn.PReLU))][-1] == "2.weight"


def test_without_a_norm_the_conv_has_a_bias_unless_told_otherwise() -> None:
    assert ConvNormAct(3, 4, norm_layer=None)[0].bias is not None
    assert ConvNormAct(3, 4, norm_layer=None, bias=False)[0].bias is None
    assert ConvNormAct(3, 4)[0].bias is None
    assert len(ConvNormAct(3, 4, norm_layer=None)) == 2  # conv, ReLU


@pytest.mark.parametrize(("kernel_size", "dilation", "padding"), [
    (1, 1, 0), (3, 1, 1), (5, 1, 2), (3, 4, 4), ((3, 1), 1, (1, 0)), ((1, 5), (1, 2), (0, 4)),
])
def test_same_padding(kernel_size, dilation, padding) -> None:
    assert same_padding(kernel_size, dilation) == padding


def test_a_stride_2_conv_rounds_an_odd_size_up() -> None:
    out = ConvNormAct(3, 4, stride=2)(torch.randn(1, 3, 45, 60))
    assert out.shape[-2:] == (23, 30)


def test_make_activation_passes_inplace_or_the_channel_count_where_taken() -> None:
    relu = make_activation(nn.ReLU, 8)
    assert isinstance(relu, nn.ReLU) and relu.inplace
    assert not make_activation(nn.ReLU6, 8, inplace=False).inplace
    assert make_activation(nn.PReLU, 8).num_parameters == 8
    assert isinstance(make_activation(nn.GELU, 8), nn.GELU)
    assert isinstance(make_activation(lambda: nn.Hardswish(), 8), nn.Hardswish)
