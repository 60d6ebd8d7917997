"""One cell of a grid: its configuration, and running it into a record.

A cell that fails is a row, not a crash: its record carries ``status`` and a
one-line ``error``, its measurements are NaN, and the grid goes on.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from segbench.checkpoints import CheckpointError, resumable, set_aside
from segbench.config import CellConfig, DataChoice, with_inference, with_training
from segbench.inference import apply_inference, with_attention
from segbench.measure.latency import TimingConfig
from segbench.measure.profile import profile, resolve_device
from segbench.models import build_model
from segbench.models.decoders import NotApplicable
from segbench.record import CellRecord, Status
from segbench.results import NUMERIC_COLUMNS
from segbench.runtimes import RuntimeMismatch, check_runtime
from segbench.train import Trainer, TrainEvent, seed_everything

__all__ = ["CellConfig", "DataChoice", "Status", "failure_record", "run_cell", "with_inference", "with_training"]


def build_cell_model(cell: CellConfig) -> torch.nn.Module:
    """The cell's model, initialised from its seed: the same cell starts from the same weights in any process."""
    seed_everything(cell.train.seed if cell.train else 0, cell.train.deterministic if cell.train else False)
    model = build_model(cell.encoder, cell.decoder, cell.num_classes, pretrained=cell.pretrained)
    return with_attention(model, cell.inference, cell.num_classes)


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")


def failure_record(cell: CellConfig, status: Status, error: str, started: str | None = None) -> dict[str, Any]:
    """The record of a cell whose process never returned one (it crashed, hung or its worker died)."""
    record = CellRecord(cell, status, error)
    if started:
        record.started = started
    return record.to_dict(NUMERIC_COLUMNS)


def run_cell(
    cell: CellConfig,
    timing: TimingConfig | None = None,
    artifacts_dir: Path | None = None,
    on_train_event: Callable[[TrainEvent], None] | None = None,
) -> dict[str, Any]:
    """Build, train and evaluate (with a dataset), and profile one cell.

    Never raises for a cell's own failure (Ctrl-C still does). Training
    artifacts (checkpoints, epoch and iteration logs) go to ``artifacts_dir``; a
    ``last.pt`` already there from an interrupted run is resumed. The cell's
    own ``timing`` wins over the ``timing`` argument (kept for callers that
    time plain cells).
    """
    record = CellRecord(cell)
    if cell.threads is not None:  # for training too, not only for the timed forwards
        torch.set_num_threads(cell.threads)
    try:
        # A runtime that cannot run such a cell says so before anything is built or trained.
        check_runtime(cell.runtime, resolve_device(cell.device), cell.precision, cell.channels_last)
        t0 = time.perf_counter()
        model = build_cell_model(cell)
        deployed = apply_inference(model, cell.inference)  # refuses an impossible add-on before training
        record.add("build", {"time_build_s": time.perf_counter() - t0})
        if cell.dataset and cell.train and cell.train.nproc_per_node > 1:
            record.add("training", train_and_evaluate_launched(cell, model, artifacts_dir))
        elif cell.dataset and cell.train:
            record.add("training", train_and_evaluate(cell, model, artifacts_dir, on_train_event))
        result = profile(
            deployed,
            (cell.input_h, cell.input_w),
            device=cell.device,
            batch_size=cell.batch_size,
            precision=cell.precision,
            channels_last=cell.channels_last,
            threads=cell.threads,
            timing=cell.timing or timing,
            runtime=cell.runtime,
            compile_mode=cell.compile_mode,
        )
        record.add("profile", result.to_dict())
        record.status, record.error = Status.OK, None
    except NotApplicable as e:
        record.status, record.error = Status.NOT_APPLICABLE, str(e)
    except RuntimeMismatch as e:  # recorded with its figures, never timed
        record.add("runtime", e.build.to_dict())
        record.status, record.error = Status.FAILED, str(e)
    except torch.cuda.OutOfMemoryError as e:
        record.status, record.error = Status.OOM, _one_line(e)
    except Exception as e:
        record.status, record.error, record.traceback = Status.FAILED, _one_line(e), traceback.format_exc()
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return record.to_dict(NUMERIC_COLUMNS)


