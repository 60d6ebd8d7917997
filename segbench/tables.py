"""Paper tables from one or more runs: mean ± std over runs/seeds with its n, best per column in bold.

Two shapes: a pivot of one metric (encoder rows x decoder columns, the RTSeg
grid) and a long table with one row per model and a few metrics (the
real-time segmentation tables: params, GFLOPs, FPS, mIoU). Both are pandas
frames with columns ``(stat, column)``, ``stat`` in mean/std/n (averaged by
:func:`segbench.aggregate.aggregate`, as the figures are), so
``table["mean"]`` is the plain table of means; ``render`` and ``render_long``
turn them into markdown, LaTeX (:mod:`segbench.latex`: booktabs, fitted to
the page), HTML or CSV with a caption that states the conventions a reader
needs to reuse the numbers.

A cell says its n where it differs from the caption's, and a single run is
not ranked against means of several.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from segbench.aggregate import STATS, THROUGHPUT, aggregate
from segbench.captions import Replicates, caption_text, run_context, value_text
from segbench.config import model_label
from segbench.latex import Head, LatexLayout, latex_escape, latex_table
from segbench.results import COLUMNS, KEY_COLUMNS, NUMERIC_COLUMNS
from segbench.rundir import RunDir

__all__ = ["FORMATS", "LatexLayout", "caption_text", "latex_escape", "long_table", "pivot_table", "render",
           "render_long", "run_context"]


Format = Literal["markdown", "latex", "csv", "html"]
FORMATS = ("markdown", "latex", "csv", "html")
DEFAULT_LONG_COLUMNS = ("params", "gflops", "throughput_img_s", "miou")
#: Key columns that hold the replicates averaged over, rather than a setting.
REPLICATE_COLUMNS = ("seed",)


@dataclass(frozen=True)
class MetricStyle:
    """How a metric reads in a table: label and unit (the header), scale, decimals, which way is better."""

    label: str
    unit: str = ""
    scale: float = 1.0
    decimals: int = 2
    higher_is_better: bool = False

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


def metric_style(metric: str) -> MetricStyle:
    """How ``metric`` reads in a table: its column's label, unit, scale, decimals and direction."""
    if metric not in COLUMNS:
        return MetricStyle(metric)
    col = COLUMNS[metric]
    return MetricStyle(col.label, col.unit, scale=col.scale, decimals=col.decimals,
                       higher_is_better=col.higher_is_better)


# --------------------------------------------------------------------------- loading and aggregating


def load_runs(runs: Sequence[Path | str], values: Sequence[str] = ()) -> pd.DataFrame:
    """The tables of several runs stacked, with a ``run`` column (its position in ``runs``).

    A table.csv must have every key column and the ``values`` asked for:
    one missing is one line naming the file, not a KeyError later on.
    """
    if not runs:
        raise ValueError("no runs given")
    frames = []
    for i, run in enumerate(runs):
        path = Path(run)
        if not path.exists():
            raise FileNotFoundError(f"no run at {path}")
        frames.append(RunDir(path).frame(required=(*KEY_COLUMNS, *values)).assign(run=i))
    return pd.concat(frames, ignore_index=True)


def _check_column(name: str, valid: Sequence[str], what: str) -> None:
    if name not in valid:
        raise ValueError(f"unknown {what} column '{name}'; valid: {', '.join(valid)}")


def _select(frame: pd.DataFrame, filters: Mapping[str, Any] | None) -> pd.DataFrame:
    """Rows matching every filter; a filter value may be a list of accepted values."""
    for col, wanted in (filters or {}).items():
        _check_column(col, list(frame.columns), "filter")
        values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        frame = frame[frame[col].isin(values)]
    if frame.empty:
        raise ValueError(f"no cells match the filters {dict(filters or {})}")
    return frame


def _varying_settings(frame: pd.DataFrame) -> list[str]:
    """The key columns (not the replicates) whose value differs between cells of ``frame``."""
    others = [c for c in KEY_COLUMNS if c not in ("encoder", "decoder") and c not in REPLICATE_COLUMNS]
    return [c for c in others if c in frame and frame[c].nunique(dropna=False) > 1]


