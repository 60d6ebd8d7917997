"""The child side of the subprocess executor: ``python -m segbench.executors._worker FD``.

Reads one pickled job ``(cell, timing, artifacts_dir, plugins)`` on stdin and
writes pickled messages to file descriptor ``FD``: ``("event", TrainEvent)``
for each training step (so the parent's progress bar moves) and
``("record", record)`` once at the end. Anything else the cell prints goes to
stdout/stderr as usual.
"""

from __future__ import annotations

import os
import pickle
import sys


def main() -> None:
    channel = os.fdopen(int(sys.argv[1]), "wb")

    def send(kind: str, payload: object) -> None:
        pickle.dump((kind, payload), channel, protocol=pickle.HIGHEST_PROTOCOL)
        channel.flush()

    cell, timing, artifacts_dir, plugins = pickle.load(sys.stdin.buffer)
    from segbench.cell import run_cell
    from segbench.plugins import load_plugins

    load_plugins(plugins)
    record = run_cell(cell, timing, artifacts_dir, lambda event: send("event", event))
    send("record", record)
    channel.close()


if __name__ == "__main__":
    main()
