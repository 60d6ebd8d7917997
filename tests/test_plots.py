"""Plots: every figure from a hand-made run directory, skips, formats, the Pareto front."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segbench.measure.roofline import roofline
from segbench.plots import FORMATS, LATENCY, METRICS, aggregate, load_runs, make_plots, pareto_front
from segbench.plots.layout import STYLE, SkipPlot
from segbench.prediction_maps import SAVED_PREDICTIONS, write_label_map
from segbench.rundir import RunDir, write_record, write_table

ENCODERS = {"mobilenet": 0.22, "resnet18": 0.67, "vgg16": 4.1}  # GFLOPs: a >10x span, log axis
DECODERS = {"skip": 1.0, "unet": 1.3, "dilation": 2.2}
CLASSES = ["background", "disc", "box", "triangle", "band", "ring", "star", "cross"]
ALL_FIGURES = {"accuracy_vs_gflops", "accuracy_vs_latency", "latency_memory", "heatmap_miou",
               "per_class_iou", "training_curves", "qualitative", "roofline"}


def _cell_id(encoder: str, decoder: str, seed: int | None) -> str:
    trained = f"__synthetic__s{seed}" if seed is not None else ""
    return f"{encoder}__{decoder}__96x96__b1__fp32__cpu__c8{trained}"


def _record(encoder: str, decoder: str, seed: int | None, rng: np.random.Generator) -> dict[str, Any]:
    """A plausible cell record: costs from the grid position, accuracy and samples made up."""
    gflops = ENCODERS[encoder] * DECODERS[decoder]
    latency = 3.0 + 4.0 * gflops
    samples = (latency * (1 + 0.05 * rng.standard_normal(20))).tolist()
    record: dict[str, Any] = {
        "encoder": encoder, "decoder": decoder, "input_h": 96, "input_w": 96, "batch_size": 1,
        "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 8, "threads": 2,
        "dataset": None, "seed": seed, "eval_split": None, "data_root": None,
        "cell_id": _cell_id(encoder, decoder, seed), "fingerprint": "0" * 16, "status": "ok", "error": None,
        "params": int(1e6 * gflops * 3), "gmacs": gflops / 2, "gflops": gflops,
        "latency_ms_median": float(np.median(samples)), "latency_ms_p10": float(np.percentile(samples, 10)),
        "latency_ms_p90": float(np.percentile(samples, 90)), "latency_ms_mean": float(np.mean(samples)),
        "latency_ms_std": float(np.std(samples)), "latency_iqr_rel": 0.05, "throughput_img_s": 1000 / latency,
        "peak_mem_mib": 5 + 10 * gflops, "mem_method": "rss_hwm_above_baseline",
        "latency_samples_ms": samples, "flops_uncounted": {}, "timed_iters": 20,
    }
    params = record["params"]
    workload = {"ops": [["all", gflops * 1e9, 2e6 * gflops, 4 * params]], "flops": gflops * 1e9,
                "weight_bytes": 4 * params, "io_bytes": 1e5}
    record |= roofline(workload, 1, record["latency_ms_median"], 50e9, 10e9).to_dict()
    if seed is None:  # --profile-only: no accuracy
        return record | dict.fromkeys(["miou", "pixel_acc", "mean_acc", "fwiou", "train_time_s"], math.nan)
    per_class = rng.uniform(0, 80, len(CLASSES))
    per_class[3] = math.nan  # a class absent from prediction and ground truth
    history = [{"epoch": e, "iteration": 60 * e, "loss": 2.0 / e + 0.1 * rng.random(), "lr": 1e-3,
                "val_miou": 10 + 4 * e + rng.random(), "time_s": 4.0} for e in range(1, 5)]
    return record | {
        "dataset": "synthetic", "eval_split": "test", "miou": float(np.nanmean(per_class)),
        "pixel_acc": 80.0, "mean_acc": 30.0, "fwiou": 60.0, "train_time_s": 16.0,
        "per_class_iou": per_class.tolist(), "class_names": CLASSES, "train_history": history,
    }


def make_run(run_dir: Path, seed: int | None, predictions: bool = False) -> Path:
    """A 3x3 grid (one failed cell); with ``predictions``, mobilenet+skip has saved label maps (made up)."""
    rng = np.random.default_rng(seed or 0)
    for encoder in ENCODERS:
        for decoder in DECODERS:
            record = _record(encoder, decoder, seed, rng)
            if (encoder, decoder) == ("vgg16", "dilation"):
                record |= dict.fromkeys(METRICS, math.nan) | {"status": "oom", "error": "OutOfMemoryError"}
                record.update(latency_samples_ms=[], per_class_iou=None, train_history=None)
            write_record(run_dir, record)
    write_table(run_dir)
    (run_dir / "run.json").write_text(json.dumps({"environment": {"cpu": "Test CPU", "gpu": None}}))
    if predictions:
        folder = RunDir(run_dir).predictions(_cell_id("mobilenet", "skip", seed))
        for i in range(SAVED_PREDICTIONS):
            write_label_map(folder / f"test_{i:05d}.png", rng.integers(0, len(CLASSES), (96, 96)))
    return run_dir


def test_pareto_front_hand_made() -> None:
    costs = [1.0, 2.0, 2.0, 3.0, 4.0, 0.5, math.nan, 5.0]
    values = [10.0, 15.0, 12.0, 14.0, 20.0, 5.0, 99.0, 20.0]
    # 0.5->5, 1->10, 2->15 (not the 12 at the same cost), 3->14 dominated, 4->20, 5->20 no better; NaN never
    assert pareto_front(costs, values) == [5, 0, 1, 4]
    assert pareto_front([], []) == []
    assert pareto_front([1.0, 1.0], [3.0, 3.0]) == [0]


def test_every_figure_from_two_seeds(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "s0", 0, predictions=True), make_run(tmp_path / "s1", 1)]
    reports: list[str] = []
    paths = make_plots(runs, tmp_path / "plots", qualitative_images=2, report=reports.append)
    assert {p.stem for p in paths} == ALL_FIGURES
    assert all(p.suffix == ".png" and p.stat().st_size > 10_000 for p in paths)
    # Only mobilenet+skip has saved predictions: the other trained models are reported, not an error.
    assert any("no saved predictions" in r and "resnet18+unet" in r for r in reports)
    assert not any(r.startswith("skipped") for r in reports)


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_formats(tmp_path: Path, fmt: str) -> None:
    """Two cheap figures (a profile-only run) in each vector format."""
    paths = make_plots([make_run(tmp_path / "run", None)], tmp_path / "plots", fmt=fmt, metric="gflops",
                       report=lambda _: None)
    assert {p.name for p in paths} == {f"latency_memory.{fmt}", f"heatmap_gflops.{fmt}", f"roofline.{fmt}"}
    head = paths[0].read_bytes()[:200]
    assert head.startswith(b"%PDF") if fmt == "pdf" else b"<svg" in head


def test_profile_only_run_skips_accuracy_figures(tmp_path: Path) -> None:
    reports: list[str] = []
    paths = make_plots([make_run(tmp_path / "run", None)], tmp_path / "plots", report=reports.append)
    assert [p.name for p in paths] == ["latency_memory.png", "roofline.png"]
    skipped = {r.split(":")[0].removeprefix("skipped ") for r in reports}
    assert skipped == ALL_FIGURES - {"latency_memory", "roofline"}
    assert any("profile-only" in r for r in reports)


def test_bad_format_and_metric_name_the_valid_ones(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", None)
    with pytest.raises(ValueError, match="valid: " + ", ".join(FORMATS)):
        make_plots([run], tmp_path / "plots", fmt="jpg")
    with pytest.raises(ValueError, match=r"valid numeric columns: .*latency_ms_median"):
        make_plots([run], tmp_path / "plots", metric="speed")
    assert not (tmp_path / "plots").exists()


def test_labels_tell_apart_cells_that_differ_only_in_inference_add_ons():
    from segbench.plots import _model_labels
    from segbench.results import records_to_frame

    base = {"encoder": "mobilenet", "decoder": "skip", "input_h": 64, "input_w": 64, "batch_size": 1,
            "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 8, "dataset": None,
            "seed": 0, "status": "ok"}
    frame = records_to_frame([
        base,
        {**base, "tta_scales": "0.75,1,1.25", "tta_flip": True},
        {**base, "crf": True, "crf_iterations": 5},
        {**base, "mc_samples": 8},
        {**base, "encoder": "-", "decoder": "enet"},
    ])
    assert list(_model_labels(frame)) == [
        "mobilenet+skip",
        "mobilenet+skip tta 0.75,1,1.25 flip",
        "mobilenet+skip crf crf x5",
        "mobilenet+skip mc8",
        "enet",
    ]


def _latencies_drawn(runs: list[Path], model: str) -> tuple[float, float]:
    """``model``'s latency as accuracy_vs_latency.png places its point and latency_memory.png its bar."""
    import matplotlib

    from segbench.plots import plot_accuracy_vs_latency, plot_latency_memory

    frame, envs = load_runs(runs)
    models = aggregate(frame)
    with matplotlib.rc_context(STYLE):
        scatter = plot_accuracy_vs_latency(frame, models, envs)
        bars = plot_latency_memory(frame, models, envs)
    (point,) = [c for c in scatter.axes[0].containers if c.get_label() == model]
    ax_lat, ax_mem = bars.axes[:2]
    labels = [t.get_text() for t in ax_mem.get_xticklabels()]
    heights = dict(zip(labels, [p.get_height() for p in ax_lat.patches], strict=True))
    return float(point.lines[0].get_xdata()[0]), float(heights[model])


