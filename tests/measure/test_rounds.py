"""Latency rounds: interleaved across cells, kept on resume, and the gate that tests on them.

The two tests at the end are the gate's proof on a real machine: the same
grid run twice under a competing CPU load passes ``segbench compare``, and a
decoder doing twice the work fails it, on latency alone.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from segbench.cell import CellConfig
from segbench.cli import main
from segbench.compare import NOT_COMPARABLE, OK, REGRESSION, compare_runs
from segbench.measure.latency import MIN_ROUND_ITERS, LatencyStats, TimingConfig
from segbench.rounds import RoundsWarning, rounds_done, with_round
from segbench.rundir import RunDir
from segbench.runner import LocalExecutor, run_grid
from tests.conftest import FAST_TIMING
from tests.measure.busy import cpu_load


def _cells(*decoders: str) -> list[CellConfig]:
    return [CellConfig("mobilenet", d, 32, 32, num_classes=3, threads=1) for d in decoders]


def test_the_median_is_that_of_the_round_medians():
    one = LatencyStats((1.0, 2.0, 9.0), warmup_iters=1, warmup_s=0.0, batch_size=1)
    assert one.rounds == (2.0,) and one.median == 2.0 and math.isnan(one.round_iqr_rel)
    three = one.with_round((4.0, 4.0, 5.0)).with_round((3.0, 3.5, 3.0))
    assert three.rounds == (2.0, 4.0, 3.0) and three.median == 3.0
    assert three.samples_ms == (1.0, 2.0, 9.0, 4.0, 4.0, 5.0, 3.0, 3.5, 3.0)  # percentiles: every iteration
    assert three.round_iqr_rel == pytest.approx((3.5 - 2.5) / 3.0)  # numpy's quartiles of 2, 3, 4


def test_rounds_share_a_cells_timing_budget():
    cpu = TimingConfig(warmup_iters=3, warmup_s=0.5, min_iters=10, min_s=2.0, max_s=20.0)
    assert cpu.per_round(1) == cpu
    five = cpu.per_round(5)
    assert (five.min_s, five.max_s, five.warmup_s) == pytest.approx((0.4, 4.0, 0.1))
    assert five.min_iters == MIN_ROUND_ITERS and five.warmup_iters == 3  # a round's median needs a few samples
    assert TimingConfig(10, 2.0, 100, 3.0, 60.0).per_round(5).min_iters == 20
    from segbench.spec import MeasureSpec

    assert MeasureSpec(rounds=5, min_time=2.0).timing("cpu").min_s == pytest.approx(0.4)


def test_rounds_interleave_across_cells_and_update_every_latency_field(tmp_path: Path):
    order: list[tuple[str, int]] = []
    cells = _cells("skip", "unet")
    result = run_grid(cells, tmp_path / "run", LocalExecutor(), timing=FAST_TIMING, rounds=3,
                      on_round=lambda cell_id, n: order.append((cell_id.split("__")[1], n)))
    assert order == [("skip", 2), ("unet", 2), ("skip", 3), ("unet", 3)]  # round 2 over every cell, then 3
    assert len(result.rounds_ran) == 4
    for record in RunDir(tmp_path / "run").records():
        rounds = record["latency_round_ms"]
        assert record["latency_rounds"] == len(rounds) == 3
        assert record["timed_iters"] == len(record["latency_samples_ms"]) >= 3 * FAST_TIMING.min_iters
        assert record["latency_ms_median"] == pytest.approx(sorted(rounds)[1])
        assert record["throughput_img_s"] == pytest.approx(1000 / record["latency_ms_median"])
        assert record["latency_round_iqr_rel"] >= 0
        # the roofline divides by the median: it follows the rounds
        assert record["roofline_fraction"] == pytest.approx(record["roofline_floor_ms"] / record["latency_ms_median"])
    assert result.table["latency_rounds"].tolist() == [3, 3]


def test_a_resumed_run_keeps_its_rounds_and_tops_up_the_rest(tmp_path: Path):
    out, cells = tmp_path / "run", _cells("skip", "unet")

    def stop_after_one(cell_id: str, number: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C once round 2 of the first cell is on disk

    first = run_grid(cells, out, LocalExecutor(), timing=FAST_TIMING, rounds=3, on_round=stop_after_one)
    assert first.interrupted
    kept = {r["cell_id"]: r["latency_round_ms"] for r in RunDir(out).records()}
    assert sorted(map(len, kept.values())) == [1, 2]
    again = run_grid(cells, out, LocalExecutor(), timing=FAST_TIMING, rounds=3)
    assert not again.interrupted and again.reused == [c.cell_id for c in cells] and again.ran == []
    assert len(again.rounds_ran) == 3  # 1 round for the cell that had 2, 2 for the other
    for record in RunDir(out).records():
        rounds = record["latency_round_ms"]
        assert len(rounds) == 3 and rounds[:len(kept[record["cell_id"]])] == kept[record["cell_id"]]
    assert run_grid(cells, out, LocalExecutor(), timing=FAST_TIMING, rounds=3).rounds_ran == []  # all there


@pytest.mark.slow  # two fresh processes, each importing torch
def test_the_subprocess_executor_times_a_round_in_one_child(tmp_path: Path):
    from segbench.executors.subprocess import SubprocessExecutor

    run_grid(_cells("skip"), tmp_path / "run", SubprocessExecutor(), timing=FAST_TIMING, rounds=2)
    [record] = RunDir(tmp_path / "run").records()
    assert record["latency_rounds"] == 2 and record["executor"] == "subprocess"


def test_an_executor_without_rounds_keeps_one_and_says_so(tmp_path: Path):
    class OneRound(LocalExecutor):
        name = "oneround"
        time_round = None  # as the Ray executor: no way to time a round

    with pytest.warns(RoundsWarning, match="the oneround executor times one latency round per cell"):
        run_grid(_cells("skip"), tmp_path / "run", OneRound(), timing=FAST_TIMING, rounds=3)
    assert rounds_done(RunDir(tmp_path / "run").records()[0]) == 1


def test_a_record_from_before_rounds_is_one_round():
    old = {"latency_samples_ms": [3.0, 1.0, 2.0], "warmup_iters": 1, "time_warmup_s": 0.1, "batch_size": 1}
    assert rounds_done(old) == 1
    new = with_round(old, [4.0, 4.0, 4.0])
    assert new["latency_round_ms"] == [2.0, 4.0] and new["latency_ms_median"] == 3.0 and rounds_done(new) == 2


def test_rounds_is_an_option_and_a_suite_key(tmp_path: Path, capsys):
    rc = main(["grid", "--profile-only", "--device", "cpu", "--rounds", "0", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "--rounds must be a whole number at least 1, not 0" in err and err.count("\n") == 1
    from segbench.suites import load_suite

    path = tmp_path / "s.toml"
    path.write_text('[grid]\nencoders = ["mobilenet"]\ndecoders = ["skip"]\n[measure]\nrounds = 7\n')
    assert load_suite(str(path)).spec.measure.rounds == 7


# --------------------------------------------------------------------------- the gate, on a real machine

#: A profile-only grid of tiny models, one thread each; every cell timed in 5 rounds (the default).
SUITE = """\
[suite]
name = "gate"

