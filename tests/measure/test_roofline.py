"""The roofline: per-op work by hand, the ceilings probe, and the columns of a real tiny grid."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from segbench.config import CellConfig
from segbench.measure import ceilings as ceilings_module
from segbench.measure.flops import count_flops
from segbench.measure.roofline import op_floor_s, roofline
from segbench.measure.workload import Workload, capture_workload
from segbench.models import build_model
from segbench.plots import make_plots
from segbench.runner import run_grid


def workload_of(model: nn.Module, size: tuple[int, int], precision: str = "fp32", in_channels: int = 3) -> Workload:
    return capture_workload(model, size, count_flops(model, size, in_channels).macs_by_module, precision,
                            in_channels)


def floor_ms(workload: Workload, batch: int, peak: float, bandwidth: float) -> float:
    return roofline(workload.to_dict(), batch, 1.0, peak, bandwidth).roofline_floor_ms


@pytest.mark.parametrize(("precision", "itemsize"), [("fp32", 4), ("bf16", 2)])
def test_the_floor_of_one_conv_is_the_hand_computed_max(precision: str, itemsize: int) -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    work = workload_of(conv, (16, 16), precision)
    (op,) = work.ops
    flops = 2 * 8 * 16 * 16 * 3 * 3 * 3  # 2 x MACs of every output element
    activations = (3 + 8) * 16 * 16 * itemsize  # input read once, output written once
    weights = (8 * 3 * 3 * 3 + 8) * itemsize
    assert (op.flops, op.activation_bytes, op.weight_bytes) == (flops, activations, weights)
    batch = 4
    for peak, bandwidth, bound in [(1e9, 1e12, "compute"), (1e15, 1e9, "memory")]:
        expected_s = max(batch * flops / peak, (batch * activations + weights) / bandwidth)
        assert expected_s == op_floor_s(batch * flops, batch * activations + weights, peak, bandwidth)
        result = roofline(work.to_dict(), batch, 2.0, peak, bandwidth)
        assert result.roofline_floor_ms == pytest.approx(expected_s * 1e3)
        assert result.roofline_fraction == pytest.approx(expected_s * 1e3 / 2.0)
        assert result.roofline_bound == bound
        assert result.achieved_gflop_s == pytest.approx(batch * flops / 2e-3 / 1e9)
        assert result.arith_intensity == pytest.approx(batch * flops / (batch * activations + weights))


def test_views_move_nothing_and_a_linear_moves_its_tensors_once() -> None:
    """Flatten (a view) and Identity (an alias) are no ops; the Linear reads 48 inputs and writes 5 outputs."""
    model = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    work = workload_of(model, (4, 4))
    (op,) = work.ops
    assert op.name == "2"
    assert (op.flops, op.activation_bytes, op.weight_bytes) == (2 * 48 * 5, (48 + 5) * 4, (48 * 5 + 5) * 4)
    assert work.io_bytes == (48 + 5) * 4 and work.weight_bytes == (48 * 5 + 5) * 4


class CatAdd(nn.Module):
    """Functional calls outside leaf modules: a concatenation, an out-of-place add and an in-place ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.conv(x), x], dim=1)
        return torch.relu_(y + 1.0)


def test_functional_calls_outside_modules_are_ops_too() -> None:
    n = 2 * 8 * 8  # elements of the input and of the conv's output
    work = workload_of(CatAdd(), (8, 8), in_channels=2)
    by_name = {op.name: op for op in work.ops}
    assert set(by_name) == {"conv", "<model>:cat", "<model>:add", "<model>:relu_"}
    assert by_name["<model>:cat"].activation_bytes == (n + n + 2 * n) * 4
    assert by_name["<model>:add"].activation_bytes == (2 * n + 2 * n) * 4
    assert by_name["<model>:relu_"].activation_bytes == (2 * n + 2 * n) * 4  # in place: read and written


def test_a_real_model_keeps_every_flop_and_the_whole_model_bound_is_below_the_floor() -> None:
    model = build_model("resnet18", "unet", 5)
    flops = count_flops(model, (32, 32))
    work = capture_workload(model, (32, 32), flops.macs_by_module)
    assert work.flops == pytest.approx(2e9 * flops.gmacs)
    assert any(":" in op.name for op in work.ops)  # the decoder's skip additions
    for peak, bandwidth in [(1e10, 1e10), (1e14, 1e10), (1e10, 1e14)]:
        result = roofline(work.to_dict(), 2, 100.0, peak, bandwidth)
        assert 0 < result.roofline_model_ms <= result.roofline_floor_ms


