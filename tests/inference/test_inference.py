"""Inference add-ons and their place in the grid.

TTA, attention to scale, the convolutional CRF and MC dropout.
"""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from segbench.cell import CellConfig, with_inference
from segbench.cli import main
from segbench.inference import (
    ConvCRF,
    InferenceConfig,
    MCDropout,
    MultiScaleFlip,
    ScaleAttention,
    apply_inference,
    save_uncertainty_maps,
)
from segbench.models import build_model
from segbench.models.decoders import NotApplicable
from segbench.spec import InferenceSpec, from_flags
from segbench.suites import SuiteError, load_suite
from segbench.train import segmentation_loss
from tests.conftest import FAST_CLI

torch.manual_seed(0)


class SizeRecorder(nn.Module):
    """A 1x1 conv (flip- and translation-equivariant) that notes the input sizes it saw."""

    def __init__(self, cin: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, classes, 1)
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        return self.conv(x)


# --- test-time augmentation ---------------------------------------------------------------------------------

def test_tta_with_one_view_is_the_plain_model_exactly():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 5, 3)).eval()
    x = torch.randn(1, 3, 24, 36)
    with torch.no_grad():
        assert torch.equal(MultiScaleFlip(model, (1.0,), flip=False)(x), model(x))
    assert apply_inference(model, InferenceConfig()) is model


def test_flip_tta_of_a_flip_equivariant_model_is_the_model():
    model = SizeRecorder().eval()
    x = torch.randn(2, 3, 20, 30)
    with torch.no_grad():
        out = MultiScaleFlip(model, (1.0,), flip=True).eval()(x)
        torch.testing.assert_close(out.softmax(1), model(x).softmax(1))
    assert model.sizes == [(20, 30)] * 3


def test_flip_tta_changes_a_model_that_is_not_mirror_symmetric():
    # looks at the left and right neighbours differently
    model = nn.Conv2d(3, 4, (1, 3), padding=(0, 1)).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        out = MultiScaleFlip(model, (1.0,), flip=True).eval()(x)
        expected = ((model(x).softmax(1) + model(x.flip(-1)).flip(-1).softmax(1)) / 2).log()
        torch.testing.assert_close(out, expected)
        assert not torch.allclose(out.softmax(1), model(x).softmax(1), atol=1e-3)


def test_multiscale_runs_each_scale_and_returns_the_input_size():
    model = SizeRecorder().eval()
    with torch.no_grad():
        out = MultiScaleFlip(model, (0.5, 1.0, 1.5)).eval()(torch.randn(1, 3, 40, 60))
    assert model.sizes == [(20, 30), (40, 60), (60, 90)]
    assert out.shape == (1, 4, 40, 60)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(1, 40, 60))  # log of averaged probabilities


# --- configuration ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tta_scales": "0.75,x"}, "--tta-scales takes a comma list of numbers, e.g. 0.75,1,1.25; not '0.75,x'"),
        ({"tta_scales": "0,1"}, "test-time scales must be in (0, 4], not 0,1"),
        ({"tta_scales": "1,1"}, "test-time scales repeat: 1,1"),
        ({"mc_samples": 1}, "at least 2, not 1"),
        ({"mc_samples": -1}, "--mc-samples must be a whole number at least 0, not -1"),
        ({"crf_iterations": 0}, "--crf-iterations must be a whole number at least 1, not 0"),
        ({"attention_scales": "1"}, "attention scales must be two or more distinct numbers"),
    ],
)
def test_bad_inference_options_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        from_flags(InferenceSpec, kwargs).config()
    assert "\n" not in str(info.value)


def test_cell_carries_add_on_columns_and_plain_cells_keep_their_fingerprint():
    plain = CellConfig("mobilenet", "skip", 64, 64)
    assert with_inference(plain, InferenceConfig()) == plain  # a plain config is stored as None
    tta = with_inference(plain, from_flags(InferenceSpec, {"tta_scales": "0.75,1,1.25", "flip": True,
                                                           "crf": True}).config())
    key = tta.key()
    assert (key["tta_scales"], key["tta_flip"], key["crf"], key["crf_iterations"]) == (
        "0.75,1,1.25", True, True, 5)
    assert plain.key()["tta_scales"] is None and plain.key()["mc_samples"] is None
    assert tta.cell_id == plain.cell_id + "__ms0.75-1-1.25_flip_crf5"
    assert tta.fingerprint != plain.fingerprint
    assert plain.fingerprint == "5a67b2fd5e61ca6c"  # as before add-ons existed: old runs resume untouched


