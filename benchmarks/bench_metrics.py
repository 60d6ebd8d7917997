"""Throughput of ConfusionMatrix.update on CPU versus a naive boolean-mask count.

Shared machines drift 2-3x in absolute speed, so both are timed in one
process, interleaved repeat by repeat, and compared by the ratio of medians.
With 2 threads on 2 busy cores, both can collapse to ~16 ms scheduler steps
(a thread waits for a descheduled peer); --threads 1 is the steadier ratio.
Run: python benchmarks/bench_metrics.py [--repeats 31] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from segbench.measure.metrics import ConfusionMatrix

SHAPE = (8, 360, 480)  # a CamVid-sized batch
NUM_CLASSES = 12
IGNORE = 255
IGNORED_FRACTION = 0.1


def naive_update(matrix: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> None:
    """The common recipe: drop ignored pixels with a boolean mask, then bincount (no range checks)."""
    keep = target != IGNORE
    idx = NUM_CLASSES * target[keep].long() + pred[keep]
    matrix += torch.bincount(idx, minlength=NUM_CLASSES**2).view(NUM_CLASSES, NUM_CLASSES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, NUM_CLASSES, SHAPE, generator=g)  # int64, as argmax returns
    target = torch.randint(0, NUM_CLASSES, SHAPE, generator=g, dtype=torch.uint8)
    target[torch.rand(SHAPE, generator=g) < IGNORED_FRACTION] = IGNORE

    cm = ConfusionMatrix(NUM_CLASSES, IGNORE)
    naive = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
    candidates = {"ConfusionMatrix.update": lambda: cm.update(pred, target),
                  "naive boolean mask": lambda: naive_update(naive, pred, target)}
    for fn in candidates.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)

    mpix = pred.numel() / 1e6
    print(f"batch {SHAPE} ({mpix:.2f} MPix), {NUM_CLASSES} classes, ignore_index={IGNORE} "
          f"on {IGNORED_FRACTION:.0%} of pixels, pred int64, target uint8")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved repeats, load average {os.getloadavg()[0]:.2f}"
          " (other busy processes on the cores skew absolute times)")
    med = {name: statistics.median(s) for name, s in samples.items()}
    for name, t in med.items():
        print(f"  {name:24s} median {t * 1e3:8.2f} ms  {mpix / t:8.1f} MPix/s")
    print(f"  same counts: {torch.equal(cm.matrix, naive)}")
    print(f"  speed-up (naive / ConfusionMatrix, ratio of medians): "
          f"{med['naive boolean mask'] / med['ConfusionMatrix.update']:.2f}x")


if __name__ == "__main__":
    main()