def _row_label(key: dict[str, Any]) -> str:
    """``resnet18 + unet``, with the settings that tell it from other rows: ``(pretrained=True)``."""
    label = model_label(key.pop("encoder"), key.pop("decoder")).replace("+", " + ")
    return label + (f" ({', '.join(f'{c}={value_text(v)}' for c, v in key.items())})" if key else "")


def _check_one_setting(frame: pd.DataFrame, group: list[str]) -> None:
    """Averaging is over replicates only: cells of a group must not differ in another key column."""
    others = [c for c in KEY_COLUMNS if c not in group and c not in REPLICATE_COLUMNS]
    varying = {}
    for col in others:
        values = frame.groupby(group, dropna=False, sort=False)[col].nunique(dropna=False)
        if (values > 1).any():
            varying[col] = sorted(map(value_text, frame[col].unique()))
    if varying:
        detail = "; ".join(f"{c}: {', '.join(v)}" for c, v in varying.items())
        raise ValueError(
            f"cells differ in more than {' and '.join(group)} and the seed ({detail}); "
            f"pick one with filters, e.g. filters={{'{next(iter(varying))}': ...}}"
        )


def pivot_table(
    runs: Sequence[Path | str],
    value: str,
    rows: str = "encoder",
    cols: str = "decoder",
    filters: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """``value`` as mean, std and n over runs/seeds for each (rows, cols) pair.

    Columns are ``(stat, <cols value>)`` so ``table["mean"]`` is the plain
    pivot; rows and columns keep the grid's order. Cells that differ in
    another key column (two input sizes, say) must be told apart by
    ``filters`` rather than silently averaged.
    """
    _check_column(value, NUMERIC_COLUMNS, "value")
    _check_column(rows, KEY_COLUMNS, "rows")
    _check_column(cols, KEY_COLUMNS, "cols")
    if rows == cols:
        raise ValueError(f"rows and cols are both '{rows}'")
    frame = _select(load_runs(runs, [value]), filters)
    _check_one_setting(frame, [rows, cols])
    row_order, col_order = pd.unique(frame[rows]), pd.unique(frame[cols])
    stats = {
        stat: part[value].unstack(cols).reindex(index=row_order, columns=col_order)
        for stat, part in aggregate(frame, [rows, cols], [value]).items()
    }
    stats["n"] = stats["n"].fillna(0).astype(int)
    table = pd.concat(stats, axis=1, names=["stat", cols])
    table.index.name = rows
    table.attrs = {"kind": "pivot", "value": value, "rows": rows, "cols": cols,
                   "context": run_context(runs, frame)}
    return table


def long_table(
    runs: Sequence[Path | str],
    columns: Sequence[str] = DEFAULT_LONG_COLUMNS,
    filters: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per model ("encoder + decoder", or a whole network's name), ``columns`` as mean, std and n over runs.

    Columns are ``(stat, metric)``. Throughput is derived from the mean latency (see
    :func:`segbench.aggregate.aggregate`) and reads as FPS when the cells ran at batch 1.
    """
    columns = list(columns)
    for col in columns:
        _check_column(col, NUMERIC_COLUMNS, "value")
    frame = _select(load_runs(runs, columns), filters)
    settings = _varying_settings(frame)  # a pretrained and a scratch cell are two rows, never two seeds
    group = ["encoder", "decoder", *settings]
    table = pd.concat(aggregate(frame, group, columns), axis=1, names=["stat", "metric"])
    table.index = pd.Index([_row_label(dict(zip(group, key, strict=True))) for key in table.index], name="model")
    table.attrs = {"kind": "long", "columns": columns, "context": run_context(runs, frame)}
    return table


# --------------------------------------------------------------------------- rendering


@dataclass
class _Grid:
    """A table ready to print: labels, per-column metric, and the three stats as arrays."""

    corner: str
    heads: list[Head]
    labels: list[str]
    metrics: list[str]
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray
    span: str | None
    label: str | None = None
    caption: str = ""

    @property
    def headers(self) -> list[str]:
        return [f"{h.name} ({h.unit})" if h.unit else h.name for h in self.heads]

    def typical_n(self) -> int:
        """The n most cells have (the larger one on a tie): the caption's n."""
        counts = Counter(int(k) for k in self.n[np.isfinite(self.mean)])
        return max(counts, key=lambda k: (counts[k], k)) if counts else 0

    def exact(self, j: int) -> bool:
        """Runs agree exactly in column ``j`` (params, GFLOPs): its n changes nothing and is not shown."""
        several = np.isfinite(self.mean[:, j]) & (self.n[:, j] > 1)
        return bool(several.any()) and bool(np.all(self.std[several, j] == 0))

    def mixed(self, j: int) -> bool:
        """Column ``j`` holds both single runs and means of several (and they are not exact)."""
        finite = np.isfinite(self.mean[:, j])
        n = self.n[finite, j]
        return bool((n == 1).any() and (n > 1).any()) and not self.exact(j)

    def marked(self) -> np.ndarray:
        """True where a cell states its n: another n than the caption's, in a column where n matters."""
        marks = np.isfinite(self.mean) & (self.n != self.typical_n())
        for j in range(marks.shape[1]):
            if self.exact(j):
                marks[:, j] = False
        return marks

    def best(self) -> np.ndarray:
        """True where a value is the best of its column at the precision shown (ties all bold).

        Where a column mixes single runs with means of several, only the means compete.
        """
        best = np.zeros(self.mean.shape, dtype=bool)
        for j, metric in enumerate(self.metrics):
            style = metric_style(metric)
            shown = np.round(self.mean[:, j] * style.scale, style.decimals)
            if self.mixed(j):
                shown = np.where(self.n[:, j] > 1, shown, np.nan)
            if np.isfinite(shown).sum() < 2:
                continue
            target = np.nanmax(shown) if style.higher_is_better else np.nanmin(shown)
            best[:, j] = shown == target
        return best

    def replicates(self) -> Replicates:
        best = self.best()
        unranked = any(self.mixed(j) and best[:, j].any() for j in range(len(self.metrics)))
        return Replicates(self.typical_n(), bool(self.marked().any()), unranked, bool(best.any()))

    def cell(self, i: int, j: int, pm: str, marked: bool = False) -> str:
        style = metric_style(self.metrics[j])
        mean, std, n = self.mean[i, j], self.std[i, j], self.n[i, j]
        if not np.isfinite(mean):
            return "-"
        text = f"{mean * style.scale:.{style.decimals}f}"
        if n > 1 and np.isfinite(std) and std > 0:  # runs that agree exactly (params, GFLOPs) need no ± 0
            text += f"{pm}{std * style.scale:.{style.decimals}f}"
        return text + (f" (n={n})" if marked else "")

    def cells(self, pm: str) -> list[list[str]]:
        marked = self.marked()
        return [[self.cell(i, j, pm, bool(marked[i, j])) for j in range(len(self.heads))]
                for i in range(len(self.labels))]


def _markdown(grid: _Grid, layout: LatexLayout) -> str:
    best = grid.best()
    head = f"**{grid.span}**\n\n" if grid.span else ""
    lines = [
        "| " + " | ".join([grid.corner, *grid.headers]) + " |",
        "|:--" + "|--:" * len(grid.headers) + "|",
    ]
    for i, (label, row) in enumerate(zip(grid.labels, grid.cells(" ± "), strict=True)):
        cells = [f"**{c}**" if best[i, j] else c for j, c in enumerate(row)]
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *cells]) + " |")
    return head + "\n".join(lines) + f"\n\nTable: {grid.caption}\n"


