"""Commands about accuracy: train one model, eval a checkpoint, score a prediction folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.cell import build_cell_model, train_and_evaluate, with_training
from segbench.cli.app import UserError, app, err, out
from segbench.cli.params import (
    ClassWeights,
    CropSize,
    DataRoot,
    Deterministic,
    Device,
    Epochs,
    EvalSplit,
    Iterations,
    LearningRate,
    Loss,
    Optimizer,
    Seed,
    TimeBudget,
    TrainBatch,
    TrainPrecision,
    TrainSplit,
    ValSplit,
    WarmupIters,
    WeightDecay,
    Workers,
    TRAINING,
)
from segbench.data import DatasetNotFoundError, UnknownSplitError, build_dataset
from segbench.display import metrics_table
from segbench.evaluate import evaluate_checkpoint, score_predictions
from segbench.grid import expand_grid
from segbench.measure.metrics import SegMetrics
from segbench.models.pretrained import PretrainedWeightsUnavailable
from segbench.options import DEFAULT_DATASET, data_choice, train_config
from segbench.results import write_json_atomic
from segbench.train import TrainEvent


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
    loss: Loss = "ce",
    precision: TrainPrecision = "fp32",
    channels_last: Annotated[bool, typer.Option(help="channels_last memory format.", rich_help_panel=TRAINING)] = False,
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
            class_weights, precision, channels_last, seed, deterministic, workers, loss=loss,
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
