"""The CI gate: a run compared with itself passes; each kind of regression fails it.

Run directories are written synthetically (records, run.json, table.csv): no
training, no timing, so every number below is known exactly.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from segbench.compare import (
    IMPROVEMENT,
    INFO,
    NOT_COMPARABLE,
    OK,
    REGRESSION,
    Tolerances,
    compare_runs,
    comparison_table,
    exact_u_tail,
    mann_whitney_u,
    update_baseline,
)
from segbench.results import write_json_atomic
from segbench.rundir import write_record, write_table

CPU_ENV = {"torch": "2.5.0", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "gpu": None}
GPU_ENV = {"torch": "2.5.0", "cpu": "AMD EPYC", "gpu": "NVIDIA H100 80GB HBM3"}
BASE_SAMPLES = list(10.0 + np.random.default_rng(0).normal(0.0, 0.2, 40))


def record(encoder: str = "mobilenet", decoder: str = "skip", **changes: Any) -> dict[str, Any]:
    """A finished cell's record; ``latency_samples_ms`` sets the latency columns."""
    rec: dict[str, Any] = {
        "encoder": encoder, "decoder": decoder, "input_h": 96, "input_w": 96, "batch_size": 1,
        "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 8,
        "dataset": "synthetic", "seed": 0, "eval_split": "test", "threads": 2,
        "params": 3_239_848, "gmacs": 0.109054224, "gflops": 0.218108448,
        "peak_mem_mib": 100.0, "mem_method": "rss_hwm_above_baseline", "miou": 50.0,
        "status": "ok", "error": None, "latency_samples_ms": BASE_SAMPLES,
    }
    rec.update(changes)
    samples = rec["latency_samples_ms"]
    if samples:
        rec.update(latency_ms_median=float(np.median(samples)), latency_ms_mean=float(np.mean(samples)))
    if rec["status"] != "ok":
        rec.update(dict.fromkeys(("params", "gmacs", "gflops", "peak_mem_mib", "miou", "latency_ms_median"),
                                 math.nan), latency_samples_ms=[])
    seed = f"__s{rec['seed']}" if rec["dataset"] else ""
    rec["cell_id"] = f"{encoder}__{decoder}__96x96__b1__fp32__{rec['device']}__c8{seed}"
    return rec


def make_run(path: Path, records: list[dict[str, Any]], env: dict[str, Any] | None = None) -> Path:
    write_json_atomic(path / "run.json", {"environment": env or CPU_ENV})
    for rec in records:
        write_record(path, rec)
    write_table(path)
    return path


def grid(**changes: Any) -> list[dict[str, Any]]:
    """Two cells; ``changes`` apply to the mobilenet + skip one."""
    return [record(**changes), record("resnet18", "unet", params=11_529_672, gflops=0.756039168)]


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return make_run(tmp_path / "baseline", grid())


def verdicts(comparison, metric: str) -> list[str]:
    return [f.verdict for f in comparison.findings if f.metric == metric]


# --------------------------------------------------------------------------- Mann-Whitney


def test_mann_whitney_matches_a_hand_computed_case():
    # x = 3 5 6 8, y = 1 2 3 4. Ranks of the 8 values: 1 2 3.5 3.5 5 6 7 8 (the 3s tie),
    # so R_x = 3.5 + 6 + 7 + 8 = 24.5 and U_x = 24.5 - 4*5/2 = 14.5 (= pairs with x > y, ties 1/2).
    # mean n1 n2 / 2 = 8; variance 4*4/12 * (9 - (2^3 - 2) / (8*7)) = 83/7 (tie-corrected);
    # z = (14.5 - 8 - 0.5 continuity) / sqrt(83/7) = 1.7425; one-sided p = 1 - Phi(z) = 0.0407.
    u, p = mann_whitney_u([3, 5, 6, 8], [1, 2, 3, 4])
    assert u == 14.5
    assert p == pytest.approx(0.040715, abs=1e-6)
    u, p = mann_whitney_u([1, 2, 3, 4], [3, 5, 6, 8])  # the other direction: U = 16 - 14.5
    assert u == 1.5
    assert p == pytest.approx(0.97897, abs=1e-5)


