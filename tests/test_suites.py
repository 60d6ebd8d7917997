"""Suites: the shipped ones load, malformed ones fail before anything runs, run and resume."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from segbench.cli import main
from segbench.suites import SUITES_DIR, SuiteError, load_suite
from tests.conftest import FAST_TIMING  # noqa: F401

SHIPPED = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def test_the_issue_s_suites_ship():
    assert {"smoke", "rtseg", "camvid", "latency"} <= set(SHIPPED)


def test_rtseg_suite_is_the_study_s_grid():
    suite = load_suite("rtseg")
    pairs = {(c.encoder, c.decoder) for c in suite.cells}
    assert pairs == {(e, d) for e in ("vgg16", "resnet18", "mobilenet", "shufflenet_rtseg")
                     for d in ("skip", "unet", "dilation")}
    assert {(c.input_h, c.input_w, c.num_classes) for c in suite.cells} == {(360, 640, 20)}


def test_smoke_suite_trains_on_synthetic_deterministically():
    suite = load_suite("smoke")
    assert {c.dataset for c in suite.cells} == {"synthetic"}
    assert all(c.train.deterministic for c in suite.cells)
    assert suite.compare["baseline"] == "results/baselines/smoke"


def test_latency_suite_needs_cuda():
    if torch.cuda.is_available():
        assert load_suite("latency").cells
    else:
        with pytest.raises(SuiteError, match=r"\[grid\].*CUDA is not available"):
            load_suite("latency")


def test_camvid_suite_resolves_its_data(monkeypatch, camvid_root):
    monkeypatch.chdir(SUITES_DIR.parent)
    suite = load_suite("camvid")
    assert {c.dataset for c in suite.cells} == {"camvid"} and {c.num_classes for c in suite.cells} == {11}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


GOOD = """[grid]
encoders = ["mobilenet"]
decoders = ["skip", "unet"]
sizes = ["64x64"]
devices = ["cpu"]

[measure]
warmup_iters = 1
min_iters = 2
min_time = 0.0
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("sizes", "sizez"), r"\[grid\] sizez: unknown key; valid: encoders.* \(line 4\)"),
        (GOOD.replace('devices = ["cpu"]', 'devices = "cpu"'),
         r"\[grid\] devices: must be list\[str\].*\(line 5\)"),
        (GOOD.replace("min_iters = 2", "min_iters = 2.5"),
         r"\[measure\] min_iters: must be int, got 2.5 \(line 9\)"),
        (GOOD.replace('"mobilenet"', '"mobilenot"'), r"\[grid\].*unknown encoder 'mobilenot'; valid: "),
        (GOOD.replace('"64x64"', '"64by64"'), r"\[grid\] sizes.*malformed size '64by64'"),
        (GOOD + "\n[bogus]\nx = 1\n", r"\[bogus\]: unknown section; valid: suite, grid"),
        (GOOD.replace("[measure]", "[measure"), r"not valid TOML: .*line 7"),
        (GOOD.replace('encoders = ["mobilenet"]\n', "").replace('decoders = ["skip", "unet"]\n', ""),
         r"\[grid\]: missing required key 'encoders' or 'decoders' or 'models' \(line 1\)"),
        (GOOD.replace('"skip", "unet"', '"skip"').replace("[grid]", '[grid]\nmodels = ["enet9"]'),
         r"\[grid\].*unknown model 'enet9'; valid: "),
        (GOOD + '\n[data]\ndataset = "camvid"\n', r"\[data\].*dataset 'camvid' needs --data-root"),
        (GOOD + '\n[train]\noptimizer = "lamb"\n', r"\[train\].*unknown optimizer 'lamb'"),
    ],
)
def test_malformed_suites_fail_in_one_line(tmp_path, text, message):
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(str(_write(tmp_path, text)))
    assert "\n" not in str(info.value)


def test_unknown_suite_lists_shipped_ones():
    with pytest.raises(SuiteError, match=r"suite 'nope' not found.*shipped suites: .*smoke"):
        load_suite("nope")


def test_include_exclude_select_cells(tmp_path):
    suite = load_suite(str(_write(tmp_path, GOOD)))
    assert [c.decoder for c in suite.select(include=["*+unet"])] == ["unet"]
    assert [c.decoder for c in suite.select(exclude=["mobilenet+skip"])] == ["unet"]
    assert len(suite.select()) == 2


def test_run_a_suite_then_resume_it(tmp_path, capsys):
    path, out = _write(tmp_path, GOOD), tmp_path / "run"
    assert main(["run", str(path), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "table.csv")) == 2
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(out)]) == 0
    assert "reused 2 finished cell(s)" in capsys.readouterr().err


def test_run_reports_a_malformed_suite_and_runs_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, GOOD.replace("sizes", "sizez"))), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not out.exists()
