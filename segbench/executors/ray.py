"""Each cell a Ray task on an existing cluster (``address``), or on a local instance.

The driver (this process) keeps the run directory: records come back as
tasks finish and the runner writes them, so a run made on Ray reads like any
other, and a driver that dies leaves every finished cell on disk to resume
from.

Timing fidelity. Each task is pinned to a node, and the driver keeps at most
``concurrency`` cells in flight per node on CPU (default 1: CPU timings never
overlap on one machine unless asked) and one per GPU on CUDA (each task holds
``num_gpus=1``, so two timings never share a GPU). Each record lists the
cells that ran on its node at the same time in ``concurrent_cells``.

Faults. Ray's own retries are off; the driver resubmits a cell whose worker
or node died, up to ``max_retries`` times, then records it ``crashed`` with
the reason. A cell is yielded exactly once, whatever happened to its tasks.
A task past ``timeout`` is cancelled (its worker killed) and recorded
``timeout``. When the driver stops early (Ctrl-C, SIGTERM, SIGHUP), every
task still in flight is cancelled the same way, so nothing keeps running on
a cluster, and a local instance started here is shut down. Training
progress is not forwarded from Ray workers.

On a real cluster segbench (and any ``SEGBENCH_PLUGINS`` module) must be
installed on every node, and training checkpoints land at the run
directory's path on the worker's own disk unless that path is shared.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

from segbench.cell import CellConfig, failure_record
from segbench.executors.base import CellJob, TrainCallback
from segbench.executors.placement import placement
from segbench.measure.latency import TimingConfig
from segbench.record import Status

INSTALL_HINT = "the ray executor needs Ray: pip install 'segbench[ray]'"


def import_ray():
    """``ray``, or a ValueError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


class _Where(TypedDict):
    """Where and when a cell's task ran: its worker's host and pid, and its wall-clock span."""

    host: str
    pid: int
    t0: float
    t1: float


def run_cell_task(job: CellJob, threads: int) -> tuple[dict[str, Any], _Where]:
    """The body of a cell's Ray task: its record, and where and when it ran."""
    import torch

    torch.set_num_threads(threads)  # the CPUs Ray gave this task, not the whole machine's
    t0 = time.time()
    record = job.run()
    where: _Where = {"host": socket.gethostname(), "pid": os.getpid(), "t0": t0, "t1": time.time()}
    return record, where


@dataclass
class _Attempt:
    cell: CellConfig
    node: str
    number: int
    submitted: float = field(default_factory=time.monotonic)
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


