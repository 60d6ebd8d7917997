"""A competing CPU load for the gate's tests: one process spinning per core (nothing else imported)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from contextlib import contextmanager


def spin(stop: object, parent: int) -> None:
    """Burn CPU until ``stop`` (a multiprocessing Event) is set, or the process that started this one is gone."""
    n = 0
    while not stop.is_set() and os.getppid() == parent:  # type: ignore[attr-defined]
        for _ in range(10_000):
            n += 1


@contextmanager
def cpu_load(processes: int | None = None) -> Iterator[int]:
    """A busy loop in ``processes`` (one per core by default) fresh processes for the length of the block."""
    ctx = mp.get_context("spawn")  # not fork: the parent holds torch's thread pools
    stop = ctx.Event()
    count = processes or os.cpu_count() or 1
    workers = [ctx.Process(target=spin, args=(stop, os.getpid()), daemon=True) for _ in range(count)]
    for w in workers:
        w.start()
    try:
        yield len(workers)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.kill()
