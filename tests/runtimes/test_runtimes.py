"""The runtime axis: each runtime checked against eager before it is timed, its build recorded, failures as rows."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segbench.cell import run_cell
from segbench.cli import main
from segbench.config import WHOLE_NETWORK, CellConfig, _hash
from segbench.grid import expand_grid
from segbench.models.networks import NETWORKS
from segbench.record import Status
from segbench.runtimes import RUNTIMES, TOLERANCES, Built, Runtime, Target, eager_forward
from segbench.runtimes.base import agreement, disagreement
from segbench.spec import spec_from_toml
from tests.conftest import FAST_CLI, FAST_TIMING, assert_one_line


class TinyNet(nn.Module):
    """Three convolutions and a resize: a real segmentation forward that compiles and exports in seconds."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(self.body(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


@pytest.fixture
def tiny():
    with NETWORKS.temporarily("tiny_rt", TinyNet, paper="test only", year=0):
        yield "tiny_rt"


def _cell(decoder: str, runtime: str, **kw) -> CellConfig:
    encoder = kw.pop("encoder", WHOLE_NETWORK)
    return CellConfig(encoder=encoder, decoder=decoder, input_h=32, input_w=32, device="cpu", num_classes=3,
                      threads=1, runtime=runtime, timing=FAST_TIMING, **kw)


def _agrees(record: dict) -> None:
    assert record["status"] == "ok", record["error"]
    assert 0 <= record["runtime_max_abs_diff"] <= TOLERANCES["fp32"].max_abs_diff
    assert record["runtime_argmax_agree"] >= TOLERANCES["fp32"].argmax_agree
    assert record["latency_ms_median"] > 0 and record["timed_iters"] >= 2
    assert record["runtime_build_s"] > 0


def test_onnxruntime_cell_agrees_with_eager_and_records_its_export(tiny):
    record = run_cell(_cell(tiny, "onnxruntime"))
    _agrees(record)
    assert record["runtime_backend"] == "CPUExecutionProvider"
    assert 0 < record["export_s"] <= record["runtime_build_s"]
    assert record["onnx_opset"] >= 17
    assert math.isnan(record["compile_s"]) and record["cell_id"].endswith("__onnxruntime")


def test_compile_cell_agrees_with_eager_and_records_its_compile_time(tiny):
    """The one test that runs inductor (a C++ compiler on the CPU): the smallest model, 32x32."""
    record = run_cell(_cell(tiny, "compile", compile_mode="default"))
    _agrees(record)
    assert record["runtime_backend"] == "inductor"
    assert 0 < record["compile_s"] <= record["runtime_build_s"]
    assert record["graph_breaks"] == 0 and record["recompiles"] == 0  # dynamic=False, one static input
    assert math.isnan(record["export_s"]) and record["cell_id"].endswith("__compile")


class Disagrees(Runtime):
    """A plug-in runtime whose logits are eager's plus 5: it must be caught before it is timed."""

    calls = 0

    def build(self, target: Target) -> Built:
        eager = eager_forward(target)

        def forward() -> torch.Tensor:
            Disagrees.calls += 1
            return eager() + 5.0

        return Built(forward, "wrong on purpose")


def test_a_runtime_that_disagrees_with_eager_is_failed_with_its_figures_and_not_timed(tiny):
    Disagrees.calls = 0
    with RUNTIMES.temporarily("disagrees", Disagrees):
        record = run_cell(_cell(tiny, "disagrees"))
    assert record["status"] == "failed"
    assert record["error"].startswith("runtime 'disagrees' disagrees with eager: max |logit difference| 5")
    assert record["runtime_max_abs_diff"] == pytest.approx(5.0, rel=1e-4)
    assert record["runtime_backend"] == "wrong on purpose"
    assert math.isnan(record["latency_ms_median"]) and math.isnan(record["peak_mem_mib"])
    assert Disagrees.calls == 1  # the check's call alone: no warm-up, no timed iteration


class CannotBuild(Runtime):
    def build(self, target: Target) -> Built:
        raise OSError("no compiler here\nsecond line")


def test_a_runtime_that_cannot_build_is_a_row_and_the_grid_goes_on(tiny, tmp_path):
    from segbench.executors import make_executor
    from segbench.runner import run_grid

    with RUNTIMES.temporarily("cannot_build", CannotBuild):
        cells = [_cell(tiny, "cannot_build"), _cell(tiny, "eager")]
        table = run_grid(cells, tmp_path, make_executor("local")).table.set_index("runtime")
    assert table.loc["cannot_build", "status"] == "failed"
    error = "RuntimeBuildError: runtime 'cannot_build' could not build: OSError: no compiler here"
    assert table.loc["cannot_build", "error"] == error
    assert table.loc["eager", "status"] == "ok"


