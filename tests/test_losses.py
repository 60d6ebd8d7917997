"""Training losses: hand-computed values, the ignore index, gradients, and --loss everywhere.

--loss is tried through train, grid and suites.

The shared case: 2 classes, logits 1x2x2x2 with class 0 at 0 and class 1 at
(ln 3, 0, -ln 3, ln 3), so p(class 1) = (3/4, 1/2, 1/4, 3/4); labels
(1, 1, 0, 0), so the probability of the true class is (3/4, 1/2, 3/4, 1/4).
"""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from segbench.cell import CellConfig
from segbench.cli import main
from segbench.losses import (
    LOSSES,
    DiceLoss,
    FocalLoss,
    OhemCrossEntropyLoss,
    build_loss,
    jaccard_increments,
    lovasz_softmax,
)
from segbench.results import KEY_COLUMNS
from segbench.rundir import RunDir, load_records, write_record, write_table
from segbench.suites import SuiteError, load_suite
from segbench.tables import pivot_table
from segbench.train import TrainConfig, segmentation_loss
from tests.conftest import FAST_CLI

IGNORE = 255
LN3 = math.log(3)
ALL = ["ce", "dice", "focal", "lovasz", "ohem"]
SMOKE_BASELINE = Path(__file__).resolve().parent.parent / "results" / "baselines" / "smoke"


def shared_case() -> tuple[torch.Tensor, torch.Tensor]:
    class1 = torch.tensor([[LN3, 0.0], [-LN3, LN3]])
    logits = torch.stack([torch.zeros(2, 2), class1])[None]  # 1 x 2 x 2 x 2
    return logits, torch.tensor([[[1, 1], [0, 0]]])


P_TRUE = [3 / 4, 1 / 2, 3 / 4, 1 / 4]
LABELS = [1, 1, 0, 0]


def test_registry_holds_the_five_losses():
    assert LOSSES.names() == ALL


def test_cross_entropy_is_unchanged():
    logits, target = shared_case()
    expected = (math.log(4 / 3) + math.log(2) + math.log(4 / 3) + math.log(4)) / 4
    assert float(build_loss("ce", IGNORE)(logits, target)) == pytest.approx(expected)
    # class weights (1, 2): a weighted mean, sum w_y * nll / sum w_y
    weighted = ((2 * math.log(4 / 3) + 2 * math.log(2) + 1 * math.log(4 / 3) + 1 * math.log(4))
                / (2 + 2 + 1 + 1))
    ce = build_loss("ce", IGNORE, torch.tensor([1.0, 2.0]))
    assert float(ce(logits, target)) == pytest.approx(weighted)


def test_focal_down_weights_easy_pixels():
    logits, target = shared_case()
    # (1 - p_t)^2 * -ln p_t per pixel, then the mean
    terms = [(1 - p) ** 2 * -math.log(p) for p in P_TRUE]
    assert terms[0] == pytest.approx(math.log(4 / 3) / 16) and terms[3] == pytest.approx(9 / 16 * math.log(4))
    assert float(build_loss("focal", IGNORE)(logits, target)) == pytest.approx(sum(terms) / 4)
    w = {0: 1.0, 1: 2.0}
    weighted = sum(w[y] * t for y, t in zip(LABELS, terms, strict=True)) / sum(w[y] for y in LABELS)
    focal = build_loss("focal", IGNORE, torch.tensor([1.0, 2.0]))
    assert float(focal(logits, target)) == pytest.approx(weighted)
    # gamma 0 is cross-entropy, weights included
    ce = build_loss("ce", IGNORE, torch.tensor([1.0, 2.0]))
    assert float(FocalLoss(IGNORE, torch.tensor([1.0, 2.0]), gamma=0)(logits, target)) == pytest.approx(
        float(ce(logits, target)))


