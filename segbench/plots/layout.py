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
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox
from numpy.typing import ArrayLike

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


def is_wide(values: Sequence[float]) -> bool:
    """Positive values spanning more than 10x: a linear axis would crush the small ones together."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return len(finite) > 1 and bool((finite > 0).all()) and finite.max() / finite.min() > 10


def use_log_if_wide(ax: Axes, values: Sequence[float], axis: str = "x") -> bool:
    """A log ``axis`` when ``values`` span more than 10x, so cheap models are not crushed together."""
    if not is_wide(values):
        return False
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    plain_log_ticks(ax, axis)
    return True


def plain_log_ticks(ax: Axes, axis: str = "x") -> None:
    """Log-axis ticks as plain numbers (0.2, 0.5, 1, 2, 5), not 2 x 10^-1 crowding each other."""

    def major(value: float, _: int) -> str:
        return f"{value:g}"

    def minor(value: float, _: int) -> str:
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        return f"{value:g}" if round(mantissa) in (2, 5) else ""

    which = ax.xaxis if axis == "x" else ax.yaxis
    which.set_major_formatter(FuncFormatter(major))
    which.set_minor_formatter(FuncFormatter(minor))


def asymmetric(centre: ArrayLike, low: ArrayLike, high: ArrayLike) -> np.ndarray:
    """Error-bar lengths ``[below, above]`` from a spread's ends (p10, p90): never negative, none where unknown.

    A symmetric ± std runs below zero on a log axis; a percentile range cannot.
    """
    c, lo, hi = (np.asarray(v, dtype=float) for v in (centre, low, high))
    return np.nan_to_num(np.clip(np.vstack([c - lo, hi - c]), 0, None), nan=0.0)


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


def _spot(fig: Figure, ax: Axes, renderer: Any, text: str, xy: tuple[float, float], radius: float,
          taken: Sequence[Bbox], area: Bbox) -> Annotation:
    """``text`` beside ``xy`` at the nearest candidate position free of ``taken``, else the least crowded."""
    left_first = (ax.transData.transform(xy)[0] - area.x0) / area.width > 0.62
    label = _annotate(ax, text, xy, (0.0, 0.0))
    best, best_clash = (0.0, 0.0), math.inf
    for offset in _candidates(left_first, radius):
        label.set_horizontalalignment("right" if offset[0] < 0 else "left")
        label.xyann = offset
        clash = _clash(text_box(label, renderer).padded(2.0), list(taken), area)
        if clash < best_clash:
            best, best_clash = offset, clash
        if clash == 0:
            break
    label.remove()
    return _annotate(ax, text, xy, best, leader=abs(best[1]) > LEADER_FROM_PT)


def _marker_boxes(ax: Axes, xs: Sequence[float], ys: Sequence[float], radii_pt: Sequence[float],
                  px_per_pt: float, lines: Sequence[Polyline]) -> list[Bbox]:
    points = ax.transData.transform(np.column_stack([xs, ys]))
    taken = [Bbox.from_bounds(px - r * px_per_pt, py - r * px_per_pt, 2 * r * px_per_pt, 2 * r * px_per_pt)
             for (px, py), r in zip(points, radii_pt, strict=True)]
    for line_xs, line_ys in lines:
        taken += _line_boxes(ax, line_xs, line_ys)
    return taken


def label_points(fig: Figure, ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 order: Sequence[int], marker_radii: Sequence[float],
                 lines: Sequence[Polyline] = ()) -> list[Annotation]:
    """Label every point where it covers no other label, marker or line, and stays in the axes.

    Greedy, in ``order`` (important points first): each label takes the
    nearest free candidate position, else the least crowded one. Positions are
    in pixels, so call this once the layout is final. Returns the labels by point.
    """
    fig.canvas.draw()
    renderer = cast(FigureCanvasAgg, fig.canvas).get_renderer()
    taken = _marker_boxes(ax, xs, ys, marker_radii, fig.dpi / 72.0, lines)
    labels: dict[int, Annotation] = {}
    for i in order:
        labels[i] = _spot(fig, ax, renderer, texts[i], (xs[i], ys[i]), marker_radii[i], taken, ax.bbox)
        taken.append(text_box(labels[i], renderer))
    return [labels[i] for i in sorted(labels)]


def text_box(label: Text, renderer: Any) -> Bbox:
    """A label's own box in pixels: its text, without the leader line an annotation's extent includes."""
    if isinstance(label, Annotation):
        label.update_positions(renderer)  # where its offset puts it now
    return Text.get_window_extent(label, renderer)


def overlapping(a: Bbox, b: Bbox) -> bool:
    """Two boxes share some area (touching edges do not count)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5