def test_mann_whitney_is_exact_for_small_untied_samples():
    # 5 vs 5 with no overlap: only 1 of the C(10, 5) = 252 orderings has U = 25, so p = 1/252,
    # where the normal approximation says 0.0061.
    u, p = mann_whitney_u([6, 7, 8, 9, 10], [1, 2, 3, 4, 5])
    assert (u, p) == (25.0, pytest.approx(1 / 252, abs=1e-12))
    # x = 2 4 6, y = 1 3 5: U = 6; of the 20 orderings, U >= 6 in 7 (the table 1 1 2 3 3 3 3 2 1 1).
    assert mann_whitney_u([2, 4, 6], [1, 3, 5]) == (6.0, pytest.approx(7 / 20))
    assert exact_u_tail(0, 4, 6) == 1.0


def test_a_noisy_timing_is_not_comparable_never_a_regression(tmp_path: Path, baseline: Path):
    slow = [s * 3 for s in BASE_SAMPLES]
    current = make_run(tmp_path / "current", grid(latency_samples_ms=slow, latency_iqr_rel=0.69))
    comparison = compare_runs(baseline, current)
    [finding] = [f for f in comparison.findings if f.metric == "latency_ms_median" and "mobilenet" in f.cell]
    assert finding.verdict == "not_comparable" and comparison.ok
    assert "noisy, not comparable: latency IQR / median current 0.69 above 0.1" in finding.message
    clean = make_run(tmp_path / "clean", grid(latency_samples_ms=slow, latency_iqr_rel=0.02))
    assert not compare_runs(baseline, clean).ok  # the same slowdown, timed cleanly, is a regression


def test_mann_whitney_without_spread_is_no_evidence():
    assert mann_whitney_u([5.0, 5.0], [5.0, 5.0, 5.0]) == (3.0, 1.0)
    with pytest.raises(ValueError, match="at least one sample on each side"):
        mann_whitney_u([], [1.0])


# --------------------------------------------------------------------------- the gate


def test_unchanged_run_passes(baseline: Path):
    comparison = compare_runs(baseline, baseline)
    assert comparison.ok and comparison.regressions == []
    assert {f.verdict for f in comparison.findings} == {OK}
    assert {f.metric for f in comparison.findings} == {
        "status", "params", "gflops", "latency_ms_median", "peak_mem_mib", "miou"}
    assert comparison.added == comparison.removed == []
    assert "No regressions" in comparison.to_markdown()


@pytest.mark.parametrize(
    ("metric", "changes"),
    [
        ("params", {"params": 3_239_849}),
        ("gflops", {"gflops": 0.218108448 * 1.001}),
        ("latency_ms_median", {"latency_samples_ms": [s * 1.3 for s in BASE_SAMPLES]}),
        ("peak_mem_mib", {"peak_mem_mib": 120.0}),
        ("miou", {"miou": 48.0}),
        ("status", {"status": "oom", "error": "OutOfMemoryError: CUDA out of memory"}),
    ],
)
def test_each_kind_of_regression_fails_the_gate(tmp_path: Path, baseline: Path, metric: str, changes: dict):
    current = make_run(tmp_path / "current", grid(**changes))
    comparison = compare_runs(baseline, current)
    assert not comparison.ok
    [regression] = comparison.regressions
    assert regression.metric == metric
    assert regression.cell.startswith("mobilenet__skip")
    assert regression.key["encoder"] == "mobilenet"
    if metric == "status":
        assert regression.message == "newly failing: OutOfMemoryError: CUDA out of memory"


def test_gflops_float_noise_is_not_a_change(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(gflops=0.218108448 * (1 + 1e-12)))
    assert verdicts(compare_runs(baseline, current), "gflops") == [OK, OK]


def test_slower_latency_message_and_p_value(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(latency_samples_ms=[s * 1.3 for s in BASE_SAMPLES]))
    [finding] = compare_runs(baseline, current).regressions
    assert finding.current / finding.baseline == pytest.approx(1.3)
    assert "significant" in finding.message and "x1.30" in finding.message