def test_ohem_keeps_the_hard_pixels():
    logits, target = shared_case()
    # p_t = (.75, .5, .75, .25): below 0.7 are the pixels with .5 and .25, more than the default
    # minimum (a tenth of 4 pixels, rounded up: 1)
    hard_only = (math.log(2) + math.log(4)) / 2
    assert float(build_loss("ohem", IGNORE)(logits, target)) == pytest.approx(hard_only)
    # at least 3 of 4 kept: the three least probable (one of the two .75s; both have nll ln 4/3)
    three = OhemCrossEntropyLoss(IGNORE, threshold=0.7, min_kept_fraction=0.75)
    assert float(three(logits, target)) == pytest.approx((math.log(4) + math.log(2) + math.log(4 / 3)) / 3)
    # nothing below a threshold of 0.2: the default keeps the single least probable pixel (.25)
    assert float(OhemCrossEntropyLoss(IGNORE, threshold=0.2)(logits, target)) == pytest.approx(math.log(4))
    # a threshold of 1 keeps every pixel: cross-entropy
    assert float(OhemCrossEntropyLoss(IGNORE, threshold=1.0)(logits, target)) == pytest.approx(
        float(build_loss("ce", IGNORE)(logits, target)))
    # class weights (1, 2) on the two hard pixels (labels 1 and 0)
    weighted = build_loss("ohem", IGNORE, torch.tensor([1.0, 2.0]))
    assert float(weighted(logits, target)) == pytest.approx((2 * math.log(2) + 1 * math.log(4)) / 3)


def test_dice_by_hand():
    logits, target = shared_case()
    # class 0: p = (1/4, 1/2, 3/4, 1/4), labels on the last two pixels
    #   overlap 3/4 + 1/4 = 1, sum p = 7/4, sum g = 2: (2*1 + 1) / (7/4 + 2 + 1) = 12/19
    # class 1: p = (3/4, 1/2, 1/4, 3/4), labels on the first two
    #   overlap 3/4 + 1/2 = 5/4, sum p = 9/4, sum g = 2: (5/2 + 1) / (9/4 + 2 + 1) = 2/3
    expected = 1 - (12 / 19 + 2 / 3) / 2
    assert float(build_loss("dice", IGNORE)(logits, target)) == pytest.approx(expected)
    perfect = torch.tensor([[[[-20.0, -20.0], [20.0, 20.0]], [[20.0, 20.0], [-20.0, -20.0]]]])
    assert float(DiceLoss(IGNORE, smooth=0.0)(perfect, target)) == pytest.approx(0.0, abs=1e-6)


def test_lovasz_by_hand():
    logits, target = shared_case()
    # Jaccard loss of a mispredicted set M: 1 - (|fg| - |M & fg|) / (|fg| + |M & bg|).
    # class 0, fg = pixels 3, 4; errors |fg - p| = (1/4, 1/2, 1/4, 3/4); sorted: 4 (fg), 2, 1, 3 (fg)
    #   losses of the growing sets: 1/2, 2/3, 3/4, 1 -> increments 1/2, 1/6, 1/12, 1/4
    class0 = 3 / 4 * 1 / 2 + 1 / 2 * 1 / 6 + 1 / 4 * 1 / 12 + 1 / 4 * 1 / 4  # 13/24
    # class 1, fg = pixels 1, 2; errors (1/4, 1/2, 1/4, 3/4); sorted: 4, 2 (fg), 1 (fg), 3
    #   losses: 1/3, 2/3, 1, 1 -> increments 1/3, 1/3, 1/3, 0
    class1 = (3 / 4 + 1 / 2 + 1 / 4) / 3  # 1/2
    assert class0 == pytest.approx(13 / 24)
    assert float(build_loss("lovasz", IGNORE)(logits, target)) == pytest.approx((class0 + class1) / 2)


def test_lovasz_equals_one_minus_iou_at_hard_predictions():
    """At the vertices (one-hot probabilities) the Lovász extension is the Jaccard loss itself."""
    labels = torch.tensor([1, 0, 0, 0])
    probs = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # predicts (1, 1, 0, 0)
    # IoU class 1: {1} vs {1, 2} = 1/2; class 0: {2, 3, 4} vs {3, 4} = 2/3
    assert float(lovasz_softmax(probs, labels)) == pytest.approx(1 - (1 / 2 + 2 / 3) / 2)
    # a class absent from the labels does not count ('present'), even if predicted
    only1 = torch.tensor([1, 1, 1, 1])
    assert float(lovasz_softmax(probs, only1)) == pytest.approx(1 - 2 / 4)