def test_both_latency_figures_and_the_tables_show_one_latency(tmp_path: Path) -> None:
    """Per cell its median, per model the mean over seeds: one number, not pooled samples in one figure."""
    from segbench.tables import pivot_table

    runs = [make_run(tmp_path / "s0", 0), make_run(tmp_path / "s1", 1)]
    in_scatter, in_bars = _latencies_drawn(runs, "resnet18+unet")
    table = pivot_table(runs, LATENCY)["mean"].loc["resnet18", "unet"]
    medians = [RunDir(r).frame().set_index("cell_id").at[_cell_id("resnet18", "unet", s), LATENCY]
               for r, s in zip(runs, (0, 1), strict=True)]
    assert in_scatter == in_bars == pytest.approx(table) == pytest.approx(np.mean(medians))
    pooled = np.median([x for r in RunDir(runs[0]).records() + RunDir(runs[1]).records()
                        if r["cell_id"].startswith("resnet18__unet") for x in r["latency_samples_ms"]])
    assert in_bars != pytest.approx(pooled, rel=1e-6)  # the statistic latency_memory.png used to show


def test_ignore_has_its_own_colour_in_the_sheet() -> None:
    from segbench.data.synthetic import SYNTHETIC_PALETTE
    from segbench.plots.qualitative import colourise

    label = np.array([[0, 1, 255]])
    assert colourise(label, SYNTHETIC_PALETTE, 255).tolist() == [[[0, 0, 0], [230, 25, 75], [255, 255, 255]]]
    white_class = [(0, 0, 0), (255, 255, 255)]  # a palette with a white class: ignore takes another colour
    assert colourise(np.array([[1, 255]]), white_class, 255).tolist() == [[[255, 255, 255], [255, 0, 255]]]


