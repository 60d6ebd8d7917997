"""benchmarks/gpu_check.sh runs before a GPU is at hand: the same code path on the CPU, at token sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_gpu_check_runs_on_the_cpu_and_reports_every_step(tmp_path: Path):
    out = tmp_path / "check"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--quick",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "gpu_check.json").read_text())
    steps = results["steps"]
    assert set(steps) == {"repeatability", "pipeline", "resnet18_unet_runtimes", "rtseg_grid", "training_bf16"}
    assert all(step["status"] == "ok" for step in steps.values()), steps
    assert set(steps["repeatability"]["ratio"]) == {"resnet18+skip", "resnet18+unet", "mobilenet+skip",
                                                    "mobilenet+unet"}
    assert all(r > 0 for r in steps["repeatability"]["ratio"].values())
    rows = {row["runtime"]: row for row in steps["resnet18_unet_runtimes"]["rows"]}
    assert rows["eager fp32"]["status"] == "ok" and 0 < rows["eager fp32"]["roofline_fraction"] <= 1
    assert rows["cudagraphs bf16 channels_last"]["status"] == "not_applicable"  # CUDA only: said, not timed
    assert steps["rtseg_grid"]["ok"] == steps["rtseg_grid"]["cells"] == 1
    assert steps["training_bf16"]["images_s"] > 0 and 0 <= steps["training_bf16"]["miou"] <= 100
    text = (out / "gpu_check.txt").read_text()
    assert text.startswith("# python benchmarks/gpu_check.py --device cpu --quick")  # the exact command
    assert "roofline_fraction" in text and "not_applicable" in text
