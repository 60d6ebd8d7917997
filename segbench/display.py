"""Rich renderings of runs and registries for the terminal."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.table import Table

from segbench.results import COLUMNS

#: The measured columns of the terminal grid table (after mIoU, where the cells were scored).
TERMINAL_COLUMNS = ("params", "gflops", "latency_ms_median", "throughput_img_s", "peak_mem_mib")


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _status(status: str, error: str | None) -> str:
    if status == "ok":
        return "[green]ok[/]"
    colour = "yellow" if status == "not_applicable" else "red"  # a mismatch, not a failure
    return f"[{colour}]{status}[/]: {error or ''}"


def grid_table(frame: pd.DataFrame, title: str = "segbench grid") -> Table:
    """One row per cell: cost and speed, with the status and any error.

    Settings shared by every cell go in the caption; only those that vary get a column.
    """
    shared = {
        "dataset": {str(d) for d in frame["dataset"].fillna("-")} if "dataset" in frame else {"-"},
        "input": {f"{h}x{w}" for h, w in zip(frame["input_h"], frame["input_w"], strict=True)},
        "batch": set(frame["batch_size"]),
        "prec.": set(frame["precision"]),
        "runtime": set(frame["runtime"]) if "runtime" in frame else {"eager"},
        "device": set(frame["device"]),
    }
    varying = [k for k, v in shared.items() if len(v) > 1]
    caption = ", ".join(f"{k} {next(iter(v))}" for k, v in shared.items() if len(v) == 1)
    table = Table(title=title, caption=caption, header_style="bold")
    table.add_column("encoder", no_wrap=True)
    table.add_column("decoder", no_wrap=True)
    for name in varying:
        table.add_column(name, no_wrap=True)
    accuracy = "miou" in frame and frame["miou"].notna().any()
    shown = [COLUMNS[c] for c in (["miou"] if accuracy else []) + list(TERMINAL_COLUMNS)]
    for col in shown:
        table.add_column(col.short_header, justify="right", no_wrap=True)
        if col.name == "latency_ms_median":
            table.add_column("ms p10-p90", justify="right", no_wrap=True)
    table.add_column("status")
    for row in frame.to_dict("records"):
        ok = row["status"] == "ok"
        cells = {
            "dataset": str(row.get("dataset") or "-"),
            "input": f"{row['input_h']}x{row['input_w']}",
            "batch": str(row["batch_size"]),
            "prec.": str(row["precision"]),
            "runtime": str(row.get("runtime", "eager")),
            "device": str(row["device"]),
        }
        values = []
        for col in shown:
            value = col.display(row[col.name]) if ok or col.name == "miou" else None
            values.append(_num(value, f".{col.decimals}f"))
            if col.name == "latency_ms_median":
                values.append(f"{row['latency_ms_p10']:.1f}-{row['latency_ms_p90']:.1f}" if ok else "-")
        table.add_row(
            str(row["encoder"]),
            str(row["decoder"]),
            *(cells[k] for k in varying),
            *values,
            _status(row["status"], row.get("error")),
        )
    return table


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
