"""The ``segbench`` command line: a thin Typer layer over the importable core.

Every command parses its options, calls one plain function, and renders what
it returns. A user mistake is one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.cell import CellConfig, build_cell_model, train_and_evaluate, with_training
from segbench.data import DATASETS, DatasetNotFoundError, UnknownSplitError, build_dataset
from segbench.compare import Tolerances, compare_runs, comparison_table, update_baseline
from segbench.display import grid_table, metrics_table, registry_table
from segbench.evaluate import evaluate_checkpoint, score_predictions
from segbench.grid import DEFAULT_DECODERS, DEFAULT_ENCODERS, expand_grid, parse_size
from segbench.measure.latency import TimingConfig
from segbench.measure.metrics import SegMetrics
from segbench.measure.profile import resolve_device
from segbench.models import DECODERS, ENCODERS
from segbench.models.pretrained import PretrainedWeightsUnavailable
from segbench.options import DEFAULT_DATASET, data_choice, train_config
from segbench.results import write_json_atomic
from segbench.runner import DEFAULT_RUNS_DIR, GridResult, new_run_dir, run_grid
from segbench.plots import make_plots
from segbench.suites import load_suite
from segbench.tables import long_table, pivot_table, render, render_long
from segbench.train import TrainEvent

try:  # typer >= 0.2x vendors click and exposes its exception base
    from typer import TyperException as ClickError
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException as ClickError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Benchmark semantic segmentation encoder x decoder grids: params, GFLOPs, latency, memory.",
)
out = Console()
if not out.is_terminal:  # piped or in CI: rich would squeeze tables into 80 columns
    out.width = 200
err = Console(stderr=True, soft_wrap=True)  # status lines stay whole, for logs and greps


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


class Listable(str, Enum):
    encoders = "encoders"
    decoders = "decoders"
    datasets = "datasets"


def _timing(device: str, warmup_iters: int | None, min_iters: int | None, min_time: float | None) -> TimingConfig:
    base = TimingConfig.for_device(resolve_device(device))
    return TimingConfig(
        warmup_iters=base.warmup_iters if warmup_iters is None else warmup_iters,
        warmup_s=base.warmup_s if min_time is None else min(base.warmup_s, min_time),
        min_iters=base.min_iters if min_iters is None else min_iters,
        min_s=base.min_s if min_time is None else min_time,
        max_s=base.max_s if min_time is None else max(base.max_s, min_time),
    )


# Options shared by several commands, declared once.
Encoders = Annotated[str, typer.Option(help="Comma list of encoders.")]
Decoders = Annotated[str, typer.Option(help="Comma list of decoders.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Dataset = Annotated[Optional[str], typer.Option(help="Dataset to train and score on.", rich_help_panel="Data")]
DataRoot = Annotated[Optional[str], typer.Option(help="Dataset root folder.", rich_help_panel="Data")]
TrainSplit = Annotated[str, typer.Option(help="Split to train on.", rich_help_panel="Data")]
ValSplit = Annotated[str, typer.Option(help="Split to validate on each epoch ('' for none).", rich_help_panel="Data")]
EvalSplit = Annotated[Optional[str], typer.Option(help="Split to report (default test, else val).", rich_help_panel="Data")]
_T = "Training"
Epochs = Annotated[Optional[int], typer.Option(help="Budget in epochs.", rich_help_panel=_T)]
Iterations = Annotated[Optional[int], typer.Option(help="Budget in iterations (default 400).", rich_help_panel=_T)]
TimeBudget = Annotated[Optional[float], typer.Option(help="Budget in seconds of training.", rich_help_panel=_T)]
TrainBatch = Annotated[int, typer.Option(help="Training batch size.", rich_help_panel=_T)]
CropSize = Annotated[Optional[str], typer.Option(help="Training crop HxW (default: image size).", rich_help_panel=_T)]
Optimizer = Annotated[str, typer.Option(help="adamw or sgd (momentum 0.9).", rich_help_panel=_T)]
LearningRate = Annotated[Optional[float], typer.Option(help="Base LR (default 1e-3 adamw, 0.01 sgd).", rich_help_panel=_T)]
WeightDecay = Annotated[float, typer.Option(help="Weight decay.", rich_help_panel=_T)]
WarmupIters = Annotated[int, typer.Option(help="Linear LR warm-up iterations before poly decay.", rich_help_panel=_T)]
ClassWeights = Annotated[bool, typer.Option(help="Median-frequency class weights.", rich_help_panel=_T)]
TrainPrecision = Annotated[str, typer.Option(help="fp32, fp16 or bf16 (AMP).", rich_help_panel=_T)]
Seed = Annotated[int, typer.Option(help="Random seed.", rich_help_panel=_T)]
Deterministic = Annotated[bool, typer.Option(help="Deterministic algorithms (slower).", rich_help_panel=_T)]
Workers = Annotated[int, typer.Option(help="Data loader worker processes.", rich_help_panel=_T)]


@app.command()
def grid(
    encoders: Encoders = ",".join(DEFAULT_ENCODERS),
    decoders: Decoders = ",".join(DEFAULT_DECODERS),
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
    lr_warmup: WarmupIters = 20,
    class_weights: ClassWeights = False,
    seed: Seed = 0,
    deterministic: Deterministic = False,
    workers: Workers = 0,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<run_id>/).")
    ] = None,
) -> None:
    """Train, score and measure every encoder x decoder pair: mIoU, params, GFLOPs, latency, memory.

    Without --dataset the models train briefly on the built-in synthetic set;
    --profile-only measures the costs alone.
    """
    try:
        sizes = [parse_size(s) for s in size.split(";")]
        data = None
        if not profile_only:
            data = data_choice(dataset or DEFAULT_DATASET, data_root, train_split, val_split, eval_split)
            recipe = train_config(
                epochs, iterations, time_budget, train_batch_size, crop_size, optimizer, lr, weight_decay,
                lr_warmup, class_weights, "fp32", False, seed, deterministic, workers,
            )
        elif dataset is not None:
            raise ValueError("--profile-only measures costs only; drop --dataset or --profile-only")
        cells = expand_grid(
            encoders,
            decoders,
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
        timing = _timing(device, warmup_iters, min_iters, min_time)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    run_dir = out_dir or new_run_dir(DEFAULT_RUNS_DIR)
    result = _run_with_progress(cells, run_dir, timing, retry_failed)
    out.print(grid_table(result.table))
    _report_end(result, run_dir)


def _report_end(result: GridResult, run_dir: Path) -> None:
    if result.reused:
        err.print(f"reused {len(result.reused)} finished cell(s) from {run_dir}")
    if result.interrupted:
        err.print(f"[yellow]interrupted[/]: {len(result.table)} cell(s) kept in {run_dir}; "
                  f"rerun with --out {run_dir} to resume")
        raise typer.Exit(130)
    err.print(f"results: {run_dir}/table.csv")


def _run_with_progress(cells: list[CellConfig], run_dir: Path, timing: TimingConfig, retry_failed: bool) -> GridResult:
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
            progress.update(grid_task, description=f"{cell.encoder} + {cell.decoder}")
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

        result = run_grid(cells, run_dir, timing=timing, retry_failed=retry_failed, on_start=on_start,
                          on_record=on_record, on_train_event=on_train_event)
        progress.update(grid_task, completed=len(result.ran) + len(result.reused), description="grid")
    return result


@app.command()
def run(
    suite: Annotated[str, typer.Argument(help="Suite name (suites/NAME.toml) or path to a TOML file.")],
    include: Annotated[Optional[list[str]], typer.Option(help="Only cells matching this glob (id or enc+dec).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Skip cells matching this glob.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<suite>-<time>/).")
    ] = None,
) -> None:
    """Run a suite: its grid, training recipe and measurement settings, from one TOML file.

    Rerunning into the same --out skips cells already finished with the same configuration.
    """
    try:
        spec = load_suite(suite)
        cells = spec.select(include, exclude)
        if not cells:
            raise ValueError(f"no cell of suite '{spec.name}' matches --include/--exclude")
    except ValueError as e:
        raise UserError(str(e)) from None
    run_dir = out_dir or new_run_dir(DEFAULT_RUNS_DIR, prefix=f"{spec.name}-")
    result = _run_with_progress(cells, run_dir, spec.timing, retry_failed)
    out.print(grid_table(result.table, title=f"segbench run {spec.name}"))
    _report_end(result, run_dir)


@app.command()
def train(
    encoder: Annotated[str, typer.Option(help="Encoder name.")],
    decoder: Annotated[str, typer.Option(help="Decoder name.")],
    dataset: Annotated[str, typer.Option(help="Dataset name.", rich_help_panel="Data")] = DEFAULT_DATASET,
    data_root: DataRoot = None,
    train_split: TrainSplit = "train",
    val_split: ValSplit = "val",
    eval_split: EvalSplit = None,
    device: Device = "auto",
    pretrained: Annotated[bool, typer.Option(help="Start from cached ImageNet weights.")] = False,
    epochs: Epochs = None,
    iterations: Iterations = None,
    time_budget: TimeBudget = None,
    batch_size: TrainBatch = 8,
    crop_size: CropSize = None,
    optimizer: Optimizer = "adamw",
    lr: LearningRate = None,
    weight_decay: WeightDecay = 1e-4,
    lr_warmup: WarmupIters = 20,
    class_weights: ClassWeights = False,
    precision: TrainPrecision = "fp32",
    channels_last: Annotated[bool, typer.Option(help="channels_last memory format.", rich_help_panel=_T)] = False,
    seed: Seed = 0,
    deterministic: Deterministic = False,
    workers: Workers = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for checkpoints, log.csv, metrics.json.")] = Path(
        "results/runs/train"
    ),
) -> None:
    """Train one model (resuming from --out/last.pt if present), then score it on the evaluation split."""
    try:
        data = data_choice(dataset, data_root, train_split, val_split, eval_split)
        recipe = train_config(
            epochs, iterations, time_budget, batch_size, crop_size, optimizer, lr, weight_decay, lr_warmup,
            class_weights, precision, channels_last, seed, deterministic, workers,
        )
        cell = expand_grid([encoder], [decoder], device=device, num_classes=data.num_classes, pretrained=pretrained)[0]
        cell = with_training(cell, data, recipe)
        model = build_cell_model(cell)
    except (ValueError, FileNotFoundError, PretrainedWeightsUnavailable) as e:
        raise UserError(str(e)) from None
    with Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), console=err) as progress:
        task = progress.add_task("train", total=None, info="")

        def on_event(event: TrainEvent) -> None:
            info = progress.tasks[task].fields["info"]
            if event.loss is not None or event.val_miou is not None:
                info = f"loss {event.loss:.3f}" if event.loss is not None else info
                info += f"  val mIoU {event.val_miou:.1f}" if event.val_miou is not None else ""
            progress.update(task, completed=event.iteration, total=event.total, info=info)

        try:
            metrics = train_and_evaluate(cell, model, out_dir, on_event)
        except (DatasetNotFoundError, UnknownSplitError) as e:
            raise UserError(str(e)) from None
    summary = {k: metrics[k] for k in ("miou", "pixel_acc", "mean_acc", "fwiou", "train_time_s", "train_iters")}
    write_json_atomic(out_dir / "metrics.json", {**cell.key(), **metrics})
    out.print(metrics_table(summary, metrics["per_class_iou"], metrics["class_names"],
                            title=f"{encoder} + {decoder} on {dataset}/{data.eval_split}"))
    err.print(f"checkpoints and log: {out_dir}")


@app.command("eval")
def eval_(
    checkpoint: Annotated[Path, typer.Option(help="A last.pt or best.pt written by train or grid.")],
    dataset: Annotated[Optional[str], typer.Option(help="Dataset (default: the one trained on).")] = None,
    data_root: DataRoot = None,
    split: Annotated[Optional[str], typer.Option(help="Split to score (default test, else val).")] = None,
    device: Device = "auto",
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Score a trained model's checkpoint on a dataset split."""
    try:
        metrics, names = evaluate_checkpoint(checkpoint, dataset, data_root, split, device)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise UserError(str(e).strip("'\"")) from None
    _print_metrics(metrics, names, output_format, title=str(checkpoint))


