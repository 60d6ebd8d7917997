"""Figures of one or several run directories: the trade-offs a table hides.

``make_plots`` reads the cell records (the source of truth: they hold the raw
latency samples, per-class IoU and training histories that table.csv leaves
out) and writes one file per figure. Runs of the same grid with different
seeds are pooled: a *model* is a cell's key without its seed, plotted as the
mean over seeds with the standard deviation as error bars.

A figure whose data is absent (no accuracy in a ``--profile-only`` run, no
checkpoints for the qualitative sheet) is skipped with a reason, reported
through ``report`` (by default a warning on the ``segbench.plots`` logger),
never an exception: one missing input must not cost the other figures.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas,
never through pyplot's global state, so nothing is left open and no GUI
backend is ever touched.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox

from segbench.inputs import read_csv, read_json
from segbench.outputs import open_atomic, prepare_dir
from segbench.models.catalog import model_label
from segbench.results import COLUMNS, KEY_COLUMNS, NUMERIC_COLUMNS
from segbench.rundir import RunDir

logger = logging.getLogger(__name__)

FORMATS = ("png", "svg", "pdf")
#: Columns ``metric`` may name: every numeric measurement of a cell.
METRICS = tuple(NUMERIC_COLUMNS)
ACCURACY = "miou"
DPI = 150
#: A model is a cell's key without its seed: seeds of one model are pooled.
MODEL_KEY = [c for c in KEY_COLUMNS if c != "seed"]

#: Axis and colourbar labels, with units, scales and directions: each column's own description.
LABELS = {name: col.header for name, col in COLUMNS.items()}
#: Shown multiplied by the column's scale (parameters in millions), as the label's unit says.
DISPLAY_SCALE = {name: 1 / col.scale for name, col in COLUMNS.items() if col.scale != 1}
#: Metrics where more is better: their heatmaps run the colour map the other way.
HIGHER_IS_BETTER = {name for name, col in COLUMNS.items() if col.higher_is_better}
MEMORY_METHODS = {
    "cuda_max_allocated": "CUDA max allocated",
    "rss_hwm_above_baseline": "RSS high-water mark above baseline",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]
LINESTYLES = ["-", "--", ":", "-."]
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 13,
    "grid.alpha": 0.35,
    "pdf.fonttype": 42,  # embedded TrueType: text stays text in the PDF
    "svg.fonttype": "none",
}

Report = Callable[[str], None]


class SkipPlot(Exception):
    """A figure cannot be drawn from these runs; ``str()`` says why."""


# -- loading -----------------------------------------------------------------------------------


def load_runs(runs: Sequence[Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """One row per cell record of every run, with the list fields kept and a model ``label``.

    Returns the frame and each run's environment (run.json).
    """
    frames, envs = [], []
    for path in runs:
        run = RunDir(path)
        if not run.has_records():
            raise ValueError(f"no cell records in {run.cells_dir}; is it a segbench run directory?")
        records = run.records()
        if not records:
            raise ValueError(f"no cell records in {run.cells_dir}; is it a segbench run directory?")
        frame = run.frame()
        for col in ["latency_samples_ms", "per_class_iou", "class_names", "train_history", "data_root"]:
            frame[col] = [r.get(col) for r in records]
        frame["run_dir"] = str(run.path)
        frames.append(frame)
        envs.append(run.environment() or {})
    frame = pd.concat(frames, ignore_index=True)
    frame["label"] = _model_labels(frame)
    return frame, envs


#: How a key value reads in a label (``b8``, ``c19``, ``cl``, ``dice loss``, ``crf``); the rest as they are.
_KEY_TEXT = {
    "batch_size": lambda v: f"b{v}",
    "num_classes": lambda v: f"c{v}",
    "channels_last": lambda v: "cl" if v is True or str(v) == "True" else "nchw",
    "train_loss": lambda v: f"{v} loss",
    "tta_scales": lambda v: f"tta {v}",
    "tta_flip": lambda v: "flip" if v is True or str(v) == "True" else "",
    "crf": lambda v: "crf" if v is True or str(v) == "True" else "",
    "crf_iterations": lambda v: f"crf x{int(float(v))}",
    "mc_samples": lambda v: f"mc{int(float(v))}",
    "attention_scales": lambda v: f"attention {v}",
}


def _key_text(column: str, value: Any) -> str:
    """A key value as it reads in a label; empty for a missing one (the plain model's add-ons)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return _KEY_TEXT.get(column, str)(value)


def _model_labels(frame: pd.DataFrame) -> pd.Series:
    """``encoder+decoder`` (or a whole network's name), plus every other key column that varies
    between models (size, precision, loss, inference add-ons...), so no two models share a label."""
    keys = frame[MODEL_KEY].astype(str)
    keys["input"] = frame["input_h"].astype(str) + "x" + frame["input_w"].astype(str)
    candidates = ["input", *(c for c in MODEL_KEY if c not in ("encoder", "decoder", "input_h", "input_w"))]
    extra = [c for c in candidates if keys[c].nunique(dropna=False) > 1]

    def label(i: int) -> str:
        row = frame.loc[i]
        parts = [_key_text(c, keys.at[i, c] if c == "input" else row[c]) for c in extra]
        return " ".join([model_label(row["encoder"], row["decoder"]), *filter(None, parts)])

    return pd.Series([label(i) for i in frame.index], index=frame.index)


def _stat(values: pd.Series) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN with fewer than two values)."""
    values = values.dropna()
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per model: mean and std over seeds of every metric, and pooled latency percentiles."""
    rows = []
    for label, group in frame.groupby("label", sort=False):
        first = group.iloc[0]
        row: dict[str, Any] = {"label": label, "encoder": first["encoder"], "decoder": first["decoder"]}
        for col in METRICS:
            row[col], row[f"{col}_std"] = _stat(group[col])
        samples = [s for lst in group["latency_samples_ms"] if lst for s in lst if s is not None]
        if samples:
            row["lat_median"], row["lat_p10"], row["lat_p90"] = np.percentile(samples, [50, 10, 90])
        else:
            row["lat_median"] = row["latency_ms_median"]
            row["lat_p10"] = _stat(group["latency_ms_p10"])[0]
            row["lat_p90"] = _stat(group["latency_ms_p90"])[0]
        rows.append(row)
    return pd.DataFrame(rows)


