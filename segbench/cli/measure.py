"""Commands that measure: grid, run (a suite) and list.

Torch, the models and the data load inside the commands that use them, so
``segbench --help`` and a mistyped option answer at once.
"""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.checks import check_options
from segbench.cli.app import UserError, app, err, out
from segbench.config import CellConfig
from segbench.display import cell_labels, cell_line, grid_table, registry_table
from segbench.outputs import prepare_dir
from segbench.rundir import DamagedRecordWarning
from segbench.signals import Terminated, exit_status, terminate_as_interrupt
from segbench.spec import (
    BenchmarkSpec,
    DataSpec,
    ExecutionSpec,
    Given,
    GridSpec,
    InferenceSpec,
    MeasureSpec,
    TrainSpec,
    merge,
    options,
)
from segbench.suites import load_suite

if TYPE_CHECKING:
    from segbench.executors.base import Executor
    from segbench.runner import GridResult
    from segbench.train import TrainEvent


class Listable(str, Enum):
    encoders = "encoders"
    decoders = "decoders"
    models = "models"
    datasets = "datasets"
    losses = "losses"
    runtimes = "runtimes"


def grid_spec(given: Given, profile_only: bool) -> BenchmarkSpec:
    """The anonymous suite that ``grid``'s options describe (every section at its defaults where not given)."""
    if profile_only and given[DataSpec]:
        raise ValueError("--profile-only measures costs only; drop --dataset or --profile-only")
    return BenchmarkSpec(
        grid=GridSpec(**given[GridSpec]),
        data=None if profile_only else DataSpec(**given[DataSpec]),
        train=None if profile_only else TrainSpec(**given[TrainSpec]),
        measure=MeasureSpec(**given[MeasureSpec]),
        inference=(InferenceSpec(**given[InferenceSpec]),),
        execution=ExecutionSpec(**given[ExecutionSpec]),
    )


@app.command()
@options(GridSpec, DataSpec, TrainSpec, MeasureSpec, InferenceSpec, ExecutionSpec)
def grid(
    ctx: typer.Context,
    profile_only: Annotated[bool, typer.Option(help="Skip training and accuracy: cost columns only.")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default results/runs/<run_id>/).")
    ] = None,
    given: Given | None = None,
) -> None:
    """Train, score and measure every encoder x decoder pair (and --models): mIoU, params, GFLOPs, latency, memory.

    Without --dataset the models train briefly on the built-in synthetic set;
    --profile-only measures the costs alone.
    """
    from segbench.distributed import check_nproc
    from segbench.runner import DEFAULT_RUNS_DIR, new_run_dir

    assert given is not None  # filled by @options
    try:
        check_options(ctx)
        spec = grid_spec(given, profile_only)
        cells = spec.cells()
        device = spec.grid.devices[0]
        if spec.train:
            check_nproc(spec.train.nproc_per_node, device)
        runner = spec.execution.executor_for(device)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    run_dir = prepare_dir(out_dir or new_run_dir(DEFAULT_RUNS_DIR))  # unwritable: one line, before any cell
    result = _run_with_progress(cells, run_dir, retry_failed, runner, spec.measure.rounds)
    out.print(grid_table(result.table))
    _report_end(result, run_dir)


def _report_end(result: GridResult, run_dir: Path) -> None:
    """The closing lines, and the exit status: 128 + the signal if interrupted, 1 if no cell is ok."""
    for path in result.damaged:
        err.print(f"[yellow]warning[/]: damaged cell record set aside as {path}; its cell ran again")
    if result.reused:
        err.print(f"reused {len(result.reused)} finished cell(s) from {run_dir}")
    if result.interrupted:
        by = "" if result.signum in (None, signal.SIGINT) else f" by {signal.Signals(result.signum).name}"
        err.print(f"[yellow]interrupted[/]{by}: {len(result.table)} cell(s) kept in {run_dir}; "
                  f"rerun with --out {run_dir} to resume")
        raise typer.Exit(exit_status(result.signum or signal.SIGINT))
    err.print(f"results: {run_dir}/table.csv")
    mine = result.table[result.table["cell_id"].isin([*result.ran, *result.reused])]
    if len(mine) and not (mine["status"] == "ok").any():  # a failure is a row; a grid of only failures fails
        err.print(f"[red]error[/]: none of the {len(mine)} cell(s) finished ok; see the error column")
        raise typer.Exit(1)


