"""What a result is made of: its key and measured columns, strict JSON, and a table from records.

Every column list here is derived: key columns from :class:`segbench.config.CellConfig`'s
fields, measured columns from the fields of :class:`~segbench.measure.costs.Profile`,
:class:`~segbench.measure.costs.Roofline`, :class:`~segbench.record.Accuracy` and
:class:`~segbench.record.Training`. Where a run's files live is :mod:`segbench.rundir`'s
business alone. Configuration lives in separate key columns; nothing is ever parsed
back out of a string.
``SCHEMA_VERSION`` changes only with a CHANGELOG entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from segbench.columns import Column, columns_of
from segbench.config import implied_cell_keys, implied_keys, key_columns
from segbench.inputs import BadFileError, read_csv
from segbench.measure.costs import Profile, Roofline, RuntimeBuild
from segbench.outputs import open_atomic
from segbench.record import Accuracy, Training

#: The version of a cell record's layout; :mod:`segbench.rundir` upgrades older ones on reading.
SCHEMA_VERSION = 2

#: Columns that identify a cell; comparisons match cells on these (derived from CellConfig's fields).
KEY_COLUMNS = key_columns()


def key_value(value: Any) -> Any:
    """A key value in one canonical form, as it reads: None for missing, ``1`` for ``1.0`` (a CSV column
    with gaps is float, a record's is not), so table rows and records match and label alike."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
#: Key columns added after records were first written, with the value every older record implied:
#: old runs read back with it, so they keep matching new ones. The recipe's are implied for trained
#: cells only (an untrained cell has no recipe).
IMPLIED_TRAINING_KEYS = implied_keys()
IMPLIED_KEYS = implied_cell_keys()

#: Every measured column, described once on the field it comes from: label, unit, scale, direction.
COLUMNS: dict[str, Column] = columns_of(Profile, Roofline, RuntimeBuild, Accuracy, Training)
#: Record fields holding measurements: NaN when a cell did not produce them.
COST_COLUMNS = list(columns_of(Profile, Roofline))
RUNTIME_COLUMNS = list(columns_of(RuntimeBuild))
ACCURACY_COLUMNS = [*columns_of(Accuracy), *columns_of(Training)]
NUMERIC_COLUMNS = COST_COLUMNS + RUNTIME_COLUMNS + ACCURACY_COLUMNS

#: table.csv's columns, in order; records may hold more (raw samples, per-op FLOPs).
TABLE_COLUMNS = [
    *KEY_COLUMNS,
    *COST_COLUMNS,
    "mem_method",
    "roofline_bound",
    *RUNTIME_COLUMNS,
    "runtime_backend",
    "onnx_opset",
    *ACCURACY_COLUMNS,
    "train_iters",
    "train_budget",
    "train_time_budget_s",
    "train_split",
    "eval_split",
    "eval_h",
    "eval_w",
    "threads",
    "timed_iters",
    "latency_rounds",
    "flops_counter",
    "flops_uncounted",
    "status",
    "error",
    "cell_id",
    "fingerprint",
    "measure_fingerprint",
]


def column(name: str) -> Column:
    """The description of a measured column; a column without one reads as its own name."""
    if name in COLUMNS:
        return COLUMNS[name]
    return Column(name, name)


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


def with_implied_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with every key column it predates at the value it implied."""
    implied = {**IMPLIED_KEYS, **(IMPLIED_TRAINING_KEYS if record.get("dataset") else {})}
    return {**implied, **record}


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


def load_table(csv_path: Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """A bare table.csv (no run directory around it); a ``required`` column missing is one line.

    Key columns it predates are filled with the value they implied.
    """
    path = Path(csv_path)
    frame = read_csv(path, "table")
    if "dataset" in frame.columns:
        trained = frame["dataset"].notna()
        for col, implied in {**IMPLIED_KEYS, **IMPLIED_TRAINING_KEYS}.items():
            if col in KEY_COLUMNS and col not in frame.columns:
                frame[col] = implied if col in IMPLIED_KEYS else frame["dataset"].where(~trained, implied)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise BadFileError(f"table {path} lacks the column(s) {', '.join(missing)}; "
                           "is it a table.csv written by segbench?")
    return frame


def columns_markdown() -> str:
    """The measured columns as a Markdown table (README.md holds it; a test keeps the two equal)."""
    lines = ["| column | meaning | shown as | better |", "|---|---|---|---|"]
    for col in COLUMNS.values():
        scale = f", value x {col.scale:g}" if col.scale != 1 else ""
        lines.append(f"| `{col.name}` | {col.doc} | {col.header}{scale} | {col.better or '-'} |")
    return "\n".join(lines)
