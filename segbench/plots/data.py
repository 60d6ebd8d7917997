"""What the figures draw from: the cells of the runs, a label per model, and one row per model.

Every figure reads the frames made here, so a number (a model's latency, its
mIoU) is computed once and reads the same in every figure, and the same as in
the tables (:mod:`segbench.tables`): the mean over runs and seeds of each
cell's own value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from segbench.aggregate import aggregate as aggregate_stats
from segbench.config import model_label
from segbench.results import COLUMNS, KEY_COLUMNS, NUMERIC_COLUMNS
from segbench.rundir import RunDir

#: Columns ``metric`` may name: every numeric measurement of a cell.
METRICS = tuple(NUMERIC_COLUMNS)
ACCURACY = "miou"
#: A model is a cell's key without its seed: seeds of one model are pooled.
MODEL_KEY = [c for c in KEY_COLUMNS if c != "seed"]

#: The latency every figure shows, the statistic of the tables: per cell, its own median (and p10, p90)
#: over its timed iterations; per model, the mean of each over the model's runs and seeds.
LATENCY = "latency_ms_median"
LATENCY_P10 = "latency_ms_p10"
LATENCY_P90 = "latency_ms_p90"

#: Axis and colourbar labels, with units, scales and directions: each column's own description.
LABELS = {name: col.header for name, col in COLUMNS.items()}
#: Shown multiplied by the column's scale (parameters in millions), as the label's unit says.
DISPLAY_SCALE = {name: 1 / col.scale for name, col in COLUMNS.items() if col.scale != 1}
#: Metrics where more is better: their heatmaps run the colour map the other way.
HIGHER_IS_BETTER = {name for name, col in COLUMNS.items() if col.higher_is_better}

#: Record fields that table.csv leaves out (lists and mappings) and some figure needs.
RECORD_ONLY = ("per_class_iou", "class_names", "train_history", "data_root", "dataset_options", "train_log_every",
               "val_split")


# -- loading -----------------------------------------------------------------------------------


def load_runs(runs: Sequence[Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """One row per cell record of every run, with the list fields kept and a model ``label``.

    Returns the frame and each run's environment (run.json).
    """
    frames, envs = [], []
    for path in runs:
        run = RunDir(path)
        records = run.records() if run.has_records() else []
        if not records:
            raise ValueError(f"no cell records in {run.cells_dir}; is it a segbench run directory?")
        frame = run.frame()
        for col in RECORD_ONLY:
            frame[col] = [r.get(col) for r in records]
        frame["run_dir"] = str(run.path)
        frames.append(frame)
        envs.append(run.environment() or {})
    frame = pd.concat(frames, ignore_index=True)
    frame["label"] = model_labels(frame)
    return frame, envs


# -- model labels ------------------------------------------------------------------------------


def _true(value: Any) -> bool:
    return value is True or str(value) == "True"


#: How a key value reads in a label (``b8``, ``c19``, ``cl``, ``dice loss``, ``crf``); the rest as they are.
_KEY_TEXT: dict[str, Callable[[Any], str]] = {
    "batch_size": lambda v: f"b{v}",
    "num_classes": lambda v: f"c{v}",
    "channels_last": lambda v: "cl" if _true(v) else "nchw",
    "pretrained": lambda v: "pretrained" if _true(v) else "scratch",
    "train_loss": lambda v: f"{v} loss",
    "train_label_smoothing": lambda v: f"smoothing {float(v):g}",
    "tta_scales": lambda v: f"tta {v}",
    "tta_flip": lambda v: "flip" if _true(v) else "",
    "crf": lambda v: "crf" if _true(v) else "",
    "crf_iterations": lambda v: f"crf x{int(float(v))}",
    "mc_samples": lambda v: f"mc{int(float(v))}",
    "attention_scales": lambda v: f"attention {v}",
}


def key_text(column: str, value: Any) -> str:
    """A key value as it reads in a label; empty for a missing one (the plain model's add-ons)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return _KEY_TEXT.get(column, str)(value)


def model_labels(frame: pd.DataFrame) -> pd.Series:
    """``encoder+decoder`` (or a whole network's name), plus every other key column that varies
    between models (size, precision, loss, inference add-ons...), so no two models share a label."""
    keys = frame[MODEL_KEY].astype(str)
    keys["input"] = frame["input_h"].astype(str) + "x" + frame["input_w"].astype(str)
    candidates = ["input", *(c for c in MODEL_KEY if c not in ("encoder", "decoder", "input_h", "input_w"))]
    extra = [c for c in candidates if keys[c].nunique(dropna=False) > 1]

    def label(i: Any) -> str:
        row = frame.loc[i]
        parts = [key_text(c, keys.at[i, c] if c == "input" else row[c]) for c in extra]
        return " ".join([model_label(row["encoder"], row["decoder"]), *filter(None, parts)])

    return pd.Series([label(i) for i in frame.index], index=frame.index)


# -- one row per model -------------------------------------------------------------------------


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per model: the mean, std and n over runs and seeds of every metric (``<metric>_std``,
    ``<metric>_n``), by the tables' own aggregation (:func:`segbench.aggregate.aggregate`)."""
    metrics = [c for c in METRICS if c in frame]
    numeric = frame.assign(**{c: pd.to_numeric(frame[c], errors="coerce") for c in metrics})
    stats = aggregate_stats(numeric, ["label"], metrics)
    first = frame.groupby("label", sort=False)[["encoder", "decoder"]].first()
    parts = [first, stats["mean"], stats["std"].add_suffix("_std"), stats["n"].add_suffix("_n")]
    return pd.concat(parts, axis=1).copy().reset_index()  # copy(): one block, not a column per insert


# -- what every plotted cell shares, for titles ------------------------------------------------


def shared(frame: pd.DataFrame, column: str) -> str | None:
    """The one value every cell has in ``column``, or None where they differ (or have none)."""
    values = frame[column].dropna().astype(str).unique()
    return str(values[0]) if len(values) == 1 else None


def seed_count(frame: pd.DataFrame) -> int:
    """The most seeds any model was run with."""
    return int(frame.groupby("label")["seed"].nunique(dropna=False).max())


def over_cells(frame: pd.DataFrame, statistic: str = "mean ± std") -> str:
    """``mean ± std over n=3 runs``, or ``... over n=1-3 runs per model`` where models differ; empty
    where every model has one cell. Each model's n is its cells (runs x seeds), as the tables count it."""
    counts = frame.groupby("label").size()
    low, high = int(counts.min()), int(counts.max())
    if high <= 1:
        return ""
    return f"{statistic} over n={high} runs" if low == high else f"{statistic} over n={low}-{high} runs per model"


def hardware(frame: pd.DataFrame, envs: list[dict[str, Any]]) -> str:
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


def conditions(frame: pd.DataFrame, envs: list[dict[str, Any]], spread: bool = True) -> str:
    """The conditions every plotted cell shares (with ``spread``, the n behind its means), for a subtitle."""
    parts = []
    if (h := shared(frame, "input_h")) and (w := shared(frame, "input_w")):
        parts.append(f"input {h}x{w}")
    if batch := shared(frame, "batch_size"):
        parts.append(f"batch {batch}")
    if precision := shared(frame, "precision"):
        parts.append(precision)
    if where := hardware(frame, envs):
        parts.append(where)
    if spread and (over := over_cells(frame)):
        parts.append(over)
    return " | ".join(parts)


def scored_on(frame: pd.DataFrame) -> str:
    """``synthetic test split``: where every plotted cell's accuracy was scored (empty where they differ)."""
    dataset, split = shared(frame, "dataset"), shared(frame, "eval_split")
    return " ".join(x for x in [dataset, f"{split} split" if split else None] if x)


def accuracy_label(frame: pd.DataFrame) -> str:
    """``mIoU (%) on synthetic test split``: the axis label of accuracy, with where it was scored."""
    where = scored_on(frame)
    return f"mIoU (%){' on ' + where if where else ''}"
