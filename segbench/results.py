"""The run directory: one JSON record per cell, run.json, and a flat table.csv.

Layout of ``results/runs/<run_id>/``::

    run.json            the environment, written once
    cells/<cell>.json   one record per cell, written atomically when it ends
    table.csv           one row per cell, rewritten after every finished cell

Configuration lives in separate key columns; nothing is ever parsed back out
of a string. ``SCHEMA_VERSION`` changes only with a CHANGELOG entry.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from segbench.inputs import BadFileError, read_csv, read_json
from segbench.outputs import open_atomic

SCHEMA_VERSION = 1

#: Columns that identify a cell; comparisons match cells on these.
KEY_COLUMNS = [
    "encoder",
    "decoder",
    "input_h",
    "input_w",
    "batch_size",
    "precision",
    "device",
    "channels_last",
    "num_classes",
    "dataset",
    "train_loss",
    "seed",
    # inference add-ons (segbench.inference); empty for the plain model
    "tta_scales",
    "tta_flip",
    "crf",
    "crf_iterations",
    "mc_samples",
    "attention_scales",
]
#: Recipe fields added after records were first written, with the value every older record of a
#: trained cell implied: old runs read back with it (so they keep matching new ones), and a cell at
#: that value keeps the fingerprint it had before the field existed (so old runs stay resumable).
IMPLIED_TRAINING_KEYS = {"train_loss": "ce", "train_nproc_per_node": 1}

#: Record fields holding measurements: NaN when a cell did not produce them.
COST_COLUMNS = [
    "params",
    "gmacs",
    "gflops",
    "latency_ms_median",
    "latency_ms_p10",
    "latency_ms_p90",
    "latency_ms_mean",
    "latency_ms_std",
    "latency_iqr_rel",
    "throughput_img_s",
    "peak_mem_mib",
]
ACCURACY_COLUMNS = ["miou", "pixel_acc", "mean_acc", "fwiou", "train_time_s"]
NUMERIC_COLUMNS = COST_COLUMNS + ACCURACY_COLUMNS

#: table.csv's columns, in order; records may hold more (raw samples, per-op FLOPs).
TABLE_COLUMNS = [
    *KEY_COLUMNS,
    *COST_COLUMNS,
    "mem_method",
    *ACCURACY_COLUMNS,
    "train_iters",
    "train_budget",
    "train_split",
    "eval_split",
    "threads",
    "timed_iters",
    "flops_counter",
    "flops_uncounted",
    "status",
    "error",
    "cell_id",
    "fingerprint",
]


def _json_safe(value: Any) -> Any:
    """NaN/inf become null: strict JSON, readable by every tool."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write strict JSON atomically (see :func:`segbench.outputs.open_atomic`): a reader never sees half a file."""
    with open_atomic(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(data), f, indent=2, allow_nan=False)
        f.write("\n")


def cells_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "cells"


def write_record(run_dir: Path, record: dict[str, Any]) -> Path:
    path = cells_dir(run_dir) / f"{record['cell_id']}.json"
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, **record})
    return path


def load_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every cell record of a run, in file-name order. A damaged file is reported, not skipped."""
    records = []
    for path in sorted(cells_dir(run_dir).glob("*.json")):
        record = read_json(path, "cell record")
        if record.get("dataset"):
            record = {**IMPLIED_TRAINING_KEYS, **record}
        records.append(record)
    return records


class DamagedRecordWarning(UserWarning):
    """A cell record could not be read; it was set aside and its cell runs again."""


def set_aside_damaged(run_dir: Path) -> list[Path]:
    """Rename every unreadable cell record to ``<name>.json.damaged`` and return the new paths.

    A record is damaged when it is not JSON (a file cut short by a full disk or
    a copy) or lacks ``cell_id``/``fingerprint``. Setting it aside, rather than
    deleting it, keeps the evidence while its cell counts as not yet run.
    """
    damaged = []
    for path in sorted(cells_dir(run_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            readable = isinstance(record, dict) and "cell_id" in record and "fingerprint" in record
        except (json.JSONDecodeError, UnicodeDecodeError):
            readable = False
        if not readable:
            aside = path.with_name(path.name + ".damaged")
            os.replace(path, aside)
            damaged.append(aside)
    return damaged


def records_to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for record in records:
        row = {col: record.get(col) for col in TABLE_COLUMNS}
        uncounted = record.get("flops_uncounted") or {}
        row["flops_uncounted"] = ";".join(f"{op}:{n}" for op, n in uncounted.items())
        rows.append(row)
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for col in NUMERIC_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def write_table(run_dir: Path) -> pd.DataFrame:
    """Rebuild table.csv from the cell records (the records are the source of truth).

    The runner calls it after every cell, and two grids may share a run
    directory, so each rebuild writes its own temporary file (a unique name,
    created exclusively) and renames it over table.csv: rebuilds never
    collide, and a reader sees the whole of one of them.
    """
    frame = records_to_frame(load_records(run_dir))
    path = Path(run_dir) / "table.csv"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", newline="") as f:  # the umask's mode, as table.csv has always had
            frame.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return frame


def load_table(run_dir_or_csv: Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """A run's table, from its directory or its table.csv; a ``required`` column missing is one line."""
    path = Path(run_dir_or_csv)
    if path.is_dir():
        path = path / "table.csv"
    frame = read_csv(path, "table")
    for col, implied in IMPLIED_TRAINING_KEYS.items():
        if col in KEY_COLUMNS and col not in frame.columns and "dataset" in frame.columns:
            frame[col] = frame["dataset"].where(frame["dataset"].isna(), implied)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise BadFileError(f"table {path} lacks the column(s) {', '.join(missing)}; "
                           "is it a table.csv written by segbench?")
    return frame
