"""A test-only plugin (``SEGBENCH_PLUGINS=tests.measure.plugins_work``): the decoder ``work`` (see tests.measure.work).

Never imported by segbench itself: the gate's tests name it.
"""

from __future__ import annotations

from tests.measure.work import Work, register

register(Work)
