"""Paper tables from one or more runs: mean ± std over runs/seeds, best per column in bold.

Two shapes: a pivot of one metric (encoder rows x decoder columns, the RTSeg
grid) and a long table with one row per model and a few metrics (the
real-time segmentation tables: params, GFLOPs, FPS, mIoU). Both are pandas
frames with columns ``(stat, column)``, ``stat`` in mean/std/n, so
``table["mean"]`` is the plain table of means; ``render`` and ``render_long``
turn them into markdown, LaTeX (booktabs), HTML or CSV with a caption that
states the conventions a reader needs to reuse the numbers.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from segbench.config import model_label
from segbench.results import ACCURACY_COLUMNS, COLUMNS, KEY_COLUMNS, NUMERIC_COLUMNS
from segbench.rundir import RunDir

#: The accuracy columns (scored on a split; the rest are costs, measured on a device).
ACCURACY = tuple(c for c in ACCURACY_COLUMNS if COLUMNS[c].unit == "%")

Format = Literal["markdown", "latex", "csv", "html"]
FORMATS = ("markdown", "latex", "csv", "html")
STATS = ("mean", "std", "n")
DEFAULT_LONG_COLUMNS = ("params", "gflops", "throughput_img_s", "miou")
#: Key columns that hold the replicates averaged over, rather than a setting.
REPLICATE_COLUMNS = ("seed",)


@dataclass(frozen=True)
class MetricStyle:
    """How a metric reads in a table: header with unit, scale, decimals, which way is better."""

    header: str
    scale: float = 1.0
    decimals: int = 2
    higher_is_better: bool = False


def metric_style(metric: str) -> MetricStyle:
    """How ``metric`` reads in a table: its column's header, scale, decimals and direction."""
    if metric not in COLUMNS:
        return MetricStyle(metric)
    col = COLUMNS[metric]
    return MetricStyle(col.header, scale=col.scale, decimals=col.decimals, higher_is_better=col.higher_is_better)


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
    return label + (f" ({', '.join(f'{c}={_label(v)}' for c, v in key.items())})" if key else "")


def _check_one_setting(frame: pd.DataFrame, group: list[str]) -> None:
    """Averaging is over replicates only: cells of a group must not differ in another key column."""
    others = [c for c in KEY_COLUMNS if c not in group and c not in REPLICATE_COLUMNS]
    varying = {}
    for col in others:
        values = frame.groupby(group, dropna=False, sort=False)[col].nunique(dropna=False)
        if (values > 1).any():
            varying[col] = sorted(map(_label, frame[col].unique()))
    if varying:
        detail = "; ".join(f"{c}: {', '.join(v)}" for c, v in varying.items())
        raise ValueError(
            f"cells differ in more than {' and '.join(group)} and the seed ({detail}); "
            f"pick one with filters, e.g. filters={{'{next(iter(varying))}': ...}}"
        )


