"""STDC (encoder and STDC-Seg), PP-LiteSeg and BiSeNet V2 against their papers.

The generic contract of every whole network (parameter count, output size,
gradients) is in test_networks.py; the STDC encoders' FeatureSpec contract in
test_encoders_handwritten.py.
"""

from __future__ import annotations

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from segbench.measure.flops import count_flops
from segbench.measure.params import count_parameters
from segbench.models.decoders import BoundaryLogits
from segbench.models.decoders.base import TrainingOnly
from segbench.models.detail_guidance import detail_loss, detail_target
from segbench.models.encoders import create_encoder
from segbench.models.encoders.stdc import STDCModule
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.train import segmentation_loss


def conv(cin: int, cout: int, k: int, bias: bool = False, groups: int = 1) -> int:
    return cin // groups * cout * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c


# -- STDC backbones -------------------------------------------------------------------------------


class STDCImageNet(nn.Module):
    """The paper's Table 1 network: the encoder, then ConvX 1x1 1024, global pool, FC 1024, FC 1000."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.encoder = create_encoder(name)
        self.head = nn.Sequential(
            ConvNormAct(1024, 1024, kernel_size=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(1024, 1024, bias=False),
            nn.ReLU(),
            nn.Linear(1024, 1000, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)[-1])


# Fan et al. 2021, Table 3 (ImageNet, 224x224): STDC1 8.44 M / 813 M FLOPs, STDC2 12.47 M / 1446 M.
IMAGENET_FIGURES = [("stdc1", 8.44e6, 813e6), ("stdc2", 12.47e6, 1446e6)]


@pytest.mark.parametrize(("name", "paper_params", "paper_macs"), IMAGENET_FIGURES)
def test_stdc_matches_the_papers_imagenet_parameters(
    name: str, paper_params: float, paper_macs: float
) -> None:
    # 8.44 M and 12.47 M here too (8,441,504 and 12,471,968, the classifier's 2,048 BN parameters left out).
    assert count_parameters(STDCImageNet(name)) == pytest.approx(paper_params, rel=0.005)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "paper_params", "paper_macs"), IMAGENET_FIGURES)
def test_stdc_matches_the_papers_imagenet_flops(name: str, paper_params: float, paper_macs: float) -> None:
    model = STDCImageNet(name).eval()
    counts = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
    counts.unsupported_ops_warnings(False)
    by_op = counts.by_operator()
    # Convolutions and FC layers, one multiply-add per "FLOP" as the paper counts; 806 M and 1437 M here.
    assert by_op["conv"] + by_op["linear"] == pytest.approx(paper_macs, rel=0.02)


@pytest.mark.parametrize(("name", "repeats"), [("stdc1", [2, 2, 2]), ("stdc2", [4, 5, 3])])
def test_stdc_stages_repeat_the_module_as_table_1(name: str, repeats: list[int]) -> None:
    encoder = create_encoder(name)
    modules = [sum(isinstance(m, STDCModule) for m in stage.modules()) for stage in encoder.stages[2:]]
    assert modules == repeats
    assert [s.channels for s in encoder.feature_specs] == [32, 64, 256, 512, 1024]


def test_stdc_module_concatenates_ever_narrower_blocks() -> None:
    module = STDCModule(64, 256, stride=2)
    widths = [module.first[0].out_channels, *(b[0].out_channels for b in module.rest)]
    assert widths == [128, 64, 32, 32]
    with torch.no_grad():
        out = module.eval()(torch.randn(1, 64, 15, 20))
    assert out.shape == (1, 256, 8, 10)


# -- STDC-Seg --------------------------------------------------------------------------------------


def stdc_seg_head_params(num_classes: int) -> int:
    """Everything but the backbone, at the authors' widths, summed by hand."""
    arm = sum(conv(c, 128, 3) + bn(128) + conv(128, 128, 1) + bn(128) for c in (1024, 512))
    context = conv(1024, 128, 1) + bn(128) + arm + 2 * (conv(128, 128, 3) + bn(128))
    ffm = conv(384, 256, 1) + bn(256) + conv(256, 64, 1) + conv(64, 256, 1)
    head = conv(256, 256, 3) + bn(256) + conv(256, num_classes, 1)
    return context + ffm + head


