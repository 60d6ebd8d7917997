"""ContextNet, LEDNet, ESPNetv2 and DFANet against their papers: branch resolutions, unit structure, FLOPs.

The generic contract (parameter counts, output size, gradients) is in test_networks.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segbench.measure.flops import count_flops
from segbench.measure.params import count_parameters
from segbench.models.networks import NETWORKS
from segbench.models.networks.dfanet import XceptionBlock
from segbench.models.networks.espnetv2 import EESP, StridedEESP, branch_dilations
from segbench.models.networks.fast_scnn import InvertedResidual
from segbench.models.networks.lednet import SSnbt, channel_shuffle

NEW = ["contextnet", "lednet", "espnetv2", "dfanet_a", "dfanet_b"]


def _shapes(model: nn.Module, names: list[str], size: tuple[int, int]) -> tuple[dict, dict]:
    """(C, H, W) of each named submodule's first input and first output, in one eval forward."""
    inputs: dict[str, tuple[int, ...]] = {}
    outputs: dict[str, tuple[int, ...]] = {}
    modules = dict(model.named_modules())

    def first(t: object) -> tuple[int, ...]:
        t = t[0] if isinstance(t, (tuple, list)) else t
        return tuple(t.shape[1:])

    def record(name: str):
        def hook(_m: nn.Module, args: tuple, out: object) -> None:
            inputs.setdefault(name, first(args))
            outputs.setdefault(name, first(out))

        return hook

    for name in names:
        modules[name].register_forward_hook(record(name))
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, *size))
    return inputs, outputs


def _count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize("name", NEW)
def test_a_non_positive_class_count_is_a_one_line_error(name: str) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer, not 0"):
        NETWORKS.get(name)(num_classes=0)


def test_contextnet_branches_meet_at_one_eighth() -> None:
    # Table 1 at 1024x2048: shallow 128 maps at 128x256 (1/8); deep branch on the 256x512 quarter image,
    # 128 maps at 32x64 (1/32 of the full image). Here at 128x192.
    model = NETWORKS.get("contextnet")(num_classes=5)
    inputs, shapes = _shapes(model, ["shallow", "deep", "fusion"], (128, 192))
    assert shapes == {"shallow": (128, 16, 24), "deep": (128, 4, 6), "fusion": (128, 16, 24)}
    assert inputs["deep"] == (3, 32, 48)
    # Bottleneck rows (n = 1, 1, 3, 3, 2, 2); the fusion's depthwise conv is dilated by the x4 upsampling.
    assert _count(model.deep, InvertedResidual) == 12
    assert model.fusion.low[0][0].dilation == (4, 4)


def test_lednet_encoder_has_table_1_units() -> None:
    model = NETWORKS.get("lednet")(num_classes=5)
    units = [m for m in model.encoder if isinstance(m, SSnbt)]
    assert len(units) == 3 + 2 + 8
    dilations = [u.left.body[5].dilation[0] for u in units]
    assert dilations == [1] * 5 + [1, 2, 5, 9, 2, 5, 9, 17]
    _, shapes = _shapes(model, ["encoder", "decoder"], (64, 96))
    assert shapes == {"encoder": (128, 8, 12), "decoder": (5, 8, 12)}


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_ss_nbt_keeps_its_halves_apart_until_the_shuffle() -> None:
    # Split: the left branch sees only the first half of the channels, and after the shuffle its
    # outputs sit at the even positions; so changing the second half moves the odd channels only.
    unit = SSnbt(16, dilation=2).eval()
    x = torch.randn(1, 16, 12, 12)
    y = x.clone()
    y[:, 8:] += torch.randn(1, 8, 12, 12)
    with torch.no_grad():
        a, b = unit(x), unit(y)
    assert torch.equal(a[:, 0::2], b[:, 0::2])
    assert not torch.equal(a[:, 1::2], b[:, 1::2])


def test_espnetv2_branch_dilations_follow_the_receptive_field_limits() -> None:
    # Receptive fields 3, 5, 7, 9 (dilations 1-4), a branch over the limit falling back to 3x3.
    assert branch_dilations(13) == branch_dilations(9) == [1, 2, 3, 4]
    assert branch_dilations(7) == [1, 1, 2, 3]
    assert branch_dilations(5) == [1, 1, 1, 2]


