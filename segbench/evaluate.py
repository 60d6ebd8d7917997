"""Evaluate a model on a dataset split, or score a folder of predicted label maps.

Both paths fill one :class:`ConfusionMatrix` over the whole split, so a
number from ``segbench eval`` and one from ``segbench score`` on another
tool's predictions are the same definition.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from segbench.checkpoints import CheckpointError, load_weights, read_checkpoint
from segbench.data.base import SegmentationDataset
from segbench.data.predictions import PredictionFolder
from segbench.inputs import BadFileError, read_prediction
from segbench.measure.metrics import ConfusionMatrix, SegMetrics

if TYPE_CHECKING:
    from segbench.inference import InferenceConfig

def autocast_context(device: torch.device, precision: str) -> torch.autocast:
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    return torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32")


def eval_loader(
    dataset: Dataset, batch_size: int | None = None, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    """The split in order; inside a distributed job, this rank's disjoint shard of it.

    The shard pairs with :func:`evaluate`, which sums the confusion matrix
    over ranks: every image is counted exactly once, whatever the world size.
    ``batch_size`` defaults to the dataset's :attr:`~segbench.data.base.DatasetInfo.eval_batch`
    (1 for a dataset without one, whose images may differ in size).
    """
    from segbench.distributed import ShardSampler, is_distributed

    if batch_size is None:
        info = getattr(dataset, "info", None)
        batch_size = info.eval_batch if info is not None else 1

    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset)) if is_distributed() else None,  # type: ignore[arg-type]
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    num_classes: int,
    ignore_index: int | None,
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
    on_batch: Callable[[], None] | None = None,
) -> SegMetrics:
    """Full-size evaluation: argmax of the logits into a confusion matrix kept on ``device``."""
    was_training = model.training
    model.eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    matrix = ConfusionMatrix(num_classes, ignore_index, device=device)
    try:
        for images, masks in loader:
            images = images.to(device, non_blocking=True).contiguous(memory_format=fmt)
            with autocast_context(device, precision):
                logits = model(images)
            matrix.update_logits(logits, masks.to(device, non_blocking=True))
            if on_batch:
                on_batch()
    finally:
        model.train(was_training)
    return matrix.all_reduce().compute()


def score_predictions(dataset: SegmentationDataset, pred_dir: Path) -> SegMetrics:
    """Score PNGs in ``pred_dir`` (pixel value = class id), one per sample of the split.

    A prediction is found by the sample's id, its image file's name, or
    either in the images' subfolders (:mod:`segbench.data.predictions`). A
    missing prediction, two for one sample, or one of the wrong size is an
    error naming the files: a silently skipped image would change the number.
    """
    folder = PredictionFolder(pred_dir)
    matrix = ConfusionMatrix(dataset.info.num_classes, dataset.info.ignore_index)
    for index in range(len(dataset)):
        path = folder.find(dataset.prediction_names(index))
        pred = read_prediction(path)
        target = dataset.load_mask(index)
        if pred.ndim != 2 or pred.shape != target.shape:
            raise ValueError(
                f"{path}: prediction of shape {pred.shape} for a label map of shape {target.shape}; "
                "expected a single-channel PNG of class ids at the label's size"
            )
        try:
            matrix.update(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(target.astype(np.int64)))
        except ValueError as e:  # class ids out of range: name the file that holds them
            raise BadFileError(f"prediction {path}: {e}") from None
    return matrix.compute()


def load_checkpoint(checkpoint: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The model a segbench checkpoint was trained as, with its weights, and the checkpoint's contents."""
    from segbench.models import build_model

    checkpoint = Path(checkpoint)
    ckpt = read_checkpoint(checkpoint, map_location=device)  # weights only: a checkpoint cannot run code
    spec = ckpt["model_spec"]
    try:
        model = build_model(spec["encoder"], spec["decoder"], spec["num_classes"])
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {checkpoint}: its model spec names no model segbench can build "
                              f"({str(e).strip(chr(39))})") from None
    if spec.get("attention_scales"):
        from segbench.inference import ScaleAttention

        model = ScaleAttention(model, spec["num_classes"], spec["attention_scales"])
    load_weights(model, ckpt, checkpoint)
    return model.to(device).eval(), ckpt


def evaluate_checkpoint(
    checkpoint: Path,
    dataset: str | None = None,
    data_root: str | None = None,
    split: str | None = None,
    device: str = "auto",
    inference: InferenceConfig | None = None,
    uncertainty_dir: Path | None = None,
) -> tuple[SegMetrics, list[str]]:
    """Rebuild the model a checkpoint was trained as, and score it on ``dataset``/``split``.

    ``inference`` adds test-time add-ons; with MC dropout, ``uncertainty_dir``
    receives each image's entropy and variance maps.
    """
    from segbench.data import build_dataset, dataset_info
    from segbench.inference import MCDropout, apply_inference, save_uncertainty_maps
    from segbench.measure.profile import resolve_device

    if inference is not None and inference.attention_scales is not None:
        raise ValueError(
            "attention to scale is trained with the model; use --attention-scales with train or grid")
    if uncertainty_dir is not None and not (inference and inference.mc_samples):
        raise ValueError("--uncertainty-dir needs --mc-samples N (N >= 2)")
    dev = resolve_device(device)
    model, ckpt = load_checkpoint(checkpoint, dev)
    model = apply_inference(model, inference)
    spec = ckpt["model_spec"]
    name = dataset or spec.get("dataset")
    if name is None:
        raise ValueError("the checkpoint does not name its dataset; pass --dataset")
    info = dataset_info(name)
    if info.num_classes != spec["num_classes"]:
        raise ValueError(
            f"the model predicts {spec['num_classes']} classes but {name} has {info.num_classes}")
    split = split or ("test" if "test" in info.splits else "val")
    ds = build_dataset(name, data_root, split)
    config = ckpt.get("config", {})
    on_batch = None
    if uncertainty_dir is not None:  # batches in order: the next len(batch) stems are this batch's
        mc = next(m for m in model.modules() if isinstance(m, MCDropout))
        mc.keep_last = True
        stems = iter(ds.stems)

        def on_batch() -> None:
            assert mc.last is not None  # kept by every forward pass (keep_last)
            batch_stems = [next(stems) for _ in range(mc.last.mean.shape[0])]
            save_uncertainty_maps(mc.last, batch_stems, uncertainty_dir)

    metrics = evaluate(model, eval_loader(ds), info.num_classes, info.ignore_index, dev,
                       config.get("precision", "fp32"), config.get("channels_last", False), on_batch)
    return metrics, list(info.class_names)
