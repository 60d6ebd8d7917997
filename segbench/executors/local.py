"""The ``local`` executor: cells one after another in this process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segbench.executors.base import TrainCallback
from segbench.executors.placement import placement
from segbench.rundir import RunDir

if TYPE_CHECKING:
    from segbench.config import CellConfig
    from segbench.measure.latency import TimingConfig


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
        from segbench.cell import run_cell

        for cell in cells:
            record = run_cell(cell, timing, RunDir(run_dir).artifacts(cell.cell_id), on_train_event)
            yield {**record, **placement(self.name)}
