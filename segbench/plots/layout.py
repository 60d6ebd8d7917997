"""How every figure looks and is written: the canvas, the style, colours and markers, axes, point labels.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas,
never through pyplot's global state, so nothing is left open and no GUI
backend is ever touched.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox

from segbench.outputs import open_atomic

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = ("png", "svg", "pdf")
DPI = 150
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]
LINESTYLES = ["-", "--", ":", "-."]
STYLE: dict[RcKeyType, Any] = {
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

#: Where a figure's reasons for skipping go (``make_plots``' ``report``).
Report = Callable[[str], None]


class SkipPlot(Exception):
    """A figure cannot be drawn from these runs; ``str()`` says why."""


# -- canvas and files --------------------------------------------------------------------------


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot: nothing global to close or leak."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out_dir: Path, name: str, fmt: str) -> Path:
    """Write at 150 dpi; ``bbox_inches='tight'`` keeps outside legends and nudged labels in the file."""
    path = out_dir / f"{name}.{fmt}"
    with open_atomic(path, "wb") as f:  # a full disk: one line, and no half-written figure
        fig.savefig(f, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    fig.clear()
    return path


# -- colours, markers, numbers -----------------------------------------------------------------


def colours(names: Sequence[str]) -> dict[str, Any]:
    """A stable colour per name (tab10, then tab20)."""
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def markers(names: Sequence[str]) -> dict[str, str]:
    """A stable marker per name, cycling through :data:`MARKERS`."""
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(names)}


def text_colour(rgba: Sequence[float]) -> str:
    """Black on a light background, white on a dark one: text written over a colour map stays legible."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def format_value(value: float) -> str:
    """Three significant digits or so: enough to compare, short enough to fit a bar or a heatmap cell."""
    if not np.isfinite(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 else f"{value:.3g}"


def format_spread(value: float) -> str:
    """A standard deviation to two significant digits, never in scientific notation."""
    if value >= 10:
        return f"{value:.0f}"
    return np.format_float_positional(value, precision=2, fractional=False, trim="-")


# -- log axes ----------------------------------------------------------------------------------


def use_log_if_wide(ax: Axes, values: Sequence[float]) -> None:
    """A log x axis when the values span more than 10x, so cheap models are not crushed together."""
    finite = np.asarray([v for v in values if np.isfinite(v) and v > 0])
    if len(finite) > 1 and finite.max() / finite.min() > 10:
        ax.set_xscale("log")
        plain_log_ticks(ax)


def plain_log_ticks(ax: Axes) -> None:
    """Log-axis ticks as plain numbers (0.2, 0.5, 1, 2, 5), not 2 x 10^-1 crowding each other."""

    def major(value: float, _: int) -> str:
        return f"{value:g}"

    def minor(value: float, _: int) -> str:
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        return f"{value:g}" if round(mantissa) in (2, 5) else ""

    ax.xaxis.set_major_formatter(FuncFormatter(major))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))


# -- point labels ------------------------------------------------------------------------------

LABEL_GAP_PT = 3.0  # horizontal gap between a point's marker and its label
LABEL_STEP_PT = 5.0  # vertical step between candidate label positions
MARKER_RADIUS_PT = 4.5
RING_RADIUS_PT = 8.0  # the ring around a Pareto point
LEADER_FROM_PT = 14.0  # a label further than this above or below its point gets a leader line
LEADER = {"arrowstyle": "-", "color": "0.45", "lw": 0.7, "shrinkA": 0, "shrinkB": 5}

#: A line in data coordinates (xs, ys) that labels should keep off.
Polyline = tuple[list[float], list[float]]


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
    def overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
        return max(0.0, min(a1, b1) - max(a0, b0))

    overlap = sum(overlap_1d(box.x0, box.x1, o.x0, o.x1) * overlap_1d(box.y0, box.y1, o.y0, o.y1)
                  for o in others)
    inside = Bbox.intersection(box, area)
    outside = box.width * box.height - (inside.width * inside.height if inside is not None else 0.0)
    return overlap + 2.0 * outside


def _line_boxes(ax: Axes, xs: Sequence[float], ys: Sequence[float]) -> list[Bbox]:
    """Thin pixel boxes along a polyline in data coordinates: lines labels should not sit on."""
    pixels = ax.transData.transform(np.column_stack([xs, ys]))
    return [Bbox([np.minimum(a, b) - 1, np.maximum(a, b) + 1]) for a, b in itertools.pairwise(pixels)]


def label_points(fig: Figure, ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 order: Sequence[int], marker_radii: Sequence[float],
                 lines: Sequence[Polyline] = ()) -> None:
    """Label every point where it covers no other label, marker or line, and stays in the axes.

    Greedy, in ``order`` (important points first): each label takes the
    nearest free candidate position, else the least crowded one. Positions are
    in pixels, so call this once the layout is final.
    """
    fig.canvas.draw()
    renderer = cast(FigureCanvasAgg, fig.canvas).get_renderer()
    px_per_pt = fig.dpi / 72.0
    points = ax.transData.transform(np.column_stack([xs, ys]))
    radii_px = [r * px_per_pt for r in marker_radii]
    taken = [Bbox.from_bounds(px - r, py - r, 2 * r, 2 * r) for (px, py), r in zip(points, radii_px, strict=True)]
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
