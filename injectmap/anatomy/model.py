"""The face model: build it from the base head and the data files, cache it (:func:`cache_root`), load it.

``load_model()`` reuses the cache while the inputs (base mesh, shape targets, data files, builder
version) are unchanged and every cached file matches the SHA-256 in the signed manifest
(:mod:`injectmap.anatomy.cache`); a missing, stale or damaged face is rebuilt, a cache that cannot
be written leaves the face in memory with a note on stderr. Face parameters are rounded to the steps
of ``data/face_cache.yaml`` before a face is loaded; the registry of loaded faces (:data:`FACES`) and
the cache folder (:func:`injectmap.anatomy.cache.prune`) keep to a memory and a disk budget.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import weakref
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from injectmap.anatomy import basehead
from injectmap.anatomy import cache as facecache
from injectmap.anatomy.build import Builder, Built, Grid, VolumeField
from injectmap.anatomy.fields import SkinProjector, layer_depths, load_geometry, resolve_anchor
from injectmap.anatomy.fileio import atomic_write_bytes
from injectmap.anatomy.head import Head, build_head, depth_along_normal
from injectmap.anatomy.ids import structure_ids
from injectmap.anatomy.landmarks import add_bone_landmarks, find_landmarks
from injectmap.anatomy.metadata import StructureInfo, load_structures
from injectmap.anatomy.params import FACE_CACHE_FILE, FaceParams, face_cache_settings

BUILDER_VERSION = "1.0.0"
DATA_DIR = Path(__file__).parent / "data"
#: environment variables naming the model cache's folder (the first one set wins)
CACHE_ENV = ("INJECTMAP_CACHE_DIR", "INJECTMAP_MESHES")


def cache_root() -> Path:
    """Where built faces are cached: ``$INJECTMAP_CACHE_DIR`` (or ``$INJECTMAP_MESHES``, or the
    command line's ``--cache-dir``), else ``meshes/`` in a source checkout, else the user's cache
    folder (platformdirs: ``~/.cache/injectmap/meshes`` on Linux), never inside site-packages."""
    for var in CACHE_ENV:
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "meshes"
    from platformdirs import user_cache_path

    return user_cache_path("injectmap", appauthor=False) / "meshes"


def source_checkout() -> Path | None:
    """The source checkout this package runs from (its pyproject.toml beside it), or None when installed."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "injectmap" / "anatomy" / "model.py").is_file():
        return checkout
    return None


def _from_info(field_name: str) -> Any:
    """A read-only attribute of :class:`Structure` that is its ``info``'s field of that name."""
    # attrgetter reads ``self.info.<field>`` in C: the rules ask a structure's kind, layer or spare thousands of times
    # for a large plan
    return property(attrgetter(f"info.{field_name}"), doc=f"``info.{field_name}``")


@dataclass
class Structure:
    """One structure of the model: its metadata (``info``, from data/structures.yaml) and geometry.

    ``volume`` (closed structures) samples the implicit field (negative inside) used for containment
    and sphere-overlap queries; ``centreline`` and ``radius_mm`` describe tubes. The metadata is
    read through ``info`` or the properties below (``s.kind`` is ``s.info.kind``), never copied.
    """

    info: StructureInfo
    mesh: pv.PolyData
    volume: VolumeField | None = None
    centreline: np.ndarray | None = None
    radius_mm: float | None = None
    geometry_source: str = ""

    # the metadata, read from ``info`` (never copied)
    id = _from_info("id")
    kind = _from_info("kind")
    side = _from_info("side")
    layer = _from_info("layer")
    name = _from_info("name")
    colour = _from_info("colour")
    action = _from_info("action")
    weakened = _from_info("weakened")
    spare = _from_info("spare")

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.info.sources)

    @property
    def closed(self) -> bool:
        return self.volume is not None or self.centreline is not None


