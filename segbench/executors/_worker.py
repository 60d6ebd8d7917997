"""The child side of the subprocess executor: ``python -m segbench.executors._worker FD PARENT_PID``.

Reads one pickled job on stdin (a :class:`~segbench.executors.base.CellJob`, or a
:class:`~segbench.rounds.RoundJob` timing one latency round of several cells) and
writes pickled messages to file descriptor ``FD``: ``("event", TrainEvent)``
for each training step (so the parent's progress bar moves) and
``("record", record)`` once at the end. Anything else the cell prints goes to
stdout/stderr as usual.

The child dies with its parent, even when the parent is killed with SIGKILL
and can clean nothing up: on Linux it asks the kernel for
``PR_SET_PDEATHSIG`` (SIGKILL). Elsewhere only the parent's own clean-up
(Ctrl-C, SIGTERM, SIGHUP) ends it.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys

#: prctl option: the signal this process receives when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """Have the kernel SIGKILL this process when its parent dies; False where the platform cannot.

    The kernel ties the death signal to the parent *thread* that started the
    child, which is the thread running the grid. A parent already gone before
    the request (the child then has a new parent) ends this process at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):  # no libc with prctl (musl without it, a sandbox)
        return False
    if os.getppid() != parent_pid:  # orphaned before the request took effect
        os._exit(1)
    return True


def main() -> None:
    if len(sys.argv) > 2:
        die_with_parent(int(sys.argv[2]))
    channel = os.fdopen(int(sys.argv[1]), "wb")

    def send(kind: str, payload: object) -> None:
        pickle.dump((kind, payload), channel, protocol=pickle.HIGHEST_PROTOCOL)
        channel.flush()

    job = pickle.load(sys.stdin.buffer)
    record = job.run(lambda event: send("event", event))
    send("record", record)
    channel.close()


if __name__ == "__main__":
    main()
