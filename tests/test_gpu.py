"""The CUDA paths, run where a GPU is (``pytest -m gpu``); skipped with the reason elsewhere."""

from __future__ import annotations

import pytest
import torch

from segbench.cli import main
from segbench.measure.profile import profile
from segbench.models import build_model
from segbench.rundir import RunDir

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_profile_on_cuda_measures_every_column(precision):
    result = profile(build_model("resnet18", "unet", 19), (256, 512), device="cuda", batch_size=2,
                     precision=precision, channels_last=True)
    assert result.device == "cuda" and result.mem_method == "cuda_max_allocated"
    assert result.latency_ms_median > 0 and result.peak_mem_mib > 0 and result.timed_iters >= 100


def test_a_cuda_grid_trains_with_amp_and_runs_in_a_subprocess(tmp_path):
    out = tmp_path / "run"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip", "--device", "cuda", "--size", "128x128",
                 "--iterations", "20", "--out", str(out), "--min-iters", "20", "--min-time", "0.2"]) == 0
    [record] = RunDir(out).records()
    assert record["status"] == "ok" and record["device"] == "cuda" and record["executor"] == "subprocess"
    assert record["miou"] == record["miou"]  # scored, not NaN
    assert torch.cuda.is_available()
