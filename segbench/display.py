"""Rich renderings of runs and registries for the terminal, and the plain lines a CI log gets.

Tables here fit the console they are printed on: a row is named by a short
label that never loses a character, headers go over two lines, prose folds,
and when the console is still too narrow the least important columns are
left out with a note saying which. Status is never left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from segbench.config import model_label, train_column
from segbench.recipe import TrainConfig
from segbench.results import COLUMNS, KEY_COLUMNS, key_value

#: The measured columns of the terminal grid table (after mIoU, where the cells were scored).
TERMINAL_COLUMNS = ("params", "gflops", "latency_ms_median", "throughput_img_s", "peak_mem_mib")

#: The order in which the grid table gives up columns on a narrow console (first left out first).
_GRID_DROP_ORDER = ("latency_spread", "peak_mem_mib", "throughput_img_s", "gflops", "params",
                    "latency_ms_median", "miou")

#: The narrowest a folding column (an error message) may get before a column is left out instead.
FOLD_MIN_WIDTH = 14

STATUS_STYLE = {"ok": "green", "not_applicable": "yellow"}  # a mismatch is not a failure; the rest are red


# --------------------------------------------------------------------------- cell labels


def _scales(prefix: str) -> Callable[[Any], str]:
    return lambda v: f"{prefix}{str(v).replace(',', '-')}"


#: How a key column reads in a label when it varies across the rows shown (empty: nothing to add).
#: The recipe's key fields bring their own cell-id tag; any other key column reads ``name=value``.
KEY_TAGS: dict[str, Callable[[Any], str]] = {
    "batch_size": lambda v: f"b{v}",
    "precision": lambda v: f"@{v}",
    "runtime": str,
    "compile_mode": lambda v: f"mode={v}" if v else "",
    "device": str,
    "channels_last": lambda v: "cl" if v else "",
    "num_classes": lambda v: f"c{v}",
    "pretrained": lambda v: "pre" if v else "",
    "dataset": str,
    "seed": lambda v: f"s{v}",
    "tta_scales": lambda v: "" if str(v) == "1" else _scales("ms")(v),
    "tta_flip": lambda v: "flip" if v else "",
    "crf": lambda v: "",  # said by crf_iterations, which is set exactly when crf is on
    "crf_iterations": lambda v: f"crf{v}",
    "mc_samples": lambda v: f"mc{v}" if v else "",
    "attention_scales": _scales("att"),
    **{train_column(f.name): f.metadata["tag"] for f in fields(TrainConfig) if "tag" in f.metadata},
}
_MODEL_KEYS = ("encoder", "decoder")
_SIZE_KEYS = ("input_h", "input_w")


def _tag(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "size":
        return value
    return KEY_TAGS[key](value) if key in KEY_TAGS else f"{key}={value}"


def _label_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's key values other than the model, the input size as one ``HxW``."""
    keys: dict[str, Any] = {}
    for name in KEY_COLUMNS:
        if name in _MODEL_KEYS or name in _SIZE_KEYS[1:]:
            continue
        if name == "input_h":
            h, w = key_value(row.get("input_h")), key_value(row.get("input_w"))
            keys["size"] = None if h is None else f"{h}x{w}"
        elif name in row:
            keys[name] = key_value(row[name])
    return keys


def varying_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The key columns (``size`` for the input size) whose value differs between ``rows``."""
    keyed = [_label_keys(r) for r in rows]
    names = list(dict.fromkeys(k for keys in keyed for k in keys))
    return [k for k in names if len({repr(keys.get(k)) for keys in keyed}) > 1]


def cell_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Short names for ``rows``: ``mobilenet+skip``, plus each key that differs between them (``@fp16 s1``).

    Two rows with different keys never get the same label, and nothing is abbreviated.
    """
    varying = varying_keys(rows)
    labels = []
    for row in rows:
        keys = _label_keys(row)
        tags = [t for t in (_tag(k, keys.get(k)) for k in varying) if t]
        labels.append(" ".join([model_label(str(row["encoder"]), str(row["decoder"])), *tags]))
    return labels


