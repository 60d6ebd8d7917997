"""EfficientNet-B0, RegNetY-800MF, ConvNeXt-T (torchvision), aligned Xception-65,
DRN-C-26 and DRN-D-22 (written here), and timm encoders when timm is installed."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from torch import nn
from torchvision import models

from segbench.grid import parse_names
from segbench.measure.params import count_parameters
from segbench.models import build_model
from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import NotApplicable
from segbench.models.encoders import ENCODERS, create_encoder, is_encoder_name
from segbench.models.pretrained import PretrainedWeightsUnavailable
from segbench.models.spec import MissingFeature

TORCHVISION = {"efficientnet_b0": 5, "regnet_y_800mf": 5, "convnext_tiny": 4}  # name: number of features
WRITTEN = ("xception", "drn_c_26", "drn_d_22")
DRN = ("drn_c_26", "drn_d_22")
H, W = 97, 131


def assert_matches_specs(encoder: nn.Module, features: list[torch.Tensor], h: int, w: int) -> None:
    """Channels exact; sizes within one pixel of ceil(H / stride)."""
    specs = encoder.feature_specs
    assert len(features) == len(specs)
    for f, spec in zip(features, specs, strict=True):
        assert f.shape[1] == spec.channels
        assert abs(f.shape[2] - math.ceil(h / spec.stride)) <= 1, (spec, f.shape)
        assert abs(f.shape[3] - math.ceil(w / spec.stride)) <= 1, (spec, f.shape)


def test_registered_with_metadata():
    for name in TORCHVISION:
        assert ENCODERS.metadata(name)["source"] == "torchvision"
    for name in WRITTEN:
        assert ENCODERS.metadata(name)["source"] == "segbench"
        assert ENCODERS.metadata(name)["year"] in (2017, 2018)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_params_equal_torchvision_minus_classifier(name):
    """For ConvNeXt the classifier (LayerNorm2d, flatten, linear) goes whole: its final norm is left out."""
    reference = models.get_model(name, weights=None)
    head = reference.fc if name.startswith("regnet") else reference.classifier
    assert count_parameters(create_encoder(name)) == count_parameters(reference) - count_parameters(head)


def test_convnext_tiny_exact_count():
    # torchvision's ConvNeXt-T is 28,589,128 parameters; its classifier is
    # LayerNorm2d(768) (1,536) + Linear(768, 1000) (769,000).
    assert count_parameters(create_encoder("convnext_tiny")) == 28_589_128 - 1_536 - 769_000 == 27_818_592


ALL_STRIDES = [(n, s) for n in (*TORCHVISION, *WRITTEN) for s in (32, 16, 8)]


@pytest.mark.parametrize(("name", "output_stride"), ALL_STRIDES)
def test_features_match_specs(name, output_stride):
    encoder = create_encoder(name, output_stride=output_stride).eval()
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, H, W))
    assert_matches_specs(encoder, features, H, W)
    expected = 8 if name in DRN else output_stride
    assert encoder.output_stride == max(s.stride for s in encoder.feature_specs) == expected


def test_convnext_strides_and_dilated_downsamplers_keep_size():
    """No stride-2 feature. At output stride 8 the 2x2 downsampler at input stride 8 runs at stride 1
    undilated and gets one pixel of bottom/right padding; the one at input stride 16 is dilated by 2
    with symmetric padding 1. Both then keep the size."""
    encoder = create_encoder("convnext_tiny", output_stride=8).eval()
    assert [s.stride for s in encoder.feature_specs] == [4, 8, 8, 8]
    assert sum(isinstance(m, nn.ZeroPad2d) for m in encoder.modules()) == 1  # the 2x2 at input stride 8
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, 128, 160))
    assert [tuple(f.shape[-2:]) for f in features] == [(32, 40)] + [(16, 20)] * 3
    assert count_parameters(encoder) == count_parameters(create_encoder("convnext_tiny"))


def test_convnext_floors_sizes_the_stride_does_not_divide():
    encoder = create_encoder("convnext_tiny").eval()
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, H, W))
    assert [tuple(f.shape[-2:]) for f in features] == [(H // s, W // s) for s in (4, 8, 16, 32)]
    with torch.no_grad():
        logits = build_model("convnext_tiny", "unet", num_classes=3).eval()(torch.randn(1, 3, H, W))
    assert logits.shape == (1, 3, H, W)


@pytest.mark.parametrize(
    ("name", "decoder"),
    [(n, "unet") for n in (*TORCHVISION, "xception")] + [(n, "dilation") for n in DRN],
)
def test_forward_backward(name, decoder):
    model = build_model(name, decoder, num_classes=3).train()
    out = model(torch.randn(2, 3, 64, 64))
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape == (2, 3, 64, 64)
    out.mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def xception65_parameters() -> int:
    """Xception-65 (DeepLab v3+) derived layer by layer from the paper's Figure 4 description.

    Separable conv: 3x3 depthwise + BN, 1x1 pointwise + BN (no biases).
    Blocks have three separable convs; a 1x1 conv + BN shortcut where the
    shape changes, identity in the middle flow, none in the last exit block.
    """

    def conv_bn(cin: int, cout: int, k: int) -> int:
        return k * k * cin * cout + 2 * cout

    def sep(cin: int, cout: int) -> int:
        return 9 * cin + 2 * cin + cin * cout + 2 * cout

    def block(cin: int, chans: tuple[int, int, int], conv_shortcut: bool) -> int:
        a, b, c = chans
        return sep(cin, a) + sep(a, b) + sep(b, c) + (conv_bn(cin, c, 1) if conv_shortcut else 0)

    entry = (conv_bn(3, 32, 3) + conv_bn(32, 64, 3) + block(64, (128,) * 3, True)
             + block(128, (256,) * 3, True) + block(256, (728,) * 3, True))
    middle = 16 * block(728, (728,) * 3, False)
    exit_flow = block(728, (728, 1024, 1024), True) + block(1024, (1536, 1536, 2048), False)
    return entry + middle + exit_flow


def test_xception65_parameter_count():
    count = count_parameters(create_encoder("xception"))
    assert count == xception65_parameters() == 37_867_312  # about 37.9 M without a classifier


def test_xception65_parameters_equal_timm_s_without_classifier():
    timm = pytest.importorskip("timm", reason="timm not installed: pip install 'segbench[timm]'")
    reference = timm.create_model("xception65", num_classes=0, pretrained=False)
    assert count_parameters(create_encoder("xception")) == count_parameters(reference)


def test_xception_middle_flow_and_strided_separable_convs():
    encoder = create_encoder("xception")
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in encoder.modules())
    strided_dw = [m for m in encoder.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)
                  and m.groups == m.in_channels > 1]
    assert len(strided_dw) == 4  # entry blocks 1-3 and exit block 1
    assert len(encoder.stages[3]) == 1 + 16


class WithClassifier(nn.Module):
    """DRN as the paper counts it: global pool then a 1x1 conv 512 -> 1000 (with bias)."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Conv2d(encoder.feature_specs[-1].channels, 1000, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.adaptive_avg_pool2d(self.encoder(x)[-1], 1))


