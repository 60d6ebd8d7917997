"""Figures that scale: asymmetric spread on log axes, labels that hold at 50 models, iteration-level curves."""

from __future__ import annotations

import builtins
import io
import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.text import Text

from segbench.plots import aggregate, load_runs, plot_accuracy_vs_latency, plot_latency_memory
from segbench.plots.layout import STYLE, overlapping, text_box
from segbench.plots.training import plot_training_curves
from segbench.rundir import RunDir, write_record, write_table
from segbench.train_log import read_iteration_log
from tests.test_plots import ENCODERS, _record, make_run

WIDE = {"mobilenet": 0.22, "resnet18": 0.67, "vgg16": 20.0}  # latency 3.9 to 107 ms: more than 10x


def _render(fig: Any) -> Any:
    fig.savefig(io.BytesIO(), format="png")
    return fig.canvas.get_renderer()


def test_latency_whiskers_are_the_p10_p90_range_and_axes_turn_log_beyond_10x(tmp_path, monkeypatch):
    monkeypatch.setitem(ENCODERS, "vgg16", WIDE["vgg16"])
    frame, envs = load_runs([make_run(tmp_path / "s0", 0), make_run(tmp_path / "s1", 1)])
    models = aggregate(frame)
    with matplotlib.rc_context(STYLE):
        scatter = plot_accuracy_vs_latency(frame, models, envs)
        bars = plot_latency_memory(frame, models, envs)
    ax = scatter.axes[0]
    assert ax.get_xscale() == "log"  # latency spans 27x
    row = models.set_index("label").loc["vgg16+unet"]
    (point,) = [c for c in ax.containers if c.get_label() == "vgg16+unet"]
    (xbar,) = [seg for seg in point.lines[2] if seg.get_segments()[0][0][1] == seg.get_segments()[0][1][1]]
    (left, _), (right, _) = xbar.get_segments()[0]
    assert (left, right) == pytest.approx((row["latency_ms_p10"], row["latency_ms_p90"]))  # not median ± std
    assert left > 0
    title = ax.get_title(loc="left")
    assert "synthetic test split" in title and "CPU: Test CPU" in title  # where scored, what it ran on
    ax_lat, ax_mem = bars.axes[:2]
    assert ax_lat.get_yscale() == "log" and ax_mem.get_yscale() == "log"
    low, _ = ax_lat.get_ylim()
    assert low > 0
    assert "CPU: Test CPU" in ax_lat.get_title(loc="left")


def test_narrow_values_keep_linear_axes(tmp_path):
    frame, envs = load_runs([make_run(tmp_path / "s0", 0)])  # latency 3.9 to 24 ms: under 10x
    with matplotlib.rc_context(STYLE):
        bars = plot_latency_memory(frame, aggregate(frame), envs)
    assert bars.axes[0].get_yscale() == "linear"


def _fifty_models(run: Path) -> Path:
    """50 models on a crowded accuracy-latency plane (a RTSeg-sized suite and then some)."""
    rng = np.random.default_rng(3)
    for k in range(50):
        encoder, decoder = f"encoder{k // 5:02d}", f"decoder{k % 5}"
        record = _record("mobilenet", "skip", 0, rng)
        latency = float(np.exp(rng.uniform(np.log(3), np.log(300))))
        record.update(encoder=encoder, decoder=decoder, cell_id=f"{encoder}__{decoder}",
                      miou=float(rng.uniform(20, 75)), latency_ms_median=latency, latency_ms_p10=0.9 * latency,
                      latency_ms_p90=1.2 * latency)
        write_record(run, record)
    write_table(run)
    return run


