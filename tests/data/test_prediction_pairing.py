"""``score`` pairs predictions named the ways other tools name them.

On the real layouts; and it refuses ambiguity.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segbench.cli import main
from segbench.data import build_dataset
from segbench.data.predictions import PredictionFolder, names_for_image
from tests.data.test_data_loaders import make_camvid, make_voc, rgb, write_png

CITYSCAPES_FRAMES = [("aachen", "aachen_000000_000019"), ("bonn", "bonn_000000_000019")]


def make_cityscapes_val(root: Path) -> None:
    label_ids = np.array([[7, 8, 11, 26], [7, 7, 24, 26], [8, 8, 24, 0]])  # road, sidewalk, building, car...
    for k, (city, stem) in enumerate(CITYSCAPES_FRAMES):
        write_png(root / "leftImg8bit" / "val" / city / f"{stem}_leftImg8bit.png", rgb(k, 3, 4))
        write_png(root / "gtFine" / "val" / city / f"{stem}_gtFine_labelIds.png", np.roll(label_ids, k, 1))


LAYOUTS = {
    "cityscapes": ("val", make_cityscapes_val),
    "voc": ("val", make_voc),
    "camvid": ("test", make_camvid),
}


def _perfect_predictions(dataset_name: str, root: Path, split: str, out: Path, name_for) -> None:
    """The ground truth itself (ignore pixels set to class 0), each at ``name_for(dataset, index)``."""
    ds = build_dataset(dataset_name, root, split)
    for i in range(len(ds)):
        mask = ds.load_mask(i).copy()
        mask[mask == ds.info.ignore_index] = 0
        write_png(out / f"{name_for(ds, i)}.png", mask)


def _image_named(ds, i: int) -> str:
    return ds.files[i][0].stem  # aachen_000000_000019_leftImg8bit, 2007_000032, test_000


def _in_subfolders(ds, i: int) -> str:
    image = ds.files[i][0]
    return f"{image.parent.name}/{image.stem}"  # val/aachen/... would do too; aachen/... is the deepest tail


def _in_split_and_city(ds, i: int) -> str:
    """The sample id under the last two image folders (``val/aachen/``; CamVid and VOC have one)."""
    folders = ds.files[i][0].parent.relative_to(ds.root).parts
    return "/".join([*folders[-2:], ds.stems[i]])


def _score(dataset: str, root: Path, split: str, preds: Path, capsys) -> tuple[int, str, str]:
    rc = main(["score", "--dataset", dataset, "--data-root", str(root), "--split", split,
               "--pred-dir", str(preds), "--format", "json"])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize("dataset", sorted(LAYOUTS))
@pytest.mark.parametrize("name_for", [_image_named, _in_subfolders, _in_split_and_city],
                         ids=["image-file-name", "image-subfolder", "split-subfolders"])
def test_score_finds_image_named_and_subfolder_predictions(dataset, name_for, tmp_path, capsys):
    split, make = LAYOUTS[dataset]
    root, preds = tmp_path / "data", tmp_path / "preds"
    make(root)
    _perfect_predictions(dataset, root, split, preds, name_for)
    rc, out, err = _score(dataset, root, split, preds, capsys)
    assert rc == 0, err
    assert json.loads(out)["pixel_acc"] == pytest.approx(100.0)


@pytest.mark.parametrize("dataset", sorted(LAYOUTS))
def test_two_predictions_for_one_image_is_an_error_naming_both(dataset, tmp_path, capsys):
    split, make = LAYOUTS[dataset]
    root, preds = tmp_path / "data", tmp_path / "preds"
    make(root)
    _perfect_predictions(dataset, root, split, preds, lambda ds, i: ds.stems[i])
    ds = build_dataset(dataset, root, split)
    duplicate = preds / f"{_in_split_and_city(ds, 0)}.png"
    write_png(duplicate, ds.load_mask(0))
    rc, _, err = _score(dataset, root, split, preds, capsys)
    assert rc != 0
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert str(preds / f"{ds.stems[0]}.png") in line and str(duplicate) in line, line


def test_cityscapes_id_and_image_name_both_present_is_ambiguous(tmp_path):
    make_cityscapes_val(tmp_path / "data")
    ds = build_dataset("cityscapes", tmp_path / "data", "val")
    preds = tmp_path / "preds"
    for name in ("aachen_000000_000019", "aachen_000000_000019_leftImg8bit"):
        write_png(preds / f"{name}.png", ds.load_mask(0))
    with pytest.raises(ValueError, match="two predictions match 'aachen_000000_000019'"):
        PredictionFolder(preds).find(ds.prediction_names(0))


def test_missing_prediction_names_the_sample_and_the_expected_file(tmp_path):
    (tmp_path / "preds").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no prediction for 'x' in .*preds \(expected x\.png"):
        PredictionFolder(tmp_path / "preds").find(("x",))


def test_names_cover_every_tail_of_the_image_folders(tmp_path):
    image = tmp_path / "leftImg8bit" / "val" / "aachen" / "a_0_1_leftImg8bit.png"
    names = names_for_image("a_0_1", image, tmp_path)
    assert names[:2] == ("a_0_1", "a_0_1_leftImg8bit")
    assert {"aachen/a_0_1", "val/aachen/a_0_1_leftImg8bit", "leftImg8bit/val/aachen/a_0_1"} <= set(names)
    assert names_for_image("s", Path("/elsewhere/s.png"), tmp_path) == ("s",)


def test_synthetic_predictions_are_named_by_sample_id(tmp_path):
    ds = build_dataset("synthetic", None, "test", size=16, length=2)
    assert ds.prediction_names(1) == ("test_00001",)
