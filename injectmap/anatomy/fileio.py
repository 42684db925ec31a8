"""Atomic file writes and a lock between processes, shared by every package (the model cache, plans,
scores, reports, autosaves).

The data goes to a temporary file in the destination's directory, is flushed and fsynced, and is
renamed over the destination with ``os.replace`` (atomic on POSIX and Windows); the directory is
then fsynced so the rename survives a power cut. A reader, or a crash, sees the old complete file
or the new complete one; a crash can leave a stray ``.<name>.*.tmp`` beside it, never a partial
file under the destination's name. An existing file's permission bits are kept.

Stray temporary files: the writer holds an exclusive ``flock`` on its temporary file while it writes
it (the kernel releases it when the process dies, even by SIGKILL). Each write first removes the
destination's earlier ``.<name>.*.tmp`` files that no process holds and that are older than
:data:`STRAY_TMP_GRACE_S`, so what a killed writer left (up to the size of the file) goes with the
next write of the same file. Without ``fcntl`` (Windows) only the age decides, with
:data:`STRAY_TMP_AGE_NO_LOCK_S`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["STRAY_TMP_AGE_NO_LOCK_S", "STRAY_TMP_GRACE_S", "atomic_write_bytes", "file_lock",
           "remove_stray_tmp"]

#: project choice: a temporary file younger than this is left alone even when unlocked, to cover the
#: instant between its creation and its writer's lock (a writer takes the lock right after creating it)
STRAY_TMP_GRACE_S = 1.0
#: project choice: without file locks (no fcntl), a temporary file is taken as stray only after an hour,
#: far longer than any write of this program (the largest, a report, takes seconds)
STRAY_TMP_AGE_NO_LOCK_S = 3600.0


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_prefix(dest: str) -> str:
    return f".{os.path.basename(dest)}."


def _held_by_a_writer(path: str) -> bool:
    """True when a live process holds the lock of this temporary file (or we cannot tell)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # gone already, or not ours to judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases the lock we may have taken
    return False


def remove_stray_tmp(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary files an interrupted write of ``path`` left beside it.

    Only ``.<name>.*.tmp`` files of this destination are considered; one is removed when no process
    holds its lock and it is older than :data:`STRAY_TMP_GRACE_S` (see the module's docstring).

    Returns
    -------
    list of str
        The paths removed.
    """
    dest = os.path.abspath(os.fspath(path))
    directory, prefix = os.path.dirname(dest), _tmp_prefix(dest)
    min_age = STRAY_TMP_GRACE_S if fcntl is not None else STRAY_TMP_AGE_NO_LOCK_S
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        if not (e.name.startswith(prefix) and e.name.endswith(".tmp")):
            continue
        try:
            if not e.is_file(follow_symlinks=False) or now - e.stat(follow_symlinks=False).st_mtime < min_age:
                continue
        except OSError:
            continue
        if _held_by_a_writer(e.path):
            continue
        try:
            os.unlink(e.path)
            removed.append(e.path)
        except OSError:
            pass
    return removed


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False,
                       mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see the module's docstring).

    Parameters
    ----------
    path : str or path-like
        The destination.
    data : bytes
        The whole new content.
    make_parents : bool
        Create missing directories; without it a missing directory is an error.
    mode : int, optional
        Permission bits of the written file (e.g. ``0o600`` for an owner-only file). By default an
        existing file keeps its bits and a new one gets what a plain ``open()`` would give it.
    """
    dest = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(dest)
    if make_parents:
        Path(directory).mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = os.stat(dest).st_mode & 0o7777
        except OSError:
            mode = None
    remove_stray_tmp(dest)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(dest), suffix=".tmp", dir=directory)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # marks the file as being written (see remove_stray_tmp)
        with os.fdopen(fd, "wb") as f:
            if mode is None:  # a new file: the permissions a plain open() would give it
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, dest)  # still locked: nobody takes the file for a stray before it is renamed
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock between processes for the block (an ``flock`` on ``path``).

    ``path`` is a lock file beside the data it guards (created when missing, never removed: removing
    it would let two processes lock two different files). Without ``fcntl`` (Windows) it does not lock.
    """
    p = os.fspath(path)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
