"""The executor interface: how the cells of a grid run, seen from the runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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
