"""One cell of a grid: its configuration, and running it into a record.

A cell that fails is a row, not a crash: its record carries ``status`` and a
one-line ``error``, its measurements are NaN, and the grid goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import torch

from segbench.measure.latency import TimingConfig
from segbench.measure.profile import profile
from segbench.models import build_model
from segbench.results import NUMERIC_COLUMNS

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_OOM = "oom"


@dataclass(frozen=True)
class CellConfig:
    """Everything that determines a cell's numbers; each field is a key column."""

    encoder: str
    decoder: str
    input_h: int
    input_w: int
    batch_size: int = 1
    precision: str = "fp32"
    device: str = "cpu"
    channels_last: bool = False
    num_classes: int = 21
    threads: int | None = None
    pretrained: bool = False

    @property
    def cell_id(self) -> str:
        """A readable, file-name-safe id, unique within a run."""
        parts = [
            self.encoder,
            self.decoder,
            f"{self.input_h}x{self.input_w}",
            f"b{self.batch_size}",
            self.precision,
            self.device,
            f"c{self.num_classes}",
        ]
        if self.channels_last:
            parts.append("cl")
        if self.pretrained:
            parts.append("pre")
        return "__".join(parts).replace(":", "-").replace("/", "-")

    @property
    def fingerprint(self) -> str:
        """Hash of the full configuration: a finished cell is reused only if this matches."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")


def run_cell(cell: CellConfig, timing: TimingConfig | None = None) -> dict[str, Any]:
    """Build and profile one cell; never raises for a cell's own failure (Ctrl-C still does)."""
    record: dict[str, Any] = {
        **asdict(cell),
        "cell_id": cell.cell_id,
        "fingerprint": cell.fingerprint,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        t0 = time.perf_counter()
        model = build_model(cell.encoder, cell.decoder, cell.num_classes, pretrained=cell.pretrained)
        record["time_build_s"] = time.perf_counter() - t0
        result = profile(
            model,
            (cell.input_h, cell.input_w),
            device=cell.device,
            batch_size=cell.batch_size,
            precision=cell.precision,
            channels_last=cell.channels_last,
            threads=cell.threads,
            timing=timing,
        )
        record.update(result.to_dict())
        record.update(status=STATUS_OK, error=None)
    except torch.cuda.OutOfMemoryError as e:
        record.update(status=STATUS_OOM, error=_one_line(e))
    except Exception as e:  # noqa: BLE001 - any failure of a cell becomes its record
        record.update(status=STATUS_FAILED, error=_one_line(e), traceback=traceback.format_exc())
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    for col in NUMERIC_COLUMNS:
        record.setdefault(col, float("nan"))
    record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record
