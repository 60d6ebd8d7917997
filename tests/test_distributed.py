"""Data-parallel training on the CPU: gloo, two processes, launched the torchrun way.

One launch (module fixture) runs both ranks through the evaluation and
training checks; the parent then compares with one process on the same data.
"""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from segbench import distributed
from segbench.cli import main
from segbench.data import build_dataset
from segbench.evaluate import eval_loader, evaluate, evaluate_checkpoint
from segbench.measure.metrics import ConfusionMatrix
from segbench.train import TrainConfig, Trainer, train_loader

ROOT = Path(__file__).resolve().parents[1]
NUM_CLASSES = 8  # the synthetic set's
RECIPE = TrainConfig(iterations=4, batch_size=4, optimizer="sgd", lr=0.05, momentum=0.9, warmup_iters=0,
                     seed=1)


def _tiny_net() -> nn.Module:
    """No BatchNorm: with per-rank batch statistics DDP could not equal one process (see test c)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, NUM_CLASSES, 1))


def _val_set():
    return build_dataset("synthetic", split="val", size=16, length=5)  # odd: shards of 3 and 2


def _train_set():
    return build_dataset("synthetic", split="train", size=16, length=8)  # no augmentation: same pixels


def _matrix(model: nn.Module, loader: DataLoader) -> ConfusionMatrix:
    matrix = ConfusionMatrix(NUM_CLASSES, 255)
    with torch.no_grad():
        for images, masks in loader:
            matrix.update_logits(model(images), masks)
    return matrix


def _rank_worker(out_dir: str) -> dict:
    """One rank: its shard's matrix, reduced; the distributed evaluate(); a few DDP training steps."""
    distributed.init_process_group(torch.device("cpu"))
    try:
        val, model = _val_set(), _tiny_net().eval()
        shard = distributed.ShardSampler(len(val))
        matrix = _matrix(model, DataLoader(val, sampler=shard)).matrix
        distributed.all_reduce_confusion(matrix)
        scores = evaluate(model, eval_loader(val), NUM_CLASSES, 255, torch.device("cpu"))
        trainer = Trainer(_tiny_net(), _train_set(), None, RECIPE, torch.device("cpu"), Path(out_dir))
        trainer.fit()
        return {"rank": distributed.get_rank(), "shard": list(shard), "matrix": matrix, "scores": scores,
                "weights": {k: v.clone() for k, v in trainer.model.state_dict().items()},
                "per_rank_batch": trainer.loader.batch_sampler.batch_size // trainer.world_size}
    finally:
        distributed.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    results = distributed.launch(_rank_worker, (str(out),), nproc=2)
    return [results[0], results[1]], out


def test_shards_are_disjoint_and_cover_the_split_once(ranks):
    (r0, r1), _ = ranks
    assert r0["shard"] == [0, 2, 4] and r1["shard"] == [1, 3]  # no padding duplicate of image 0
    assert sorted(r0["shard"] + r1["shard"]) == list(range(len(_val_set())))


def test_all_reduced_matrix_equals_the_single_process_matrix(ranks):
    (r0, r1), _ = ranks
    whole = _matrix(_tiny_net().eval(), DataLoader(_val_set())).matrix
    assert torch.equal(r0["matrix"], whole) and torch.equal(r1["matrix"], whole)
    assert whole.sum() == 5 * 16 * 16  # every pixel of the five images counted once
    single = evaluate(_tiny_net(), eval_loader(_val_set()), NUM_CLASSES, 255, torch.device("cpu"))
    assert r0["scores"] == single and r1["scores"] == single  # evaluate() shards and reduces by itself


def test_two_ranks_with_global_batch_b_match_one_process_with_batch_b(ranks):
    """No BN and no ignored pixels: the mean of the ranks' half-batch gradients is the full-batch gradient."""
    (r0, r1), out = ranks
    assert r0["per_rank_batch"] == 2
    single = Trainer(_tiny_net(), _train_set(), None, RECIPE, torch.device("cpu"))
    single.fit()
    moved = False
    for name, tensor in single.model.state_dict().items():
        assert torch.allclose(r0["weights"][name], tensor, rtol=1e-5, atol=1e-6), name
        assert torch.equal(r0["weights"][name], r1["weights"][name]), name  # DDP keeps ranks identical
        moved |= not torch.allclose(tensor, _tiny_net().state_dict()[name])
    assert moved  # the comparison is not between two untrained nets
    assert sorted(p.name for p in out.iterdir()) == ["last.pt", "log.csv", "train_log.jsonl"]  # rank 0 alone writes


def test_rank_batches_partition_the_single_process_batches():
    def batches(rank, world):
        g = torch.Generator().manual_seed(7)
        return list(distributed.GlobalBatchSampler(10, 4, g, rank, world))

    one, (a, b) = batches(0, 1), (batches(0, 2), batches(1, 2))
    assert len(one) == len(a) == len(b) == 2  # 10 images, batch 4: the short tail dropped in both
    assert [x + y for x, y in zip(a, b, strict=True)] == one
    with pytest.raises(ValueError, match="not divisible by 3"):
        distributed.GlobalBatchSampler(10, 4, torch.Generator(), 0, 3)


def test_single_process_order_is_the_shuffled_loader_order_it_replaced():
    """One process keeps the data order of DataLoader(shuffle=True): old runs stay reproducible."""
    data = list(range(10))
    config = TrainConfig(iterations=1, batch_size=4)
    old = DataLoader(data, batch_size=4, shuffle=True, drop_last=True,
                     generator=torch.Generator().manual_seed(3))
    new = train_loader(data, config, torch.Generator().manual_seed(3))
    assert [b.tolist() for b in new] == [b.tolist() for b in old]


@pytest.mark.slow  # three processes importing torch and a real network: ~15 s on two idle cores
def test_train_cli_on_two_processes_matches_evaluating_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for name in distributed.TORCHRUN_VARS:
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "segbench", "train", "--encoder", "mobilenet", "--decoder", "skip",
         "--iterations", "2", "--train-batch-size", "2", "--nproc-per-node", "2", "--device", "cpu",
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt", "log.csv", "metrics.json", "predictions",
                                                     "train_log.jsonl"]
    record = json.loads((out / "metrics.json").read_text())
    assert record["train_nproc_per_node"] == 2 and record["train_iters"] == 2
    single, _ = evaluate_checkpoint(out / "last.pt", device="cpu")
    assert record["miou"] == pytest.approx(single.miou, abs=1e-9)
    assert record["num_pixels"] == single.num_pixels  # each test image counted once over the two ranks


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--nproc-per-node", "0"], "--nproc-per-node must be a whole number at least 1, not 0"),
     (["--nproc-per-node", "2", "--train-batch-size", "3"], "training batch size 3 is not divisible by 2 processes")],
)
def test_bad_process_counts_are_one_line_errors(args, message, capsys):
    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--iterations", "1", "--device", "cpu",
               *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_more_processes_than_gpus_is_refused():
    with pytest.raises(ValueError, match="needs 4 GPUs but 1 are visible"):
        distributed.check_nproc(4, "cuda", gpu_count=1)
    distributed.check_nproc(4, "cpu", gpu_count=0)  # CPU processes need no GPU


