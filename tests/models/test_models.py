"""Every encoder with every decoder: logits [N, C, H, W] at the input size, forward and backward."""

import pytest
import torch

from segbench.measure.params import count_parameters
from segbench.models import DECODERS, ENCODERS, build_model
from segbench.models.decoders import NotApplicable
from segbench.models.decoders.base import bilinear_upsampler
from segbench.models.spec import FeatureSpec, align_to, feature_at

# Left out of the default (CI) run, run with `pytest -m slow`: big encoders, and FCN's 7x7x4096 fc6.
# Wider variants run the code paths of the narrow ones: stdc2 those of stdc1, mit_b1/mit_b2 and segformer_768
# those of mit_b0 and segformer. HRNet (hundreds of small convs) is covered by tests/test_mit_hrnet.py.
HEAVY_ENCODERS = {
    "vgg16", "vgg16_bn", "resnet50", "resnet101", "xception", "convnext_tiny", "stdc2", "hrnet_w18",
    "hrnet_w48", "mit_b1", "mit_b2",
}
HEAVY_DECODERS = {"fcn32s", "fcn16s", "fcn8s", "segformer_768"}


def _cases():
    for e in ENCODERS.names():
        for d in DECODERS.names():
            heavy = e in HEAVY_ENCODERS or d in HEAVY_DECODERS
            yield pytest.param(e, d, marks=[pytest.mark.slow] if heavy else [], id=f"{e}+{d}")


@pytest.mark.parametrize(("encoder", "decoder"), list(_cases()))
def test_forward_backward_at_odd_sizes(encoder, decoder):
    """Logits at the input size in eval mode; in training mode every head (auxiliary ones too) learns."""
    try:
        model = build_model(encoder, decoder, num_classes=5)
    except NotApplicable as e:
        pytest.skip(str(e))
    x = torch.randn(2, 3, 45, 67)
    outputs = model(x)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert all(y.shape == (2, 5, 45, 67) for y in outputs)
    sum(y.mean() for y in outputs).backward()
    assert all(p.grad is not None for p in model.decoder.parameters())
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, 5, 45, 67)


@pytest.mark.parametrize("size", [(360, 640), (360, 480), (32, 32)])
def test_rtseg_sizes_keep_the_input_size(size):
    model = build_model("mobilenet", "skip", num_classes=20).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 20, *size)


def test_dilation_decoder_gets_a_stride_8_encoder():
    model = build_model("resnet18", "dilation", num_classes=3)
    assert model.encoder.output_stride == 8
    assert [s.stride for s in model.encoder.feature_specs] == [2, 4, 8, 8, 8]


def test_skip_is_rtseg_skipnet_in_class_score_space():
    model = build_model("resnet18", "skip", num_classes=20)
    d = model.decoder
    decoder_params = count_parameters(d)
    # 1x1 scores (with bias) of 128/256/512 channels, BN on the three scores and the two x2 maps,
    # two 4x4 and one 16x16 C->C transposed convs without bias.
    c = 20
    expected = sum(cin * c + c for cin in (128, 256, 512)) + 5 * 2 * c + c * c * (16 + 16 + 256)
    assert decoder_params == expected


def test_bilinear_upsampler_starts_as_bilinear_interpolation():
    up = bilinear_upsampler(channels=2, factor=2)
    x = torch.arange(12.0).reshape(1, 1, 3, 4).repeat(1, 2, 1, 1)
    y = up(x)
    assert y.shape == (1, 2, 6, 8)
    assert torch.allclose(y[0, 0], y[0, 1])  # per channel, no mixing
    ref = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    # Interior pixels agree with bilinear interpolation; borders differ by the zero padding.
    assert torch.allclose(y[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-5)


def test_align_to_crops_and_pads_at_the_bottom_right():
    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    assert torch.equal(align_to(x, (3, 4)), x[..., :3, :4])
    padded = align_to(x, (5, 6))
    assert padded.shape[-2:] == (5, 6) and torch.equal(padded[..., :4, :5], x)
    assert padded[..., 4, :].abs().sum() == 0


def test_feature_at_names_what_exists():
    specs = (FeatureSpec(8, 4), FeatureSpec(16, 8), FeatureSpec(32, 8))
    assert feature_at(specs, 8) == 2
    with pytest.raises(ValueError, match="emits strides 4, 8, 8"):
        feature_at(specs, 32)


def test_decoders_declare_paper_year_and_needs():
    for name in DECODERS.names():
        meta = DECODERS.metadata(name)
        assert meta["paper"] and meta["year"] and meta["needs"]


def test_a_decoder_declares_its_needs_and_the_builder_says_not_applicable():
    from segbench.models.decoders import NotApplicable

    class NeedsIndices(DECODERS.get("skip")):
        needs_pool_indices = True

    with (
        DECODERS.temporarily("needs_indices_test", NeedsIndices, paper="-", year=0, needs="pooling indices"),
        pytest.raises(NotApplicable, match=r"needs_indices_test upsamples with max-pooling indices.*resnet18"),
    ):
        build_model("resnet18", "needs_indices_test", num_classes=3)


def test_output_stride_override_only_where_accepted():
    with pytest.raises(ValueError, match="decoder 'skip' runs at output stride 32, not 8"):
        build_model("resnet18", "skip", num_classes=3, output_stride=8)


def test_training_only_modules_are_out_of_the_inference_count():
    from segbench.models.decoders import TrainingOnly

    model = build_model("mobilenet", "skip", num_classes=3)
    plain = count_parameters(model)
    model.decoder.aux = TrainingOnly(torch.nn.Conv2d(8, 3, 1))
    assert count_parameters(model) == plain
    assert count_parameters(model, inference=False) == plain + 8 * 3 + 3
