"""Shared fixtures: fast timing settings, and the real CamVid location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from segbench.measure.latency import TimingConfig


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests are skipped, with the reason, where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; torch.cuda.is_available() is False here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

torch.set_num_threads(min(2, os.cpu_count() or 1))

#: Enough to exercise every code path, far too few for a publishable number.
FAST_TIMING = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=2, min_s=0.0, max_s=5.0)
FAST_CLI = ["--warmup-iters", "1", "--min-iters", "2", "--min-time", "0"]


@pytest.fixture
def fast_timing() -> TimingConfig:
    return FAST_TIMING


def assert_one_line(capsys, rc: int, *named: object, progress: bool = False) -> str:
    """Exit 2 and one ``error:`` line naming ``named``; with ``progress``, after a progress bar."""
    err = capsys.readouterr().err
    assert rc == 2, err
    if progress:
        err = err.splitlines(keepends=True)[-1]
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for text in named:
        assert str(text) in err, err
    return err


@pytest.fixture
def small_synthetic(monkeypatch):
    """The synthetic set's default splits shrunk, so a CLI run scores 4 scenes rather than 64."""
    from segbench.data import synthetic

    for split, length in {"train": 8, "val": 4, "test": 4}.items():
        monkeypatch.setitem(synthetic.DEFAULT_LENGTHS, split, length)


#: The real CamVid (SegNet version), at ../shared/datasets/camvid beside the checkout unless told otherwise.
CAMVID_ROOT = Path(os.environ.get("SEGBENCH_CAMVID_ROOT",
                                  Path(__file__).resolve().parents[2] / "shared" / "datasets" / "camvid"))


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    """The real CamVid's folder; the test is skipped, with the reason, where it is not there."""
    if not (CAMVID_ROOT / "trainannot").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID_ROOT} (set SEGBENCH_CAMVID_ROOT to its folder)")
    return CAMVID_ROOT