@pytest.mark.parametrize("adjust_text", [True, False], ids=["adjustText", "without adjustText"])
def test_fifty_labels_never_overlap(tmp_path, monkeypatch, adjust_text):
    if adjust_text:
        pytest.importorskip("adjustText", reason="adjustText (segbench[plots]) is not installed")
    else:
        real_import = builtins.__import__

        def no_adjust_text(name: str, *args: Any, **kwargs: Any) -> Any:
            if name.startswith("adjustText"):
                raise ImportError("No module named 'adjustText'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_adjust_text)
    frame, envs = load_runs([_fifty_models(tmp_path / "run")])
    models = aggregate(frame)
    with matplotlib.rc_context(STYLE):
        fig = plot_accuracy_vs_latency(frame, models, envs)
    renderer = _render(fig)
    ax = fig.axes[0]
    names = set(models["label"])
    labels = [t for t in ax.texts if t.get_visible() and t.get_text()]
    boxes = [text_box(t, renderer) for t in labels]  # the renderer's extent of each text (leader lines aside)
    clashes = [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes))
               for j in range(i + 1, len(boxes)) if overlapping(boxes[i], boxes[j])]
    assert not clashes
    named = {t.get_text() for t in labels} & names
    numbers = {t.get_text() for t in labels if t.get_text().isdigit()}
    key = "\n".join(t.get_text() for t in fig.texts if isinstance(t, Text))
    keyed = {line.split(maxsplit=1)[1] for line in key.splitlines() if line.strip()}
    assert len(named) + len(numbers) == 50  # every point is labelled: by name, or by a number the key lists
    assert keyed == names - named and len(numbers) == len(keyed)
    if adjust_text:
        assert len(named) >= 40  # adjustText finds room for (nearly) every name
    else:
        assert 0 < len(named) < 50  # the Pareto front by name, the rest numbered


def _trained_run(tmp_path: Path, iterations: int = 30, log_every: int = 5) -> tuple[Path, str]:
    """A run directory whose one cell was really trained ``iterations`` steps into its artifacts."""
    from segbench.data import build_dataset, train_transforms
    from segbench.models import build_model
    from segbench.train import TrainConfig, Trainer

    run = tmp_path / "run"
    record = _record("mobilenet", "skip", 0, np.random.default_rng(0))
    record.update(train_history=None, train_log_every=log_every, train_split="train", val_split="val")
    write_record(run, record)
    write_table(run)
    train = build_dataset("synthetic", split="train", size=32, length=4)
    train.transform = train_transforms(32, ignore_index=255)
    val = build_dataset("synthetic", split="val", size=32, length=2)
    torch.manual_seed(0)
    config = TrainConfig(iterations=iterations, batch_size=2, log_every=log_every, eval_every=5)
    Trainer(build_model("mobilenet", "skip", num_classes=8), train, val, config, torch.device("cpu"),
            RunDir(run).artifacts(record["cell_id"])).fit()
    return run, record["cell_id"]


def test_a_30_iteration_run_logs_every_n_and_plots_a_curve(tmp_path):
    run, cell_id = _trained_run(tmp_path)
    entries = read_iteration_log(RunDir(run).iteration_log(cell_id))
    steps = [e for e in entries if e["mode"] == "train"]
    assert [e["iteration"] for e in steps] == [1, 5, 10, 15, 20, 25, 30]
    assert all(e["loss"] > 0 and e["lr"] > 0 and e["time_s"] > 0 for e in steps)
    assert [e["iteration"] for e in entries if e["mode"] == "val"] == [10, 20, 30]  # every 5 epochs of 2 steps
    frame, envs = load_runs([run])
    with matplotlib.rc_context(STYLE):
        fig = plot_training_curves(frame, envs)
    ax_loss, ax_miou = fig.axes[:2]
    (loss_line,) = ax_loss.get_lines()
    assert list(loss_line.get_xdata()) == [1, 5, 10, 15, 20, 25, 30]  # a curve, not one dot per epoch
    assert len(ax_miou.get_lines()[0].get_xdata()) == 3  # validation mIoU per validation, second axis
    assert "every 5 iterations" in fig.get_suptitle() and "synthetic train split" in fig.get_suptitle()


def test_a_resumed_run_drops_the_lines_after_its_checkpoint(tmp_path):
    from segbench.train_log import IterationLog

    log = IterationLog(tmp_path / "train_log.jsonl")
    for it in (1, 5, 10, 15):
        log.write({"mode": "train", "iteration": it, "loss": float("nan")})
    with open(log.path, "a") as f:
        f.write('{"mode": "tra')  # cut short by a kill
    assert [e["iteration"] for e in read_iteration_log(log.path)] == [1, 5, 10, 15]
    assert read_iteration_log(log.path)[0]["loss"] is None  # strict JSON: NaN is null
    log.keep_until(10)
    assert [e["iteration"] for e in read_iteration_log(log.path)] == [1, 5, 10]
    log.keep_until(0)  # a fresh start
    assert not log.path.exists()


def test_an_older_run_without_the_iteration_log_still_plots_its_epochs(tmp_path):
    frame, envs = load_runs([make_run(tmp_path / "s0", 0)])
    with matplotlib.rc_context(STYLE):
        fig = plot_training_curves(frame, envs)
    assert "mean of each epoch" in fig.get_suptitle()
    assert pd.Series([len(line.get_xdata()) for line in fig.axes[0].get_lines()]).eq(4).all()


