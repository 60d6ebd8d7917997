"""The run directory: the one place that knows its layout, how records are versioned, and what is a cache.

Layout of ``results/runs/<run_id>/``::

    run.json                the environment, written once, and the machine's ceilings (the roofline's)
    cells/<cell_id>.json    one record per cell, written atomically when it ends: the truth
    table.csv               one row per cell: a cache of the records, rewritten when stale
    train/<cell_id>/        a trained cell's checkpoints (last.pt, best.pt) and logs:
      log.csv               one row per epoch: mean loss, learning rate, validation mIoU
      train_log.jsonl       a JSON line every --log-every iterations (loss, lr, time) and per validation
      predictions/          the predicted label maps of its first evaluation images (<sample id>.png)

Every reader (``table``, ``compare``, ``plot``) goes through :meth:`RunDir.frame`
or :meth:`RunDir.records`, so they see the same numbers whatever state
table.csv is in. Records carry ``schema_version``: an older one is upgraded by
the chain of small functions in :data:`UPGRADES` (as asv upgrades its result
files), a newer one is refused in one line.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from segbench.inputs import BadFileError, read_json
from segbench.results import (
    SCHEMA_VERSION,
    TABLE_COLUMNS,
    load_table,
    records_to_frame,
    with_implied_keys,
    write_json_atomic,
)

RECORD_SUFFIX = ".json"
#: The folder, under a cell's artifacts, of the label maps its evaluation predicted (see segbench.prediction_maps).
PREDICTIONS_DIR = "predictions"
#: A trained cell's per-epoch log, under its artifacts (rewritten with every checkpoint).
EPOCH_LOG = "log.csv"
#: Its iteration-level log, under its artifacts: one JSON object a line (see segbench.train_log).
ITERATION_LOG = "train_log.jsonl"


def _v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no timing in the configuration, and ``train_time_s`` named the measured time
    only (the budget was lost, but for ``train_budget``'s text): recover the budget in seconds, and
    mark the timing unknown, so the cell is measured again when it is asked for."""
    budget = record.get("train_budget") or ""
    seconds = re.fullmatch(r"([0-9.eE+-]+) s", budget)
    record["train_time_budget_s"] = float(seconds.group(1)) if seconds else None
    record.setdefault("timing", None)
    record.setdefault("measure_fingerprint", None)
    return record


#: ``UPGRADES[v]`` turns a version-``v`` record into a version ``v + 1`` one.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


class NewerSchemaError(BadFileError):
    """A record written by a newer segbench; ``str()`` is one line."""


