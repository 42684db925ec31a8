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

A face fitted to a 3D scan also carries ``"offsets"`` (an additive key; the version stays 1): the
displacement of every base-mesh vertex in the frame, stored as :class:`VertexOffsets` (int16 in
hundredths of a millimetre, so 0.005 mm of rounding and a range of +-327 mm, as a zlib-compressed
``.npy`` in base64, with the SHA-256 of the decoded array checked on reading). A face with offsets
has an id over its targets and the offsets' SHA-256 (:func:`face_id`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from injectmap.anatomy.errors import UserFacing

KIND = "injectmap-face"
VERSION = 1
CAVEAT = ("The fit moves the skin surface and the landmarks to the photo; the depths of the layers and the "
          "courses of the vessels and nerves stay population anatomy, placed relative to the fitted surface "
          "and landmarks. A photo cannot show them.")
MAX_BYTES = 2_000_000
SCAN_CAVEAT = ("The fit moves the skin surface and the landmarks to the scan; the depths of the layers and the "
               "courses of the vessels and nerves stay population anatomy, placed relative to the fitted surface "
               "and landmarks. A surface scan cannot show them; where the scan has no data the face is the "
               "population template.")


class FaceFileError(UserFacing, ValueError):
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
    #: a scan fit's displacement of the base mesh's vertices (None for a targets-only face)
    offsets: VertexOffsets | None = None
    #: a scan fit's record: units and how they were decided, alignment, coverage (``"scan"`` key)
    scan: dict[str, Any] = field(default_factory=dict)

    @property
    def face_id(self) -> str:
        return face_id(self.targets, self.offsets.sha256 if self.offsets is not None else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND, "version": VERSION, "base_mesh_sha256": self.base_mesh_sha256,
            "targets": [[n, w] for n, w in self.targets], "sources": list(self.sources),
            "created": self.created, "residuals_mm": self.residuals_mm, "scale": self.scale,
            "libraries": self.libraries, "caveat": CAVEAT, "face_id": self.face_id,
            **({"cameras": list(self.cameras)} if self.cameras else {}),
            **offsets_json(self.offsets), **({"scan": self.scan, "caveat": SCAN_CAVEAT} if self.scan else {}),
        }


def face_id(targets: tuple[tuple[str, float], ...] | list[tuple[str, float]], offsets_sha256: str = "") -> str:
    """The SHA-256 of a face's canonical targets (sorted, weights to 5 decimals) and, for a face with
    vertex offsets, of their SHA-256 too (a targets-only face keeps the id it always had)."""
    canon: Any = sorted((str(n), round(float(w), 5)) for n, w in targets if round(float(w), 5) != 0.0)
    if offsets_sha256:
        canon = {"targets": canon, "offsets_sha256": offsets_sha256}
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
        cameras=parse_cameras(raw.get("cameras", []), name, tuple(out)),
        offsets=parse_offsets(raw.get("offsets"), name),
        scan=raw.get("scan", {}) if isinstance(raw.get("scan"), dict) else {},
    )


# -- vertex offsets (a scan fit) ----------------------------------------------------------------------
#: the offsets are stored in hundredths of a millimetre (int16: 0.005 mm rounding, +-327.67 mm range)
OFFSET_UNIT_MM = 0.01
#: the largest displacement a fit may give a vertex (a face, not another object)
MAX_OFFSET_MM = 150.0
#: bounds of the stored blob (base64 characters) and of the decoded array (bytes)
MAX_OFFSETS_B64 = 1_000_000
MAX_OFFSETS_DECODED = 400_000


