"""Checkpoints load weights-only.

A malicious one runs nothing, a bad one is one line, a damaged one is set aside.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from segbench.cell import with_training
from segbench.checkpoints import CheckpointError, DamagedCheckpointWarning, read_checkpoint, resumable
from segbench.cli import main
from segbench.data import build_dataset
from segbench.grid import expand_grid
from segbench.models import build_model
from segbench.options import data_choice
from segbench.train import TrainConfig, Trainer


def _evil(marker: Path) -> object:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return Evil()


def _trainer(out_dir: Path | None, spec: dict | None = None) -> Trainer:
    train = build_dataset("synthetic", split="train", size=32, length=2)
    model = build_model("mobilenet", "skip", num_classes=8)
    spec = spec or {"encoder": "mobilenet", "decoder": "skip", "num_classes": 8, "dataset": "synthetic",
                    "fingerprint": "0" * 16}
    return Trainer(model, train, None, TrainConfig(iterations=1, batch_size=2), torch.device("cpu"), out_dir,
                   model_spec=spec)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> bytes:
    """A checkpoint as segbench's Trainer writes it (no training needed), as bytes."""
    out = tmp_path_factory.mktemp("ckpt")
    trainer = _trainer(out)
    trainer.state.history.append({"epoch": 1, "iteration": 1, "loss": np.float32(0.5), "lr": 1e-3,
                                  "val_miou": np.float64(12.5), "time_s": 0.1})  # numpy scalars stored plain
    trainer.state.best_miou = np.float64(12.5)
    trainer.save(best=True)
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt", "log.csv"]  # no temp file left
    return (out / "last.pt").read_bytes()


def test_own_checkpoints_load_weights_only_and_resume(saved, tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(saved)
    ckpt = torch.load(path, weights_only=True)  # plain types only: torch's own allowlist suffices
    assert type(ckpt["state"]["best_miou"]) is float and type(ckpt["state"]["history"][0]["loss"]) is float
    resumed = _trainer(None)
    resumed.resume(path)
    assert resumed.state.iteration == 0 and resumed.state.best_miou == 12.5


def test_old_checkpoint_with_numpy_scalars_still_loads(saved, tmp_path):
    ckpt = torch.load(io.BytesIO(saved), weights_only=True)
    ckpt["state"]["best_miou"] = np.float64(3.5)
    torch.save(ckpt, tmp_path / "old.pt")
    assert read_checkpoint(tmp_path / "old.pt")["state"]["best_miou"] == 3.5


def _bad_checkpoints(saved: bytes, marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, what the one-line error says)."""
    def saved_as(obj: object) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    other = torch.load(io.BytesIO(saved), weights_only=True)
    other["model_spec"] = {**other["model_spec"], "encoder": "resnet18"}  # mobilenet weights, resnet18 spec
    return {
        "malicious": (saved_as({"model": _evil(marker), "model_spec": {}}), "refuses to run"),
        "random": (bytes(range(256)) * 8, "not a torch checkpoint"),
        "truncated": (saved[: len(saved) // 2], "truncated or corrupt"),
        "empty": (b"", "is empty"),
        "tensor": (saved_as(torch.zeros(3)), "holds a Tensor, not a dict"),
        "list": (saved_as([1, 2]), "holds a list, not a dict"),
        "no_spec": (saved_as({"model": {}}), "lacks model_spec"),
        "other_arch": (saved_as(other), "weights do not fit resnet18+skip"),
    }


@pytest.mark.parametrize("case", ["malicious", "random", "truncated", "empty", "tensor", "list", "no_spec",
                                  "other_arch"])
def test_eval_refuses_a_bad_checkpoint_in_one_line(case, saved, tmp_path, capsys):
    marker = tmp_path / "pwned"
    data, message = _bad_checkpoints(saved, marker)[case]
    path = tmp_path / f"{case}.pt"
    path.write_bytes(data)
    rc = main(["eval", "--checkpoint", str(path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2, err  # an empty file is not Ctrl-C: no "aborted", no 130
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err and "abort" not in err
    assert str(path) in err and message in err
    assert not marker.exists()


def _stop_training(*args, **kwargs):
    raise KeyboardInterrupt  # the load (what this tests) is done; skip the training itself


def test_train_resume_sets_a_malicious_checkpoint_aside(saved, tmp_path, capsys, monkeypatch):
    marker, out = tmp_path / "pwned", tmp_path / "t"
    out.mkdir()
    (out / "last.pt").write_bytes(_bad_checkpoints(saved, marker)["malicious"][0])
    monkeypatch.setattr(Trainer, "fit", _stop_training)
    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 130 and not marker.exists()
    assert (out / "last.pt.damaged").is_file() and not (out / "last.pt").exists()
    assert "warning: checkpoint" in err and "set aside" in err and "Traceback" not in err
    assert "interrupted: checkpoints and log kept in" in err  # Ctrl-C of train says so


def test_grid_resume_sets_a_malicious_checkpoint_aside_and_reruns(saved, tmp_path, capsys, monkeypatch):
    marker, run = tmp_path / "pwned", tmp_path / "run"
    cell = expand_grid(["mobilenet"], ["skip"], sizes=[(64, 64)], device="cpu")[0]
    cell = with_training(cell, data_choice("synthetic", None), TrainConfig(iterations=1, batch_size=2))
    last = run / "train" / cell.cell_id / "last.pt"  # where the grid looks for this cell's checkpoint
    last.parent.mkdir(parents=True)
    last.write_bytes(_bad_checkpoints(saved, marker)["malicious"][0])

    def stop_here(self):
        raise RuntimeError("stop here")  # the load (what this tests) is done; skip the training itself

    monkeypatch.setattr(Trainer, "fit", stop_here)
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--size", "64x64", "--device", "cpu",
               "--iterations", "1", "--train-batch-size", "2", "--out", str(run), "--executor", "local"])
    err = capsys.readouterr().err
    assert rc == 1 and not marker.exists()  # 1: the grid's only cell failed (stop_here), as it should
    assert last.with_name("last.pt.damaged").is_file() and "refuses to run" in err and "set aside" in err
    assert "stop here" in (run / "table.csv").read_text()  # the cell went on to train afresh


def test_a_damaged_checkpoint_is_set_aside(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"\x00" * 10)
    with pytest.warns(DamagedCheckpointWarning, match="set aside"):
        assert resumable(path) is None
    assert (tmp_path / "last.pt.damaged").read_bytes() == b"\x00" * 10
    assert resumable(path) is None  # absent now: nothing to resume, nothing to warn about
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "last.pt.damaged")


def test_the_malicious_pickle_is_live(saved, tmp_path):
    """The control: unpickled without weights_only, the test's checkpoint does run its command."""
    marker = tmp_path / "pwned"
    torch.load(io.BytesIO(_bad_checkpoints(saved, marker)["malicious"][0]), weights_only=False)
    assert marker.exists()
