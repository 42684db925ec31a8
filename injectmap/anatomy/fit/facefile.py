"""A fitted face as data: the ``*.face.json`` file (kind ``injectmap-face``, version 1).

```json
{"kind": "injectmap-face", "version": 1,
 "base_mesh_sha256": "...", "targets": [["nose/nose-scale-vert-incr.target.gz", 0.31], ...],
 "sources": [{"kind": "photo", "sha256": "...", "role": "front"}],
 "created": "2026-12-02T11:00:00+00:00", "residuals_mm": {"median": 0.9, "p90": 2.1, "per_landmark": [...]},
 "scale": {"iris_depth_mm": 640.0, "intercanthal_mm": 32.1, "intercanthal_z": -0.2},
 "libraries": {"injectmap": "...", "mediapipe": "0.10.14", "numpy": "..."},
 "caveat": "..."}
```

The photos themselves are never stored: only their SHA-256. The file is written owner-only (0600):
it describes a patient's face. :func:`face_id` is the SHA-256 of the canonical targets (what the
face's shape depends on), by which a built face is cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KIND = "injectmap-face"
VERSION = 1
CAVEAT = ("The fit moves the skin surface and the landmarks to the photo; the depths of the layers and the "
          "courses of the vessels and nerves stay population anatomy, placed relative to the fitted surface "
          "and landmarks. A photo cannot show them.")
MAX_BYTES = 2_000_000


class FaceFileError(ValueError):
    """A face file that cannot be used (the message says why)."""


@dataclass(frozen=True)
class FaceFile:
    """A parsed ``*.face.json``."""

    targets: tuple[tuple[str, float], ...]
    sources: tuple[dict[str, str], ...] = ()
    created: str = ""
    residuals_mm: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    base_mesh_sha256: str = ""
    #: each photo's camera (:func:`camera_entry`): projects the built face onto that photo again
    cameras: tuple[dict[str, Any], ...] = ()

    @property
    def face_id(self) -> str:
        return face_id(self.targets)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND, "version": VERSION, "base_mesh_sha256": self.base_mesh_sha256,
            "targets": [[n, w] for n, w in self.targets], "sources": list(self.sources),
            "created": self.created, "residuals_mm": self.residuals_mm, "scale": self.scale,
            "libraries": self.libraries, "caveat": CAVEAT, "face_id": self.face_id,
            **({"cameras": list(self.cameras)} if self.cameras else {}),
        }


def face_id(targets: tuple[tuple[str, float], ...] | list[tuple[str, float]]) -> str:
    """The SHA-256 of a face's canonical targets (sorted, weights to 5 decimals)."""
    canon = sorted((str(n), round(float(w), 5)) for n, w in targets if round(float(w), 5) != 0.0)
    return hashlib.sha256(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("injectmap", "mediapipe", "numpy", "scipy", "anny"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out




def make(targets: list[tuple[str, float]], sources: list[dict[str, str]], residuals_mm: list[float],
         scale: dict[str, float]) -> FaceFile:
    """A face file's content for a fit (the date now, the library versions of this process)."""
    import numpy as np

    from injectmap.anatomy.basehead import BASE_SHA256

    r = np.asarray(residuals_mm, dtype=float)
    return FaceFile(
        targets=tuple((n, round(float(w), 5)) for n, w in targets),
        sources=tuple(sources),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        residuals_mm={"median": round(float(np.median(r)), 2), "p90": round(float(np.percentile(r, 90)), 2),
                      "max": round(float(r.max()), 2), "per_landmark": [round(float(x), 2) for x in r]},
        scale=scale,
        libraries=library_versions(),
        base_mesh_sha256=BASE_SHA256,
    )


def write(face: FaceFile, path: Path) -> None:
    """Write ``path`` owner-only (0600), atomically."""
    path = Path(path)
    data = (json.dumps(face.to_json(), indent=1) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read(path: Path) -> FaceFile:
    """Read and check a face file: its kind and version, the base mesh it was fitted on, its targets
    (known CC0 targets, weights 0..1)."""
    from injectmap.anatomy.basehead import BASE_SHA256
    from injectmap.anatomy.fit.basis import face_basis

    path = Path(path)
    if path.stat().st_size > MAX_BYTES:
        raise FaceFileError(f"{path.name}: too large for a face file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FaceFileError(f"{path.name}: not JSON ({exc})") from None
    return parse(raw, path.name, known=set(face_basis().names), base_sha256=BASE_SHA256)


def parse(raw: Any, name: str, known: set[str], base_sha256: str) -> FaceFile:
    if not isinstance(raw, dict) or raw.get("kind") != KIND:
        raise FaceFileError(f"{name}: not an injectmap face file (kind must be {KIND!r})")
    if raw.get("version") != VERSION:
        raise FaceFileError(f"{name}: version {raw.get('version')!r} is not supported (only {VERSION})")
    if raw.get("base_mesh_sha256") not in (None, "", base_sha256):
        raise FaceFileError(f"{name}: fitted on another base mesh than this installation's")
    targets = raw.get("targets")
    if not isinstance(targets, list):
        raise FaceFileError(f"{name}: 'targets' must be a list of [target, weight]")
    out = []
    for i, t in enumerate(targets):
        if (not isinstance(t, list) or len(t) != 2 or not isinstance(t[0], str)
                or isinstance(t[1], bool) or not isinstance(t[1], (int, float))):
            raise FaceFileError(f"{name}: targets[{i}] must be [target, weight]")
        if t[0] not in known:
            raise FaceFileError(f"{name}: targets[{i}]: unknown shape target {t[0]!r}")
        if not 0.0 <= float(t[1]) <= 1.0:
            raise FaceFileError(f"{name}: targets[{i}]: weight {t[1]!r} is not from 0 to 1")
        out.append((t[0], round(float(t[1]), 5)))
    return FaceFile(
        targets=tuple(out),
        sources=tuple(s for s in raw.get("sources", []) if isinstance(s, dict)),
        created=str(raw.get("created", "")),
        residuals_mm=raw.get("residuals_mm", {}) if isinstance(raw.get("residuals_mm"), dict) else {},
        scale=raw.get("scale", {}) if isinstance(raw.get("scale"), dict) else {},
        libraries=raw.get("libraries", {}) if isinstance(raw.get("libraries"), dict) else {},
        base_mesh_sha256=str(raw.get("base_mesh_sha256", "")),
        cameras=parse_cameras(raw.get("cameras", []), name),
    )


# -- the photos' cameras (key ``cameras``, optional) -----------------------------------------------
#: the frame a stored camera maps from: the built face's CONTRACTS frame (mm, origin between the
#: endocanthia), so that ``camera.project(model.skin.points)`` lands on the photo
CAMERA_FRAME = "contracts"


def camera_entry(camera: Any, role: str, sha256: str, origin_mm: Any) -> dict[str, Any]:
    """A photo's camera as stored: ``camera`` (:class:`~injectmap.anatomy.fit.camera.Camera`) maps the
    base mesh's file frame; ``origin_mm`` is the CONTRACTS origin in that frame
    (:func:`~injectmap.anatomy.fit.photo.contract_origin`), so the stored translation maps the built
    face's frame: ``x_cam = R (x + origin) + t``."""
    import numpy as np

    r = np.asarray(camera.r, dtype=float)
    t = np.asarray(camera.t, dtype=float) + r @ np.asarray(origin_mm, dtype=float)
    return {"role": role, "sha256": sha256, "width": int(camera.width), "height": int(camera.height),
            "focal_px": round(float(camera.focal_px), 4), "frame": CAMERA_FRAME,
            "rotation": [[round(float(x), 9) for x in row] for row in r],
            "translation_mm": [round(float(x), 5) for x in t]}


def parse_cameras(raw: Any, name: str) -> tuple[dict[str, Any], ...]:
    """Check the ``cameras`` list: a role, a SHA-256, a positive size and focal length, a rotation
    (3x3, orthonormal) and a translation (3) of finite numbers."""
    import numpy as np

    if raw in (None, []):
        return ()
    if not isinstance(raw, list):
        raise FaceFileError(f"{name}: 'cameras' must be a list")
    out = []
    for i, c in enumerate(raw):
        where = f"{name}: cameras[{i}]"
        if not isinstance(c, dict):
            raise FaceFileError(f"{where} must be an object")
        if c.get("frame", CAMERA_FRAME) != CAMERA_FRAME:
            raise FaceFileError(f"{where}: unknown frame {c.get('frame')!r}")
        sha = c.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
            raise FaceFileError(f"{where}: sha256 must be 64 lower-case hex digits")
        try:
            w, h, f = int(c["width"]), int(c["height"]), float(c["focal_px"])
            r = np.asarray(c["rotation"], dtype=float)
            t = np.asarray(c["translation_mm"], dtype=float)
        except (KeyError, TypeError, ValueError):
            raise FaceFileError(f"{where}: needs width, height, focal_px, rotation (3x3), translation_mm (3)") from None
        if (w <= 0 or h <= 0 or not f > 0 or r.shape != (3, 3) or t.shape != (3,)
                or not np.isfinite(r).all() or not np.isfinite(t).all() or not np.isfinite(f)):
            raise FaceFileError(f"{where}: needs width, height, focal_px, rotation (3x3), translation_mm (3)")
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-4) or np.linalg.det(r) <= 0:
            raise FaceFileError(f"{where}: the rotation is not a rotation matrix")
        out.append({"role": str(c.get("role", "")), "sha256": sha, "width": w, "height": h, "focal_px": f,
                    "frame": CAMERA_FRAME, "rotation": r.tolist(), "translation_mm": t.tolist()})
    return tuple(out)


def photo_camera(face: FaceFile, sha256: str) -> Any:
    """The camera of the photo with this SHA-256, in the built face's frame, or None when the face has
    no camera for that photo (not one of its sources, or a face file written before cameras were kept)."""
    import numpy as np

    from injectmap.anatomy.fit.camera import Camera

    for c in face.cameras:
        if c["sha256"] == sha256:
            return Camera(float(c["focal_px"]), int(c["width"]), int(c["height"]),
                          np.asarray(c["rotation"], dtype=float), np.asarray(c["translation_mm"], dtype=float))
    return None
