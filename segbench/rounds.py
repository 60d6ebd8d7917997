"""Latency rounds: each cell timed again in short blocks, one round over every cell at a time.

The timed iterations of one block share the machine's state of that moment
(its load, its clocks), so they are not independent samples: two runs of the
same code can differ "significantly" on them. As pyperf and asv do, a cell's
latency is measured in ``rounds`` instead: the cell's own run is round 1,
then round 2 times every ok cell of the grid, then round 3, and so on, each
round's median one sample. A slow spell of the machine then lands in one
round of many cells rather than in every sample of one cell, the cell's
median is the median of its round medians, the spread across rounds says how
noisy the machine was, and the comparison tests on the round medians.

Rounds after the first time a model rebuilt from the cell's configuration
(the registry builds it from the key columns; its weights are the seeded
initial ones, not the trained ones: the time of a forward does not depend on
the weights' values). Each round is written into the cell's record as soon
as it is timed, so an interrupted run resumes with the rounds it had.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segbench.config import CellConfig
    from segbench.measure.latency import LatencyStats, TimingConfig
    from segbench.rundir import RunDir

#: ``--rounds`` when neither the command line nor the suite says: with 5 rounds a side, the exact one-sided
#: Mann-Whitney test can reach p < 0.01 (1 / C(10, 5) = 0.004); with 4 it cannot (1 / 70 = 0.014).
DEFAULT_ROUNDS = 5


class RoundsWarning(UserWarning):
    """A cell's round could not be timed, or an executor cannot time rounds; the cell keeps fewer rounds."""


@dataclass(frozen=True)
class RoundResult:
    """One cell's round: its timed samples, or why there are none."""

    cell_id: str
    samples_ms: tuple[float, ...] = ()
    error: str | None = None


#: Called with each cell's round as soon as it is timed.
OnRound = Callable[[RoundResult], None]


@dataclass(frozen=True)
class RoundJob:
    """One round over ``cells``, in order, in one process (this one, or a child of the subprocess executor)."""

    cells: tuple[CellConfig, ...]
    plugins: tuple[str, ...] = ()

    @classmethod
    def of(cls, cells: Iterable[CellConfig], timing: TimingConfig | None = None) -> RoundJob:
        """The round of ``cells`` (``timing`` for a cell without its own), with this process's plugins."""
        from segbench.plugins import plugin_modules

        timed = tuple(c if c.timing or timing is None else replace(c, timing=timing) for c in cells)
        return cls(timed, tuple(plugin_modules()))

    def run(self, on_round: Callable[[Any], None] | None = None) -> int:
        """Time one round of each cell, handing each :class:`RoundResult` to ``on_round`` as it ends.

        Returns how many cells it went through (the subprocess executor's answer that the round ended).
        """
        from segbench.plugins import load_plugins

        if self.plugins:
            load_plugins(list(self.plugins))
        for cell in self.cells:
            result = time_cell_round(cell)
            if on_round:
                on_round(result)
        return len(self.cells)


def time_cell_round(cell: CellConfig) -> RoundResult:
    """One latency round of ``cell``'s model, rebuilt from its configuration; a failure is a result, not a raise."""
    import torch

    from segbench.cell import build_cell_model
    from segbench.inference import apply_inference
    from segbench.measure.profile import time_round

    try:
        if cell.threads is not None:
            torch.set_num_threads(cell.threads)
        model = apply_inference(build_cell_model(cell), cell.inference)
        stats = time_round(model, (cell.input_h, cell.input_w), device=cell.device, batch_size=cell.batch_size,
                           precision=cell.precision, channels_last=cell.channels_last, threads=cell.threads,
                           timing=cell.timing, runtime=cell.runtime, compile_mode=cell.compile_mode)
        return RoundResult(cell.cell_id, stats.samples_ms)
    except Exception as e:  # a round is extra evidence: its failure costs the cell a round, not the grid
        message = str(e).strip().splitlines()
        return RoundResult(cell.cell_id, error=f"{type(e).__name__}: {message[0] if message else ''}")
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def stats_of(record: dict[str, Any]) -> LatencyStats:
    """A record's latency statistics, every round so far (a record from before rounds is one round)."""
    from segbench.measure.latency import LatencyStats

    return LatencyStats(tuple(record["latency_samples_ms"]), int(record["warmup_iters"]),
                        float(record["time_warmup_s"]), int(record["batch_size"]),
                        tuple(record.get("latency_round_ms") or ()))


