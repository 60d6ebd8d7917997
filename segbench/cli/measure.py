"""Commands that measure: grid, run (a suite) and list."""

from __future__ import annotations

import signal
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.cell import CellConfig, with_inference, with_training
from segbench.checks import check_options
from segbench.cli.app import UserError, app, err, out
from segbench.cli.params import (
    AttentionScales,
    CellTimeout,
    ClassWeights,
    Concurrency,
    Crf,
    CrfIterations,
    CropSize,
    DataRoot,
    Dataset,
    Decoders,
    Deterministic,
    Device,
    Encoders,
    Epochs,
    EvalSplit,
    ExecutorName,
    Flip,
    Iterations,
    LearningRate,
    Loss,
    MaxRetries,
    McSamples,
    Models,
    NprocPerNode,
    Optimizer,
    RayAddress,
    Seed,
    TimeBudget,
    TrainBatch,
    TrainSplit,
    TtaScales,
    ValSplit,
    WarmupIters,
    WeightDecay,
    Workers,
)
from segbench.data import DATASETS
from segbench.display import grid_table, registry_table
from segbench.distributed import check_nproc
from segbench.executors import default_executor, make_executor
from segbench.grid import expand_grid, parse_size
from segbench.inference import InferenceConfig
from segbench.losses import LOSSES
from segbench.measure.latency import TimingConfig
from segbench.measure.profile import resolve_device
from segbench.models import DECODERS, ENCODERS
from segbench.models.catalog import model_entries, model_label
from segbench.options import DEFAULT_DATASET, data_choice, train_config
from segbench.outputs import prepare_dir
from segbench.rundir import DamagedRecordWarning
from segbench.runner import DEFAULT_RUNS_DIR, Executor, GridResult, new_run_dir, run_grid
from segbench.signals import Terminated, exit_status, terminate_as_interrupt
from segbench.suites import load_suite
from segbench.train import TrainEvent


class Listable(str, Enum):
    encoders = "encoders"
    decoders = "decoders"
    models = "models"
    datasets = "datasets"
    losses = "losses"


def _timing(device: str, warmup_iters: int | None, min_iters: int | None, min_time: float | None) -> TimingConfig:
    base = TimingConfig.for_device(resolve_device(device))
    return TimingConfig(
        warmup_iters=base.warmup_iters if warmup_iters is None else warmup_iters,
        warmup_s=base.warmup_s if min_time is None else min(base.warmup_s, min_time),
        min_iters=base.min_iters if min_iters is None else min_iters,
        min_s=base.min_s if min_time is None else min_time,
        max_s=base.max_s if min_time is None else max(base.max_s, min_time),
    )


def _executor(
    device: str, name: str | None, timeout: float | None, ray_address: str | None, max_retries: int | None,
    concurrency: int | None, suite: dict | None = None,
) -> Executor:
    """The executor the options ask for; a suite's [execution] table fills in what they leave out."""
    suite = suite or {}
    name = name or suite.get("executor") or default_executor(resolve_device(device).type)
    given = {"timeout": timeout, "ray_address": ray_address, "max_retries": max_retries, "concurrency": concurrency}
    return make_executor(name, **{key: suite.get(key) if value is None else value for key, value in given.items()})


