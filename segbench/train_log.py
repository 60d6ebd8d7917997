"""What a training run leaves to watch it by: the iteration log and, when asked, TensorBoard.

The iteration log (``train_log.jsonl`` in a cell's artifacts, see
:mod:`segbench.rundir`) is one JSON object a line, as mmsegmentation's log
is: a ``train`` line every ``log_every`` iterations (the mean loss over those
iterations, the learning rate, the training seconds so far) and a ``val``
line after each validation. A per-epoch log has one point for a short run;
this one has a curve. It is a stream, appended to as training goes: a line
cut short by an interrupt is skipped on reading, and a resumed run first
drops what came after its checkpoint, so no iteration appears twice.

``--tensorboard DIR`` adds a live view (TensorBoard, the maintained
successor of the visdom plots segmentation code used): the same scalars
and, at each validation, a few validation images beside their label and
the prediction. TensorBoard is optional (``pip install 'segbench[tensorboard]'``).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segbench.outputs import open_atomic, writing

#: The fields of a ``train`` line (a ``val`` line has mode, epoch, iteration and val_miou).
TRAIN_FIELDS = ("mode", "epoch", "iteration", "loss", "lr", "time_s", "iter_s")
#: Validation images TensorBoard shows at each validation (the split's first).
BOARD_IMAGES = 3
TENSORBOARD_HINT = "pip install 'segbench[tensorboard]'"


class IterationLog:
    """Appends the iteration log's lines to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def keep_until(self, iteration: int) -> None:
        """Drop every line after ``iteration`` (all of them for a fresh start): what a checkpoint has not seen."""
        kept = [e for e in read_iteration_log(self.path) if int(e.get("iteration", 0)) <= iteration]
        if iteration == 0 or not kept:
            with writing(self.path):
                self.path.unlink(missing_ok=True)
            return
        with open_atomic(self.path, "w") as f:
            f.writelines(json.dumps(e) + "\n" for e in kept)

    def write(self, entry: dict[str, Any]) -> None:
        """One line, flushed: a reader (or a crash) sees every line written so far."""
        with writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps({k: _plain(v) for k, v in entry.items()}) + "\n")


def _plain(value: Any) -> Any:
    """NaN and infinity as null: every line is strict JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_iteration_log(path: Path) -> list[dict[str, Any]]:
    """The log's entries in order; empty where there is none. A line that is not a JSON object is skipped."""
    if not Path(path).is_file():
        return []
    entries = []
    for line in Path(path).read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # the last line of a run killed while writing it
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


# -- TensorBoard -------------------------------------------------------------------------------


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def require_tensorboard(folder: str) -> str:
    """``folder``, where TensorBoard is installed; else a one-line ValueError saying how to get it."""
    if not tensorboard_available():
        raise ValueError(f"--tensorboard needs the tensorboard package, which is not installed; "
                         f"get it with: {TENSORBOARD_HINT}")
    return folder


class TensorBoardLog:
    """Scalars and images for TensorBoard, in ``folder`` (``tensorboard --logdir`` its parent)."""

    def __init__(self, folder: Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run hides the events an interrupted one wrote after its checkpoint
        self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    def scalars(self, iteration: int, values: dict[str, float | None]) -> None:
        for tag, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, iteration)

    def image(self, iteration: int, tag: str, picture: np.ndarray) -> None:
        """An ``[H, W, 3]`` uint8 picture."""
        self.writer.add_image(tag, picture, iteration, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def denormalise(image: Any, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised ``[3, H, W]`` tensor back to an ``[H, W, 3]`` uint8 picture."""
    array = image.detach().float().cpu().numpy().transpose(1, 2, 0)
    return (np.clip(array * np.asarray(std) + np.asarray(mean), 0, 1) * 255).round().astype(np.uint8)
