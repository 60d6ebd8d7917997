"""Run a list of cells into a run directory, one record at a time.

Executors are the seam for *how* cells run (this process, a fresh process
per cell, or Ray tasks: see :mod:`segbench.executors`): each yields records
as cells finish, and the runner alone writes them, so every executor
produces the same run directory.
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from segbench.config import CellConfig, with_timing
from segbench.env import environment
from segbench.executors.base import Executor, TrainCallback
from segbench.executors.local import LocalExecutor
from segbench.measure.latency import TimingConfig
from segbench.measure.roofline import roofline_fields
from segbench.record import Status
from segbench.rounds import run_rounds
from segbench.rundir import DamagedRecordWarning, RunDir

DEFAULT_RUNS_DIR = Path("results/runs")


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
    #: The cell id of each latency round timed after the cells' own runs (a cell once per round).
    rounds_ran: list[str] = field(default_factory=list)


def finished_cells(run_dir: Path, retry_failed: bool = False) -> dict[str, tuple[str, str | None]]:
    """cell_id -> (fingerprint, measure fingerprint) of the cells recorded (failed ones too, unless retrying).

    A ``not_applicable`` cell (a decoder that cannot take the encoder) is settled, not failed:
    retrying would only record the same refusal again.
    """
    run = RunDir(run_dir)
    if not run.has_records():
        return {}
    return {
        r["cell_id"]: (r["fingerprint"], r.get("measure_fingerprint"))
        for r in run.records()
        if Status(r.get("status", "failed")).settled or not retry_failed
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
    on_plan: Callable[[list[CellConfig]], None] | None = None,
    rounds: int = 1,
    on_round: Callable[[str, int], None] | None = None,
) -> GridResult:
    """Run every cell not already finished in ``run_dir``, then its latency rounds, and return the table.

    A cell's own run times its first latency round; with ``rounds`` above 1,
    round 2 then times every ok cell again, then round 3, and so on (see
    :mod:`segbench.rounds`); a cell already holding its rounds is not timed
    again, so a resumed run tops each cell up to ``rounds``. ``on_round`` is
    called with each cell's id and round number as the round is recorded.

    Each record is on disk the moment its cell ends, and table.csv is rebuilt
    right after it, so a run killed outright still shows its finished cells.
    On Ctrl-C (or SIGTERM/SIGHUP raised as :class:`segbench.signals.Terminated`)
    ``interrupted`` and ``signum`` are set, the running cell is stopped (its
    process killed, for the process-isolating executors), and a rerun into the
    same directory resumes where this one stopped. ``on_plan`` is told the cells
    that will run (those not reused), once, before the first starts.
    """
    executor = executor or LocalExecutor()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = RunDir(run_dir)
    run.write_environment(environment())
    damaged = run.set_aside_damaged()
    for path in damaged:
        warnings.warn(f"damaged cell record set aside as {path}; its cell runs again",
                      DamagedRecordWarning, stacklevel=2)
    if timing is not None:  # the timing is part of a cell's configuration: a cell that has its own keeps it
        cells = [c if c.timing else with_timing(c, timing) for c in cells]
    done = finished_cells(run_dir, retry_failed)
    todo = [c for c in cells if done.get(c.cell_id) != (c.fingerprint, c.measure_fingerprint)]
    reused = [c.cell_id for c in cells if done.get(c.cell_id) == (c.fingerprint, c.measure_fingerprint)]
    result = GridResult(run_dir, pd.DataFrame(), reused=reused, damaged=damaged)
    if on_plan:
        on_plan(todo)
    ceilings = run_ceilings(run, todo)

    def announced(cells_to_run: list[CellConfig]) -> Iterator[CellConfig]:
        for cell in cells_to_run:
            if on_start:
                on_start(cell)
            yield cell

    records = executor.run(announced(todo), timing, run_dir, on_train_event)
    try:
        for record in records:
            record.update(roofline_fields(record, ceilings))
            run.write_record(record)
            run.write_table()
            result.ran.append(record["cell_id"])
            if on_record:
                on_record(record)
    except KeyboardInterrupt as e:
        result.interrupted = True
        result.signum = getattr(e, "signum", signal.SIGINT)
    finally:
        if hasattr(records, "close"):  # now, not at garbage collection: kill children, leave Ray
            records.close()
    if not result.interrupted:
        try:
            result.rounds_ran = list(run_rounds(cells, run, executor, rounds, timing, on_round))
        except KeyboardInterrupt as e:  # the rounds recorded so far are on disk; a rerun tops up the rest
            result.interrupted = True
            result.signum = getattr(e, "signum", signal.SIGINT)
    result.table = run.write_table()
    return result


def run_ceilings(run: RunDir, cells: list[CellConfig]) -> dict[str, Any]:
    """The run's ceilings (run.json's), with those the cells need probed now and recorded there.

    A probe that fails costs the roofline columns only: the grid goes on, and the warning says why.
    """
    from segbench.measure.ceilings import ensure_ceilings

    known = run.ceilings()
    try:
        ceilings = ensure_ceilings(cells, known)
    except Exception as e:  # a GPU out of memory, a precision the device lacks: no roofline, the grid goes on
        warnings.warn(f"the ceilings probe failed ({type(e).__name__}: {e}); no roofline columns this run",
                      RuntimeWarning, stacklevel=3)
        return known
    if ceilings != known:
        run.write_ceilings(ceilings)
    return ceilings


__all__ = ["DEFAULT_RUNS_DIR", "Executor", "GridResult", "LocalExecutor", "TrainCallback",
           "finished_cells", "new_run_dir", "run_grid"]
