"""Output paths: an unwritable or full one is one line naming it, exit 2, and no temporary file left."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from segbench.cli import main
from segbench.outputs import OutputPathError, link_atomic, open_atomic, prepare_dir, write_text_atomic
from tests.conftest import FAST_CLI, assert_one_line

PROFILE = ["--encoders", "mobilenet", "--decoders", "skip", "--size", "32x32", "--num-classes", "4",
           "--device", "cpu", "--profile-only", "--executor", "local", *FAST_CLI]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished one-cell profile-only run, to plot and compare."""
    run = tmp_path_factory.mktemp("run") / "run"
    old = os.umask(0o022)
    try:
        assert main(["grid", *PROFILE, "--out", str(run)]) == 0
    finally:
        os.umask(old)
    return run


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".new-" in p.name]


@pytest.mark.parametrize("command", ["grid", "run", "train", "plot", "compare --update"])
def test_out_under_a_regular_file_is_one_line(command, run_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    target = blocker / "sub"
    args = {
        "grid": ["grid", *PROFILE, "--out", str(target)],
        "run": ["run", "smoke", "--out", str(target)],
        "train": ["train", "--encoder", "mobilenet", "--decoder", "skip", "--device", "cpu",
                  "--out", str(target)],
        "plot": ["plot", str(run_dir), "--out", str(target)],
        "compare --update": ["compare", str(target / "baseline"), str(run_dir), "--update"],
    }[command]
    err = assert_one_line(capsys, main(args), blocker)
    assert "not a folder" in err or "is a file" in err
    assert blocker.read_text() == "not a folder" and not _temporaries(tmp_path)


def test_markdown_into_a_missing_folder_is_one_line(run_dir, tmp_path, capsys):
    target = tmp_path / "missing" / "summary.md"
    assert_one_line(capsys, main(["compare", str(run_dir), str(run_dir), "--markdown", str(target)]),
                    target, "folder does not exist")
    assert not (tmp_path / "missing").exists()


def test_markdown_and_baseline_update_are_written(run_dir, tmp_path):
    summary, baseline = tmp_path / "summary.md", tmp_path / "baselines" / "smoke"
    assert main(["compare", str(run_dir), str(run_dir), "--markdown", str(summary)]) == 0
    assert summary.read_text().strip()
    assert main(["compare", str(baseline), str(run_dir), "--update"]) == 0
    assert sorted(p.name for p in baseline.iterdir()) == ["cells", "run.json", "table.csv"]
    assert not _temporaries(tmp_path)


def test_permission_denied_is_one_line_and_removes_the_temporary(tmp_path, monkeypatch):
    """Root can write anywhere, so the refusal is simulated where the rename happens."""
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr("segbench.outputs.os.replace", refuse)
    with pytest.raises(OutputPathError, match=r"cannot write .*record\.json: permission denied$"):
        write_text_atomic(tmp_path / "record.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_nothing(tmp_path):
    def write_half() -> None:
        with open_atomic(tmp_path / "half.json") as f:
            f.write("{")
            raise RuntimeError("midway")

    with pytest.raises(RuntimeError, match="midway"):
        write_half()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_second_name_keeps_its_bytes_when_the_first_is_replaced(tmp_path, monkeypatch, hard_links):
    """best.pt as last.pt's second name: last.pt's next version is a new file, best.pt keeps the old."""
    if not hard_links:
        def no_links(src, dst):
            raise OSError(errno.EPERM, "Operation not permitted", str(dst))

        monkeypatch.setattr("segbench.outputs.os.link", no_links)
    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    write_text_atomic(last, "epoch 1")
    write_text_atomic(best, "epoch 0")
    assert link_atomic(last, best) == best
    assert best.samefile(last) is hard_links
    write_text_atomic(last, "epoch 2")
    assert (best.read_text(), last.read_text()) == ("epoch 1", "epoch 2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temporary left


def test_a_second_name_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "last.pt").write_text("x")
    with pytest.raises(OutputPathError, match=r"cannot write .*best\.pt: its folder does not exist$"):
        link_atomic(tmp_path / "last.pt", tmp_path / "gone" / "best.pt")


def test_outputs_respect_the_umask_alike(run_dir, tmp_path):
    """Records and run.json are no longer 0600 while table.csv is 0644: all follow the umask."""
    modes = {p.name: p.stat().st_mode & 0o777 for p in [run_dir / "run.json", run_dir / "table.csv",
                                                         *(run_dir / "cells").glob("*.json")]}
    assert set(modes.values()) == {0o644}, modes
    old = os.umask(0o027)
    try:
        path = write_text_atomic(tmp_path / "x.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_prepare_dir(tmp_path):
    assert prepare_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="it is a file, not a folder"):
        prepare_dir(tmp_path / "f")


# --------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, where mounting is permitted (root, with CAP_SYS_ADMIN); else the test is skipped."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this platform")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or 'not permitted'}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:  # full is what was wanted; anything else is a failure
                raise


def test_full_disk_grid_is_one_line(small_disk, capsys):
    _fill(small_disk)
    run = small_disk / "run"
    assert_one_line(capsys, main(["grid", *PROFILE, "--out", str(run)]), small_disk, "no space left",
                    progress=True)
    assert not _temporaries(small_disk)


@pytest.mark.slow  # trains one step (several seconds on a shared CPU)
def test_full_disk_train_leaves_no_temporary_checkpoint(small_disk, capsys):
    """The checkpoint (~40 MB) cannot fit in 2 MiB: one line, and no .last.pt.*.tmp behind."""
    out = small_disk / "train"
    rc = main(["train", "--encoder", "mobilenet", "--decoder", "skip", "--device", "cpu", "--iterations", "1",
               "--train-batch-size", "2", "--val-split", "", "--lr-warmup", "0", "--out", str(out)])
    assert_one_line(capsys, rc, out / "last.pt", "no space left", progress=True)
    assert not _temporaries(small_disk) and not (out / "last.pt").exists()


def test_full_disk_atomic_write_leaves_nothing(small_disk):
    with (pytest.raises(OutputPathError, match="no space left"),
          open_atomic(small_disk / "big.bin", "wb") as f):
        f.write(b"\0" * (3 << 20))
    assert list(small_disk.iterdir()) == []