def test_cudagraphs_on_the_cpu_is_not_applicable_before_anything_is_built(monkeypatch):
    import segbench.cell

    monkeypatch.setattr(segbench.cell, "build_cell_model", lambda cell: pytest.fail("the model was built"))
    t0 = time.perf_counter()
    record = run_cell(_cell("skip", "cudagraphs", encoder="mobilenet"))
    assert record["status"] == Status.NOT_APPLICABLE.value
    assert record["error"] == "runtime 'cudagraphs': CUDA graphs need a CUDA device; this cell runs on the cpu"
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize(("precision", "channels_last", "reason"), [
    ("bf16", False, "lack bf16 convolutions"),
    ("fp16", False, "fp16 models on CUDA only"),
    ("fp32", True, "channels_last does not apply"),
])
def test_onnxruntime_says_which_cells_it_cannot_run(precision, channels_last, reason):
    record = run_cell(_cell("skip", "onnxruntime", encoder="mobilenet", precision=precision,
                            channels_last=channels_last))
    assert record["status"] == "not_applicable" and reason in record["error"]


def test_eager_keeps_the_cell_id_and_both_fingerprints():
    cell = CellConfig(encoder="resnet18", decoder="unet", input_h=64, input_w=64, timing=FAST_TIMING)
    assert "eager" not in cell.cell_id and cell.compile_mode is None
    assert cell.measure_fingerprint == _hash({"timing": FAST_TIMING})  # the runtime fields at eager are left out
    compiled = replace(cell, runtime="compile", compile_mode="max-autotune")
    assert compiled.cell_id == cell.cell_id + "__compile-max-autotune"
    assert compiled.fingerprint == cell.fingerprint  # the same model and scores
    assert compiled.measure_fingerprint != cell.measure_fingerprint  # timed another way
    assert cell.key()["runtime"] == "eager" and compiled.key()["compile_mode"] == "max-autotune"


def test_the_grid_crosses_runtimes_and_gives_the_compile_mode_to_compile_alone():
    cells = expand_grid(["mobilenet"], ["skip"], sizes=[(32, 32)], device="cpu",
                        runtimes=["eager", "compile", "onnxruntime", "compile"], compile_mode="reduce-overhead")
    assert [(c.runtime, c.compile_mode) for c in cells] == [
        ("eager", None), ("compile", "reduce-overhead"), ("onnxruntime", None)]
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'; valid: compile, cudagraphs, eager, onnxruntime"):
        expand_grid(["mobilenet"], ["skip"], runtimes=["tensorrt"], device="cpu")


def test_a_suite_names_its_runtimes():
    spec = spec_from_toml({"grid": {"models": ["enet"], "runtimes": ["eager", "onnxruntime"], "devices": ["cpu"],
                                    "compile_mode": "max-autotune"}})
    assert [c.runtime for c in spec.cells()] == ["eager", "onnxruntime"]


def test_tolerances_are_relative_to_the_logits_and_catch_nan():
    reference = torch.zeros(1, 3, 4, 4)
    reference[:, 0] = 10.0
    near = reference + 0.05  # 0.5% of the largest logit
    assert agreement(reference, near) == (pytest.approx(0.05, rel=1e-5), 1.0)
    assert disagreement(reference, near, 0.05, 1.0, "fp32") is None
    assert "max |logit difference| 0.5 > 0.1" in disagreement(reference, reference + 0.5, 0.5, 1.0, "fp32")
    assert disagreement(reference, reference + 0.5, 0.5, 1.0, "bf16") is None
    assert "max |logit difference| nan" in disagreement(reference, reference, float("nan"), 1.0, "fp32")
    assert "argmax agrees on 50.0%" in disagreement(reference, reference, 0.0, 0.5, "fp32")
    assert "shape (1, 3, 2, 2)" in disagreement(reference, torch.zeros(1, 3, 2, 2), float("nan"), 0.0, "fp32")


def test_the_cli_runs_each_runtime_as_a_row(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["grid", "--models", tiny, "--runtime", "eager,onnxruntime,cudagraphs", "--size", "32", "--num-classes",
               "3", "--device", "cpu", "--threads", "1", "--profile-only", "--out", str(out), *FAST_CLI])
    assert rc == 0, capsys.readouterr().err
    table = pd.read_csv(out / "table.csv").set_index("runtime")
    assert table["status"].to_dict() == {"eager": "ok", "onnxruntime": "ok", "cudagraphs": "not_applicable"}
    assert table.loc["onnxruntime", "export_s"] > 0 and math.isnan(table.loc["eager", "export_s"])
    assert "onnxruntime" in capsys.readouterr().out  # the terminal table has a runtime column


@pytest.mark.parametrize(("args", "message"), [
    (["--runtime", "tensorrt"], "unknown runtime 'tensorrt'; valid: compile, cudagraphs, eager, onnxruntime"),
    (["--runtime", ""], "--runtime must be a non-empty list"),
    (["--compile-mode", "fast"], "--compile-mode must be one of default, reduce-overhead, max-autotune"),
])
def test_the_cli_refuses_an_unknown_runtime_in_one_line(args, message, capsys, tmp_path):
    rc = main(["grid", "--profile-only", *args, "--out", str(tmp_path / "r")])
    assert_one_line(capsys, rc, message)


def test_without_the_onnx_extra_the_cli_says_how_to_get_it(monkeypatch, capsys, tmp_path):
    from segbench.runtimes import onnx_runtime

    monkeypatch.setattr(onnx_runtime, "NEEDED", ("onnx", "segbench_no_such_module"))
    rc = main(["grid", "--profile-only", "--runtime", "eager,onnxruntime", "--out", str(tmp_path / "r")])
    assert_one_line(capsys, rc, "runtime 'onnxruntime' needs segbench_no_such_module", 'pip install "segbench[onnx]"')