@pytest.mark.parametrize(("name", "backbone"), [("stdc1_seg", "stdc1"), ("stdc2_seg", "stdc2")])
def test_stdc_seg_is_its_backbone_plus_the_hand_counted_head(name: str, backbone: str) -> None:
    model = NETWORKS.get(name)(19)
    backbone_params = count_parameters(create_encoder(backbone))
    assert count_parameters(model) == backbone_params + stdc_seg_head_params(19)
    # The registered figure: the paper's ImageNet count less Table 1's head (3,125,248 here, with the
    # classifier's BN), plus this head.
    imagenet_head = conv(1024, 1024, 1) + bn(1024) + 1024 * 1024 + bn(1024) + 1024 * 1000
    derived = {"stdc1": 8.44e6, "stdc2": 12.47e6}[backbone] - imagenet_head + stdc_seg_head_params(19)
    assert NETWORKS.metadata(name)["paper_params"] == pytest.approx(derived / 1e6, abs=0.005)


def test_stdc_seg_trains_auxiliary_and_detail_heads_only() -> None:
    model = NETWORKS.get("stdc1_seg")(5)
    extra = count_parameters(model, inference=False) - count_parameters(model)
    aux = 2 * (conv(128, 64, 3) + bn(64) + conv(64, 5, 1))
    detail = conv(256, 64, 3) + bn(64) + conv(64, 1, 1)
    assert extra == aux + detail
    outs = model.train()(torch.randn(2, 3, 64, 96))
    assert len(outs) == 4
    guided = [isinstance(o, BoundaryLogits) and o.loss is detail_loss for o in outs]
    assert guided == [False, False, False, True]
    assert outs[-1].logits.shape == (2, 1, 64, 96)
    with torch.no_grad():
        assert type(model.eval()(torch.randn(1, 3, 64, 96))) is torch.Tensor


def test_detail_target_marks_label_boundaries() -> None:
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[:, :, 8:] = 2
    target = detail_target(labels, ignore_index=255)
    assert target.shape == (1, 1, 16, 16)
    assert target[0, 0, :, 8].all() and not target[0, 0, :, :5].any() and not target[0, 0, :, 12:].any()
    # Ignored pixels are neither a class nor a boundary.
    labels[:, :4] = 255
    assert not detail_target(labels, ignore_index=255)[0, 0, :4, :5].any()


def test_detail_loss_prefers_the_boundary_and_enters_the_training_loss() -> None:
    labels = torch.zeros(2, 16, 16, dtype=torch.long)
    labels[:, :, 8:] = 1
    edges = detail_target(labels, 255)
    good, bad = 10 * (2 * edges - 1), -10 * (2 * edges - 1)
    assert detail_loss(good, labels, 255) < 0.05 < detail_loss(bad, labels, 255)
    logits = torch.zeros(2, 3, 16, 16)
    criterion = nn.CrossEntropyLoss(ignore_index=255)
    plain = segmentation_loss((logits, logits), labels, criterion, aux_weight=0.4)
    with_detail = segmentation_loss(
        (logits, logits, BoundaryLogits(bad, detail_loss)), labels, criterion, aux_weight=0.4
    )
    assert with_detail - plain == pytest.approx(detail_loss(bad, labels, 255).item(), rel=1e-5)


# -- PP-LiteSeg ------------------------------------------------------------------------------------


def pp_liteseg_decoder_params(decoder: tuple[int, int, int], heads: tuple[int, ...], num_classes: int) -> int:
    sppm = 3 * (conv(1024, 128, 1) + bn(128)) + conv(128, 128, 3) + bn(128)
    attention = conv(4, 2, 3) + bn(2) + conv(2, 1, 3) + bn(1)
    deeper = (*decoder[1:], 128)
    uafms = sum(
        conv(low, high, 3) + bn(high) + attention + conv(high, out, 3) + bn(out)
        for low, high, out in zip((256, 512, 1024), deeper, decoder, strict=True)
    )
    head = conv(decoder[0], heads[0], 3) + bn(heads[0]) + conv(heads[0], num_classes, 1)
    return sppm + uafms + head


@pytest.mark.parametrize(
    ("name", "backbone", "decoder", "heads"),
    [("pp_liteseg_t", "stdc1", (32, 64, 128), (32,)), ("pp_liteseg_b", "stdc2", (64, 96, 128), (64,))],
)
def test_pp_liteseg_decoder_widths_are_the_papers(
    name: str, backbone: str, decoder: tuple[int, int, int], heads: tuple[int, ...]
) -> None:
    model = NETWORKS.get(name)(19)
    assert [f.out[0].out_channels for f in model.fusions] == list(decoder)
    hand = count_parameters(create_encoder(backbone)) + pp_liteseg_decoder_params(decoder, heads, 19)
    assert count_parameters(model) == hand


def test_pp_liteseg_fuses_with_a_spatial_weight_between_zero_and_one() -> None:
    model = NETWORKS.get("pp_liteseg_t")(5).eval()
    fusion = model.fusions[0]
    low, high = torch.randn(1, 256, 16, 24), torch.randn(1, 64, 8, 12)
    weights = []
    fusion.attention.register_forward_hook(lambda _m, _i, out: weights.append(out))
    with torch.no_grad():
        out = fusion(low, high)
    assert out.shape == (1, 32, 16, 24)
    assert weights[0].shape == (1, 1, 16, 24) and weights[0].min() >= 0 and weights[0].max() <= 1