def _aggregate(frame: pd.DataFrame, group: list[str], values: list[str]) -> dict[str, pd.DataFrame]:
    """mean, std (sample, NaN for one value) and n (non-missing values) per group."""
    grouped = frame.groupby(group, dropna=False, sort=False)[values]
    return {"mean": grouped.mean(), "std": grouped.std(), "n": grouped.count()}


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
        for stat, part in _aggregate(frame, [rows, cols], [value]).items()
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

    Columns are ``(stat, metric)``. Throughput reads as FPS when the cells ran at batch 1.
    """
    columns = list(columns)
    for col in columns:
        _check_column(col, NUMERIC_COLUMNS, "value")
    frame = _select(load_runs(runs, columns), filters)
    settings = _varying_settings(frame)  # a pretrained and a scratch cell are two rows, never two seeds
    group = ["encoder", "decoder", *settings]
    table = pd.concat(_aggregate(frame, group, columns), axis=1, names=["stat", "metric"])
    table.index = pd.Index([_row_label(dict(zip(group, key, strict=True))) for key in table.index], name="model")
    table.attrs = {"kind": "long", "columns": columns, "context": run_context(runs, frame)}
    return table


# --------------------------------------------------------------------------- caption


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unique(frame: pd.DataFrame, col: str) -> list[str]:
    return [_label(v) for v in pd.unique(frame[col]) if _label(v) != "-"] if col in frame else []


def run_context(runs: Sequence[Path | str], frame: pd.DataFrame) -> dict[str, Any]:
    """What a caption must say about the cells in ``frame``: sizes, device, precision, data, runs."""
    envs = [env for env in (RunDir(run).environment() for run in runs) if env]
    device_names = []
    for device in _unique(frame, "device"):
        field = "gpu" if device.startswith("cuda") else "cpu"
        names = sorted({str(e[field]) for e in envs if e.get(field)})
        device_names.append(f"{' / '.join(names) or device} ({'GPU' if field == 'gpu' else 'CPU'})")
    return {
        "input_sizes": sorted({f"{h}x{w}" for h, w in zip(frame["input_h"], frame["input_w"], strict=True)}),
        "batch_size": _unique(frame, "batch_size"),
        "precision": _unique(frame, "precision"),
        "device": device_names,
        "threads": _unique(frame, "threads") if set(_unique(frame, "device")) == {"cpu"} else [],
        "torch": sorted({str(e["torch"]) for e in envs if e.get("torch")}),
        "mem_method": _unique(frame, "mem_method"),
        "dataset": _unique(frame, "dataset"),
        "eval_split": _unique(frame, "eval_split"),
        "seeds": _unique(frame, "seed"),
        "n_runs": len(runs),
    }


def caption_text(title: str, metrics: Sequence[str], context: Mapping[str, Any], n_max: int) -> str:
    """The conventions behind the numbers, in plain text (``±`` and all; renderers escape it)."""
    if context.get("caption"):
        return str(context["caption"])

    def words(key: str) -> str:
        value = context.get(key) or []
        return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    if n_max > 1:
        seeds = f" (seeds {words('seeds')})" if len(context.get("seeds") or []) > 1 else ""
        title += f"; mean ± std over {n_max} runs{seeds}"
    else:
        title += "; one run"
    sentences = [title]
    if any(m in ("gflops", "gmacs") for m in metrics):
        sentences.append("GFLOPs = 2 x multiply-adds (fvcore; GMACs = multiply-adds), per image at batch 1")
    if any(m not in ACCURACY for m in metrics):
        setting = (f"Input {words('input_sizes') or '?'}, batch size {words('batch_size') or '?'}, "
                   f"{words('precision') or '?'} precision, on {words('device') or 'an unrecorded device'}")
        if context.get("threads"):
            setting += f" with {words('threads')} threads"
        if context.get("torch"):
            setting += f", torch {words('torch')}"
        sentences.append(setting)
    if any(m.startswith("latency") or m == "throughput_img_s" for m in metrics):
        sentences.append("Latency per batch (median of synchronised forwards); "
                         "throughput = batch x 1000 / latency")
    if "peak_mem_mib" in metrics and context.get("mem_method"):
        sentences.append(f"Peak memory by {words('mem_method')}")
    if any(m in ACCURACY for m in metrics):
        data = words("dataset") or "an unrecorded dataset"
        split = f", {words('eval_split')} split" if context.get("eval_split") else ""
        sentences.append(f"Scored on {data}{split}")
    sentences.append("Best per column in bold")
    return ". ".join(sentences) + "."


# --------------------------------------------------------------------------- rendering


@dataclass
class _Grid:
    """A table ready to print: labels, per-column metric, and the three stats as arrays."""

    corner: str
    headers: list[str]
    labels: list[str]
    metrics: list[str]
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray
    span: str | None
    caption: str
    label: str | None = None

    def best(self) -> np.ndarray:
        """True where a value is the best of its column at the precision shown (ties all bold)."""
        best = np.zeros(self.mean.shape, dtype=bool)
        for j, metric in enumerate(self.metrics):
            style = metric_style(metric)
            shown = np.round(self.mean[:, j] * style.scale, style.decimals)
            if np.isfinite(shown).sum() < 2:
                continue
            target = np.nanmax(shown) if style.higher_is_better else np.nanmin(shown)
            best[:, j] = shown == target
        return best

    def cell(self, i: int, j: int, pm: str) -> str:
        style = metric_style(self.metrics[j])
        mean, std, n = self.mean[i, j], self.std[i, j], self.n[i, j]
        if not np.isfinite(mean):
            return "-"
        text = f"{mean * style.scale:.{style.decimals}f}"
        if n > 1 and np.isfinite(std) and std > 0:  # runs that agree exactly (params, GFLOPs) need no ± 0
            text += f"{pm}{std * style.scale:.{style.decimals}f}"
        return text


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIALS))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (mobilenet_v2 -> mobilenet\\_v2); ± becomes $\\pm$."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group()], str(text)).replace("±", r"$\pm$")


def _markdown(grid: _Grid) -> str:
    best = grid.best()
    head = f"**{grid.span}**\n\n" if grid.span else ""
    lines = [
        "| " + " | ".join([grid.corner, *grid.headers]) + " |",
        "|:--" + "|--:" * len(grid.headers) + "|",
    ]
    for i, label in enumerate(grid.labels):
        cells = [f"**{grid.cell(i, j, ' ± ')}**" if best[i, j] else grid.cell(i, j, " ± ")
                 for j in range(len(grid.headers))]
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *cells]) + " |")
    return head + "\n".join(lines) + f"\n\nTable: {grid.caption}\n"


def _latex(grid: _Grid) -> str:
    best = grid.best()
    ncols = len(grid.headers)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(grid.caption)}}}"]
    if grid.label:
        lines.append(rf"\label{{{grid.label}}}")
    lines += [rf"\begin{{tabular}}{{l{'r' * ncols}}}", r"\toprule"]
    if grid.span:
        lines += [rf" & \multicolumn{{{ncols}}}{{c}}{{{latex_escape(grid.span)}}} \\",
                  rf"\cmidrule(lr){{2-{ncols + 1}}}"]
    lines += [" & ".join(latex_escape(h) for h in [grid.corner, *grid.headers]) + r" \\", r"\midrule"]
    for i, label in enumerate(grid.labels):
        cells = [grid.cell(i, j, r" $\pm$ ") for j in range(ncols)]
        cells = [rf"\textbf{{{c}}}" if best[i, j] else c for j, c in enumerate(cells)]
        lines.append(" & ".join([latex_escape(label), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _html(grid: _Grid) -> str:
    best = grid.best()
    esc = html.escape
    lines = ["<table>", f"<caption>{esc(grid.caption)}</caption>", "<thead>"]
    if grid.span:
        lines.append(f'<tr><th></th><th colspan="{len(grid.headers)}">{esc(grid.span)}</th></tr>')
    lines.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in [grid.corner, *grid.headers]) + "</tr>")
    lines += ["</thead>", "<tbody>"]
    for i, label in enumerate(grid.labels):
        cells = [esc(grid.cell(i, j, " ± ")) for j in range(len(grid.headers))]
        cells = [f"<b>{c}</b>" if best[i, j] else c for j, c in enumerate(cells)]
        lines.append(f"<tr><th>{esc(label)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines) + "\n"


_RENDERERS = {"markdown": _markdown, "latex": _latex, "html": _html}


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; valid: {', '.join(FORMATS)}")


def render(
    table: pd.DataFrame,
    value: str | None = None,
    fmt: Format = "markdown",
    caption_context: Mapping[str, Any] | None = None,
) -> str:
    """A ``pivot_table`` as text: mean ± std (plain mean for one run), best per column in bold.

    ``caption_context`` adds to or overrides what the table knows of its runs
    (see ``run_context``); its ``caption`` replaces the generated caption and
    ``label`` sets LaTeX's ``\\label``. CSV is tidy: one row per pair, raw numbers.
    """
    _check_format(fmt)
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
    n_max = int(table["n"].to_numpy().max(initial=0))
    title = f"{style.header} by {rows} (rows) and {cols} (columns)"
    grid = _Grid(
        corner=str(rows),
        headers=[_label(c) for c in mean.columns],
        labels=[_label(r) for r in mean.index],
        metrics=[value] * mean.shape[1],
        mean=mean.to_numpy(dtype=float),
        std=table["std"].to_numpy(dtype=float),
        n=table["n"].to_numpy(dtype=int),
        span=style.header,
        caption=caption_text(title, [value], context, n_max),
        label=context.get("label"),
    )
    return _RENDERERS[fmt](grid)


def render_long(
    table: pd.DataFrame,
    fmt: Format = "markdown",
    caption_context: Mapping[str, Any] | None = None,
) -> str:
    """A ``long_table`` as text, one row per model, like the real-time segmentation tables."""
    _check_format(fmt)
    metrics = list(table["mean"].columns)
    if fmt == "csv":
        flat = pd.DataFrame(index=table.index)
        for metric in metrics:
            for stat in STATS:
                flat[f"{metric}_{stat}"] = table[(stat, metric)]
        return flat.reset_index().to_csv(index=False)
    context = {**table.attrs.get("context", {}), **(caption_context or {})}
    headers = [metric_style(m).header for m in metrics]
    if "throughput_img_s" in metrics and context.get("batch_size") == ["1"]:
        headers[metrics.index("throughput_img_s")] = "FPS"
    n_max = int(table["n"].to_numpy().max(initial=0))
    grid = _Grid(
        corner="Model",
        headers=headers,
        labels=list(table.index),
        metrics=metrics,
        mean=table["mean"].to_numpy(dtype=float),
        std=table["std"].to_numpy(dtype=float),
        n=table["n"].to_numpy(dtype=int),
        span=None,
        caption=caption_text("Models (encoder + decoder)", metrics, context, n_max),
        label=context.get("label"),
    )
    return _RENDERERS[fmt](grid)