# --------------------------------------------------------------------------- fitted tables


@dataclass(frozen=True)
class Col:
    """A column of a :class:`FittedTable`.

    ``drop`` ranks it for leaving out on a narrow console (lowest first; None: always shown).
    A ``fold`` column is prose that wraps to any width; the others keep every character on one line.
    """

    header: str
    justify: str = "right"
    drop: int | None = None
    fold: bool = False


def two_lines(header: str) -> str:
    """``ms median`` -> ``ms\\nmedian``: a header over two lines, split where its widest line is narrowest."""
    words = header.split(" ")
    if len(words) < 2:
        return header
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    top, bottom = min(splits, key=lambda s: max(len(s[0]), len(s[1])))
    return f"{top}\n{bottom}"


def _text(cell: Text | str) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _width(text: Text | str) -> int:
    plain = text.plain if isinstance(text, Text) else text
    return max((Text(line).cell_len for line in plain.split("\n")), default=0)


class FittedTable:
    """A rich table that fits the console it is printed on.

    Its columns keep their content on one line (except ``fold`` columns); when
    they cannot all fit, those with the lowest ``drop`` rank are left out, one
    at a time, and a line under the table names them. ``notes`` follow.
    """

    def __init__(self, columns: Sequence[Col], rows: Sequence[Sequence[Text | str]], title: str | Text = "",
                 caption: str = "", notes: Sequence[RenderableType] = ()) -> None:
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.title, self.caption, self.notes = title, caption, list(notes)

    def min_width(self, shown: Sequence[int]) -> int:
        """The width the table needs with columns ``shown`` (rich's default box: 3 per column, 1 edge)."""
        return sum(self._min_column(i) + 3 for i in shown) + 1

    def _min_column(self, i: int) -> int:
        col = self.columns[i]
        header = _width(col.header)
        widest = max([header, *(_width(row[i]) for row in self.rows)])
        return max(header, min(widest, FOLD_MIN_WIDTH)) if col.fold else widest

    def shown(self, width: int) -> list[int]:
        """The indices of the columns that fit in ``width``, in order."""
        shown = list(range(len(self.columns)))
        while self.min_width(shown) > width:
            droppable = [i for i in shown if self.columns[i].drop is not None]
            if not droppable:
                break
            shown.remove(min(droppable, key=lambda i: self.columns[i].drop or 0))
        return shown

    def table(self, width: int) -> Table:
        shown = self.shown(width)
        table = Table(title=self.title, caption=self.caption or None, header_style="bold")
        for i in shown:
            col = self.columns[i]
            table.add_column(col.header, justify=col.justify, overflow="fold",  # type: ignore[arg-type]
                             no_wrap=not col.fold, min_width=None if col.fold else self._min_column(i))
        for row in self.rows:  # text as given: a label's brackets are not markup
            table.add_row(*(_text(row[i]) for i in shown))
        return table

    def left_out(self, width: int) -> list[str]:
        shown = self.shown(width)
        return [c.header.replace("\n", " ") for i, c in enumerate(self.columns) if i not in shown]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        yield self.table(width)
        left_out = self.left_out(width)
        if left_out:
            yield Text(f"not shown at {width} columns: {', '.join(left_out)} (a wider terminal shows them)",
                       style="dim")
        yield from self.notes


# --------------------------------------------------------------------------- the grid


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "red"))


def _shared(frame: pd.DataFrame) -> dict[str, set[str]]:
    return {
        "dataset": {str(d) for d in frame["dataset"].fillna("-")} if "dataset" in frame else {"-"},
        "input": {f"{h}x{w}" for h, w in zip(frame["input_h"], frame["input_w"], strict=True)},
        "batch": {str(b) for b in frame["batch_size"]},
        "prec.": {str(p) for p in frame["precision"]},
        "runtime": {str(r) for r in frame["runtime"]} if "runtime" in frame else {"eager"},
        "device": {str(d) for d in frame["device"]},
    }


