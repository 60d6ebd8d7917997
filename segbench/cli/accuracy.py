"""Commands about accuracy: train one model, eval a checkpoint, score a prediction folder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.checks import check_options
from segbench.cli.app import UserError, app, err, out
from segbench.cli.params import DataRoot, Device
from segbench.config import CellConfig, model_label, with_inference, with_training
from segbench.display import metrics_table
from segbench.inputs import BadFileError
from segbench.outputs import prepare_dir, writing
from segbench.results import write_json_atomic
from segbench.rundir import EPOCH_LOG, ITERATION_LOG
from segbench.spec import INFERENCE, DataSpec, Given, InferenceSpec, TrainSpec, options

if TYPE_CHECKING:  # torch, the models and the data load inside the commands that use them
    import torch

    from segbench.measure.metrics import SegMetrics
    from segbench.train import TrainEvent

#: The inference options of ``eval``: every add-on applied to a trained model (attention is trained in).
EVAL_INFERENCE = ("tta_scales", "flip", "crf", "crf_iterations", "mc_samples")


@app.command()
@options(DataSpec, TrainSpec, InferenceSpec, enable=("precision", "channels_last"), exclude=EVAL_INFERENCE)
def train(
    ctx: typer.Context,
    encoder: Annotated[str | None, typer.Option(help="Encoder name (with --decoder).")] = None,
    decoder: Annotated[str | None, typer.Option(help="Decoder name (with --encoder).")] = None,
    model: Annotated[str | None, typer.Option(
        help="A whole network or named pair, instead of --encoder/--decoder.")] = None,
    device: Device = "auto",
    pretrained: Annotated[bool, typer.Option(help="Start from cached ImageNet weights.")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for checkpoints, logs, metrics.json.")] = Path(
        "results/runs/train"
    ),
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the checkpoints and log in --out made with another model or recipe.")] = False,
    given: Given | None = None,
) -> None:
    """Train one model (resuming from --out/last.pt if present), then score it on the evaluation split.

    A last.pt in --out made with another model or recipe is refused (it is
    not overwritten) unless --overwrite is given. With --nproc-per-node N, N
    processes train it data-parallel (started like torchrun); inside a
    torchrun job, each process joins that job instead.
    """
    from segbench import distributed
    from segbench.cell import build_cell_model, train_and_evaluate_launched
    from segbench.grid import expand_grid
    from segbench.models.pretrained import PretrainedWeightsUnavailable

    assert given is not None  # filled by @options
    try:
        check_options(ctx)
        recipe_spec = TrainSpec(**given[TrainSpec])
        if len(recipe_spec.seeds) != 1:
            raise ValueError(f"train trains one model: give one --seed, not {len(recipe_spec.seeds)}")
        joining = distributed.in_torchrun()
        nproc_per_node = recipe_spec.nproc_per_node
        if joining:
            nproc_per_node = _torchrun_size(nproc_per_node)
            recipe_spec = replace(recipe_spec, nproc_per_node=nproc_per_node)
        distributed.check_nproc(nproc_per_node, device)
        data_spec = DataSpec(**given[DataSpec])
        data = data_spec.choice()
        recipe = recipe_spec.recipe(recipe_spec.seeds[0])
        if bool(model) == bool(encoder or decoder) or (not model and not (encoder and decoder)):
            raise ValueError("name the model to train: --model NAME, or --encoder and --decoder")
        pair = {"models": [model]} if model else {"encoders": [encoder], "decoders": [decoder]}
        cell = expand_grid(**pair, device=device, num_classes=data.num_classes, pretrained=pretrained)[0]
        cell = with_training(cell, data, recipe)
        cell = with_inference(cell, InferenceSpec(**given[InferenceSpec]).config())
        built = build_cell_model(cell)
        _claim_out_dir(out_dir, cell, overwrite)  # on every rank of a torchrun job, so all refuse alike
    except (ValueError, FileNotFoundError, PretrainedWeightsUnavailable) as e:
        raise UserError(str(e)) from None
    try:
        if nproc_per_node > 1 and not joining:
            try:
                metrics = train_and_evaluate_launched(cell, built, out_dir, report=True)
            except RuntimeError as e:  # a worker failed; its traceback is above, from the worker itself
                err.print(f"error: {e}", highlight=False, markup=False)
                raise typer.Exit(1) from None
        else:
            metrics = _train_here(cell, built, out_dir, joining)
            if not distributed.is_main_process():
                distributed.destroy_process_group()
                return
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/]: checkpoints and log kept in {out_dir}; "
                  "rerun the same command to resume from last.pt", highlight=False)
        raise typer.Exit(130) from None
    summary = {k: metrics[k] for k in ("miou", "pixel_acc", "mean_acc", "fwiou", "train_time_s", "train_iters")}
    write_json_atomic(out_dir / "metrics.json", {**cell.key(), **metrics})
    out.print(metrics_table(summary, metrics["per_class_iou"], metrics["class_names"],
                            title=f"{model_label(cell.encoder, cell.decoder)} on {data.name}/{data.eval_split}"))
    err.print(f"checkpoints and log: {out_dir}")
    distributed.destroy_process_group()


#: What a training run leaves in --out: replaced together with --overwrite.
TRAIN_OUTPUTS = ("last.pt", "best.pt", EPOCH_LOG, ITERATION_LOG, "metrics.json")


def _claim_out_dir(out_dir: Path, cell: CellConfig, overwrite: bool) -> None:
    """Make --out, refusing (unless ``overwrite``) a last.pt trained as another cell: resume only what matches.

    An unreadable last.pt is left to the trainer, which sets it aside and starts over.
    """
    from segbench import distributed
    from segbench.checkpoints import recorded_fingerprint

    prepare_dir(out_dir)
    found = recorded_fingerprint(out_dir / "last.pt")
    if found is None or found == cell.fingerprint:
        return
    if not overwrite:
        raise ValueError(f"{out_dir / 'last.pt'} was trained with another model or recipe; resuming needs the "
                         "same options: give another --out, or --overwrite to replace its checkpoints and log")
    for name in TRAIN_OUTPUTS if distributed.is_main_process() else ():
        with writing(out_dir / name):
            (out_dir / name).unlink(missing_ok=True)


def _torchrun_size(requested: int) -> int:
    """Inside torchrun the job's size is given; --nproc-per-node may only repeat it."""
    from segbench import distributed

    local = distributed.dist_env().local_world_size
    if requested not in (1, local):
        raise ValueError(f"--nproc-per-node {requested} inside a torchrun job of {local} processes per node; "
                         "drop the option (torchrun's --nproc-per-node decides)")
    return local


