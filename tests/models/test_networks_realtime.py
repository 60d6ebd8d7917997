"""The real-time whole networks against their papers' tables: stage sizes, block counts, FLOPs.

The generic contract (parameter counts, output size, gradients) is in test_networks.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segbench.measure.flops import count_flops
from segbench.measure.params import count_parameters
from segbench.models.networks import NETWORKS
from segbench.models.networks.cgnet import ContextGuidedBlock
from segbench.models.networks.dabnet import DABModule
from segbench.models.networks.edanet import EDAModule
from segbench.models.networks.enet import Bottleneck, DownsamplingBottleneck, UpsamplingBottleneck
from segbench.models.networks.erfnet import NonBottleneck1D
from segbench.models.networks.espnet import ESPModule


def _output_shapes(model: nn.Module, names: list[str], size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """Shape (C, H, W) of each named submodule's output (the first one if it returns a tuple)."""
    shapes: dict[str, tuple[int, ...]] = {}
    modules = dict(model.named_modules())

    def record(name: str):
        def hook(_module: nn.Module, _inputs: object, out: torch.Tensor | tuple[torch.Tensor, ...]) -> None:
            shapes.setdefault(name, tuple((out[0] if isinstance(out, tuple) else out).shape[1:]))

        return hook

    for name in names:
        modules[name].register_forward_hook(record(name))
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, *size))
    return shapes


def _count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_enet_stages_give_table_1_feature_sizes() -> None:
    # Table 1 at 512x512: initial 16x256x256, stage 1 64x128x128, stages 2-3 128x64x64,
    # stage 4 64x128x128, stage 5 16x256x256; here at 64x96.
    model = NETWORKS.get("enet")(num_classes=5)
    shapes = _output_shapes(model, ["initial", "stage1", "stage3", "stage4", "stage5"], (64, 96))
    assert shapes == {
        "initial": (16, 32, 48),
        "stage1": (64, 16, 24),
        "stage3": (128, 8, 12),
        "stage4": (64, 16, 24),
        "stage5": (16, 32, 48),
    }


def test_enet_bottleneck_counts_and_dilations() -> None:
    model = NETWORKS.get("enet")(num_classes=5)
    # Table 1: 1.0-1.4, 2.0-2.8, 3.1-3.8, 4.0-4.2, 5.0-5.1.
    assert _count(model, DownsamplingBottleneck) == 2
    assert _count(model, UpsamplingBottleneck) == 2
    assert _count(model, Bottleneck) == 4 + 8 + 8 + 2 + 1
    dilations = [
        m.dilation[0] for m in model.stage2.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert dilations == [1, 2, 4, 1, 8, 16]
    asymmetric = [
        m.kernel_size for m in model.stage3.modules() if isinstance(m, nn.Conv2d) and 5 in m.kernel_size
    ]
    assert asymmetric == [(5, 1), (1, 5)] * 2


def test_enet_unpools_at_odd_sizes_with_the_pooling_indices() -> None:
    # An odd size is padded to a multiple of 8; the max-unpooling must still find its indices.
    model = NETWORKS.get("enet")(num_classes=3).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 33, 47))
    assert out.shape == (1, 3, 33, 47)


def test_erfnet_has_table_1_layers() -> None:
    model = NETWORKS.get("erfnet")(num_classes=5)
    # Encoder: 5 non-bottleneck-1D at 1/4 and 8 at 1/8; decoder: 2 + 2.
    assert _count(model.encoder, NonBottleneck1D) == 13
    assert _count(model.decoder, NonBottleneck1D) == 4
    dilated = [b.conv3x1_2.dilation[0] for b in model.encoder if isinstance(b, NonBottleneck1D)]
    assert dilated == [1] * 5 + [2, 4, 8, 16] * 2
    shapes = _output_shapes(model, ["encoder"], (64, 96))
    assert shapes["encoder"] == (128, 8, 12)


def test_edanet_dense_stages_grow_by_40_per_module() -> None:
    model = NETWORKS.get("edanet")(num_classes=5)
    assert len(model.stage1) == 5 and len(model.stage2) == 8
    shapes = _output_shapes(model, ["stage1", "stage2"], (64, 96))
    assert shapes == {"stage1": (60 + 5 * 40, 16, 24), "stage2": (130 + 8 * 40, 8, 12)}
    assert _count(model, EDAModule) == 13