@dataclass
class FaceModel:
    """The layered face in the CONTRACTS frame (mm)."""

    name: str
    sex: float
    skin: pv.PolyData
    eyes: dict[str, pv.PolyData]
    landmarks: dict[str, np.ndarray]
    structures: dict[str, Structure]
    depth_points_mm: np.ndarray
    depth_normals: np.ndarray
    layer_bone_mm: np.ndarray
    layer_fat_mm: np.ndarray
    layer_smas_mm: np.ndarray
    skin_thickness_mm: float
    sha256: str
    build_seconds: float = 0.0
    params: FaceParams = field(default_factory=FaceParams)
    #: wall seconds of each stage of the build (:func:`build_model`; empty for a face read from the cache)
    build_stages_s: dict[str, float] = field(default_factory=dict)
    _tree: cKDTree | None = field(default=None, repr=False)
    _index: Any = field(default=None, repr=False)
    #: what other layers derive from this face and keep while it is loaded (e.g. the viewer's display
    #: meshes, by their own key): freed with the face, never part of its identity
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def skin_tree(self) -> cKDTree:
        if self._tree is None:
            self._tree = cKDTree(self.depth_points_mm)
        return self._tree

    def skin_point(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sealed-skin point nearest to ``p`` (3,) and its outward unit normal."""
        _, i = self.skin_tree.query(np.asarray(p, dtype=float))
        return self.depth_points_mm[i].copy(), self.depth_normals[i].copy()

    def depth_below_skin(self, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signed depth (positive inside) of points and the row of their nearest skin point."""
        pts = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        _, idx = self.skin_tree.query(pts)
        d = depth_along_normal(pts, self.depth_points_mm[idx], self.depth_normals[idx])
        return d, idx

    @property
    def index(self):
        """The spatial index over every structure (built once, on first use)."""
        if self._index is None:
            from injectmap.anatomy.index import SpatialIndex

            self._index = SpatialIndex(self)
        return self._index


# -- hashing -------------------------------------------------------------------------------------
def _params(p: FaceParams | float) -> FaceParams:
    return p if isinstance(p, FaceParams) else FaceParams(sex=float(p))


def _extra_targets(params: FaceParams, geo: dict[str, Any]) -> list:
    """The shape targets beyond sex: the base-head corrections (``shape``), then the brow variant."""
    t = geo["variants"]["brow"]["targets"]
    base = [(e["target"], float(e["weight"])) for e in geo["shape"]["targets"]]
    return base + basehead.brow_targets(params.brow_left, params.brow_right, t["up"], t["down"]) + list(params.fit)


def masseter_scale(params: FaceParams, geo: dict[str, Any]) -> float:
    v = geo["variants"]["masseter"]
    m = params.masseter
    return 1.0 + m * (float(v["scale_at_plus_one"]) - 1.0) if m >= 0 else 1.0 - m * (float(v["scale_at_minus_one"]) - 1.0)


def inputs_sha256(params: FaceParams | float) -> str:
    params = _params(params)
    h = hashlib.sha256()
    h.update(BUILDER_VERSION.encode())
    h.update(basehead.BASE_SHA256.encode())
    h.update(repr(params).encode())
    if params.offsets is not None:  # a scan fit's vertex offsets (repr leaves them out)
        h.update(f"offsets:{params.offsets.sha256}".encode())
    for entry in basehead.sex_targets(params.sex) + _extra_targets(params, load_geometry()):
        rel, w = entry[0], entry[1]
        h.update(f"{rel}:{w:.6f}:{entry[2] if len(entry) > 2 else ''}:{basehead.target_sha256(rel)}".encode())
    for p in sorted(DATA_DIR.glob("*.yaml")):
        if p == FACE_CACHE_FILE:  # the steps and budgets: which faces are built, not how
            continue
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for mod in ("basehead", "head", "landmarks", "fields", "build", "model", "params"):
        h.update((Path(__file__).parent / f"{mod}.py").read_bytes())
    return h.hexdigest()


def variant_name(params: FaceParams | float) -> str:
    return _params(params).name


# -- building --------------------------------------------------------------------------------------
def _masseter_bulge(head: Head, landmarks: dict[str, np.ndarray], geo: dict[str, Any], scale: float) -> np.ndarray:
    """Move the skin over each masseter outward by the thickness the muscle gains (inward when it is
    smaller); returns the displacement (mm, outward) at each sealed-skin point."""
    spec = geo["muscles"]["masseter_superficial"]
    spec = spec["parts"][0] if "parts" in spec else spec  # its first part: the whole outline, the full thickness
    thick = float(spec["depth_from_bone_mm"][0])
    amp = (scale - 1.0) * thick
    disp_seal = np.zeros(len(head.depth_points_mm))
    if abs(amp) < 1e-9:
        return disp_seal
    sigma = float(geo["variants"]["masseter"]["bulge_sigma_mm"])
    skin = head.skin
    disp_skin = np.zeros(skin.n_points)
    for side in ("left", "right"):
        proj = SkinProjector(head)
        outline = [proj.project(resolve_anchor(p, side, landmarks), p.get("project", "nearest")) for p in spec["outline"]]
        centre = head.depth_points_mm[head.depth_tree.query(head.depth_points_mm[outline].mean(axis=0))[1]]
        disp_skin += amp * np.exp(-0.5 * ((skin.points - centre) ** 2).sum(1) / sigma**2)
        disp_seal += amp * np.exp(-0.5 * ((head.depth_points_mm - centre) ** 2).sum(1) / sigma**2)
    skin.points = skin.points + skin.point_normals * disp_skin[:, None]
    head.depth_points_mm = head.depth_points_mm + head.depth_normals * disp_seal[:, None]
    head._tree = None
    return disp_seal


#: how many threads build a face's structures (``$INJECTMAP_BUILD_THREADS`` overrides; 1 builds them one
#: after the other): their fields' array arithmetic, nearest-skin lookups, smoothing and VTK filters
#: release the GIL for most of their time
BUILD_THREADS_ENV = "INJECTMAP_BUILD_THREADS"
MAX_BUILD_THREADS = 4


def build_threads() -> int:
    raw = os.environ.get(BUILD_THREADS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ValueError(f"{BUILD_THREADS_ENV} must be a whole number, not {raw!r}") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_BUILD_THREADS, cores))