def train_and_evaluate(
    cell: CellConfig,
    model: torch.nn.Module,
    artifacts_dir: Path | None,
    on_event: Callable[[TrainEvent], None] | None,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Train ``model`` with the cell's recipe, then score it on the evaluation split.

    Inside a process group, this is one rank's part of a data-parallel run
    (``device`` is then the rank's own); every rank returns the same scores.
    """
    from segbench.data import build_dataset, train_transforms
    from segbench.distributed import is_main_process
    from segbench.evaluate import eval_loader, evaluate
    from segbench.prediction_maps import save_predictions
    from segbench.rundir import predictions_dir

    assert cell.dataset and cell.train
    recipe = cell.train
    device = device or resolve_device(cell.device)
    options = dict(cell.dataset_options)
    train_set = build_dataset(cell.dataset, cell.data_root, cell.train_split, **options)
    info = train_set.info
    height, width = train_set[0][1].shape
    crop = recipe.crop_size or info.default_crop((height, width))
    train_set.transform = train_transforms(crop, ignore_index=info.ignore_index, augment=info.augment)
    val_set = build_dataset(cell.dataset, cell.data_root, cell.val_split, **options) if cell.val_split else None
    eval_set = build_dataset(cell.dataset, cell.data_root, cell.eval_split, **options)

    spec = {"encoder": cell.encoder, "decoder": cell.decoder, "num_classes": cell.num_classes,
            "dataset": cell.dataset, "fingerprint": cell.fingerprint,
            "attention_scales": cell.inference.attention_scales if cell.inference else None}
    board = Path(recipe.tensorboard) / cell.cell_id if recipe.tensorboard else None  # one TensorBoard run a cell
    trainer = Trainer(model, train_set, val_set, recipe, device, artifacts_dir, on_event, model_spec=spec,
                      board_dir=board)
    last = artifacts_dir / "last.pt" if artifacts_dir is not None else None
    ckpt = resumable(last, device) if last is not None else None  # weights only; a damaged one set aside
    if ckpt is not None and ckpt["model_spec"].get("fingerprint") == cell.fingerprint:  # same recipe: go on
        try:
            trainer.restore(ckpt, last)  # type: ignore[arg-type]
        except CheckpointError as e:  # checked before anything is loaded: the trainer is still fresh
            set_aside(last, str(e))  # type: ignore[arg-type]
    state = trainer.fit()
    loader = eval_loader(eval_set, num_workers=recipe.num_workers, pin_memory=device.type == "cuda")
    deployed = apply_inference(model, cell.inference)  # the model with its inference add-ons, if any
    t0 = time.perf_counter()
    metrics = evaluate(deployed, loader, info.num_classes, info.ignore_index, device, recipe.precision,
                       recipe.channels_last)
    eval_time_s = time.perf_counter() - t0
    # The size accuracy is scored at: the evaluation images' own (never resized), not the profiled --size.
    eval_h, eval_w = (int(d) for d in eval_set[0][1].shape[-2:]) if len(eval_set) else (None, None)
    if artifacts_dir is not None and is_main_process():  # for the qualitative sheet: plotting runs no model
        save_predictions(deployed, eval_set, predictions_dir(artifacts_dir), device, recipe.precision,
                         recipe.channels_last)
    return {
        **metrics.to_dict(),
        "train_time_s": state.elapsed_s,
        "eval_time_s": eval_time_s,
        "train_iters": state.iteration,
        "train_epochs_done": state.epoch,
        "best_val_miou": state.best_miou,
        "crop_h": crop[0],
        "crop_w": crop[1],
        "eval_h": eval_h,
        "eval_w": eval_w,
        "class_names": list(info.class_names),
        "train_history": state.history,
    }


def train_and_evaluate_launched(
    cell: CellConfig, model: torch.nn.Module, artifacts_dir: Path | None, report: bool = False
) -> dict[str, Any]:
    """:func:`train_and_evaluate` by ``cell.train.nproc_per_node`` workers, started the torchrun way.

    The workers train and score (rank 0 writes the checkpoints); rank 0 hands
    back the scores and the trained weights, which are loaded into ``model``
    so the caller profiles it as after a one-process run.
    """
    from segbench.distributed import check_nproc, launch

    assert cell.train
    check_nproc(cell.train.nproc_per_node, cell.device)
    result = launch(distributed_train_worker, (cell, artifacts_dir, report), cell.train.nproc_per_node)[0]
    model.load_state_dict(result["state_dict"])
    return result["metrics"]


def distributed_train_worker(cell: CellConfig, artifacts_dir: Path | None, report: bool = False) -> dict | None:
    """One rank of a launched run: join the job, build, train, score; rank 0 returns scores and weights."""
    from segbench import distributed

    env = distributed.dist_env()
    device = distributed.worker_device(cell.device, env.local_rank)
    distributed.init_process_group(device)
    try:
        model = build_cell_model(cell)
        on_event = _print_event if report else None
        metrics = train_and_evaluate(cell, model, artifacts_dir, on_event, device=device)
        if not distributed.is_main_process():
            return None
        return {"metrics": metrics, "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}
    finally:
        distributed.destroy_process_group()


def _print_event(event: TrainEvent) -> None:
    """Plain progress lines from a launched rank 0 (a progress bar cannot cross processes)."""
    if event.loss is None and event.val_miou is None:
        return
    total = f"/{event.total}" if event.total else ""
    line = f"train {event.iteration}{total}"
    line += f"  loss {event.loss:.3f}" if event.loss is not None else ""
    line += f"  val mIoU {event.val_miou:.1f}" if event.val_miou is not None else ""
    print(line, flush=True, file=sys.stderr)
