"""The run directory stays true (issue 12, defects 8 and 10): table.csv after every cell, under a
unique temporary name; --retry-failed leaves settled cells alone; a grid of only failures fails.

A scripted executor hands the runner ready-made records, so these tests run no model at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segbench.cell import CellConfig, failure_record
from segbench.cli import main
from segbench.models import DECODERS
from segbench.models.decoders.skip import SkipNet
from segbench.rundir import RunDir, write_record, write_table
from segbench.runner import run_grid
from tests.conftest import FAST_CLI


def _cells(*decoders: str) -> list[CellConfig]:
    return [CellConfig("mobilenet", d, 64, 64, num_classes=3) for d in decoders]


class Scripted:
    """An executor whose cells end with the status it is told, and which notes the cells it was given."""

    name = "scripted"

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.given: list[str] = []

    def run(self, cells: Iterable[CellConfig], timing: Any, run_dir: Path, on_train_event: Any = None
            ) -> Iterator[dict[str, Any]]:
        for cell in cells:
            self.given.append(cell.decoder)
            status = self.statuses[cell.decoder]
            yield failure_record(cell, status, None if status == "ok" else f"{status} on purpose")


def test_table_csv_holds_each_cell_as_soon_as_it_ends(tmp_path):
    seen: list[list[str]] = []

    def on_record(record: dict) -> None:  # what `segbench table` would read if the grid were killed now
        seen.append(sorted(pd.read_csv(tmp_path / "table.csv")["decoder"]))

    decoders = ["skip", "unet", "dilation"]
    run_grid(_cells(*decoders), tmp_path, Scripted(dict.fromkeys(decoders, "ok")), on_record=on_record)
    assert seen == [["skip"], ["skip", "unet"], ["dilation", "skip", "unet"]]


def test_concurrent_rebuilds_never_collide_nor_leave_a_temporary_file(tmp_path):
    for cell in _cells("skip", "unet", "dilation"):
        write_record(tmp_path, failure_record(cell, "ok", None))
    start = threading.Barrier(8)

    def rebuild_often(_: int) -> int:
        start.wait()  # all at once: with one fixed temporary name, renames would race
        for _ in range(10):
            write_table(tmp_path)
        return 10

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(rebuild_often, range(8))) == 80  # a collision would raise here
    assert sorted(pd.read_csv(RunDir(tmp_path).table_csv)["decoder"]) == ["dilation", "skip", "unet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells", "table.csv"]


def test_retry_failed_reruns_failures_but_not_settled_cells(tmp_path):
    statuses = {"skip": "ok", "unet": "failed", "dilation": "not_applicable", "fcn32s": "timeout"}
    run_grid(_cells(*statuses), tmp_path, Scripted(statuses))
    again = Scripted(statuses)
    result = run_grid(_cells(*statuses), tmp_path, again, retry_failed=True)
    assert again.given == ["unet", "fcn32s"]  # a decoder that cannot take the encoder will not learn to
    assert sorted(result.reused) == sorted(c.cell_id for c in _cells("skip", "dilation"))
    assert len(result.table) == 4


class _Broken(SkipNet):
    def __init__(self, specs, num_classes):
        raise RuntimeError("broken on purpose")


@pytest.fixture
def broken_decoder():
    with DECODERS.temporarily("broken_rs", _Broken, paper="test only", year=0, needs="-"):
        yield "broken_rs"


def test_a_grid_in_which_every_cell_failed_exits_1(tmp_path, capsys, broken_decoder):
    out = tmp_path / "run"
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", broken_decoder, "--profile-only",
               "--size", "64", "--device", "cpu", "--threads", "1", "--out", str(out), *FAST_CLI])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "none of the 1 cell(s) finished ok" in err and "Traceback" not in err
    table = pd.read_csv(RunDir(out).table_csv)  # the failure is still a row
    assert table.loc[0, "status"] == "failed" and table.loc[0, "error"] == "RuntimeError: broken on purpose"
