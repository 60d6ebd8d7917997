"""Each cell in a fresh Python process, one after another.

Isolation is the point: cuDNN autotune choices, the CUDA caching allocator
and any memory a model leaks die with the cell's process, so one cell's
timing never inherits another's state; and a cell that segfaults, is killed
for memory or hangs past ``timeout`` becomes a ``crashed`` or ``timeout``
row while the grid goes on. The cost is a process start and a fresh
``import torch`` per cell (see benchmarks/bench_executors.py).

The child gets its job pickled on stdin and answers over a dedicated pipe,
so training progress still reaches the parent's progress bar. It runs in
its own session: Ctrl-C reaches only the parent, which then kills the
child's whole process group (data-loader workers included); the CLI makes
SIGTERM and SIGHUP do the same (:mod:`segbench.signals`). A parent killed
outright (SIGKILL) takes its child with it on Linux, through the kernel's
parent-death signal (see :mod:`segbench.executors._worker`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import segbench
from segbench.cell import CellConfig, failure_record
from segbench.executors.base import CellJob, TrainCallback
from segbench.executors.placement import placement
from segbench.measure.latency import TimingConfig
from segbench.record import Status
from segbench.rounds import OnRound, RoundJob, RoundResult

_EOF = ("eof", None)
#: How long a child that has sent its record may take to exit before it is killed.
_EXIT_GRACE_S = 30.0


def describe_exit(returncode: int) -> str:
    """``exit code 3``, or ``exit code -11 (SIGSEGV)`` for a process killed by a signal."""
    names = {sig.value: sig.name for sig in signal.Signals}
    if returncode < 0 and -returncode in names:
        return f"exit code {returncode} ({names[-returncode]})"
    return f"exit code {returncode}"


def _read_messages(stream: BinaryIO, messages: queue.Queue) -> None:
    """Forward the child's pickled messages until it closes the pipe (or dies mid-message)."""
    with stream:
        while True:
            try:
                messages.put(pickle.load(stream))
            except Exception:
                messages.put(_EOF)
                return


def _child_env() -> dict[str, str]:
    """The parent's environment, with this segbench first on the path (it may be a checkout, not installed)."""
    env = dict(os.environ)
    root = str(Path(segbench.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@dataclass(frozen=True)
class _Child:
    """How a child process ended: its answer (None if it gave none), and what it left behind."""

    answer: Any
    timed_out: bool
    returncode: int | None
    stderr: str
    pid: int

    def failure(self, timeout: float | None) -> str:
        """Why there is no answer, in one line."""
        if self.timed_out:
            return f"no result after {timeout:g} s; process killed"
        last = next((ln.strip() for ln in reversed(self.stderr.splitlines()) if ln.strip()), "")
        code = describe_exit(self.returncode if self.returncode is not None else -1)
        return f"cell process died: {code}" + (f"; {last}" if last else "")


class SubprocessExecutor:
    """Runs each cell in a fresh ``python -m segbench.executors._worker`` process."""

    name = "subprocess"

    def __init__(self, timeout: float | None = None, python: str = sys.executable) -> None:
        self.timeout = timeout
        self.python = python

    def run(
        self,
        cells: Iterable[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        on_train_event: TrainCallback | None = None,
    ) -> Iterator[dict[str, Any]]:
        for cell in cells:
            yield self.run_one(CellJob.of(cell, run_dir, timing), on_train_event)

    def run_one(self, job: CellJob, on_train_event: TrainCallback | None = None) -> dict[str, Any]:
        """Run one cell in a child process; its record, or a ``crashed``/``timeout`` one."""
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        child = self._spawn(job, on_train_event, self.timeout)
        record = child.answer
        if child.stderr and record is not None:
            sys.stderr.write(child.stderr)  # the cell's own warnings, as the local executor would show them
        if record is None:
            status = Status.TIMEOUT if child.timed_out else Status.CRASHED
            record = failure_record(job.cell, status, child.failure(self.timeout), started=started)
        return {**record, **placement(self.name, pid=child.pid)}

    def time_round(self, job: RoundJob, run_dir: Path, on_round: OnRound) -> None:
        """One latency round over the job's cells, all in one fresh child process (a process start per round).

        A child that dies or runs out of time (``timeout`` per cell) costs the cells it had not reached this
        round, with a :class:`~segbench.rounds.RoundsWarning`.
        """
        seen: set[str] = set()

        def forward(result: RoundResult) -> None:
            seen.add(result.cell_id)
            on_round(result)

        timeout = self.timeout * len(job.cells) if self.timeout else None
        child = self._spawn(job, forward, timeout)  # type: ignore[arg-type]  # the job sends RoundResults
        if child.answer is None:
            for cell in job.cells:
                if cell.cell_id not in seen:
                    on_round(RoundResult(cell.cell_id, error=child.failure(timeout)))

    def _spawn(self, job: CellJob | RoundJob, on_event: TrainCallback | None, timeout: float | None) -> _Child:
        """Run ``job`` in a child process, forwarding its events to ``on_event``, until it answers or dies."""
        read_fd, write_fd = os.pipe()
        with tempfile.TemporaryFile() as stderr_file:
            try:
                child = subprocess.Popen(
                    [self.python, "-m", "segbench.executors._worker", str(write_fd), str(os.getpid())],
                    stdin=subprocess.PIPE, stderr=stderr_file, pass_fds=(write_fd,), env=_child_env(),
                    start_new_session=True,
                )
            finally:
                os.close(write_fd)
            messages: queue.Queue = queue.Queue()
            threading.Thread(target=_read_messages, args=(os.fdopen(read_fd, "rb"), messages),
                             daemon=True).start()
            try:
                assert child.stdin is not None  # stdin=PIPE
                try:
                    pickle.dump(job, child.stdin)
                    child.stdin.close()
                except BrokenPipeError:  # the child died before reading its job
                    pass
                answer, timed_out = self._wait(child, messages, on_event, timeout)
            finally:
                if child.poll() is None:  # a timeout, or Ctrl-C in the parent
                    _kill_group(child)
            stderr_file.seek(0)
            stderr = stderr_file.read().decode(errors="replace")
        return _Child(answer, timed_out, child.returncode, stderr, child.pid)

    def _wait(
        self, child: subprocess.Popen, messages: queue.Queue, on_train_event: TrainCallback | None,
        timeout: float | None,
    ) -> tuple[Any, bool]:
        """(answer or None, timed out?) once the child has closed its pipe or run out of time."""
        deadline = time.monotonic() + timeout if timeout else None
        record = None
        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                kind, payload = messages.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return record, record is None
                continue
            if kind == "event" and on_train_event:
                on_train_event(payload)
            elif kind == "record":
                record = payload
            elif kind == "eof":
                break
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if record is not None:  # answered: a child stuck on its way out is not the cell's failure
            remaining = min(remaining or _EXIT_GRACE_S, _EXIT_GRACE_S)
        try:
            child.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            return record, record is None
        return record, False


def _kill_group(child: subprocess.Popen) -> None:
    """SIGKILL the child's whole session (it and any data-loader workers), then reap it."""
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