def test_inside_torchrun_the_job_size_decides(monkeypatch, capsys):
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--nproc-per-node", "3",
               "--device", "cpu"])
    assert rc == 2 and "inside a torchrun job of 2 processes" in capsys.readouterr().err


def _failing_worker(message: str) -> None:
    if os.environ["RANK"] == "1":
        raise ValueError(message)


@pytest.mark.slow  # one more two-process launch
def test_a_failing_worker_is_one_line_naming_its_rank_and_error():
    with pytest.raises(RuntimeError, match=r"^rank 1 of 2 failed: ValueError: no such split$"):
        distributed.launch(_failing_worker, ("no such split",), nproc=2)


def test_suite_and_grid_carry_the_process_count(tmp_path, capsys):
    from segbench.suites import load_suite

    suite = tmp_path / "ddp.toml"
    suite.write_text('[grid]\nencoders = ["mobilenet"]\ndecoders = ["skip"]\n[data]\ndataset = "synthetic"\n'
                     '[train]\niterations = 2\nbatch_size = 4\nnproc_per_node = 2\n')
    cell = load_suite(suite).cells[0]
    assert cell.train.nproc_per_node == 2
    one_process = replace(cell, train=replace(cell.train, nproc_per_node=1))
    assert cell.fingerprint != one_process.fingerprint  # a 2-process result is not reused for 1 process
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--iterations", "1",
               "--device", "cpu", "--nproc-per-node", "-1", "--out", str(tmp_path / "run")])
    assert rc == 2 and "--nproc-per-node must be a whole number at least 1, not -1" in capsys.readouterr().err
