"""DeepLab v1/v2/v3/v3+, PSPNet, DUC-HDC and UPerNet: shapes, gradients, output strides, parameter counts."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from segbench.measure.flops import count_flops
from segbench.measure.params import count_parameters
from segbench.models import DECODERS, build_model
from segbench.models.encoders import create_encoder
from segbench.models.segmodel import SegModel

NEW = ["deeplabv1", "deeplabv2", "deeplabv3", "deeplabv3plus", "psp", "duc", "upernet"]
OUTPUT_STRIDE = {
    "deeplabv1": 8,
    "deeplabv2": 8,
    "deeplabv3": 16,
    "deeplabv3plus": 16,
    "psp": 8,
    "duc": 8,
    "upernet": 32,
}


def _bn(c: int) -> int:
    return 2 * c


def _conv(cin: int, cout: int, k: int = 1, bias: bool = False) -> int:
    return cin * cout * k * k + (cout if bias else 0)


@functools.cache
def _resnet18(decoder: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", decoder, num_classes=5)


@functools.cache
def _narrow(decoder: str) -> nn.Module:
    """resnet18 + ``decoder`` with 64-channel decoder layers: the same code paths, a fraction of the CPU."""
    torch.manual_seed(0)
    cls = DECODERS.get(decoder)
    encoder = create_encoder("resnet18", output_stride=cls.output_stride)
    width = {} if decoder == "deeplabv2" else {"channels": 64}
    return SegModel(encoder, cls(encoder.feature_specs, 5, **width))


@pytest.mark.parametrize("decoder", NEW)
def test_builder_dilates_to_the_declared_output_stride(decoder):
    assert DECODERS.get(decoder).output_stride == OUTPUT_STRIDE[decoder]
    assert _resnet18(decoder).encoder.output_stride == OUTPUT_STRIDE[decoder]


@pytest.mark.parametrize("decoder", NEW)
def test_logits_at_the_input_size_and_gradients_reach_every_inference_parameter(decoder):
    model = _narrow(decoder).train()
    model.zero_grad(set_to_none=True)
    out = model(torch.randn(2, 3, 45, 67))
    outs = out if isinstance(out, tuple) else (out,)
    assert all(o.shape == (2, 5, 45, 67) for o in outs)
    sum(o.mean() for o in outs).backward()
    missing = [n for n, p in model.decoder.named_parameters() if p.grad is None and not n.startswith("aux.")]
    assert not missing
    model.eval()
    with torch.no_grad():
        for size in [(45, 67), (97, 131)]:
            assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


@pytest.mark.parametrize(("decoder", "rates"), [("deeplabv3", (12, 24, 36)), ("deeplabv3plus", (12, 24, 36))])
def test_aspp_rates_double_at_output_stride_8(decoder, rates):
    model = build_model("resnet18", decoder, num_classes=3, output_stride=8)
    assert model.encoder.output_stride == 8
    assert tuple(b[0].dilation[0] for b in model.decoder.aspp.convs[1:4]) == rates
    assert tuple(b[0].dilation[0] for b in _resnet18(decoder).decoder.aspp.convs[1:4]) == (6, 12, 18)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 45, 67)).shape == (1, 3, 45, 67)


def test_deeplabv3_resnet50_matches_torchvision_parameter_for_parameter():
    """resnet50 + deeplabv3 at output stride 8, 21 classes == torchvision's deeplabv3_resnet50 (no aux).

    The difference is zero: our encoder is torchvision's ResNet-50 without
    avgpool/fc (as torchvision's backbone getter), and the head copies
    ``DeepLabHead`` layer by layer (ASPP 1x1 + three 3x3 at 12/24/36 + image
    pooling, each 256 BN ReLU; 1x1 projection; 3x3 256 BN ReLU; 1x1 to 21).
    """
    from torchvision.models.segmentation import deeplabv3_resnet50

    ours = build_model("resnet50", "deeplabv3", num_classes=21, output_stride=8)
    theirs = deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False, num_classes=21)
    assert ours.encoder.output_stride == 8
    assert count_parameters(ours.encoder) == sum(p.numel() for p in theirs.backbone.parameters())
    head = [tuple(p.shape) for p in theirs.classifier.parameters()]
    assert [tuple(p.shape) for p in ours.decoder.parameters()] == head
    assert count_parameters(ours) == sum(p.numel() for p in theirs.parameters()) == 39_638_869


def test_deeplabv2_sums_four_class_score_branches():
    d = _resnet18("deeplabv2").decoder
    assert count_parameters(d) == 4 * _conv(512, 5, 3, bias=True)
    assert [b.dilation[0] for b in d.branches] == [6, 12, 18, 24]


def test_deeplabv1_is_largefov():
    d = _resnet18("deeplabv1").decoder
    assert d.head[0].dilation == (12, 12)
    fc6, fc7, fc8 = _conv(512, 1024, 3, True), _conv(1024, 1024, 1, True), _conv(1024, 5, 1, True)
    assert count_parameters(d) == fc6 + fc7 + fc8


def test_deeplabv3plus_reduces_the_stride_4_features_to_48():
    d = _resnet18("deeplabv3plus").decoder
    assert d.reduce[0].in_channels == 64 and d.reduce[0].out_channels == 48
    assert d.refine[0].in_channels == 256 + 48


def test_duc_shuffles_c_times_64_channels_to_the_input_resolution():
    d = _resnet18("duc").decoder
    assert [b[0].dilation[0] for b in d.hdc] == [1, 2, 3]
    assert d.duc[0].out_channels == 5 * 64
    x = torch.randn(1, 512, 6, 9)
    d.eval()
    with torch.no_grad():
        assert d([x]).shape == (1, 5, 48, 72)


# --- PSPNet's auxiliary head ---------------------------------------------------------------


def test_psp_returns_one_map_in_eval_and_main_plus_aux_in_training():
    model = _narrow("psp")
    model.zero_grad(set_to_none=True)
    x = torch.randn(2, 3, 45, 67)
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 2
    assert all(o.shape == (2, 5, 45, 67) for o in out)
    out[1].mean().backward()
    assert all(p.grad is not None for p in model.decoder.aux.parameters())
    model.eval()
    with torch.no_grad():
        assert isinstance(model(x), torch.Tensor)


def test_psp_aux_head_reads_the_second_deepest_stage_and_is_out_of_the_inference_count():
    model = _resnet18("psp")
    d = model.decoder
    # At output stride 8 resnet18 emits strides 2, 4, 8, 8, 8: the aux head reads index -2 (res4, 256 ch).
    assert [s.stride for s in model.encoder.feature_specs] == [2, 4, 8, 8, 8]
    assert d.aux_index == 3
    aux = _conv(256, 256, 3) + _bn(256) + _conv(256, 5, 1, bias=True)
    assert count_parameters(d.aux, inference=False) == aux
    assert count_parameters(model, inference=False) - count_parameters(model) == aux
    # Main path, layer by layer: four 1x1 512->128 + BN, 3x3 (512 + 4*128)->512 + BN, 1x1 512->5.
    main = 4 * (_conv(512, 128) + _bn(128)) + _conv(1024, 512, 3) + _bn(512) + _conv(512, 5, 1, True)
    assert count_parameters(d) == main


def test_psp_flops_leave_the_aux_head_out():
    model = _narrow("psp").train()
    with_aux = count_flops(model, (64, 64)).gmacs
    aux = model.decoder.aux
    model.decoder.aux = nn.Identity()
    try:
        assert count_flops(model, (64, 64)).gmacs == with_aux
    finally:
        model.decoder.aux = aux
    assert model.training  # count_flops restores the mode


# --- UPerNet --------------------------------------------------------------------------------


def test_upernet_ppm_and_fuse_layer_counts():
    d = _resnet18("upernet").decoder
    c = 512
    # PPM: four bins, each 1x1 512->512 (no bias) + BN; then a 3x3 bottleneck (512 + 4*512)->512 + BN.
    ppm = 4 * (_conv(512, c) + _bn(c))
    assert count_parameters(d.ppm) == ppm
    assert count_parameters(d.ppm_bottleneck) == _conv(512 + 4 * c, c, 3) + _bn(c)
    # Laterals 1x1 from 64/128/256 and 3x3 FPN convs at strides 4, 8, 16, each + BN.
    assert count_parameters(d.lateral) == sum(_conv(cin, c) + _bn(c) for cin in (64, 128, 256))
    assert count_parameters(d.fpn) == 3 * (_conv(c, c, 3) + _bn(c))
    # Fuse: 3x3 over the four concatenated levels (4*512)->512 + BN; 1x1 scores.
    assert count_parameters(d.fuse) == _conv(4 * c, c, 3) + _bn(c)
    assert count_parameters(d.classifier) == _conv(c, 5, 1, True)
    assert len(d.ppm.stages) == 4 and [s[0].output_size for s in d.ppm.stages] == [1, 2, 3, 6]
