"""The prepared GPU check (issue 15): what segbench measures on a CUDA device, in one run of a few minutes.

Prints, and writes into ``--out`` (``gpu_check.txt``, the figures as text with the exact command, and
``gpu_check.json``, the same as data):

1. latency repeatability: per-cell medians of two back-to-back runs of a 4-cell profile-only grid, and
   their ratio;
2. the evaluation and training loops over their bare loops (``benchmarks/bench_pipeline.py``);
3. resnet18+unet at 512x1024, batch 16: eager fp32, eager bf16 channels_last, compile and cudagraphs
   (bf16 channels_last), each with its latency and roofline_fraction;
4. the wall time of the 4x3 profile-only RTSeg grid at 360x640 (``segbench run rtseg``, subprocess executor);
5. a 2-minute synthetic training with AMP bf16: its mIoU and images/s.

``--device cpu`` runs the same steps on the CPU (the CUDA-only runtime reported not applicable), and
``--quick`` shrinks every size and budget so that the whole check takes well under a minute: that is
how the tests know the script runs before a GPU is at hand. ``benchmarks/gpu_check.sh`` installs
what a bare GPU machine lacks and calls this.

    python benchmarks/gpu_check.py --out results/reference/gpu              # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/check    # the same code path, tiny
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    """What each step runs at: the issue's figures on a GPU, a token of them with ``--quick``."""

    grid_size: str = "360x640"
    big_size: str = "512x1024"
    big_batch: int = 16
    big_runtimes: str = "eager,compile,cudagraphs"
    train_s: float = 120.0
    rtseg_include: tuple[str, ...] = ()  # every cell
    pipeline_args: tuple[str, ...] = ()
    timing_args: tuple[str, ...] = ()


FULL = Sizes()
#: Compile is left out of the quick check: inductor's CPU build alone takes a minute (tests/runtimes covers it).
QUICK = Sizes(grid_size="32x64", big_size="32x64", big_batch=2, big_runtimes="eager,cudagraphs", train_s=3.0,
              rtseg_include=("mobilenet+skip",),
              pipeline_args=("--images", "4", "--train-iters", "2", "--train-images", "8", "--repeats", "1"),
              timing_args=("--warmup-iters", "1", "--min-iters", "5", "--min-time", "0.05"))


def segbench(*args: str, log: list[str]) -> float:
    """Run ``python -m segbench ARGS`` from the repository root; its wall time. Raises on a non-zero exit."""
    command = [sys.executable, "-m", "segbench", *args]
    log.append("$ " + shlex.join(["segbench", *args]))
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"segbench {args[0]} exited {done.returncode}: {' | '.join(tail)}")
    return wall


def table(run: Path) -> pd.DataFrame:
    frame = pd.read_csv(run / "table.csv")
    frame["cell"] = frame["encoder"] + "+" + frame["decoder"]
    return frame


def repeatability(device: str, sizes: Sizes, work: Path, log: list[str]) -> dict[str, Any]:
    """The same 4-cell profile-only grid twice, back to back: each cell's medians and their ratio."""
    grid = ["grid", "--encoders", "resnet18,mobilenet", "--decoders", "skip,unet", "--profile-only",
            "--size", sizes.grid_size, "--device", device, *sizes.timing_args]
    medians = []
    for run in ("first", "second"):
        segbench(*grid, "--out", str(work / f"repeat-{run}"), log=log)
        medians.append(table(work / f"repeat-{run}").set_index("cell")["latency_ms_median"])
    ratio = medians[1] / medians[0]
    for cell in ratio.index:
        log.append(f"  {cell:16s} {medians[0][cell]:9.3f} ms  {medians[1][cell]:9.3f} ms  ratio {ratio[cell]:.3f}")
    return {"first_ms": medians[0].to_dict(), "second_ms": medians[1].to_dict(), "ratio": ratio.to_dict()}


def pipeline(device: str, sizes: Sizes, work: Path, log: list[str]) -> dict[str, Any]:
    """benchmarks/bench_pipeline.py: the loops' images/s over their bare loops'."""
    command = [sys.executable, "benchmarks/bench_pipeline.py", "--device", device, *sizes.pipeline_args]
    log.append("$ " + shlex.join(["python", *command[1:]]))
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    log.extend("  " + line for line in lines)
    return {"output": lines}