# --- CRF ----------------------------------------------------------------------------------------------------

def _normalised(rgb: torch.Tensor) -> torch.Tensor:
    crf = ConvCRF()
    return (rgb - crf.mean) / crf.std


def test_crf_with_zero_weights_returns_the_unary():
    unary = torch.randn(1, 4, 12, 12)
    image = torch.randn(1, 3, 12, 12)
    out = ConvCRF(w_app=0.0, w_smooth=0.0)(image, unary)
    assert torch.equal(out, unary)
    assert torch.equal(out.argmax(1), unary.argmax(1))


def test_crf_removes_isolated_wrong_pixels_but_keeps_a_colour_edge():
    # clean image: left half black, right half white; labels 0 left, 1 right
    rgb = torch.zeros(1, 3, 15, 16)
    rgb[..., 8:] = 1.0
    truth = (rgb[:, 0] > 0.5).long()
    margin = 1.0
    unary = torch.zeros(1, 2, 15, 16)
    unary.scatter_(1, truth[:, None], margin)
    noisy = truth.clone()
    for y, x in ((7, 3), (3, 12), (11, 9)):  # isolated wrong pixels, one next to the edge
        noisy[0, y, x] = 1 - noisy[0, y, x]
        unary[0, :, y, x] = unary[0, :, y, x].flip(0)
    assert (unary.argmax(1) != truth).sum() == 3
    refined = ConvCRF()(_normalised(rgb), unary).argmax(1)
    assert torch.equal(refined, truth)


def test_crf_leaves_a_confident_unary_alone():
    unary = torch.zeros(1, 3, 10, 10)
    unary[:, 0] = 10.0
    unary[0, :, 5, 5] = torch.tensor([0.0, 20.0, 0.0])  # an isolated but very sure pixel
    refined = ConvCRF()(_normalised(torch.rand(1, 3, 10, 10)), unary).argmax(1)
    assert refined[0, 5, 5] == 1 and (refined == 0).sum() == 99


def test_crf_is_differentiable():
    crf = ConvCRF(iterations=2, window=3, learnable=True).double()
    image = torch.randn(1, 3, 4, 5, dtype=torch.double, requires_grad=True)
    unary = torch.randn(1, 2, 4, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i, u: crf(i, u), (image, unary), fast_mode=True)
    crf(image, unary).logsumexp(1).sum().backward()
    for p in crf.parameters():
        assert p.grad is not None and torch.isfinite(p.grad) and p.grad != 0


# --- MC dropout ---------------------------------------------------------------------------------------------

def test_mc_dropout_refuses_a_model_without_dropout():
    model = build_model("mobilenet", "skip", 3)
    with pytest.raises(NotApplicable, match="needs dropout layers"):
        apply_inference(model, InferenceConfig(mc_samples=4))


def test_mc_dropout_samples_dropout_only_and_writes_maps(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Dropout(0.5),
                          nn.Conv2d(8, 4, 1))
    model.eval()
    running = model[1].running_mean.clone()
    mc = MCDropout(model, samples=8)
    x = torch.randn(2, 3, 12, 10)
    with torch.no_grad():
        result = mc.uncertainty(x)
        deterministic = model(x)
    torch.testing.assert_close(result.mean.sum(1), torch.ones(2, 12, 10))
    assert result.variance.min() >= 0 and result.variance.max() > 1e-4
    assert (result.entropy >= 0).all() and (result.entropy <= math.log(4) + 1e-5).all()
    assert torch.equal(model[1].running_mean, running) and not model.training  # BN untouched, mode restored
    assert not torch.allclose(result.mean, deterministic.softmax(1))  # the passes were stochastic
    paths = save_uncertainty_maps(result, ["a", "b"], tmp_path / "maps")
    assert sorted(p.name for p in paths) == [
        "a_entropy.png", "a_variance.png", "b_entropy.png", "b_variance.png"]
    entropy = np.asarray(Image.open(tmp_path / "maps" / "b_entropy.png"))
    assert entropy.shape == (12, 10) and entropy.dtype == np.uint8
    expected = np.round((result.entropy[1].numpy() / math.log(4)).clip(0, 1) * 255)
    assert np.abs(entropy.astype(float) - expected).max() <= 1


# --- attention to scale -------------------------------------------------------------------------------------

