"""How the cells of a grid run: ``local``, ``subprocess`` or ``ray``.

Every executor yields records as cells finish and the runner alone writes
them, so tables, plots, compare and resume never know which one ran a cell.

- ``local``: this process, one cell after another (the default on CPU).
- ``subprocess``: a fresh process per cell, one at a time. A cell that
  crashes its process or passes ``timeout`` is a row (``crashed``,
  ``timeout``) and the grid goes on; no cuDNN or allocator state crosses
  from one cell's timing to the next (the default on CUDA).
- ``ray``: one Ray task per cell on an existing cluster (or a local
  instance), at most ``concurrency`` cells per machine at a time on CPU
  (default 1) and one per GPU on CUDA; a worker that dies is retried up to
  ``max_retries`` times.

This module imports neither torch nor Ray: the executors load on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from segbench.executors.base import Executor

EXECUTORS = ("local", "subprocess", "ray")
DEFAULT_MAX_RETRIES = 2


def default_executor(device_type: str) -> str:
    """``subprocess`` for CUDA (isolation between timings), ``local`` otherwise (no start-up cost)."""
    return "subprocess" if device_type == "cuda" else "local"


def make_executor(
    name: str,
    timeout: float | None = None,
    ray_address: str | None = None,
    max_retries: int | None = None,
    concurrency: int | None = None,
) -> Executor:
    """The executor called ``name``; a ValueError names any option it cannot honour."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor '{name}'; valid: {', '.join(EXECUTORS)}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    if max_retries is not None and max_retries < 0:
        raise ValueError(f"max retries must be 0 or more, not {max_retries}")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, not {concurrency}")
    if name != "ray":
        for option, value in (("ray address", ray_address), ("concurrency", concurrency),
                              ("max retries", max_retries)):
            if value is not None:
                raise ValueError(f"{option} needs the ray executor (got executor '{name}')")
    if name == "local":
        if timeout is not None:
            raise ValueError("a timeout needs the subprocess or ray executor: the local one cannot stop a cell")
        from segbench.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "subprocess":
        from segbench.executors.subprocess import SubprocessExecutor

        return SubprocessExecutor(timeout=timeout)
    from segbench.executors.ray import RayExecutor

    return RayExecutor(address=ray_address, timeout=timeout,
                       max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
                       concurrency=concurrency)


__all__ = ["DEFAULT_MAX_RETRIES", "EXECUTORS", "default_executor", "make_executor"]
