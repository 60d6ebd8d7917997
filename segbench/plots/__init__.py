"""Figures of one or several run directories: the trade-offs a table hides.

``make_plots`` reads the cell records (the source of truth: they hold the
per-class IoU and training histories that table.csv leaves out) and writes
one file per figure. Runs of the same grid with different seeds are pooled: a
*model* is a cell's key without its seed, plotted as the mean over seeds with
the standard deviation as error bars. Every number is the tables' statistic:
latency, in every figure, is the mean over seeds of each cell's median (and
p10, p90), declared once in :func:`segbench.plots.data.aggregate`.

A figure whose data is absent (no accuracy in a ``--profile-only`` run, no
saved predictions for the qualitative sheet) is skipped with a reason,
reported through ``report`` (by default a warning on the ``segbench.plots``
logger), never an exception: one missing input must not cost the other figures.

Modules: :mod:`~segbench.plots.data` (loading runs, model labels, one row per
model), :mod:`~segbench.plots.layout` (canvas, style, colours, label
placement), one module per figure, and :mod:`~segbench.plots.make`.
"""

from __future__ import annotations

from segbench.plots.data import (
    ACCURACY,
    LATENCY,
    METRICS,
    MODEL_KEY,
    aggregate,
    load_runs,
    model_labels,
)
from segbench.plots.heatmap import plot_heatmap
from segbench.plots.latency_memory import plot_latency_memory
from segbench.plots.layout import DPI, FORMATS, STYLE, Report, SkipPlot
from segbench.plots.make import logger, make_plots
from segbench.plots.per_class import plot_per_class_iou
from segbench.plots.qualitative import plot_qualitative
from segbench.plots.roofline import plot_roofline
from segbench.plots.scatter import pareto_front, plot_accuracy_vs_gflops, plot_accuracy_vs_latency
from segbench.plots.training import plot_training_curves

#: The name tests and older callers import.
_model_labels = model_labels

__all__ = [
    "ACCURACY",
    "DPI",
    "FORMATS",
    "LATENCY",
    "METRICS",
    "MODEL_KEY",
    "STYLE",
    "Report",
    "SkipPlot",
    "aggregate",
    "load_runs",
    "logger",
    "make_plots",
    "model_labels",
    "pareto_front",
    "plot_accuracy_vs_gflops",
    "plot_accuracy_vs_latency",
    "plot_heatmap",
    "plot_latency_memory",
    "plot_per_class_iou",
    "plot_qualitative",
    "plot_roofline",
    "plot_training_curves",
]