def test_lovasz_gradient_is_the_jaccard_increments():
    """The gradient w.r.t. the errors is the sorted Jaccard increments; errors are 1 - p on fg, p on bg."""
    labels = torch.tensor([1, 0, 1])
    probs = torch.tensor([[0.1, 0.9], [0.7, 0.3], [0.6, 0.4]], requires_grad=True)
    loss = lovasz_softmax(probs, labels)
    # class 1: fg = {1, 3}, errors (0.1, 0.3, 0.6), sorted 3 (fg), 2, 1 (fg)
    #   set losses 1 - 1/2, 1 - 1/3, 1 - 0/3 -> increments 1/2, 1/6, 1/3; value 0.3 + 0.05 + 1/30 = 23/60
    # class 0: fg = {2}, errors (0.1, 0.3, 0.6), sorted 3, 2 (fg), 1
    #   set losses 1 - 1/2, 1, 1 -> increments 1/2, 1/2, 0; value 0.3 + 0.15 = 27/60
    assert loss.item() == pytest.approx((23 / 60 + 27 / 60) / 2)
    loss.backward()
    # mean over the two classes halves each increment; the sign is -1 on fg pixels (error 1 - p)
    expected = torch.tensor([[0.0, -1 / 3], [-1 / 2, 1 / 6], [1 / 2, -1 / 2]]) / 2
    torch.testing.assert_close(probs.grad, expected)
    fg_sorted = torch.tensor([[1.0], [0.0], [1.0]])
    torch.testing.assert_close(jaccard_increments(fg_sorted), torch.tensor([[1 / 2], [1 / 6], [1 / 3]]))


@pytest.mark.parametrize("name", ALL)
def test_ignored_pixels_contribute_nothing(name):
    logits, target = shared_case()
    target[0, 1, 0] = IGNORE  # the third pixel
    logits = logits.clone().requires_grad_(True)
    loss = build_loss(name, IGNORE)(logits, target)
    kept = [0, 1, 3]
    flat_logits = logits.detach().reshape(1, 2, 4)[:, :, kept].reshape(1, 2, 1, 3)
    flat_target = target.reshape(1, 4)[:, kept].reshape(1, 1, 3)
    assert loss.item() == pytest.approx(build_loss(name, IGNORE)(flat_logits, flat_target).item())
    loss.backward()
    assert torch.all(logits.grad[0, :, 1, 0] == 0) and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["dice", "focal", "lovasz", "ohem"])
def test_an_all_ignored_batch_is_zero_not_nan(name):
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = build_loss(name, IGNORE)(logits, torch.full((1, 2, 2), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


@pytest.mark.parametrize("name", ALL)
def test_gradients_are_finite_even_for_confident_logits(name):
    torch.manual_seed(0)
    logits = (torch.randn(2, 5, 6, 6) * 40).requires_grad_(True)
    target = torch.randint(0, 5, (2, 6, 6))
    target[:, 0] = IGNORE
    loss = build_loss(name, IGNORE)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_auxiliary_heads_add_weighted_losses_for_every_loss(name):
    torch.manual_seed(1)
    criterion = build_loss(name, IGNORE)
    target = torch.randint(0, 3, (2, 4, 4))
    main_out, aux = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    combined = segmentation_loss((main_out, aux), target, criterion, aux_weight=0.4)
    assert float(combined) == pytest.approx(float(criterion(main_out, target) + 0.4 * criterion(aux, target)))


def test_bad_names_and_weights_are_one_line_value_errors():
    with pytest.raises(ValueError, match=r"^unknown loss 'x'; valid: ce, dice, focal, lovasz, ohem$"):
        TrainConfig(iterations=1, loss="x")
    with pytest.raises(ValueError, match=r"loss 'dice' takes no class weights.*work with ce, focal, ohem$"):
        TrainConfig(iterations=1, loss="dice", class_weights=True)
    with pytest.raises(ValueError, match="loss 'lovasz' takes no class weights"):
        build_loss("lovasz", IGNORE, torch.ones(2))
    assert TrainConfig(iterations=1, loss="focal", class_weights=True).loss == "focal"


def test_the_default_loss_keeps_recorded_fingerprints():
    """Runs recorded before --loss existed stay reusable and resumable; another loss is another cell."""
    suite = load_suite("smoke")
    recorded = {r["cell_id"]: r["fingerprint"] for r in load_records(SMOKE_BASELINE)}
    assert {c.cell_id: c.fingerprint for c in suite.cells} == recorded
    cell = suite.cells[0]
    dice = CellConfig(**{**cell.__dict__, "train": TrainConfig(**{**cell.train.__dict__, "loss": "dice"})})
    assert dice.fingerprint != cell.fingerprint and dice.key()["train_loss"] == "dice"


def test_older_runs_read_back_as_cross_entropy():
    assert set(pd.read_csv(RunDir(SMOKE_BASELINE).table_csv)["train_loss"]) == {"ce"}
    assert {r["train_loss"] for r in load_records(SMOKE_BASELINE)} == {"ce"}


def test_train_records_its_loss(tmp_path, small_synthetic):
    out = tmp_path / "t"
    assert main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--iterations", "2", "--train-batch-size", "2",
                 "--loss", "dice", "--device", "cpu", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["train_loss"] == "dice"
    assert torch.load(out / "last.pt", weights_only=True)["config"]["loss"] == "dice"


def test_grid_records_the_loss_as_a_key_column(tmp_path, small_synthetic):
    out = tmp_path / "run"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--dataset", "synthetic",
                 "--loss", "lovasz", "--iterations", "2", "--train-batch-size", "2", "--size", "64x64",
                 "--device", "cpu", "--out", str(out), *FAST_CLI]) == 0
    table = pd.read_csv(out / "table.csv")
    assert list(table["train_loss"]) == ["lovasz"] and list(table["status"]) == ["ok"]
    assert list(table.columns[: len(KEY_COLUMNS)]) == KEY_COLUMNS and "train_loss" in KEY_COLUMNS
    record = json.loads(next((out / "cells").glob("*.json")).read_text())
    assert record["train_loss"] == "lovasz" and record["cell_id"].endswith("__lovasz")
    # Another loss into the same run directory is another cell, beside the first, not a replacement.
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--dataset", "synthetic",
                 "--iterations", "2", "--train-batch-size", "2", "--size", "64x64", "--device", "cpu",
                 "--out", str(out), *FAST_CLI]) == 0
    assert sorted(pd.read_csv(out / "table.csv")["train_loss"]) == ["ce", "lovasz"]