def big_model(device: str, sizes: Sizes, work: Path, log: list[str]) -> dict[str, Any]:
    """resnet18+unet at the big size: eager fp32, then bf16 channels_last on every runtime."""
    # One latency round: a later round rebuilds its runtime, and compiling this model again four times would
    # take most of the check's minutes; these are figures, not a gate's samples.
    common = ["grid", "--encoders", "resnet18", "--decoders", "unet", "--profile-only", "--size", sizes.big_size,
              "--batch-size", str(sizes.big_batch), "--device", device, "--rounds", "1", *sizes.timing_args]
    segbench(*common, "--precision", "fp32", "--out", str(work / "big-fp32"), log=log)
    segbench(*common, "--precision", "bf16", "--channels-last", "--runtime", sizes.big_runtimes,
             "--out", str(work / "big-bf16"), log=log)
    frame = pd.concat([table(work / "big-fp32"), table(work / "big-bf16")], ignore_index=True)
    rows = []
    for row in frame.to_dict("records"):
        label = f"{row.get('runtime', 'eager')} {row['precision']}{' channels_last' if row['channels_last'] else ''}"
        if row["status"] == "ok":
            log.append(f"  {label:28s} {row['latency_ms_median']:9.3f} ms  roofline_fraction "
                       f"{row.get('roofline_fraction', float('nan')):.3f}  ({row.get('roofline_bound', '-')}-bound)")
        else:
            log.append(f"  {label:28s} {row['status']}: {row['error']}")
        rows.append({"runtime": label, "status": row["status"], "latency_ms_median": row.get("latency_ms_median"),
                     "roofline_fraction": row.get("roofline_fraction"), "error": row.get("error")})
    return {"size": sizes.big_size, "batch": sizes.big_batch, "rows": rows}


def rtseg_grid(device: str, sizes: Sizes, work: Path, log: list[str]) -> dict[str, Any]:
    """`segbench run rtseg` (costs only, 360x640), subprocess executor: its wall time."""
    del device  # the suite says auto
    include = [arg for cell in sizes.rtseg_include for arg in ("--include", cell)]
    wall = segbench("run", "rtseg", "--executor", "subprocess", *include, "--out", str(work / "rtseg"),
                    log=log)  # the suite's device is auto: the GPU where there is one
    frame = table(work / "rtseg")
    log.append(f"  {len(frame)} cells, {int((frame['status'] == 'ok').sum())} ok, wall {wall:.1f} s")
    return {"cells": len(frame), "ok": int((frame["status"] == "ok").sum()), "wall_s": wall}


def training(device: str, sizes: Sizes, work: Path, log: list[str]) -> dict[str, Any]:
    """A synthetic training under AMP bf16 for the budget: its mIoU and images/s."""
    out = work / "train"
    segbench("train", "--encoder", "resnet18", "--decoder", "unet", "--device", device, "--time-budget",
             str(sizes.train_s), "--train-precision", "bf16", "--out", str(out), log=log)
    metrics = json.loads((out / "metrics.json").read_text())
    images_s = metrics["train_iters"] * metrics["train_batch_size"] / metrics["train_time_s"]
    log.append(f"  {metrics['train_iters']} iterations of batch {metrics['train_batch_size']} in "
               f"{metrics['train_time_s']:.1f} s: {images_s:.1f} images/s, test mIoU {metrics['miou']:.1f}")
    return {"miou": metrics["miou"], "images_s": images_s, "train_iters": metrics["train_iters"],
            "train_time_s": metrics["train_time_s"]}


STEPS: dict[str, Callable[[str, Sizes, Path, list[str]], dict[str, Any]]] = {
    "repeatability": repeatability,
    "pipeline": pipeline,
    "resnet18_unet_runtimes": big_model,
    "rtseg_grid": rtseg_grid,
    "training_bf16": training,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="Token sizes and budgets (the CPU test).")
    parser.add_argument("--out", type=Path, required=True, help="Folder for gpu_check.txt and gpu_check.json.")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"Comma list of steps (default all: {','.join(STEPS)}).")
    args = parser.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; valid: {', '.join(STEPS)}")
    sizes = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])])
    log = [f"# {command}", f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"]
    results: dict[str, Any] = {"command": command, "device": args.device, "quick": args.quick, "steps": {}}
    start, printed = time.perf_counter(), 0
    with tempfile.TemporaryDirectory(prefix="segbench-gpu-check-") as tmp:
        for name in steps:
            log.append(f"\n## {name}")
            t0 = time.perf_counter()
            try:
                results["steps"][name] = {"status": "ok", **STEPS[name](args.device, sizes, Path(tmp), log)}
            except Exception as e:  # one step's failure is a figure too; the others still run
                results["steps"][name] = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
                log.append(f"  failed: {type(e).__name__}: {e}")
            results["steps"][name]["wall_s"] = time.perf_counter() - t0
            print("\n".join(log[printed:]), flush=True)
            printed = len(log)
    results["wall_s"] = time.perf_counter() - start
    log.append(f"\nwhole check: {results['wall_s']:.0f} s")
    (args.out / "gpu_check.txt").write_text("\n".join(log) + "\n")
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"whole check: {results['wall_s']:.0f} s; written to {args.out}")
    return 0 if all(s["status"] == "ok" for s in results["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