def test_attention_to_scale_trains_end_to_end():
    model = ScaleAttention(SizeRecorder(classes=3), num_classes=3, scales=(1.0, 0.5))
    x, target = torch.randn(2, 3, 16, 16), torch.randint(0, 3, (2, 16, 16))
    out = model.train()(x)
    assert isinstance(out, tuple) and len(out) == 3 and all(o.shape == (2, 3, 16, 16) for o in out)
    assert model.model.sizes == [(16, 16), (8, 8)]
    segmentation_loss(out, target, nn.CrossEntropyLoss(), aux_weight=1.0).backward()
    head = model.attention[0].weight.grad
    assert head is not None and head.abs().sum() > 0
    with torch.no_grad():
        fused = model.eval()(x)
        assert isinstance(fused, torch.Tensor) and fused.shape == (2, 3, 16, 16)
        per_scale = [model.model(x), nn.functional.interpolate(model.model(nn.functional.interpolate(
            x, size=(8, 8), mode="bilinear")), size=(16, 16), mode="bilinear")]
        w = model.weights(per_scale)
        torch.testing.assert_close(w.sum(1), torch.ones(2, 16, 16))
        torch.testing.assert_close(fused, w[:, :1] * per_scale[0] + w[:, 1:] * per_scale[1])


class WithAux(nn.Module):
    """Like a decoder with an auxiliary head: ``(main, aux)`` in training, ``main`` in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.main, self.aux = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return (self.main(x), self.aux(x)) if self.training else self.main(x)


def test_attention_keeps_the_models_auxiliary_heads():
    model = ScaleAttention(WithAux(), 3, (1.0, 0.5, 0.25)).train()
    x = torch.randn(2, 3, 16, 16)
    out = model(x)
    assert len(out) == 5 and all(o.shape == (2, 3, 16, 16) for o in out)  # fused, three scales, the aux head
    torch.testing.assert_close(out[-1], model.model.aux(x))  # the first (full) scale's auxiliary output
    assert model.eval()(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)


# --- grid, suites and CLI -----------------------------------------------------------------------------------

def test_grid_records_add_ons_and_their_cost(tmp_path):
    out = tmp_path / "run"
    common = ["grid", "--encoders", "mobilenet", "--decoders", "skip", "--size", "64x64",
              "--num-classes", "4", "--device", "cpu", "--profile-only", "--out", str(out), *FAST_CLI]
    assert main(common) == 0
    # into the same run, so the plain and augmented rows sit side by side
    assert main([*common, "--tta-scales", "1,1.5", "--flip", "--crf", "--crf-iterations", "1"]) == 0
    # skip has no dropout: a not-applicable row, and a grid with no cell ok exits 1
    assert main([*common, "--mc-samples", "2"]) == 1
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 3
    assert {"tta_scales", "tta_flip", "crf", "mc_samples", "attention_scales"} <= set(table)
    rows = table.fillna({"tta_scales": "plain"}).set_index("tta_scales")
    assert rows.loc["plain", "status"] == "ok" and pd.isna(rows.loc["plain", "crf"])
    augmented = rows.loc["1,1.5"]
    assert augmented["status"] == "ok" and augmented["crf_iterations"] == 1
    assert augmented["tta_flip"] == True  # noqa: E712 - numpy's bool from the CSV, not Python's
    assert augmented["gflops"] > 2 * rows.loc["plain", "gflops"]  # 2 x (1 + 1.5^2) views
    assert rows.loc["1", "status"] == "not_applicable" and "needs dropout layers" in rows.loc["1", "error"]
    record = json.loads((out / "cells" / f"{rows.loc['1', 'cell_id']}.json").read_text())
    assert record["mc_samples"] == 2 and record["crf"] is False and record["cell_id"].endswith("__mc2")


def test_grid_rejects_bad_add_on_options(tmp_path, capsys):
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--profile-only",
               "--tta-scales", "1,-1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: test-time scales must be in (0, 4]") and err.count("\n") == 1


@pytest.mark.slow
def test_train_with_attention_then_eval_with_add_ons(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--encoder", "mobilenet", "--decoder", "deeplabv3", "--iterations", "2",
                 "--train-batch-size", "2",
                 "--attention-scales", "1,0.5", "--device", "cpu", "--out", str(out)]) == 0
    trained = json.loads((out / "metrics.json").read_text())
    assert trained["attention_scales"] == "1,0.5" and "attention.0.weight" in torch.load(
        out / "last.pt", weights_only=True)["model"]
    capsys.readouterr()
    maps = tmp_path / "maps"
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--device", "cpu", "--format", "json",
                 "--split", "val", "--mc-samples", "2", "--uncertainty-dir", str(maps)]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["miou"] <= 100
    assert len(list(maps.glob("val_*_entropy.png"))) == len(list(maps.glob("val_*_variance.png"))) == 64
    rc = main(["eval", "--checkpoint", str(out / "last.pt"), "--uncertainty-dir", str(maps)])
    assert rc == 2 and "needs --mc-samples" in capsys.readouterr().err


@pytest.mark.slow
def test_grid_trains_with_attention_and_scores_with_mc_dropout(tmp_path):
    out = tmp_path / "run"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "deeplabv3", "--dataset", "synthetic",
                 "--iterations", "2", "--train-batch-size", "2", "--size", "64x64", "--device", "cpu",
                 "--attention-scales", "1,0.5", "--mc-samples", "2", "--crf", "--out", str(out),
                 *FAST_CLI]) == 0
    (row,) = pd.read_csv(out / "table.csv").to_dict("records")
    assert row["status"] == "ok" and 0 <= row["miou"] <= 100
    assert (row["attention_scales"], row["mc_samples"], row["crf"]) == ("1,0.5", 2, True)


def test_suite_inference_table(tmp_path):
    text = """[grid]