@dataclass(frozen=True, eq=False)
class VertexOffsets:
    """The displacement (mm, the frame's axes) of every base-mesh vertex, quantised to int16 in
    hundredths of a millimetre. Equal and hashed by the SHA-256 of the int16 array's bytes (C order,
    little-endian), so it can key a face in the cache."""

    sha256: str
    hundredths: bytes
    n_vertices: int

    @classmethod
    def from_mm(cls, offsets_mm: Any) -> VertexOffsets:
        import numpy as np

        a = np.asarray(offsets_mm, dtype=float)
        if a.ndim != 2 or a.shape[1] != 3 or not np.isfinite(a).all():
            raise FaceFileError("vertex offsets must be a finite (n, 3) array")
        if np.abs(a).max(initial=0.0) > MAX_OFFSET_MM:
            raise FaceFileError(f"a vertex offset of {np.abs(a).max():.0f} mm: more than {MAX_OFFSET_MM:.0f} mm "
                                "is not a face's shape")
        q = np.round(a / OFFSET_UNIT_MM).astype("<i2")
        raw = q.tobytes(order="C")
        return cls(sha256=hashlib.sha256(raw).hexdigest(), hundredths=raw, n_vertices=len(q))

    def array_mm(self) -> Any:
        """The offsets as a float (n, 3) array in mm."""
        import numpy as np

        return np.frombuffer(self.hundredths, dtype="<i2").reshape(self.n_vertices, 3).astype(float) * OFFSET_UNIT_MM

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VertexOffsets) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)


def offsets_json(offsets: VertexOffsets | None) -> dict[str, Any]:
    """The ``"offsets"`` key of a face file ({} for a face without offsets)."""
    if offsets is None:
        return {}
    import base64
    import io
    import zlib

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.frombuffer(offsets.hundredths, dtype="<i2").reshape(offsets.n_vertices, 3), allow_pickle=False)
    blob = base64.b64encode(zlib.compress(buf.getvalue(), 9)).decode("ascii")
    return {"offsets": {"encoding": "npy+zlib+base64", "dtype": "int16", "unit_mm": OFFSET_UNIT_MM,
                        "shape": [offsets.n_vertices, 3], "sha256": offsets.sha256, "data": blob}}


def parse_offsets(raw: Any, name: str) -> VertexOffsets | None:
    """The ``"offsets"`` of a face file, decoded and checked (bounded size, shape, dtype and SHA-256);
    ``None`` when the file has none."""
    if raw is None:
        return None
    import base64
    import binascii
    import io
    import zlib

    import numpy as np

    from injectmap.anatomy.basehead import read_base_obj

    bad = f"{name}: offsets"
    if not isinstance(raw, dict) or raw.get("encoding") != "npy+zlib+base64" or raw.get("dtype") != "int16":
        raise FaceFileError(f"{bad}: must be an object with encoding 'npy+zlib+base64' and dtype 'int16'")
    if raw.get("unit_mm") != OFFSET_UNIT_MM:
        raise FaceFileError(f"{bad}: unit_mm must be {OFFSET_UNIT_MM}")
    data, sha = raw.get("data"), raw.get("sha256")
    if not isinstance(data, str) or not isinstance(sha, str) or len(data) > MAX_OFFSETS_B64:
        raise FaceFileError(f"{bad}: 'data' and 'sha256' must be strings (data at most {MAX_OFFSETS_B64} characters)")
    n = len(read_base_obj().vertices_mm)
    try:
        packed = base64.b64decode(data.encode("ascii"), validate=True)
        z = zlib.decompressobj()
        npy = z.decompress(packed, MAX_OFFSETS_DECODED)
        if z.unconsumed_tail or not z.eof:
            raise FaceFileError(f"{bad}: the data is damaged or larger than {MAX_OFFSETS_DECODED} bytes")
        arr = np.load(io.BytesIO(npy), allow_pickle=False)
    except (binascii.Error, UnicodeEncodeError, zlib.error, ValueError, EOFError) as exc:
        if isinstance(exc, FaceFileError):
            raise
        raise FaceFileError(f"{bad}: the data cannot be decoded ({type(exc).__name__})") from None
    if arr.dtype != np.dtype("<i2") or arr.shape != (n, 3):
        raise FaceFileError(f"{bad}: must be int16 of shape ({n}, 3) (the base mesh's vertices), not "
                            f"{arr.dtype} {arr.shape}")
    rawbytes = np.ascontiguousarray(arr).tobytes(order="C")
    if hashlib.sha256(rawbytes).hexdigest() != sha:
        raise FaceFileError(f"{bad}: their SHA-256 does not match (the file was changed or damaged)")
    return VertexOffsets(sha256=sha, hundredths=rawbytes, n_vertices=n)


