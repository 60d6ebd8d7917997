"""The Ray executor against a real Ray head on loopback with two worker CPUs.

The head is started once for the module, as /work/shared/notes/ray.md (and
docs/executors.md) describe, in a short temporary directory (Ray's socket
paths have a length limit) and stopped with SIGTERM. Skipped where Ray is
not installed (``pip install 'segbench[ray]'``).
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from segbench.cell import CellConfig, with_training
from segbench.options import data_choice
from segbench.results import ACCURACY_COLUMNS, KEY_COLUMNS
from segbench.runner import run_grid
from segbench.train import TrainConfig
from tests.conftest import FAST_TIMING

# The driver (this process) must match the head, and Ray reads these when first imported. The head
# and the driver share a token of their own: with token authentication on and no token, `ray start
# --head` exits at once on a clean machine, and a token file in ~/.ray (left by any earlier ray.init)
# must not be what makes these tests pass. An environment token needs no file and leaves ~/.ray alone.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": secrets.token_hex(32)}
os.environ.update(LOOPBACK_ENV)
pytest.importorskip("ray")
from segbench.executors.ray import RayExecutor  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.executors.plugins_crash"
SLEEP_S = 4.0  # slow_skip's nap: time to find its worker and kill it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """``(address, pids_dir)`` of a Ray head on 127.0.0.1 with two CPUs; workers import the test plugin."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's unix socket paths are limited
    pids = temp / "pids"
    pids.mkdir()
    port = _free_port()
    env = {**os.environ, "SEGBENCH_TEST_PIDS": str(pids), "SEGBENCH_TEST_SLEEP": str(SLEEP_S),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", "--block"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the GCS listening on its port: ray.init takes it from there
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Ray head did not start") from None
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", pids
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def plugin(monkeypatch):
    """The test decoders, here and (named in the tasks) in the Ray workers."""
    from segbench.models import DECODERS

    monkeypatch.setenv("SEGBENCH_PLUGINS", PLUGIN)
    with DECODERS.restoring():  # leave the registry as other tests expect it
        importlib.import_module(PLUGIN)  # registers the decoders in this process too
        yield
    sys.modules.pop(PLUGIN, None)


def _records(run_dir: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / "cells").glob("*.json")}


def _cells(*decoders: str) -> list[CellConfig]:
    return [CellConfig("mobilenet", d, 64, 64, num_classes=3, threads=1) for d in decoders]


def test_ray_gives_the_local_table(ray_head, tmp_path):
    address, _ = ray_head
    data = data_choice("synthetic", None, options={"size": 32, "length": 4})
    trained = with_training(_cells("skip")[0], data, TrainConfig(iterations=2, batch_size=2))
    cells = [*_cells("skip", "dilation"), trained]
    threads = torch.get_num_threads()
    try:
        local = run_grid(cells, tmp_path / "local", timing=FAST_TIMING).table
    finally:
        torch.set_num_threads(threads)
    on_ray = run_grid(cells, tmp_path / "ray", RayExecutor(address, concurrency=2), timing=FAST_TIMING)
    scores = [c for c in ACCURACY_COLUMNS if not c.endswith("_time_s")]  # times differ from run to run
    columns = [*KEY_COLUMNS, "params", "gmacs", "gflops", *scores, "status", "cell_id"]
    assert set(on_ray.table["status"]) == {"ok"} and on_ray.table["miou"].notna().sum() == 1
    assert on_ray.table[columns].equals(local[columns])
    records = _records(tmp_path / "ray")
    assert {r["executor"] for r in records.values()} == {"ray"}
    assert all(r["worker_pid"] != os.getpid() and r["attempts"] == 1 for r in records.values())
    # Two cells at a time were asked for: some record names the cell that ran beside it.
    assert any(r["concurrent_cells"] for r in records.values())


def test_a_worker_killed_mid_cell_is_retried_and_every_cell_recorded_once(ray_head, tmp_path, plugin):
    address, pids = ray_head
    for stale in pids.iterdir():
        stale.unlink()
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for entry in pids.iterdir():
                killed.append(int(entry.name))
                os.kill(killed[0], signal.SIGKILL)  # in the middle of building the model
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    cells = _cells("slow_skip", "dilation")
    result = run_grid(cells, tmp_path, RayExecutor(address, max_retries=2), timing=FAST_TIMING)
    killer.join(timeout=1)
    assert killed, "slow_skip never started"
    assert sorted(result.ran) == sorted(c.cell_id for c in cells)  # each cell yielded once
    records = _records(tmp_path)
    assert sorted(records) == sorted(c.cell_id for c in cells)
    slow = records[cells[0].cell_id]
    assert slow["status"] == "ok" and slow["attempts"] == 2 and slow["worker_pid"] != killed[0]
    assert records[cells[1].cell_id]["attempts"] == 1
    # One cell at a time on the node (the default): nothing ran beside any timing.
    assert all(r["concurrent_cells"] == [] for r in records.values())


def test_a_worker_that_keeps_dying_is_recorded_crashed_with_the_reason(ray_head, tmp_path, plugin):
    address, pids = ray_head
    for stale in pids.iterdir():
        stale.unlink()

    done = threading.Event()

    def kill_every_worker() -> None:
        seen: set[str] = set()
        while not done.wait(0.05):
            for entry in pids.iterdir():
                if entry.name not in seen:
                    seen.add(entry.name)
                    os.kill(int(entry.name), signal.SIGKILL)

    killer = threading.Thread(target=kill_every_worker, daemon=True)
    killer.start()
    try:
        result = run_grid(_cells("slow_skip"), tmp_path, RayExecutor(address, max_retries=1),
                          timing=FAST_TIMING)
    finally:
        done.set()
        killer.join()
    record = next(iter(_records(tmp_path).values()))
    assert record["status"] == "crashed" and record["attempts"] == 2
    assert record["error"].startswith("Ray worker died in 2 attempt(s); last: ")
    assert result.table.loc[0, "status"] == "crashed"


def test_an_interrupted_ray_grid_keeps_its_cells_and_resumes(ray_head, tmp_path):
    import ray

    address, _ = ray_head
    cells = _cells("skip", "dilation", "fcn32s")

    def interrupt(record: dict) -> None:
        raise KeyboardInterrupt

    first = run_grid(cells, tmp_path, RayExecutor(address), timing=FAST_TIMING, on_record=interrupt)
    assert first.interrupted and len(first.ran) == 1 and not ray.is_initialized()  # driver let go of Ray
    kept = _records(tmp_path)
    resumed = run_grid(cells, tmp_path, RayExecutor(address), timing=FAST_TIMING)
    assert resumed.reused == first.ran
    assert sorted(resumed.ran + resumed.reused) == sorted(c.cell_id for c in cells)
    assert {k: v for k, v in _records(tmp_path).items() if k in kept} == kept  # not run again
