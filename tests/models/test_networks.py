"""Every whole network: its paper's parameter count, its output contract, and a training step."""

from __future__ import annotations

import pytest
import torch

from segbench.measure.params import count_parameters
from segbench.models.decoders import BoundaryLogits
from segbench.models.networks import NETWORKS

#: A paper's count may differ from a faithful rebuild by rounding and small unstated details.
PARAM_TOLERANCE = 0.05


@pytest.mark.parametrize("name", NETWORKS.names())
def test_metadata_names_a_paper_and_a_source(name: str) -> None:
    meta = NETWORKS.metadata(name)
    assert meta.get("paper") and meta.get("year")
    assert meta.get("params_source"), "say where the parameter figure comes from"
    assert isinstance(meta.get("paper_classes"), int)


@pytest.mark.parametrize("name", [n for n in NETWORKS.names() if NETWORKS.metadata(n).get("paper_params")])
def test_parameter_count_matches_the_paper(name: str) -> None:
    meta = NETWORKS.metadata(name)
    model = NETWORKS.get(name)(num_classes=meta["paper_classes"])
    millions = count_parameters(model) / 1e6
    assert millions == pytest.approx(meta["paper_params"], rel=PARAM_TOLERANCE), (
        f"{name}: {millions:.3f} M parameters, paper {meta['paper_params']} M ({meta['params_source']})"
    )


@pytest.mark.parametrize("name", NETWORKS.names())
@pytest.mark.parametrize("size", [(64, 96), (72, 100)], ids=["divisible", "odd"])
def test_eval_output_is_one_logits_map_at_input_size(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = NETWORKS.get(name)(num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, 5, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NETWORKS.names())
def test_a_training_step_reaches_every_inference_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = NETWORKS.get(name)(num_classes=4).train()
    out = model(torch.randn(2, 3, 64, 64))
    outs = out if isinstance(out, tuple) else (out,)
    maps = [o.logits if isinstance(o, BoundaryLogits) else o for o in outs]
    for o, m in zip(outs, maps, strict=True):
        assert m.shape == (2, 1 if isinstance(o, BoundaryLogits) else 4, 64, 64)
    sum(m.float().mean() for m in maps).backward()
    unreached = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unreached, f"{name}: parameters with no gradient: {unreached[:5]}"