def test_slower_median_on_overlapping_samples_is_not_flagged(tmp_path: Path):
    # Medians 10 vs 13 (x1.3), but the samples interleave: no evidence at alpha 0.01.
    base = make_run(tmp_path / "b", [record(latency_samples_ms=[8.0, 9.0, 10.0, 14.0, 15.0])])
    cur = make_run(tmp_path / "c", [record(latency_samples_ms=[8.5, 9.5, 13.0, 14.5, 15.5])])
    [finding] = [f for f in compare_runs(base, cur).findings if f.metric == "latency_ms_median"]
    assert finding.current / finding.baseline == pytest.approx(1.3)
    assert finding.verdict == OK
    assert "not significant" in finding.message


def test_five_percent_slower_is_within_the_factor(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(latency_samples_ms=[s * 1.05 for s in BASE_SAMPLES]))
    comparison = compare_runs(baseline, current)
    assert comparison.ok
    assert verdicts(comparison, "latency_ms_median") == [OK, OK]


def test_faster_and_smaller_are_improvements(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(latency_samples_ms=[s * 0.7 for s in BASE_SAMPLES],
                                                  peak_mem_mib=50.0, miou=55.0))
    comparison = compare_runs(baseline, current)
    assert comparison.ok
    improved = [f.metric for f in comparison.by_verdict(IMPROVEMENT)]
    assert improved == ["latency_ms_median", "peak_mem_mib", "miou"]


def test_table_csv_alone_falls_back_to_the_factor_test(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(latency_samples_ms=[s * 1.3 for s in BASE_SAMPLES]))
    alone = {}
    for side, run in (("baseline", baseline), ("current", current)):  # a table.csv with no records beside it
        (tmp_path / f"{side}-csv").mkdir()
        alone[side] = shutil.copy(run / "table.csv", tmp_path / f"{side}-csv" / "table.csv")
    comparison = compare_runs(alone["baseline"], alone["current"])
    [finding] = comparison.regressions
    assert finding.metric == "latency_ms_median"
    assert "factor test only" in finding.message
    assert any("factor test only" in note for note in comparison.notes)
    assert compare_runs(alone["baseline"], baseline).ok


@pytest.mark.parametrize(
    ("env", "device", "why"),
    [
        ({**GPU_ENV, "gpu": "NVIDIA A100-SXM4-80GB"}, "cuda", "A100"),
        ({**GPU_ENV, "torch": "2.6.0"}, "cuda", "torch 2.5.0 vs 2.6.0"),
        ({**CPU_ENV, "cpu": "Intel Xeon"}, "cpu", "Intel Xeon"),
        ({**CPU_ENV, "cpu_capability": "AVX2"}, "cpu", "AVX512 vs AVX2 kernels"),
    ],
)
def test_other_device_or_torch_is_not_comparable(tmp_path: Path, env: dict, device: str, why: str):
    base_env = GPU_ENV if device == "cuda" else CPU_ENV
    base = make_run(tmp_path / "b", [record(device=device)], base_env)
    slower = [s * 2 for s in BASE_SAMPLES]
    cur = make_run(tmp_path / "c", [record(device=device, latency_samples_ms=slower, peak_mem_mib=300.0)],
                   env)
    comparison = compare_runs(base, cur)
    assert comparison.ok
    assert verdicts(comparison, "latency_ms_median") == [NOT_COMPARABLE]
    assert verdicts(comparison, "peak_mem_mib") == [NOT_COMPARABLE]
    assert all(why in f.message for f in comparison.by_verdict(NOT_COMPARABLE))
    assert "Not comparable (2)" in comparison.to_markdown()


def test_a_run_without_the_cpu_capability_compares_by_the_cpu_name(tmp_path: Path):
    """Runs from before ``cpu_capability`` was recorded: the capability is unknown, not a difference."""
    older = {k: v for k, v in CPU_ENV.items() if k != "cpu_capability"}
    base = make_run(tmp_path / "b", [record()], older)
    cur = make_run(tmp_path / "c", [record()], CPU_ENV)
    assert verdicts(compare_runs(base, cur), "latency_ms_median") == [OK]


def test_gpu_name_does_not_matter_for_cpu_cells(tmp_path: Path):
    base = make_run(tmp_path / "b", [record()], GPU_ENV)
    cur = make_run(tmp_path / "c", [record()], {**GPU_ENV, "gpu": "NVIDIA A100"})
    assert verdicts(compare_runs(base, cur), "latency_ms_median") == [OK]


