"""One fit of the astronaut portrait (scikit-image, NASA, public domain) by ``injectmap face fit``, shared by
every test of a run that only needs its result (see the ``astronaut_fit`` fixture in tests/conftest.py)."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AstronautFit:
    """What ``injectmap face fit --photo astronaut.png -o astronaut.face.json`` left: the photo, the face
    file, and what the command said (its exit status, standard output and standard error)."""

    photo: Path
    face_path: Path
    returncode: int
    stdout: str
    stderr: str


def fit_astronaut_once(shared: Path) -> AstronautFit:
    """Fit the astronaut into ``shared``/astronaut-fit unless a process of this run already did.

    The fit (Face Mesh and the shape fit: tens of seconds on a loaded machine) runs under an exclusive lock
    on ``shared``/astronaut-fit.lock; the result is written last (renamed into place), so a process that
    waited on the lock, or comes later, reads a whole result and never fits again."""
    d = shared / "astronaut-fit"
    done = d / "result.json"
    with open(shared / "astronaut-fit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                _fit(d, done)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    raw = json.loads(done.read_text())
    return AstronautFit(Path(raw["photo"]), Path(raw["face_path"]), raw["returncode"], raw["stdout"], raw["stderr"])


def _fit(d: Path, done: Path) -> None:
    from PIL import Image
    from skimage import data as skdata

    from injectmap.cli import main

    d.mkdir(exist_ok=True)
    photo, face_path = d / "astronaut.png", d / "astronaut.face.json"
    Image.fromarray(skdata.astronaut()).save(photo)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["face", "fit", "--photo", str(photo), "-o", str(face_path)])
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps({"photo": str(photo), "face_path": str(face_path), "returncode": rc,
                               "stdout": out.getvalue(), "stderr": err.getvalue()}))
    tmp.replace(done)