@pytest.mark.parametrize(("name", "published"), [("drn_c_26", 21.1e6), ("drn_d_22", 16.4e6)])
def test_drn_parameters_match_the_paper(name, published):
    """Yu et al. 2017, Table 1: DRN-C-26 21.1 M, DRN-D-22 16.4 M parameters, with the classifier."""
    model = WithClassifier(create_encoder(name))
    assert abs(count_parameters(model) - published) / published < 0.03
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000, 1, 1)


def test_drn_is_natively_output_stride_8():
    encoder = create_encoder("drn_c_26")
    assert encoder.output_stride == 8
    assert [s.stride for s in encoder.feature_specs] == [2, 4, 8, 8, 8]
    dilations = {m.dilation for m in encoder.stages[-1].modules() if isinstance(m, nn.Conv2d)}
    assert {(4, 4), (2, 2), (1, 1)} <= dilations


@pytest.mark.parametrize("decoder", ["skip", "unet"])
def test_drn_with_a_stride_32_decoder_is_not_applicable(decoder):
    """A real incompatibility: these decoders tap stride-16/32 features, which DRN does not have."""
    specs = create_encoder("drn_c_26").feature_specs
    with pytest.raises(MissingFeature, match=r"no feature at stride .*emits strides 2, 4, 8, 8, 8"):
        DECODERS.get(decoder)(specs, 3)
    with pytest.raises(NotApplicable, match=f"{decoder} on drn_c_26: no feature at stride"):
        build_model("drn_c_26", decoder, num_classes=3)


@pytest.mark.parametrize("name", WRITTEN)
def test_no_pretrained_weights(name):
    with pytest.raises(PretrainedWeightsUnavailable, match=name):
        create_encoder(name, pretrained=True)


# timm (optional): these skip, saying why, when timm is not installed.
needs_timm = pytest.mark.skipif(
    importlib.util.find_spec("timm") is None, reason="timm not installed: pip install 'segbench[timm]'"
)


@needs_timm
@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_timm_encoder_specs_match_features(output_stride):
    encoder = create_encoder("timm:resnet18", output_stride=output_stride).eval()
    assert [s.channels for s in encoder.feature_specs] == [64, 64, 128, 256, 512]
    assert encoder.output_stride == output_stride
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, H, W))
    assert_matches_specs(encoder, features, H, W)


@needs_timm
@pytest.mark.parametrize("decoder", ["skip", "unet"])
def test_timm_encoder_runs_with_decoders(decoder):
    model = build_model("timm:resnet18", decoder, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)


@needs_timm
def test_unknown_timm_model_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"^unknown timm model 'nope' \(encoder 'timm:nope'\)[^\n]*$"):
        create_encoder("timm:nope")


def test_timm_missing_is_a_clear_error(monkeypatch):
    from segbench.models.encoders import timm_backed

    monkeypatch.setattr(timm_backed, "timm_available", lambda: False)
    message = r"encoder 'timm:resnet18' needs timm: pip install 'segbench\[timm\]'"
    with pytest.raises(ImportError, match=message):
        create_encoder("timm:resnet18")


def test_grid_accepts_timm_names():
    assert is_encoder_name("timm:resnet18") and is_encoder_name("xception")
    assert not is_encoder_name("timm:") and not is_encoder_name("nope")
    assert parse_names("xception,timm:resnet18", "encoder", ENCODERS.names()) == ["xception", "timm:resnet18"]
    with pytest.raises(ValueError, match=r"unknown encoder 'nope'; valid: .*drn_c_26.* or timm:NAME$"):
        parse_names("nope", "encoder", ENCODERS.names())
    with pytest.raises(ValueError, match=r"unknown decoder 'timm:x'; valid: [^:]*$"):
        parse_names("timm:x", "decoder", ["skip", "unet"])