def grid_table(frame: pd.DataFrame, title: str = "segbench grid") -> FittedTable:
    """One row per cell: its label, cost and speed, and its status; why a cell is not ok follows the table.

    Settings shared by every cell go in the caption; those that vary are in the labels.
    """
    rows = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    labels = cell_labels(rows)
    caption = ", ".join(f"{k} {next(iter(v))}" for k, v in _shared(frame).items() if len(v) == 1)
    accuracy = "miou" in frame and frame["miou"].notna().any()
    shown = [COLUMNS[c] for c in (["miou"] if accuracy else []) + list(TERMINAL_COLUMNS)]
    columns = [Col("cell", justify="left")]
    for col in shown:
        columns.append(Col(two_lines(col.short_header), drop=_GRID_DROP_ORDER.index(col.name)))
        if col.name == "latency_ms_median":
            columns.append(Col("ms\np10-p90", drop=_GRID_DROP_ORDER.index("latency_spread")))
    columns.append(Col("status", justify="left"))
    table_rows: list[list[Text | str]] = []
    notes: list[RenderableType] = []
    for label, row in zip(labels, rows, strict=True):
        ok = row["status"] == "ok"
        values: list[Text | str] = []
        for col in shown:
            value = col.display(row[col.name]) if ok or col.name == "miou" else None
            values.append(_num(value, f".{col.decimals}f"))
            if col.name == "latency_ms_median":
                values.append(f"{row['latency_ms_p10']:.1f}-{row['latency_ms_p90']:.1f}" if ok else "-")
        table_rows.append([label, *values, status_text(str(row["status"]))])
        if not ok:
            notes.append(Text.assemble((label, "bold"), ": ", status_text(str(row["status"])), ": ",
                                       str(row.get("error") or "no reason recorded")))
    return FittedTable(columns, table_rows, title=title, caption=caption, notes=notes)


def cell_line(record: Mapping[str, Any], label: str, elapsed_s: float, done: int, total: int) -> str:
    """One plain line for a finished cell, for a log that is not a terminal (CI).

    ``[2/4] resnet18+skip  ok  12.4 s  mIoU 61.3  latency 23.72 ms``; a cell not ok gives its error instead.
    """
    status = str(record.get("status"))
    parts = [f"[{done}/{total}] {label}", status, f"{elapsed_s:.1f} s"]
    if status == "ok":
        for name in ("miou", "latency_ms_median"):
            value = key_value(record.get(name))
            if value is not None:
                spec = COLUMNS[name]
                title = "mIoU" if name == "miou" else "latency"
                parts.append(f"{title} {spec.format(value)}")
    else:
        parts.append(str(record.get("error") or "no reason recorded"))
    return "  ".join(parts)


def registry_table(kind: str, entries: list[tuple[str, dict[str, Any]]], columns: list[str]) -> Table:
    table = Table(title=f"{kind} ({len(entries)})", header_style="bold")
    table.add_column("name")
    for col in columns:
        table.add_column(col)
    for name, meta in entries:
        table.add_row(name, *(str(meta.get(col, "")) for col in columns))
    return table


def metrics_table(
    summary: dict[str, Any], per_class_iou: list[float | None], class_names: list[str], title: str
) -> Table:
    """Accuracy figures (0-100) then per-class IoU, one per row."""
    table = Table(title=title, header_style="bold", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, _num(value, ".2f") if isinstance(value, float) else str(value))
    table.add_section()
    for name, iou in zip(class_names, per_class_iou, strict=True):
        table.add_row(f"IoU {name}", _num(iou, ".2f"))
    return table


__all__ = ["Col", "FittedTable", "cell_labels", "cell_line", "grid_table", "metrics_table", "registry_table",
           "status_text", "two_lines", "varying_keys"]
