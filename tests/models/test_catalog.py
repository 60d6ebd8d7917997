"""Model names: whole networks and named pairs in build_model, the grid, suites, train, eval and tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn

import segbench
from segbench.cli import main
from segbench.config import WHOLE_NETWORK, model_label
from segbench.grid import expand_grid
from segbench.measure.params import count_parameters
from segbench.models import build_model
from segbench.models.catalog import MODEL_ALIASES, model_names, resolve_model
from segbench.models.decoders import NotApplicable
from segbench.models.networks import NETWORKS
from segbench.registry import UnknownNameError
from segbench.suites import SuiteError, load_suite
from tests.conftest import FAST_CLI


class TinyNet(nn.Module):
    """A whole network small enough for CLI tests: one conv at half resolution, upsampled."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(torch.relu(self.body(x)))
        return nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


@pytest.fixture
def tinynet():
    """Register ``tinynet`` for one test only."""
    with NETWORKS.temporarily("tinynet", TinyNet, paper="test", year=2026, paper_params=None, paper_classes=2,
                              params_source="test"):
        yield "tinynet"


def test_aliases_resolve_to_the_literature_s_pairs():
    assert resolve_model("shuffleseg") == ("shufflenet", "skip")
    assert resolve_model("linknet") == ("resnet18", "linknet")
    assert not set(MODEL_ALIASES) & set(NETWORKS.names()), "an alias must not shadow a whole network"
    assert set(model_names()) == set(MODEL_ALIASES) | set(NETWORKS.names())


def test_an_alias_builds_the_very_same_model_as_its_pair():
    torch.manual_seed(0)
    alias = build_model(model="shuffleseg", num_classes=11)
    torch.manual_seed(0)
    pair = build_model("shufflenet", "skip", 11)
    assert count_parameters(alias) == count_parameters(pair)
    assert all(torch.equal(a, b)
               for a, b in zip(alias.state_dict().values(), pair.state_dict().values(), strict=True))


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match=r"unknown model 'nope'; valid: .*shuffleseg"):
        build_model(model="nope", num_classes=3)


@pytest.mark.parametrize("kwargs", [
    {"model": "shuffleseg", "encoder": "resnet18"}, {"encoder": "resnet18"}, {},
])
def test_build_model_needs_a_model_or_a_pair(kwargs):
    with pytest.raises(ValueError, match="model="):
        build_model(num_classes=3, **kwargs)


def test_whole_network_builds_by_name_and_by_its_row_key(tinynet):
    by_name = build_model(model=tinynet, num_classes=3)
    by_key = build_model(WHOLE_NETWORK, tinynet, 3)
    assert isinstance(by_name, TinyNet) and isinstance(by_key, TinyNet)
    assert by_name(torch.randn(1, 3, 33, 47)).shape == (1, 3, 33, 47)
    assert segbench.list_models("tiny*") == ["tinynet"]


def test_whole_network_has_no_imagenet_encoder_or_output_stride(tinynet):
    with pytest.raises(NotApplicable, match="trained from scratch"):
        build_model(model=tinynet, num_classes=3, pretrained=True)
    with pytest.raises(ValueError, match="own output stride"):
        build_model(model=tinynet, num_classes=3, output_stride=8)


def test_grid_rows_models_after_pairs_without_repeats(tinynet):
    cells = expand_grid(["shufflenet"], ["skip"], models=["shuffleseg", tinynet], device="cpu")
    assert [(c.encoder, c.decoder) for c in cells] == [("shufflenet", "skip"), (WHOLE_NETWORK, tinynet)]
    only_models = expand_grid(models=[tinynet], device="cpu")
    assert [(c.encoder, c.decoder) for c in only_models] == [(WHOLE_NETWORK, tinynet)]
    assert only_models[0].cell_id.startswith("tinynet__")
    defaults = expand_grid(device="cpu")
    assert {(c.encoder, c.decoder) for c in defaults} == {
        ("resnet18", "skip"), ("resnet18", "unet"), ("mobilenet", "skip"), ("mobilenet", "unet")}
    assert model_label(WHOLE_NETWORK, tinynet) == tinynet
    assert model_label("resnet18", "unet") == "resnet18+unet"


def test_grid_cli_measures_a_whole_network_as_a_row(tinynet, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["grid", "--models", f"{tinynet},shuffleseg", "--size", "64x64", "--num-classes", "5",
               "--device", "cpu", "--profile-only", "--out", str(out), *FAST_CLI])
    assert rc == 0
    table = pd.read_csv(out / "table.csv").set_index("decoder")
    assert sorted(table.index) == ["skip", tinynet] and table.loc[tinynet, "encoder"] == WHOLE_NETWORK
    assert table.loc[tinynet, "params"] == count_parameters(TinyNet(5))
    assert table["status"].eq("ok").all() and table["gflops"].gt(0).all()


def test_grid_cli_rejects_an_unknown_model(tmp_path, capsys):
    assert main(["grid", "--models", "enet2000", "--profile-only", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'enet2000'; valid: ") and err.count("\n") == 1


def test_train_then_eval_a_whole_network(tinynet, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--model", tinynet, "--iterations", "2", "--train-batch-size", "2", "--device", "cpu",
                 "--out", str(out)]) == 0
    trained = json.loads((out / "metrics.json").read_text())
    assert (trained["encoder"], trained["decoder"]) == (WHOLE_NETWORK, tinynet)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--device", "cpu", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["miou"] == pytest.approx(trained["miou"])


@pytest.mark.parametrize("args", [
    ["--encoder", "resnet18"], ["--model", "shuffleseg", "--decoder", "skip"], [],
])
def test_train_needs_exactly_a_model_or_a_pair(args, tmp_path, capsys):
    assert main(["train", *args, "--out", str(tmp_path / "t")]) == 2
    assert "name the model to train" in capsys.readouterr().err


def test_suite_takes_models_alone_and_requires_some_grid(tinynet, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'[grid]\nmodels = ["{tinynet}", "linknet"]\nsizes = ["64x64"]\n')
    cells = load_suite(str(path)).cells
    assert [(c.encoder, c.decoder) for c in cells] == [(WHOLE_NETWORK, tinynet), ("resnet18", "linknet")]
    assert load_suite(str(path)).select(include=[tinynet])[0].decoder == tinynet
    path.write_text('[grid]\nsizes = ["64x64"]\n')
    with pytest.raises(SuiteError,
                       match=r"\[grid\]: missing required key 'encoders' or 'decoders' or 'models'"):
        load_suite(str(path))


def test_list_models_names_papers(capsys):
    assert main(["list", "models"]) == 0
    shown = capsys.readouterr().out
    assert "shuffleseg" in shown and "shufflenet + skip" in shown


def test_a_literature_network_trains_scores_and_profiles_in_the_grid(tmp_path):
    out = tmp_path / "run"
    rc = main(["grid", "--models", "enet", "--iterations", "2", "--train-batch-size", "2", "--size", "64x64",
               "--device", "cpu", "--out", str(out), *FAST_CLI])
    assert rc == 0
    (record,) = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert record["status"] == "ok" and (record["encoder"], record["decoder"]) == (WHOLE_NETWORK, "enet")
    assert 0 <= record["miou"] <= 100 and record["train_iters"] == 2
    assert record["params"] == count_parameters(build_model(model="enet", num_classes=record["num_classes"]))