class RayExecutor:
    """Runs cells as Ray tasks, a bounded number per node at a time."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        timeout: float | None = None,
        max_retries: int = 2,
        concurrency: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        self.ray = import_ray()
        self.address = address
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.num_cpus = num_cpus  # of a local instance started here (default: all)

    def run(
        self,
        cells: Iterable[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        on_train_event: TrainCallback | None = None,
    ) -> Iterator[dict[str, Any]]:
        ray = self.ray
        started_here = not ray.is_initialized()
        if started_here:
            if self.address:  # an existing cluster: its resources are its own
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
        in_flight: dict[Any, _Attempt] = {}
        try:
            yield from self._run(iter(cells), timing, Path(run_dir), in_flight)
        finally:  # Ctrl-C, SIGTERM or SIGHUP in the driver: no task may go on running on the cluster
            for ref in in_flight:
                with contextlib.suppress(ray.exceptions.RayError):  # it ended meanwhile, or its node did
                    ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()

    def _slots(self, gpu: bool) -> dict[str, int]:
        """node id -> cells it may run at once: its GPUs on CUDA, ``concurrency`` (1) on CPU."""
        slots = {}
        for node in self.ray.nodes():
            resources = node.get("Resources", {})
            if not node.get("Alive") or resources.get("CPU", 0) < 1:
                continue
            n = int(resources.get("GPU", 0)) if gpu else self.concurrency or 1
            if gpu and self.concurrency:
                n = min(n, self.concurrency)
            if n > 0:
                slots[node["NodeID"]] = n
        return slots

    def _run(
        self,
        cells: Iterator[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        in_flight: dict[Any, _Attempt],
    ) -> Iterator[dict]:
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(max_retries=0)(run_cell_task)
        cluster_gpus = ray.cluster_resources().get("GPU", 0) > 0
        retry: deque[tuple[CellConfig, int]] = deque()  # (cell, attempts so far) waiting for a node
        spans: list[tuple[str, str, float, float]] = []  # (node, cell_id, t0, t1) of finished cells
        exhausted = False

        def needs_gpu(cell: CellConfig) -> bool:
            return cell.device.startswith("cuda") or (cell.device == "auto" and cluster_gpus)

        def next_cell() -> tuple[CellConfig, int] | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            if exhausted:
                return None
            cell = next(cells, None)  # pulling a cell announces it (the runner's on_start)
            exhausted = cell is None
            return None if cell is None else (cell, 0)

        def free_node(gpu: bool) -> str | None:
            busy: dict[str, int] = {}
            for attempt in in_flight.values():
                busy[attempt.node] = busy.get(attempt.node, 0) + 1
            free = {node: n - busy.get(node, 0) for node, n in self._slots(gpu).items()}
            free = {node: n for node, n in free.items() if n > 0}
            return max(free, key=free.__getitem__) if free else None

        waiting: tuple[CellConfig, int] | None = None
        while True:
            while True:  # fill every free slot
                waiting = waiting or next_cell()
                if waiting is None:
                    break
                cell, attempts = waiting
                gpu = needs_gpu(cell)
                node = free_node(gpu)
                if node is None:
                    if not self._slots(gpu):  # no node could ever run it
                        needed = "a GPU" if gpu else "a CPU"
                        yield self._failed(cell, attempts, Status.CRASHED, f"no live Ray node with {needed}")
                        waiting = None
                        continue
                    break
                threads = cell.threads or 1
                options = {"num_gpus": 1, "num_cpus": threads} if gpu else {"num_cpus": threads}
                ref = task.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False), **options
                ).remote(CellJob.of(cell, run_dir, timing), threads)
                in_flight[ref] = _Attempt(cell, node, attempts + 1)
                waiting = None
            if not in_flight:
                return
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                attempt = in_flight.pop(ref)
                outcome = self._collect(ref, attempt)
                if outcome is None:
                    retry.append((attempt.cell, attempt.number))
                    continue
                record, where = outcome
                if where is None:  # a failure record, placed already
                    yield record
                    continue
                beside = [c for span_node, c, t0, t1 in spans
                          if span_node == attempt.node and t0 < where["t1"] and t1 > where["t0"]]
                beside += [a.cell.cell_id for a in in_flight.values() if a.node == attempt.node]
                spans.append((attempt.node, attempt.cell.cell_id, where["t0"], where["t1"]))
                yield {**record, **placement(self.name, attempt.number, beside, where["host"], where["pid"])}
            for ref, attempt in list(in_flight.items()):
                if self.timeout and time.monotonic() - attempt.submitted > self.timeout:
                    ray.cancel(ref, force=True)
                    del in_flight[ref]
                    yield self._failed(attempt.cell, attempt.number, Status.TIMEOUT,
                                       f"no result after {self.timeout:g} s; task cancelled", attempt.started)

    def _collect(self, ref: Any, attempt: _Attempt) -> tuple[dict[str, Any], _Where | None] | None:
        """(record, where) of a finished task; None when its worker died and it may run again."""
        exc = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exc.RayTaskError as e:  # the task raised (a plugin failed to import, say): not retried
            reason = str(e.cause if getattr(e, "cause", None) else e).strip().splitlines()[-1]
            return self._failed(attempt.cell, attempt.number, Status.CRASHED, reason, attempt.started), None
        except exc.OutOfMemoryError as e:  # Ray's memory monitor killed the worker
            return self._failed(attempt.cell, attempt.number, Status.OOM, _first_line(e), attempt.started), None
        except exc.RayError as e:  # the worker or its node died
            if attempt.number <= self.max_retries:
                return None
            reason = f"Ray worker died in {attempt.number} attempt(s); last: {type(e).__name__}: {_first_line(e)}"
            return self._failed(attempt.cell, attempt.number, Status.CRASHED, reason, attempt.started), None

    def _failed(self, cell: CellConfig, attempts: int, status: Status, error: str, started: str | None = None) -> dict:
        record = failure_record(cell, status, error, started=started)
        record.update(placement(self.name, attempts))
        return record


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""
