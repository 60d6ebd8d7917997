"""What running cells elsewhere costs: the same small grid through each executor.

Prints, for the local, subprocess and ray executors (Ray: a local instance
with two CPU workers, two cells at a time), the wall time of a profile-only
grid and the overhead per cell over the local executor. The cells are tiny
on purpose (64x64, a few timed iterations), so the figures are the
executors' own cost: a fresh process and ``import torch`` per cell for
subprocess; task submission, and each Ray worker's first imports, for ray.

    python benchmarks/bench_executors.py
    python benchmarks/bench_executors.py --decoders skip,dilation,fcn8s,unet --executors local,ray
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from segbench.cell import CellConfig
from segbench.executors import make_executor
from segbench.measure.latency import TimingConfig
from segbench.runner import Executor, run_grid

FAST = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=5, min_s=0.0, max_s=5.0)


def _executor(name: str, ray_cpus: int) -> Executor:
    if name == "ray":
        from segbench.executors.ray import RayExecutor

        return RayExecutor(num_cpus=ray_cpus, concurrency=ray_cpus)
    return make_executor(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoders", default="mobilenet")
    parser.add_argument("--decoders", default="skip,dilation,fcn32s,fcn16s,fcn8s,unet")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--executors", default="local,subprocess,ray")
    parser.add_argument("--ray-cpus", type=int, default=2,
                        help="CPUs (and cells at a time) of the Ray instance")
    args = parser.parse_args()
    cells = [CellConfig(e, d, args.size, args.size, num_classes=3, threads=1)
             for e in args.encoders.split(",") for d in args.decoders.split(",")]
    walls: dict[str, float] = {}
    for name in args.executors.split(","):
        executor = _executor(name, args.ray_cpus)
        run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        start = time.perf_counter()
        result = run_grid(cells, run_dir, executor, timing=FAST)
        walls[name] = time.perf_counter() - start
        bad = result.table[result.table["status"] != "ok"]
        assert bad.empty, bad[["cell_id", "status", "error"]]
        shutil.rmtree(run_dir)
    local = walls.get("local")
    print(f"{'executor':<12}{'cells':>6}{'wall s':>9}{'s/cell':>8}{'overhead/cell s':>17}")
    for name, wall in walls.items():
        overhead = f"{(wall - local) / len(cells):+.2f}" if local is not None else "-"
        print(f"{name:<12}{len(cells):>6}{wall:>9.1f}{wall / len(cells):>8.2f}{overhead:>17}")


if __name__ == "__main__":
    main()
