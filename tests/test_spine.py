"""The typed spine: a cell's configuration, its record, its run directory, read back the same way by every reader."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segbench.cli import main
from segbench.config import CellConfig, key_columns
from segbench.measure.latency import TimingConfig
from segbench.recipe import TrainConfig
from segbench.results import SCHEMA_VERSION, write_json_atomic
from segbench.rundir import NewerSchemaError, RunDir, upgrade, write_record, write_table
from segbench.suites import load_suite

SMOKE_BASELINE = Path(__file__).resolve().parent.parent / "results" / "baselines" / "smoke"
PROFILE_ONLY = ["grid", "--encoders", "mobilenet", "--decoders", "skip", "--size", "64x64", "--num-classes", "3",
                "--device", "cpu", "--profile-only", "--threads", "1", "--warmup-iters", "1", "--min-time", "0"]


def _record(**changes: Any) -> dict[str, Any]:
    record = {
        "encoder": "resnet18", "decoder": "unet", "input_h": 64, "input_w": 64, "batch_size": 1,
        "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 8, "pretrained": False,
        "dataset": "synthetic", "train_loss": "ce", "seed": 0, "eval_split": "test", "status": "ok",
        "error": None, "params": 14_000_000, "gmacs": 1.0, "gflops": 2.0, "latency_ms_median": 10.0,
        "latency_samples_ms": [9.0, 10.0, 11.0], "miou": 60.0, "fingerprint": "f", "cell_id": "resnet18__unet",
    }
    record.update(changes)
    return record


# --------------------------------------------------------------------------- configuration


def test_timing_is_part_of_the_cell_with_a_fingerprint_of_its_own():
    cell = CellConfig("mobilenet", "skip", 64, 64)
    slow = cell.__class__(**{**cell.__dict__, "timing": TimingConfig(1, 0.0, 50, 1.0, 20.0)})
    fast = cell.__class__(**{**cell.__dict__, "timing": TimingConfig(1, 0.0, 3, 0.1, 20.0)})
    assert slow.fingerprint == fast.fingerprint == cell.fingerprint  # the model and its scores: the same
    assert slow.measure_fingerprint != fast.measure_fingerprint  # how it is timed: not
    assert slow.key()["timing"]["min_iters"] == 50


def test_other_timing_settings_measure_a_cell_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*PROFILE_ONLY, "--min-iters", "15", "--out", str(out)]) == 0
    first = RunDir(out).records()[0]
    capsys.readouterr()
    assert main([*PROFILE_ONLY, "--min-iters", "15", "--out", str(out)]) == 0
    assert "reused 1 finished cell(s)" in capsys.readouterr().err  # the same settings: kept
    assert main([*PROFILE_ONLY, "--min-iters", "40", "--out", str(out)]) == 0
    assert "reused" not in capsys.readouterr().err  # other settings: measured again
    second = RunDir(out).records()[0]
    rounds = first["latency_rounds"]  # the rounds share --min-iters: 3 each, then 8 each
    assert rounds == second["latency_rounds"] == 5 and first["timed_iters"] == 15
    assert second["timed_iters"] == 40
    assert first["fingerprint"] == second["fingerprint"]
    assert first["measure_fingerprint"] != second["measure_fingerprint"]


def test_smoke_baseline_keeps_its_fingerprints():
    """Records written before the spine match today's suite: a field added since is left out of the hash."""
    recorded = {r["cell_id"]: r["fingerprint"] for r in RunDir(SMOKE_BASELINE).records()}
    cells = load_suite("smoke").cells
    assert {c.cell_id: c.fingerprint for c in cells} == recorded


def test_key_columns_come_from_the_configuration_fields():
    keys = key_columns()
    assert keys[:4] == ["encoder", "decoder", "input_h", "input_w"]
    assert {"pretrained", "train_loss", "train_label_smoothing", "seed"} <= set(keys)
    assert "threads" not in keys and "data_root" not in keys


def test_a_time_budget_is_not_the_time_taken():
    recipe = TrainConfig(time_s=30.0)
    key = CellConfig("mobilenet", "skip", 64, 64, dataset="synthetic", train=recipe).key()
    assert key["train_time_budget_s"] == 30.0 and "train_time_s" not in key
    old = upgrade({**_record(), "schema_version": 1, "train_budget": "30 s", "train_time_s": 31.2}, Path("x"))
    assert old["train_time_budget_s"] == 30.0 and old["train_time_s"] == 31.2