[grid]
encoders = ["mobilenet"]
decoders = [{decoders}]
sizes = ["{size}"]
devices = ["cpu"]
num_classes = 3
threads = 1

[measure]
warmup_iters = 1
min_iters = 25   # per cell, shared by its 5 rounds: 5 iterations and 0.3 s a round
min_time = 1.5

[compare]
memory_gate = false   # a tiny model's resident-set peak on CPU is noise; latency is what is tested here
"""


def _suite(tmp_path: Path, size: str, *decoders: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(SUITE.format(size=size, decoders=", ".join(f'"{d}"' for d in decoders)))
    return path


@contextmanager
def _plugin(monkeypatch: pytest.MonkeyPatch, module: str) -> Iterator[None]:
    """``module`` as the one plug-in of the block (segbench's main imports it); the registry restored after."""
    from segbench.models import DECODERS

    with monkeypatch.context() as patch, DECODERS.restoring():  # the variable too: a later main() loads no plug-in
        patch.setenv("SEGBENCH_PLUGINS", module)
        try:
            yield
        finally:
            sys.modules.pop(module, None)  # the next block imports (and registers) its own


def test_the_same_grid_twice_under_load_passes_the_gate(tmp_path: Path, capsys):
    suite = _suite(tmp_path, "32x32", "skip", "unet")
    base, cur = tmp_path / "base", tmp_path / "cur"
    with cpu_load():
        assert main(["run", str(suite), "--out", str(base)]) == 0
        assert main(["run", str(suite), "--out", str(cur)]) == 0
    for record in [*RunDir(base).records(), *RunDir(cur).records()]:
        assert record["latency_rounds"] == 5
    capsys.readouterr()
    assert main(["compare", str(base), str(cur), "--suite", str(suite)]) == 0, capsys.readouterr().out
    latency = [f for f in compare_runs(base, cur).findings if f.metric == "latency_ms_median"]
    assert len(latency) == 2 and all(f.verdict in (OK, NOT_COMPARABLE) for f in latency)


def test_a_decoder_doing_twice_the_work_fails_the_gate(tmp_path: Path, capsys, monkeypatch):
    suite = _suite(tmp_path, "64x64", "work")  # the decoder is most of the time at 64x64
    base, cur = tmp_path / "base", tmp_path / "cur"
    with _plugin(monkeypatch, "tests.measure.plugins_work"):
        assert main(["run", str(suite), "--out", str(base)]) == 0
    with _plugin(monkeypatch, "tests.measure.plugins_work_x2"):  # the same cell, twice the decoder's work
        assert main(["run", str(suite), "--out", str(cur)]) == 0
    assert [r["cell_id"] for r in RunDir(base).records()] == [r["cell_id"] for r in RunDir(cur).records()]
    comparison = compare_runs(base, cur)
    [latency] = [f for f in comparison.findings if f.metric == "latency_ms_median"]
    if latency.message.startswith("noisy"):  # the gate is right to refuse; the proof needs a machine that can time
        pytest.skip(f"this machine's timing is too noisy to show a slowdown: {latency.message}")
    capsys.readouterr()
    with _plugin(monkeypatch, "tests.measure.plugins_work"):  # the suite names the plug-in's decoder
        assert main(["compare", str(base), str(cur), "--suite", str(suite)]) == 1
    shown = capsys.readouterr().out
    metrics = {f.metric for f in comparison.regressions}  # memory (RSS) may move too: its gate is off in the suite
    assert "latency_ms_median" in metrics and not metrics & {"params", "gflops"}, shown  # params, GFLOPs: equal
    [finding] = [f for f in comparison.regressions if f.metric == "latency_ms_median"]
    assert finding.verdict == REGRESSION and "5 vs 5 rounds" in finding.message