def test_a_trained_grid_saves_predictions_and_the_sheet_draws_them_without_a_checkpoint(tmp_path, monkeypatch):
    import io

    from segbench.cell import CellConfig, with_training
    from segbench.inputs import read_label
    from segbench.options import data_choice
    from segbench.plots import plot_qualitative
    from segbench.runner import run_grid
    from segbench.train import TrainConfig
    from tests.conftest import FAST_TIMING

    data = data_choice("synthetic", None, options={"size": 32, "length": 6, "ignore_boundary": 1})
    cell = with_training(CellConfig("mobilenet", "skip", 32, 32, threads=1), data,
                         TrainConfig(iterations=1, batch_size=2))
    run = tmp_path / "run"
    assert run_grid([cell], run, timing=FAST_TIMING).table.loc[0, "status"] == "ok"
    saved = RunDir(run).predictions(cell.cell_id)
    assert sorted(p.name for p in saved.iterdir()) == [f"test_{i:05d}.png" for i in range(SAVED_PREDICTIONS)]
    label = read_label(saved / "test_00000.png")
    assert label.shape == (32, 32) and label.dtype == np.uint8 and label.max() < len(CLASSES)

    def no_checkpoint(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the qualitative sheet loaded a checkpoint")

    for target in ("segbench.evaluate.load_checkpoint", "segbench.checkpoints.read_checkpoint", "torch.load"):
        monkeypatch.setattr(target, no_checkpoint)
    frame, _ = load_runs([run])
    reports: list[str] = []
    fig = plot_qualitative(frame, 8, None, reports.append)
    fig.savefig(io.BytesIO(), format="png")
    assert len(fig.axes) == SAVED_PREDICTIONS * 3 and not reports  # image, ground truth, the model; 4 rows
    assert fig.axes[0].get_ylabel() == "test_00000"
    assert fig.legends[0].texts[-1].get_text() == "ignore (255)"

    for path in saved.iterdir():  # a run from before predictions were saved
        path.unlink()
    with pytest.raises(SkipPlot, match="predictions saved at evaluation"):
        plot_qualitative(frame, 8, None, reports.append)