encoders = ["mobilenet"]
decoders = ["skip"]
sizes = ["64x64"]
devices = ["cpu"]

[inference]
tta_scales = [0.5, 1]
flip = true
"""
    path = tmp_path / "s.toml"
    path.write_text(text)
    (cell,) = load_suite(str(path)).cells
    assert cell.inference == InferenceConfig(tta_scales=(0.5, 1.0), flip=True)
    path.write_text(text.replace("flip = true", "mc_samples = 1"))
    with pytest.raises(SuiteError, match=r"\[inference\].*at least 2, not 1"):
        load_suite(str(path))
    path.write_text(text.replace("flip = true", "flip = 1"))
    with pytest.raises(SuiteError, match=r"\[inference\] flip: must be bool"):
        load_suite(str(path))


def test_suite_inference_variants_run_every_cell_plain_and_augmented(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("""[grid]
encoders = ["mobilenet"]
decoders = ["skip", "unet"]
sizes = ["64x64"]
devices = ["cpu"]

[[inference]]

[[inference]]
tta_scales = [0.75, 1, 1.25]
flip = true

[[inference]]
tta_sclaes = [1]
""")
    with pytest.raises(SuiteError, match=r"\[inference\] tta_sclaes: unknown key.*\(line 14\)"):
        load_suite(str(path))
    path.write_text(path.read_text().rsplit("[[inference]]", 1)[0])
    cells = load_suite(str(path)).cells
    assert [(c.decoder, c.inference and c.inference.tta_scales) for c in cells] == [
        ("skip", None), ("skip", (0.75, 1.0, 1.25)), ("unet", None), ("unet", (0.75, 1.0, 1.25))]
    assert len({c.cell_id for c in cells}) == 4


@pytest.mark.slow
def test_crf_does_not_lower_miou_on_camvid(camvid_root):
    """A briefly trained model at quarter resolution; the CRF with its defaults must not cost mIoU."""
    from torch.utils.data import Subset
    from torchvision.transforms import v2

    from segbench.data import build_dataset, eval_transforms, train_transforms
    from segbench.evaluate import eval_loader, evaluate
    from segbench.train import TrainConfig, Trainer

    size = (90, 120)
    model = build_model("mobilenet", "skip", 11)
    train_set = build_dataset("camvid", camvid_root, "train")
    train_set.transform = train_transforms(size, scale_range=(0.2, 0.375), ignore_index=11)
    recipe = TrainConfig(iterations=60, batch_size=8, lr=2e-3, warmup_iters=10, class_weights=True)
    Trainer(model, train_set, None, recipe, torch.device("cpu")).fit()
    reduced = v2.Compose([v2.Resize(size), *eval_transforms().transforms])
    test_set = build_dataset("camvid", camvid_root, "test", transform=reduced)
    loader = eval_loader(Subset(test_set, range(40)))
    plain = evaluate(model, loader, 11, 11, torch.device("cpu")).miou
    with_crf = apply_inference(model, InferenceConfig(crf=True))
    refined = evaluate(with_crf, loader, 11, 11, torch.device("cpu")).miou
    assert refined >= plain > 5


def test_shipped_inference_suite(monkeypatch, camvid_root):
    from segbench.suites import SUITES_DIR

    monkeypatch.chdir(SUITES_DIR.parent)
    cells = load_suite("inference").cells
    assert [c.inference.tag if c.inference else "" for c in cells] == [
        "", "ms0.75-1-1.25_flip", "crf5", "mc8", "att1-0.5"]
