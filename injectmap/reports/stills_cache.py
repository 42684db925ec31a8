"""The rendered expression stills kept on disk, so a second report or handout of the same plan renders nothing.

A still (reports/stills.py) is an off-screen render of 1-20 s; the chart, the handout and the walkthrough
of one plan show the same three. Each PNG is kept under a key that is the SHA-256 of everything the picture
depends on: the plan's content (its canonical JSON), the face's identity (its name and the hash of what it
was built from), the expression, the day, the picture's size, the colour scale and the skin's displacement
itself (so a change of the expression model's data gives new pictures, never stale ones), and
:data:`RENDER_VERSION` (raised when the drawing changes). A fitted face's stills (a patient's face) carry
its id in their names, and :func:`forget_face` removes them when the patient's record is deleted.

Where: ``$INJECTMAP_STILLS_CACHE_DIR``, else ``stills/`` in the face cache's folder (``anatomy.model.
cache_root``, which the face cache's pruning never touches). The folder is the owner's only (0700, files
0600: a plan is patient data), files are written whole (a temporary file renamed), a file that is not a
whole PNG is ignored and rendered again, and the folder keeps to :data:`BUDGET_MB` (the least recently
read deleted first). A cache that cannot be written is not an error: the
stills are rendered and the document is made as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RENDER_VERSION", "StillsCache", "forget_face", "stills_cache", "still_key"]

#: raised whenever :func:`reports.stills._render` draws differently: older files are then never read
RENDER_VERSION = 1
ENV = "INJECTMAP_STILLS_CACHE_DIR"
_PNG_HEAD = b"\x89PNG\r\n\x1a\n"
_PNG_TAIL = b"IEND\xaeB`\x82"
#: the folder's budget (``$INJECTMAP_STILLS_CACHE_MB`` overrides it). Project choice: a still is a 420x480 PNG
#: of ~60-120 kB, three a plan, so 40 MB keeps those of ~100-200 plans (a clinic's recent patients), beside the
#: face cache's 600 MB (``anatomy/data/face_cache.yaml``). Kept here, not in that file: the face cache's
#: settings model is part of what a built face is hashed from, and a budget of pictures must not rebuild faces.
BUDGET_MB = 40.0
BUDGET_ENV = "INJECTMAP_STILLS_CACHE_MB"


def still_key(plan_json: str, face_id: str, expression: str, day: float, size: Sequence[int], clim: float,
              displacement: np.ndarray) -> str:
    """The SHA-256 (hex) naming one still: what the picture depends on (see the module docstring). A
    fitted face's stills start with ``fit-<first 16 of its face id>-``, so that :func:`forget_face` finds
    them when the patient is deleted."""
    h = hashlib.sha256()
    head = {"render_version": RENDER_VERSION, "plan": hashlib.sha256(plan_json.encode()).hexdigest(),
            "face": face_id, "expression": expression, "day": float(day), "size": [int(v) for v in size],
            "clim": round(float(clim), 6)}
    h.update(json.dumps(head, sort_keys=True).encode())
    disp = np.ascontiguousarray(np.round(np.asarray(displacement, dtype=np.float64), 6))
    h.update(str(disp.shape).encode())
    h.update(disp.tobytes())
    fit = _FITTED.search(face_id)
    return f"fit-{fit.group(1)}-{h.hexdigest()}" if fit else h.hexdigest()


#: a fitted face's name (``anatomy.params.FaceParams.name``: ``<sliders>-fit-<16 hex>``) in :func:`face_id`
_FITTED = re.compile(r"-fit-([0-9a-f]{16})(?::|$)")


def forget_face(face_id: str, cache: StillsCache | None = None) -> int:
    """Remove the stills of the fitted face ``face_id`` (a patient's: they go with the patient); returns
    how many were removed."""
    tag = str(face_id)[:16]
    if not re.fullmatch(r"[0-9a-f]{16}", tag):
        raise ValueError(f"not a face id: {face_id!r}")
    cache = cache or stills_cache()
    removed = 0
    try:
        files = list(cache.folder.glob(f"fit-{tag}-*.png"))
    except OSError:
        return 0
    for path in files:
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


class StillsCache:
    """A folder of PNGs named by :func:`still_key`, within a byte budget."""

    def __init__(self, folder: Path, budget_bytes: float) -> None:
        self.folder = folder
        self.budget_bytes = budget_bytes

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.png"

    def get(self, key: str) -> bytes | None:
        """The PNG kept under ``key`` (and marked as just read), or None when missing or not a whole PNG."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not (data.startswith(_PNG_HEAD) and data.endswith(_PNG_TAIL)):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return data

    def put(self, key: str, png: bytes) -> bool:
        """Keep ``png`` under ``key`` (owner-only, written whole); False when the folder cannot be written."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.folder.stat().st_mode & 0o077:
                os.chmod(self.folder, 0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")  # 0600
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(png)
                os.replace(tmp, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return False
        self.prune(keep=[key])
        return True

    def prune(self, keep: Iterable[str] = ()) -> list[str]:
        """Delete the least recently read stills beyond the budget (never those named in ``keep``)."""
        keep_names = {f"{k}.png" for k in keep}
        try:
            files = [(p.stat(), p) for p in self.folder.iterdir() if p.suffix == ".png" and p.is_file()]
        except OSError:
            return []
        total = sum(st.st_size for st, _ in files)
        deleted: list[str] = []
        for st, p in sorted(files, key=lambda sp: sp[0].st_mtime):
            if total <= self.budget_bytes:
                break
            if p.name in keep_names:
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                total -= st.st_size
                deleted.append(p.stem)
        return deleted


def stills_cache() -> StillsCache:
    """The stills' cache of this process's settings (the folder and the budget are read at each call)."""
    from injectmap.anatomy.model import cache_root

    env = os.environ.get(ENV)
    folder = Path(env).expanduser() if env else cache_root() / "stills"
    try:
        budget_mb = float(os.environ.get(BUDGET_ENV) or BUDGET_MB)
    except ValueError:
        budget_mb = BUDGET_MB
    return StillsCache(folder, budget_mb * 1e6)


def face_id(model: Any) -> str:
    """A face's identity for the key: its name and the hash of its build inputs."""
    return f"{getattr(model, 'name', '?')}:{getattr(model, 'sha256', '?')}"