def _run_with_progress(cells: list[CellConfig], run_dir: Path, retry_failed: bool, executor: Executor,
                       rounds: int = 1) -> GridResult:
    """Run the grid (then its latency rounds) under two progress bars on a terminal (cells, and the current
    cell's training steps); in a log (CI, a pipe), one plain line per finished cell instead, as it finishes."""
    from segbench.runner import run_grid

    labels = dict(zip([c.cell_id for c in cells], cell_labels([c.key() for c in cells]), strict=True))
    with warnings.catch_warnings(), terminate_as_interrupt():
        warnings.simplefilter("ignore", DamagedRecordWarning)  # _report_end says it, once
        try:
            with _live(err.is_terminal, labels, rounds) as report:
                result = run_grid(cells, run_dir, executor, retry_failed=retry_failed, on_plan=report.on_plan,
                                  on_start=report.on_start, on_record=report.on_record,
                                  on_train_event=report.on_train_event, rounds=rounds, on_round=report.on_round)
                report.finish(result)
        except Terminated as e:  # before the first cell started or after the last ended: all is on disk
            err.print(f"[yellow]interrupted[/] by {signal.Signals(e.signum).name}; "
                      f"rerun with --out {run_dir} to resume")
            raise typer.Exit(exit_status(e.signum)) from None
    return result


class _LogLines:
    """Progress for a log: one plain line per finished cell (its time and headline figures), flushed."""

    def __init__(self, labels: dict[str, str], rounds: int = 1) -> None:
        self.labels, self.total, self.done, self.rounds = labels, 0, 0, rounds
        self.started: dict[str, float] = {}
        self.round_started = time.monotonic()

    def on_plan(self, cells: list[CellConfig]) -> None:
        self.total = len(cells)

    def on_start(self, cell: CellConfig) -> None:
        self.started[cell.cell_id] = time.monotonic()

    def on_train_event(self, event: TrainEvent) -> None:
        pass

    def on_record(self, record: dict) -> None:
        self.done += 1
        cell = record["cell_id"]
        elapsed = time.monotonic() - self.started.pop(cell, time.monotonic())
        line = cell_line(record, self.labels.get(cell, cell), elapsed, self.done, self.total)
        err.print(line, highlight=False, markup=False)
        self.round_started = time.monotonic()

    def on_round(self, cell_id: str, number: int) -> None:
        elapsed = time.monotonic() - self.round_started
        err.print(f"round {number}/{self.rounds} {self.labels.get(cell_id, cell_id)}  {elapsed:.1f} s",
                  highlight=False, markup=False)
        self.round_started = time.monotonic()

    def finish(self, result: GridResult) -> None:
        pass


class _ProgressBars(_LogLines):
    """Progress for a terminal: the grid's cells, and the running cell's training steps, as live bars."""

    def __init__(self, labels: dict[str, str], progress: Progress, rounds: int = 1) -> None:
        super().__init__(labels, rounds)
        self.progress, self.miou = progress, "-"
        self.grid_task = progress.add_task("grid", total=None, info="")
        self.train_task = progress.add_task("training", total=None, visible=False, info="")

    def on_plan(self, cells: list[CellConfig]) -> None:
        super().on_plan(cells)
        self.progress.update(self.grid_task, total=self.total)

    def on_start(self, cell: CellConfig) -> None:
        self.progress.update(self.grid_task, description=self.labels.get(cell.cell_id, cell.cell_id))
        self.progress.reset(self.train_task, total=None, visible=cell.dataset is not None, info="")
        self.miou = "-"

    def on_train_event(self, event: TrainEvent) -> None:
        if event.val_miou is not None:
            self.miou = f"{event.val_miou:.1f}"
        loss = self.progress.tasks[self.train_task].fields.get("loss", "-")
        if event.loss is not None:
            loss = f"{event.loss:.3f}"
        self.progress.update(self.train_task, completed=event.iteration, total=event.total, loss=loss,
                             info=f"loss {loss}  val mIoU {self.miou}")

    def on_record(self, record: dict) -> None:
        if record["status"] != "ok":
            label = self.labels.get(record["cell_id"], record["cell_id"])
            err.print(f"[red]{escape(label)}: {record['status']}[/]: {escape(str(record['error']))}")
        self.progress.update(self.train_task, visible=False)
        self.progress.advance(self.grid_task)

    def on_round(self, cell_id: str, number: int) -> None:
        description = f"round {number}/{self.rounds}"
        if self.progress.tasks[self.grid_task].description != description:
            self.progress.reset(self.grid_task, total=self.total, description=description)
        self.progress.advance(self.grid_task)

    def finish(self, result: GridResult) -> None:
        if not result.rounds_ran:
            self.progress.update(self.grid_task, completed=len(result.ran), description="grid")


