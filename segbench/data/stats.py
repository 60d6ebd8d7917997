"""Label statistics over a split: pixel counts and SegNet's class weights.

Both read label maps through ``load_mask`` where a dataset has it, so no
image is decoded and no transform runs; plain iterables of masks work too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch


def iter_masks(source: Any) -> Iterator[np.ndarray]:
    """Integer label maps of a dataset (via ``load_mask`` when it has one) or of an iterable of masks.

    Items of an iterable may be masks or ``(image, mask)`` pairs, as numpy arrays or tensors.
    """
    if hasattr(source, "load_mask") and hasattr(source, "__len__"):
        masks: Iterable[Any] = (source.load_mask(i) for i in range(len(source)))
    else:
        masks = (item[1] if isinstance(item, tuple) else item for item in source)
    for mask in masks:
        array = mask.numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        yield array if array.dtype.kind in "ui" else array.astype(np.int64)


def class_pixel_counts(source: Any | Iterable[np.ndarray], num_values: int = 256) -> np.ndarray:
    """Pixels per label value (int64, length ``num_values``), ignore index included."""
    counts = np.zeros(num_values, dtype=np.int64)
    for mask in iter_masks(source):
        counts += np.bincount(mask.ravel(), minlength=num_values)[:num_values]
    return counts


def median_frequency_weights(
    source: Any | Iterable[np.ndarray], num_classes: int, ignore_index: int
) -> torch.Tensor:
    """SegNet's median frequency balancing (Eigen & Fergus 2015), as a float32 ``[num_classes]`` tensor.

    ``freq_c`` = pixels of class c / all pixels of the images where c
    appears, and ``w_c = median(freq) / freq_c`` (median over the classes,
    not the ignore index), so rare classes weigh more. A class absent from
    every image gets weight 0 and is left out of the median.
    """
    class_pixels = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)
    for mask in iter_masks(source):
        counts = np.bincount(mask.ravel(), minlength=num_classes)[:num_classes]
        if ignore_index < num_classes:
            counts[ignore_index] = 0
        class_pixels += counts
        image_pixels += np.where(counts > 0, mask.size, 0)
    present = image_pixels > 0
    freq = np.zeros(num_classes, dtype=np.float64)
    freq[present] = class_pixels[present] / image_pixels[present]
    weights = np.zeros(num_classes, dtype=np.float64)
    weights[present] = np.median(freq[present]) / freq[present]
    return torch.from_numpy(weights).float()