def test_espnetv2_encoder_levels_at_s_2() -> None:
    model = NETWORKS.get("espnetv2")(num_classes=20)
    assert len(model.level3) == 3 and len(model.level4) == 7
    assert _count(model, StridedEESP) == 3
    _, shapes = _shapes(model, ["level1", "down2", "level3", "level4", "pyramid2"], (64, 96))
    assert shapes == {
        "level1": (32, 32, 48),
        "down2": (128, 16, 24),
        "level3": (256, 8, 12),
        "level4": (512, 4, 6),
        "pyramid2": (20, 32, 48),
    }


def test_eesp_fuses_hierarchically_and_merges_per_group() -> None:
    # Branch k adds branches 0..k-1, and the grouped expansion keeps branch k in its quarter of the
    # output: zeroing the last branch changes only the last quarter, zeroing the first changes all.
    unit = EESP(64, 64, receptive_limit=9).eval()
    x = torch.randn(1, 64, 10, 10)
    with torch.no_grad():
        before = unit(x)
        unit.branches[3].weight.zero_()
        after_last = unit(x)
        unit.branches[0].weight.zero_()
        after_first = unit(x)
    assert torch.equal(before[:, :48], after_last[:, :48])
    assert not torch.equal(before[:, 48:], after_last[:, 48:])
    assert all(not torch.equal(after_last[:, q : q + 16], after_first[:, q : q + 16]) for q in (0, 16, 32))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("classes", "size", "published_gmacs"),
    # The authors' model zoo (s = 2.0): "FLOPs" that count the convolutions' multiply-adds,
    # 674.78 M on Cityscapes at 512x256 (20 classes) and 759.52 M on PASCAL VOC at 384x384 (21).
    [(20, (256, 512), 0.67478), (21, (384, 384), 0.75952)],
    ids=["cityscapes", "voc"],
)
def test_espnetv2_convolution_macs_match_the_released_models(
    classes: int, size: tuple[int, int], published_gmacs: float
) -> None:
    model = NETWORKS.get("espnetv2")(num_classes=classes)
    assert count_parameters(model) / 1e6 == pytest.approx(0.79, rel=0.01)
    assert count_flops(model, size).by_operator["conv"] == pytest.approx(published_gmacs, rel=0.01)


def test_dfanet_aggregates_three_backbones_each_one_level_deeper() -> None:
    model = NETWORKS.get("dfanet_a")(num_classes=5)
    assert _count(model, XceptionBlock) == 3 * (4 + 6 + 4)
    names = [f"backbones.{b}.stages.{s}" for b in range(3) for s in range(3)]
    inputs, shapes = _shapes(model, names, (64, 64))
    # Backbone 1 at 1/4, 1/8, 1/16; backbone 2 one level deeper; backbone 3 two levels deeper.
    assert [shapes[n][1] for n in names] == [16, 8, 4, 8, 4, 2, 4, 2, 1]
    assert [shapes[n][0] for n in names] == [48, 96, 192] * 3
    # Sub-network aggregation: enc2 of backbones 2 and 3 take [upsampled fc attention, enc2 before];
    # sub-stage aggregation: enc3 and enc4 take [previous stage, the same stage before].
    assert [inputs[n][0] for n in names] == [8, 48, 96, 240, 144, 288, 240, 144, 288]


def test_dfanet_parameter_count_cannot_be_the_papers() -> None:
    # Table 1's widths give 1.82 M (A) and 1.09 M (B), of which the fc attentions hold 1.16 M and
    # 0.77 M; the paper's 7.8 M and 4.8 M would need every other layer about ten times as large.
    for name, paper in (("dfanet_a", 7.8e6), ("dfanet_b", 4.8e6)):
        model = NETWORKS.get(name)(num_classes=19)
        attention = sum(p.numel() for b in model.backbones for p in b.attention.parameters())
        rest = count_parameters(model) - attention
        assert rest * 9 < paper - attention


def test_dfanet_unknown_variant_is_a_one_line_error() -> None:
    from segbench.models.networks.dfanet import DFANet

    with pytest.raises(ValueError, match="DFANet variant must be one of \\['A', 'B'\\], not 'C'"):
        DFANet(19, variant="C")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "paper_gflops"), [("dfanet_a", 3.4), ("dfanet_b", 2.1)])
def test_dfanet_macs_at_1024x1024_match_the_paper(name: str, paper_gflops: float) -> None:
    # The paper's FLOPs at 1024x1024 count multiply-adds of convolutions and fully connected layers.
    by_op = count_flops(NETWORKS.get(name)(num_classes=19), (1024, 1024)).by_operator
    assert by_op["conv"] + by_op["linear"] == pytest.approx(paper_gflops, rel=0.10)