class _Stages:
    """Wall seconds of a build's stages, in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._t, 3)
        self._t = now


def build_model(params: FaceParams | float = 0.5, threads: int | None = None, naive: bool = False) -> FaceModel:
    """Build the model from nothing (no cache): the head and its layers, then every structure on
    ``threads`` threads (default :func:`build_threads`; the same face whatever the number).
    ``naive`` builds it the way it was first written, on one thread (``injectmap bench``'s baseline)."""
    t0 = time.perf_counter()
    stages = _Stages()
    params = _params(params)
    sex = params.sex
    geo = load_geometry()
    head: Head = build_head(sex, extra_targets=_extra_targets(params, geo),
                            vertex_offsets_mm=None if params.offsets is None else params.offsets.array_mm())
    stages.done("head")
    landmarks = find_landmarks(head)
    scale = masseter_scale(params, geo)
    bulge = _masseter_bulge(head, landmarks, geo, scale)
    layers = layer_depths(head, landmarks, geo, sex)
    layers.bone_mm = layers.bone_mm + bulge

    def bone_at(p: np.ndarray) -> np.ndarray:
        _, i = head.depth_tree.query(p)
        return layers.bone_mm[i]

    def normal_at(p: np.ndarray) -> np.ndarray:
        _, i = head.depth_tree.query(p)
        return head.depth_normals[i]

    front = SkinProjector(head)
    add_bone_landmarks(landmarks, bone_at, normal_at,
                       lambda p: head.depth_points_mm[front.project(np.asarray(p, dtype=float), "front")])
    meta = load_structures()
    stages.done("landmarks_and_layers")
    b = Builder(head, landmarks, layers, geo, scales={"masseter": scale}, naive=naive)
    stages.done("body_field")
    # every structure is built from the head, its layers and the body alone (none from another): the
    # jobs run on a pool of threads, the layer surfaces (the longest) first, and are gathered in order
    jobs: dict[str, tuple[Callable[[], Any], str]] = {}
    thick = {"subcutaneous_fat": layers.fat_mm, "smas": layers.smas_mm, "bone": layers.bone_mm}
    jobs["layer_surfaces"] = (partial(b.layer_surfaces, thick), "")
    for group in ("muscles", "glands"):
        for base, spec in geo[group].items():
            sides = ("midline",) if spec.get("midline") else ("left", "right")
            for sd in sides:
                sid = base if sd == "midline" else f"{base}_{sd}"
                fn = b.band if spec["type"] == "band" else b.sheet
                jobs[sid] = (partial(fn, spec, "left" if sd == "midline" else sd), spec.get("source", ""))
    for base, spec in geo["tubes"].items():
        for sd in ("left", "right"):
            jobs[f"{base}_{sd}"] = (partial(b.tube, spec, sd), spec.get("source", ""))
    for sd in ("left", "right"):
        jobs[f"orbit_{sd}"] = (partial(b.orbit, geo["orbit"], sd), geo["orbit"]["source"])
    n_threads = 1 if naive else build_threads() if threads is None else max(1, int(threads))
    results: dict[str, Any] = {}
    if n_threads == 1:
        for sid, (job, _) in jobs.items():
            results[sid] = _run_job(sid, job)
    else:
        with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="injectmap-build") as pool:
            futures = {sid: pool.submit(_run_job, sid, job) for sid, (job, _) in jobs.items()}
            results = {sid: fut.result() for sid, fut in futures.items()}
    stages.done("structures")
    built: dict[str, tuple[Built, str]] = {sid: (results[sid], src) for sid, (_, src) in jobs.items()
                                           if sid != "layer_surfaces"}
    surfaces = results["layer_surfaces"]
    src_layers = geo["layers"]["fat_fraction"]["source"]
    built["subcutaneous_fat"] = (surfaces["subcutaneous_fat"], src_layers)
    built["smas"] = (surfaces["smas"], geo["layers"]["smas_thickness_mm"]["source"])
    built["bone"] = (surfaces["bone"], "forensic soft-tissue depth tables (tissue_depth.yaml)")
    built["skin"] = (Built(mesh=head.skin), geo["layers"]["skin_thickness_mm"]["source"])

    structures = {sid: _structure(sid, meta[sid], bt, src) for sid, (bt, src) in built.items()}
    missing = set(structure_ids()) - set(structures)
    if missing:
        raise RuntimeError(f"the model lacks contract structures: {sorted(missing)}")
    return FaceModel(
        name=params.name,
        sex=sex,
        params=params,
        skin=head.skin,
        eyes=head.eyes,
        landmarks=landmarks,
        structures=structures,
        depth_points_mm=head.depth_points_mm,
        depth_normals=head.depth_normals,
        layer_bone_mm=layers.bone_mm,
        layer_fat_mm=layers.fat_mm,
        layer_smas_mm=layers.smas_mm,
        skin_thickness_mm=float(layers.skin_mm[0]),
        sha256=inputs_sha256(params),
        build_seconds=time.perf_counter() - t0,
        build_stages_s=stages.seconds,
    )


