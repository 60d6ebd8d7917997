"""SIGTERM and SIGHUP end a grid the way Ctrl-C does.

A CI runner, a batch scheduler or a closed terminal stops a job with SIGTERM
or SIGHUP, not SIGINT. Python's default for those is to die on the spot, so
the grid would leave the running cell's process behind (reparented to PID
1, still running) and skip its own clean-up. While :func:`terminate_as_interrupt`
is active, either signal raises :class:`Terminated`, a ``KeyboardInterrupt``:
every path that handles Ctrl-C (the runner keeps finished cells, the
subprocess executor kills the cell's process group, the Ray executor
cancels its tasks) handles these too, with no second code path.

The exit status follows the shell's convention, 128 + the signal number:
130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: The signals turned into :class:`Terminated` (SIGINT already raises KeyboardInterrupt).
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by ``signum``; handled wherever Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def exit_status(signum: int) -> int:
    """The shell's exit status for a process ended by ``signum``: 128 + its number."""
    return 128 + int(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (once; repeats wait for the clean-up).

    Only the main thread may set signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:  # a second SIGTERM must not cut short the killing of the first one's cell
            raised = True
            raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in TERMINATING}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)  # None: a handler set outside Python
