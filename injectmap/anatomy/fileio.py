"""Atomic file writes, shared by every package (the model cache, plans, scores, reports).

The data goes to a temporary file in the destination's directory, is flushed and fsynced, and is
renamed over the destination with ``os.replace`` (atomic on POSIX and Windows); the directory is
then fsynced so the rename survives a power cut. A reader, or a crash, sees the old complete file
or the new complete one; a crash can leave a stray ``.<name>.*.tmp`` beside it, never a partial
file under the destination's name. An existing file's permission bits are kept.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module's docstring).

    ``make_parents`` creates missing directories; without it a missing directory is an error.
    """
    dest = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(dest)
    if make_parents:
        Path(directory).mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = os.stat(dest).st_mode & 0o7777
    except OSError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:  # a new file: the permissions a plain open() would give it
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)