def _with_trimesh(versions: dict[str, str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {**versions, "trimesh": version("trimesh")}
    except PackageNotFoundError:
        return versions


def make_scan(offsets_mm: Any, source_sha256: str, fmt: str, per_landmark_mm: dict[str, float],
              fit_summary: dict[str, Any]) -> FaceFile:
    """A face file's content for a scan fit: no targets, the offsets, the scan's SHA-256 (never the
    scan), the residual per landmark (name to mm) and the fit's units, alignment and coverage."""
    import numpy as np

    from injectmap.anatomy.basehead import BASE_SHA256

    names = sorted(per_landmark_mm)
    r = np.array([per_landmark_mm[k] for k in names], dtype=float)
    resid: dict[str, Any] = {"per_landmark": [round(float(x), 2) for x in r], "landmarks": names}
    if len(r):
        resid.update(median=round(float(np.median(r)), 2), p90=round(float(np.percentile(r, 90)), 2),
                     max=round(float(r.max()), 2))
    resid.update({k: v for k, v in fit_summary.items() if k.startswith("surface_")})
    return FaceFile(
        targets=(),
        sources=({"kind": "scan", "format": fmt, "sha256": source_sha256},),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        residuals_mm=resid,
        libraries=_with_trimesh(library_versions()),
        base_mesh_sha256=BASE_SHA256,
        offsets=VertexOffsets.from_mm(offsets_mm),
        scan={k: v for k, v in fit_summary.items() if not k.startswith("surface_")},
    )


# -- the photos' cameras (key ``cameras``, optional) -----------------------------------------------
#: the frame a stored camera maps from: the built face's CONTRACTS frame (mm, origin between the
#: endocanthia, on the head's midline: ``basehead.frame_origin``), so that ``camera.project(model.skin.points)``
#: lands on the photo
CAMERA_FRAME = "contracts-midline"
#: the frame of cameras written before Dec 4 2026: the origin's x was the base mesh's midline (0); such a camera
#: is moved into :data:`CAMERA_FRAME` when the file is read (:func:`parse_cameras`)
OLD_CAMERA_FRAME = "contracts"


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


def parse_cameras(raw: Any, name: str, targets: tuple[tuple[str, float], ...] = ()) -> tuple[dict[str, Any], ...]:
    """Check the ``cameras`` list: a role, a SHA-256, a positive size and focal length, a rotation
    (3x3, orthonormal) and a translation (3) of finite numbers. A camera of :data:`OLD_CAMERA_FRAME` (its
    origin's x at the base mesh's midline) is moved into :data:`CAMERA_FRAME` for the face of ``targets``:
    ``t + R (x, 0, 0)``, x the face's origin's (0 on a symmetric face), so the chart stays on the photo."""
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
        frame = c.get("frame", OLD_CAMERA_FRAME)
        if frame not in (CAMERA_FRAME, OLD_CAMERA_FRAME):
            raise FaceFileError(f"{where}: unknown frame {frame!r}")
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
        if frame == OLD_CAMERA_FRAME:
            t = t + r @ np.array([_origin_x(targets), 0.0, 0.0])
        out.append({"role": str(c.get("role", "")), "sha256": sha, "width": w, "height": h, "focal_px": f,
                    "frame": CAMERA_FRAME, "rotation": r.tolist(), "translation_mm": t.tolist()})
    return tuple(out)


def _origin_x(targets: tuple[tuple[str, float], ...]) -> float:
    """The x of the CONTRACTS origin of the face of these shape targets, in the base mesh's file frame."""
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.photo import contract_origin

    basis = face_basis()
    names = set(basis.names)
    known = [(n, w) for n, w in targets if n in names]
    return float(contract_origin(basis.weights(known))[0])


def with_photo_cameras(face: FaceFile, result: Any, sources: list[dict[str, str]]) -> FaceFile:
    """The face file with each photo's recovered camera (:func:`camera_entry`, in the built face's frame):
    ``result`` is the photo fit's (``anatomy.fit.photo.FitResult``), its cameras in the order of ``sources``."""
    from injectmap.anatomy.fit.photo import contract_origin

    origin = contract_origin(result.weights)
    cams = tuple(camera_entry(cam, src.get("role", ""), src["sha256"], origin)
                 for cam, src in zip(result.cameras, sources, strict=True))
    return dataclasses.replace(face, cameras=cams)


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