# -- shared helpers ----------------------------------------------------------------------------


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


def _colours(names: Sequence[str]) -> dict[str, Any]:
    """A stable colour per name (tab10, then tab20)."""
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _markers(names: Sequence[str]) -> dict[str, str]:
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(names)}


def _shared(frame: pd.DataFrame, column: str) -> str | None:
    values = frame[column].dropna().astype(str).unique()
    return values[0] if len(values) == 1 else None


def _hardware(frame: pd.DataFrame, envs: list[dict[str, Any]]) -> str:
    """``CPU: AMD EPYC, 2 threads`` or ``GPU: NVIDIA H100``, as run.json recorded it."""
    devices = set(frame["device"].dropna().astype(str))
    parts = []
    if any(d.startswith("cuda") for d in devices):
        gpus = sorted({str(e["gpu"]) for e in envs if e.get("gpu")})
        parts.append("GPU: " + (", ".join(gpus) or "CUDA"))
    if "cpu" in devices:
        cpus = sorted({str(e["cpu"]) for e in envs if e.get("cpu")})
        threads = sorted({int(t) for t in frame.loc[frame["device"] == "cpu", "threads"].dropna()})
        detail = ", ".join(cpus)
        if threads:
            detail += f"{', ' if detail else ''}{'/'.join(map(str, threads))} threads"
        parts.append("CPU" + (f": {detail}" if detail else ""))
    return "; ".join(parts)


def _conditions(frame: pd.DataFrame, envs: list[dict[str, Any]], seeds: bool = True) -> str:
    """The measurement conditions every plotted cell shares (and the seed count), for a subtitle."""
    parts = []
    if (h := _shared(frame, "input_h")) and (w := _shared(frame, "input_w")):
        parts.append(f"input {h}x{w}")
    if batch := _shared(frame, "batch_size"):
        parts.append(f"batch {batch}")
    if precision := _shared(frame, "precision"):
        parts.append(precision)
    if hardware := _hardware(frame, envs):
        parts.append(hardware)
    if seeds and (count := _seed_count(frame)) > 1:
        parts.append(f"mean ± std over {count} seeds")
    return " | ".join(parts)


def _seed_count(frame: pd.DataFrame) -> int:
    """The most seeds any model was run with."""
    return int(frame.groupby("label")["seed"].nunique(dropna=False).max())


def _accuracy_label(frame: pd.DataFrame) -> str:
    dataset, split = _shared(frame, "dataset"), _shared(frame, "eval_split")
    where = " ".join(x for x in [dataset, f"{split} split" if split else None] if x)
    return f"mIoU (%){' on ' + where if where else ''}"