def _run_job(sid: str, job: Callable[[], Any]) -> Any:
    try:
        return job()
    except ValueError as exc:
        raise ValueError(f"{sid}: {exc}") from exc


def _structure(sid: str, info: StructureInfo, bt: Built, source: str) -> Structure:
    if info.id != sid:
        raise ValueError(f"structure {sid!r} was given the metadata of {info.id!r}")
    return Structure(
        info=info,
        mesh=bt.mesh,
        volume=bt.volume,
        centreline=bt.centreline if bt.radius_mm is not None else None,
        radius_mm=bt.radius_mm,
        geometry_source=source,
    )


# -- cache ---------------------------------------------------------------------------------------
def _manifest_params(p: FaceParams) -> dict[str, Any]:
    out: dict[str, Any] = {"sex": p.sex, "masseter": p.masseter, "brow_left": p.brow_left, "brow_right": p.brow_right}
    if p.fit:
        out["fit"] = [[n, w] for n, w in p.fit]
    if p.offsets is not None:
        out["offsets_sha256"] = p.offsets.sha256
    return out


def _params_of_manifest(raw: Any) -> FaceParams:
    """The face a manifest names; a scan-fitted face's offsets by their SHA-256 alone (enough to check
    the folder's inputs, not to build it again)."""
    if not isinstance(raw, dict):
        return FaceParams()
    raw = dict(raw)
    sha = raw.pop("offsets_sha256", None)
    if sha is None:
        return FaceParams(**raw)
    from injectmap.anatomy.fit.facefile import VertexOffsets

    return FaceParams(**raw, offsets=VertexOffsets(sha256=str(sha), hundredths=b"", n_vertices=0))


def save_model(model: FaceModel, folder: Path) -> None:
    """Write one .vtp per structure, the arrays, and the signed manifest of their hashes last.

    The old manifest goes first (a crash leaves no folder that claims to be whole), every file is
    written atomically and hashed as written, leftovers of an earlier build are removed, and the
    manifest (:mod:`injectmap.anatomy.cache`) is written last. Raises ``OSError`` when the folder
    cannot be written (:func:`load_model` then goes on with the face in memory).
    """

    arrays: dict[str, np.ndarray] = {
        "depth_points_mm": model.depth_points_mm,
        "depth_normals": model.depth_normals,
        "layer_bone_mm": model.layer_bone_mm,
        "layer_fat_mm": model.layer_fat_mm,
        "layer_smas_mm": model.layer_smas_mm,
    }
    with facecache.write_lock(folder):
        (folder / facecache.MANIFEST).unlink(missing_ok=True)
        files: dict[str, dict[str, Any]] = {}
        entries = []
        for sid, s in model.structures.items():
            facecache.save_mesh(s.mesh, folder / f"{sid}.vtp")
            files[f"{sid}.vtp"] = facecache.file_entry(folder / f"{sid}.vtp")
            e: dict[str, Any] = {
                "id": sid,
                "kind": s.kind,
                "side": s.side,
                "layer": s.layer,
                "colour": s.colour,
                "file": f"{sid}.vtp",
                "closed": bool(s.closed),
            }
            if s.volume is not None:
                arrays[f"vol__{sid}"] = s.volume.values
                e["grid"] = {
                    "origin": s.volume.grid.origin.tolist(),
                    "spacing": s.volume.grid.spacing,
                    "shape": list(s.volume.grid.shape),
                }
            if s.centreline is not None:
                arrays[f"line__{sid}"] = s.centreline
                e["radius_mm"] = s.radius_mm
            entries.append(e)
        for side, eye in model.eyes.items():
            facecache.save_mesh(eye, folder / f"eye_{side}.vtp")
            files[f"eye_{side}.vtp"] = facecache.file_entry(folder / f"eye_{side}.vtp")
        buf = io.BytesIO()
        _write_npz(buf, arrays)
        atomic_write_bytes(folder / "arrays.npz", buf.getvalue())
        files["arrays.npz"] = {"bytes": len(buf.getvalue()), "sha256": hashlib.sha256(buf.getvalue()).hexdigest()}
        manifest = facecache.sign({
            "builder_version": BUILDER_VERSION,
            "name": model.name,
            "sex": model.sex,
            "params": _manifest_params(model.params),
            "inputs_sha256": model.sha256,
            "base_mesh_sha256": basehead.BASE_SHA256,
            "skin_thickness_mm": model.skin_thickness_mm,
            "build_seconds": round(model.build_seconds, 2),
            "landmarks": {k: [round(float(x), 4) for x in v] for k, v in model.landmarks.items()},
            "structures": entries,
            "files": files,
        })
        facecache.remove_unlisted(folder, [*files, facecache.MANIFEST])
        atomic_write_bytes(folder / facecache.MANIFEST, json.dumps(manifest, indent=1).encode())