@contextmanager
def _live(terminal: bool, labels: dict[str, str], rounds: int = 1) -> Iterator[_LogLines]:
    """Live bars on a terminal; plain lines elsewhere, where a live display would print nothing for minutes."""
    if not terminal:
        yield _LogLines(labels, rounds)
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), console=err) as progress:
        yield _ProgressBars(labels, progress, rounds)


@app.command()
@options(ExecutionSpec)
def run(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="Suite name (suites/NAME.toml) or path to a TOML file.")],
    include: Annotated[list[str] | None, typer.Option(help="Only cells matching this glob (id or enc+dec).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Skip cells matching this glob.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default results/runs/<suite>-<time>/).")
    ] = None,
    given: Given | None = None,
) -> None:
    """Run a suite: its grid, training recipe and measurement settings, from one TOML file.

    Rerunning into the same --out skips cells already finished with the same configuration.
    The execution options given here win over the suite's [execution] table.
    """
    from segbench.runner import DEFAULT_RUNS_DIR, new_run_dir

    assert given is not None  # filled by @options
    try:
        check_options(ctx)
        loaded = load_suite(suite)
        cells = loaded.select(include, exclude)
        if not cells and (include or exclude):
            raise ValueError(f"no cell of suite '{loaded.name}' matches --include/--exclude")
        if not cells:  # not the filters' fault: the suite's own lists leave nothing to run
            raise ValueError(f"suite '{loaded.name}' has no cells; check that its sizes, seeds and other lists "
                             "are not empty")
        runner = merge(loaded.spec.execution, given[ExecutionSpec], ExecutionSpec).executor_for(cells[0].device)
    except ValueError as e:
        raise UserError(str(e)) from None
    run_dir = prepare_dir(out_dir or new_run_dir(DEFAULT_RUNS_DIR, prefix=f"{loaded.name}-"))
    result = _run_with_progress(cells, run_dir, retry_failed, runner, loaded.spec.measure.rounds)
    out.print(grid_table(result.table, title=f"segbench run {loaded.name}"))
    _report_end(result, run_dir)


@app.command("list")
def list_(what: Annotated[Listable, typer.Argument(
        help="encoders, decoders, models, datasets, losses or runtimes")]) -> None:
    """List the registered encoders, decoders, whole models, datasets, training losses or runtimes."""
    from segbench.data import DATASETS
    from segbench.losses import LOSSES
    from segbench.models import DECODERS, ENCODERS
    from segbench.models.catalog import model_entries

    if what is Listable.encoders:
        entries = [(n, ENCODERS.metadata(n)) for n in ENCODERS.names()]
        out.print(registry_table("encoders", entries, ["source", "paper", "year"]))
    elif what is Listable.decoders:
        entries = [(n, DECODERS.metadata(n)) for n in DECODERS.names()]
        out.print(registry_table("decoders", entries, ["paper", "year", "needs"]))
    elif what is Listable.models:
        out.print(registry_table("models", model_entries(), ["is", "paper", "year", "paper params M"]))
    elif what is Listable.losses:
        entries = [(n, LOSSES.metadata(n)) for n in LOSSES.names()]
        out.print(registry_table("losses", entries, ["paper", "year", "class_weights"]))
    elif what is Listable.runtimes:
        from segbench.runtimes import RUNTIMES, runtime

        entries = [(n, {**RUNTIMES.metadata(n), "installed": "no" if runtime(n).missing() else "yes"})
                   for n in RUNTIMES.names()]
        out.print(registry_table("runtimes", entries, ["needs", "installed", "compile_mode", "paper"]))
    else:
        entries = []
        for name in DATASETS.names():
            info = DATASETS.get(name).info
            entries.append((name, {**DATASETS.metadata(name), "classes": info.num_classes,
                                   "ignore": info.ignore_index, "splits": ", ".join(info.splits)}))
        out.print(registry_table("datasets", entries, ["paper", "year", "classes", "ignore", "splits"]))
