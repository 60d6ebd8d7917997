"""FLOP conventions and the published figures they must reproduce."""

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch.utils.flop_counter import FlopCounterMode
from torchvision import models

from segbench.measure.flops import count_flops
from segbench.models import build_model


def test_resnet18_matches_torchvision_published_macs():
    """torchvision's metadata gives 1.814 "GFLOPS" for resnet18, which are MACs."""
    published = models.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"]
    assert published == pytest.approx(1.814, abs=1e-3)
    assert count_flops(models.resnet18(), (224, 224)).gmacs == pytest.approx(published, rel=0.01)


@pytest.mark.parametrize(
    ("encoder", "published_gflops"),
    [("mobilenet", 6.2), ("shufflenet_rtseg", 2.0)],
    ids=["SkipNet-MobileNet", "SkipNet-ShuffleNet"],
)
def test_rtseg_published_gflops_at_360x640_20_classes(encoder, published_gflops):
    """RTSeg's GFLOPs are 2 x multiply-adds (Siam et al. 2018)."""
    flops = count_flops(build_model(encoder, "skip", num_classes=20), (360, 640))
    assert flops.gflops == pytest.approx(published_gflops, rel=0.03)
    assert flops.gflops == pytest.approx(2 * flops.gmacs)


def test_paper_shufflenet_is_heavier_than_the_study_s():
    paper = count_flops(build_model("shufflenet", "skip", num_classes=20), (360, 640)).gflops
    study = count_flops(build_model("shufflenet_rtseg", "skip", num_classes=20), (360, 640)).gflops
    assert paper > study


def test_twice_fvcore_conv_macs_equal_torch_flop_counter():
    """With non-matmul ops counted as zero, 2 x fvcore equals FlopCounterMode exactly."""
    model = build_model("resnet18", "unet", num_classes=7).eval()
    x = torch.randn(1, 3, 96, 128)
    analysis = FlopCountAnalysis(model, x)
    zero = lambda inputs, outputs: 0  # noqa: E731
    analysis.set_op_handle(
        "aten::batch_norm", zero, "aten::upsample_bilinear2d", zero, "aten::adaptive_avg_pool2d", zero
    )
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    assert 2 * analysis.total() == counter.get_total_flops()


def test_uncounted_operators_are_named():
    flops = count_flops(build_model("resnet18", "unet", num_classes=7), (64, 64))
    assert "aten::max_pool2d" in flops.uncounted
    assert any(op.startswith("aten::add") for op in flops.uncounted)


def test_flops_do_not_depend_on_batch_or_mode():
    model = build_model("mobilenet", "skip", num_classes=4).train()
    a = count_flops(model, (64, 96))
    assert model.training  # restored
    assert count_flops(model.eval(), (64, 96)).gmacs == a.gmacs