def with_round(record: dict[str, Any], samples_ms: Iterable[float]) -> dict[str, Any]:
    """``record`` with one more latency round: every latency field recomputed over all its rounds."""
    from segbench.measure.profile import latency_fields

    return {**record, **latency_fields(stats_of(record).with_round(tuple(samples_ms)))}


def rounds_done(record: dict[str, Any]) -> int:
    """How many latency rounds a record holds (a record from before rounds holds one)."""
    return len(record.get("latency_round_ms") or ()) or 1


def _wants_rounds(record: dict[str, Any] | None, cell: CellConfig) -> bool:
    return (record is not None and record.get("status") == "ok" and bool(record.get("latency_samples_ms"))
            and record.get("fingerprint") == cell.fingerprint
            and record.get("measure_fingerprint") == cell.measure_fingerprint)


def pending(cells: Iterable[CellConfig], run: RunDir, below: int) -> list[CellConfig]:
    """The ok cells of ``run`` among ``cells`` holding fewer than ``below`` rounds, in grid order."""
    out = []
    for cell in cells:
        record = run.record(cell.cell_id)
        if _wants_rounds(record, cell) and rounds_done(record) < below:  # type: ignore[arg-type]
            out.append(cell)
    return out


def run_rounds(
    cells: list[CellConfig],
    run: RunDir,
    executor: Any,
    rounds: int,
    timing: TimingConfig | None = None,
    on_round: Callable[[str, int], None] | None = None,
) -> Iterator[str]:
    """Bring every ok cell of ``cells`` in ``run`` to ``rounds`` rounds, one round over all of them at a time.

    Yields the id of each cell whose round was recorded. An executor without
    ``time_round`` (Ray) keeps one round per cell, with a :class:`RoundsWarning`.
    """
    timer = getattr(executor, "time_round", None)
    if rounds < 2 or not pending(cells, run, rounds):
        return
    if timer is None:
        warnings.warn(f"the {executor.name} executor times one latency round per cell; --rounds {rounds} needs "
                      "the local or subprocess executor", RoundsWarning, stacklevel=2)
        return
    ceilings = run.ceilings()  # run.json's, read once: the rounds do not change them
    for number in range(2, rounds + 1):
        todo = pending(cells, run, number)
        if not todo:
            continue
        recorded: list[str] = []
        record_round = functools.partial(_record_round, run, ceilings, number, recorded, on_round)
        try:
            timer(RoundJob.of(todo, timing), Path(run.path), record_round)
        finally:
            if recorded:
                run.write_table()
        yield from recorded


def _record_round(run: RunDir, ceilings: dict[str, Any], number: int, recorded: list[str],
                  on_round: Callable[[str, int], None] | None,
                  result: RoundResult) -> None:
    """Write round ``number`` of ``result``'s cell into its record (a failed round is a warning)."""
    if result.error is not None:
        warnings.warn(f"{result.cell_id}: latency round {number} failed: {result.error}", RoundsWarning,
                      stacklevel=2)
        return
    from segbench.measure.roofline import roofline_fields

    record = run.record(result.cell_id)
    assert record is not None  # pending() read it
    updated = with_round(record, result.samples_ms)
    updated.update(roofline_fields(updated, ceilings))  # they divide by the median: it moved
    run.write_record(updated)
    recorded.append(result.cell_id)
    if on_round:
        on_round(result.cell_id, number)


__all__ = ["DEFAULT_ROUNDS", "RoundJob", "RoundResult", "RoundsWarning", "pending", "rounds_done", "run_rounds",
           "stats_of", "time_cell_round", "with_round"]
