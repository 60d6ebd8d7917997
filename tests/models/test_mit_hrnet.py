"""MiT and HRNet encoders, SegFormer's, HRNetV2's and OCR's decoders: published counts, strides, shapes."""

from __future__ import annotations

import pytest
import torch

from segbench.measure.flops import count_flops
from segbench.measure.params import count_parameters
from segbench.models import DECODERS, build_model
from segbench.models.catalog import resolve_model
from segbench.models.decoders import NotApplicable
from segbench.models.decoders.ocr import gather_regions
from segbench.models.encoders import create_encoder
from segbench.models.spec import FeatureSpec


def _on_meta(**kwargs) -> torch.nn.Module:
    """Build without allocating or initialising weights: parameter counts of big models in milliseconds."""
    with torch.device("meta"):
        return build_model(**kwargs)


def _millions(model: torch.nn.Module, **kwargs) -> float:
    return count_parameters(model, **kwargs) / 1e6


# SegFormer, Table 1 (ADE20K, 150 classes): encoder, decoder, whole model, in millions.
SEGFORMER = {
    "segformer_b0": (3.4, 0.4, 3.8), "segformer_b1": (13.1, 0.6, 13.7), "segformer_b2": (24.2, 3.3, 27.5),
}


@pytest.mark.parametrize("name", sorted(SEGFORMER))
def test_segformer_parameters_match_the_paper(name):
    encoder_m, decoder_m, total_m = SEGFORMER[name]
    model = _on_meta(model=name, num_classes=150)
    assert _millions(model) == pytest.approx(total_m, rel=0.05)
    assert _millions(model.encoder) == pytest.approx(encoder_m, rel=0.05)
    # The paper rounds the decoder to 0.1 M: 0.433, 0.564 and 3.266 M here.
    assert abs(_millions(model.decoder) - decoder_m) <= 0.05


@pytest.mark.slow
@pytest.mark.parametrize(("name", "gmacs"), [("segformer_b0", 8.4), ("segformer_b1", 15.9)])
def test_segformer_flops_at_512_match_the_paper(name, gmacs):
    """Table 1's ADE20K "Flops" at 512x512, multiply-adds as the authors' counter gives them.

    fvcore gives 8.63 and 16.16 G, attention matmuls (1.0 and 2.1 G) included; B2 is 62.77 against 62.4."""
    model = build_model(model=name, num_classes=150)
    assert count_flops(model, (512, 512)).gmacs == pytest.approx(gmacs, rel=0.05)


def test_mit_encoder_counts_exclude_the_imagenet_classifier():
    """The 3.7 / 14.0 / 25.4 M often quoted are ImageNet classifiers (PVT v2's).

    MiT's encoder is 3.32 / 13.15 / 24.20 M.
    """
    counts = [count_parameters(create_encoder(n)) for n in ("mit_b0", "mit_b1", "mit_b2")]
    assert counts == [3_319_392, 13_151_424, 24_196_288]
    with_head = [c + w * 1000 + 1000 for c, w in zip(counts, (256, 512, 512), strict=True)]
    assert all(h / 1e6 < q for h, q in zip(with_head, (3.7, 14.0, 25.4), strict=True))


