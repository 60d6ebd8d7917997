"""Shared fixtures: fast timing settings, and the real CamVid location."""

from __future__ import annotations

import os

import pytest
import torch

from segbench.measure.latency import TimingConfig

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
