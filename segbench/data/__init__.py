"""Datasets: a registry of loaders, the synthetic default, joint transforms.

Every dataset yields ``(image, mask)``: a float ``[3, H, W]`` image
normalised with the ImageNet mean/std and an int64 ``[H, W]`` mask of train
ids, with ``info.ignore_index`` on pixels that must not be scored. Import
this package to get every built-in dataset registered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Registration side effects: one module per dataset.
from segbench.data import (  # noqa: F401
    ade20k,
    camvid,
    cityscapes,
    coco_stuff,
    kitti,
    mapillary,
    rgbd,
    synthetic,
    voc,
)
from segbench.data.base import (
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    FileDataset,
    JointTransform,
    SegmentationDataset,
    UnknownSplitError,
)
from segbench.data.stats import class_pixel_counts, median_frequency_weights
from segbench.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomScale,
    eval_transforms,
    train_transforms,
)


def build_dataset(
    name: str,
    root: str | Path | None = None,
    split: str = "train",
    transform: JointTransform | None = None,
    **options: Any,
) -> SegmentationDataset:
    """Build a registered dataset; ``transform=None`` gives full-size normalised samples."""
    # every registered dataset takes a root (the synthetic one ignores it), unlike the base class
    factory: Callable[..., SegmentationDataset] = DATASETS.get(name)
    return factory(root=root, split=split, transform=transform, **options)


def dataset_info(name: str) -> DatasetInfo:
    """A dataset's static metadata (classes, ignore index, palette, splits), without its files."""
    return DATASETS.get(name).info


__all__ = [
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FileDataset",
    "JointTransform",
    "RandomScale",
    "SegmentationDataset",
    "UnknownSplitError",
    "build_dataset",
    "class_pixel_counts",
    "dataset_info",
    "eval_transforms",
    "median_frequency_weights",
    "train_transforms",
]