@app.command()
def score(
    dataset: Annotated[str, typer.Option(help="Dataset whose labels to score against.")],
    pred_dir: Annotated[Path, typer.Option(help="Folder of <stem>.png label maps (pixel = class id).")],
    data_root: DataRoot = None,
    split: Annotated[str, typer.Option(help="Split the predictions are for.")] = "val",
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Score a folder of predicted label PNGs made by any tool, with segbench's mIoU definition."""
    try:
        if output_format not in ("table", "json"):
            raise ValueError(f"unknown format '{output_format}'; valid: table, json")
        data_choice(dataset, data_root, split, None, split)
        ds = build_dataset(dataset, data_root, split)
        metrics = score_predictions(ds, pred_dir)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    _print_metrics(metrics, list(ds.info.class_names), output_format, title=f"{pred_dir} on {dataset}/{split}")


def _print_metrics(metrics: SegMetrics, names: list[str], output_format: str, title: str) -> None:
    if output_format == "json":
        typer.echo(json.dumps({**metrics.to_dict(), "class_names": names}))
        return
    if output_format != "table":
        raise UserError(f"unknown format '{output_format}'; valid: table, json")
    d = metrics.to_dict()
    summary = {k: d[k] for k in ("miou", "pixel_acc", "mean_acc", "fwiou", "num_pixels")}
    out.print(metrics_table(summary, d["per_class_iou"], names, title=title))


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="Baseline run directory or table.csv.")],
    current: Annotated[Path, typer.Argument(help="Current run directory or table.csv.")],
    suite: Annotated[Optional[str], typer.Option(help="Take tolerances from this suite's [compare].")] = None,
    latency_factor: Annotated[Optional[float], typer.Option(help="Slower than this factor (and significant) fails.")] = None,
    memory_ratio: Annotated[Optional[float], typer.Option(help="Peak memory above this ratio fails.")] = None,
    miou_drop: Annotated[Optional[float], typer.Option(help="mIoU lower by more than these points fails.")] = None,
    latency_gate: Annotated[Optional[bool], typer.Option(help="Gate on latency (else informational).")] = None,
    ignore_keys: Annotated[Optional[str], typer.Option(help="Key columns left out of matching, e.g. seed.")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Also write a markdown summary here (CI comment).")] = None,
    update: Annotated[bool, typer.Option(help="Make CURRENT the new baseline at BASELINE, on purpose.")] = False,
) -> None:
    """Compare a run with a baseline: exit 1 on any regression, 0 otherwise.

    params and GFLOPs must be equal; latency may not be slower beyond a factor
    with significance on the raw samples; memory beyond a ratio; mIoU lower
    beyond a number of points; no cell may newly fail. Latency from another
    device or torch version is reported as not comparable.
    """
    try:
        if update:
            path = update_baseline(current, baseline)
            err.print(f"baseline {path} now holds {current}")
            return
        settings = dict(load_suite(suite).compare) if suite else {}
        settings.pop("baseline", None)
        flags = {"latency_factor": latency_factor, "memory_ratio": memory_ratio, "miou_drop": miou_drop,
                 "latency_gate": latency_gate}
        settings.update({k: v for k, v in flags.items() if v is not None})
        result = compare_runs(baseline, current, Tolerances.from_mapping(settings),
                              ignore_keys=ignore_keys.split(",") if ignore_keys else ())
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    out.print(comparison_table(result))
    summary = result.to_markdown()
    if markdown:
        markdown.write_text(summary)
    (err.print if result.ok else out.print)(result.headline())
    if not result.ok:
        raise typer.Exit(1)


