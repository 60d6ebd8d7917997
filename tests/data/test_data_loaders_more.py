"""The datasets of the field since 2019, each on a tiny tree written in its official layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segbench.cli import main
from segbench.data import DATASETS, DatasetNotFoundError, UnknownSplitError, build_dataset, dataset_info
from segbench.data.cityscapes import Cityscapes
from segbench.data.coco_stuff import COCO_STUFF_IDS, NUM_THING_IDS, UNUSED_IDS, COCOStuff
from segbench.data.kitti import KITTISemantic
from segbench.data.mapillary import V1_2_LABELS, V2_0_LABELS
from tests.data.test_data_loaders import assert_one_line_naming, normalised, rgb, write_png


def write_jpg(path: Path, seed: int, h: int = 4, w: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb(seed, h, w)).save(path, quality=95)


# Published class counts, and the registry's paper metadata


@pytest.mark.parametrize(
    ("name", "classes"),
    [("mapillary_v1", 65), ("mapillary_v2", 116), ("coco_stuff", 171), ("kitti", 19), ("nyudv2", 40),
     ("sunrgbd", 37), ("cityscapes_coarse", 19)],
)  # fmt: skip
def test_class_counts_match_the_papers(name: str, classes: int) -> None:
    assert dataset_info(name).num_classes == classes and dataset_info(name).ignore_index == 255


def test_every_dataset_names_its_paper_and_year(capsys: pytest.CaptureFixture[str]) -> None:
    for name in DATASETS.names():
        meta = DATASETS.metadata(name)
        assert meta.get("paper") and meta.get("year"), name
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS.names())
    # mapillary_v2's year, its and COCO-Stuff's classes
    assert "2021" in out and "116" in out and "171" in out


# Mapillary Vistas


# The labels each official config marks ``evaluate: false``.
NOT_EVALUATED = {
    "v1.2": {"Unlabeled"},
    "v2.0": {"Ambiguous Barrier", "Person Group", "Lane Marking - Ambiguous", "Signage - Ambiguous",
             "Pole Group", "Traffic Sign - Ambiguous", "Vehicle Group", "Unlabeled"},
}  # fmt: skip


def vistas_config(labels: tuple[tuple[str, tuple[int, int, int]], ...], version: str) -> dict:
    """A config in the official shape: every label with name, readable, colour, instances, evaluate."""
    entries = [{"name": n.lower().replace(" ", "-"), "readable": n, "color": list(c), "instances": False,
                "evaluate": n not in NOT_EVALUATED[version]} for n, c in labels]  # fmt: skip
    return {"labels": entries, "version": version}


def make_vistas(root: Path) -> np.ndarray:
    """Both versions side by side, as the official archive ships them."""
    raw = np.array([[0, 1, 13, 64], [65, 66, 122, 123], [124, 200, 255, 5]], dtype=np.uint8)
    for folder, stems in (("training", ["a1", "b2"]), ("validation", ["c3"])):
        for k, stem in enumerate(stems):
            write_jpg(root / folder / "images" / f"{stem}.jpg", k, 3, 4)
            for version in ("v1.2", "v2.0"):
                write_png(root / folder / version / "labels" / f"{stem}.png", raw, palette=True)
    (root / "config_v1.2.json").write_text(json.dumps(vistas_config(V1_2_LABELS, "v1.2")))
    (root / "config_v2.0.json").write_text(json.dumps(vistas_config(V2_0_LABELS, "v2.0")))
    return raw


def test_vistas_tables() -> None:
    assert len(V1_2_LABELS) == 66 and len(V2_0_LABELS) == 124  # the published label counts
    assert V1_2_LABELS[-1][0] == V2_0_LABELS[-1][0] == "Unlabeled"
    v1, v2 = dataset_info("mapillary_v1"), dataset_info("mapillary_v2")
    assert v1.class_names[:3] == ("Bird", "Ground Animal", "Curb") and v1.class_names[-1] == "Ego Vehicle"
    assert v1.class_names[13] == "Road" and v1.palette[13] == (128, 64, 128)
    assert v2.class_names[20] == "Road" and v2.palette[20] == (128, 64, 128)  # Ambiguous Barrier left out
    assert v2.class_names[-1] == "Static" and v2.palette[-1] == (111, 111, 0)
    assert not NOT_EVALUATED["v2.0"] & set(v2.class_names) and v1.num_classes + 1 == len(V1_2_LABELS)
    assert v2.num_classes + len(NOT_EVALUATED["v2.0"]) == len(V2_0_LABELS)


def test_vistas_versions_read_their_own_labels(tmp_path: Path) -> None:
    raw = make_vistas(tmp_path)
    v1 = build_dataset("mapillary_v1", tmp_path, "train")
    assert v1.stems == ["a1", "b2"] and v1.files[0][1] == tmp_path / "training/v1.2/labels/a1.png"
    x, y = v1[1]
    assert x.shape == (3, 3, 4) and x.dtype == torch.float32
    expected_v1 = np.where(raw < 65, raw, 255)  # 65 = Unlabeled, and ids past the table
    assert torch.equal(y, torch.from_numpy(expected_v1).long())
    v2 = build_dataset("mapillary_v2", tmp_path, "val")
    assert v2.stems == ["c3"] and v2.files[0][1] == tmp_path / "validation/v2.0/labels/c3.png"
    # v2.0 leaves out ids 2, 31, 38, 79, 86, 96, 115 and 123 (Unlabeled), and renumbers the rest
    expected_v2 = np.array([[0, 1, 12, 61], [62, 63, 115, 255], [255, 255, 255, 4]])
    assert np.array_equal(v2.load_mask(0), expected_v2)


def test_vistas_config_of_another_version_is_one_line(tmp_path: Path) -> None:
    make_vistas(tmp_path)
    config = tmp_path / "config_v1.2.json"
    # the v2.0 ontology where v1.2 is expected
    config.write_text(json.dumps(vistas_config(V2_0_LABELS, "v2.0")))
    with pytest.raises(ValueError, match="124 vs 66 labels") as err:
        build_dataset("mapillary_v1", tmp_path, "train")
    assert_one_line_naming(err.value, config)
    assert "label 2 is ('Ambiguous Barrier'" in str(err.value) and "124 vs 66 labels" in str(err.value)
    flipped = vistas_config(V1_2_LABELS, "v1.2")
    flipped["labels"][-1]["evaluate"] = True  # Unlabeled scored: the class table would be wrong
    config.write_text(json.dumps(flipped))
    with pytest.raises(ValueError, match=r"label 65 is \('Unlabeled', \(0, 0, 0\), True\) there"):
        build_dataset("mapillary_v1", tmp_path, "train")
    config.write_text("{not json")
    with pytest.raises(ValueError, match="not a Vistas config"):
        build_dataset("mapillary_v1", tmp_path, "train")
    config.unlink()  # the config is checked where present, not required
    assert len(build_dataset("mapillary_v1", tmp_path, "train")) == 2


def test_vistas_missing_label_folder_is_named(tmp_path: Path) -> None:
    make_vistas(tmp_path)
    (tmp_path / "validation/v2.0/labels/c3.png").unlink()
    (tmp_path / "validation/v2.0/labels").rmdir()
    build_dataset("mapillary_v1", tmp_path, "val")  # v1.2 is unaffected
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("mapillary_v2", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "validation/v2.0/labels")
    assert "config_v2.0.json" in str(err.value)  # the expected layout is spelled out
    with pytest.raises(UnknownSplitError):
        build_dataset("mapillary_v1", tmp_path, "test")  # testing/ has no labels


# COCO-Stuff 164k


def test_coco_stuff_id_mapping() -> None:
    assert len(COCO_STUFF_IDS) == 182 and len(UNUSED_IDS) == 11
    info = dataset_info("coco_stuff")
    things = [n for i, n in enumerate(COCO_STUFF_IDS, 1) if i <= NUM_THING_IDS and i not in UNUSED_IDS]
    assert len(things) == 80 and info.class_names[:80] == tuple(things)  # 80 things, then 91 stuff
    assert info.class_names[79] == "toothbrush" and info.class_names[80] == "banner"
    assert info.class_names[-1] == "wood" and "street sign" not in info.class_names
    lut = COCOStuff.label_lut
    # PNG value = official id - 1: person 0, street sign (12) unused, stop sign (13) -> 11, ...
    pairs = {0: 0, 10: 10, 11: 255, 12: 11, 25: 255, 90: 255, 91: 80, 181: 170, 182: 255, 255: 255}
    assert {k: int(lut[k]) for k in pairs} == pairs
    unused = set(range(182)) - {k for k in range(182) if lut[k] != 255}
    assert sorted(unused) == sorted(i - 1 for i in UNUSED_IDS)
    assert sorted(int(v) for v in lut if v != 255) == list(range(171))


def test_coco_stuff_tiny_tree(tmp_path: Path) -> None:
    raw = np.array([[0, 11, 12, 91], [181, 255, 90, 43]], dtype=np.uint8)  # 43: bottle (id 44)
    for folder, stems in (("train2017", ["000000000009", "000000000025"]), ("val2017", ["000000000139"])):
        for stem in stems:
            write_jpg(tmp_path / "images" / folder / f"{stem}.jpg", 0, 2, 4)
            write_png(tmp_path / "annotations" / folder / f"{stem}.png", raw)
            # a toolkit's copy
            write_png(tmp_path / "annotations" / folder / f"{stem}_labelTrainIds.png", raw)
    train = build_dataset("coco_stuff", tmp_path, "train")
    assert train.stems == ["000000000009", "000000000025"]
    assert torch.equal(train[0][1], torch.tensor([[0, 255, 11, 80], [170, 255, 255, 39]]))
    val = build_dataset("coco_stuff", tmp_path, "val")
    assert val.stems == ["000000000139"]
    (tmp_path / "annotations/val2017/000000000139.png").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("coco_stuff", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "annotations/val2017/000000000139.png")


# KITTI


def test_kitti_reuses_cityscapes_mapping(tmp_path: Path) -> None:
    assert KITTISemantic.label_lut is Cityscapes.label_lut
    assert dataset_info("kitti").class_names == dataset_info("cityscapes").class_names
    label_ids = np.array([[0, 7, 8, 26], [33, 34, 24, 255]])
    for k, stem in enumerate(("000000_10", "000001_10")):
        write_png(tmp_path / "training/image_2" / f"{stem}.png", rgb(k, 2, 4))
        write_png(tmp_path / "training/semantic" / f"{stem}.png", label_ids)
        write_png(tmp_path / "training/semantic_rgb" / f"{stem}.png", rgb(k, 2, 4))  # colour maps: not labels
    write_png(tmp_path / "testing/image_2/000000_10.png", rgb(9, 2, 4))
    ds = build_dataset("kitti", tmp_path, "train")
    assert ds.stems == ["000000_10", "000001_10"]
    x, y = ds[1]
    torch.testing.assert_close(x, normalised(rgb(1, 2, 4)))
    assert torch.equal(y, torch.tensor([[255, 0, 1, 13], [18, 255, 11, 255]]))
    (tmp_path / "training/semantic/000001_10.png").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("kitti", tmp_path, "train")
    assert_one_line_naming(err.value, tmp_path / "training/semantic/000001_10.png")


# NYUDv2 and SUN RGB-D


@pytest.mark.parametrize(("name", "label_folder", "n"), [("nyudv2", "Label", 40), ("sunrgbd", "labels", 37)])
def test_rgbd_labels_shift_and_ignore_zero(tmp_path: Path, name: str, label_folder: str, n: int) -> None:
    raw = np.array([[0, 1, 2, n], [n + 1, 200, 255, 5]], dtype=np.uint8)
    for stem in ("1", "2", "10"):
        write_jpg(tmp_path / "RGB" / f"{stem}.jpg", 0, 2, 4)
        write_png(tmp_path / label_folder / f"{stem}.png", raw)
    (tmp_path / "train.txt").write_text("RGB/10.jpg\nRGB/1.jpg\n")  # DFormer's lines, in list order
    (tmp_path / "test.txt").write_text("2\n")  # a bare id works too
    train = build_dataset(name, tmp_path, "train")
    assert train.stems == ["10", "1"]
    x, y = train[0]
    assert x.shape == (3, 2, 4)
    assert torch.equal(y, torch.tensor([[255, 0, 1, n - 1], [255, 255, 255, 4]]))
    assert build_dataset(name, tmp_path, "test").stems == ["2"]
    (tmp_path / "RGB/2.jpg").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset(name, tmp_path, "test")
    assert_one_line_naming(err.value, tmp_path / "RGB/2.jpg")
    (tmp_path / "train.txt").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset(name, tmp_path, "train")
    assert_one_line_naming(err.value, tmp_path / "train.txt")


def test_rgbd_class_tables() -> None:
    nyu, sun = dataset_info("nyudv2"), dataset_info("sunrgbd")
    assert nyu.class_names[:3] == ("wall", "floor", "cabinet") and nyu.class_names[-1] == "otherprop"
    assert sun.class_names == nyu.class_names[:37] and sun.class_names[-1] == "bag"
    assert sun.palette == nyu.palette[:37] and nyu.palette[0] == (128, 0, 0)  # stored label 1's VOC colour


# Cityscapes coarse


def test_cityscapes_coarse_splits(tmp_path: Path) -> None:
    frames = {"train": [("aachen", "aachen_000000_000019")], "train_extra": [
        ("augsburg", "augsburg_000000_000000"), ("bad-honnef", "bad-honnef_000000_000000")]}  # fmt: skip
    label_ids = np.array([[7, 26, 0], [33, 24, 1]])
    for part, items in frames.items():
        for k, (city, stem) in enumerate(items):
            write_png(tmp_path / "leftImg8bit" / part / city / f"{stem}_leftImg8bit.png", rgb(k, 2, 3))
            write_png(tmp_path / "gtCoarse" / part / city / f"{stem}_gtCoarse_labelIds.png", label_ids)
    write_png(tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png", np.zeros((2, 3)))
    train = build_dataset("cityscapes_coarse", tmp_path, "train")
    assert train.files[0][1].name == "aachen_000000_000019_gtCoarse_labelIds.png"
    assert torch.equal(train[0][1], torch.tensor([[0, 13, 255], [18, 11, 255]]))
    everything = build_dataset("cityscapes_coarse", tmp_path, "train_all")
    assert everything.stems == ["aachen_000000_000019", "augsburg_000000_000000", "bad-honnef_000000_000000"]
    assert len(build_dataset("cityscapes", tmp_path, "train")) == 1  # the fine set still reads gtFine
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("cityscapes_coarse", tmp_path, "val")
    assert_one_line_naming(err.value, tmp_path / "leftImg8bit" / "val")
    assert "gtCoarse/" in str(err.value)
