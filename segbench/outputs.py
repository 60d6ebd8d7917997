"""The one place segbench creates output folders and writes output files.

Every file segbench writes (cell records, run.json, checkpoints, log.csv,
metrics.json, figures, a compare summary, a baseline) goes through here, for
three guarantees:

- a file appears whole or not at all: it is written under a unique temporary
  name in its own folder and renamed into place, and the temporary file is
  removed on any failure (a full disk leaves no ``.last.pt.tmp`` behind);
- its permissions are those of an ordinary file, ``0666`` less the umask,
  not the ``0600`` of :func:`tempfile.mkstemp` (records and run.json used to
  be 0600 while table.csv was 0644);
- an OS error (``--out`` under a regular file, permission denied, a full
  disk, a missing folder) becomes :class:`OutputPathError`, one line naming
  the path and the cause, which the CLI prints without a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

#: What each errno means for a path segbench wanted to write; others use the OS's own words.
_CAUSES = {
    errno.ENOTDIR: "a parent is a regular file, not a folder",
    errno.EEXIST: "a file of that name is in the way",
    errno.EISDIR: "it is a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "its folder does not exist",
    errno.ENAMETOOLONG: "file name too long",
}


#: What os.link raises where a file system has no hard links (FAT, some network mounts): a copy does instead.
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class OutputPathError(Exception):
    """An output path could not be created or written; ``str()`` is one line naming it."""


def describe(error: OSError, path: Path | str) -> str:
    """One line for ``error`` met while writing ``path``: the path, then the cause."""
    cause = _CAUSES.get(error.errno or -1) or (error.strerror or str(error)).lower()
    return f"cannot write {path}: {cause}"


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn any OSError raised inside the block into :class:`OutputPathError` naming ``path``."""
    try:
        yield
    except OSError as e:
        raise OutputPathError(describe(e, e.filename if _under(e.filename, path) else path)) from None


def _under(filename: Any, path: Path | str) -> bool:
    """Whether the failing ``filename`` is ``path`` or beneath it, so naming it is more precise."""
    if not isinstance(filename, (str, os.PathLike)):
        return False
    name, root = Path(filename), Path(path)
    return name == root or root in name.parents or name in root.parents


def prepare_dir(path: Path | str) -> Path:
    """Create the folder ``path`` (and its parents) if missing; a one-line error if it cannot be."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a file, not a folder")
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (setting it races other threads)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux: read it the portable way below
        status = ""
    for line in status.splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process umask."""
    return 0o666 & ~_umask()


@contextmanager
def open_atomic(path: Path | str, mode: str = "w", make_parents: bool = True, **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` for writing, atomically: the file appears, whole, when the block ends.

    The data goes to a unique temporary file beside ``path`` that is renamed
    into place, so a reader never sees half a file and two writers never
    share a temporary name; on any failure the temporary file is removed. An
    OS error is one line naming ``path``. With ``make_parents=False`` a
    missing folder is an error rather than created.
    """
    path = Path(path)
    if make_parents:
        prepare_dir(path.parent)
    tmp: Path | None = None
    try:
        with writing(path):
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            tmp = Path(name)
            with os.fdopen(fd, mode, **kwargs) as f:
                yield f
            os.chmod(tmp, file_mode())
            os.replace(tmp, path)
            tmp = None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def link_atomic(source: Path | str, path: Path | str) -> Path:
    """Give the finished file ``source`` the second name ``path`` atomically, without writing it again.

    A hard link where the file system has them (a 140 MB checkpoint costs no
    second write), else a copy; either way it goes in under a temporary name
    and is renamed into place. Safe because segbench only ever replaces a
    file by renaming a new one over it: a later ``source`` is a new file, and
    ``path`` keeps the old one.
    """
    source, path = Path(source), Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link.tmp")
    try:
        with writing(path):
            tmp.unlink(missing_ok=True)
            try:
                os.link(source, tmp)
            except OSError as e:
                if e.errno not in _NO_HARD_LINKS:
                    raise
                with open(source, "rb") as src, open_atomic(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return path
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path | str, text: str, make_parents: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with open_atomic(path, "w", make_parents=make_parents, encoding="utf-8") as f:
        f.write(text)
    return Path(path)