def test_a_time_budget_cell_records_both(tmp_path, small_synthetic):
    out = tmp_path / "run"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--dataset", "synthetic",
                 "--time-budget", "1", "--train-batch-size", "2", "--size", "64x64", "--device", "cpu",
                 "--val-split", "", "--warmup-iters", "1", "--min-iters", "2", "--min-time", "0",
                 "--out", str(out)]) == 0
    row = pd.read_csv(out / "table.csv").iloc[0]
    assert row["train_time_budget_s"] == 1.0
    assert row["train_time_s"] >= 1.0 and row["train_time_s"] != row["train_time_budget_s"]
    assert row["eval_time_s"] > 0  # scoring the evaluation split, timed on its own


# --------------------------------------------------------------------------- tables


def test_a_pretrained_and_a_scratch_cell_are_two_rows(tmp_path):
    from segbench.tables import long_table

    run = tmp_path / "run"
    write_record(run, _record(cell_id="scratch", miou=50.0))
    write_record(run, _record(cell_id="pre", pretrained=True, miou=70.0))
    write_table(run)
    table = long_table([run], ["miou"])
    assert table["mean"]["miou"].to_dict() == {"resnet18 + unet (pretrained=False)": 50.0,
                                               "resnet18 + unet (pretrained=True)": 70.0}
    assert table["n"]["miou"].tolist() == [1, 1]  # not two seeds of one model


def _readers(run: Path) -> dict[str, Any]:
    """What table, compare and plot each read from ``run``."""
    from segbench.compare import compare_runs
    from segbench.plots import load_runs
    from segbench.tables import long_table

    table = long_table([run], ["miou", "latency_ms_median"])["mean"]
    plotted, _ = load_runs([run])
    comparison = compare_runs(run, run)
    return {
        "table": table.to_dict(),
        "plot": plotted.set_index("cell_id")[["miou", "latency_ms_median"]].to_dict(),
        "compared": comparison.matched,
    }


def test_table_compare_and_plot_read_one_run_alike_whatever_table_csv_holds(tmp_path):
    run = tmp_path / "run"
    write_json_atomic(run / "run.json", {"environment": {"cpu": "x", "torch": "2"}})
    write_record(run, _record(cell_id="a", miou=60.0))
    write_record(run, _record(cell_id="b", decoder="skip", miou=55.0, latency_ms_median=5.0))
    write_table(run)
    fresh = _readers(run)
    assert fresh["plot"]["miou"] == {"a": 60.0, "b": 55.0} and fresh["compared"] == 2

    (run / "table.csv").unlink()
    assert _readers(run) == fresh and (run / "table.csv").is_file()  # rebuilt, as a cache

    stale = pd.read_csv(run / "table.csv").iloc[:1].assign(miou=1.0)  # a cell missing, a number wrong
    stale.to_csv(run / "table.csv", index=False)
    past = os.stat(run / "cells" / "a.json").st_mtime - 60
    os.utime(run / "table.csv", (past, past))
    assert _readers(run) == fresh
    assert len(pd.read_csv(run / "table.csv")) == 2  # and the cache was rewritten


# --------------------------------------------------------------------------- schema versions


def test_records_of_the_previous_schema_load_upgraded():
    [record, *_] = RunDir(SMOKE_BASELINE).records()
    raw = json.loads(next((SMOKE_BASELINE / "cells").glob("*.json")).read_text())
    assert raw["schema_version"] == 1
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["pretrained"] is False and record["train_label_smoothing"] == 0.0  # implied by version 1
    assert record["measure_fingerprint"] is None  # unknown: such a cell is measured again when asked


def test_a_current_record_loads_as_written(tmp_path):
    write_record(tmp_path, _record())
    [record] = RunDir(tmp_path).records()
    assert record["schema_version"] == SCHEMA_VERSION and record["miou"] == 60.0


