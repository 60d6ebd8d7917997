"""Registry-wide encoder contract, and parity with torchvision's models."""

import math

import pytest
import torch
from torch import nn
from torchvision import models

from segbench.measure.params import count_parameters
from segbench.models import ENCODERS, create_encoder
from segbench.models.decoders import NotApplicable
from segbench.models.pretrained import PretrainedWeightsUnavailable

TORCHVISION = {
    "vgg16": ("vgg16", "classifier"),
    "resnet18": ("resnet18", "fc"),
    "resnet34": ("resnet34", "fc"),
    "resnet50": ("resnet50", "fc"),
    "resnet101": ("resnet101", "fc"),
    "mobilenet_v2": ("mobilenet_v2", "classifier"),
    "mobilenet_v3_large": ("mobilenet_v3_large", "classifier"),
    "shufflenet_v2": ("shufflenet_v2_x1_0", "fc"),
}


def test_the_issue_s_encoders_are_registered():
    assert set(TORCHVISION) | {"mobilenet", "shufflenet", "shufflenet_rtseg"} <= set(ENCODERS.names())
    for name in TORCHVISION:
        assert ENCODERS.metadata(name)["source"] == "torchvision"


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_params_equal_torchvision_minus_classifier(name):
    tv_name, head = TORCHVISION[name]
    reference = models.get_model(tv_name, weights=None)
    expected = count_parameters(reference) - count_parameters(getattr(reference, head))
    assert count_parameters(create_encoder(name)) == expected


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_features_match_their_declared_specs(name, output_stride):
    """Channels as declared; spatial size ceil(H / stride) (a pixel of slack for VALID convs)."""
    try:
        encoder = create_encoder(name, output_stride=output_stride).eval()
    except NotApplicable as e:  # HRNet keeps its branches at fixed strides (tests/test_mit_hrnet.py)
        pytest.skip(str(e))
    h, w = 97, 131
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, h, w))
    specs = encoder.feature_specs
    assert len(features) == len(specs)
    # Natively dense encoders (DRN: stride 8) stay at their own stride when asked for a coarser one.
    assert max(s.stride for s in specs) == encoder.output_stride == min(output_stride, encoder.output_stride)
    assert encoder.output_stride <= output_stride
    assert [s.stride for s in specs] == sorted(s.stride for s in specs)
    for f, spec in zip(features, specs, strict=True):
        assert f.shape[1] == spec.channels
        assert abs(f.shape[2] - math.ceil(h / spec.stride)) <= 1
        assert abs(f.shape[3] - math.ceil(w / spec.stride)) <= 1


def test_dilation_keeps_parameters_and_dilates_the_last_stages():
    plain, dilated = create_encoder("resnet18"), create_encoder("resnet18", output_stride=8)
    assert count_parameters(plain) == count_parameters(dilated)
    dilations = {m.dilation for m in dilated.stages[-1].modules() if isinstance(m, nn.Conv2d)}
    assert (4, 4) in dilations and all(m.stride == (1, 1) for m in dilated.stages[-1].modules()
                                       if isinstance(m, nn.Conv2d))
    assert {m.dilation for m in dilated.stages[-2].modules() if isinstance(m, nn.Conv2d)} >= {(2, 2)}


def test_pretrained_without_cached_weights_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(PretrainedWeightsUnavailable, match=r"resnet18.*not cached at .*checkpoints"):
        create_encoder("resnet18", pretrained=True)


def test_pretrained_loads_from_the_hub_cache(tmp_path, monkeypatch):
    """A weights file in the cache is loaded as is; nothing is downloaded."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    weights = models.get_model_weights("resnet18").DEFAULT
    source = models.resnet18(weights=None)
    (tmp_path / "checkpoints").mkdir()
    torch.save(source.state_dict(), tmp_path / "checkpoints" / weights.url.rsplit("/", 1)[-1])
    encoder = create_encoder("resnet18", pretrained=True)
    assert torch.equal(encoder.stages[0][0].weight, source.conv1.weight)
