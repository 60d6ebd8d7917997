"""A cell's record: built from typed parts (configuration, status, profile, training, accuracy, placement).

On disk a record is one flat JSON object (see :mod:`segbench.rundir`), so any
tool can read it; here it is assembled from parts, each of which names its own
fields, instead of dicts merged by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from segbench.columns import Better, column

if TYPE_CHECKING:
    from segbench.config import CellConfig


class Status(str, Enum):
    """How a cell ended. A ``str`` enum: it is written, compared and grouped on as its plain value."""

    OK = "ok"
    FAILED = "failed"
    OOM = "oom"
    NOT_APPLICABLE = "not_applicable"
    #: Set by the process-isolating executors: the cell's process ran past its timeout, or died.
    TIMEOUT = "timeout"
    CRASHED = "crashed"

    def __str__(self) -> str:
        return self.value

    @property
    def settled(self) -> bool:
        """An outcome that running the cell again cannot change (``--retry-failed`` keeps it)."""
        return self in (Status.OK, Status.NOT_APPLICABLE)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CellRecord:
    """One cell's outcome. ``parts`` are the measurements, each a flat mapping of its own columns."""

    config: CellConfig
    status: Status = Status.FAILED
    error: str | None = None
    started: str = field(default_factory=now)
    finished: str | None = None
    traceback: str | None = None
    #: Build time, training and accuracy (train_and_evaluate), profile (Profile.to_dict), placement.
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # a plain "ok" from a plug-in executor, too

    def add(self, part: str, values: dict[str, Any]) -> None:
        self.parts[part] = {**self.parts.get(part, {}), **values}

    def to_dict(self, numeric_columns: list[str]) -> dict[str, Any]:
        """The flat record: the configuration's key fields, ids, every part, status; NaN for a missing measurement."""
        record: dict[str, Any] = {
            **self.config.key(),
            "cell_id": self.config.cell_id,
            "fingerprint": self.config.fingerprint,
            "started": self.started,
        }
        for values in self.parts.values():
            record.update(values)
        record.update(status=Status(self.status).value, error=self.error)
        if self.traceback:
            record["traceback"] = self.traceback
        for name in numeric_columns:
            record.setdefault(name, float("nan"))
        record["finished"] = self.finished or now()
        return record


HIGHER: Better = "higher"


@dataclass(frozen=True)
class Accuracy:
    """The accuracy columns of a trained cell, on its evaluation split (percentages)."""

    miou: float = field(metadata=column(
        "mIoU", "%", short="mIoU %", decimals=1, better=HIGHER,
        doc="mean IoU on the evaluation split, 0-100 (per-class IoU is in the cell record)"))
    pixel_acc: float = field(metadata=column(
        "Pixel acc.", "%", decimals=1, better=HIGHER, doc="pixel accuracy on the evaluation split, 0-100"))
    mean_acc: float = field(metadata=column(
        "Mean acc.", "%", decimals=1, better=HIGHER, doc="mean class accuracy, 0-100"))
    fwiou: float = field(metadata=column(
        "FWIoU", "%", decimals=1, better=HIGHER, doc="frequency-weighted IoU, 0-100"))


@dataclass(frozen=True)
class Training:
    """The measured side of a cell's training (its budget is part of the configuration)."""

    #: Seconds of training actually taken; the budget a user gave is ``train_time_budget_s``.
    train_time_s: float = field(metadata=column(
        "Train time", "s", decimals=0, better="lower",
        doc="seconds the training took (its budget, if one was given in seconds, is `train_time_budget_s`)"))
    #: Seconds scoring the evaluation split took (the validations during training are in ``train_time_s``).
    eval_time_s: float = field(metadata=column(
        "Eval time", "s", decimals=1, better="lower", doc="seconds scoring the evaluation split took"))