def adjust_text_module() -> Any | None:
    """adjustText where it is installed (``pip install 'segbench[plots]'``), else None."""
    try:
        import adjustText
    except ImportError:
        return None
    return adjustText


def label_models(fig: Figure, ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 front: Sequence[int], marker_radii: Sequence[float], lines: Sequence[Polyline] = ()) -> list[int]:
    """Label a scatter's points so that no two labels overlap, however many there are; returns the numbered.

    With adjustText (the well-kept library for it) every point gets its label,
    pushed apart by adjustText. Without it, only the Pareto front (``front``)
    is labelled by name and the other points by their number (1 = the first
    point), which a key below the axes lists. Either way a last pass moves a
    label that still overlaps another to a free spot, or, failing that, shows
    its number instead: labels never print over each other.
    """
    adjust = adjust_text_module()
    order = [*front, *(i for i in range(len(xs)) if i not in set(front))]  # front labels get the best spots
    numbers = [str(i + 1) for i in range(len(xs))]
    numbered = set() if adjust else set(range(len(xs))) - set(front)
    fig.canvas.draw()
    renderer = cast(FigureCanvasAgg, fig.canvas).get_renderer()
    arrows: list[Any] = []
    if adjust:
        labels: list[Any] = [ax.text(x, y, t, fontsize=10, zorder=5, ha="center", va="center",
                                     bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
                             for x, y, t in zip(xs, ys, texts, strict=True)]
        markers_px = _marker_boxes(ax, xs, ys, marker_radii, fig.dpi / 72.0, lines)
        _, arrows = adjust.adjust_text(labels, x=list(xs), y=list(ys), objects=markers_px, ax=ax,
                                       expand=(1.1, 1.3), time_lim=3, arrowprops=LEADER)
    else:
        shown = [numbers[i] if i in numbered else texts[i] for i in range(len(xs))]
        labels = list(label_points(fig, ax, xs, ys, shown, order, marker_radii, lines))
    _untangle(fig, ax, renderer, (xs, ys, texts, numbers), labels, arrows, order, numbered, marker_radii, lines)
    if numbered:
        _number_key(fig, ax, renderer, [(numbers[i], texts[i]) for i in sorted(numbered)])
    return sorted(numbered)


def _untangle(fig: Figure, ax: Axes, renderer: Any, points: tuple[Sequence[float], Sequence[float],
              Sequence[str], Sequence[str]], labels: list[Any], arrows: list[Any], order: Sequence[int],
              numbered: set[int], marker_radii: Sequence[float], lines: Sequence[Polyline]) -> None:
    """Re-place, in ``order``, each label that overlaps one placed before it; a name that fits nowhere
    becomes the point's number (added to ``numbered``), a number that fits nowhere is hidden."""
    xs, ys, texts, numbers = points
    obstacles = _marker_boxes(ax, xs, ys, marker_radii, fig.dpi / 72.0, lines)
    placed: list[Bbox] = []
    for i in order:
        box = text_box(labels[i], renderer)
        if not any(overlapping(box, other) for other in placed):
            placed.append(box)
            continue
        for arrow in [a for a in arrows if getattr(a, "patchA", None) is labels[i]]:
            arrow.remove()
        labels[i].remove()
        for text in [numbers[i]] if i in numbered else [texts[i], numbers[i]]:
            labels[i] = _spot(fig, ax, renderer, text, (xs[i], ys[i]), marker_radii[i], [*placed, *obstacles],
                              ax.bbox)
            box = text_box(labels[i], renderer)
            if not any(overlapping(box, other) for other in placed):
                break
            if text == texts[i]:
                labels[i].remove()
                numbered.add(i)
        else:
            labels[i].set_visible(False)
            continue
        placed.append(box)


def _number_key(fig: Figure, ax: Axes, renderer: Any, entries: list[tuple[str, str]]) -> None:
    """The numbered points' names, in columns below the axes (and their tick labels)."""
    extent = ax.get_tightbbox(renderer)
    top = (extent.y0 if extent is not None else ax.bbox.y0) - 8  # pixels
    per_column = max(8, math.ceil(len(entries) / 4))
    left = ax.bbox.x0
    to_figure = fig.transFigure.inverted()
    for start in range(0, len(entries), per_column):
        chunk = entries[start:start + per_column]
        x, y = to_figure.transform((left, top))
        block = fig.text(x, y, "\n".join(f"{n:>3}  {name}" for n, name in chunk), ha="left", va="top",
                         fontsize=9, family="monospace")
        left = block.get_window_extent(renderer).x1 + 18
