"""Bad files handed in are one line naming the file and the rule broken.

Exit 2, no traceback, nothing lost.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segbench.cli import main
from segbench.data import build_dataset
from segbench.models import build_model
from segbench.results import KEY_COLUMNS, TABLE_COLUMNS
from segbench.train import TrainConfig, Trainer
from tests.conftest import assert_one_line
from tests.data.test_data_loaders import make_camvid, rgb, write_png


def _png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


# --------------------------------------------------------------------------- images and labels


def _spoil(root: Path, split: str, defect: str) -> tuple[Path, str]:
    """Damage sample 0 of ``split`` in a tiny CamVid tree; return the file to blame and the rule's words."""
    image, label = root / split / f"{split}_000.png", root / f"{split}annot" / f"{split}_000.png"
    if defect == "corrupt image":
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
        return image, "not an image file"
    if defect == "truncated image":
        image.write_bytes(_png_bytes(rgb(3, 40, 60))[:300])
        return image, "corrupt or truncated"
    if defect == "label not a PNG":
        label.write_bytes(_png_bytes(np.zeros((4, 6)), "JPEG"))
        return label, "is a JPEG file, not a PNG"
    if defect == "label of another size":
        write_png(label, np.zeros((5, 7)))
        return label, "is 5x7 but its image is 4x6"
    if defect == "label out of range":
        write_png(label, np.full((4, 6), 40))
        return label, "class id(s) 40 outside [0, 11) or 11 (ignore)"
    assert defect == "RGB label"
    write_png(label, rgb(5))
    return label, "is mode RGB"


DATA_DEFECTS = ["corrupt image", "truncated image", "label not a PNG", "label of another size",
                "label out of range", "RGB label"]


@pytest.fixture
def camvid(tmp_path) -> Path:
    root = tmp_path / "camvid"
    make_camvid(root)
    return root


@pytest.fixture(scope="module")
def camvid_checkpoint(tmp_path_factory) -> Path:
    """An untrained mobilenet+skip checkpoint for CamVid's 11 classes, as segbench writes it."""
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    spec = {"encoder": "mobilenet", "decoder": "skip", "num_classes": 11, "dataset": "camvid"}
    torch.save({"model": build_model("mobilenet", "skip", num_classes=11).state_dict(), "model_spec": spec,
                "config": {}}, path)
    return path


@pytest.mark.parametrize("defect", DATA_DEFECTS)
def test_train_on_a_bad_sample_is_one_line(defect, camvid, tmp_path, capsys):
    blamed, rule = _spoil(camvid, "train", defect)
    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--dataset", "camvid", "--data-root",
               str(camvid), "--device", "cpu", "--out", str(tmp_path / "out")])
    assert_one_line(capsys, rc, blamed, rule, progress=True)


@pytest.mark.parametrize("defect", DATA_DEFECTS)
def test_eval_on_a_bad_sample_is_one_line(defect, camvid, camvid_checkpoint, capsys):
    blamed, rule = _spoil(camvid, "test", defect)
    rc = main(["eval", "--checkpoint", str(camvid_checkpoint), "--data-root", str(camvid), "--split", "test",
               "--device", "cpu"])
    assert_one_line(capsys, rc, blamed, rule)


def _predictions(camvid: Path, folder: Path) -> Path:
    """Perfect predictions for the test split: the labels themselves (void 11 read as class 0)."""
    folder.mkdir()
    for label in (camvid / "testannot").glob("*.png"):
        ids = np.array(Image.open(label)) % 11
        write_png(folder / label.name, ids)
    return folder / "test_000.png"


@pytest.mark.parametrize(("defect", "rule"), [
    ("corrupt", "is not an image file"),
    ("truncated", "corrupt or truncated"),
    ("out of range", "predictions span [0, 99]"),
    ("label of another size", "is 5x7 but its image is 4x6"),
])
def test_score_names_the_file_at_fault(defect, rule, camvid, tmp_path, capsys):
    pred = _predictions(camvid, tmp_path / "pred")
    blamed = pred
    if defect == "corrupt":
        pred.write_bytes(b"garbage" * 20)
    elif defect == "truncated":
        pred.write_bytes(_png_bytes(np.zeros((40, 60)))[:60])
    elif defect == "out of range":
        write_png(pred, np.full((4, 6), 99))
    else:  # the label is at fault, not the prediction made at the label's size
        blamed = camvid / "testannot" / "test_000.png"
        write_png(blamed, np.zeros((5, 7)))
        write_png(pred, np.zeros((5, 7)))
    rc = main(["score", "--dataset", "camvid", "--data-root", str(camvid), "--split", "test",
               "--pred-dir", str(tmp_path / "pred")])
    err = assert_one_line(capsys, rc, blamed, rule)
    if blamed != pred:
        assert str(pred) not in err