def test_pp_liteseg_deep_supervision_is_training_only() -> None:
    model = NETWORKS.get("pp_liteseg_b")(5)
    assert all(isinstance(h, TrainingOnly) for h in model.aux)
    assert len(model.train()(torch.randn(2, 3, 64, 64))) == 3


# -- BiSeNet V2 ------------------------------------------------------------------------------------


def ge_params(cin: int, cout: int, stride: int) -> int:
    mid = 6 * cin
    body = (conv(cin, cin, 3) + bn(cin) + conv(cin, mid, 3, groups=cin) + bn(mid)
            + conv(mid, cout, 1) + bn(cout))
    if stride == 1:
        return body
    return (body + conv(mid, mid, 3, groups=mid) + bn(mid) + conv(cin, cin, 3, groups=cin) + bn(cin)
            + conv(cin, cout, 1) + bn(cout))


def test_bisenetv2_count_is_table_1_counted_by_hand() -> None:
    detail = (conv(3, 64, 3) + bn(64) + 4 * (conv(64, 64, 3) + bn(64)) + conv(64, 128, 3)
              + 2 * conv(128, 128, 3))
    detail += 3 * bn(128)
    stem = (conv(3, 16, 3) + bn(16) + conv(16, 8, 1) + bn(8) + conv(8, 16, 3) + bn(16)
            + conv(32, 16, 3) + bn(16))
    ge = ge_params(16, 32, 2) + ge_params(32, 32, 1) + ge_params(32, 64, 2) + ge_params(64, 64, 1)
    ge += ge_params(64, 128, 2) + 3 * ge_params(128, 128, 1)
    ce = bn(128) + conv(128, 128, 1) + bn(128) + conv(128, 128, 3) + bn(128)
    gated = conv(128, 128, 3, groups=128) + bn(128) + conv(128, 128, 1)
    bga = 2 * gated + 3 * (conv(128, 128, 3) + bn(128))
    head = conv(128, 1024, 3) + bn(1024) + conv(1024, 19, 1, bias=True)
    hand = detail + stem + ge + ce + bga + head
    model = NETWORKS.get("bisenetv2")(19)
    assert count_parameters(model) == hand
    assert NETWORKS.metadata("bisenetv2")["paper_params"] == pytest.approx(hand / 1e6, abs=0.005)


def test_bisenetv2_branches_run_at_one_eighth_and_one_thirty_second() -> None:
    model = NETWORKS.get("bisenetv2")(5).eval()
    x = torch.randn(1, 3, 72, 100)
    with torch.no_grad():
        detail = model.detail(x)
        semantic, taps = model.semantic(x)
    assert detail.shape == (1, 128, 9, 13)
    assert semantic.shape == (1, 128, 3, 4)
    assert [tuple(t.shape[1:]) for t in taps] == [(16, 18, 25), (32, 9, 13), (64, 5, 7), (128, 3, 4)]


def test_bisenetv2_booster_heads_are_training_only() -> None:
    model = NETWORKS.get("bisenetv2")(5)
    extra = count_parameters(model, inference=False) - count_parameters(model)
    assert extra == sum(conv(c, 128, 3) + bn(128) + conv(128, 5, 1, bias=True) for c in (16, 32, 64, 128))
    assert len(model.train()(torch.randn(2, 3, 64, 64))) == 5


@pytest.mark.parametrize("name", ["stdc1_seg", "stdc2_seg", "pp_liteseg_t", "pp_liteseg_b", "bisenetv2"])
def test_a_non_positive_class_count_is_a_one_line_error(name: str) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer, not 0"):
        NETWORKS.get(name)(0)


@pytest.mark.slow
def test_bisenetv2_multiply_adds_are_near_the_papers_21_gflops() -> None:
    # The paper's comparison table gives 21.15 GFLOPs (2048x1024 in its resolution column; the network
    # sees the image downscaled to 512x1024, the size counted here, with multiply-adds as FLOPs). The main
    # head's width Ct is not stated: at the reproductions' 1024 it alone is 9.7 G of the 24.8 G here, so
    # the count is expected above the paper's, not equal (Ct near 640 would meet it).
    # Convolution MACs scale with the pixel count (every stage divides 128x256), so 16 x the count at
    # 128x256 is the count at 512x1024.
    gmacs = count_flops(NETWORKS.get("bisenetv2")(19), (128, 256)).gmacs * 16
    assert 21.15 < gmacs < 1.2 * 21.15
