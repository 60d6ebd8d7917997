"""One cell of a grid: its configuration, and running it into a record.

A cell that fails is a row, not a crash: its record carries ``status`` and a
one-line ``error``, its measurements are NaN, and the grid goes on.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from segbench.checkpoints import CheckpointError, resumable, set_aside
from segbench.inference import PLAIN_COLUMNS, InferenceConfig, apply_inference, with_attention
from segbench.losses import DEFAULT_LOSS
from segbench.measure.latency import TimingConfig
from segbench.measure.profile import profile, resolve_device
from segbench.models import build_model
from segbench.models.catalog import is_whole_network
from segbench.models.decoders import NotApplicable
from segbench.results import IMPLIED_TRAINING_KEYS, NUMERIC_COLUMNS
from segbench.train import TrainConfig, Trainer, TrainEvent, seed_everything

if TYPE_CHECKING:
    from segbench.options import DataChoice

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_OOM = "oom"
STATUS_NOT_APPLICABLE = "not_applicable"
#: Set by the process-isolating executors: the cell's process ran past its timeout, or died.
STATUS_TIMEOUT = "timeout"
STATUS_CRASHED = "crashed"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_OOM, STATUS_NOT_APPLICABLE, STATUS_TIMEOUT, STATUS_CRASHED)


@dataclass(frozen=True)
class CellConfig:
    """Everything that determines a cell's numbers; each field is a key column."""

    encoder: str
    decoder: str
    input_h: int
    input_w: int
    batch_size: int = 1
    precision: str = "fp32"
    device: str = "cpu"
    channels_last: bool = False
    num_classes: int = 21
    threads: int | None = None
    pretrained: bool = False
    dataset: str | None = None
    train_split: str = "train"
    val_split: str | None = "val"
    eval_split: str = "test"
    train: TrainConfig | None = None
    #: Keyword options of the dataset (e.g. the synthetic set's size), as sorted (name, value) pairs.
    dataset_options: tuple[tuple[str, Any], ...] = ()
    #: Where the data lives: not part of the fingerprint, so moving a dataset keeps finished cells.
    data_root: str | None = field(default=None, compare=False)
    #: Inference add-ons (TTA, CRF, MC dropout, attention to scale); None is the plain model.
    inference: InferenceConfig | None = None

    @property
    def cell_id(self) -> str:
        """A readable, file-name-safe id, unique within a run."""
        parts = [
            *([] if is_whole_network(self.encoder) else [self.encoder]),
            self.decoder,
            f"{self.input_h}x{self.input_w}",
            f"b{self.batch_size}",
            self.precision,
            self.device,
            f"c{self.num_classes}",
        ]
        if self.channels_last:
            parts.append("cl")
        if self.pretrained:
            parts.append("pre")
        if self.dataset:
            parts += [self.dataset, f"s{self.train.seed if self.train else 0}"]
        if self.train and self.train.loss != DEFAULT_LOSS:  # losses side by side in one run directory
            parts.append(self.train.loss)
        if self.inference and self.inference.tag:
            parts.append(self.inference.tag)
        return "__".join(parts).replace(":", "-").replace("/", "-")

    @property
    def fingerprint(self) -> str:
        """Hash of the full configuration: a finished cell is reused only if this matches."""
        config = {f.name: getattr(self, f.name) for f in fields(self) if f.compare}
        config["train"] = asdict(self.train) if self.train else None
        for column, implied in IMPLIED_TRAINING_KEYS.items():  # a newer field at its old value: the old hash
            name = column.removeprefix("train_")
            if config["train"] and config["train"].get(name) == implied:
                del config["train"][name]
        if self.inference is None:  # cells without add-ons keep the fingerprint they had before add-ons
            del config["inference"]
        else:
            config["inference"] = asdict(self.inference)
        blob = json.dumps(config, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def key(self) -> dict[str, Any]:
        """The flat record fields of this configuration (the recipe flattened with a ``train_`` prefix)."""
        flattened = ("train", "dataset_options", "inference")
        key = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in flattened}
        key["dataset_options"] = dict(self.dataset_options)
        if not self.dataset:
            key.update(train_split=None, val_split=None, eval_split=None)
        key["seed"] = self.train.seed if self.train else None
        key["train_budget"] = self.train.budget if self.train else None
        if self.train:
            key.update({f"train_{k}": v for k, v in asdict(self.train).items()})
        key.update(self.inference.columns() if self.inference else PLAIN_COLUMNS)
        return key


def with_training(cell: CellConfig, data: DataChoice, recipe: TrainConfig) -> CellConfig:
    """``cell`` trained on ``data`` with ``recipe`` (and its class count)."""
    return replace(
        cell,
        dataset=data.name,
        data_root=data.root,
        dataset_options=data.options,
        train_split=data.train_split,
        val_split=data.val_split,
        eval_split=data.eval_split,
        num_classes=data.num_classes,
        train=recipe,
    )


