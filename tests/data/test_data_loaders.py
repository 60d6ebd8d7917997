"""Real-dataset loaders on tiny trees in their official layouts, and CamVid itself where present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segbench.data import (
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DatasetNotFoundError,
    FileDataset,
    UnknownSplitError,
    build_dataset,
    class_pixel_counts,
    dataset_info,
    median_frequency_weights,
)
from segbench.data.base import bitwise_palette
from segbench.data.cityscapes import Cityscapes

# Every dataset read from disk (all but the synthetic one): the registry-wide error tests cover each.
FILE_DATASETS = [n for n in DATASETS.names() if issubclass(DATASETS.get(n), FileDataset)]


def write_png(path: Path, array: np.ndarray, palette: bool = False) -> None:
    """A PNG of ``array`` (uint8); ``palette`` stores a 2-D array as a VOC-style palette PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array.astype(np.uint8))
    if palette:
        image.putpalette([c for colour in bitwise_palette(256) for c in colour])  # L -> P, indices kept
    image.save(path)


def rgb(seed: int, h: int = 4, w: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def normalised(image: np.ndarray) -> torch.Tensor:
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - mean) / std


def assert_one_line_naming(err: BaseException, path: Path) -> None:
    message = str(err)
    assert "\n" not in message and str(path) in message, message


# Registry-wide