def test_score_of_good_predictions_still_works(camvid, tmp_path, capsys):
    _predictions(camvid, tmp_path / "pred")
    assert main(["score", "--dataset", "camvid", "--data-root", str(camvid), "--split", "test",
                 "--pred-dir", str(tmp_path / "pred"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["pixel_acc"] == 100.0


# ------------------------------------------------------------------ tables, records, run.json, suites


def _run(tmp_path: Path, record: str | bytes | None = None, table: str | bytes | None = None,
         run_json: str | bytes | None = None) -> Path:
    """A run directory holding exactly the given files."""
    run = tmp_path / "run"
    run.mkdir()
    for rel, content in (("cells/a.json", record), ("table.csv", table), ("run.json", run_json)):
        if content is not None:
            (run / rel).parent.mkdir(exist_ok=True)
            (run / rel).write_bytes(content.encode() if isinstance(content, str) else content)
    return run


GOOD_TABLE = ",".join(TABLE_COLUMNS) + "\n"
ROW = dict.fromkeys(TABLE_COLUMNS, "") | {"encoder": "resnet18", "decoder": "skip", "input_h": 64,
                                          "input_w": 64, "miou": 50.0, "status": "ok"}
ONE_ROW_TABLE = GOOD_TABLE + ",".join(str(ROW[c]) for c in TABLE_COLUMNS) + "\n"


@pytest.mark.parametrize(("case", "command", "files", "blamed", "rule"), [
    ("record is a list", "plot", {"record": "[1, 2]"}, "cells/a.json",
     "holds a JSON list; expected an object"),
    ("record is a list", "compare", {"record": "[]"}, "cells/a.json",
     "holds a JSON list; expected an object"),
    ("record not JSON", "plot", {"record": "{\"cell_id\": "}, "cells/a.json", "is not valid JSON"),
    ("record not UTF-8", "compare", {"record": b"\xff\xfe{}"}, "cells/a.json", "is not UTF-8"),
    ("table lacks columns", "table", {"table": "encoder,miou\nresnet18,50\n"}, "table.csv",
     "lacks the column(s) decoder"),
    ("table not UTF-8", "table", {"table": b"encoder\n\xff\xfe\n"}, "table.csv", "is not UTF-8"),
    ("table empty", "table", {"table": ""}, "table.csv", "is empty"),
    ("run.json not JSON", "compare", {"table": GOOD_TABLE, "run_json": "{"}, "run.json", "is not valid JSON"),
    ("run.json not UTF-8", "table", {"table": ONE_ROW_TABLE, "run_json": b"\xff"}, "run.json",
     "is not UTF-8"),
])
def test_bad_run_files_are_one_line(case, command, files, blamed, rule, tmp_path, capsys):
    run = _run(tmp_path, **files)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    args = {"plot": ["plot", str(run), "--out", str(tmp_path / "fig")],
            "compare": ["compare", str(run), str(run)],
            "table": ["table", str(run), "--long", "--format", "latex"]}[command]
    assert_one_line(capsys, main(args), run / blamed, rule)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing lost or changed


def test_a_suite_that_is_not_utf8_is_one_line(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_bytes(b"[suite]\nname = \"\xff\"\n")
    assert_one_line(capsys, main(["run", str(suite), "--out", str(tmp_path / "r")]), suite, "is not UTF-8")


def test_an_empty_suite_does_not_blame_the_filters(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text('[suite]\nname = "empty"\n'
                     '[grid]\nencoders = ["mobilenet"]\ndecoders = ["skip"]\nsizes = []\n')
    err = assert_one_line(capsys, main(["run", str(suite), "--out", str(tmp_path / "r")]))
    assert "--include" not in err and "[grid] sizes: must be a non-empty list" in err


def test_table_keeps_reading_a_good_table(tmp_path, capsys):
    run = _run(tmp_path, table=ONE_ROW_TABLE)
    assert main(["table", str(run)]) == 0
    assert "50.0" in capsys.readouterr().out and set(KEY_COLUMNS) <= set(TABLE_COLUMNS)


# --------------------------------------------------------------------------- train with a changed recipe


def _checkpoint_of_another_recipe(out: Path) -> None:
    train = build_dataset("synthetic", split="train", size=32, length=2)
    spec = {"encoder": "mobilenet", "decoder": "skip", "num_classes": 8, "dataset": "synthetic",
            "fingerprint": "0" * 16}
    model = build_model("mobilenet", "skip", num_classes=8)
    Trainer(model, train, None, TrainConfig(iterations=1, batch_size=2), torch.device("cpu"), out,
            model_spec=spec).save(best=True)


TRAIN = ["train", "--encoder", "mobilenet", "--decoder", "skip", "--device", "cpu", "--lr", "0.5"]


def test_train_refuses_to_overwrite_another_recipe(tmp_path, capsys):
    out = tmp_path / "t"
    _checkpoint_of_another_recipe(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    err = assert_one_line(capsys, main([*TRAIN, "--out", str(out)]), out / "last.pt",
                          "another model or recipe")
    assert "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_train_overwrite_replaces_the_old_run(tmp_path, capsys, monkeypatch):
    out = tmp_path / "t"
    _checkpoint_of_another_recipe(out)

    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupt)
    assert main([*TRAIN, "--out", str(out), "--overwrite"]) == 130
    assert list(out.iterdir()) == []  # the old checkpoints and log are gone, not mixed with the new run
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.slow  # starts a loader worker process (seconds on a shared CPU)
def test_a_bad_file_in_a_loader_worker_is_still_one_line(camvid):
    """torch re-raises a worker's error with its traceback as the message; the one line survives."""
    from torch.utils.data import DataLoader

    from segbench.inputs import BadFileError

    blamed, rule = _spoil(camvid, "train", "corrupt image")
    with pytest.raises(BadFileError) as caught:
        next(iter(DataLoader(build_dataset("camvid", camvid, "train"), num_workers=1)))
    assert str(caught.value) == f"image {blamed} is {rule} PIL can read"
