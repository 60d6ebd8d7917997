"""vgg16_bn with pooling indices, SegNet, RefineNet and Light-Weight RefineNet; their published sizes."""

import pytest
import torch
from torchvision import models

from segbench.cell import CellConfig, run_cell
from segbench.measure.params import count_parameters
from segbench.models import build_model
from segbench.models.decoders import NotApplicable
from segbench.models.encoders import create_encoder
from segbench.record import Status

SIZES = [(45, 67), (97, 131)]


def _forward_backward(model: torch.nn.Module, size: tuple[int, int], classes: int = 5) -> None:
    """Shape at ``size``; the backward (which reaches every decoder parameter) only at the small size."""
    x = torch.randn(1, 3, *size)
    if size != SIZES[0]:
        with torch.no_grad():
            assert model.eval()(x).shape == (1, classes, *size)
        return
    y = model(x)
    assert y.shape == (1, classes, *size)
    y.mean().backward()
    missing = [n for n, p in model.decoder.named_parameters() if p.grad is None]
    assert not missing


# --- vgg16_bn ---------------------------------------------------------------------------------


def test_vgg16_bn_is_torchvisions_without_the_classifier():
    with torch.device("meta"):  # shapes only: the 120 M-parameter classifier is never allocated
        tv = models.vgg16_bn(weights=None)
    enc = create_encoder("vgg16_bn")
    assert count_parameters(enc) == count_parameters(tv) - count_parameters(tv.classifier)
    # Same modules and tensors in the same order, so torchvision's weights load unchanged.
    assert [type(m) for s in enc.stages for m in s] == [type(m) for m in tv.features]
    ours, theirs = enc.state_dict(), tv.features.state_dict()
    assert [t.shape for t in ours.values()] == [t.shape for t in theirs.values()]


def test_vgg16_bn_pooling_indices_match_its_plain_forward():
    enc = create_encoder("vgg16_bn").eval()
    x = torch.randn(1, 3, 45, 67)
    with torch.no_grad():
        plain = enc(x)
        features, indices = enc.forward_with_indices(x)
    assert [f.shape[-2:] for f in plain] == [(23, 34), (12, 17), (6, 9), (3, 5), (2, 3)]
    assert all(torch.equal(a, b) for a, b in zip(plain, features, strict=True))
    assert [tuple(i.size) for i in indices] == [(45, 67), (23, 34), (12, 17), (6, 9), (3, 5)]
    assert all(i.indices.shape == f.shape for i, f in zip(indices, features, strict=True))
    # The plain forward stays traceable (fvcore counts FLOPs on a trace).
    assert torch.jit.trace(enc, torch.randn(1, 3, 32, 32), check_trace=False, strict=False) is not None


def test_dilated_vgg16_bn_withdraws_indices_but_serves_other_decoders():
    enc = create_encoder("vgg16_bn", output_stride=8)
    assert not enc.provides_pool_indices
    assert [s.stride for s in enc.feature_specs] == [2, 4, 8, 8, 8]
    with torch.no_grad():
        assert enc(torch.randn(1, 3, 33, 35))[-1].shape[-2:] == (5, 5)


# --- SegNet -----------------------------------------------------------------------------------


def test_segnet_has_the_published_size():
    # Badrinarayanan et al., Table 6: SegNet 29.45 M parameters (11 CamVid classes).
    assert 29.4e6 <= count_parameters(build_model("vgg16_bn", "segnet", num_classes=11)) <= 29.5e6


@pytest.mark.parametrize("size", SIZES)
def test_segnet_on_vgg16_bn_keeps_the_input_size(size):
    _forward_backward(build_model("vgg16_bn", "segnet", num_classes=5), size)


def test_segnet_needs_pooling_indices():
    with pytest.raises(NotApplicable, match=r"segnet upsamples with max-pooling indices.*resnet18"):
        build_model("resnet18", "segnet", num_classes=3)


def test_segnet_on_resnet_is_a_not_applicable_cell():
    record = run_cell(CellConfig(encoder="resnet18", decoder="segnet", input_h=64, input_w=64))
    assert record["status"] == Status.NOT_APPLICABLE
    assert "max-pooling indices" in record["error"] and "resnet18" in record["error"]


# --- RefineNet --------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["refinenet", "lw_refinenet"])
@pytest.mark.parametrize("encoder", ["resnet18", "mobilenet"])
@pytest.mark.parametrize("size", SIZES)
def test_refinenets_keep_the_input_size(encoder, decoder, size):
    _forward_backward(build_model(encoder, decoder, num_classes=5), size)


@pytest.mark.parametrize(("encoder", "published"), [("resnet50", 27e6), ("resnet101", 46e6)])
def test_lw_refinenet_has_the_published_size(encoder, published):
    # Nekrasov et al.: RF-LW-ResNet-50 27 M, -101 46 M (21 classes); ours 27,357,525 and 46,349,653.
    n = count_parameters(build_model(encoder, "lw_refinenet", num_classes=21))
    assert abs(n - published) <= 0.05 * published
