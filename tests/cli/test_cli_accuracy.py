"""Accuracy through the CLI: grid with a dataset, train, eval and score."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from segbench.cli import main
from segbench.data import build_dataset
from tests.conftest import FAST_CLI

TINY_TRAIN = ["--iterations", "3", "--train-batch-size", "2", "--size", "64x64"]


def test_grid_trains_and_scores_each_cell(tmp_path):
    out = tmp_path / "run"
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", "skip,unet", "--dataset", "synthetic",
               "--device", "cpu", "--out", str(out), *TINY_TRAIN, *FAST_CLI])
    assert rc == 0
    table = pd.read_csv(out / "table.csv")
    assert set(table["status"]) == {"ok"}
    assert table["miou"].between(0, 100).all() and table["pixel_acc"].between(0, 100).all()
    assert (table["dataset"] == "synthetic").all() and (table["train_iters"] == 3).all()
    assert (table["num_classes"] == 8).all()  # the dataset's, not --num-classes
    record = json.loads(next((out / "cells").glob("*.json")).read_text())
    assert len(record["per_class_iou"]) == 8 and record["train_split"] == "train"
    assert (out / "train" / record["cell_id"] / "log.csv").is_file()


def test_profile_only_has_no_accuracy(tmp_path):
    out = tmp_path / "run"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--profile-only", "--size", "64x64",
                 "--device", "cpu", "--out", str(out), *FAST_CLI]) == 0
    table = pd.read_csv(out / "table.csv")
    assert table["miou"].isna().all() and table["gflops"].notna().all()


def test_train_then_eval_agree(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--iterations", "2",
                 "--train-batch-size", "2", "--device", "cpu", "--out", str(out)]) == 0
    trained = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--device", "cpu", "--format", "json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["miou"] == pytest.approx(trained["miou"])
    assert evaluated["class_names"][0] == "background"


def _write_predictions(folder, dataset, corrupt=0):
    folder.mkdir()
    for i, stem in enumerate(dataset.stems):
        mask = dataset.load_mask(i).copy()
        if i < corrupt:
            mask[:] = 1
        Image.fromarray(mask.astype(np.uint8)).save(folder / f"{stem}.png")


def test_score_a_prediction_folder(tmp_path, capsys):
    ds = build_dataset("synthetic", split="val")
    _write_predictions(tmp_path / "perfect", ds)
    assert main(["score", "--dataset", "synthetic", "--split", "val", "--pred-dir",
                 str(tmp_path / "perfect"), "--format", "json"]) == 0
    perfect = json.loads(capsys.readouterr().out)
    assert perfect["miou"] == 100.0 and len(perfect["per_class_iou"]) == 8

    _write_predictions(tmp_path / "some_wrong", ds, corrupt=5)
    assert main(["score", "--dataset", "synthetic", "--split", "val", "--pred-dir",
                 str(tmp_path / "some_wrong"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["miou"] < 100.0


def test_score_names_a_missing_prediction(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["score", "--dataset", "synthetic", "--split", "val",
                 "--pred-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no prediction for 'val_00000'") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--dataset", "camvid"], "dataset 'camvid' needs --data-root"),
     (["--dataset", "camvid", "--data-root", "/no/such/dir"], "camvid: missing /no/such/dir"),
     (["--dataset", "nosuchset"], "unknown dataset 'nosuchset'; valid: "),
     (["--eval-split", "bogus"], "unknown split 'bogus'; valid: train, val, test"),
     (["--optimizer", "lamb"], "unknown optimizer 'lamb'"),
     (["--profile-only", "--dataset", "synthetic"], "drop --dataset or --profile-only")],
)
def test_bad_data_options_are_one_line(args, message, capsys, tmp_path):
    assert main(["grid", *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_interrupted_cell_resumes_its_training_only_with_the_same_recipe(tmp_path):
    from segbench.cell import CellConfig, run_cell, with_training
    from segbench.options import data_choice
    from segbench.train import TrainConfig
    from tests.conftest import FAST_TIMING

    data = data_choice("synthetic", None, options={"size": 32, "length": 8})
    base = CellConfig("mobilenet", "skip", 32, 32, num_classes=8)
    cell = with_training(base, data, TrainConfig(epochs=2, batch_size=4))

    def stop_after_epoch_1(event):
        if event.val_miou is not None and event.iteration == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(cell, FAST_TIMING, tmp_path, stop_after_epoch_1)
    first_epoch = torch.load(tmp_path / "last.pt", weights_only=True)["state"]["history"][0]
    record = run_cell(cell, FAST_TIMING, tmp_path)
    assert record["status"] == "ok" and record["train_iters"] == 4
    assert record["train_history"][0] == first_epoch  # epoch 1 kept (its timing too), not retrained

    changed = with_training(base, data, TrainConfig(epochs=2, batch_size=4, lr=0.01))
    fresh = run_cell(changed, FAST_TIMING, tmp_path)
    assert fresh["train_iters"] == 4
    assert fresh["train_history"][0]["loss"] != record["train_history"][0]["loss"]


def test_an_empty_val_split_trains_without_validation(tmp_path):
    out = tmp_path / "t"
    assert main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--iterations", "2", "--train-batch-size", "2",
                 "--val-split", "", "--device", "cpu", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_split"] is None and metrics["best_val_miou"] is None  # NaN is written as null
