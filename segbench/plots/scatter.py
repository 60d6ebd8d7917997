"""Accuracy against a cost (GFLOPs, latency): a point per model and the Pareto front of the trade-off."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from segbench.plots.data import (
    ACCURACY,
    LABELS,
    LATENCY,
    LATENCY_P10,
    LATENCY_P90,
    accuracy_label,
    conditions,
    over_cells,
    scored_on,
)
from segbench.plots.layout import (
    MARKER_RADIUS_PT,
    RING_RADIUS_PT,
    Polyline,
    SkipPlot,
    asymmetric,
    colours,
    label_models,
    markers,
    new_figure,
    use_log_if_wide,
)


def pareto_front(costs: Sequence[float], values: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats at lower-or-equal cost, by increasing cost.

    A point is on the front when every cheaper-or-equal point has a strictly
    lower value; of exact duplicates only the first is kept. NaNs are never on it.
    """
    costs_a, values_a = np.asarray(costs, dtype=float), np.asarray(values, dtype=float)
    valid = [i for i in range(len(costs_a)) if np.isfinite(costs_a[i]) and np.isfinite(values_a[i])]
    order = sorted(valid, key=lambda i: (costs_a[i], -values_a[i], i))
    front, best = [], -math.inf
    for i in order:
        if values_a[i] > best:
            front.append(i)
            best = values_a[i]
    return front


def _legend(ax: Axes, encoders: dict[str, Any], decoders: dict[str, str], front: bool) -> None:
    """One legend outside the axes: colour = encoder, marker = decoder, the Pareto front."""
    blank = Line2D([], [], linestyle="none")
    handles = [blank] + [Line2D([], [], marker="o", linestyle="none", color=c, markersize=8)
                         for c in encoders.values()]
    names = ["Encoder (colour)", *encoders]
    handles += [blank] + [Line2D([], [], marker=m, linestyle="none", color="0.35", markersize=8)
                          for m in decoders.values()]
    names += ["Decoder (marker)", *decoders]
    if front:
        handles += [Line2D([], [], color="black", linestyle="--", marker="o", markerfacecolor="none",
                           markersize=11)]
        names += ["Pareto front"]
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              frameon=False, handletextpad=0.4)


def _step_line(xs: list[float], ys: list[float], x_end: float) -> Polyline:
    """The front as a staircase: the best accuracy reachable stays flat until the next front point."""
    line_x, line_y = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        line_x += [x, x]
        line_y += [line_y[-1], y]
    return [*line_x, x_end], [*line_y, line_y[-1]]


def _accuracy_scatter(models: pd.DataFrame, cost: str, spread: tuple[str, str] | None, xlabel: str, ylabel: str,
                      title: str) -> Figure:
    """Accuracy against one cost: a point per model, its Pareto front as a step line.

    ``spread`` names the columns of the cost's low and high ends (p10, p90):
    whiskers that are asymmetric, as timings are, and never run below zero.
    """
    data = models.dropna(subset=[cost, ACCURACY]).sort_values(cost).reset_index(drop=True)
    encoders = colours(sorted(data["encoder"].unique()))
    decoders = markers(sorted(data["decoder"].unique()))
    fig = new_figure(10.5, 6.2)
    ax = fig.add_subplot()
    xerr = asymmetric(data[cost], data[spread[0]], data[spread[1]]) if spread else None
    for i, row in data.iterrows():
        ax.errorbar(row[cost], row[ACCURACY],
                    xerr=xerr[:, [int(i)]] if xerr is not None and xerr[:, int(i)].any() else None,
                    yerr=row[f"{ACCURACY}_std"] if np.isfinite(row[f"{ACCURACY}_std"]) else None,
                    marker=decoders[row["decoder"]], color=encoders[row["encoder"]],
                    markersize=2 * MARKER_RADIUS_PT,
                    linestyle="none", capsize=3, elinewidth=1.2, markeredgecolor="black",
                    markeredgewidth=0.6, zorder=3, label=row["label"])
    front = pareto_front(data[cost].tolist(), data[ACCURACY].tolist())
    lines: list[Polyline] = []
    if front:
        fx = data.loc[front, cost].to_numpy()
        fy = data.loc[front, ACCURACY].to_numpy()
        ax.scatter(fx, fy, s=(2 * RING_RADIUS_PT) ** 2, facecolors="none", edgecolors="black", linewidths=1.4,
                   zorder=4)
        lines.append(_step_line(fx.tolist(), fy.tolist(), float(data[cost].max())))
        ax.plot(*lines[0], linestyle="--", color="black", linewidth=1.2, zorder=2)
    use_log_if_wide(ax, data[cost].tolist())
    ax.margins(x=0.15, y=0.18)
    ax.grid(True, which="both")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    _legend(ax, encoders, decoders, bool(front))
    fig.canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout: labels are placed in pixels from here on
    radii = [RING_RADIUS_PT if i in set(front) else MARKER_RADIUS_PT for i in range(len(data))]
    label_models(fig, ax, data[cost].tolist(), data[ACCURACY].tolist(), data["label"].tolist(), front, radii,
                 lines)
    return fig


def _require_accuracy(models: pd.DataFrame, cost: str) -> None:
    if models[ACCURACY].notna().sum() == 0:
        raise SkipPlot("no cell has an mIoU (a --profile-only run, or every training failed)")
    if models.dropna(subset=[cost, ACCURACY]).empty:
        raise SkipPlot(f"no cell has both an mIoU and {cost}")


def plot_accuracy_vs_gflops(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Accuracy against compute: GFLOPs do not depend on the machine, so this ranking travels."""
    _require_accuracy(models, "gflops")
    title = (f"Accuracy{_on(frame)} vs compute: GFLOPs = 2 x multiply-adds (fvcore), per image\n"
             f"{conditions(frame, envs)}")
    return _accuracy_scatter(models, "gflops", None, LABELS["gflops"], accuracy_label(frame), title)


def plot_accuracy_vs_latency(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Accuracy against measured speed on this machine: the trade-off a deployment sees."""
    _require_accuracy(models, LATENCY)
    over = f" ({over})" if (over := over_cells(frame, "mean")) else ""
    title = (f"Accuracy{_on(frame)} vs latency on this machine; latency whiskers p10-p90{over}\n"
             f"{conditions(frame, envs)}")
    return _accuracy_scatter(models, LATENCY, (LATENCY_P10, LATENCY_P90), LABELS[LATENCY], accuracy_label(frame),
                             title)


def _on(frame: pd.DataFrame) -> str:
    where = scored_on(frame)
    return f" on {where}" if where else ""