def _train_here(cell: CellConfig, model: torch.nn.Module, out_dir: Path, joining: bool) -> dict:
    """Train in this process: alone, or as one rank of the torchrun job it was started in."""
    from segbench import distributed
    from segbench.cell import train_and_evaluate
    from segbench.data import DatasetNotFoundError, UnknownSplitError

    device = None
    if joining:
        device = distributed.worker_device(cell.device, distributed.dist_env().local_rank)
        distributed.init_process_group(device)
    with Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), console=err,
                  disable=not distributed.is_main_process()) as progress:
        task = progress.add_task("train", total=None, info="")

        def on_event(event: TrainEvent) -> None:
            info = progress.tasks[task].fields["info"]
            if event.loss is not None or event.val_miou is not None:
                info = f"loss {event.loss:.3f}" if event.loss is not None else info
                info += f"  val mIoU {event.val_miou:.1f}" if event.val_miou is not None else ""
            progress.update(task, completed=event.iteration, total=event.total, info=info)

        try:
            return train_and_evaluate(cell, model, out_dir, on_event, device=device)
        except (DatasetNotFoundError, UnknownSplitError, BadFileError) as e:  # a bad image or label: one line
            raise UserError(str(e)) from None


@app.command("eval")
@options(InferenceSpec, exclude=("attention_scales",))
def eval_(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Option(help="A last.pt or best.pt written by train or grid.")],
    dataset: Annotated[str | None, typer.Option(help="Dataset (default: the one trained on).")] = None,
    data_root: DataRoot = None,
    split: Annotated[str | None, typer.Option(help="Split to score (default test, else val).")] = None,
    device: Device = "auto",
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    uncertainty_dir: Annotated[Path | None, typer.Option(
        help="With --mc-samples: write <stem>_entropy.png and <stem>_variance.png here.",
        rich_help_panel=INFERENCE,
    )] = None,
    given: Given | None = None,
) -> None:
    """Score a trained model's checkpoint on a dataset split (optionally with inference add-ons)."""
    from segbench.evaluate import evaluate_checkpoint
    from segbench.models.decoders import NotApplicable

    try:
        check_options(ctx)
        assert given is not None  # filled by @options
        inference = InferenceSpec(**given[InferenceSpec]).config()
        metrics, names = evaluate_checkpoint(checkpoint, dataset, data_root, split, device, inference,
                                             uncertainty_dir)
    except (ValueError, FileNotFoundError, KeyError, NotApplicable) as e:
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
    from segbench.data import build_dataset
    from segbench.evaluate import score_predictions
    from segbench.options import data_choice

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