def _latex(grid: _Grid, layout: LatexLayout) -> str:
    best = grid.best()
    cells = [[rf"\textbf{{{latex_escape(c)}}}" if best[i, j] else latex_escape(c) for j, c in enumerate(row)]
             for i, row in enumerate(grid.cells(" ± "))]
    return latex_table(grid.corner, grid.heads, grid.labels, cells, grid.caption, span=grid.span,
                       label=grid.label, layout=layout)


def _html(grid: _Grid, layout: LatexLayout) -> str:
    best = grid.best()
    esc = html.escape
    lines = ["<table>", f"<caption>{esc(grid.caption)}</caption>", "<thead>"]
    if grid.span:
        lines.append(f'<tr><th></th><th colspan="{len(grid.headers)}">{esc(grid.span)}</th></tr>')
    lines.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in [grid.corner, *grid.headers]) + "</tr>")
    lines += ["</thead>", "<tbody>"]
    for i, (label, row) in enumerate(zip(grid.labels, grid.cells(" ± "), strict=True)):
        cells = [f"<b>{esc(c)}</b>" if best[i, j] else esc(c) for j, c in enumerate(row)]
        lines.append(f"<tr><th>{esc(label)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines) + "\n"


_RENDERERS = {"markdown": _markdown, "latex": _latex, "html": _html}


def _check_format(fmt: str, layout: LatexLayout | None) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; valid: {', '.join(FORMATS)}")
    if fmt != "latex" and layout is not None and layout != LatexLayout():
        raise ValueError(f"--width, --wide and --longtable shape LaTeX tables; add --format latex (not {fmt})")


def _captioned(grid: _Grid, title: str, context: Mapping[str, Any]) -> _Grid:
    grid.caption = caption_text(title, grid.metrics, context, grid.replicates())
    return grid


def render(
    table: pd.DataFrame,
    value: str | None = None,
    fmt: Format = "markdown",
    caption_context: Mapping[str, Any] | None = None,
    layout: LatexLayout | None = None,
) -> str:
    """A ``pivot_table`` as text: mean ± std (plain mean for one run), best per column in bold.

    ``caption_context`` adds to or overrides what the table knows of its runs
    (see ``run_context``); its ``caption`` replaces the generated caption and
    ``label`` sets LaTeX's ``\\label``. ``layout`` places a LaTeX table (width,
    ``table*``, ``longtable``). CSV is tidy: one row per pair, raw numbers.
    """
    _check_format(fmt, layout)
    value = value or table.attrs.get("value")
    if value is None:
        raise ValueError("which metric does the table hold? pass value=")
    rows = table.index.name or "rows"
    cols = table.columns.names[1] or "cols"
    if fmt == "csv":
        tidy = table.stack(level=1, future_stack=True).reset_index()
        tidy = tidy.rename(columns={s: f"{value}_{s}" for s in STATS})
        return tidy[[rows, cols, *(f"{value}_{s}" for s in STATS)]].to_csv(index=False)
    context = {**table.attrs.get("context", {}), **(caption_context or {})}
    style = metric_style(value)
    mean = table["mean"]
    grid = _Grid(
        corner=str(rows),
        heads=[Head(value_text(c)) for c in mean.columns],
        labels=[value_text(r) for r in mean.index],
        metrics=[value] * mean.shape[1],
        mean=mean.to_numpy(dtype=float),
        std=table["std"].to_numpy(dtype=float),
        n=table["n"].to_numpy(dtype=int),
        span=style.header,
        label=context.get("label"),
    )
    title = f"{style.header} by {rows} (rows) and {cols} (columns)"
    return _RENDERERS[fmt](_captioned(grid, title, context), layout or LatexLayout())


def render_long(
    table: pd.DataFrame,
    fmt: Format = "markdown",
    caption_context: Mapping[str, Any] | None = None,
    layout: LatexLayout | None = None,
) -> str:
    """A ``long_table`` as text, one row per model, like the real-time segmentation tables."""
    _check_format(fmt, layout)
    metrics = list(table["mean"].columns)
    if fmt == "csv":
        flat = pd.DataFrame(index=table.index)
        for metric in metrics:
            for stat in STATS:
                flat[f"{metric}_{stat}"] = table[(stat, metric)]
        return flat.reset_index().to_csv(index=False)
    context = {**table.attrs.get("context", {}), **(caption_context or {})}
    heads = [Head(metric_style(m).label, metric_style(m).unit) for m in metrics]
    if THROUGHPUT in metrics and context.get("batch_size") == ["1"]:
        heads[metrics.index(THROUGHPUT)] = Head("FPS")
    grid = _Grid(
        corner="Model",
        heads=heads,
        labels=list(table.index),
        metrics=metrics,
        mean=table["mean"].to_numpy(dtype=float),
        std=table["std"].to_numpy(dtype=float),
        n=table["n"].to_numpy(dtype=int),
        span=None,
        label=context.get("label"),
    )
    return _RENDERERS[fmt](_captioned(grid, "Models (encoder + decoder)", context), layout or LatexLayout())