def test_a_newer_record_is_refused_in_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    write_record(run, _record())
    path = run / "cells" / "resnet18__unet.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(NewerSchemaError, match=rf"schema_version {SCHEMA_VERSION + 1}, newer than"):
        RunDir(run).records()
    assert main(["table", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "upgrade segbench" in err


# --------------------------------------------------------------------------- the two features added through it


def test_label_smoothing_is_one_field_flag_key_and_column(tmp_path, small_synthetic):
    out = tmp_path / "run"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--dataset", "synthetic",
                 "--iterations", "2", "--train-batch-size", "2", "--size", "64x64", "--device", "cpu",
                 "--label-smoothing", "0.1", "--out", str(out), "--warmup-iters", "1", "--min-iters", "2",
                 "--min-time", "0"]) == 0
    row = pd.read_csv(out / "table.csv").iloc[0]
    assert row["train_label_smoothing"] == 0.1 and row["cell_id"].endswith("__ls0.1")
    suite = tmp_path / "s.toml"
    suite.write_text('[grid]\nencoders = ["mobilenet"]\ndecoders = ["skip"]\nsizes = ["64x64"]\ndevices = ["cpu"]\n'
                     '[data]\ndataset = "synthetic"\n[train]\niterations = 2\nlabel_smoothing = 0.2\n')
    assert [c.train.label_smoothing for c in load_suite(str(suite)).cells] == [0.2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label-smoothing", "1.5"], "--label-smoothing must be a number in [0, 1), not 1.5"),
        (["--label-smoothing", "0.1", "--loss", "dice"], "loss 'dice' takes no label smoothing"),
    ],
)
def test_bad_label_smoothing_is_refused_in_one_line(tmp_path, capsys, args, message):
    assert main(["grid", "--device", "cpu", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_label_smoothing_reaches_the_loss():
    from torch import nn

    from segbench.losses import build_loss

    loss = build_loss("ce", 255, label_smoothing=0.1)
    assert isinstance(loss, nn.CrossEntropyLoss) and loss.label_smoothing == 0.1


def test_encoder_and_decoder_macs_split_the_total():
    from torchvision.models import ResNet18_Weights

    from segbench.measure.flops import count_flops
    from segbench.models import build_model

    model = build_model("resnet18", "unet", 8)
    flops = count_flops(model, (224, 224))
    assert flops.gmacs_encoder + flops.gmacs_decoder == pytest.approx(flops.gmacs, rel=1e-6)
    # torchvision's ResNet-18 is 1.81 GFLOPS (its "GFLOPS" are multiply-adds) with its 512x1000 classifier,
    # which the encoder has not.
    published = ResNet18_Weights.IMAGENET1K_V1.meta["_ops"]
    assert flops.gmacs_encoder == pytest.approx(published - 512 * 1000 / 1e9, rel=0.01)
    whole = count_flops(build_model("-", "enet", 8), (64, 64))
    assert whole.gmacs_encoder != whole.gmacs_encoder  # NaN: a whole network has no encoder of its own


def test_a_baseline_update_writes_the_current_schema(tmp_path):
    from segbench.compare import update_baseline

    copy = tmp_path / "old"
    shutil.copytree(SMOKE_BASELINE, copy)
    new = update_baseline(copy, tmp_path / "new")
    assert {json.loads(p.read_text())["schema_version"] for p in (new / "cells").glob("*.json")} == {SCHEMA_VERSION}


def test_measuring_again_keeps_the_training(tmp_path, small_synthetic):
    out = tmp_path / "run"
    args = ["grid", "--encoders", "mobilenet", "--decoders", "skip", "--dataset", "synthetic", "--iterations", "3",
            "--train-batch-size", "2", "--size", "64x64", "--device", "cpu", "--warmup-iters", "1",
            "--min-time", "0", "--out", str(out)]
    assert main([*args, "--min-iters", "15"]) == 0
    [first] = RunDir(out).records()
    log = RunDir(out).artifacts(first["cell_id"]) / "log.csv"
    written = log.read_text()
    assert main([*args, "--min-iters", "40"]) == 0
    [second] = RunDir(out).records()
    assert second["timed_iters"] == 40 and first["timed_iters"] == 15  # shared by 5 rounds
    assert second["train_iters"] == first["train_iters"] == 3 and second["miou"] == first["miou"]
    assert log.read_text() == written  # resumed at its end: not one more step


def test_the_readme_column_table_is_the_declared_one():
    from segbench.results import columns_markdown

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- columns:start -->\n", 1)[1].split("\n<!-- columns:end -->", 1)[0]
    assert block == columns_markdown()


def test_the_readme_states_the_short_recipe_as_declared():
    from segbench.recipe import BUDGETED_RECIPE, SHORT_RECIPE

    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    short = readme.split("training follows the short recipe: ", 1)[1].split("With a budget of your own", 1)[0]
    r = SHORT_RECIPE
    for stated in (f"{r.iterations} iterations of batch {r.batch_size}", f"AdamW at {r.lr['adamw']:.0e}".replace(
            "e-0", "e-"), f"{r.warmup_iters} linear warm-up", f"power {r.poly_power:g}",
            f"clipped to {r.grad_clip_norm:g}"):
        assert stated in short, stated
    assert f"poly power {BUDGETED_RECIPE.poly_power:g}" in readme


def test_the_configuration_imports_nothing_from_training_evaluation_or_models():
    import subprocess
    import sys

    code = ("import sys, segbench.config, segbench.spec, segbench.rundir, segbench.results, segbench.tables, "
            "segbench.compare, segbench.suites; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.split('.')[:2] in "
            "(['segbench', 'train'], ['segbench', 'evaluate'], ['segbench', 'models'], ['segbench', 'cell'])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_suite_and_the_flags_time_alike():
    """One timing builder: a suite's ``min_time = 30`` is not capped where ``--min-time 30`` is not."""
    from segbench.spec import MeasureSpec

    suite = MeasureSpec(min_time=30.0, rounds=1).timing("cpu")
    assert suite.min_s == 30.0 and suite.max_s >= 30.0
    shared = MeasureSpec(min_time=30.0, rounds=5).timing("cpu")  # the cell's 30 s, shared by its rounds
    assert shared.min_s == 6.0 and shared.max_s >= 6.0
    path_cells = load_suite("smoke").cells
    assert {c.timing for c in path_cells} == {MeasureSpec(warmup_iters=1, min_iters=5, min_time=0.2).timing("cpu")}


def test_seed_takes_a_comma_list_in_grid():
    from segbench.cli.measure import grid_spec
    from segbench.spec import DataSpec, ExecutionSpec, GridSpec, InferenceSpec, MeasureSpec, TrainSpec, from_flags

    given = {GridSpec: {"encoders": ("mobilenet",), "decoders": ("skip",), "sizes": ("64x64",),
                        "devices": ("cpu",)},
             DataSpec: {}, TrainSpec: vars(from_flags(TrainSpec, {"seeds": "0,1", "iterations": "2"})),
             MeasureSpec: {}, InferenceSpec: {}, ExecutionSpec: {}}
    cells = grid_spec(given, profile_only=False).cells()
    assert [c.train.seed for c in cells] == [0, 1] and len({c.cell_id for c in cells}) == 2


def test_plots_tell_a_pretrained_and_a_scratch_cell_apart():
    from segbench.plots import _model_labels
    from segbench.results import records_to_frame

    frame = records_to_frame([_record(cell_id="a"), _record(cell_id="b", pretrained=True)])
    assert list(_model_labels(frame)) == ["resnet18+unet scratch", "resnet18+unet pretrained"]


def test_grid_takes_a_batch_size_list_checked_once_on_its_parsed_values(tmp_path):
    """The generated options are checked by segbench.spec alone: ``--batch-size 2`` was once refused by a
    second check on its raw text ("must be a whole number at least 1, not '2'")."""
    assert main([*PROFILE_ONLY, "--batch-size", "1,2", "--min-iters", "1", "--rounds", "1",
                 "--out", str(tmp_path / "run")]) == 0
    assert sorted(r["batch_size"] for r in RunDir(tmp_path / "run").records()) == [1, 2]


def test_size_is_a_comma_list_like_every_other_list(tmp_path):
    """Issue 14.9: ``--size 64x64,96`` is two sizes (the second a square), as ``--batch-size 1,2`` is two batches."""
    args = [a if a != "64x64" else "64x64,96" for a in PROFILE_ONLY]
    assert main([*args, "--out", str(tmp_path / "r")]) == 0
    table = pd.read_csv(tmp_path / "r" / "table.csv")
    assert sorted(zip(table["input_h"], table["input_w"], strict=True)) == [(64, 64), (96, 96)]
