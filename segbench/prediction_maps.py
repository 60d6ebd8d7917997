"""A trained cell's predicted label maps of its first evaluation images, saved once at evaluation.

The qualitative sheet (:mod:`segbench.plots.qualitative`) shows them beside
the images and ground truth. Saving them where the model already is (after
training, on its device, with its inference add-ons) means plotting never
loads a checkpoint or runs a model, and shows what was scored.

Each map is ``<sample id>.png`` (the dataset's ``stems``, by which the sheet
finds the image and ground truth again): a lossless single-channel PNG of
class ids, 8-bit, or 16-bit where an id exceeds 255. It is the format
``segbench score`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from segbench.data.base import SegmentationDataset
from segbench.evaluate import autocast_context
from segbench.outputs import open_atomic, prepare_dir

#: How many evaluation images (the split's first) a trained cell keeps the predictions of.
SAVED_PREDICTIONS = 4
SUFFIX = ".png"


def write_label_map(path: Path, labels: np.ndarray) -> Path:
    """Write class ids ``[H, W]`` as a single-channel PNG (uint8, or uint16 above 255), atomically."""
    dtype = np.uint8 if labels.size == 0 or int(labels.max()) < 256 else np.uint16
    with open_atomic(path, "wb") as f:
        Image.fromarray(np.ascontiguousarray(labels, dtype=dtype)).save(f, format="PNG")
    return path


def saved_predictions(folder: Path) -> dict[str, Path]:
    """The saved label maps in ``folder`` by sample id; empty where there are none (an older run)."""
    if not folder.is_dir():
        return {}
    return {path.relative_to(folder).with_suffix("").as_posix(): path for path in sorted(folder.rglob(f"*{SUFFIX}"))}


@torch.inference_mode()
def predict_labels(
    model: nn.Module,
    dataset: SegmentationDataset,
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
    count: int = SAVED_PREDICTIONS,
) -> list[np.ndarray]:
    """The argmax label maps ``[H, W]`` of ``dataset``'s first ``count`` samples (the model's mode kept)."""
    was_training = model.training
    model.eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    maps = []
    try:
        for index in range(min(count, len(dataset))):  # one at a time: a split's images may differ in size
            image = dataset[index][0][None].to(device).contiguous(memory_format=fmt)
            with autocast_context(device, precision):
                maps.append(model(image).argmax(1)[0].cpu().numpy())
    finally:
        model.train(was_training)
    return maps


def save_predictions(
    model: nn.Module,
    dataset: SegmentationDataset,
    out_dir: Path,
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
    count: int = SAVED_PREDICTIONS,
) -> list[Path]:
    """Write the argmax label maps of ``dataset``'s first ``count`` samples into ``out_dir``.

    The folder holds one evaluation's maps only: older ones are removed first,
    so a cell trained again never shows a stale prediction.
    """
    out_dir = prepare_dir(out_dir)
    for old in saved_predictions(out_dir).values():
        old.unlink()
    maps = predict_labels(model, dataset, device, precision, channels_last, count)
    return [write_label_map(out_dir / f"{stem}{SUFFIX}", labels)
            for stem, labels in zip(dataset.stems, maps, strict=False)]