def build_cell_model(cell: CellConfig) -> torch.nn.Module:
    """The cell's model, initialised from its seed: the same cell starts from the same weights in any process."""
    seed_everything(cell.train.seed if cell.train else 0, cell.train.deterministic if cell.train else False)
    model = build_model(cell.encoder, cell.decoder, cell.num_classes, pretrained=cell.pretrained)
    return with_attention(model, cell.inference, cell.num_classes)


def with_inference(cell: CellConfig, inference: InferenceConfig | None) -> CellConfig:
    """``cell`` with inference add-ons (a plain configuration is stored as None)."""
    return replace(cell, inference=None if inference is None or inference.is_plain else inference)


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _record_head(cell: CellConfig) -> dict[str, Any]:
    return {**cell.key(), "cell_id": cell.cell_id, "fingerprint": cell.fingerprint, "started": _now()}


def failure_record(cell: CellConfig, status: str, error: str, started: str | None = None) -> dict[str, Any]:
    """The record of a cell whose process never returned one (it crashed, hung or its worker died)."""
    record = _record_head(cell)
    if started:
        record["started"] = started
    record.update(status=status, error=error)
    return _finished(record)


def run_cell(
    cell: CellConfig,
    timing: TimingConfig | None = None,
    artifacts_dir: Path | None = None,
    on_train_event: Callable[[TrainEvent], None] | None = None,
) -> dict[str, Any]:
    """Build, train and evaluate (with a dataset), and profile one cell.

    Never raises for a cell's own failure (Ctrl-C still does). Training
    artifacts (checkpoints, per-epoch log) go to ``artifacts_dir``; a
    ``last.pt`` already there from an interrupted run is resumed.
    """
    record = _record_head(cell)
    if cell.threads is not None:  # for training too, not only for the timed forwards
        torch.set_num_threads(cell.threads)
    try:
        t0 = time.perf_counter()
        model = build_cell_model(cell)
        deployed = apply_inference(model, cell.inference)  # refuses an impossible add-on before training
        record["time_build_s"] = time.perf_counter() - t0
        if cell.dataset and cell.train and cell.train.nproc_per_node > 1:
            record.update(train_and_evaluate_launched(cell, model, artifacts_dir))
        elif cell.dataset and cell.train:
            record.update(train_and_evaluate(cell, model, artifacts_dir, on_train_event))
        result = profile(
            deployed,
            (cell.input_h, cell.input_w),
            device=cell.device,
            batch_size=cell.batch_size,
            precision=cell.precision,
            channels_last=cell.channels_last,
            threads=cell.threads,
            timing=timing,
        )
        record.update(result.to_dict())
        record.update(status=STATUS_OK, error=None)
    except NotApplicable as e:
        record.update(status=STATUS_NOT_APPLICABLE, error=str(e))
    except torch.cuda.OutOfMemoryError as e:
        record.update(status=STATUS_OOM, error=_one_line(e))
    except Exception as e:  # noqa: BLE001 - any failure of a cell becomes its record
        record.update(status=STATUS_FAILED, error=_one_line(e), traceback=traceback.format_exc())
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return _finished(record)


def _finished(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` closed: every measurement it lacks is NaN, and it is stamped with its end time."""
    for col in NUMERIC_COLUMNS:
        record.setdefault(col, float("nan"))
    record["finished"] = _now()
    return record


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
    from segbench.evaluate import eval_loader, evaluate

    assert cell.dataset and cell.train
    recipe = cell.train
    device = device or resolve_device(cell.device)
    options = dict(cell.dataset_options)
    train_set = build_dataset(cell.dataset, cell.data_root, cell.train_split, **options)
    info = train_set.info
    crop = recipe.crop_size or tuple(train_set[0][1].shape)
    train_set.transform = train_transforms(crop, ignore_index=info.ignore_index, augment=info.augment)
    val_set = build_dataset(cell.dataset, cell.data_root, cell.val_split, **options) if cell.val_split else None
    eval_set = build_dataset(cell.dataset, cell.data_root, cell.eval_split, **options)

    spec = {"encoder": cell.encoder, "decoder": cell.decoder, "num_classes": cell.num_classes,
            "dataset": cell.dataset, "fingerprint": cell.fingerprint,
            "attention_scales": cell.inference.attention_scales if cell.inference else None}
    trainer = Trainer(model, train_set, val_set, recipe, device, artifacts_dir, on_event, model_spec=spec)
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
    metrics = evaluate(deployed, loader, info.num_classes, info.ignore_index, device, recipe.precision,
                       recipe.channels_last)
    return {
        **metrics.to_dict(),
        "train_time_s": state.elapsed_s,
        "train_iters": state.iteration,
        "train_epochs_done": state.epoch,
        "best_val_miou": state.best_miou,
        "crop_h": crop[0],
        "crop_w": crop[1],
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