def upgrade(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """``record`` at the current schema version (older ones upgraded step by step; newer ones refused)."""
    version = record.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise BadFileError(f"cell record {path}: schema_version {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(f"cell record {path} has schema_version {version}, newer than this segbench "
                               f"reads ({SCHEMA_VERSION}); upgrade segbench to read it")
    while version < SCHEMA_VERSION:
        record = UPGRADES[version](dict(record))
        version += 1
    record["schema_version"] = SCHEMA_VERSION
    return with_implied_keys(record)


class DamagedRecordWarning(UserWarning):
    """A cell record could not be read; it was set aside and its cell runs again."""


class RunDir:
    """A run directory (given as the directory or its table.csv)."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        given_file = path.is_file() or path.suffix == ".csv"
        self.path = path.parent if given_file else path
        #: A table file given by name (``bare.csv``); read only where no records stand beside it.
        self._csv = path if given_file else None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- layout ------------------------------------------------------------------------------
    @property
    def cells_dir(self) -> Path:
        return self.path / "cells"

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def table_csv(self) -> Path:
        return self.path / "table.csv"

    @property
    def _table_to_read(self) -> Path:
        return self._csv or self.table_csv

    def record_path(self, cell_id: str) -> Path:
        return self.cells_dir / f"{cell_id}{RECORD_SUFFIX}"

    def artifacts(self, cell_id: str) -> Path:
        """Where a cell's checkpoints and training log live."""
        return self.path / "train" / cell_id

    def epoch_log(self, cell_id: str) -> Path:
        return self.artifacts(cell_id) / EPOCH_LOG

    def iteration_log(self, cell_id: str) -> Path:
        return self.artifacts(cell_id) / ITERATION_LOG

    def predictions(self, cell_id: str) -> Path:
        """Where a trained cell's evaluation saved its predicted label maps (what the qualitative sheet shows)."""
        return predictions_dir(self.artifacts(cell_id))

    def has_records(self) -> bool:
        return self.cells_dir.is_dir()

    def _record_files(self) -> list[Path]:
        return sorted(self.cells_dir.glob(f"*{RECORD_SUFFIX}")) if self.has_records() else []

    # -- reading -----------------------------------------------------------------------------
    def environment(self) -> dict[str, Any] | None:
        """run.json's environment, or None where the run has no run.json."""
        if not self.run_json.is_file():
            return None
        return read_json(self.run_json, "run.json").get("environment")

    def ceilings(self) -> dict[str, Any]:
        """run.json's measured ceilings per device type (see segbench.measure.ceilings); empty where it has none."""
        if not self.run_json.is_file():
            return {}
        return read_json(self.run_json, "run.json").get("ceilings") or {}

    def records(self) -> list[dict[str, Any]]:
        """Every cell record, upgraded to the current schema, in file-name order. A damaged file is an error."""
        return [upgrade(read_json(path, "cell record"), path) for path in self._record_files()]

    def record(self, cell_id: str) -> dict[str, Any] | None:
        """The record of ``cell_id``, upgraded to the current schema; None where the cell has none."""
        path = self.record_path(cell_id)
        return upgrade(read_json(path, "cell record"), path) if path.is_file() else None

    def frame(self, required: tuple[str, ...] = ()) -> pd.DataFrame:
        """One row per cell, from the records; table.csv is rewritten first if it is missing or stale.

        A directory holding only a table.csv (or a table.csv given alone) is read as it is.
        """
        if not self.has_records():
            if not self._table_to_read.is_file():
                raise FileNotFoundError(f"{self.path} is not a run directory: it has neither cells/ nor table.csv")
            return load_table(self._table_to_read, required=required)
        if self.table_is_stale():
            return self.write_table()
        return records_to_frame(self.records())

    def table_is_stale(self) -> bool:
        """table.csv is missing, older than a record, or has other cells or columns than the records."""
        if not self.table_csv.is_file():
            return True
        files = self._record_files()
        table_time = self.table_csv.stat().st_mtime
        if any(path.stat().st_mtime > table_time for path in files):
            return True
        try:
            cached = pd.read_csv(self.table_csv)
            header = list(cached.columns)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeDecodeError):
            return True
        ids = sorted(p.name.removesuffix(RECORD_SUFFIX) for p in files)
        return header != TABLE_COLUMNS or sorted(map(str, cached.get("cell_id", []))) != ids

    # -- writing -----------------------------------------------------------------------------
    def write_record(self, record: dict[str, Any]) -> Path:
        path = self.record_path(record["cell_id"])
        write_json_atomic(path, {"schema_version": SCHEMA_VERSION, **record})
        return path

    def write_environment(self, environment: dict[str, Any]) -> None:
        """Write run.json once; a run resumed keeps the environment it started with."""
        if not self.run_json.exists():
            write_json_atomic(self.run_json, {"environment": environment})

    def write_ceilings(self, ceilings: dict[str, Any]) -> None:
        """Set run.json's ceilings (the environment, written first, is kept as it is)."""
        data = read_json(self.run_json, "run.json") if self.run_json.is_file() else {}
        write_json_atomic(self.run_json, {**data, "ceilings": ceilings})

    def write_table(self) -> pd.DataFrame:
        """Rebuild table.csv from the cell records (the records are the source of truth).

        The runner calls it after every cell, and two grids may share a run
        directory, so each rebuild writes its own temporary file (a unique name,
        created exclusively) and renames it over table.csv: rebuilds never
        collide, and a reader sees the whole of one of them.
        """
        frame = records_to_frame(self.records())
        path = self.table_csv
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "x", newline="") as f:  # the umask's mode, as table.csv has always had
                frame.to_csv(f, index=False)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return frame

    def set_aside_damaged(self) -> list[Path]:
        """Rename every unreadable cell record to ``<name>.json.damaged`` and return the new paths.

        A record is damaged when it is not JSON (a file cut short by a full disk or
        a copy) or lacks ``cell_id``/``fingerprint``. Setting it aside, rather than
        deleting it, keeps the evidence while its cell counts as not yet run.
        """
        damaged = []
        for path in self._record_files():
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


def hardware(env: dict[str, Any], device: str) -> tuple[str | None, str | None]:
    """What run.json's environment names ``device``'s hardware by: (the GPU's or the CPU's name, the CPU's
    kernel instruction set, ``cpu_capability``). None for what it does not record (older runs lack the latter)."""
    if str(device).startswith("cuda"):
        return env.get("gpu"), None
    return env.get("cpu"), env.get("cpu_capability")


def predictions_dir(artifacts_dir: Path | str) -> Path:
    """The predictions folder under a cell's artifacts directory, for code handed that directory alone."""
    return Path(artifacts_dir) / PREDICTIONS_DIR


# Functions over a path, for callers that hold one (each is the RunDir method of the same name).
def load_records(run_dir: Path | str) -> list[dict[str, Any]]:
    return RunDir(run_dir).records()


def write_record(run_dir: Path | str, record: dict[str, Any]) -> Path:
    return RunDir(run_dir).write_record(record)


def write_table(run_dir: Path | str) -> pd.DataFrame:
    return RunDir(run_dir).write_table()


def set_aside_damaged(run_dir: Path | str) -> list[Path]:
    return RunDir(run_dir).set_aside_damaged()