def _format_value(value: float) -> str:
    """Three significant digits or so: enough to compare, short enough to fit a bar or a heatmap cell."""
    if not np.isfinite(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 else f"{value:.3g}"


def _format_spread(value: float) -> str:
    """A standard deviation to two significant digits, never in scientific notation."""
    if value >= 10:
        return f"{value:.0f}"
    return np.format_float_positional(value, precision=2, fractional=False, trim="-")


def _use_log_if_wide(ax: Axes, values: Sequence[float]) -> None:
    """A log x axis when the values span more than 10x, so cheap models are not crushed together."""
    finite = np.asarray([v for v in values if np.isfinite(v) and v > 0])
    if len(finite) > 1 and finite.max() / finite.min() > 10:
        ax.set_xscale("log")
        _plain_log_ticks(ax)


def _new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot: nothing global to close or leak."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_dir: Path, name: str, fmt: str) -> Path:
    """Write at 150 dpi; ``bbox_inches='tight'`` keeps outside legends and nudged labels in the file."""
    path = out_dir / f"{name}.{fmt}"
    with open_atomic(path, "wb") as f:  # a full disk: one line, and no half-written figure
        fig.savefig(f, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    fig.clear()
    return path


# -- point labels ------------------------------------------------------------------------------

LABEL_GAP_PT = 3.0  # horizontal gap between a point's marker and its label
LABEL_STEP_PT = 5.0  # vertical step between candidate label positions
MARKER_RADIUS_PT = 4.5
RING_RADIUS_PT = 8.0  # the ring around a Pareto point
LEADER_FROM_PT = 14.0  # a label further than this above or below its point gets a leader line
LEADER = {"arrowstyle": "-", "color": "0.45", "lw": 0.7, "shrinkA": 0, "shrinkB": 5}


def _annotate(ax: Axes, text: str, xy: tuple[float, float], offset: tuple[float, float],
              leader: bool = False) -> Annotation:
    """A point's label ``offset`` points away, on a translucent box; a leader line if asked."""
    return ax.annotate(
        text, xy, xytext=offset, textcoords="offset points", ha="right" if offset[0] < 0 else "left",
        va="center", fontsize=10, zorder=5,
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        arrowprops=LEADER if leader else None,
    )


def _candidates(left_first: bool, radius: float) -> list[tuple[float, float]]:
    """Label offsets to try, nearest first: beside the marker, then stepping up and down."""
    gap = radius + LABEL_GAP_PT
    sides = [-gap, gap] if left_first else [gap, -gap]
    offsets = []
    for k in range(16):
        for dy in ([0.0] if k == 0 else [k * LABEL_STEP_PT, -k * LABEL_STEP_PT]):
            offsets += [(dx, dy) for dx in sides]
    return offsets


def _clash(box: Bbox, others: list[Bbox], area: Bbox) -> float:
    """How badly a label box sits: area over other labels and markers, plus area outside the axes."""
    def shared(a0: float, a1: float, b0: float, b1: float) -> float:
        return max(0.0, min(a1, b1) - max(a0, b0))

    overlap = sum(shared(box.x0, box.x1, o.x0, o.x1) * shared(box.y0, box.y1, o.y0, o.y1) for o in others)
    inside = Bbox.intersection(box, area)
    outside = box.width * box.height - (inside.width * inside.height if inside is not None else 0.0)
    return overlap + 2.0 * outside


def _line_boxes(ax: Axes, xs: Sequence[float], ys: Sequence[float]) -> list[Bbox]:
    """Thin pixel boxes along a polyline in data coordinates: lines labels should not sit on."""
    pixels = ax.transData.transform(np.column_stack([xs, ys]))
    return [Bbox([np.minimum(a, b) - 1, np.maximum(a, b) + 1]) for a, b in zip(pixels[:-1], pixels[1:])]


Polyline = tuple[list[float], list[float]]


def _label_points(fig: Figure, ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                  order: Sequence[int], marker_radii: Sequence[float],
                  lines: Sequence[Polyline] = ()) -> None:
    """Label every point where it covers no other label, marker or line, and stays in the axes.

    Greedy, in ``order`` (important points first): each label takes the
    nearest free candidate position, else the least crowded one. Positions are
    in pixels, so call this once the layout is final.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72.0
    points = ax.transData.transform(np.column_stack([xs, ys]))
    radii_px = [r * px_per_pt for r in marker_radii]
    taken = [Bbox.from_bounds(px - r, py - r, 2 * r, 2 * r) for (px, py), r in zip(points, radii_px)]
    for line_xs, line_ys in lines:
        taken += _line_boxes(ax, line_xs, line_ys)
    area = ax.bbox
    for i in order:
        left_first = (points[i][0] - area.x0) / area.width > 0.62
        label = _annotate(ax, texts[i], (xs[i], ys[i]), (0.0, 0.0))
        best, best_clash = (0.0, 0.0), math.inf
        for offset in _candidates(left_first, marker_radii[i]):
            label.set_horizontalalignment("right" if offset[0] < 0 else "left")
            label.xyann = offset
            clash = _clash(label.get_window_extent(renderer).padded(2.0), taken, area)
            if clash < best_clash:
                best, best_clash = offset, clash
            if clash == 0:
                break
        label.remove()
        label = _annotate(ax, texts[i], (xs[i], ys[i]), best, leader=abs(best[1]) > LEADER_FROM_PT)
        taken.append(label.get_window_extent(renderer))


def _plain_log_ticks(ax: Axes) -> None:
    """Log-axis ticks as plain numbers (0.2, 0.5, 1, 2, 5), not 2 x 10^-1 crowding each other."""

    def major(value: float, _: int) -> str:
        return f"{value:g}"

    def minor(value: float, _: int) -> str:
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        return f"{value:g}" if round(mantissa) in (2, 5) else ""

    ax.xaxis.set_major_formatter(FuncFormatter(major))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))


# -- figures -----------------------------------------------------------------------------------


def _scatter_legend(ax: Axes, encoders: dict[str, Any], decoders: dict[str, str], front: bool) -> None:
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


def _step_line(xs: list[float], ys: list[float], x_end: float) -> tuple[list[float], list[float]]:
    """The front as a staircase: the best accuracy reachable stays flat until the next front point."""
    line_x, line_y = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:]):
        line_x += [x, x]
        line_y += [line_y[-1], y]
    return line_x + [x_end], line_y + [line_y[-1]]


def _accuracy_scatter(models: pd.DataFrame, cost: str, cost_std: str | None, xlabel: str, ylabel: str,
                      title: str) -> Figure:
    """Accuracy against one cost: a point per model, its Pareto front as a step line."""
    data = models.dropna(subset=[cost, ACCURACY]).sort_values(cost).reset_index(drop=True)
    encoders = _colours(sorted(data["encoder"].unique()))
    decoders = _markers(sorted(data["decoder"].unique()))
    fig = _new_figure(10.5, 6.2)
    ax = fig.add_subplot()
    for _, row in data.iterrows():
        ax.errorbar(row[cost], row[ACCURACY],
                    xerr=row[cost_std] if cost_std and np.isfinite(row[cost_std]) else None,
                    yerr=row[f"{ACCURACY}_std"] if np.isfinite(row[f"{ACCURACY}_std"]) else None,
                    marker=decoders[row["decoder"]], color=encoders[row["encoder"]],
                    markersize=2 * MARKER_RADIUS_PT,
                    linestyle="none", capsize=3, elinewidth=1.2, markeredgecolor="black",
                    markeredgewidth=0.6, zorder=3)
    front = pareto_front(data[cost].tolist(), data[ACCURACY].tolist())
    lines: list[Polyline] = []
    if front:
        fx = data.loc[front, cost].to_numpy()
        fy = data.loc[front, ACCURACY].to_numpy()
        ax.scatter(fx, fy, s=(2 * RING_RADIUS_PT) ** 2, facecolors="none", edgecolors="black", linewidths=1.4,
                   zorder=4)
        lines.append(_step_line(fx.tolist(), fy.tolist(), float(data[cost].max())))
        ax.plot(*lines[0], linestyle="--", color="black", linewidth=1.2, zorder=2)
    _use_log_if_wide(ax, data[cost].tolist())
    ax.margins(x=0.15, y=0.18)
    ax.grid(True, which="both")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    _scatter_legend(ax, encoders, decoders, bool(front))
    fig.canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout: labels are placed in pixels from here on
    on_front = set(front)
    order = [*front, *(i for i in range(len(data)) if i not in on_front)]  # front labels get the best spots
    radii = [RING_RADIUS_PT if i in on_front else MARKER_RADIUS_PT for i in range(len(data))]
    _label_points(fig, ax, data[cost].tolist(), data[ACCURACY].tolist(), data["label"].tolist(), order, radii,
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
    title = (f"Accuracy vs compute: GFLOPs = 2 x multiply-adds (fvcore), per image\n"
             f"{_conditions(frame, envs)}")
    return _accuracy_scatter(models, "gflops", None, LABELS["gflops"], _accuracy_label(frame), title)


def plot_accuracy_vs_latency(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Accuracy against measured speed on this machine: the trade-off a deployment sees."""
    _require_accuracy(models, "latency_ms_median")
    title = f"Accuracy vs latency on this machine\n{_conditions(frame, envs)}"
    return _accuracy_scatter(models, "latency_ms_median", "latency_ms_median_std",
                             LABELS["latency_ms_median"], _accuracy_label(frame), title)


def _bars(ax: Axes, values: pd.Series, below: pd.Series, above: pd.Series, colours: list[Any]) -> None:
    """Bars with asymmetric whiskers (``below``/``above`` the top) and the value written over each."""
    xs = np.arange(len(values))
    below, above = below.fillna(0).clip(lower=0), above.fillna(0).clip(lower=0)
    whiskers = [below, above] if (below.any() or above.any()) else None  # no spread: no empty caps
    ax.bar(xs, values.fillna(0), color=colours, edgecolor="black", linewidth=0.6, width=0.7,
           yerr=whiskers, capsize=4, error_kw={"elinewidth": 1.2})
    for x, top, value in zip(xs, (values + above).fillna(0), values):
        ax.annotate(_format_value(value), (x, top), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    ax.grid(True, axis="y")
    ax.set_axisbelow(True)
    ax.margins(y=0.15)


def plot_latency_memory(frame: pd.DataFrame, models: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Latency (median, p10-p90 whiskers) over peak memory per model, sorted by latency.

    The whiskers show how stable the timing was; memory sits on the same x
    order so a fast but memory-hungry model stands out.
    """
    data = models.dropna(subset=["lat_median"]).sort_values("lat_median").reset_index(drop=True)
    if data.empty:
        raise SkipPlot("no cell has a latency measurement")
    encoders = _colours(sorted(data["encoder"].unique()))
    colours = [encoders[e] for e in data["encoder"]]
    several = _seed_count(frame) > 1
    fig = _new_figure(max(8.0, 0.75 * len(data) + 4.0), 8.0)
    ax_lat, ax_mem = fig.subplots(2, 1, sharex=True)
    median = data["lat_median"]
    _bars(ax_lat, median, median - data["lat_p10"], data["lat_p90"] - median, colours)
    pooled = " (seeds pooled)" if several else ""
    ax_lat.set_ylabel(f"latency (ms per batch)\nmedian, whiskers p10-p90{pooled}")
    memory_std = data["peak_mem_mib_std"]
    _bars(ax_mem, data["peak_mem_mib"], memory_std, memory_std, colours)
    methods = " / ".join(sorted({MEMORY_METHODS.get(m, m) for m in frame["mem_method"].dropna()}))
    ax_mem.set_ylabel(f"peak memory (MiB){', mean ± std over seeds' if several else ''}"
                      + (f"\n{methods}" if methods else ""))
    ax_mem.set_xticks(range(len(data)), data["label"], rotation=35, ha="right", rotation_mode="anchor")
    ax_lat.legend([Patch(facecolor=c, edgecolor="black") for c in encoders.values()], list(encoders),
                  title="encoder", loc="upper left", frameon=False)
    ax_lat.set_title("Latency and peak memory per model, sorted by median latency\n"
                     f"{_conditions(frame, envs, seeds=False)}", loc="left")
    return fig


def _facets(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Groups of cells that differ only in encoder and decoder: one encoder x decoder grid each."""
    others = [c for c in MODEL_KEY if c not in ("encoder", "decoder") and frame[c].astype(str).nunique() > 1]
    if not others:
        return [("", frame)]
    groups = frame.groupby([frame[c].astype(str) for c in others], sort=True)
    return [(" ".join(_key_text(c, v) for c, v in zip(others, key)), group) for key, group in groups]


def _text_colour(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _grid_cell_text(value: float, std: float, status: str) -> str:
    """A heatmap cell's annotation: the mean, its spread when seeds differ, or why it has no value."""
    if not np.isfinite(value):
        return status or "–"
    text = _format_value(value)
    if np.isfinite(std) and std > 0:
        text += f"\n± {_format_spread(std)}"
    return text


GridTables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def _grid_tables(group: pd.DataFrame, metric: str, encoders: list[str], decoders: list[str]) -> GridTables:
    """Encoder x decoder tables of the mean over seeds, its std, and the failure status of empty cells."""
    cells = group.assign(value=group[metric] / DISPLAY_SCALE.get(metric, 1.0)).groupby(["encoder", "decoder"])

    def table(series: pd.Series) -> pd.DataFrame:
        return series.unstack().reindex(index=encoders, columns=decoders)

    failed = table(cells["status"].agg(lambda st: "/".join(sorted(set(st) - {"ok"})))).fillna("")
    return table(cells["value"].mean()), table(cells["value"].std(ddof=1)), failed


def _draw_grid(ax: Axes, tables: GridTables, cmap: Any, norm: Any) -> Any:
    """One encoder x decoder heatmap on ``ax``, annotated; returns the image for the colourbar."""
    grid, spread, failed = tables
    encoders, decoders = list(grid.index), list(grid.columns)
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        colour = _text_colour(cmap(norm(value))) if np.isfinite(value) else "0.25"
        ax.text(j, i, _grid_cell_text(value, spread.iat[i, j], failed.iat[i, j]), ha="center", va="center",
                fontsize=11, color=colour)
    ax.set_xticks(range(len(decoders)), decoders)
    ax.set_yticks(range(len(encoders)), encoders)
    ax.set_xlabel("decoder")
    ax.set_ylabel("encoder")
    ax.set_xticks(np.arange(len(decoders) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(encoders) + 1) - 0.5, minor=True)
    ax.grid(True, which="minor", color="white", linewidth=2, alpha=1)
    ax.tick_params(which="both", length=0)
    return image


def plot_heatmap(frame: pd.DataFrame, metric: str, envs: list[dict[str, Any]]) -> Figure:
    """``metric`` over the encoder x decoder grid: which component drives the number.

    The colour map runs so that brighter is better (more accuracy, less cost).
    """
    if frame[metric].notna().sum() == 0:
        raise SkipPlot(f"no cell has a value for {metric}")
    facets = _facets(frame)
    encoders, decoders = sorted(frame["encoder"].unique()), sorted(frame["decoder"].unique())
    tables = [_grid_tables(group, metric, encoders, decoders) for _, group in facets]
    low = min(np.nanmin(t[0].to_numpy(dtype=float)) for t in tables)
    high = max(np.nanmax(t[0].to_numpy(dtype=float)) for t in tables)
    norm = matplotlib.colors.Normalize(low, high if high > low else low + 1)
    cmap = matplotlib.colormaps["viridis" if metric in HIGHER_IS_BETTER else "viridis_r"]
    cmap = cmap.with_extremes(bad="0.85")
    fig = _new_figure(len(facets) * (1.45 * len(decoders) + 1.8) + 1.6, 0.8 * len(encoders) + 2.4)
    axes = fig.subplots(1, len(facets), squeeze=False)[0]
    for ax, (name, _), facet_tables in zip(axes, facets, tables):
        image = _draw_grid(ax, facet_tables, cmap, norm)
        ax.set_title(name)
    fig.colorbar(image, ax=list(axes), label=LABELS.get(metric, metric), shrink=0.9)
    seeds = _seed_count(frame)
    note = f"mean ± std over {seeds} seeds" if seeds > 1 else "one cell each"
    fig.suptitle(f"{LABELS.get(metric, metric)} per encoder x decoder, {note}; grey = no value\n"
                 f"{_conditions(frame, envs, seeds=False)}", x=0.02, ha="left", fontsize=12)
    return fig


def _per_class_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Models x classes of IoU (mean over seeds), and each model's mIoU; models by mIoU, best first."""
    rows, mious = {}, {}
    for label, group in frame.groupby("label", sort=False):
        arrays = [np.asarray([math.nan if v is None else v for v in lst], dtype=float)
                  for lst in group["per_class_iou"] if lst]
        names = next((lst for lst in group["class_names"] if lst), None)
        names = names or [f"class {i}" for i in range(len(arrays[0]))]
        with warnings.catch_warnings():  # a class absent in every seed: NaN is the right mean
            warnings.simplefilter("ignore", RuntimeWarning)
            rows[label] = pd.Series(np.nanmean(np.vstack(arrays), axis=0), index=names)
        mious[label] = group["miou"].mean()
    table = pd.DataFrame(rows).T
    order = pd.Series(mious).sort_values(ascending=False).index
    return table.loc[order], pd.Series(mious)[order]


def plot_per_class_iou(frame: pd.DataFrame, report: Report) -> Figure:
    """Models x classes of IoU: which classes every model misses, and where models differ.

    Class lists differ between datasets, so only the first dataset's cells are shown.
    """
    scored = frame[frame["per_class_iou"].map(bool)]
    if scored.empty:
        raise SkipPlot("no cell has per-class IoU (a --profile-only run, or every training failed)")
    dataset = scored["dataset"].iloc[0]
    if others := sorted(set(scored["dataset"].astype(str)) - {str(dataset)}):
        report(f"per_class_iou: shows {dataset} only; left out {', '.join(others)}")
        scored = scored[scored["dataset"] == dataset]
    table, mious = _per_class_table(scored)
    classes = list(table.columns)
    annotate = len(classes) <= 40
    width = max(8.0, (0.95 if annotate else 0.22) * len(classes) + 4.5)
    fig = _new_figure(width, 0.55 * len(table) + 2.8)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(table.to_numpy(dtype=float)), cmap=cmap, vmin=0, vmax=100,
                      aspect="auto")
    if annotate:
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            text = f"{value:.0f}" if np.isfinite(value) else "–"
            ax.text(j, i, text, ha="center", va="center", fontsize=10,
                    color=_text_colour(cmap(value / 100)) if np.isfinite(value) else "0.3")
    ax.set_xticks(range(len(classes)), classes, rotation=35 if annotate else 90, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(len(table)), [f"{m}  (mIoU {mious[m]:.1f})" for m in table.index])
    ax.tick_params(length=0)
    fig.colorbar(image, ax=ax, label="IoU (%)", pad=0.01)
    seeds = _seed_count(scored)
    where = _accuracy_label(scored).removeprefix("mIoU (%)").strip()
    ax.set_title(f"Per-class IoU (%) {where}{f', mean over {seeds} seeds' if seeds > 1 else ''}; "
                 f"grey = class absent from prediction and ground truth", loc="left")
    return fig


def _history(row: pd.Series) -> pd.DataFrame:
    """A cell's per-epoch log: train/<cell_id>/log.csv, else the history in its record."""
    path = Path(row["run_dir"]) / "train" / str(row["cell_id"]) / "log.csv"
    if path.is_file():
        log = read_csv(path, "training log")
    elif row["train_history"]:
        log = pd.DataFrame(row["train_history"])
    else:
        return pd.DataFrame()
    for col in ["iteration", "loss", "val_miou"]:
        log[col] = pd.to_numeric(log.get(col), errors="coerce")
    return log


def plot_training_curves(frame: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Loss and validation mIoU against iteration: did each cell converge, or stop early?"""
    logs = [(row, _history(row)) for _, row in frame.iterrows()]
    logs = [(row, log) for row, log in logs if not log.empty]
    if not logs:
        raise SkipPlot("no training log (train/<cell>/log.csv) nor history in the records")
    encoders = _colours(sorted({row["encoder"] for row, _ in logs}))
    decoder_names = sorted({row["decoder"] for row, _ in logs})
    styles = {d: LINESTYLES[i % len(LINESTYLES)] for i, d in enumerate(decoder_names)}
    markers = _markers(decoder_names)
    fig = _new_figure(13.0, 5.4)
    ax_loss, ax_miou = fig.subplots(1, 2)
    seen: set[str] = set()
    for row, log in sorted(logs, key=lambda item: (item[0]["label"], str(item[0]["seed"]))):
        style = {"color": encoders[row["encoder"]], "linestyle": styles[row["decoder"]],
                 "marker": markers[row["decoder"]], "markersize": 6, "linewidth": 1.6}
        label = None if row["label"] in seen else row["label"]
        seen.add(row["label"])
        ax_loss.plot(log["iteration"], log["loss"], label=label, **style)
        val = log.dropna(subset=["val_miou"])
        ax_miou.plot(val["iteration"], val["val_miou"], **style)
    ax_loss.set(xlabel="iteration", ylabel="training loss (epoch mean)", title="Training loss")
    ax_miou.set(xlabel="iteration", ylabel="validation mIoU (%)", title="Validation mIoU")
    last = max(float(log["iteration"].max()) for _, log in logs)
    for ax in (ax_loss, ax_miou):
        ax.grid(True)
        ax.margins(y=0.12)
        ax.set_xlim(0, last * 1.05 if last > 0 else 1)  # from iteration 0: one epoch is a point at its end
    seeds = _seed_count(frame)
    fig.legend(loc="outside right upper", frameon=False, title="colour = encoder\nmarker, line = decoder")
    dataset = _shared(frame, "dataset")
    fig.suptitle(f"Training curves{f' on {dataset}' if dataset else ''}, one point per epoch"
                 f"{f', one line per seed ({seeds} seeds)' if seeds > 1 else ''}", x=0.02, ha="left")
    return fig


# -- qualitative sheet -------------------------------------------------------------------------


def _colourise(label: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int) -> np.ndarray:
    """A label map in the dataset's palette; the ignore index (and anything unknown) black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = np.asarray(palette, dtype=np.uint8)
    if 0 <= ignore_index < 256:
        lut[ignore_index] = 0
    return lut[np.clip(label, 0, 255).astype(np.uint8)]


def _sheet_models(frame: pd.DataFrame, report: Report) -> list[tuple[pd.Series, Path]]:
    """One checkpointed cell per model (its lowest seed), best mIoU first; cells without one reported."""
    chosen, missing = [], []
    for label, group in frame.groupby("label", sort=False):
        for _, row in group.sort_values("seed").iterrows():
            path = Path(row["run_dir"]) / "train" / str(row["cell_id"]) / "last.pt"
            if path.is_file():
                chosen.append((row, path))
                break
        else:
            missing.append(str(label))
    if missing and chosen:
        report(f"qualitative sheet: no checkpoint (train/<cell>/last.pt) for {', '.join(missing)}; left out")
    return sorted(chosen, key=lambda item: -np.nan_to_num(item[0]["miou"], nan=-1.0))


def _predict(checkpoint: Path, images: list[Any]) -> list[np.ndarray]:
    """Label maps (argmax of the logits) of a checkpoint's model, on the CPU in eval mode."""
    import torch

    from segbench.evaluate import load_checkpoint

    model, _ = load_checkpoint(checkpoint, "cpu")
    with torch.inference_mode():
        if len({tuple(image.shape) for image in images}) == 1:  # one forward per model, not per image
            return list(model(torch.stack(images)).argmax(1).numpy())
        return [model(image[None]).argmax(1)[0].numpy() for image in images]


def _palette_legend(info: Any, classes: list[int]) -> tuple[list[Patch], list[str]]:
    """A swatch per class shown, and one for the ignore index (black), merged with a black class."""
    handles = [Patch(facecolor=np.asarray(info.palette[k]) / 255, edgecolor="0.5") for k in classes]
    names = [info.class_names[k] for k in classes]
    ignore = f"ignore ({info.ignore_index})"
    black = [i for i, k in enumerate(classes) if tuple(info.palette[k]) == (0, 0, 0)]
    if black:
        names[black[0]] += f" / {ignore}"
    else:
        handles.append(Patch(facecolor="black", edgecolor="0.5"))
        names.append(ignore)
    return handles, names


def plot_qualitative(frame: pd.DataFrame, num_images: int, data_root: str | None, report: Report) -> Figure:
    """Images, ground truth and each model's prediction side by side: errors a number cannot show."""
    from segbench.data import build_dataset

    if num_images <= 0:
        raise SkipPlot("qualitative_images is 0")
    trained = frame[frame["dataset"].notna() & (frame["status"] == "ok")]
    if trained.empty:
        raise SkipPlot("no trained cell (a --profile-only run)")
    dataset, split = str(trained["dataset"].iloc[0]), str(trained["eval_split"].iloc[0] or "test")
    models = _sheet_models(trained[(trained["dataset"] == dataset)], report)
    if not models:
        raise SkipPlot("no cell has a checkpoint at train/<cell>/last.pt")
    root = data_root or next((r for r in trained["data_root"] if r), None)
    try:
        ds = build_dataset(dataset, root, split)
    except (FileNotFoundError, ValueError) as e:
        raise SkipPlot(f"cannot open {dataset} {split}: {e}") from e
    info = ds.info
    indices = np.unique(np.linspace(0, len(ds) - 1, min(num_images, len(ds))).round().astype(int)).tolist()
    samples = [ds.load_sample(i) for i in indices]
    inputs = [ds[i][0] for i in indices]
    predictions = [_predict(path, inputs) for _, path in models]

    height, width = samples[0][1].shape
    panel = 2.3
    cols, rows = 2 + len(models), len(indices)
    fig = _new_figure(cols * panel * max(0.6, min(2.0, width / height)), rows * panel + 1.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    titles = ["image", "ground truth"] + [
        f"{row['label']}\nseed {row['seed']}, mIoU {row['miou']:.1f}" for row, _ in models]
    shown: set[int] = set()
    for r, (image, mask) in enumerate(samples):
        maps = [mask] + [pred[r] for pred in predictions]
        shown.update(int(v) for m in maps for v in np.unique(m) if v < info.num_classes)
        panels = [image] + [_colourise(m, info.palette, info.ignore_index) for m in maps]
        for c, picture in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=10)
        axes[r, 0].set_ylabel(ds.stems[indices[r]], fontsize=9)
    if len(shown) <= 40:
        handles, names = _palette_legend(info, sorted(shown))
        per_row = max(3, int(fig.get_figwidth() / 1.7))  # as many swatches as fit the sheet's width
        fig.legend(handles, names, loc="outside lower center", ncol=min(len(handles), per_row), frameon=False)
    fig.suptitle(f"Predictions on {dataset} {split} (full-size images, CPU), models by mIoU",
                 x=0.02, ha="left")
    return fig


# -- entry point -------------------------------------------------------------------------------


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
    its reason passed to ``report`` (default: a warning on this module's logger).
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
            written.append(_save(fig, out_dir, name, fmt))
    return written
