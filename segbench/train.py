"""Training: one recipe for every cell, so the grid compares models, not recipes.

A loss chosen by name (cross-entropy unless told; see segbench.losses) with
the ignore index (optionally median-frequency class weights and an auxiliary
loss), SGD with momentum or AdamW (optionally with the gradients' norm
clipped), a poly schedule with linear warm-up, a budget in epochs,
iterations or wall time, AMP and channels_last on CUDA,
seeded (with a deterministic mode). Checkpoints (last and best), a
per-epoch log and an iteration log every ``log_every`` steps (see
:mod:`segbench.train_log`; optionally TensorBoard too) let an interrupted run
resume and a plot read the curves later.

Inside a torch.distributed process group (see :mod:`segbench.distributed`)
the same Trainer trains one model data-parallel: DistributedDataParallel,
``batch_size`` is the *global* batch (each of N ranks takes ``batch_size / N``
of every single-process batch, so both see the same data per step), only
rank 0 writes files or reports, and validation sums the ranks' confusion
matrices over disjoint shards.
"""

from __future__ import annotations

import csv
import functools
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from segbench import distributed
from segbench.checkpoints import CheckpointError, load_weights, plain, read_checkpoint, write_checkpoint
from segbench.data import median_frequency_weights
from segbench.evaluate import autocast_context, evaluate
from segbench.losses import build_loss
from segbench.measure.metrics import SegMetrics
from segbench.models.decoders.base import BoundaryLogits
from segbench.outputs import link_atomic, open_atomic
from segbench.recipe import TrainConfig
from segbench.rundir import EPOCH_LOG, ITERATION_LOG
from segbench.train_log import BOARD_IMAGES, IterationLog, TensorBoardLog, denormalise

LOG_FIELDS = ["epoch", "iteration", "loss", "lr", "val_miou", "time_s"]


@dataclass
class TrainState:
    """What a checkpoint restores: where training stands and what it has seen."""

    iteration: int = 0
    epoch: int = 0
    elapsed_s: float = 0.0
    best_miou: float = float("nan")
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainEvent:
    """Reported after every step; ``loss`` (the mean since the last) on the iteration log's steps (every
    ``log_every``, and the first), ``val_miou`` after a validation."""

    iteration: int
    total: int | None
    loss: float | None
    lr: float
    val_miou: float | None = None


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed every RNG; with ``deterministic``, ask torch for deterministic kernels.

    An operator torch has no deterministic kernel for (max-unpooling, used by
    SegNet, ENet and LRN) warns rather than failing the cell: on the CPU it
    is deterministic in practice, and a benchmark must still run it.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _seed_worker(worker_id: int, rank: int = 0) -> None:
    # Every rank's loader draws the same base seed (one shared generator, for one data order),
    # so workers of rank r > 0 shift theirs: ranks must not apply the same augmentations.
    seed = (torch.initial_seed() + 7919 * rank) % 2**32
    if rank:
        torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def train_loader(
    dataset: Dataset, config: TrainConfig, generator: torch.Generator, pin_memory: bool = False,
    rank: int = 0, world_size: int = 1,
) -> DataLoader:
    """Shuffled batches; with ``world_size`` ranks, rank ``rank``'s share of each global batch."""
    length = len(dataset)  # type: ignore[arg-type]
    sampler = distributed.GlobalBatchSampler(length, config.batch_size, generator, rank, world_size)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=pin_memory,
        persistent_workers=config.num_workers > 0,
        worker_init_fn=functools.partial(_seed_worker, rank=rank),
        generator=generator,
    )


