"""The executor interface: how the cells of a grid run, seen from the runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from segbench.config import CellConfig
    from segbench.measure.latency import TimingConfig
    from segbench.train import TrainEvent

TrainCallback = Callable[["TrainEvent"], None]


class Executor(Protocol):
    """Runs cells and yields each one's record as soon as it ends; the runner alone writes records."""

    name: str

    def run(
        self,
        cells: Iterable[CellConfig],
        timing: TimingConfig | None,
        run_dir: Path,
        on_train_event: TrainCallback | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Run ``cells`` (each carries its own timing; ``timing`` is for cells without), yielding records."""
        ...


@dataclass(frozen=True)
class CellJob:
    """Everything a worker (this process, a child process, a Ray task) needs to run one cell.

    The cell carries its own timing; ``plugins`` are the modules that register
    the cell's encoders, decoders or datasets, imported first where the
    worker is another process.
    """

    cell: CellConfig
    artifacts_dir: Path | None = None
    plugins: tuple[str, ...] = ()

    @classmethod
    def of(cls, cell: CellConfig, run_dir: Path, timing: TimingConfig | None = None) -> CellJob:
        """The job of ``cell`` in ``run_dir`` (``timing`` for a cell that has none of its own)."""
        from segbench.plugins import plugin_modules
        from segbench.rundir import RunDir

        if cell.timing is None and timing is not None:
            cell = replace(cell, timing=timing)
        return cls(cell, RunDir(run_dir).artifacts(cell.cell_id), tuple(plugin_modules()))

    def run(self, on_train_event: TrainCallback | None = None) -> dict[str, Any]:
        """Run the cell here (its plugins imported first) and return its record."""
        from segbench.cell import run_cell
        from segbench.plugins import load_plugins

        if self.plugins:
            load_plugins(list(self.plugins))
        return run_cell(self.cell, None, self.artifacts_dir, on_train_event)
