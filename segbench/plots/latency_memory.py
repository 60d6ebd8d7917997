"""Latency over peak memory per model: how fast, how stable, and at what memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from segbench.plots.data import LATENCY, LATENCY_P10, LATENCY_P90, conditions, over_cells
from segbench.plots.layout import SkipPlot, asymmetric, colours, format_value, new_figure, use_log_if_wide

MEMORY_METHODS = {
    "cuda_max_allocated": "CUDA max allocated",
    "rss_hwm_above_baseline": "RSS high-water mark above baseline",
}


def _bars(ax: Axes, values: pd.Series, low: pd.Series, high: pd.Series, colours: list[Any]) -> None:
    """Bars with whiskers from ``low`` to ``high`` (asymmetric, never below zero) and the value over each.

    Values spanning more than 10x get a log axis: beside a 200-ms bar a 5-ms one is still seen.
    """
    xs = np.arange(len(values))
    whiskers = asymmetric(values, low, high)
    ax.bar(xs, values.fillna(0), color=colours, edgecolor="black", linewidth=0.6, width=0.7,
           yerr=whiskers if whiskers.any() else None, capsize=4, error_kw={"elinewidth": 1.2})
    log = use_log_if_wide(ax, [*values, *low, *high], axis="y")
    for x, top, value in zip(xs, values.fillna(0) + whiskers[1], values, strict=True):
        ax.annotate(format_value(value), (x, top), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    ax.grid(True, axis="y", which="both" if log else "major")
    ax.set_axisbelow(True)
    ax.margins(y=0.15)


def plot_latency_memory(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Latency (median, p10-p90 whiskers) over peak memory per model, sorted by latency.

    The whiskers show how stable the timing was; memory sits on the same x
    order so a fast but memory-hungry model stands out. The latency is the one
    of every figure and table (:func:`segbench.plots.data.aggregate`).
    """
    data = models.dropna(subset=[LATENCY]).sort_values(LATENCY).reset_index(drop=True)
    if data.empty:
        raise SkipPlot("no cell has a latency measurement")
    encoders = colours(sorted(data["encoder"].unique()))
    bar_colours = [encoders[e] for e in data["encoder"]]
    over = over_cells(frame, "mean")
    fig = new_figure(max(8.0, 0.75 * len(data) + 4.0), 8.0)
    ax_lat, ax_mem = fig.subplots(2, 1, sharex=True)
    median = data[LATENCY]
    _bars(ax_lat, median, data[LATENCY_P10], data[LATENCY_P90], bar_colours)
    ax_lat.set_ylabel(f"latency (ms per batch)\nmedian, whiskers p10-p90{f', {over}' if over else ''}")
    memory = frame.groupby("label")["peak_mem_mib"]
    _bars(ax_mem, data["peak_mem_mib"], data["label"].map(memory.min()), data["label"].map(memory.max()),
          bar_colours)
    methods = " / ".join(sorted({MEMORY_METHODS.get(m, m) for m in frame["mem_method"].dropna()}))
    ax_mem.set_ylabel(f"peak memory (MiB){', ' + over if over else ''}"
                      + ("\nwhiskers: min-max over runs" if over else "")
                      + (f"\n{methods}" if methods else ""))
    ax_mem.set_xticks(range(len(data)), data["label"], rotation=35, ha="right", rotation_mode="anchor")
    ax_lat.legend([Patch(facecolor=c, edgecolor="black") for c in encoders.values()], list(encoders),
                  title="encoder", loc="upper left", frameon=False)
    ax_lat.set_title("Latency and peak memory per model, sorted by median latency\n"
                     f"{conditions(frame, envs, spread=False)}", loc="left")
    return fig