def lr_factor(progress: float, iteration: int, warmup_iters: int, power: float) -> float:
    """Linear warm-up, then poly decay ``(1 - progress) ** power``."""
    warm = min(1.0, (iteration + 1) / warmup_iters) if warmup_iters > 0 else 1.0
    return warm * max(0.0, 1.0 - progress) ** power


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW, fused where torch has the kernel for the parameters' device.

    The fused step is one kernel over every parameter instead of a loop of small ops: on a quiet 2-core
    CPU, AdamW's step over resnet18+unet's 11.5M parameters took 6 ms fused against 28 ms in torch's loop
    (``python benchmarks/bench_optimizer.py``), a fifth of a short-recipe iteration.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        make: Any = functools.partial(torch.optim.SGD, momentum=config.momentum)
    else:
        make = torch.optim.AdamW
    try:
        return make(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without the fused kernel: the per-parameter loop
        return make(params, lr=config.lr, weight_decay=config.weight_decay)


def segmentation_loss(
    output: torch.Tensor | tuple[torch.Tensor | BoundaryLogits, ...],
    target: torch.Tensor,
    criterion: nn.Module,
    aux_weight: float,
    ignore_index: int = 255,
) -> torch.Tensor:
    """``criterion`` on the main logits, plus ``aux_weight`` x each auxiliary head's, if any.

    A :class:`BoundaryLogits` output (a boundary head) is scored by its own loss
    against the labels' edges, with its own weight.
    """
    if isinstance(output, torch.Tensor):
        return criterion(output, target)
    main, *aux = output
    loss = criterion(main, target)
    for extra in aux:
        if isinstance(extra, BoundaryLogits):
            loss = loss + extra.loss_against(target, ignore_index)
        else:
            loss = loss + aux_weight * criterion(extra, target)
    return loss


class Trainer:
    """Trains ``model`` on ``train_set``, validating on ``val_set``, checkpointing into ``out_dir``."""

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        val_set: Dataset | None,
        config: TrainConfig,
        device: torch.device,
        out_dir: Path | None = None,
        on_event: Callable[[TrainEvent], None] | None = None,
        model_spec: dict[str, Any] | None = None,
        board_dir: Path | None = None,
    ) -> None:
        """``board_dir``: where this run's TensorBoard events go (None: no TensorBoard)."""
        self.config = config
        self.model_spec = model_spec or {}
        self.device = device
        self.info = train_set.info  # type: ignore[attr-defined]
        self.out_dir = Path(out_dir) if out_dir else None
        self.rank, self.world_size = distributed.get_rank(), distributed.get_world_size()
        self.on_event = on_event if self.rank == 0 else None
        seed_everything(config.seed, config.deterministic)
        fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model.to(device).to(memory_format=fmt)
        #: What a training step calls: the model itself, or its DistributedDataParallel wrapper.
        self.train_model = self._data_parallel() if self.world_size > 1 else self.model
        self.generator = torch.Generator()
        self.loader = train_loader(train_set, config, self.generator, pin_memory=device.type == "cuda",
                                   rank=self.rank, world_size=self.world_size)
        self.val_set = val_set
        weight = None
        if config.class_weights:
            weight = median_frequency_weights(train_set, self.info.num_classes, self.info.ignore_index).to(device)
        self.criterion = build_loss(config.loss, self.info.ignore_index, weight, config.label_smoothing)
        self.optimizer = make_optimizer(self.model, config)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
        self.state = TrainState()
        main = self.rank == 0
        #: The iteration log (rank 0 only) and TensorBoard's folder; the writer is open while fit() runs.
        self.log = IterationLog(self.out_dir / ITERATION_LOG) if self.out_dir and main else None
        self.board_dir = Path(board_dir) if board_dir and main else None
        self.board: TensorBoardLog | None = None

    def _data_parallel(self) -> nn.Module:
        """Wrap the model in DDP (gradients averaged over ranks; rank 0's weights and buffers broadcast).

        On CUDA, BatchNorm becomes SyncBatchNorm so its statistics cover the
        global batch, as in one process. gloo has no SyncBatchNorm (it needs
        GPU tensors), so on the CPU each rank normalises over its own
        ``batch_size / N`` images: a small, documented difference from one process.
        """
        if self.device.type == "cuda":
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            index = self.device.index if self.device.index is not None else torch.cuda.current_device()
            return DistributedDataParallel(self.model, device_ids=[index])
        return DistributedDataParallel(self.model)

    def _seed_rank_augmentation(self) -> None:
        """Distributed only: each rank's augmentation stream from (seed, epoch, rank).

        Ranks must not share one stream (they would crop and flip alike), and
        reseeding per epoch keeps resuming from an epoch's checkpoint exact.
        """
        seed = (self.config.seed * 1_000_003 + self.state.epoch * 7919 + self.rank) % 2**32
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)

    @property
    def total_iterations(self) -> int | None:
        if self.config.iterations is not None:
            return self.config.iterations
        if self.config.epochs is not None:
            return self.config.epochs * len(self.loader)
        return None  # a wall-time budget: progress is measured in seconds

    def progress(self) -> float:
        total = self.total_iterations
        if total is not None:
            return self.state.iteration / total
        return self.state.elapsed_s / float(self.config.time_s)  # type: ignore[arg-type]

    def _set_lr(self) -> float:
        c = self.config
        factor = lr_factor(self.progress(), self.state.iteration, c.warmup_iters, c.poly_power)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        return self.base_lrs[0] * factor

    def step(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """One optimisation step; returns the loss, still on the device."""
        fmt = torch.channels_last if self.config.channels_last else torch.contiguous_format
        images = images.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
        masks = masks.to(self.device, non_blocking=True)
        with autocast_context(self.device, self.config.precision):
            loss = segmentation_loss(
                self.train_model(images), masks, self.criterion, self.config.aux_weight, self.info.ignore_index
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not fp16's scaled ones
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()

    def validate(self) -> SegMetrics | None:
        if self.val_set is None or len(self.val_set) == 0:  # type: ignore[arg-type]
            return None
        from segbench.evaluate import eval_loader

        loader = eval_loader(self.val_set, num_workers=self.config.num_workers)
        return evaluate(
            self.model, loader, self.info.num_classes, self.info.ignore_index, self.device,
            self.config.precision, self.config.channels_last,
        )

    def _done(self) -> bool:
        return self.progress() >= 1.0

    def fit(self) -> TrainState:
        """Train until the budget is spent (continuing from a resumed state)."""
        self.model.train()
        if self.log:
            self.log.keep_until(self.state.iteration)  # a resumed run: drop what came after its checkpoint
        if self.board_dir:
            # from the next step on, events of an earlier (interrupted or replaced) run are hidden
            self.board = TensorBoardLog(self.board_dir, purge_step=self.state.iteration + 1)
        try:
            self._fit()
        finally:
            if self.board:
                self.board.close()
                self.board = None
        return self.state

    def _fit(self) -> None:
        recent: list[torch.Tensor] = []  # the losses since the iteration log's last line
        logged_s = self.state.elapsed_s
        while not self._done():
            epoch_start = time.perf_counter()
            # Shuffle order depends on (seed, epoch) only, so a resumed run sees the same data.
            self.generator.manual_seed(self.config.seed * 100_003 + self.state.epoch)
            if self.world_size > 1:
                self._seed_rank_augmentation()
            losses: list[torch.Tensor] = []
            lr = self._set_lr()
            last = time.perf_counter()
            for images, masks in self.loader:
                if self._done():
                    break
                lr = self._set_lr()
                losses.append(self.step(images, masks))
                recent.append(losses[-1])
                self.state.iteration += 1
                now = time.perf_counter()  # wall time including data loading
                self.state.elapsed_s += now - last
                if self.world_size > 1 and self.config.time_s is not None:
                    # Rank 0's clock decides, so every rank stops on the same step (else DDP hangs).
                    self.state.elapsed_s = distributed.broadcast_float(self.state.elapsed_s)
                last = now
                shown = None
                if self._log_due():
                    shown = self._log_step(recent, lr, self.state.elapsed_s - logged_s)
                    recent, logged_s = [], self.state.elapsed_s
                if self.on_event:
                    self.on_event(TrainEvent(self.state.iteration, self.total_iterations, shown, lr))
            self.state.epoch += 1
            self._end_epoch(losses, lr, time.perf_counter() - epoch_start)

    def _log_due(self) -> bool:
        """Rank 0, something listening, and the first step, every ``log_every``-th or the last."""
        it = self.state.iteration
        listening = self.log or self.board or self.on_event
        return bool(listening) and (it == 1 or it % self.config.log_every == 0 or self._done())

    def _log_step(self, recent: list[torch.Tensor], lr: float, seconds: float) -> float:
        """A ``train`` line of the iteration log (and TensorBoard's scalars); returns the mean loss.

        Only here is the loss read back from the device (a host sync): every
        ``log_every`` steps, not every step. Under DDP it is rank 0's own.
        """
        loss = float(torch.stack(recent).float().mean())
        it = self.state.iteration
        if self.log:
            self.log.write({"mode": "train", "epoch": self.state.epoch + 1, "iteration": it, "loss": loss,
                            "lr": lr, "time_s": self.state.elapsed_s, "iter_s": seconds / len(recent)})
        if self.board:
            self.board.scalars(it, {"train/loss": loss, "train/lr": lr})
        return loss

    def _log_validation(self, val_miou: float) -> None:
        """A ``val`` line, and TensorBoard's mIoU and a few validation images beside label and prediction."""
        it = self.state.iteration
        if self.log:
            self.log.write({"mode": "val", "epoch": self.state.epoch, "iteration": it, "val_miou": val_miou})
        if not self.board or self.val_set is None:
            return
        from segbench.data import IMAGENET_MEAN, IMAGENET_STD
        from segbench.label_colours import colourise
        from segbench.prediction_maps import predict_labels

        self.board.scalars(it, {"val/mIoU": val_miou})
        c = self.config
        predicted = predict_labels(self.model, self.val_set, self.device, c.precision, c.channels_last,  # type: ignore[arg-type]
                                   count=BOARD_IMAGES)
        palette, ignore = self.info.palette, self.info.ignore_index
        for index, labels in enumerate(predicted):
            image, mask = self.val_set[index]
            picture = np.concatenate([denormalise(image, IMAGENET_MEAN, IMAGENET_STD),
                                      colourise(mask.numpy(), palette, ignore), colourise(labels, palette, ignore)],
                                     axis=1)
            self.board.image(it, f"val/{index}: image | label | prediction", picture)

    def _end_epoch(self, losses: list[torch.Tensor], lr: float, epoch_s: float) -> None:
        val_miou = None
        if self.state.epoch % self.config.eval_every == 0 or self._done():
            metrics = self.validate()
            val_miou = metrics.miou if metrics else None
            if val_miou is not None and self.rank == 0:
                self._log_validation(val_miou)
        mean_loss = float("nan")
        if losses:  # the mean over all ranks' steps: every rank has as many
            mean_loss = float(distributed.all_reduce_mean(torch.stack(losses).float().mean()))
        self.state.history.append(
            {"epoch": self.state.epoch, "iteration": self.state.iteration, "loss": mean_loss,
             "lr": lr, "val_miou": val_miou, "time_s": epoch_s}
        )
        improved = val_miou is not None and not (val_miou <= self.state.best_miou)
        if improved:
            self.state.best_miou = val_miou  # type: ignore[assignment]
        self.save(best=improved)  # before reporting, so an interrupt from the report loses nothing
        if self.on_event:
            self.on_event(TrainEvent(self.state.iteration, self.total_iterations, mean_loss, lr, val_miou))

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Tensors and plain Python values only: what a weights-only load (segbench.checkpoints) reads."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": plain(asdict(self.state)),
            "config": plain(asdict(self.config)),
            "model_spec": plain(self.model_spec),
            "torch_rng": torch.get_rng_state(),
        }

    def save(self, best: bool = False) -> None:
        """Write last.pt (and best.pt) and the per-epoch log atomically (rank 0 only).

        Each file goes through :func:`segbench.outputs.open_atomic` (best.pt is
        last.pt's second name, :func:`segbench.outputs.link_atomic`): a full
        disk is one line naming the file and leaves no temporary file behind.
        """
        if self.out_dir is None or self.rank != 0:
            return
        last = write_checkpoint(self.checkpoint(), self.out_dir / "last.pt")
        if best:  # the same bytes: a second name, not a second 0.4 s write of a resnet18+unet checkpoint
            link_atomic(last, self.out_dir / "best.pt")
        with open_atomic(self.out_dir / EPOCH_LOG, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(self.state.history)

    def resume(self, path: Path) -> None:
        """Continue from a checkpoint written by :meth:`save` (loaded weights-only)."""
        self.restore(read_checkpoint(path, map_location=self.device, require_spec=False), path)

    def restore(self, ckpt: dict[str, Any], path: Path | str = "checkpoint") -> None:
        """Continue from a loaded checkpoint (see :meth:`checkpoint`); ``path`` names it in errors.

        Everything is checked before anything is loaded, so a refused
        checkpoint (:class:`CheckpointError`) leaves the trainer as it was.
        """
        missing = [k for k in ("optimizer", "scaler", "state", "torch_rng") if k not in ckpt]
        if missing:
            raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}; cannot resume training from it")
        state = ckpt["state"]
        names = {f.name for f in fields(TrainState)}
        if not isinstance(state, dict) or not set(state) <= names:
            raise CheckpointError(f"checkpoint {path}: 'state' is not a training state ({', '.join(sorted(names))})")
        load_weights(self.model, ckpt, path)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(**state)
        torch.set_rng_state(ckpt["torch_rng"])