def test_esp_module_splits_and_fuses_hierarchically() -> None:
    esp = ESPModule(64, 64)
    # K = 5 branches: n = 64 // 5 = 12 each, the first takes the remaining 16.
    assert [b.out_channels for b in esp.branches] == [16, 12, 12, 12, 12]
    assert [b.dilation[0] for b in esp.branches] == [1, 2, 4, 8, 16]
    # Hierarchical fusion: zeroing the dilation-16 branch changes only the last 12 channels.
    x = torch.randn(1, 64, 20, 20)
    esp.eval()
    with torch.no_grad():
        before = esp(x)
        esp.branches[4].weight.zero_()
        after = esp(x)
    assert torch.equal(before[:, :52], after[:, :52])
    assert not torch.equal(before[:, 52:], after[:, 52:])


def test_espnet_is_the_full_network_with_alpha3_8() -> None:
    model = NETWORKS.get("espnet")(num_classes=19)
    assert len(model.level2) == 2 and len(model.level3) == 8
    # ESPNet-C (encoder alone) would stop at 1/8; the full network's decoder runs at 1/4 and 1/2.
    shapes = _output_shapes(model, ["post3", "merge2", "merge1"], (64, 96))
    assert shapes == {"post3": (256, 8, 12), "merge2": (19, 16, 24), "merge1": (19, 32, 48)}


def test_cgnet_m3_n21() -> None:
    model = NETWORKS.get("cgnet")(num_classes=5)
    blocks2 = _count(model.down2, ContextGuidedBlock) + _count(model.stage2, ContextGuidedBlock)
    blocks3 = _count(model.down3, ContextGuidedBlock) + _count(model.stage3, ContextGuidedBlock)
    assert (blocks2, blocks3) == (3, 21)
    assert {b.surround.dilation[0] for b in model.stage2} == {2}
    assert {b.surround.dilation[0] for b in model.stage3} == {4}
    shapes = _output_shapes(model, ["post2", "post3"], (64, 96))
    assert shapes == {"post2": (131, 16, 24), "post3": (256, 8, 12)}


def test_fast_scnn_global_features_are_at_stride_32() -> None:
    model = NETWORKS.get("fast_scnn")(num_classes=5)
    shapes = _output_shapes(model, ["learning_to_downsample", "global_features", "fusion"], (64, 96))
    assert shapes == {
        "learning_to_downsample": (64, 8, 12),
        "global_features": (128, 2, 3),
        "fusion": (128, 8, 12),
    }


def test_fast_scnn_auxiliary_heads_train_only() -> None:
    model = NETWORKS.get("fast_scnn")(num_classes=5)
    outs = model.train()(torch.randn(2, 3, 64, 96))
    assert len(outs) == 3 and all(o.shape == (2, 5, 64, 96) for o in outs)
    assert count_parameters(model, inference=False) > count_parameters(model)


def test_dabnet_blocks_and_dilations() -> None:
    model = NETWORKS.get("dabnet")(num_classes=5)
    assert _count(model, DABModule) == 3 + 6
    dilations = [m.context[0][0].dilation[0] for m in model.stage2]
    assert dilations == [4, 4, 8, 8, 16, 16]
    assert model.classifier.in_channels == 256 + 3


@pytest.mark.parametrize(
    ("name", "paper_gflops"),
    # Both papers' comparison tables count a multiply-add as one FLOP, at 512x1024.
    [("edanet", 8.97), ("dabnet", 10.46)],
)
def test_fvcore_macs_match_the_published_figure(name: str, paper_gflops: float) -> None:
    # Convolution MACs scale exactly with the pixel count here (every stage divides),
    # so 16 x the count at 128x256 is the count at 512x1024.
    model = NETWORKS.get(name)(num_classes=19)
    gmacs = count_flops(model, (128, 256)).gmacs * 16
    assert gmacs == pytest.approx(paper_gflops, rel=0.02)


@pytest.mark.slow
def test_enet_flops_at_640x360_match_table_3() -> None:
    # Table 3: 3.83 GFLOPs for a 640x360 input (counting 2 FLOPs per multiply-add, as SegNet's 286 G shows).
    # fvcore counts convolutions only; BN/PReLU/pooling make up the rest.
    model = NETWORKS.get("enet")(num_classes=19)
    assert count_flops(model, (360, 640)).gflops == pytest.approx(3.83, rel=0.10)


@pytest.mark.parametrize("name", ["enet", "erfnet", "edanet", "espnet", "cgnet", "fast_scnn", "dabnet"])
def test_a_non_positive_class_count_is_a_one_line_error(name: str) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer, not 0"):
        NETWORKS.get(name)(num_classes=0)


def test_espnet_with_fewer_classes_than_branches_keeps_every_branch_non_empty() -> None:
    # 2 classes: the decoder's ESP module would have 2 // 5 = 0 channels per branch; it is widened to 5.
    model = NETWORKS.get("espnet")(num_classes=2)
    assert all(b.out_channels >= 1 for m in model.modules() if isinstance(m, ESPModule) for b in m.branches)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 40, 56)).shape == (1, 2, 40, 56)
