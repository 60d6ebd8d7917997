"""The synthetic default dataset: deterministic, well formed, fast, and not solvable by colour alone."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import torch

from segbench.data import (
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SegmentationDataset,
    UnknownSplitError,
    build_dataset,
    dataset_info,
)
from segbench.registry import UnknownNameError


def test_registered_with_metadata() -> None:
    info = dataset_info("synthetic")
    assert "synthetic" in DATASETS
    assert 6 <= info.num_classes <= 8
    assert info.class_names[0] == "background"
    assert len(info.class_names) == len(info.palette) == info.num_classes
    assert info.ignore_index == 255
    assert set(info.splits) == {"train", "val", "test"}


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="synthetic") as err:
        build_dataset("no-such-set")
    assert "camvid" in str(err.value) and "\n" not in str(err.value)


def test_unknown_split_lists_valid_splits() -> None:
    with pytest.raises(UnknownSplitError, match="train, val, test"):
        build_dataset("synthetic", split="trainval")


def test_default_lengths_and_sample_contract() -> None:
    lengths = {split: len(build_dataset("synthetic", split=split)) for split in ("train", "val", "test")}
    assert lengths == {"train": 2048, "val": 64, "test": 256}
    image, mask = build_dataset("synthetic", split="val")[0]
    assert image.shape == (3, 96, 96) and image.dtype == torch.float32
    assert mask.shape == (96, 96) and mask.dtype == torch.int64
    assert type(image) is torch.Tensor and type(mask) is torch.Tensor  # plain tensors, not tv_tensors


def test_default_transform_normalises_with_imagenet_stats() -> None:
    ds = build_dataset("synthetic", split="train", length=1)
    raw_image, raw_mask = ds.load_sample(0)
    image, mask = ds[0]
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    expected = (torch.from_numpy(raw_image).permute(2, 0, 1).float() / 255 - mean) / std
    torch.testing.assert_close(image, expected)
    assert torch.equal(mask, torch.from_numpy(raw_mask).long())


@pytest.mark.parametrize("size", [(40, 72), (97, 31)])
def test_any_size_and_length(size: tuple[int, int]) -> None:
    ds = build_dataset("synthetic", split="test", size=size, length=3)
    assert len(ds) == 3 and len(ds.stems) == 3
    image, mask = ds[2]
    assert image.shape == (3, *size) and mask.shape == size
    with pytest.raises(IndexError):
        ds[3]


def test_same_index_same_scene() -> None:
    a, b = build_dataset("synthetic", split="train"), build_dataset("synthetic", split="train")
    for i in (0, 5, 255):
        image_a, mask_a = a.load_sample(i)
        assert np.array_equal(image_a, a.load_sample(i)[0]) and np.array_equal(mask_a, a.load_sample(i)[1])
        assert np.array_equal(image_a, b.load_sample(i)[0]) and np.array_equal(mask_a, b.load_sample(i)[1])


def test_seeds_and_splits_draw_different_scenes() -> None:
    base = build_dataset("synthetic", split="train", length=4)
    other_seed = build_dataset("synthetic", split="train", length=4, seed=1)
    val = build_dataset("synthetic", split="val", length=4)
    for i in range(4):
        image = base.load_sample(i)[0]
        assert not np.array_equal(image, other_seed.load_sample(i)[0])
        assert not np.array_equal(image, val.load_sample(i)[0])
    train_images = {base.load_sample(i)[0].tobytes() for i in range(4)}
    assert len(train_images) == 4


def test_labels_in_range_and_every_class_appears() -> None:
    ds = build_dataset("synthetic", split="train")
    seen: set[int] = set()
    for i in range(8):
        mask = ds.load_mask(i)
        assert mask.dtype == np.uint8 and mask.max() < ds.info.num_classes
        seen |= set(np.unique(mask).tolist())
    assert seen == set(range(ds.info.num_classes))


def test_background_dominates_but_objects_are_not_rare() -> None:
    ds = build_dataset("synthetic", split="train", length=32)
    counts = np.bincount(np.stack([ds.load_mask(i) for i in range(32)]).ravel(), minlength=8)
    share = counts / counts.sum()
    assert 0.5 < share[0] < 0.9
    assert share[1:].min() > 0.005


def test_boundary_band_is_ignored_only_when_asked() -> None:
    plain = build_dataset("synthetic", split="val", length=2)
    banded = build_dataset("synthetic", split="val", length=2, ignore_boundary=1)
    for i in range(2):
        mask, band = plain.load_mask(i), banded.load_mask(i)
        assert 255 not in mask and 255 in band
        keep = band != 255
        assert np.array_equal(band[keep], mask[keep])  # same scene, only the band changes
        assert np.array_equal(plain.load_sample(i)[0], banded.load_sample(i)[0])
        changes = (mask[1:] != mask[:-1]).nonzero()
        assert (band[1:][changes] == 255).all() and (band[:-1][changes] == 255).all()


def test_single_pixel_colour_does_not_give_the_class_away() -> None:
    """The best colour-only classifier (a histogram Bayes rule, fit on train) stays near chance on val."""
    train = build_dataset("synthetic", split="train", length=48)
    val = build_dataset("synthetic", split="val", length=16)
    q, c = 8, train.info.num_classes

    def binned(ds: SegmentationDataset) -> tuple[np.ndarray, np.ndarray]:
        images, masks = zip(*(ds.load_sample(i) for i in range(len(ds))), strict=True)
        x = np.stack(images).astype(np.int64) * q // 256
        return ((x[..., 0] * q + x[..., 1]) * q + x[..., 2]).ravel(), np.stack(masks).ravel().astype(np.int64)

    bins, labels = binned(train)
    hist = np.zeros((q**3, c))
    np.add.at(hist, (bins, labels), 1)
    rule = (hist / hist.sum(0)).argmax(1)  # class-balanced: the colour-only rule most favourable to mIoU
    bins, labels = binned(val)
    conf = np.bincount(labels * c + rule[bins], minlength=c * c).reshape(c, c)
    iou = np.diag(conf) / (conf.sum(0) + conf.sum(1) - np.diag(conf))
    assert np.nanmean(iou) < 0.25


def test_generation_is_fast() -> None:
    ds = build_dataset("synthetic", split="train", length=20)
    ds.load_sample(0)  # warm the coordinate grid cache
    best = min(_timed(lambda: [ds.load_sample(i) for i in range(20)]) for _ in range(3)) / 20
    assert best < 0.015, f"{best * 1e3:.1f} ms per {ds.size[0]}x{ds.size[1]} scene (expected a few ms)"


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
