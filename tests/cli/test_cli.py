"""The CLI end to end: run directory, table, bad input, failures as rows, resume."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from segbench.cell import CellConfig
from segbench.cli import main
from segbench.models import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.results import KEY_COLUMNS, TABLE_COLUMNS
from segbench.runner import run_grid
from tests.conftest import FAST_CLI, FAST_TIMING


def test_grid_writes_run_json_records_and_table(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["grid", "--encoders", "resnet18,mobilenet", "--decoders", "skip,dilation",
               "--size", "64x96", "--num-classes", "4", "--device", "cpu", "--profile-only",
               "--out", str(out), *FAST_CLI])
    assert rc == 0
    env = json.loads((out / "run.json").read_text())["environment"]
    recorded = {"torch", "cuda", "cudnn", "cpu", "cpu_capability", "torch_threads", "git_sha", "segbench_version"}
    assert recorded <= set(env)
    records = sorted((out / "cells").glob("*.json"))
    assert len(records) == 4
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == TABLE_COLUMNS
    assert set(table["status"]) == {"ok"}
    assert (table["gflops"] == 2 * table["gmacs"]).all()
    assert set(zip(table["encoder"], table["decoder"], strict=True)) == {
        ("resnet18", "skip"), ("resnet18", "dilation"), ("mobilenet", "skip"), ("mobilenet", "dilation")}
    record = json.loads(records[0].read_text())
    assert len(record["latency_samples_ms"]) == record["timed_iters"]
    assert "resnet18" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoders", "resnet18,nope"], "unknown encoder 'nope'; valid: "),
        (["--decoders", "fcn99"], "unknown decoder 'fcn99'; valid: "),
        (["--size", "360by480"], "malformed size '360by480'; expected HxW"),
        (["--size", "16x16"], "at least 32"),
        (["--size", "64x64;96x96"], "(several: 360x480,720x960)"),
        (["--batch-size", "0"], "--batch-size must be a whole number at least 1, not 0"),
        (["--batch-size", "two"], "--batch-size takes a comma list of whole numbers, e.g. 0,1; not 'two'"),
        (["--precision", "fp8"], "--precision must be a comma list of fp32, fp16, bf16, not 'fp8'"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N, not 'tpu'"),
        (["--no-such-flag"], "No such option"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path):
    rc = main(["grid", *args, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_list_prints_registries(capsys):
    assert main(["list", "encoders"]) == 0
    assert "shufflenet_rtseg" in capsys.readouterr().out
    assert main(["list", "decoders"]) == 0
    assert "output stride 8" in capsys.readouterr().out
    assert main(["list", "datasets-nope"]) == 2


class _Exploding(Decoder):
    def __init__(self, specs, num_classes):
        super().__init__(specs, num_classes)
        raise RuntimeError("boom\nsecond line")


@pytest.fixture
def exploding_decoder():
    with DECODERS.temporarily("exploding", _Exploding, paper="-", year=0, needs="-"):
        yield "exploding"


def _cells(*decoders):
    return [CellConfig("mobilenet", d, 64, 64, num_classes=3) for d in decoders]


def test_a_failing_cell_is_a_row_and_the_grid_goes_on(tmp_path, exploding_decoder):
    result = run_grid(_cells("skip", exploding_decoder, "unet"), tmp_path, timing=FAST_TIMING)
    table = result.table.set_index("decoder")
    assert table.loc["exploding", "status"] == "failed"
    assert table.loc["exploding", "error"] == "RuntimeError: boom"
    assert table.loc["exploding", ["params", "gflops", "latency_ms_median"]].isna().all()
    assert table.loc[["skip", "unet"], "status"].tolist() == ["ok", "ok"]


def test_cuda_oom_is_recorded_as_oom(tmp_path, monkeypatch):
    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr("segbench.cell.profile", oom)
    table = run_grid(_cells("skip"), tmp_path, timing=FAST_TIMING).table
    assert table.loc[0, "status"] == "oom" and "out of memory" in table.loc[0, "error"]


def test_rerun_reuses_finished_cells_and_retries_failed_on_request(tmp_path, exploding_decoder):
    first = run_grid(_cells("skip", exploding_decoder), tmp_path, timing=FAST_TIMING)
    assert len(first.ran) == 2
    again = run_grid(_cells("skip", exploding_decoder, "unet"), tmp_path, timing=FAST_TIMING)
    assert again.ran == [_cells("unet")[0].cell_id] and len(again.reused) == 2
    retry = run_grid(_cells("skip", exploding_decoder), tmp_path, timing=FAST_TIMING, retry_failed=True)
    assert retry.ran == [_cells(exploding_decoder)[0].cell_id]
    assert len(retry.table) == 3


def test_ctrl_c_keeps_every_finished_cell(tmp_path, monkeypatch):
    import segbench.cell as cell_module

    real = cell_module.profile
    calls = {"n": 0}

    def interrupt_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cell_module, "profile", interrupt_second)
    result = run_grid(_cells("skip", "unet", "dilation"), tmp_path, timing=FAST_TIMING)
    assert result.interrupted
    assert list(result.table["decoder"]) == ["skip"]
    monkeypatch.setattr(cell_module, "profile", real)
    resumed = run_grid(_cells("skip", "unet", "dilation"), tmp_path, timing=FAST_TIMING)
    assert resumed.reused == [_cells("skip")[0].cell_id] and len(resumed.table) == 3


def test_key_columns_are_separate_fields(tmp_path):
    table = run_grid(_cells("skip"), tmp_path, timing=FAST_TIMING).table
    assert set(KEY_COLUMNS) <= set(table.columns)
    assert table.loc[0, ["input_h", "input_w", "num_classes"]].tolist() == [64, 64, 3]


def test_interrupted_grid_exits_130_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("segbench.cell.profile", interrupt)
    out = tmp_path / "run"
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--profile-only", "--size", "64x64",
               "--device", "cpu", "--out", str(out), *FAST_CLI])
    assert rc == 130
    assert f"rerun with --out {out} to resume" in capsys.readouterr().err
    assert (out / "table.csv").is_file()


def test_python_dash_m_segbench_runs_the_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "segbench", "list", "decoders"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "dilation" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "segbench", "grid", "--size", "x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: malformed size 'x'")
    assert "Traceback" not in bad.stderr


def test_not_applicable_is_recorded_as_such(tmp_path, monkeypatch):
    from segbench.models.decoders import NotApplicable

    def not_applicable(cell):
        raise NotApplicable("segnet upsamples with max-pooling indices, which mobilenet does not provide")

    monkeypatch.setattr("segbench.cell.build_cell_model", not_applicable)
    table = run_grid(_cells("skip"), tmp_path, timing=FAST_TIMING).table
    assert table.loc[0, "status"] == "not_applicable" and "pooling indices" in table.loc[0, "error"]


def test_version_and_short_help(capsys):
    from importlib.metadata import version

    import segbench

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"segbench {segbench.__version__}" == f"segbench {version('segbench')}"
    assert main(["grid", "-h"]) == 0
    assert "--label-smoothing" in capsys.readouterr().out


def test_help_loads_no_torch():
    """``segbench --help`` answers without importing torch, the models or the data."""
    code = ("import sys; from segbench.cli import main; main(['--help']); "
            "print(sorted(m for m in ('torch', 'segbench.models', 'segbench.data', 'segbench.train') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
