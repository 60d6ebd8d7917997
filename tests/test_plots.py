"""Plots: every figure from a hand-made run directory, skips, formats, the Pareto front."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import segbench
from segbench.plots import FORMATS, METRICS, make_plots, pareto_front
from segbench.rundir import write_record, write_table

ENCODERS = {"mobilenet": 0.22, "resnet18": 0.67, "vgg16": 4.1}  # GFLOPs: a >10x span, log axis
DECODERS = {"skip": 1.0, "unet": 1.3, "dilation": 2.2}
CLASSES = ["background", "disc", "box", "triangle", "band", "ring", "star", "cross"]
ALL_FIGURES = {"accuracy_vs_gflops", "accuracy_vs_latency", "latency_memory", "heatmap_miou",
               "per_class_iou", "training_curves", "qualitative"}


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


def make_run(run_dir: Path, seed: int | None, checkpoint: bool = False) -> Path:
    """A 3x3 grid (one failed cell); with ``checkpoint``, mobilenet+skip gets a real untrained last.pt."""
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
    if checkpoint:
        model = segbench.build_model(encoder="mobilenet", decoder="skip", num_classes=8)
        spec = {"encoder": "mobilenet", "decoder": "skip", "num_classes": 8, "dataset": "synthetic"}
        path = run_dir / "train" / _cell_id("mobilenet", "skip", seed) / "last.pt"
        path.parent.mkdir(parents=True)
        torch.save({"model": model.state_dict(), "model_spec": spec, "config": {}}, path)
    return run_dir


def test_pareto_front_hand_made() -> None:
    costs = [1.0, 2.0, 2.0, 3.0, 4.0, 0.5, math.nan, 5.0]
    values = [10.0, 15.0, 12.0, 14.0, 20.0, 5.0, 99.0, 20.0]
    # 0.5->5, 1->10, 2->15 (not the 12 at the same cost), 3->14 dominated, 4->20, 5->20 no better; NaN never
    assert pareto_front(costs, values) == [5, 0, 1, 4]
    assert pareto_front([], []) == []
    assert pareto_front([1.0, 1.0], [3.0, 3.0]) == [0]


def test_every_figure_from_two_seeds(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "s0", 0, checkpoint=True), make_run(tmp_path / "s1", 1)]
    reports: list[str] = []
    paths = make_plots(runs, tmp_path / "plots", qualitative_images=2, report=reports.append)
    assert {p.stem for p in paths} == ALL_FIGURES
    assert all(p.suffix == ".png" and p.stat().st_size > 10_000 for p in paths)
    # Only mobilenet+skip has a checkpoint: the other trained models are reported, not an error.
    assert any("no checkpoint" in r and "resnet18+unet" in r for r in reports)
    assert not any(r.startswith("skipped") for r in reports)


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_formats(tmp_path: Path, fmt: str) -> None:
    """Two cheap figures (a profile-only run) in each vector format."""
    paths = make_plots([make_run(tmp_path / "run", None)], tmp_path / "plots", fmt=fmt, metric="gflops",
                       report=lambda _: None)
    assert {p.name for p in paths} == {f"latency_memory.{fmt}", f"heatmap_gflops.{fmt}"}
    head = paths[0].read_bytes()[:200]
    assert head.startswith(b"%PDF") if fmt == "pdf" else b"<svg" in head


def test_profile_only_run_skips_accuracy_figures(tmp_path: Path) -> None:
    reports: list[str] = []
    paths = make_plots([make_run(tmp_path / "run", None)], tmp_path / "plots", report=reports.append)
    assert [p.name for p in paths] == ["latency_memory.png"]
    skipped = {r.split(":")[0].removeprefix("skipped ") for r in reports}
    assert skipped == ALL_FIGURES - {"latency_memory"}
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
