"""SIGTERM and SIGHUP end a grid like Ctrl-C; kill -9 takes the cell's process along (issue 12, defect 2).

The in-process tests check the exit status (128 + the signal) and that the
finished cells are kept; the subprocess ones (slow: a Python start and an
``import torch`` per process) check that no cell process is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from segbench.cli import main
from segbench.models import DECODERS
from segbench.models.decoders.skip import SkipNet
from segbench.rundir import RunDir
from segbench.signals import Terminated, exit_status, terminate_as_interrupt
from tests.conftest import FAST_CLI

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminating_signal_is_raised_as_an_interrupt_and_the_handler_restored(signum):
    def signal_and_wait() -> None:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # interrupted long before

    before = signal.getsignal(signum)
    with pytest.raises(Terminated) as info, terminate_as_interrupt():
        signal_and_wait()
    assert isinstance(info.value, KeyboardInterrupt) and info.value.signum == signum
    assert signal.getsignal(signum) == before


def test_a_second_signal_does_not_cut_the_clean_up_short():
    cleaned = False

    def signal_and_clean_up() -> None:
        nonlocal cleaned
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. a scheduler that insists
            time.sleep(0.05)
            cleaned = True

    with pytest.raises(Terminated), terminate_as_interrupt():
        signal_and_clean_up()
    assert cleaned


def test_exit_status_follows_the_shell():
    assert [exit_status(s) for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)] == [130, 129, 143]


class _TermSelf(SkipNet):
    """Sends SIGTERM to its own process while being built: the grid is told to stop mid-cell."""

    def __init__(self, specs, num_classes):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        super().__init__(specs, num_classes)


@pytest.fixture
def term_self():
    with DECODERS.temporarily("term_self", _TermSelf, paper="test only", year=0, needs="-"):
        yield "term_self"


def test_sigterm_ends_a_grid_like_ctrl_c_with_143_and_keeps_finished_cells(tmp_path, capsys, term_self):
    out, before = tmp_path / "run", signal.getsignal(signal.SIGTERM)
    rc = main(["grid", "--encoders", "mobilenet", "--decoders", f"skip,{term_self},unet", "--profile-only",
               "--size", "64", "--device", "cpu", "--threads", "1", "--out", str(out), *FAST_CLI])
    err = capsys.readouterr().err
    assert rc == 143, err
    assert f"interrupted by SIGTERM: 1 cell(s) kept in {out}; rerun with --out {out} to resume" in err
    assert "Traceback" not in err
    assert list(pd.read_csv(RunDir(out).table_csv)["decoder"]) == ["skip"]
    assert signal.getsignal(signal.SIGTERM) == before  # the CLI left no handler behind


# --------------------------------------------------------------------------- real processes


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, waiting for PID 1 to reap it, has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def _grid_killed_mid_cell(tmp_path: Path, signum: int) -> tuple[subprocess.CompletedProcess, Path]:
    """A subprocess-executor grid whose second cell is running (and sleeping) when ``signum`` hits it;
    fails unless that cell's process is gone within 10 s of the grid's end.

    The grid's output goes to files, not pipes: a cell process left behind would hold a pipe open
    and hang the test instead of failing it.
    """
    out, pids = tmp_path / "run", tmp_path / "pids"
    pids.mkdir()
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "SEGBENCH_PLUGINS": "tests.executors.plugins_crash", "SEGBENCH_TEST_PIDS": str(pids),
           "SEGBENCH_TEST_SLEEP": "120", "PYTHONPATH": path}
    args = [sys.executable, "-m", "segbench", "grid", "--encoders", "mobilenet", "--decoders",
            "skip,slow_skip", "--size", "64", "--device", "cpu", "--profile-only", "--threads", "1",
            "--executor", "subprocess", "--out", str(out), *FAST_CLI]
    logs = {name: open(tmp_path / name, "w+") for name in ("stdout", "stderr")}  # noqa: SIM115 - closed below
    grid = subprocess.Popen(args, text=True, env=env, cwd=ROOT, **logs)
    cell_pid = None
    try:
        deadline = time.monotonic() + 300  # generous: a shared CI machine can be slow to start two pythons
        while not any(pids.iterdir()) and time.monotonic() < deadline and grid.poll() is None:
            time.sleep(0.1)
        assert any(pids.iterdir()), f"the second cell never started: {grid.poll()=}"
        [cell_pid] = [int(p.name) for p in pids.iterdir()]
        assert _alive(cell_pid)
        grid.send_signal(signum)
        grid.wait(timeout=120)
        gone_by = time.monotonic() + 10
        while _alive(cell_pid) and time.monotonic() < gone_by:
            time.sleep(0.1)
        left_behind = _alive(cell_pid)
    finally:
        if grid.poll() is None:  # the test failed midway: stop the grid as a user would
            grid.terminate()
            grid.wait(timeout=120)
        if cell_pid is not None and _alive(cell_pid):  # and what it left behind
            os.kill(cell_pid, signal.SIGKILL)
        for log in logs.values():
            log.close()
    assert not left_behind, f"cell process {cell_pid} outlived the grid"
    stdout, stderr = ((tmp_path / name).read_text() for name in ("stdout", "stderr"))
    return subprocess.CompletedProcess(args, grid.returncode, stdout, stderr), out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminated_subprocess_grid_leaves_no_cell_process_behind(tmp_path, signum):
    done, out = _grid_killed_mid_cell(tmp_path, signum)
    assert done.returncode == 128 + signum, done.stderr
    assert f"interrupted by {signal.Signals(signum).name}" in done.stderr and "Traceback" not in done.stderr
    [kept] = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert kept["decoder"] == "skip" and kept["status"] == "ok"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's prctl")
def test_kill_9_of_the_grid_takes_the_cell_process_along(tmp_path):
    done, out = _grid_killed_mid_cell(tmp_path, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert list(pd.read_csv(RunDir(out).table_csv)["decoder"]) == ["skip"]  # table.csv was current when the grid died