class TableFormat(str, Enum):
    markdown = "markdown"
    latex = "latex"
    csv = "csv"
    html = "html"


@app.command()
def table(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (several runs or seeds: mean +- std).")],
    value: Annotated[str, typer.Option(help="Metric to tabulate, e.g. miou, gflops, latency_ms_median.")] = "miou",
    rows: Annotated[str, typer.Option(help="Column for the rows.")] = "encoder",
    cols: Annotated[str, typer.Option(help="Column for the columns.")] = "decoder",
    long: Annotated[bool, typer.Option("--long", help="One row per model with --columns instead.")] = False,
    columns: Annotated[str, typer.Option(help="Columns of the long form.")] = "params,gflops,throughput_img_s,miou",
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Filter, e.g. --where input_h=360.")] = None,
    output_format: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.markdown,
) -> None:
    """Print a paper table: encoder x decoder of one metric, or a long table of models."""
    try:
        filters = dict(_parse_filter(w) for w in where or [])
        if long:
            text = render_long(long_table(runs, columns.split(","), filters=filters), output_format.value)
        else:
            text = render(pivot_table(runs, value, rows, cols, filters=filters), value, output_format.value)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    typer.echo(text)


def _parse_filter(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"malformed filter '{text}'; expected COLUMN=VALUE")
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            continue
    return key, raw


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (several runs or seeds are pooled).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the figures.")] = Path("results/plots"),
    output_format: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
    metric: Annotated[str, typer.Option(help="Metric of the encoder x decoder heatmap.")] = "miou",
    images: Annotated[int, typer.Option(help="Images on the qualitative sheet.")] = 4,
    data_root: DataRoot = None,
) -> None:
    """Figures: accuracy vs GFLOPs and latency (Pareto front), latency and memory, heatmap,
    per-class IoU, training curves, and a qualitative sheet of predictions."""
    try:
        paths = make_plots(runs, out_dir, output_format, metric, images, data_root,
                           report=lambda line: err.print(line, highlight=False, markup=False))
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    for path in paths:
        out.print(str(path), highlight=False)