def _loss_record(loss: str, decoder: str, miou: float) -> dict:
    return {"encoder": "mobilenet", "decoder": decoder, "input_h": 64, "input_w": 64, "batch_size": 1,
            "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 8,
            "dataset": "synthetic", "train_loss": loss, "seed": 0, "miou": miou, "status": "ok",
            "cell_id": f"{loss}__{decoder}"}


def test_tables_compare_losses_and_never_average_across_them(tmp_path):
    runs = []
    for loss, mious in {"ce": (60.0, 62.0), "dice": (58.0, 65.0)}.items():
        run = tmp_path / loss
        for decoder, miou in zip(("skip", "unet"), mious, strict=True):
            write_record(run, _loss_record(loss, decoder, miou))
        write_table(run)
        runs.append(run)
    table = pivot_table(runs, "miou", rows="train_loss", cols="decoder")
    assert table["mean"].loc["dice", "unet"] == 65.0 and list(table.index) == ["ce", "dice"]
    with pytest.raises(ValueError, match=r"differ in more than encoder and decoder.*train_loss: ce, dice"):
        pivot_table(runs, "miou", rows="encoder", cols="decoder")


def test_plots_tell_models_trained_with_different_losses_apart():
    from segbench.plots import _model_labels
    from segbench.results import records_to_frame

    frame = records_to_frame([_loss_record("ce", "skip", 60.0), _loss_record("dice", "skip", 58.0)])
    assert list(_model_labels(frame)) == ["mobilenet+skip ce loss", "mobilenet+skip dice loss"]


SUITE = """[grid]
encoders = ["mobilenet"]
decoders = ["skip"]
sizes = ["64x64"]
devices = ["cpu"]

[data]
dataset = "synthetic"

[train]
iterations = 2
loss = "focal"
"""


def test_a_suite_chooses_its_loss(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    assert [c.train.loss for c in load_suite(str(path)).cells] == ["focal"]
    path.write_text(SUITE.replace('"focal"', '"x"'))
    with pytest.raises(SuiteError,
                       match=r"\[train\] loss: unknown loss 'x'; valid: ce, dice, focal.* \(line 12\)"):
        load_suite(str(path))
    path.write_text(SUITE.replace('"focal"', "3"))
    with pytest.raises(SuiteError, match=r"\[train\] loss: must be str, got 3 \(line 12\)"):
        load_suite(str(path))


@pytest.mark.parametrize("command", ["train", "grid"])
def test_an_unknown_loss_is_one_line_and_exit_2(command, capsys, tmp_path):
    args = ["--encoder", "mobilenet", "--decoder", "skip"] if command == "train" else ["--encoders", "mobilenet"]
    assert main([command, *args, "--loss", "x", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == "error: unknown loss 'x'; valid: ce, dice, focal, lovasz, ohem\n"
    assert not (tmp_path / "o").exists()


def test_list_losses(capsys):
    assert main(["list", "losses"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in ALL) and "Lovász" in printed