@app.command()
def grid(
    ctx: typer.Context,
    encoders: Encoders = None,
    decoders: Decoders = None,
    models: Models = None,
    size: Annotated[str, typer.Option(help="Input size HxW for the cost columns; several with ';'.")] = "360x480",
    batch_size: Annotated[int, typer.Option(help="Batch size for latency and memory.")] = 1,
    num_classes: Annotated[int, typer.Option(help="Classes, for --profile-only (else the dataset's).")] = 21,
    device: Device = "auto",
    precision: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (autocast); comma list allowed.")] = "fp32",
    channels_last: Annotated[bool, typer.Option(help="Run in channels_last memory format.")] = False,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (torch.set_num_threads).")] = None,
    pretrained: Annotated[bool, typer.Option(help="Load cached ImageNet weights (no download).")] = False,
    warmup_iters: Annotated[Optional[int], typer.Option(help="Warm-up iterations (default by device).")] = None,
    min_iters: Annotated[Optional[int], typer.Option(help="Minimum timed iterations.")] = None,
    min_time: Annotated[Optional[float], typer.Option(help="Minimum timed seconds per cell.")] = None,
    profile_only: Annotated[bool, typer.Option(help="Skip training and accuracy: cost columns only.")] = False,
    dataset: Dataset = None,
    data_root: DataRoot = None,
    train_split: TrainSplit = "train",
    val_split: ValSplit = "val",
    eval_split: EvalSplit = None,
    epochs: Epochs = None,
    iterations: Iterations = None,
    time_budget: TimeBudget = None,
    train_batch_size: TrainBatch = 8,
    crop_size: CropSize = None,
    optimizer: Optimizer = "adamw",
    lr: LearningRate = None,
    weight_decay: WeightDecay = 1e-4,
    lr_warmup: WarmupIters = None,
    class_weights: ClassWeights = False,
    loss: Loss = "ce",
    seed: Seed = 0,
    deterministic: Deterministic = False,
    workers: Workers = 0,
    nproc_per_node: NprocPerNode = 1,
    tta_scales: TtaScales = None,
    flip: Flip = False,
    crf: Crf = False,
    crf_iterations: CrfIterations = 5,
    mc_samples: McSamples = 0,
    attention_scales: AttentionScales = None,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<run_id>/).")
    ] = None,
    executor: ExecutorName = None,
    timeout: CellTimeout = None,
    ray_address: RayAddress = None,
    max_retries: MaxRetries = None,
    concurrency: Concurrency = None,
) -> None:
    """Train, score and measure every encoder x decoder pair (and --models): mIoU, params, GFLOPs, latency, memory.

    Without --dataset the models train briefly on the built-in synthetic set;
    --profile-only measures the costs alone.
    """
    try:
        check_options(ctx)
        sizes = [parse_size(s) for s in size.split(";")]
        data = None
        if not profile_only:
            data = data_choice(dataset or DEFAULT_DATASET, data_root, train_split, val_split, eval_split)
            recipe = train_config(
                epochs, iterations, time_budget, train_batch_size, crop_size, optimizer, lr, weight_decay,
                lr_warmup, class_weights, "fp32", False, seed, deterministic, workers, nproc_per_node, loss=loss,
            )
            check_nproc(nproc_per_node, device)
        elif dataset is not None:
            raise ValueError("--profile-only measures costs only; drop --dataset or --profile-only")
        cells = expand_grid(
            encoders,
            decoders,
            models=models,
            sizes=sizes,
            batch_sizes=[batch_size],
            precisions=precision.split(","),
            device=device,
            num_classes=data.num_classes if data else num_classes,
            channels_last=channels_last,
            threads=threads,
            pretrained=pretrained,
        )
        if data:
            cells = [with_training(c, data, recipe) for c in cells]
        inference = InferenceConfig.from_options(tta_scales, flip, crf, crf_iterations, mc_samples, attention_scales)
        cells = [with_inference(c, inference) for c in cells]
        timing = _timing(device, warmup_iters, min_iters, min_time)
        runner = _executor(device, executor, timeout, ray_address, max_retries, concurrency)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    run_dir = prepare_dir(out_dir or new_run_dir(DEFAULT_RUNS_DIR))  # unwritable: one line, before any cell
    result = _run_with_progress(cells, run_dir, timing, retry_failed, runner)
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


def _run_with_progress(
    cells: list[CellConfig], run_dir: Path, timing: TimingConfig, retry_failed: bool, executor: Executor
) -> GridResult:
    """Run the grid under two progress bars: cells, and the current cell's training steps."""
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
                result = run_grid(cells, run_dir, executor, timing=timing, retry_failed=retry_failed,
                                  on_start=on_start, on_record=on_record, on_train_event=on_train_event)
            except Terminated as e:  # before the first cell started or after the last ended: all is on disk
                err.print(f"[yellow]interrupted[/] by {signal.Signals(e.signum).name}; "
                          f"rerun with --out {run_dir} to resume")
                raise typer.Exit(exit_status(e.signum)) from None
        progress.update(grid_task, completed=len(result.ran) + len(result.reused), description="grid")
    return result


@app.command()
def run(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="Suite name (suites/NAME.toml) or path to a TOML file.")],
    include: Annotated[Optional[list[str]], typer.Option(help="Only cells matching this glob (id or enc+dec).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Skip cells matching this glob.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<suite>-<time>/).")
    ] = None,
    executor: ExecutorName = None,
    timeout: CellTimeout = None,
    ray_address: RayAddress = None,
    max_retries: MaxRetries = None,
    concurrency: Concurrency = None,
) -> None:
    """Run a suite: its grid, training recipe and measurement settings, from one TOML file.

    Rerunning into the same --out skips cells already finished with the same configuration.
    """
    try:
        check_options(ctx)
        spec = load_suite(suite)
        cells = spec.select(include, exclude)
        if not cells and (include or exclude):
            raise ValueError(f"no cell of suite '{spec.name}' matches --include/--exclude")
        if not cells:  # not the filters' fault: the suite's own lists leave nothing to run
            raise ValueError(f"suite '{spec.name}' has no cells; check that its sizes, seeds and other lists "
                             "are not empty")
        runner = _executor(cells[0].device, executor, timeout, ray_address, max_retries, concurrency,
                           spec.execution)
    except ValueError as e:
        raise UserError(str(e)) from None
    run_dir = prepare_dir(out_dir or new_run_dir(DEFAULT_RUNS_DIR, prefix=f"{spec.name}-"))
    result = _run_with_progress(cells, run_dir, spec.timing, retry_failed, runner)
    out.print(grid_table(result.table, title=f"segbench run {spec.name}"))
    _report_end(result, run_dir)


@app.command("list")
def list_(what: Annotated[Listable, typer.Argument(help="encoders, decoders, models, datasets or losses")]) -> None:
    """List the registered encoders, decoders, whole models, datasets or training losses."""
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
    else:
        entries = []
        for name in DATASETS.names():
            info = DATASETS.get(name).info
            entries.append((name, {**DATASETS.metadata(name), "classes": info.num_classes,
                                   "ignore": info.ignore_index, "splits": ", ".join(info.splits)}))
        out.print(registry_table("datasets", entries, ["paper", "year", "classes", "ignore", "splits"]))