def test_gates_off_make_latency_and_memory_informational(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(latency_samples_ms=[s * 1.3 for s in BASE_SAMPLES],
                                                  peak_mem_mib=150.0))
    comparison = compare_runs(baseline, current, Tolerances(latency_gate=False, memory_gate=False))
    assert comparison.ok
    assert [f.metric for f in comparison.by_verdict(INFO)] == ["latency_ms_median", "peak_mem_mib"]


def test_memory_slack_absorbs_small_absolute_changes(tmp_path: Path):
    base = make_run(tmp_path / "b", [record(peak_mem_mib=4.5)])
    cur = make_run(tmp_path / "c", [record(peak_mem_mib=5.3)])
    assert not compare_runs(base, cur).ok
    assert compare_runs(base, cur, Tolerances(memory_slack_mib=2.0)).ok


def test_status_transitions(tmp_path: Path):
    failed = {"status": "failed", "error": "RuntimeError: boom"}
    base = make_run(tmp_path / "b", [record(**failed), record("resnet18", "skip", **failed)])
    cur = make_run(tmp_path / "c", [record(**failed), record("resnet18", "skip")])
    comparison = compare_runs(base, cur)
    assert comparison.ok
    assert verdicts(comparison, "status") == [INFO, IMPROVEMENT]
    assert comparison.findings[0].message == "failing in both: RuntimeError: boom"
    assert [f.metric for f in comparison.findings] == ["status", "status"]  # no metrics without a baseline


