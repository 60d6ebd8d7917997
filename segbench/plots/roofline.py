"""The roofline: achieved FLOP/s over arithmetic intensity, under the ceilings this run measured.

A point below the sloped roof is held back by memory traffic, one below the
flat roof by compute; its distance under the roof is what its kernels leave on
the table. Each label carries the cell's ``roofline_fraction`` (per-op floor /
measured latency), the number the tables print.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from segbench.plots.data import LABELS, conditions
from segbench.plots.layout import MARKER_RADIUS_PT, Polyline, SkipPlot, colours, label_points, markers, new_figure

X, Y = "arith_intensity", "achieved_gflop_s"
PEAK, BANDWIDTH = "peak_gflop_s", "bandwidth_gb_s"
#: Points are told apart by runtime where the runs have that axis, else by decoder.
MARKER_KEYS = ("runtime", "decoder")


def _roofs(cells: pd.DataFrame) -> pd.DataFrame:
    """One roof per device and precision: the mean over runs of the ceilings its cells carry."""
    return cells.groupby(["device", "precision"], sort=True)[[PEAK, BANDWIDTH]].mean().reset_index()


def plot_roofline(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Arithmetic intensity (FLOP/B) against achieved GFLOP/s, log-log, one point per model, its roof drawn."""
    cells = frame.dropna(subset=[X, Y, PEAK, BANDWIDTH])
    if cells.empty:
        raise SkipPlot("no cell has roofline columns (an ok cell, timed in a run that probed its ceilings)")
    marker_key = next(k for k in MARKER_KEYS if k in cells.columns)
    first = cells.drop_duplicates("label").set_index("label")
    data = models[models["label"].isin(first.index)].dropna(subset=[X, Y]).reset_index(drop=True)
    roofs = _roofs(cells)
    roof_names = [f"{d} {p}" for d, p in zip(roofs["device"], roofs["precision"], strict=True)]
    roof_colours = colours(roof_names)
    shapes = markers(sorted(first[marker_key].astype(str).unique()))

    x_lo = min(data[X].min(), (roofs[PEAK] / roofs[BANDWIDTH]).min()) / 4
    x_hi = max(data[X].max(), (roofs[PEAK] / roofs[BANDWIDTH]).max()) * 4
    xs = np.geomspace(x_lo, x_hi, 200)
    fig = new_figure(10.5, 6.5)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    lines: list[Polyline] = []
    handles: list[Line2D] = []
    for name, roof in zip(roof_names, roofs.itertuples(index=False), strict=True):
        peak, bandwidth = float(getattr(roof, PEAK)), float(getattr(roof, BANDWIDTH))
        ys = np.minimum(peak, bandwidth * xs)
        ax.plot(xs, ys, color=roof_colours[name], linewidth=1.8, zorder=2)
        lines.append((xs.tolist(), ys.tolist()))
        handles.append(Line2D([], [], color=roof_colours[name], linewidth=1.8,
                              label=f"{name}: {peak:,.0f} GFLOP/s, {bandwidth:,.1f} GB/s"))
    texts = []
    for row in data.itertuples(index=False):
        cell = first.loc[row.label]
        name = f"{cell['device']} {cell['precision']}"
        ax.plot(getattr(row, X), getattr(row, Y), marker=shapes[str(cell[marker_key])], color=roof_colours[name],
                markersize=2 * MARKER_RADIUS_PT, markeredgecolor="black", markeredgewidth=0.6, linestyle="none",
                zorder=3)
        texts.append(f"{row.label} ({row.roofline_fraction:.2f})")
    handles += [Line2D([], [], linestyle="none", label=f"{marker_key} (marker)")]
    handles += [Line2D([], [], marker=m, color="0.35", linestyle="none", markersize=8, label=k)
                for k, m in shapes.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
              title="ceilings measured by the run's probe")
    ax.grid(True, which="both")
    ax.set_xlim(x_lo, x_hi)
    ax.set_xlabel(f"{LABELS[X]}: FLOPs / bytes, each op's inputs, weights and outputs moved once")
    ax.set_ylabel(f"{LABELS[Y]}: 2 x MACs x batch / median latency")
    ax.set_title("Roofline: achieved FLOP/s under the measured ceilings (label: roofline fraction)\n"
                 f"{conditions(frame, envs, spread=False)}", loc="left")
    fig.canvas.draw()
    fig.set_layout_engine("none")  # labels are placed in pixels from here on
    order = list(data[Y].sort_values(ascending=False).index)
    label_points(fig, ax, data[X].tolist(), data[Y].tolist(), texts, order, [MARKER_RADIUS_PT] * len(data), lines)
    return fig
