"""A test-only plugin: the decoder ``work`` doing twice the work, under the same name (see tests.measure.work)."""

from __future__ import annotations

from tests.measure.work import WorkTwice, register

register(WorkTwice)