@pytest.mark.parametrize(("name", "widths"), [
    ("mit_b0", (32, 64, 160, 256)), ("mit_b1", (64, 128, 320, 512)),
])
def test_mit_emits_strides_4_to_32_rounding_up(name, widths):
    encoder = create_encoder(name).eval()
    strides = (4, 8, 16, 32)
    assert encoder.feature_specs == tuple(FeatureSpec(c, s) for c, s in zip(widths, strides, strict=True))
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, 45, 67))
    assert [f.shape[1:] for f in features] == [
        (c, -(-45 // s), -(-67 // s)) for c, s in zip(widths, strides, strict=True)]


@pytest.mark.parametrize("decoder", ["segformer", "hrnetv2", "ocr"])
def test_new_decoders_need_strides_4_to_32(decoder):
    with pytest.raises(NotApplicable,
                       match="no feature at stride 16; the encoder emits strides 2, 4, 8, 8, 8"):
        build_model("drn_d_22", decoder, num_classes=3)


def test_mit_dilation_keeps_sequence_reduction_and_parameters():
    plain = create_encoder("mit_b0")
    encoder = create_encoder("mit_b0", output_stride=8).eval()
    assert count_parameters(encoder) == count_parameters(plain)
    assert [s.stride for s in encoder.feature_specs] == [4, 8, 8, 8]
    reductions = [(b.attn.reduce.stride if b.attn.reduce is not None else None)
                  for b in encoder.stages[2].blocks]
    assert reductions == [(2, 2), (2, 2)]
    assert encoder.stages[3].embed.dilation == (2, 2)
    assert encoder.stages[3].blocks[0].ffn.dwconv.dilation == (4, 4)
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, 45, 67))
    assert [tuple(f.shape[-2:]) for f in features] == [(12, 17), (6, 9), (6, 9), (6, 9)]


def test_segformer_embed_dim_is_in_the_decoder_name():
    specs = create_encoder("mit_b1").feature_specs
    assert DECODERS.get("segformer")(specs, 5).classifier.in_channels == 256
    assert DECODERS.get("segformer_768")(specs, 5).classifier.in_channels == 768
    assert DECODERS.get("segformer")(specs, 5, embed_dim=64).classifier.in_channels == 64
    assert [DECODERS.metadata(n)["embed_dim"] for n in ("segformer", "segformer_768")] == [256, 768]


@pytest.mark.parametrize(
    ("alias", "pair"),
    [
        ("segformer_b0", ("mit_b0", "segformer")),
        ("segformer_b1", ("mit_b1", "segformer")),
        ("segformer_b2", ("mit_b2", "segformer_768")),
        ("hrnet_w18_ocr", ("hrnet_w18", "ocr")),
        ("hrnet_w48_ocr", ("hrnet_w48", "ocr")),
    ],
)
def test_literature_names_resolve_to_grid_cells(alias, pair):
    assert resolve_model(alias) == pair


@pytest.mark.parametrize("name", ["hrnet_w18", "hrnet_w48"])
def test_hrnet_matches_timms_independent_implementation(name):
    """Same architecture, written twice: the counts agree to the parameter (W18 9.56 M, W48 65.33 M)."""
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        reference = timm.create_model(name, features_only=True, feature_location="")
        ours = create_encoder(name)
    assert count_parameters(ours) == count_parameters(reference)
    assert [s.channels for s in ours.feature_specs] == reference.feature_info.channels()
    assert [s.stride for s in ours.feature_specs] == reference.feature_info.reduction()


def test_hrnetv2_w48_with_its_head_is_the_papers_65_9_m():
    model = _on_meta(encoder="hrnet_w48", decoder="hrnetv2", num_classes=19)
    assert _millions(model) == pytest.approx(65.9, rel=0.005)  # 65.86 M


def test_hrnet_w48_ocr_is_the_published_70_3_m():
    """The soft-region head runs at inference (it makes the object regions), so it counts in both totals."""
    model = _on_meta(model="hrnet_w48_ocr", num_classes=19)
    assert _millions(model) == _millions(model, inference=False) == pytest.approx(70.3, rel=0.005)  # 70.37 M


def test_hrnet_emits_the_stem_and_four_branches():
    encoder = create_encoder("hrnet_w18").eval()
    assert encoder.feature_specs == tuple(
        FeatureSpec(c, s) for c, s in zip((64, 18, 36, 72, 144), (2, 4, 8, 16, 32), strict=True)
    )
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, 45, 67))
    assert [tuple(f.shape[1:]) for f in features] == [
        (64, 23, 34), (18, 12, 17), (36, 6, 9), (72, 3, 5), (144, 2, 3)
    ]


@pytest.mark.parametrize("decoder", ["dilation", "psp", "deeplabv3"])
def test_hrnet_is_not_dilated_so_dense_decoders_are_not_applicable(decoder):
    with pytest.raises(NotApplicable, match="HRNet keeps parallel branches at fixed strides"):
        build_model("hrnet_w18", decoder, num_classes=3)


def test_ocr_regions_are_the_features_averaged_under_each_class_softmax():
    features = torch.arange(8.0).reshape(1, 2, 2, 2)  # two channels over four pixels
    logits = torch.full((1, 2, 2, 2), -1e4)
    logits[0, 0, 0, :] = 0.0  # class 0: the top row, equally
    logits[0, 1, 1, 1] = 0.0  # class 1: the bottom-right pixel
    regions = gather_regions(features, logits)
    assert regions.shape == (1, 2, 2, 1)
    expected = torch.tensor([[0.5, 3.0], [4.5, 7.0]])  # [channel, class]
    assert torch.allclose(regions[0, :, :, 0], expected)


def test_ocr_returns_its_soft_regions_for_supervision_only_in_training():
    model = build_model("resnet18", "ocr", num_classes=4)
    x = torch.randn(2, 3, 45, 67)
    main, coarse = model(x)
    assert main.shape == coarse.shape == (2, 4, 45, 67)
    (main.mean() + coarse.mean()).backward()
    assert model.decoder.regions[0].weight.grad is not None
    model.eval()
    with torch.no_grad():
        out = model(x[:1])
    assert isinstance(out, torch.Tensor) and out.shape == (1, 4, 45, 67)


def test_hrnet_w18_with_its_head_learns_at_an_odd_size():
    """The registry sweep runs HRNet only under -m slow (hundreds of small convs).

    This is its default cell.
    """
    model = build_model("hrnet_w18", "hrnetv2", num_classes=3)
    out = model(torch.randn(2, 3, 45, 67))
    assert out.shape == (2, 3, 45, 67)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