def test_the_probe_measures_positive_ceilings_and_says_how() -> None:
    config = ceilings_module.ProbeConfig(min_n=64, max_n=128, target_ms=1.0, copy_bytes=2**20, warmup_s=0.0,
                                         min_repeats=2, min_s=0.0, max_s=0.2)
    probed = ceilings_module.probe_device(torch.device("cpu"), ["fp32", "bf16"], threads=1, config=config)
    assert set(probed["matmul"]) == {"fp32", "bf16"} and probed["threads"] == 1
    for ceiling in [*probed["matmul"].values(), probed["bandwidth"]]:
        assert ceiling["value"] > 0 and ceiling["repeats"] >= 2 and ceiling["statistic"] and ceiling["how"]
    assert probed["matmul"]["fp32"]["size"] in (64, 128) and probed["bandwidth"]["size"] == 2**20


def test_a_cpu_reduced_precision_roof_is_never_below_fp32s() -> None:
    """Where bf16 has no arithmetic of its own its product is slow, but its convolutions run at fp32's rate."""
    config = ceilings_module.ProbeConfig.for_device(torch.device("cpu"))
    fp32 = ceilings_module.Ceiling(9e10, "FLOP/s", "torch.mm fp32", 1024, 3)
    slow, fast = (ceilings_module.Ceiling(v, "FLOP/s", "torch.mm bf16", 256, 3) for v in (1.4e9, 2e11))
    raised = ceilings_module.at_least_fp32({"fp32": fp32, "bf16": slow}, torch.device("cpu"), config)
    assert raised["bf16"].value == fp32.value and "above torch.mm in bf16 here (1.4 GFLOP/s)" in raised["bf16"].how
    assert raised["fp32"] == fp32
    kept = ceilings_module.at_least_fp32({"fp32": fp32, "bf16": fast}, torch.device("cpu"), config)
    assert kept["bf16"] == fast  # native bf16 (AMX, AVX512-BF16): its own, faster, roof
    alone = ceilings_module.at_least_fp32({"bf16": slow}, torch.device("cpu"), config)  # fp32 probed for it
    assert alone["bf16"].value > slow.value and set(alone) == {"bf16"}


def test_a_grid_probes_once_per_run_and_every_ok_cell_is_under_its_roof(tmp_path: Path, fast_timing, monkeypatch):
    probes: list[set[str]] = []
    probe = ceilings_module.probe_device

    def counted(device, precisions, threads=None, config=None):
        probes.append(set(precisions))
        return probe(device, precisions, threads, config)

    monkeypatch.setattr(ceilings_module, "probe_device", counted)
    cells = [CellConfig("resnet18", "skip", 32, 32, num_classes=5, threads=1, precision=p) for p in ("fp32", "bf16")]
    result = run_grid(cells, tmp_path, timing=fast_timing)
    run_json = json.loads((tmp_path / "run.json").read_text())
    cpu = run_json["ceilings"]["cpu"]
    assert probes == [{"fp32", "bf16"}] and cpu["threads"] == 1
    assert all(cpu["matmul"][p]["value"] > 0 for p in ("fp32", "bf16")) and cpu["bandwidth"]["value"] > 0
    table = result.table
    assert (table["status"] == "ok").all()
    assert ((table["roofline_fraction"] > 0) & (table["roofline_fraction"] <= 1)).all(), table["roofline_fraction"]
    assert set(table["roofline_bound"]) <= {"compute", "memory"}
    assert (table["roofline_model_ms"] <= table["roofline_floor_ms"]).all()
    expected = 1e3 * table["gflops"] * table["batch_size"] / table["latency_ms_median"]
    assert table["achieved_gflop_s"].tolist() == pytest.approx(expected.tolist())
    assert sorted(table["peak_gflop_s"]) == pytest.approx(sorted(cpu["matmul"][p]["value"] / 1e9
                                                                 for p in ("fp32", "bf16")))

    # Resumed with one more cell at a precision already probed: the run's ceilings stand, unprobed.
    more = [*cells, CellConfig("mobilenet", "skip", 32, 32, num_classes=5, threads=1)]
    run_grid(more, tmp_path, timing=fast_timing)
    assert len(probes) == 1 and json.loads((tmp_path / "run.json").read_text()) == run_json
    assert (tmp_path / "plots" / "roofline.png") in make_plots([tmp_path], tmp_path / "plots", report=lambda _: None)


def test_a_failed_probe_costs_the_roofline_columns_only(tmp_path: Path, fast_timing, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(ceilings_module, "probe_device", broken)
    with pytest.warns(RuntimeWarning, match="ceilings probe failed.*no such kernel"):
        result = run_grid([CellConfig("mobilenet", "skip", 32, 32, num_classes=5, threads=1)], tmp_path,
                          timing=fast_timing)
    row = result.table.iloc[0]
    assert row["status"] == "ok" and math.isnan(row["roofline_fraction"]) and row["latency_ms_median"] > 0
