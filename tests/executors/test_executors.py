"""Executors: choosing one, the subprocess executor's isolation, and resuming after Ctrl-C or damage."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from segbench.cell import CellConfig
from segbench.cli import main
from segbench.executors import default_executor, make_executor
from segbench.executors.subprocess import SubprocessExecutor, describe_exit
from segbench.rundir import DamagedRecordWarning
from segbench.runner import LocalExecutor, run_grid
from segbench.suites import SuiteError, load_suite
from tests.conftest import FAST_TIMING

PLUGIN = "tests.executors.plugins_crash"


def _cells(*decoders):
    return [CellConfig("mobilenet", d, 64, 64, num_classes=3, threads=1) for d in decoders]


@pytest.fixture
def crash_plugin(monkeypatch):
    """The misbehaving decoders, registered here and (through the environment) in every child."""
    from segbench.models import DECODERS

    monkeypatch.setenv("SEGBENCH_PLUGINS", PLUGIN)
    with DECODERS.restoring():  # leave the registry as other tests expect it
        importlib.import_module(PLUGIN)  # registers the decoders in this process too
        yield
    sys.modules.pop(PLUGIN, None)


def test_default_executor_isolates_gpu_timings_only():
    assert default_executor("cuda") == "subprocess" and default_executor("cpu") == "local"
    assert isinstance(make_executor("local"), LocalExecutor)
    assert make_executor("subprocess", timeout=5).timeout == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "dask"], "unknown executor 'dask'; valid: local, subprocess, ray"),
        (["--executor", "local", "--timeout", "5"], "a timeout needs the subprocess or ray executor"),
        (["--executor", "subprocess", "--concurrency", "2"], "concurrency needs the ray executor"),
        (["--executor", "subprocess", "--timeout", "0"], "--timeout must be a number above 0, not 0.0"),
        (["--executor", "ray", "--max-retries", "-1"],
         "--max-retries must be a whole number at least 0, not -1"),
    ],
)
def test_bad_executor_options_are_one_line(args, message, tmp_path, capsys):
    rc = main(["grid", "--profile-only", "--device", "cpu", *args, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and err == f"error: {err[7:]}" and message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_ray_missing_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    rc = main(["grid", "--profile-only", "--device", "cpu", "--executor", "ray",
               "--out", str(tmp_path / "r")])
    assert rc == 2
    assert capsys.readouterr().err == "error: the ray executor needs Ray: pip install 'segbench[ray]'\n"


def test_suite_execution_table(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[grid]\nencoders = ["mobilenet"]\ndecoders = ["skip"]\n'
                    '[execution]\nexecutor = "subprocess"\ntimeout = 30\n')
    assert load_suite(str(path)).execution == {"executor": "subprocess", "timeout": 30}
    path.write_text('[grid]\nencoders = ["mobilenet"]\ndecoders = ["skip"]\n[execution]\nexecutor = "slurm"\n')
    with pytest.raises(SuiteError, match=r"\[execution\] executor: unknown executor 'slurm'; valid: .* \(line 5\)"):
        load_suite(str(path))


def test_describe_exit_names_the_signal():
    assert describe_exit(-11) == "exit code -11 (SIGSEGV)"
    assert describe_exit(-9) == "exit code -9 (SIGKILL)"
    assert describe_exit(3) == "exit code 3"


def test_a_cell_that_kills_its_process_is_recorded_and_the_grid_goes_on(tmp_path, crash_plugin):
    result = run_grid(_cells("crash_hard", "skip"), tmp_path, SubprocessExecutor(), timing=FAST_TIMING)
    table = result.table.set_index("decoder")
    assert table.loc["crash_hard", "status"] == "crashed"
    assert table.loc["crash_hard", "error"].startswith("cell process died: exit code -11 (SIGSEGV)")
    assert table.loc["crash_hard", ["params", "latency_ms_median"]].isna().all()
    assert table.loc["skip", "status"] == "ok" and table.loc["skip", "params"] > 0
    records = {r["decoder"]: r
               for r in (json.loads(p.read_text()) for p in (tmp_path / "cells").glob("*.json"))}
    pids = {records[d]["worker_pid"] for d in ("crash_hard", "skip")}
    assert os.getpid() not in pids and len(pids) == 2  # a fresh process per cell
    assert records["skip"]["executor"] == "subprocess" and records["skip"]["concurrent_cells"] == []


@pytest.mark.slow
def test_a_cell_past_its_timeout_is_killed_and_recorded(tmp_path, crash_plugin):
    started = time.monotonic()
    result = run_grid(_cells("hang"), tmp_path, SubprocessExecutor(timeout=20), timing=FAST_TIMING)
    assert time.monotonic() - started < 40
    assert result.table.loc[0, "status"] == "timeout"
    assert result.table.loc[0, "error"] == "no result after 20 s; process killed"


@pytest.mark.slow
def test_subprocess_training_reports_progress_to_the_parent(tmp_path):
    from segbench.cell import with_training
    from segbench.options import data_choice
    from segbench.train import TrainConfig

    data = data_choice("synthetic", None, options={"size": 32, "length": 4})
    cell = with_training(_cells("skip")[0], data, TrainConfig(iterations=2, batch_size=2))
    events = []
    result = run_grid([cell], tmp_path, SubprocessExecutor(), timing=FAST_TIMING,
                      on_train_event=events.append)
    assert result.table.loc[0, "status"] == "ok" and result.table.loc[0, "miou"] >= 0
    assert [e.iteration for e in events] == [1, 2, 2]  # each step, then the epoch's end with validation
    assert events[-1].val_miou is not None and all(e.total == 2 for e in events)


def test_a_damaged_record_is_set_aside_and_its_cell_rerun(tmp_path):
    cells = _cells("skip", "dilation")
    first = run_grid(cells, tmp_path, timing=FAST_TIMING)
    damaged = tmp_path / "cells" / f"{cells[1].cell_id}.json"
    damaged.write_text(damaged.read_text()[:40])  # cut short, as by a full disk
    kept = json.loads((tmp_path / "cells" / f"{cells[0].cell_id}.json").read_text())
    with pytest.warns(DamagedRecordWarning, match="damaged cell record set aside"):
        again = run_grid(cells, tmp_path, timing=FAST_TIMING)
    assert again.ran == [cells[1].cell_id] and again.reused == [cells[0].cell_id]
    assert again.damaged == [damaged.with_name(damaged.name + ".damaged")] and again.damaged[0].is_file()
    assert json.loads(damaged.read_text())["status"] == "ok"
    assert json.loads((tmp_path / "cells" / f"{cells[0].cell_id}.json").read_text()) == kept
    assert len(again.table) == len(first.table) == 2


def test_sigint_keeps_finished_cells_and_a_rerun_does_not_repeat_them(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "segbench", "grid", "--encoders", "mobilenet", "--decoders",
            "skip,dilation,fcn32s,fcn16s", "--size", "64x64", "--num-classes", "3", "--device", "cpu",
            "--profile-only", "--threads", "1", "--out", str(out)]
    slow = ["--min-iters", "100", "--warmup-iters", "1", "--min-time", "0"]  # time to be interrupted
    # SIGINT as a terminal gives it: a job started in the background of a script inherits it ignored
    grid = subprocess.Popen([*args, *slow], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list((out / "cells").glob("*.json")) and time.monotonic() < deadline and grid.poll() is None:
        time.sleep(0.05)
    grid.send_signal(signal.SIGINT)
    _, err = grid.communicate(timeout=60)
    assert grid.returncode == 130, err
    assert f"rerun with --out {out} to resume" in err
    kept = {p.name: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    assert 1 <= len(kept) < 4
    rerun = subprocess.run([*args, *slow], capture_output=True, text=True, timeout=300)  # the same timing: reused
    assert rerun.returncode == 0, rerun.stderr
    assert f"reused {len(kept)} finished cell(s)" in rerun.stderr
    after = {p.name: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    assert len(after) == 4
    for name, record in kept.items():  # not run again: started at the same time, its rounds only topped up
        assert after[name]["started"] == record["started"] and after[name]["params"] == record["params"]
        kept_rounds = record["latency_round_ms"]
        assert after[name]["latency_round_ms"][:len(kept_rounds)] == kept_rounds