#: deflate level of ``arrays.npz``: 1 writes the default face's arrays in ~1.5 s of CPU instead of
#: ~2.2 s (``np.savez_compressed``, level 6), 21.5 MB instead of 20.8 MB (docs/cache.md)
NPZ_COMPRESSLEVEL = 1


def _write_npz(buf: io.BytesIO, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` at :data:`NPZ_COMPRESSLEVEL` (read back by ``np.load`` as any .npz)."""
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESSLEVEL) as zf:
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


def _arrays(folder: Path, man: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array of ``arrays.npz`` (checked against the manifest: present, the right shape)."""
    try:
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arr = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 - any failure to decode the archive means a damaged cache
        raise facecache.CacheError(f"arrays.npz cannot be read ({type(exc).__name__}: {exc})") from None
    n = len(arr.get("depth_points_mm", ()))
    for k in ("depth_points_mm", "depth_normals"):
        if k not in arr or arr[k].shape != (n, 3) or n == 0:
            raise facecache.CacheError(f"arrays.npz: {k} is missing or not an (n, 3) array")
    for k in ("layer_bone_mm", "layer_fat_mm", "layer_smas_mm"):
        if k not in arr or arr[k].shape != (n,):
            raise facecache.CacheError(f"arrays.npz: {k} is missing or not one value per skin point")
    for e in man["structures"]:
        if "grid" in e and arr.get(f"vol__{e['id']}", np.empty(0)).shape != tuple(e["grid"]["shape"]):
            raise facecache.CacheError(f"arrays.npz: the volume of {e['id']} is missing or of another shape")
        if "radius_mm" in e and f"line__{e['id']}" not in arr:
            raise facecache.CacheError(f"arrays.npz: the centreline of {e['id']} is missing")
    return arr


def read_model(folder: Path, params: FaceParams | None = None) -> FaceModel:
    """The face cached in ``folder``, after checking every file against the signed manifest.

    Parameters
    ----------
    folder : Path
        A face's cache folder (:func:`cache_folder`).
    params : FaceParams, optional
        The face asked for; by default the one the manifest names (its inputs are still checked).

    Raises
    ------
    injectmap.anatomy.cache.CacheError
        When anything in the folder is missing, unexpected, stale or damaged (the reason is given).
    """
    meta = load_structures()
    if params is None:
        raw = facecache.load_manifest(folder).get("params")
        try:
            params = _params_of_manifest(raw)
        except (TypeError, ValueError) as exc:
            raise facecache.CacheError(f"{facecache.MANIFEST}: bad params ({exc})") from None
    man = facecache.verify_folder(folder, inputs_sha256(params), meta)
    arr = _arrays(folder, man)
    geo = load_geometry()
    sources = {}
    for group in ("muscles", "glands", "tubes"):
        for base, spec in geo[group].items():
            sources[base] = spec.get("source", "")
    structures = {}
    for e in man["structures"]:
        sid = e["id"]
        vol = None
        if "grid" in e:
            g = e["grid"]
            vol = VolumeField(
                Grid(np.asarray(g["origin"]), float(g["spacing"]), tuple(g["shape"])), arr[f"vol__{sid}"]
            )
        line = arr.get(f"line__{sid}")
        bt = Built(mesh=facecache.read_mesh(folder / e["file"]), volume=vol, centreline=line, radius_mm=e.get("radius_mm"))
        base = sid[:-5] if sid.endswith("_left") else sid[:-6] if sid.endswith("_right") else sid
        structures[sid] = _structure(sid, meta[sid], bt, sources.get(base, ""))
    eyes = {s: facecache.read_mesh(folder / f"eye_{s}.vtp") for s in ("left", "right")}
    return FaceModel(
        name=man["name"],
        sex=float(man["sex"]),
        params=params,
        skin=structures["skin"].mesh,
        eyes=eyes,
        landmarks={k: np.asarray(v, dtype=float) for k, v in man["landmarks"].items()},
        structures=structures,
        depth_points_mm=arr["depth_points_mm"],
        depth_normals=arr["depth_normals"],
        layer_bone_mm=arr["layer_bone_mm"],
        layer_fat_mm=arr["layer_fat_mm"],
        layer_smas_mm=arr["layer_smas_mm"],
        skin_thickness_mm=float(man["skin_thickness_mm"]),
        sha256=man["inputs_sha256"],
        build_seconds=float(man.get("build_seconds", 0.0)),
    )


def cache_folder(params: FaceParams | float, root: Path | None = None) -> Path:
    """The folder of a face in the cache (named after the face: ``default``, ``sex0.25``, ...)."""
    return (root or cache_root()) / _params(params).name


def forget_fitted_face(face_id: str, root: Path | None = None) -> list[Path]:
    """Remove every built face of the fitted face ``face_id`` from the cache (its folders are named
    ``<sliders>-fit-<first 16 of the id>``, one per slider setting it was built with): a fitted face is a
    patient's, and goes with the patient. Returns the folders removed."""
    import shutil

    tag = str(face_id)[:16]
    if len(tag) != 16 or any(c not in "0123456789abcdef" for c in tag):
        raise ValueError(f"not a face id: {face_id!r}")
    base = root or cache_root()
    try:
        folders = [p for p in base.glob(f"*-fit-{tag}") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    removed = []
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def cache_problem(params: FaceParams | float = 0.5, root: Path | None = None) -> str | None:
    """Why the cached face cannot be used (missing, stale, damaged: the reason), or None when it can."""
    try:
        facecache.verify_folder(cache_folder(params, root), inputs_sha256(params), load_structures())
    except facecache.CacheError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read ({exc})"
    return None


def folder_problem(folder: Path) -> str | None:
    """Why the face cached in ``folder`` (whichever its manifest names) cannot be used, or None."""
    try:
        params = _params_of_manifest(facecache.load_manifest(folder).get("params"))
        facecache.verify_folder(folder, inputs_sha256(params), load_structures())
    except facecache.CacheError as exc:
        return str(exc)
    except (OSError, TypeError, ValueError) as exc:
        return f"cannot be read ({exc})"
    return None


def cache_valid(params: FaceParams | float = 0.5, root: Path | None = None) -> bool:
    """Whether the cache holds the face, current and whole (every file checked against the manifest)."""
    return cache_problem(params, root) is None


#: the most faces the process keeps loaded, and the memory they may take together
#: (``data/face_cache.yaml``); a face still used elsewhere (a session's scene) stays reachable beyond
#: them and is not loaded twice
MAX_LOADED_FACES = face_cache_settings().memory.max_loaded_faces or 4
MEMORY_BUDGET_BYTES = face_cache_settings().memory.budget_mb * 1e6


def nbytes(obj: Any, _seen: set[int] | None = None) -> int:
    """The memory held by a face's arrays and meshes (and what is derived from it), in bytes.

    Counts numpy arrays and VTK datasets reachable through dataclass fields, dicts, lists and tuples,
    each once; a rough lower bound of the face's footprint (the spatial index's own arrays included
    once it is built).
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, pv.DataSet):
        return int(obj.actual_memory_size) * 1024
    if isinstance(obj, dict):
        return sum(nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v, seen) for v in obj)
    fields = getattr(obj, "__dataclass_fields__", None)
    if fields is not None:
        return sum(nbytes(getattr(obj, f, None), seen) for f in fields)
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("injectmap."):
        return sum(nbytes(v, seen) for v in vars(obj).values())
    return 0

#: a loaded face's key: its parameters and the cache folder it came from
FaceKey = tuple[FaceParams, str]


class FaceRegistry:
    """The loaded faces of a process, shared read-only: one load (or build) per face at a time, the
    least recently used beyond ``max_faces`` let go.

    Two threads asking for the same face wait for one load; different faces load in parallel. A face
    let go stays findable while something else still holds it (a weak reference), so that a face in
    use is never loaded twice; once nothing holds it, it is freed together with what other layers
    derived from it and keep in :attr:`FaceModel.derived` (e.g. the viewer's display meshes).

    Parameters
    ----------
    max_faces : int
        How many faces are kept loaded (the least recently used beyond that are let go).
    budget_bytes : float, optional
        The memory the kept faces may take together (:func:`nbytes`, counted when a face is added);
        the least recently used beyond it are let go, the face just added always kept. None: no
        memory bound, only ``max_faces``.
    """

    def __init__(self, max_faces: int = MAX_LOADED_FACES, budget_bytes: float | None = None) -> None:
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, not {max_faces}")
        self.max_faces = max_faces
        self.budget_bytes = budget_bytes
        self._guard = threading.Lock()
        self._kept: OrderedDict[FaceKey, FaceModel] = OrderedDict()
        self._alive: weakref.WeakValueDictionary[FaceKey, FaceModel] = weakref.WeakValueDictionary()
        self._loading: dict[FaceKey, threading.Lock] = {}
        #: how many times a face was loaded or built (not found), for tests and logs
        self.loads = 0

    def _lookup(self, key: FaceKey) -> FaceModel | None:
        """The face if loaded (marked as the most recently used); the caller holds the guard."""
        model = self._kept.get(key)
        if model is None:
            model = self._alive.get(key)
            if model is None:
                return None
            self._keep(key, model)
        self._kept.move_to_end(key)
        return model

    def _keep(self, key: FaceKey, model: FaceModel) -> None:
        """Keep ``model`` as the most recently used face, letting go of the oldest beyond the bound."""
        self._kept[key] = model
        self._kept.move_to_end(key)
        self._alive[key] = model
        while len(self._kept) > self.max_faces:
            self._kept.popitem(last=False)
        if self.budget_bytes is not None:
            seen: set[int] = set()
            sizes = {k: nbytes(m, seen) for k, m in reversed(self._kept.items())}  # shared arrays count once
            while len(self._kept) > 1 and sum(sizes.values()) > self.budget_bytes:
                oldest, _ = self._kept.popitem(last=False)
                sizes.pop(oldest)

    def kept_bytes(self) -> int:
        """The memory of the faces kept loaded (:func:`nbytes`), each array counted once."""
        with self._guard:
            seen: set[int] = set()
            return sum(nbytes(m, seen) for m in self._kept.values())

    def get(self, key: FaceKey, load: Callable[[], FaceModel], reload: bool = False) -> FaceModel:
        """The face of ``key``, loaded with ``load()`` if it is not loaded yet (or ``reload``).

        Parameters
        ----------
        key : FaceKey
            The face's parameters and cache folder.
        load : callable
            Loads or builds the face; called at most once at a time per key.
        reload : bool
            Load again even if loaded (the new face replaces the old one).

        Returns
        -------
        FaceModel
            The shared, read-only face.
        """
        with self._guard:
            found = None if reload else self._lookup(key)
            if found is not None:
                return found
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                found = None if reload else self._lookup(key)
            if found is not None:  # loaded by another thread meanwhile
                return found
            model = load()
            with self._guard:
                self.loads += 1
                self._keep(key, model)
                self._loading.pop(key, None)
            return model

    def loaded(self) -> list[FaceKey]:
        """The keys of the faces kept loaded, the least recently used first."""
        with self._guard:
            return list(self._kept)

    def __contains__(self, key: object) -> bool:
        with self._guard:
            return key in self._kept or key in self._alive

    def keep_only(self, keep: Callable[[FaceKey], bool]) -> list[FaceKey]:
        """Stop keeping every face but those ``keep`` accepts; return the keys let go.

        A face let go that something else still holds (a session that shows it) stays findable and is
        kept again when it is asked for; the others are freed once the garbage collector has run
        (``anatomy.cache.release_memory`` also gives their pages back to the system).
        """
        with self._guard:
            gone = [k for k in self._kept if not keep(k)]
            for k in gone:
                del self._kept[k]
            return gone

    def clear(self) -> None:
        """Let go of every face (those still held elsewhere are freed when they are let go there)."""
        with self._guard:
            self._kept.clear()
            self._alive = weakref.WeakValueDictionary()


#: the faces loaded by :func:`load_model` in this process
FACES = FaceRegistry(MAX_LOADED_FACES, MEMORY_BUDGET_BYTES)


def let_go_unused_faces() -> list[FaceKey]:
    """Let the registry (:data:`FACES`) go of every variant face; the default face stays loaded.

    For a server whose session closed: a variant that another open session still shows stays shared
    (a weak reference finds it, and it is kept again when asked for), one that no session holds any
    more is freed, so that the server's memory comes back to its idle figure (issue 11; docs/cache.md).
    The count and memory bounds still apply while sessions are open. Returns the keys let go.
    """
    return FACES.keep_only(lambda key: key[0].is_default)


def cache_disk_budget() -> float:
    """The disk budget of the cache in bytes: ``$INJECTMAP_CACHE_BUDGET_MB`` or ``data/face_cache.yaml``."""
    env = os.environ.get("INJECTMAP_CACHE_BUDGET_MB")
    if env:
        try:
            return float(env) * 1e6
        except ValueError:
            facecache.note(f"INJECTMAP_CACHE_BUDGET_MB={env!r} is not a number; the default budget is used")
    return face_cache_settings().disk.budget_mb * 1e6


#: one face is built at a time in a process (a build holds ~2-3 times a face's memory for 10-60 s; two at
#: once in a server would add up): a second build waits, faces read from the cache do not (issue 11)
_BUILD_LOCK = threading.Lock()


def _compacted(model: FaceModel) -> FaceModel:
    """The built face with its meshes as the cache's reader gives them (:func:`facecache.compact_mesh`:
    detached from the build's VTK pipelines, 32-bit cell ids), so a built face and a read one hold the same."""
    if all(facecache.is_compact(m) for m in (*(s.mesh for s in model.structures.values()), *model.eyes.values())):
        return model  # read from the cache: nothing to do
    for s in model.structures.values():
        s.mesh = facecache.compact_mesh(s.mesh)
    model.skin = model.structures["skin"].mesh
    model.eyes = {side: facecache.compact_mesh(eye) for side, eye in model.eyes.items()}
    return model


def load_or_build(face: FaceParams, root: Path | None = None, rebuild: bool = False) -> FaceModel:
    """Read ``face`` from the cache, or build it (missing, stale or damaged: rebuilt, with a note on
    stderr when the cache was damaged) and write it there, keeping the disk budget. A cache that
    cannot be written is not an error: a note on stderr, and the face built in memory is used."""
    folder = cache_folder(face, root)
    if not rebuild and folder.exists():
        try:
            model = read_model(folder, face)
        except facecache.CacheError as exc:
            if not str(exc).startswith("stale"):
                facecache.note(f"the cached face {face.name} in {folder} cannot be used ({exc}); rebuilding it")
        except OSError as exc:
            facecache.note(f"the cached face {face.name} in {folder} cannot be read ({exc}); rebuilding it")
        else:
            facecache.touch(folder)
            return _released(model)
    with _BUILD_LOCK:
        model = build_model(face)
        try:
            save_model(model, folder)
        except OSError as exc:
            facecache.note(f"cannot write the face cache in {folder.parent} ({exc.strerror or exc}); the face "
                           f"{face.name} was built in memory for this run (set INJECTMAP_CACHE_DIR or --cache-dir "
                           "to a writable folder to keep it)")
            return _released(_compacted(model))
        model = _released(_compacted(model))
    facecache.touch(folder)
    deleted = facecache.prune(folder.parent, cache_disk_budget(), keep=[folder.name])
    if deleted:
        facecache.note(f"the face cache's disk budget removed the least recently used faces {deleted}")
    return model


def _released(model: FaceModel) -> FaceModel:
    """``model``, once what its load or build left behind (decoded files, the build's head, grids and
    pipelines, reference cycles) is given back to the system (:func:`facecache.release_memory`)."""
    facecache.release_memory()
    return model


def load_model(
    sex: float = 0.5,
    root: Path | None = None,
    rebuild: bool = False,
    *,
    masseter: float = 0.0,
    brow_left: float = 0.0,
    brow_right: float = 0.0,
    params: FaceParams | None = None,
) -> FaceModel:
    """The model for a face (sex 0 female .. 1 male; masseter, brow_left, brow_right -1 .. 1), from
    the cache when it is current and whole (:func:`load_face`). The parameters are first rounded to
    their steps (:meth:`FaceParams.quantised`): the model's ``params`` and ``name`` say which face
    was used. The loaded model is read-only and shared within a process (:data:`FACES`: one load per
    face at a time, the recently used faces kept within a count and a memory budget).
    """
    if params is None:
        params = FaceParams(sex=sex, masseter=masseter, brow_left=brow_left, brow_right=brow_right)
    face = params.quantised()
    return FACES.get((face, str(root)), lambda: load_or_build(face, root, rebuild), reload=rebuild)

