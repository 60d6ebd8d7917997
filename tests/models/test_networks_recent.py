"""DDRNet, PIDNet, RegSeg and SwiftNet against their papers: FLOPs, branch resolutions, block layouts.

The generic contract (parameter counts, output size, gradients) is in test_networks.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from segbench.inference.attention import ScaleAttention
from segbench.losses import boundary_loss, label_edges
from segbench.measure.flops import count_flops
from segbench.measure.params import count_parameters
from segbench.models.decoders import BoundaryLogits
from segbench.models.networks import NETWORKS
from segbench.models.networks.ddrnet import DAPPM
from segbench.models.networks.pidnet import PAPPM, Bag, LightBag, PIDNet
from segbench.models.networks.regseg import DBlock, SplitDilatedConv
from segbench.train import segmentation_loss
from tests.models.test_networks_realtime import _output_shapes

NEW = ["ddrnet23_slim", "ddrnet23", "pidnet_s", "pidnet_m", "pidnet_l", "regseg", "swiftnet_rn18"]


def _gmacs_at_1024x2048(model: nn.Module) -> float:
    # Convolution MACs scale with the pixel count: 64 x the count at 128x256 is the count at
    # 1024x2048, up to the few pooled maps whose sizes do not scale (a fraction of a percent here).
    return count_flops(model, (128, 256)).gmacs * 64


# Each paper's Cityscapes table, at 1024x2048; all four count a multiply-add as one FLOP
# (fvcore's convention), as the match shows.
PAPER_GFLOPS = [
    pytest.param("ddrnet23_slim", 36.3, id="ddrnet23_slim"),
    pytest.param("ddrnet23", 143.1, id="ddrnet23", marks=pytest.mark.slow),
    pytest.param("pidnet_s", 47.6, id="pidnet_s"),
    pytest.param("pidnet_l", 275.8, id="pidnet_l", marks=pytest.mark.slow),
    pytest.param("regseg", 39.1, id="regseg", marks=pytest.mark.slow),
    pytest.param("swiftnet_rn18", 104.0, id="swiftnet_rn18"),
]


@pytest.mark.parametrize(("name", "paper_gflops"), PAPER_GFLOPS)
def test_fvcore_macs_match_the_published_figure(name: str, paper_gflops: float) -> None:
    model = NETWORKS.get(name)(num_classes=19)
    assert _gmacs_at_1024x2048(model) == pytest.approx(paper_gflops, rel=0.02)


def _pidnet_m_with(n: int) -> PIDNet:
    return PIDNet(19, m=2, n=n, width=64, ppm_width=96, head_width=128, large=False)


def test_pidnet_m_published_parameters_are_those_of_n_4() -> None:
    # Fig. 4 gives PIDNet-M (m, n, C) = (2, 3, 64), as the release builds it (28.5 M), but the paper's
    # table says 34.4 M: exactly the count with one more basic block at 1/16 and 1/32 (n = 4).
    assert count_parameters(NETWORKS.get("pidnet_m")(19)) / 1e6 == pytest.approx(28.5, rel=0.01)
    assert count_parameters(_pidnet_m_with(n=4)) / 1e6 == pytest.approx(34.4, rel=0.005)


@pytest.mark.slow
def test_pidnet_m_published_gflops_are_those_of_n_4() -> None:
    assert _gmacs_at_1024x2048(_pidnet_m_with(n=4)) == pytest.approx(197.4, rel=0.005)
    assert _gmacs_at_1024x2048(NETWORKS.get("pidnet_m")(19)) < 0.92 * 197.4


def test_ddrnet_branches_keep_1_8_beside_the_deep_low_resolution_branch() -> None:
    # Table 1 (C = 32): high branch 64 @ 1/8 throughout; low branch 128 @ 1/16, 256 @ 1/32, 512 @ 1/64.
    model = NETWORKS.get("ddrnet23_slim")(num_classes=5)
    names = ["layer3", "layer4", "layer5", "layer3_high", "layer4_high", "layer5_high", "dappm"]
    shapes = _output_shapes(model, names, (64, 128))
    assert shapes == {
        "layer3": (128, 4, 8),
        "layer4": (256, 2, 4),
        "layer5": (512, 1, 2),
        "layer3_high": (64, 8, 16),
        "layer4_high": (64, 8, 16),
        "layer5_high": (128, 8, 16),
        "dappm": (128, 1, 2),
    }
    assert isinstance(model.dappm, DAPPM)


def test_ddrnet_auxiliary_head_is_training_only() -> None:
    model = NETWORKS.get("ddrnet23_slim")(num_classes=5).train()
    outs = model(torch.randn(2, 3, 32, 48))
    assert len(outs) == 2 and all(o.shape == (2, 5, 32, 48) for o in outs)
    assert count_parameters(model, inference=False) > count_parameters(model)


@pytest.mark.parametrize(
    ("name", "ppm", "fusion", "d_width"),
    [("pidnet_s", PAPPM, LightBag, 32), ("pidnet_m", PAPPM, LightBag, 64), ("pidnet_l", DAPPM, Bag, 128)],
)
def test_pidnet_variants_pick_their_pyramid_fusion_and_d_branch(
    name: str, ppm: type, fusion: type, d_width: int
) -> None:
    model = NETWORKS.get(name)(num_classes=5)
    assert type(model.ppm) is ppm and type(model.fusion) is fusion
    # The D branch's first stage: C channels for S/M, 2C for L (Fig. 4's OP1\OP2).
    assert model.layer3_d[0].body[-1][1].num_features == d_width


def test_pidnet_trains_a_p_head_and_a_boundary_head() -> None:
    torch.manual_seed(0)
    model = NETWORKS.get("pidnet_s")(num_classes=5).train()
    main, aux, boundary = model(torch.randn(2, 3, 32, 48))
    assert main.shape == aux.shape == (2, 5, 32, 48)
    assert isinstance(boundary, BoundaryLogits) and boundary.weight == 20.0
    assert boundary.logits.shape == (2, 1, 32, 48)
    heads = count_parameters(model, inference=False) - count_parameters(model)
    assert heads == sum(p.numel() for p in [*model.aux_head.parameters(), *model.boundary_head.parameters()])


def test_pidnet_three_branch_shapes() -> None:
    # P and D at 1/8 (2C, 4C after their bottlenecks), I down to 1/64 (16C), the pyramid to 4C.
    model = NETWORKS.get("pidnet_s")(num_classes=5)
    shapes = _output_shapes(model, ["layer5_p", "layer5_d", "layer5", "ppm", "fusion"], (64, 128))
    assert shapes == {
        "layer5_p": (128, 8, 16),
        "layer5_d": (128, 8, 16),
        "layer5": (512, 1, 2),
        "ppm": (128, 1, 2),
        "fusion": (128, 8, 16),
    }


def test_regseg_blocks_and_dilations() -> None:
    model = NETWORKS.get("regseg")(num_classes=5)
    assert sum(isinstance(m, DBlock) for m in model.modules()) == 1 + 3 + 14
    rates = [tuple(c.dilation[0] for c in m.convs) for m in model.stage16.modules()
             if isinstance(m, SplitDilatedConv)]
    assert rates == [(1,), (1,), (1, 2)] + [(1, 4)] * 4 + [(1, 14)] * 7
    # Group width 16 everywhere: a 256-wide block split in two halves has 8 groups per half.
    assert {c.groups for c in model.stage16[-2].spatial[0].convs} == {8}
    shapes = _output_shapes(model, ["stage4", "stage8", "stage16"], (128, 256))
    assert shapes == {"stage4": (48, 32, 64), "stage8": (128, 16, 32), "stage16": (320, 8, 16)}


def test_regseg_dilation_split_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="48 channels do not split into 5 dilation groups"):
        SplitDilatedConv(48, (1, 2, 3, 4, 5))


def test_swiftnet_laterals_take_the_residual_sum_before_its_relu() -> None:
    torch.manual_seed(0)
    model = NETWORKS.get("swiftnet_rn18")(num_classes=5)
    seen: list[torch.Tensor] = []
    for up in model.upsample:
        up.lateral.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, 128, 256))
    assert [tuple(t.shape[1:]) for t in seen] == [(256, 8, 16), (128, 16, 32), (64, 32, 64)]
    assert all((t < 0).any() for t in seen)  # after a ReLU nothing would be negative


def test_swiftnet_pyramid_grids_follow_the_aspect_ratio() -> None:
    # The 1/32 features of a 512x1024 image: grids of 8, 4 and 2 rows, twice as many columns.
    spp = NETWORKS.get("swiftnet_rn18")(num_classes=5).spp.eval()
    pooled: list[tuple[int, ...]] = []
    for level in spp.levels:
        level.register_forward_hook(lambda _m, inputs, _o: pooled.append(tuple(inputs[0].shape[-2:])))
    with torch.no_grad():
        out = spp(torch.randn(1, 512, 16, 32))
    assert pooled == [(8, 16), (4, 8), (2, 4)]
    assert out.shape == (1, 128, 16, 32)
    assert spp.fuse[-1].in_channels == 128 + 3 * 42


@pytest.mark.parametrize("name", NEW)
def test_a_non_positive_class_count_is_a_one_line_error(name: str) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer, not 0"):
        NETWORKS.get(name)(num_classes=0)


# -- the boundary loss --------------------------------------------------------------------------------


def test_label_edges_mark_both_sides_of_a_class_change_and_skip_ignored_windows() -> None:
    target = torch.zeros(1, 6, 6, dtype=torch.long)
    target[:, :, 3:] = 1
    target[0, 0, 0] = 255
    edges, valid = label_edges(target, ignore_index=255)
    assert edges.shape == valid.shape == (1, 1, 6, 6)
    # A 3x3 window straddles the change at columns 2 and 3 only.
    assert edges[0, 0, 3].tolist() == [0, 0, 1, 1, 0, 0]
    assert not valid[0, 0, :2, :2].any() and valid[0, 0, 2:, :].all()


def test_boundary_loss_balances_edge_and_non_edge_pixels() -> None:
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[:, :, 6:] = 1  # edges on columns 5 and 6: a quarter of the pixels
    positive = 0.25
    # With zero logits every pixel costs log 2; the weights average to 2 p (1 - p).
    loss = boundary_loss(torch.zeros(1, 1, 8, 8), target, ignore_index=255)
    assert loss.item() == pytest.approx(math.log(2) * 2 * positive * (1 - positive), rel=1e-5)
    edges, _ = label_edges(target, 255)
    confident = boundary_loss((edges * 2 - 1) * 20, target, ignore_index=255)
    assert confident.item() < 1e-6


def test_segmentation_loss_scores_boundary_outputs_with_their_own_weight() -> None:
    torch.manual_seed(0)
    target = torch.randint(0, 3, (2, 16, 16))
    main, aux = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    edges = torch.randn(2, 1, 16, 16)
    ce = nn.CrossEntropyLoss(ignore_index=255)
    outputs = (main, aux, BoundaryLogits(edges, boundary_loss, 20.0))
    total = segmentation_loss(outputs, target, ce, aux_weight=0.4)
    expected = ce(main, target) + 0.4 * ce(aux, target) + 20.0 * boundary_loss(edges, target, 255)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_scale_attention_passes_a_boundary_output_through_resized() -> None:
    torch.manual_seed(0)
    # Batch 2: the 1/64 maps are 1x1, where training BatchNorm needs two samples.
    model = ScaleAttention(NETWORKS.get("pidnet_s")(num_classes=3), num_classes=3, scales=(1.0, 0.5)).train()
    out = model(torch.randn(2, 3, 32, 32))
    boundary = out[-1]
    assert isinstance(boundary, BoundaryLogits) and boundary.logits.shape == (2, 1, 32, 32)
    assert all(o.shape == (2, 3, 32, 32) for o in out[:-1])
