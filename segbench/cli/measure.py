"""Commands that measure: grid, run (a suite) and list.

Torch, the models and the data load inside the commands that use them, so
``segbench --help`` and a mistyped option answer at once.
"""

from __future__ import annotations

import signal
import warnings
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.checks import check_options
from segbench.cli.app import UserError, app, err, out
from segbench.config import CellConfig, model_label
from segbench.display import grid_table, registry_table
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
    result = _run_with_progress(cells, run_dir, retry_failed, runner)
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


def _run_with_progress(cells: list[CellConfig], run_dir: Path, retry_failed: bool, executor: Executor) -> GridResult:
    """Run the grid under two progress bars: cells, and the current cell's training steps."""
    from segbench.runner import run_grid

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
    ) as progress:
        grid_task = progress.add_task("grid", total=len(cells), info="")
        train_task = progress.add_task("training", total=None, visible=False, info="")
        state = {"miou": "-"}

        def on_start(cell: CellConfig) -> None:
            progress.update(grid_task, description=model_label(cell.encoder, cell.decoder))
            progress.reset(train_task, total=None, visible=cell.dataset is not None, info="")
            state["miou"] = "-"

        def on_train_event(event: TrainEvent) -> None:
            if event.val_miou is not None:
                state["miou"] = f"{event.val_miou:.1f}"
            loss = progress.tasks[train_task].fields.get("loss", "-")
            if event.loss is not None:
                loss = f"{event.loss:.3f}"
            progress.update(train_task, completed=event.iteration, total=event.total, loss=loss,
                            info=f"loss {loss}  val mIoU {state['miou']}")

        def on_record(record: dict) -> None:
            if record["status"] != "ok":
                err.print(f"[red]{record['cell_id']}: {record['status']}[/]: {record['error']}")
            progress.update(train_task, visible=False)
            progress.advance(grid_task)

        with warnings.catch_warnings(), terminate_as_interrupt():
            warnings.simplefilter("ignore", DamagedRecordWarning)  # _report_end says it, once
            try:
                result = run_grid(cells, run_dir, executor, retry_failed=retry_failed,
                                  on_start=on_start, on_record=on_record, on_train_event=on_train_event)
            except Terminated as e:  # before the first cell started or after the last ended: all is on disk
                err.print(f"[yellow]interrupted[/] by {signal.Signals(e.signum).name}; "
                          f"rerun with --out {run_dir} to resume")
                raise typer.Exit(exit_status(e.signum)) from None
        progress.update(grid_task, completed=len(result.ran) + len(result.reused), description="grid")
    return result


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
    result = _run_with_progress(cells, run_dir, retry_failed, runner)
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
