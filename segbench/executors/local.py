"""The ``local`` executor: cells one after another in this process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segbench.executors.base import CellJob, TrainCallback
from segbench.executors.placement import placement

if TYPE_CHECKING:
    from segbench.config import CellConfig
    from segbench.measure.latency import TimingConfig
    from segbench.rounds import OnRound, RoundJob


class LocalExecutor:
    """Runs cells one after another in this process."""

    name = "local"

    def run(
        self,
        cells: Iterable[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        on_train_event: TrainCallback | None = None,
    ) -> Iterator[dict[str, Any]]:
        for cell in cells:
            record = CellJob.of(cell, run_dir, timing).run(on_train_event)
            yield {**record, **placement(self.name)}

    def time_round(self, job: RoundJob, run_dir: Path, on_round: OnRound) -> None:
        """One latency round over the job's cells, in this process."""
        job.run(on_round)
