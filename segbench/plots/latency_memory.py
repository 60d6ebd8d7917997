"""Latency over peak memory per model: how fast, how stable, and at what memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from segbench.plots.data import LATENCY, LATENCY_P10, LATENCY_P90, conditions, seed_count
from segbench.plots.layout import SkipPlot, colours, format_value, new_figure

MEMORY_METHODS = {
    "cuda_max_allocated": "CUDA max allocated",
    "rss_hwm_above_baseline": "RSS high-water mark above baseline",
}


def _bars(ax: Axes, values: pd.Series, below: pd.Series, above: pd.Series, colours: list[Any]) -> None:
    """Bars with asymmetric whiskers (``below``/``above`` the top) and the value written over each."""
    xs = np.arange(len(values))
    below, above = below.fillna(0).clip(lower=0), above.fillna(0).clip(lower=0)
    whiskers = [below, above] if (below.any() or above.any()) else None  # no spread: no empty caps
    ax.bar(xs, values.fillna(0), color=colours, edgecolor="black", linewidth=0.6, width=0.7,
           yerr=whiskers, capsize=4, error_kw={"elinewidth": 1.2})
    for x, top, value in zip(xs, (values + above).fillna(0), values, strict=True):
        ax.annotate(format_value(value), (x, top), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    ax.grid(True, axis="y")
    ax.set_axisbelow(True)
    ax.margins(y=0.15)


def plot_latency_memory(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Latency (median, p10-p90 whiskers) over peak memory per model, sorted by latency.

    The whiskers show how stable the timing was; memory sits on the same x
    order so a fast but memory-hungry model stands out. The latency is the one
    of every figure and table (:func:`segbench.plots.data.model_latency`).
    """
    data = models.dropna(subset=[LATENCY]).sort_values(LATENCY).reset_index(drop=True)
    if data.empty:
        raise SkipPlot("no cell has a latency measurement")
    encoders = colours(sorted(data["encoder"].unique()))
    bar_colours = [encoders[e] for e in data["encoder"]]
    several = seed_count(frame) > 1
    fig = new_figure(max(8.0, 0.75 * len(data) + 4.0), 8.0)
    ax_lat, ax_mem = fig.subplots(2, 1, sharex=True)
    median = data[LATENCY]
    _bars(ax_lat, median, median - data[LATENCY_P10], data[LATENCY_P90] - median, bar_colours)
    over_seeds = ", mean over seeds" if several else ""
    ax_lat.set_ylabel(f"latency (ms per batch)\nmedian, whiskers p10-p90{over_seeds}")
    memory_std = data["peak_mem_mib_std"]
    _bars(ax_mem, data["peak_mem_mib"], memory_std, memory_std, bar_colours)
    methods = " / ".join(sorted({MEMORY_METHODS.get(m, m) for m in frame["mem_method"].dropna()}))
    ax_mem.set_ylabel(f"peak memory (MiB){', mean ± std over seeds' if several else ''}"
                      + (f"\n{methods}" if methods else ""))
    ax_mem.set_xticks(range(len(data)), data["label"], rotation=35, ha="right", rotation_mode="anchor")
    ax_lat.legend([Patch(facecolor=c, edgecolor="black") for c in encoders.values()], list(encoders),
                  title="encoder", loc="upper left", frameon=False)
    ax_lat.set_title("Latency and peak memory per model, sorted by median latency\n"
                     f"{conditions(frame, envs, seeds=False)}", loc="left")
    return fig
