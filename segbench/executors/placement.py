"""Where and beside what a cell ran: the fields every executor adds to a record.

A latency is only as good as the machine was quiet, so each record says which
executor ran it, on which host and process, after how many attempts, and which
other cells ran on the same machine at the same time (none, unless the user
asked for concurrency).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any


def placement(
    executor: str,
    attempts: int = 1,
    concurrent_cells: Iterable[str] = (),
    host: str | None = None,
    pid: int | None = None,
) -> dict[str, Any]:
    """The placement fields of a record; host and pid default to this process."""
    return {
        "executor": executor,
        "worker_host": host or socket.gethostname(),
        "worker_pid": pid if pid is not None else os.getpid(),
        "attempts": attempts,
        "concurrent_cells": sorted(concurrent_cells),
    }
