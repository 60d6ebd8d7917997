"""The encoders segbench writes itself (no torchvision model to compare with):
MobileNet v1, ShuffleNet v1 and STDC, checked against their papers' ImageNet
figures and against the FeatureSpec contract."""

from __future__ import annotations

import math

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from segbench.models.encoders import ENCODERS, Encoder, create_encoder
from segbench.models.pretrained import PretrainedWeightsUnavailable

HANDWRITTEN = ("mobilenet", "shufflenet", "shufflenet_rtseg", "stdc1", "stdc2")
# The study's variant rounds down at its unpadded conv1, so its maps may be a pixel short.
SLACK = {"mobilenet": 0, "shufflenet": 0, "shufflenet_rtseg": 1, "stdc1": 0, "stdc2": 0}


class ImageNetClassifier(nn.Module):
    """Encoder + global average pool + linear: the papers' ImageNet network, for counting only."""

    def __init__(self, encoder: Encoder, num_classes: int = 1000) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(encoder.feature_specs[-1].channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = self.encoder(x)[-1]
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(top, 1), 1))


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_linear_macs(model: nn.Module, size: int = 224) -> int:
    """Multiply-adds of conv and linear layers only, as fvcore counts them (one MAC = one flop)."""
    counts = FlopCountAnalysis(model.eval(), torch.zeros(1, 3, size, size))
    counts.unsupported_ops_warnings(False)
    counts.uncalled_modules_warnings(False)
    by_op = counts.by_operator()
    return by_op["conv"] + by_op["linear"]


@pytest.mark.parametrize(
    ("name", "paper_params", "paper_macs"),
    [
        ("mobilenet", 4.2e6, 569e6),  # Howard et al. 2017, Table 8 (1.0 MobileNet-224)
        ("shufflenet", 1.9e6, 140e6),  # Zhang et al. 2018, Table 2 (ShuffleNet 1x, g = 3)
    ],
)
def test_matches_paper_imagenet_figures(name: str, paper_params: float, paper_macs: float) -> None:
    """Parameters and multiply-adds at 224x224 with a 1000-class classifier, within 3%.

    Only convolutions and the linear layer are counted (fvcore's 'conv' and
    'linear'), as the papers count; batch norm, pooling, additions and ReLUs
    are left out.
    """
    model = ImageNetClassifier(create_encoder(name))
    assert params(model) == pytest.approx(paper_params, rel=0.03)
    assert conv_linear_macs(model) == pytest.approx(paper_macs, rel=0.03)


def test_rtseg_shufflenet_is_lighter() -> None:
    """The study's variant (smaller stride-2 bottlenecks, unpadded conv1): about 127 M
    conv + linear multiply-adds at 224x224 with the classifier (126.9 M measured here)."""
    rtseg = conv_linear_macs(ImageNetClassifier(create_encoder("shufflenet_rtseg")))
    paper = conv_linear_macs(ImageNetClassifier(create_encoder("shufflenet")))
    print(f"shufflenet_rtseg: {rtseg / 1e6:.1f} M multiply-adds (shufflenet: {paper / 1e6:.1f} M)")
    assert rtseg == pytest.approx(127e6, rel=0.03)
    assert rtseg < paper


def check_features(name: str, encoder: Encoder, h: int, w: int) -> None:
    with torch.no_grad():
        features = encoder.eval()(torch.zeros(1, 3, h, w))
    assert len(features) == len(encoder.feature_specs)
    for f, spec in zip(features, encoder.feature_specs, strict=True):
        assert f.shape[1] == spec.channels
        expected = (math.ceil(h / spec.stride), math.ceil(w / spec.stride))
        for got, want in zip(f.shape[-2:], expected, strict=True):
            assert want - SLACK[name] <= got <= want, (name, spec, tuple(f.shape), expected)


@pytest.mark.parametrize("name", HANDWRITTEN)
@pytest.mark.parametrize("size", [(360, 480), (97, 131)])
def test_features_match_specs(name: str, size: tuple[int, int]) -> None:
    encoder = create_encoder(name)
    assert [s.stride for s in encoder.feature_specs] == [2, 4, 8, 16, 32]
    check_features(name, encoder, *size)


@pytest.mark.parametrize("name", HANDWRITTEN)
@pytest.mark.parametrize("output_stride", [8, 16])
def test_dilated(name: str, output_stride: int) -> None:
    encoder = create_encoder(name, output_stride=output_stride)
    assert encoder.feature_specs[-1].stride == output_stride
    check_features(name, encoder, 97, 131)


@pytest.mark.parametrize("name", HANDWRITTEN)
def test_registered_as_segbench(name: str) -> None:
    assert ENCODERS.metadata(name)["source"] == "segbench"


@pytest.mark.parametrize("name", HANDWRITTEN)
def test_no_pretrained_weights(name: str) -> None:
    with pytest.raises(PretrainedWeightsUnavailable, match=f"'{name}'"):
        create_encoder(name, pretrained=True)