def test_log_every_is_not_part_of_the_fingerprint():
    from dataclasses import replace

    from segbench.config import CellConfig, with_training
    from segbench.options import data_choice
    from segbench.train import TrainConfig

    cell = with_training(CellConfig("mobilenet", "skip", 32, 32), data_choice("synthetic", None),
                         TrainConfig(iterations=2))
    watched = replace(cell, train=replace(cell.train, log_every=1, tensorboard="tb"))
    assert watched.fingerprint == cell.fingerprint and watched.cell_id == cell.cell_id
    assert json.dumps(cell.key(), default=str)  # the record still says how it was logged
    assert cell.key()["train_log_every"] == 10


def test_train_with_tensorboard_writes_events_tensorboard_reads_back(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard (segbench[tensorboard]) is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from segbench.cell import build_cell_model, train_and_evaluate
    from segbench.config import CellConfig, with_training
    from segbench.options import data_choice
    from segbench.spec import TrainSpec, from_flags

    board = tmp_path / "board"
    spec = from_flags(TrainSpec, {"iterations": "2", "batch_size": "2", "log_every": "1", "tensorboard": str(board)})
    data = data_choice("synthetic", None, options={"size": 32, "length": 4})
    cell = with_training(CellConfig("mobilenet", "skip", 32, 32, threads=1), data, spec.recipe(0))
    train_and_evaluate(cell, build_cell_model(cell), tmp_path / "t", None)
    (run,) = board.iterdir()  # one TensorBoard run per cell, named by its id
    assert run.name == cell.cell_id
    events = EventAccumulator(str(run))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "val/mIoU"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert len(tags["images"]) >= 1
    image = events.Images(tags["images"][0])[-1]
    assert image.width == 3 * image.height  # image | label | prediction, side by side
    assert [e["iteration"] for e in read_iteration_log(tmp_path / "t" / "train_log.jsonl")
            if e["mode"] == "train"] == [1, 2]


def test_tensorboard_missing_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch, capsys):
    from segbench.cli import main
    from tests.conftest import assert_one_line

    monkeypatch.setattr("segbench.train_log.tensorboard_available", lambda: False)
    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--iterations", "1", "--device", "cpu",
               "--out", str(tmp_path / "t"), "--tensorboard", str(tmp_path / "board")])
    assert_one_line(capsys, rc, "--tensorboard", "pip install 'segbench[tensorboard]'")
    assert not (tmp_path / "board").exists()


def test_log_every_must_be_positive(tmp_path, capsys):
    from segbench.cli import main
    from tests.conftest import assert_one_line

    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--iterations", "1", "--device", "cpu",
               "--out", str(tmp_path / "t"), "--log-every", "0"])
    assert_one_line(capsys, rc, "--log-every")


def test_a_model_run_once_beside_two_run_models_is_shown_with_its_n(tmp_path):
    """Issue 14.4: a subtitle that says "over 2 runs" must not cover a model that ran once."""
    s0, s1 = make_run(tmp_path / "s0", 0), make_run(tmp_path / "s1", 1)
    next((s1 / "cells").glob("mobilenet__skip__*.json")).unlink()
    write_table(s1)
    frame, envs = load_runs([s0, s1])
    models = aggregate(frame).set_index("label")
    assert models.at["mobilenet+skip", "miou_n"] == 1 and np.isnan(models.at["mobilenet+skip", "miou_std"])
    assert models.at["resnet18+skip", "miou_n"] == 2
    both = frame[frame["label"] == "resnet18+skip"]
    assert models.at["resnet18+skip", "miou"] == pytest.approx(both["miou"].mean())
    # throughput is the tables' own: derived from the mean latency, not a mean of throughputs
    assert models.at["resnet18+skip", "throughput_img_s"] == pytest.approx(
        1000 * both["batch_size"].iloc[0] / both["latency_ms_median"].mean())
    with matplotlib.rc_context(STYLE):
        title = plot_accuracy_vs_latency(frame, aggregate(frame), envs).axes[0].get_title(loc="left")
    assert "n=1-2 runs per model" in title
    frame, envs = load_runs([s0, make_run(tmp_path / "s2", 2)])
    with matplotlib.rc_context(STYLE):
        title = plot_accuracy_vs_latency(frame, aggregate(frame), envs).axes[0].get_title(loc="left")
    assert "n=2 runs" in title and "per model" not in title
