"""A test-only plugin (``SEGBENCH_PLUGINS=tests.executors.plugins_crash``): decoders that misbehave on purpose.

- ``crash_hard`` kills its own process with SIGSEGV while the model is built,
  as a broken extension would: only process isolation survives it.
- ``hang`` never returns: only a timeout ends it.
- ``slow_skip`` is ``skip`` that first writes its process id into
  ``$SEGBENCH_TEST_PIDS/`` and sleeps ``$SEGBENCH_TEST_SLEEP`` seconds
  (default 3): time for a test to kill the worker in the middle of the cell.

Never imported by segbench itself: tests name it in the environment, which
the subprocess executor's children and the Ray workers inherit.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from segbench.models import DECODERS
from segbench.models.decoders.skip import SkipNet


class CrashHard(SkipNet):
    def __init__(self, specs, num_classes):
        os.kill(os.getpid(), signal.SIGSEGV)


class Hang(SkipNet):
    def __init__(self, specs, num_classes):
        time.sleep(3600)


class SlowSkip(SkipNet):
    def __init__(self, specs, num_classes):
        pids = os.environ.get("SEGBENCH_TEST_PIDS")
        if pids:
            Path(pids, str(os.getpid())).touch()
        time.sleep(float(os.environ.get("SEGBENCH_TEST_SLEEP", "3")))
        super().__init__(specs, num_classes)


NAMES = {"crash_hard": CrashHard, "hang": Hang, "slow_skip": SlowSkip}
for _name, _cls in NAMES.items():
    if _name not in DECODERS.names():
        DECODERS.add(_name, _cls, paper="test only", year=0, needs="-")