@pytest.mark.parametrize("name", DATASETS.names())
def test_info_is_consistent(name: str) -> None:
    info = dataset_info(name)
    assert info.name == name and info is DATASETS.get(name).info
    assert len(info.class_names) == len(set(info.class_names)) == len(info.palette) == info.num_classes
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in info.palette)
    assert not 0 <= info.ignore_index < info.num_classes


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_missing_root_is_one_line_naming_it(name: str, tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset(name, root, dataset_info(name).splits[0])
    assert_one_line_naming(err.value, root)
    assert isinstance(err.value, FileNotFoundError) and "expected" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match="no root given"):
        build_dataset(name, None, dataset_info(name).splits[0])


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_empty_root_names_the_first_missing_folder(name: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset(name, tmp_path, dataset_info(name).splits[0])
    message = str(err.value)
    assert "\n" not in message and f"missing {tmp_path}/" in message, message


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_unknown_split_names_the_valid_ones(name: str, tmp_path: Path) -> None:
    with pytest.raises(UnknownSplitError) as err:
        build_dataset(name, tmp_path, "bogus")
    assert ", ".join(dataset_info(name).splits) in str(err.value)


# CamVid


def make_camvid(root: Path) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """2 train, 1 val, 1 test sample of 4x6; labels use every id incl. 11 (void)."""
    samples: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for split, n in (("train", 2), ("val", 1), ("test", 1)):
        samples[split] = []
        for i in range(n):
            stem = f"{split}_{i:03d}"
            image = rgb(len(samples) * 10 + i)
            label = (np.arange(24).reshape(4, 6) + i) % 12
            write_png(root / split / f"{stem}.png", image)
            write_png(root / f"{split}annot" / f"{stem}.png", label)
            samples[split].append((stem, image, label))
    return samples


def test_camvid_tiny_tree(tmp_path: Path) -> None:
    samples = make_camvid(tmp_path)
    for split, expected in samples.items():
        ds = build_dataset("camvid", tmp_path, split)
        assert len(ds) == len(expected) and ds.stems == [stem for stem, _, _ in expected]
        for i, (_, image, label) in enumerate(expected):
            x, y = ds[i]
            assert x.dtype == torch.float32 and y.dtype == torch.int64 and y.shape == (4, 6)
            torch.testing.assert_close(x, normalised(image))
            assert torch.equal(y, torch.from_numpy(label).long())  # 11 stays 11: it is the ignore index
            assert np.array_equal(ds.load_mask(i), label)
    trainval = build_dataset("camvid", tmp_path, "trainval")
    assert trainval.stems == ["train_000", "train_001", "val_000"]
    assert [img.parent.name for img, _ in trainval.files] == ["train", "train", "val"]


def test_camvid_missing_annotation_folder(tmp_path: Path) -> None:
    make_camvid(tmp_path)
    for path in (tmp_path / "valannot").iterdir():
        path.unlink()
    (tmp_path / "valannot").rmdir()
    build_dataset("camvid", tmp_path, "train")  # other splits are unaffected
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("camvid", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "valannot")
    assert "trainannot/" in str(err.value)  # the message spells out the expected layout


def test_camvid_unmatched_files_are_named(tmp_path: Path) -> None:
    make_camvid(tmp_path)
    write_png(tmp_path / "train" / "zz_extra.png", rgb(9))
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("camvid", tmp_path, "train")
    assert_one_line_naming(err.value, tmp_path / "train" / "zz_extra.png")
    (tmp_path / "train" / "zz_extra.png").unlink()
    write_png(tmp_path / "testannot" / "orphan.png", np.zeros((4, 6)))
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("camvid", tmp_path, "test")
    assert_one_line_naming(err.value, tmp_path / "testannot" / "orphan.png")


def test_rgb_label_is_rejected_clearly(tmp_path: Path) -> None:
    make_camvid(tmp_path)
    write_png(tmp_path / "testannot" / "test_000.png", rgb(1))
    with pytest.raises(ValueError, match="single-channel"):
        build_dataset("camvid", tmp_path, "test")[0]


# Cityscapes


def test_cityscapes_lut_is_the_standard_mapping() -> None:
    table = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
             24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
    lut = Cityscapes.label_lut
    assert lut.shape == (256,) and lut.dtype == np.uint8
    assert [int(v) for v in lut] == [table.get(i, 255) for i in range(256)]


def test_cityscapes_tiny_tree(tmp_path: Path) -> None:
    label_ids = np.array([[0, 1, 4, 7, 8, 11], [12, 13, 17, 19, 20, 21], [22, 23, 24, 25, 26, 27],
                          [28, 31, 32, 33, 34, 255]])  # fmt: skip
    train_ids = np.array([[255, 255, 255, 0, 1, 2], [3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14],
                          [15, 16, 17, 18, 255, 255]])  # fmt: skip
    frames = [
        ("aachen", "aachen_000000_000019"),
        ("aachen", "aachen_000001_000019"),
        ("bonn", "bonn_000000_000019"),
    ]
    for k, (city, stem) in enumerate(frames):
        write_png(tmp_path / "leftImg8bit" / "train" / city / f"{stem}_leftImg8bit.png", rgb(k))
        gt = tmp_path / "gtFine" / "train" / city
        write_png(gt / f"{stem}_gtFine_labelIds.png", np.roll(label_ids, k, 1))
        write_png(gt / f"{stem}_gtFine_color.png", rgb(k))  # not a label: must not be picked up
    ds = build_dataset("cityscapes", tmp_path, "train")
    assert len(ds) == 3 and ds.stems == [stem for _, stem in frames]
    for k in range(3):
        x, y = ds[k]
        assert x.shape == (3, 4, 6) and y.dtype == torch.int64
        torch.testing.assert_close(x, normalised(rgb(k)))
        assert torch.equal(y, torch.from_numpy(np.roll(train_ids, k, 1)).long())

    write_png(tmp_path / "leftImg8bit" / "train" / "bonn" / "bonn_000009_000019_leftImg8bit.png", rgb(5))
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("cityscapes", tmp_path, "train")
    assert_one_line_naming(err.value, tmp_path / "leftImg8bit/train/bonn/bonn_000009_000019_leftImg8bit.png")
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("cityscapes", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "leftImg8bit" / "val")


# PASCAL VOC


def make_voc(root: Path) -> np.ndarray:
    label = np.full((5, 7), 255, dtype=np.uint8)  # a 255 (boundary/ignore) frame
    label[1:-1, 1:-1] = np.array([[0, 1, 2, 3, 4], [5, 15, 15, 20, 0], [0, 0, 7, 7, 9]])
    for k, stem in enumerate(("2007_000032", "2007_000039", "2008_000002")):
        path = root / "JPEGImages" / f"{stem}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb(k, 5, 7)).save(path, quality=95)
        shifted = np.where(label == 255, 255, (label + k) % 21)
        write_png(root / "SegmentationClass" / f"{stem}.png", shifted, palette=True)
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("2007_000032\n2007_000039\n")
    (sets / "val.txt").write_text("2008_000002\n")
    (sets / "trainval.txt").write_text("2007_000032\n2007_000039\n2008_000002\n")
    return label


def test_voc_palette_pngs_give_class_ids(tmp_path: Path) -> None:
    label = make_voc(tmp_path)
    assert Image.open(tmp_path / "SegmentationClass" / "2007_000032.png").mode == "P"
    ds = build_dataset("voc", tmp_path, "train")
    assert len(ds) == 2 and ds.stems == ["2007_000032", "2007_000039"]
    x, y = ds[0]
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    assert torch.equal(y, torch.from_numpy(label).long())
    assert (y[0] == 255).all() and (y[:, -1] == 255).all()
    assert torch.equal(ds[1][1][2, 1:-1], torch.tensor([6, 16, 16, 0, 1]))
    assert len(build_dataset("voc", tmp_path, "val")) == 1
    assert len(build_dataset("voc", tmp_path, "trainval")) == 3


def test_voc_train_aug_reads_segmentation_class_aug(tmp_path: Path) -> None:
    make_voc(tmp_path)
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("voc", tmp_path, "train_aug")
    assert_one_line_naming(err.value, tmp_path / "ImageSets/Segmentation/train_aug.txt")
    # DeepLab's list format: "/JPEGImages/x.jpg /SegmentationClassAug/x.png"
    (tmp_path / "ImageSets/Segmentation/train_aug.txt").write_text(
        "/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png\n"
        "/JPEGImages/2008_000002.jpg /SegmentationClassAug/2008_000002.png\n"
    )
    fallback = build_dataset("voc", tmp_path, "train_aug")  # no SegmentationClassAug/ yet
    assert fallback.files[0][1].parent.name == "SegmentationClass"
    aug = np.full((5, 7), 3, dtype=np.uint8)
    for stem in ("2007_000032", "2008_000002"):
        write_png(tmp_path / "SegmentationClassAug" / f"{stem}.png", aug)  # grey-scale ids
    ds = build_dataset("voc", tmp_path, "train_aug")
    assert ds.stems == ["2007_000032", "2008_000002"]
    assert torch.equal(ds[1][1], torch.full((5, 7), 3))
    assert build_dataset("voc", tmp_path, "train").files[0][1].parent.name == "SegmentationClass"


def test_voc_missing_files_are_named(tmp_path: Path) -> None:
    make_voc(tmp_path)
    (tmp_path / "SegmentationClass" / "2007_000039.png").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("voc", tmp_path, "train")
    assert_one_line_naming(err.value, tmp_path / "SegmentationClass" / "2007_000039.png")
    (tmp_path / "JPEGImages" / "2008_000002.jpg").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("voc", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "JPEGImages" / "2008_000002.jpg")


# ADE20K


def test_ade20k_ignores_other_and_shifts_labels(tmp_path: Path) -> None:
    raw = np.array([[0, 1, 2, 3], [50, 149, 150, 0], [151, 200, 255, 7]])
    expected = np.array([[255, 0, 1, 2], [49, 148, 149, 255], [255, 255, 255, 6]])
    for folder, stems in (("training", ["ADE_train_00000001", "ADE_train_00000002"]),
                          ("validation", ["ADE_val_00000001"])):  # fmt: skip
        for stem in stems:
            path = tmp_path / "images" / folder / f"{stem}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb(0, 3, 4)).save(path)
            write_png(tmp_path / "annotations" / folder / f"{stem}.png", raw)
    train, val = build_dataset("ade20k", tmp_path, "train"), build_dataset("ade20k", tmp_path, "val")
    assert (len(train), len(val)) == (2, 1) and val.stems == ["ADE_val_00000001"]
    x, y = train[1]
    assert x.shape == (3, 3, 4) and y.dtype == torch.int64
    assert torch.equal(y, torch.from_numpy(expected).long())
    assert np.array_equal(val.load_mask(0), expected)
    (tmp_path / "annotations" / "validation" / "ADE_val_00000001.png").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("ade20k", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "annotations" / "validation" / "ADE_val_00000001.png")


def test_class_tables() -> None:
    ade = dataset_info("ade20k")
    assert ade.num_classes == 150 and ade.class_names[:5] == ("wall", "building", "sky", "floor", "tree")
    assert ade.class_names[-1] == "flag" and not any(n.startswith("class_") for n in ade.class_names)
    city = dataset_info("cityscapes")
    assert city.class_names[0] == "road" and city.palette[0] == (128, 64, 128)
    assert city.class_names[18] == "bicycle" and city.palette[18] == (119, 11, 32)
    voc = dataset_info("voc")
    assert voc.class_names[15] == "person" and voc.palette[15] == (192, 128, 128)
    assert voc.palette[:3] == ((0, 0, 0), (128, 0, 0), (0, 128, 0))
    camvid = dataset_info("camvid")
    assert camvid.ignore_index == 11 and camvid.num_classes == 11
    assert camvid.class_names[4] == "Pavement" and camvid.palette[4] == (60, 40, 222)


def test_median_frequency_weights_by_hand() -> None:
    # 2 images of 4 pixels, 3 classes, 9 = ignore. Class 0: 3 px over images 1+2 (8 px) -> 3/8;
    # class 1: 1 px in image 1 (4 px) -> 1/4; class 2: 2 px in image 2 -> 2/4. Median 3/8.
    masks = [np.array([[0, 0], [1, 9]]), np.array([[0, 2], [2, 9]])]
    weights = median_frequency_weights(masks, num_classes=3, ignore_index=9)
    torch.testing.assert_close(weights, torch.tensor([1.0, 1.5, 0.75]))
    assert median_frequency_weights([np.zeros((2, 2))], 3, 9).tolist() == [1.0, 0.0, 0.0]  # absent -> 0


# The real CamVid (SegNet version), when present

README_PIXEL_COUNTS = [10682767, 14750079, 623349, 20076880, 2845085, 6166762,
                       743859, 714595, 3719877, 405385, 184967, 2503995]  # fmt: skip
SEGNET_WEIGHTS = [0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614]
SIGN_SYMBOL = 6


@pytest.fixture(scope="module")
def camvid_train_masks(camvid_root: Path) -> list[np.ndarray]:
    ds = build_dataset("camvid", camvid_root, "train")
    return [ds.load_mask(i) for i in range(len(ds))]


def test_camvid_real_splits(camvid_root: Path) -> None:
    splits = ("train", "val", "test", "trainval")
    sizes = {split: len(build_dataset("camvid", camvid_root, split)) for split in splits}
    assert sizes == {"train": 367, "val": 101, "test": 233, "trainval": 468}
    ds = build_dataset("camvid", camvid_root, "test")
    x, y = ds[0]
    assert x.shape == (3, 360, 480) and x.dtype == torch.float32
    assert y.shape == (360, 480) and y.dtype == torch.int64 and y.min() >= 0 and y.max() <= 11
    assert ds.stems[0] == ds.files[0][0].stem == ds.files[0][1].stem


def test_camvid_real_pixel_counts_match_readme(camvid_train_masks: list[np.ndarray]) -> None:
    counts = class_pixel_counts(camvid_train_masks)
    assert counts[:12].tolist() == README_PIXEL_COUNTS and counts[12:].sum() == 0


def test_camvid_real_weights_against_segnet(camvid_train_masks: list[np.ndarray]) -> None:
    """SegNet's published weights, re-derived as far as they can be.

    They do not say how the median was taken (here over the 11 classes; the
    published values fit a median that also counts void), so compare up to
    one common scale: 10 of 11 classes then agree within +-9% (ratios within
    a factor 1.2 of each other). SignSymbol is the exception: the published
    9.6446 is 2.5x what these labels give (3.85), a discrepancy others have
    reported too (alexgkendall/caffe-segnet#37).
    """
    weights = median_frequency_weights(camvid_train_masks, 11, 11).numpy()
    ratio = weights / np.array(SEGNET_WEIGHTS)
    others = np.delete(ratio, SIGN_SYMBOL)
    assert others.max() / others.min() < 1.2
    assert ratio[SIGN_SYMBOL] < 0.45 * others.min()
    assert weights[4] == pytest.approx(1.0)  # the median class (Pavement) gets weight 1


@pytest.mark.xfail(
    strict=True, reason="SegNet's published weights are not reproducible to 2% from these labels"
)
def test_camvid_real_weights_within_two_percent_of_segnet(camvid_train_masks: list[np.ndarray]) -> None:
    weights = median_frequency_weights(camvid_train_masks, 11, 11).numpy()
    np.testing.assert_allclose(weights, SEGNET_WEIGHTS, rtol=0.02)
