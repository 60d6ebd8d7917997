"""FCN, U-Net, LinkNet, context module, semantic FPN, GCN: published sizes, odd input sizes, gradients."""

import pytest
import torch

from segbench.measure.params import count_parameters
from segbench.models import DECODERS, build_model
from segbench.models.decoders.context import ContextModule
from segbench.models.decoders.gcn import GlobalConv
from segbench.models.encoders import create_encoder
from segbench.models.segmodel import SegModel


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These maps are small: one thread is faster than several fighting over shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


NAMES = ("fcn32s", "fcn16s", "fcn8s", "unet_classic", "linknet", "context", "fpn", "gcn")


def _conv(cin: int, cout: int, k: int = 1, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def _vgg16_features() -> int:
    cfg = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    return sum(_conv(cin, cout, 3) for cin, cout in zip((3, *cfg[:-1]), cfg, strict=True))


def test_fcn8s_on_vgg16_is_the_papers_134m():
    """Long et al. report 134M parameters for FCN-8s (VGG16, 21 classes).

    Our count must equal the layer-by-layer derivation below (tolerance 1%; it is
    exact) and be within 2% of 134M (it is 134.49M, +0.37%). The derivation:
    VGG16's 13 convs (14.71M), fc6 as 7x7 512->4096, fc7 1x1 4096->4096, score
    4096->21, 1x1 scores of pool4 (512) and pool3 (256), two x2 (4x4) and one x8
    (16x16) 21->21 transposed convs without bias.
    """
    c = 21
    derived = (
        _vgg16_features()
        + _conv(512, 4096, 7)
        + _conv(4096, 4096)
        + _conv(4096, c)
        + _conv(512, c)
        + _conv(256, c)
        + 2 * _conv(c, c, 4, bias=False)
        + _conv(c, c, 16, bias=False)
    )
    with torch.device("meta"):  # counts only: no 0.5 GB of random weights
        model = build_model("vgg16", "fcn8s", num_classes=c)
    n = count_parameters(model)
    assert _vgg16_features() == 14_714_688
    assert abs(n - derived) <= 0.01 * derived
    assert abs(n - 134e6) <= 0.02 * 134e6


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s"])
def test_fcn32s_and_16s_on_vgg16_are_about_the_same(name):
    """FCN-32s/16s: "about the same" as FCN-8s; within 2% of 134M (the learned 64x64 x32 deconv of
    32s adds 1.8M: 136.15M, +1.6%; 16s 134.82M, +0.6%)."""
    with torch.device("meta"):
        n = count_parameters(build_model("vgg16", name, num_classes=21))
    assert abs(n - 134e6) <= 0.02 * 134e6


def test_linknet_on_resnet18_is_the_papers_11_5m():
    """Chaurasia & Culurciello report 11.5M parameters; within 2% (11.53M for 11 classes)."""
    n = count_parameters(build_model("resnet18", "linknet", num_classes=11))
    assert abs(n - 11.5e6) <= 0.02 * 11.5e6


@pytest.mark.parametrize("c", [1, 21])
def test_context_module_has_64_c_squared_weights(c):
    """Yu & Koltun: the basic module has 64 C^2 weights (7 x 9 C^2 + C^2); plus 8 C biases (one per conv)."""
    assert count_parameters(ContextModule(c)) == 64 * c * c + 8 * c


def test_context_module_starts_as_identity():
    module = ContextModule(4)
    x = torch.rand(1, 4, 9, 11)  # non-negative: the ReLUs pass it through
    assert torch.allclose(module(x), x)
    assert build_model("resnet18", "context", num_classes=4).encoder.output_stride == 8


@pytest.mark.parametrize("k", [15, 7])
def test_gcn_block_has_2k_cin_c_plus_c_c_weights(k):
    """Peng et al.: k x 1 + 1 x k branches give 2k (C_in C + C C) weights; plus 4 C biases (one per conv)."""
    cin, c = 512, 21
    assert count_parameters(GlobalConv(cin, c, k)) == 2 * k * (cin * c + c * c) + 4 * c


def test_semantic_fpn_head_matches_its_derivation():
    """On resnet18 (64, 128, 256, 512 at strides 4-32), 19 classes: FPN laterals and 3x3 outputs
    (256, with bias), then semantic stages 3x3->128 (no bias) + GN: one each at strides 4 and 8, two at 16,
    three at 32 (the first from 256, the rest from 128), and a 1x1 predictor."""
    c, w, d = 19, 256, 128
    fpn = sum(_conv(cin, w) for cin in (64, 128, 256, 512)) + 4 * _conv(w, w, 3)
    stage_from_fpn = _conv(w, d, 3, bias=False) + 2 * d
    stage_inner = _conv(d, d, 3, bias=False) + 2 * d
    head = 4 * stage_from_fpn + 3 * stage_inner + _conv(d, c)
    model = build_model("resnet18", "fpn", num_classes=c)
    assert count_parameters(model.decoder.head) == head
    assert count_parameters(model.decoder) == fpn + head


def test_registration_metadata():
    for name in NAMES:
        meta = DECODERS.metadata(name)
        assert meta["paper"] and meta["year"] and meta["needs"]


def _model(encoder: str, name: str, c: int) -> SegModel:
    """Built like build_model; FCN's head is narrowed to 64 channels (shapes and wiring are the same)
    to keep this file fast: the full 4096-wide head runs in tests/test_models.py."""
    cls = DECODERS.get(name)
    enc = create_encoder(encoder, output_stride=cls.output_stride)
    kwargs = {"width": 64} if name.startswith("fcn") else {}
    return SegModel(enc, cls(enc.feature_specs, c, **kwargs))


@pytest.mark.parametrize("encoder", ["resnet18", "mobilenet"])
@pytest.mark.parametrize("name", NAMES)
def test_odd_sizes_forward_backward(name, encoder):
    torch.manual_seed(0)
    model = _model(encoder, name, 3)
    for size in ((45, 67), (97, 131)):
        model.zero_grad(set_to_none=True)
        y = model(torch.randn(1, 3, *size))
        assert y.shape == (1, 3, *size)
        y.mean().backward()
        assert all(p.grad is not None for p in model.decoder.parameters())
