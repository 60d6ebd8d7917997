"""``make_plots``: every figure the runs have data for, each skipped alone when its data is absent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from segbench.outputs import prepare_dir
from segbench.plots.data import METRICS, aggregate, load_runs
from segbench.plots.heatmap import plot_heatmap
from segbench.plots.latency_memory import plot_latency_memory
from segbench.plots.layout import FORMATS, STYLE, Report, SkipPlot, save
from segbench.plots.per_class import plot_per_class_iou
from segbench.plots.qualitative import plot_qualitative
from segbench.plots.roofline import plot_roofline
from segbench.plots.scatter import plot_accuracy_vs_gflops, plot_accuracy_vs_latency
from segbench.plots.training import plot_training_curves

#: Skipped figures are reported here by default (the package's logger, as before it was a package).
logger = logging.getLogger("segbench.plots")


def _check_options(fmt: str, metric: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown figure format '{fmt}'; valid: {', '.join(FORMATS)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}'; valid numeric columns: {', '.join(METRICS)}")


def make_plots(
    runs: list[Path],
    out_dir: Path,
    fmt: str = "png",
    metric: str = "miou",
    qualitative_images: int = 4,
    data_root: str | None = None,
    report: Report | None = None,
) -> list[Path]:
    """Write every figure the runs have data for into ``out_dir``; return the paths written.

    ``runs`` are run directories (several seeds of one grid are pooled).
    ``metric`` is the heatmap's column. A figure without data is skipped and
    its reason passed to ``report`` (default: a warning on this package's logger).
    """
    _check_options(fmt, metric)
    if not runs:
        raise ValueError("no run directory given")
    report = report or logger.warning
    frame, envs = load_runs([Path(r) for r in runs])
    models = aggregate(frame)
    out_dir = prepare_dir(out_dir)
    figures: list[tuple[str, Callable[[], Figure]]] = [
        ("accuracy_vs_gflops", lambda: plot_accuracy_vs_gflops(frame, models, envs)),
        ("accuracy_vs_latency", lambda: plot_accuracy_vs_latency(frame, models, envs)),
        ("latency_memory", lambda: plot_latency_memory(frame, models, envs)),
        ("roofline", lambda: plot_roofline(frame, models, envs)),
        (f"heatmap_{metric}", lambda: plot_heatmap(frame, metric, envs)),
        ("per_class_iou", lambda: plot_per_class_iou(frame, report)),
        ("training_curves", lambda: plot_training_curves(frame, envs)),
        ("qualitative", lambda: plot_qualitative(frame, qualitative_images, data_root, report)),
    ]
    written = []
    with matplotlib.rc_context(STYLE):
        for name, draw in figures:
            try:
                fig = draw()
            except SkipPlot as reason:
                report(f"skipped {name}: {reason}")
                continue
            written.append(save(fig, out_dir, name, fmt))
    return written
