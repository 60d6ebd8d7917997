"""Latency in "latency mode": one synchronised forward per sample.

Warm-up runs by count and by time (lazy kernels, cuDNN autotuning and GPU
clocks all need it); every timed iteration is synchronised (CUDA events on
GPU, ``perf_counter`` on CPU) and its sample kept.

The timed iterations of one block are not independent of each other (a
machine's load lasts longer than an iteration), so a cell is timed in
*rounds*, as pyperf and asv do: short blocks interleaved across the cells of
a grid (:mod:`segbench.rounds`), each block's median one sample. The
comparison tests significance on those round medians.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

#: Fewest timed iterations in a round, however many rounds share a cell's budget: a round's median needs a few.
MIN_ROUND_ITERS = 3


@dataclass(frozen=True)
class TimingConfig:
    """When to stop warming up and timing; stop when both minimums are met, or at ``max_s``."""

    warmup_iters: int
    warmup_s: float
    min_iters: int
    min_s: float
    max_s: float

    @classmethod
    def for_device(cls, device: torch.device) -> TimingConfig:
        if device.type == "cuda":
            return cls(warmup_iters=10, warmup_s=2.0, min_iters=100, min_s=3.0, max_s=60.0)
        # CPU forwards of these models take 10 ms to seconds: fewer samples, a hard cap.
        return cls(warmup_iters=3, warmup_s=0.5, min_iters=10, min_s=2.0, max_s=20.0)

    def per_round(self, rounds: int) -> TimingConfig:
        """One of ``rounds`` rounds: the minimums and the cap shared out, so more rounds cost a cell little
        more than one. Each round still warms up by count (it times a freshly built model), by time for its
        share."""
        if rounds <= 1:
            return self
        return replace(self, warmup_s=self.warmup_s / rounds,
                       min_iters=max(MIN_ROUND_ITERS, math.ceil(self.min_iters / rounds)),
                       min_s=self.min_s / rounds, max_s=self.max_s / rounds)


@dataclass(frozen=True)
class LatencyStats:
    """Every timed iteration of every round (``samples_ms``), and each round's median (``round_ms``).

    Without ``round_ms`` the samples are one round. The median is that of the
    round medians; the percentiles, mean and std are those of all iterations.
    """

    samples_ms: tuple[float, ...]
    warmup_iters: int
    warmup_s: float
    batch_size: int
    round_ms: tuple[float, ...] = ()

    @property
    def rounds(self) -> tuple[float, ...]:
        return self.round_ms or (float(np.median(self.samples_ms)),)

    def with_round(self, samples_ms: tuple[float, ...] | list[float]) -> LatencyStats:
        """These statistics with one more round, timed as ``samples_ms``."""
        return LatencyStats((*self.samples_ms, *samples_ms), self.warmup_iters, self.warmup_s, self.batch_size,
                            (*self.rounds, float(np.median(samples_ms))))

    @property
    def median(self) -> float:
        """The median of the round medians (of the iterations, for one round)."""
        return float(np.median(self.rounds))

    @property
    def round_iqr_rel(self) -> float:
        """Interquartile range of the round medians over their median; NaN for one round (no spread known)."""
        if len(self.rounds) < 2:
            return math.nan
        return float(np.percentile(self.rounds, 75) - np.percentile(self.rounds, 25)) / self.median

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples_ms, q))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples_ms))

    @property
    def std(self) -> float:
        return float(np.std(self.samples_ms, ddof=1)) if len(self.samples_ms) > 1 else 0.0

    @property
    def iqr_rel(self) -> float:
        """Interquartile range over the median; above 0.1 the timing was noisy."""
        return (self.percentile(75) - self.percentile(25)) / self.median

    @property
    def throughput(self) -> float:
        """Images per second at the median latency."""
        return 1000.0 * self.batch_size / self.median


def run_until(step: Callable[[], float], min_iters: int, min_s: float, max_s: float) -> list[float]:
    """Call ``step`` until ``min_iters`` and ``min_s`` are both reached, or ``max_s`` passes."""
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        samples.append(step())
        elapsed = time.perf_counter() - start
        if (len(samples) >= min_iters and elapsed >= min_s) or elapsed >= max_s:
            return samples


def synchronised_step(forward: Callable[[], object], device: torch.device) -> Callable[[], float]:
    """Wrap ``forward`` into a step returning its own latency in ms, fully synchronised."""
    if device.type == "cuda":
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def cuda_step() -> float:
            begin.record()
            forward()
            end.record()
            end.synchronize()
            return begin.elapsed_time(end)

        return cuda_step

    def cpu_step() -> float:
        t0 = time.perf_counter()
        forward()
        return (time.perf_counter() - t0) * 1000.0

    return cpu_step
