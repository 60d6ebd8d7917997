"""Run a list of cells into a run directory, one record at a time.

Executors are the seam for *how* cells run (this process, a fresh process
per cell, or Ray tasks: see :mod:`segbench.executors`): each yields records
as cells finish, and the runner alone writes them, so every executor
produces the same run directory.
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from segbench.cell import STATUS_NOT_APPLICABLE, STATUS_OK, CellConfig, run_cell
from segbench.train import TrainEvent
from segbench.env import environment
from segbench.measure.latency import TimingConfig
from segbench.executors.placement import placement
from segbench.results import DamagedRecordWarning, load_records, set_aside_damaged, write_json_atomic, write_record, write_table

DEFAULT_RUNS_DIR = Path("results/runs")


TrainCallback = Callable[[TrainEvent], None]


def artifacts_dir(run_dir: Path, cell: CellConfig) -> Path:
    """Where a cell's checkpoints and training log live."""
    return Path(run_dir) / "train" / cell.cell_id


class Executor(Protocol):
    def run(
        self,
        cells: Iterable[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        on_train_event: TrainCallback | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Run ``cells``, yielding each cell's record as soon as it ends."""
        ...


class LocalExecutor:
    """Runs cells one after another in this process."""

    name = "local"

    def run(
        self,
        cells: Iterable[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        on_train_event: TrainCallback | None = None,
    ) -> Iterator[dict[str, Any]]:
        for cell in cells:
            record = run_cell(cell, timing, artifacts_dir(run_dir, cell), on_train_event)
            yield {**record, **placement(self.name)}


def new_run_dir(base: Path = DEFAULT_RUNS_DIR, prefix: str = "") -> Path:
    """A fresh ``base/<prefix><date>-<time>`` directory name (not created)."""
    stamp = prefix + datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path


@dataclass
class GridResult:
    run_dir: Path
    table: pd.DataFrame
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    interrupted: bool = False
    #: The signal that interrupted the run (SIGINT for Ctrl-C, SIGTERM, SIGHUP); None when it was not.
    signum: int | None = None
    #: Cell records found unreadable (set aside as ``*.json.damaged``); their cells ran again.
    damaged: list[Path] = field(default_factory=list)


#: Outcomes that running the cell again cannot change: ``--retry-failed`` keeps them.
SETTLED = (STATUS_OK, STATUS_NOT_APPLICABLE)


def finished_cells(run_dir: Path, retry_failed: bool = False) -> dict[str, str]:
    """cell_id -> fingerprint of the cells already recorded (failed ones too, unless retrying).

    A ``not_applicable`` cell (a decoder that cannot take the encoder) is settled, not failed:
    retrying would only record the same refusal again.
    """
    if not (run_dir / "cells").is_dir():
        return {}
    return {
        r["cell_id"]: r["fingerprint"]
        for r in load_records(run_dir)
        if r.get("status") in SETTLED or not retry_failed
    }


def run_grid(
    cells: list[CellConfig],
    run_dir: Path,
    executor: Executor | None = None,
    timing: TimingConfig | None = None,
    retry_failed: bool = False,
    on_start: Callable[[CellConfig], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_train_event: TrainCallback | None = None,
) -> GridResult:
    """Run every cell not already finished in ``run_dir`` and return the table.

    Each record is on disk the moment its cell ends, and table.csv is rebuilt
    right after it, so a run killed outright still shows its finished cells.
    On Ctrl-C (or SIGTERM/SIGHUP raised as :class:`segbench.signals.Terminated`)
    ``interrupted`` and ``signum`` are set, the running cell is stopped (its
    process killed, for the process-isolating executors), and a rerun into the
    same directory resumes where this one stopped.
    """
    executor = executor or LocalExecutor()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "run.json").exists():
        write_json_atomic(run_dir / "run.json", {"environment": environment()})
    damaged = set_aside_damaged(run_dir) if (run_dir / "cells").is_dir() else []
    for path in damaged:
        warnings.warn(f"damaged cell record set aside as {path}; its cell runs again",
                      DamagedRecordWarning, stacklevel=2)
    done = finished_cells(run_dir, retry_failed)
    todo = [c for c in cells if done.get(c.cell_id) != c.fingerprint]
    reused = [c.cell_id for c in cells if done.get(c.cell_id) == c.fingerprint]
    result = GridResult(run_dir, pd.DataFrame(), reused=reused, damaged=damaged)

    def announced(cells_to_run: list[CellConfig]) -> Iterator[CellConfig]:
        for cell in cells_to_run:
            if on_start:
                on_start(cell)
            yield cell

    records = executor.run(announced(todo), timing, run_dir, on_train_event)
    try:
        for record in records:
            write_record(run_dir, record)
            write_table(run_dir)
            result.ran.append(record["cell_id"])
            if on_record:
                on_record(record)
    except KeyboardInterrupt as e:
        result.interrupted = True
        result.signum = getattr(e, "signum", signal.SIGINT)
    finally:
        if hasattr(records, "close"):  # now, not at garbage collection: kill children, leave Ray
            records.close()
    result.table = write_table(run_dir)
    return result