def test_added_and_removed_cells_are_listed(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", [record(), record("resnet18", "skip")])
    comparison = compare_runs(baseline, current, Tolerances(fail_on_removed=False))
    assert comparison.ok
    assert comparison.added == ["resnet18__skip__96x96__b1__fp32__cpu__c8__s0"]
    assert comparison.removed == ["resnet18__unet__96x96__b1__fp32__cpu__c8__s0"]
    markdown = comparison.to_markdown()
    assert "### Added cells (1)" in markdown and "### Removed cells (1)" in markdown

    strict = compare_runs(baseline, current)  # the default: a partial run does not pass the gate
    assert not strict.ok
    [regression] = strict.regressions
    assert (regression.metric, regression.cell) == ("cell", "resnet18__unet__96x96__b1__fp32__cpu__c8__s0")


def test_empty_keys_match_between_csv_and_records(tmp_path: Path):
    # --profile-only cells: no dataset, no seed; table.csv reads them back as NaN.
    cells = [record(dataset=None, seed=None, miou=math.nan)]
    base = make_run(tmp_path / "b", cells)
    comparison = compare_runs(base / "table.csv", make_run(tmp_path / "c", cells))
    assert comparison.ok and comparison.added == comparison.removed == []
    assert "miou" not in {f.metric for f in comparison.findings}


def test_ignore_keys_matches_across_seeds(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", [record(seed=1, miou=47.0)])
    assert compare_runs(baseline, current).added == ["mobilenet__skip__96x96__b1__fp32__cpu__c8__s1"]
    comparison = compare_runs(baseline, current, Tolerances(fail_on_removed=False), ignore_keys=["seed"])
    assert [f.metric for f in comparison.regressions] == ["miou"]
    assert "seed" not in comparison.regressions[0].key
    with pytest.raises(ValueError, match=r"unknown key column.*valid: encoder"):
        compare_runs(baseline, current, ignore_keys=["sed"])


def test_missing_run_is_named(tmp_path: Path, baseline: Path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        compare_runs(baseline, tmp_path / "nowhere")


# --------------------------------------------------------------------------- tolerances


def test_tolerances_from_a_suite_table():
    tol = Tolerances.from_mapping({"latency-factor": 1.2, "miou_drop": 2, "latency_gate": False})
    assert tol == Tolerances(latency_factor=1.2, miou_drop=2.0, latency_gate=False)
    assert Tolerances.from_mapping({}) == Tolerances()
    with pytest.raises(ValueError, match=r"unknown \[compare\] key 'latency'.*latency_factor, alpha"):
        Tolerances.from_mapping({"latency": 1.2})
    with pytest.raises(ValueError, match="true or false"):
        Tolerances.from_mapping({"latency_gate": 0})
    with pytest.raises(ValueError, match="a number"):
        Tolerances.from_mapping({"alpha": "0.05"})
    with pytest.raises(ValueError, match="alpha"):
        Tolerances(alpha=1.5)


# --------------------------------------------------------------------------- reports


def test_markdown_has_the_headline_and_the_regression_rows(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(params=3_300_000, miou=45.0))
    comparison = compare_runs(baseline, current)
    markdown = comparison.to_markdown()
    assert markdown.startswith("## segbench compare: 2 regressions\n")
    assert "### Regressions (2)" in markdown
    cell = "| `mobilenet__skip__96x96__b1__fp32__cpu__c8__s0` |"
    assert f"{cell} params | 3,239,848 | 3,300,000 | +60,152 |" in markdown
    assert f"{cell} miou | 50.00 | 45.00 | -5.00 pts |" in markdown


def test_frame_and_rich_table(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(peak_mem_mib=130.0))
    comparison = compare_runs(baseline, current)
    frame = comparison.to_frame()
    assert len(frame) == len(comparison.findings) == 12
    assert frame.loc[frame["verdict"] == REGRESSION, ["encoder", "metric"]].values.tolist() == [
        ["mobilenet", "peak_mem_mib"]]
    console = Console(record=True, width=200)
    console.print(comparison_table(comparison))
    text = console.export_text()
    assert "1 regression" in text and "peak_mem_mib" in text and "x1.30" in text


# --------------------------------------------------------------------------- baseline update


def test_update_baseline_copies_the_run_and_then_compares_clean(tmp_path: Path, baseline: Path):
    current = make_run(tmp_path / "current", grid(params=3_300_000))
    (current / "train" / "cell").mkdir(parents=True)
    (current / "train" / "cell" / "last.pt").write_bytes(b"checkpoint")
    assert not compare_runs(baseline, current).ok

    assert update_baseline(current, baseline) == baseline
    assert sorted(p.name for p in baseline.iterdir()) == ["cells", "run.json", "table.csv"]
    assert len(list((baseline / "cells").glob("*.json"))) == 2
    assert json.loads((baseline / "run.json").read_text()) == {"environment": CPU_ENV}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline", "current"]  # no temp folders left
    assert compare_runs(baseline, current).ok

    fresh = update_baseline(current, tmp_path / "baselines" / "new")
    assert compare_runs(fresh, current).ok
    with pytest.raises(ValueError, match="already the baseline"):
        update_baseline(current, current)
    with pytest.raises(FileNotFoundError):
        update_baseline(tmp_path / "nowhere", baseline)


# --------------------------------------------------------------------------- a gate that compared nothing


def _empty_run(path: Path) -> Path:
    (path / "cells").mkdir(parents=True)
    return make_run(path, [])


@pytest.mark.parametrize("side", ["current", "baseline"])
def test_a_run_without_cells_is_refused_in_one_line(tmp_path: Path, baseline: Path, capsys, side: str):
    from segbench.cli import main

    empty = _empty_run(tmp_path / "empty")
    pair = [baseline, empty] if side == "current" else [empty, baseline]
    with pytest.raises(ValueError, match=rf"^{empty} holds no cell: nothing to compare$"):
        compare_runs(*pair)
    assert main(["compare", *map(str, pair)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {empty} holds no cell: nothing to compare\n"
    assert "No regressions" not in captured.out


def test_a_table_without_the_key_columns_is_refused(tmp_path: Path, baseline: Path, capsys):
    from segbench.cli import main

    bare = tmp_path / "bare.csv"
    bare.write_text("cell_id,miou,status\nmobilenet__skip,50.0,ok\n")
    with pytest.raises(ValueError, match=r"bare.csv lacks the key column\(s\) encoder, decoder, .*device"):
        compare_runs(baseline, bare)
    assert main(["compare", str(baseline), str(bare)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "nothing to compare" in err


def test_runs_with_no_cell_in_common_do_not_pass(tmp_path: Path, baseline: Path, capsys):
    from segbench.cli import main

    other = make_run(tmp_path / "other", [record("resnet18", "skip")])
    comparison = compare_runs(baseline, other, Tolerances(fail_on_removed=False))
    assert comparison.matched == 0 and comparison.regressions == [] and not comparison.ok
    assert comparison.headline().startswith("Nothing compared")
    assert main(["compare", str(baseline), str(other)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {compare_runs(baseline, other).headline()}\n"
    assert "No regressions" not in captured.out
    assert compare_runs(baseline, baseline).matched == 2


# --------------------------------------------------------------------------- latency rounds


def rounds_record(rounds: list[float], **changes: Any) -> dict[str, Any]:
    """A cell timed in rounds: its median is the rounds' median, its spread theirs."""
    rec = record(**changes)
    spread = (np.percentile(rounds, 75) - np.percentile(rounds, 25)) / np.median(rounds)
    rec.update(latency_round_ms=rounds, latency_ms_median=float(np.median(rounds)),
               latency_round_iqr_rel=float(spread) if len(rounds) > 1 else math.nan)
    return rec


def test_latency_is_tested_on_the_round_medians(tmp_path: Path):
    base_rounds = [10.0, 10.2, 9.9, 10.1, 10.05]
    base = make_run(tmp_path / "b", [rounds_record(base_rounds)])
    slower = make_run(tmp_path / "c", [rounds_record([r * 1.5 for r in base_rounds])])
    [finding] = [f for f in compare_runs(base, slower).findings if f.metric == "latency_ms_median"]
    assert finding.verdict == REGRESSION and "x1.50 slower, significant (p=0.004, 5 vs 5 rounds)" in finding.message
    # The same 40 raw samples on both sides: a test on them would find nothing; the rounds decide.
    assert compare_runs(base, make_run(tmp_path / "same", [rounds_record(base_rounds)])).ok


def test_rounds_that_overlap_are_not_significant(tmp_path: Path):
    base = make_run(tmp_path / "b", [rounds_record([10.0, 12.0, 10.5, 11.9, 10.2])])
    cur = make_run(tmp_path / "c", [rounds_record([12.1, 11.85, 13.5, 13.0, 12.5])])  # x1.19, two inversions
    [finding] = [f for f in compare_runs(base, cur, Tolerances(noisy_iqr=0.5)).findings
                 if f.metric == "latency_ms_median"]
    assert finding.verdict == OK and "not significant (p=0.016 >= 0.01, 5 vs 5 rounds)" in finding.message


def test_too_few_rounds_cannot_be_significant_and_say_so(tmp_path: Path):
    base = make_run(tmp_path / "b", [rounds_record([10.0, 10.1, 10.05])])
    cur = make_run(tmp_path / "c", [rounds_record([20.0, 20.1, 20.05])])
    [finding] = [f for f in compare_runs(base, cur).findings if f.metric == "latency_ms_median"]
    assert finding.verdict == NOT_COMPARABLE
    assert "x2.00 slower, but 3 vs 3 rounds cannot reach p < 0.01: time more rounds" in finding.message


def test_a_wide_spread_across_rounds_is_not_comparable(tmp_path: Path):
    base = make_run(tmp_path / "b", [rounds_record([10.0, 10.1, 10.05, 10.0, 10.1])])
    cur = make_run(tmp_path / "c", [rounds_record([14.0, 30.0, 15.0, 22.0, 16.0])])
    [finding] = [f for f in compare_runs(base, cur).findings if f.metric == "latency_ms_median"]
    assert finding.verdict == NOT_COMPARABLE and comparison_ok(base, cur)
    assert "noisy, not comparable: latency IQR / median across rounds current 0.44 above 0.1" in finding.message


def comparison_ok(base: Path, cur: Path) -> bool:
    return compare_runs(base, cur).ok


def test_a_baseline_from_before_rounds_is_tested_on_its_samples(tmp_path: Path, baseline: Path):
    cur = make_run(tmp_path / "c", [rounds_record([13.0, 13.1, 13.2, 13.05, 12.9], latency_samples_ms=[
        s * 1.3 for s in BASE_SAMPLES]), grid()[1]])
    [finding] = [f for f in compare_runs(baseline, cur).findings
                 if f.metric == "latency_ms_median" and "mobilenet" in f.cell]
    assert finding.verdict == REGRESSION and "40 vs 40 samples" in finding.message