@app.command("list")
def list_(what: Annotated[Listable, typer.Argument(help="encoders, decoders or datasets")]) -> None:
    """List the registered encoders, decoders or datasets."""
    if what is Listable.encoders:
        entries = [(n, ENCODERS.metadata(n)) for n in ENCODERS.names()]
        out.print(registry_table("encoders", entries, ["source", "paper", "year"]))
    elif what is Listable.decoders:
        entries = [(n, DECODERS.metadata(n)) for n in DECODERS.names()]
        out.print(registry_table("decoders", entries, ["paper", "year", "needs"]))
    else:
        infos = [DATASETS.get(n).info for n in DATASETS.names()]
        entries = [(i.name, {"classes": i.num_classes, "ignore": i.ignore_index, "splits": ", ".join(i.splits)})
                   for i in infos]
        out.print(registry_table("datasets", entries, ["classes", "ignore", "splits"]))


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user mistakes into one line and exit status 2."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # Outside standalone mode, click returns (not raises) the code of a typer.Exit.
        code = app(args=args or ["--help"], prog_name="segbench", standalone_mode=False)
    except UserError as e:
        return _fail(str(e))
    except typer.Abort:
        err.print("aborted", highlight=False)
        return 130
    except typer.Exit as e:
        return e.exit_code
    except ClickError as e:
        return _fail(e.format_message() if hasattr(e, "format_message") else str(e))
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
