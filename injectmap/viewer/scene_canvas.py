"""The 3D scene in the browser: a vtk.js render window that is updated in place.

Panel's synchronised VTK pane has vtk.js delete and rebuild its whole render window (a new WebGL
context, every actor, every buffer) whenever the scene changes, which made each click on the face
cost seconds in a browser without a GPU. :class:`SceneCanvas` is a small Panel ``JSComponent``
(``scene_canvas.js``) that keeps one render window for the life of the page and changes only what
changed:

- ``meshes``: the meshes the browser does not hold yet, packed into one binary blob (below), with the
  hashes it may forget. A mesh is identified by the hash of its arrays, so a mesh that comes back
  (a layer shown again, a cut plane removed) is not sent twice;
- ``scene``: each actor's mesh hash, visibility, opacity, colour, shading and pickability (a few kB);
- ``camera``: position, focal point and view-up, set by Python (standard views, a selected finding);
  the camera the user turns to comes back as a message, so exports use the same view;
- a click (not a drag) picks the surface under the cursor and calls ``on_pick(xyz)``; ``placing`` sets
  the cursor, and the caller decides whether a pick places a point (it gets the place toggle and the
  pick in order, while the browser's view may not have the toggle's new value yet). Each press is
  numbered by the page, and a press's pick is handled once however often it arrives;
- a press on the drag handle (an actor named by :meth:`SceneCanvas.publish`, drawn at a skin point)
  drags it over the pickable surface; where it is let go comes back as ``on_drag(xyz)``.

The blob: ``b"IMSH"``, a little-endian uint32 header length, the JSON header
``{"seq": n, "drop": [hash...], "meshes": {hash: {"points": [offset, count], "tris16": [...],
"normals": [...], "rgbRuns": [...]}}}`` (offsets in bytes from the start of the blob, counts in
values), then the arrays, each aligned to four bytes: float32 points and normals, the triangles'
point ids (``tris16`` uint16 or ``tris32`` uint32, three per triangle), and the cell colours as
uint32 runs ``(count, 0xRRGGBB)`` (see :class:`MeshArrays`; :func:`expand_mesh` is what the browser
builds from them).

A mesh that differs from the one its actor drew before only in its points (the skin performing an
expression: :meth:`~viewer.scene.Scene.set_skin_points`) travels as its new points alone: the header's
``"derived": {new hash: old hash}`` tells the browser to take the triangles and colours of the old mesh
(and to compute the normals itself), and when nothing else changed the blob also carries
``"actors": {actor: new hash}`` and is the whole update (the ``scene`` is not sent again): a frame of the
expression slider is one blob of the skin's float32 points and a header of a few hundred bytes.

The Python :class:`~viewer.scene.Scene` stays the source of truth (its VTK actors also serve the PNG
and glTF exports); :meth:`SceneCanvas.publish` reads what it draws.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import param
from panel.custom import JSComponent
from panel.io.resources import bundled_files
from panel.models.vtk import AbstractVTKPlot
from panel.util import classproperty
from vtkmodules.util.numpy_support import vtk_to_numpy

from injectmap.viewer.labels import label_settings

log = logging.getLogger("injectmap.viewer")

MAGIC = b"IMSH"
#: meshes the browser keeps beyond those in the scene (older ones are dropped, least recently used first)
HELD_SPARE = 64
#: and at most this many bytes of them (a cut plane dragged through the face makes a clipped copy
#: of every shown layer per position)
HELD_SPARE_BYTES = 48_000_000
#: the presses (clicks) whose pick is remembered, so that a pick message that comes twice places one point
PRESSES_KEPT = 256
#: actors whose mesh may change only its points (the skin performing an expression): sent as points
POINTS_ONLY_ACTORS = frozenset({"group_skin"})


def _colour(prop: Any) -> list[float]:
    return [round(float(c), 4) for c in prop.GetColor()]


class MeshArrays:
    """The arrays of one mesh as the browser takes them, and their hash.

    Triangles travel as their three point ids (16-bit when the mesh has fewer than 65,536 points),
    and the per-cell colours, constant over each structure of a merged layer, as runs of
    ``(cell count, 0xRRGGBB)``: together about half the bytes of VTK's own layout.
    """

    __slots__ = ("arrays", "hash", "nbytes", "shape")

    def __init__(self, mesh: Any, normals: bool) -> None:
        import pyvista as pv

        mesh = pv.wrap(mesh)
        if mesh.n_cells and not mesh.is_all_triangles:
            mesh = mesh.triangulate()
        tris = self._triangles(mesh)
        arrays: dict[str, np.ndarray] = {
            "points": np.ascontiguousarray(mesh.points, dtype=np.float32).ravel(),
            ("tris16" if mesh.n_points < 65536 else "tris32"):
                tris.astype(np.uint16 if mesh.n_points < 65536 else np.uint32),
        }
        if normals and "Normals" in mesh.point_data:
            arrays["normals"] = np.ascontiguousarray(mesh.point_data["Normals"], dtype=np.float32).ravel()
        if "rgb" in mesh.cell_data and mesh.n_cells:
            arrays["rgbRuns"] = colour_runs(np.asarray(mesh.cell_data["rgb"], dtype=np.uint8).reshape(-1, 3))
        digest = hashlib.blake2b(digest_size=12)
        shape = hashlib.blake2b(digest_size=12)  # everything but the points and their normals
        for key in sorted(arrays):
            digest.update(key.encode())
            digest.update(arrays[key].tobytes())
            if key not in ("points", "normals"):
                shape.update(key.encode())
                shape.update(arrays[key].tobytes())
        shape.update(str(arrays["points"].size).encode())
        shape.update(b"n" if "normals" in arrays else b"-")
        self.arrays = arrays
        self.hash = digest.hexdigest()
        self.shape = shape.hexdigest()
        self.nbytes = sum(a.nbytes for a in arrays.values())

    @staticmethod
    def _triangles(mesh: Any) -> np.ndarray:
        """The point ids of every triangle, flat (the mesh holds only triangles)."""
        polys = mesh.GetPolys()
        if polys is None or polys.GetNumberOfCells() == 0:
            return np.zeros(0, dtype=np.uint32)
        offsets = vtk_to_numpy(polys.GetOffsetsArray())
        if not np.all(np.diff(offsets) == 3):
            raise ValueError("the scene canvas draws triangles only")
        return vtk_to_numpy(polys.GetConnectivityArray()).astype(np.uint32)


def colour_runs(rgb: np.ndarray) -> np.ndarray:
    """Per-cell RGB (n, 3) as uint32 pairs ``(count, 0xRRGGBB)`` of equal consecutive colours."""
    packed = (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
    if packed.size == 0:
        return np.zeros(0, dtype=np.uint32)
    starts = np.flatnonzero(np.r_[True, packed[1:] != packed[:-1]])
    counts = np.diff(np.r_[starts, packed.size])
    return np.column_stack([counts, packed[starts]]).astype(np.uint32).ravel()


def expand_mesh(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the browser builds from a mesh's arrays: points (n, 3), VTK's legacy polys, RGB per cell."""
    tris = arrays.get("tris16", arrays.get("tris32"))
    tris = np.zeros(0, np.uint32) if tris is None else tris.astype(np.uint32)
    polys = np.column_stack([np.full(tris.size // 3, 3, np.uint32), tris.reshape(-1, 3)]).ravel()
    out = {"points": arrays["points"].reshape(-1, 3), "polys": polys}
    if "normals" in arrays:
        out["normals"] = arrays["normals"].reshape(-1, 3)
    if "rgbRuns" in arrays:
        runs = arrays["rgbRuns"].reshape(-1, 2)
        packed = np.repeat(runs[:, 1], runs[:, 0])
        out["rgb"] = np.column_stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255]).astype(np.uint8)
    return out


class PointsOnly:
    """A mesh sent as its points alone: the rest (triangles, colours) is that of the mesh ``base``."""

    __slots__ = ("arrays", "base", "hash", "nbytes")

    def __init__(self, mesh: MeshArrays, base: str) -> None:
        self.arrays = {"points": mesh.arrays["points"]}
        self.base = base
        self.hash = mesh.hash
        self.nbytes = mesh.arrays["points"].nbytes


def pack_meshes(seq: int, meshes: dict[str, MeshArrays] | dict[str, MeshArrays | PointsOnly], drop: list[str],
                actors: dict[str, str] | None = None) -> bytes:
    """The binary blob the browser decodes (see the module's docstring).

    A :class:`PointsOnly` entry is listed in the header's ``derived`` (new hash -> base hash); ``actors``
    (actor id -> mesh hash) makes the blob a whole update of those actors, without a new ``scene``.
    """
    order = sorted(meshes)
    # two passes: the header's length sets where the arrays start
    spec: dict[str, dict[str, list[int]]] = {h: {k: [0, int(a.size)] for k, a in meshes[h].arrays.items()}
                                             for h in order}
    extra: dict[str, Any] = {}
    derived = {h: m.base for h, m in meshes.items() if isinstance(m, PointsOnly)}
    if derived:
        extra["derived"] = derived
    if actors:
        extra["actors"] = actors

    def header_bytes() -> bytes:
        raw = json.dumps({"seq": seq, "drop": drop, "meshes": spec, **extra}, separators=(",", ":")).encode()
        return raw + b" " * (-(8 + len(raw)) % 4)

    for _ in range(3):  # the offsets' digits can lengthen the header: settle it
        head = header_bytes()
        offset = 8 + len(head)
        for h in order:
            for k, a in meshes[h].arrays.items():
                spec[h][k][0] = offset
                offset += a.nbytes + (-a.nbytes % 4)
        if len(header_bytes()) == len(head):
            break
    head = header_bytes()
    parts = [MAGIC, struct.pack("<I", len(head)), head]
    for h in order:
        for a in meshes[h].arrays.values():
            raw = a.tobytes()
            parts.append(raw + b"\0" * (-len(raw) % 4))
    return b"".join(parts)


def unpack_meshes(blob: bytes) -> dict[str, Any]:
    """Decode a blob as the browser does (for tests and tools): header with numpy arrays."""
    if blob[:4] != MAGIC:
        raise ValueError("not an injectmap mesh blob (missing the IMSH mark)")
    (n,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8:8 + n])
    kinds = {"points": np.float32, "normals": np.float32, "tris16": np.uint16, "tris32": np.uint32,
             "rgbRuns": np.uint32}
    meshes = {h: {k: np.frombuffer(blob, dtype=kinds[k], count=c, offset=o) for k, (o, c) in spec.items()}
              for h, spec in header["meshes"].items()}
    return {"seq": header["seq"], "drop": header["drop"], "meshes": meshes, "derived": header.get("derived", {}),
            "actors": header.get("actors", {})}


class SceneCanvas(JSComponent):
    """A vtk.js view of a PyVista scene that updates in place (see the module's docstring)."""

    scene = param.Dict(default={}, doc="actors: id, mesh hash, visible, opacity, colour, shading")
    meshes = param.Bytes(default=b"", doc="meshes the browser does not hold yet (packed)")
    camera = param.Dict(default={}, doc="position, focalPoint, viewUp (and a counter)")
    placing = param.Boolean(default=False, doc="placing points: a crosshair cursor")
    background = param.String(default="#20242b")
    labels = param.List(default=[], doc=(
        "labels over the scene, most important first: {text, xyz, kind[, normal]} with kind 'point', 'structure', "
        "'warned' or 'landmark'; the browser leaves out one that would overlap those before it, and one whose "
        "normal faces away from the camera (viewer.labels)"))
    label_facing = param.Number(default=label_settings()["facing_cosine"], bounds=(-1.0, 1.0), doc=(
        "a label with a normal is drawn while the cosine between it and the direction to the camera is at least this"))

    _esm = Path(__file__).with_name("scene_canvas.js")

    @classproperty
    def __javascript__(cls) -> list[str]:  # noqa: N805 - a class property
        # the vtk.js that Panel ships, served locally; Panel's own hint says a model instance, but it
        # reads only class attributes (``__javascript_raw__``), and Panel passes classes itself
        return bundled_files(AbstractVTKPlot)  # type: ignore[arg-type]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.on_pick: Callable[[np.ndarray], None] | None = None
        self.on_drag: Callable[[np.ndarray], None] | None = None
        self.on_camera: Callable[[dict[str, list[float]]], None] | None = None
        self._seq = 0
        self._held: dict[str, int] = {}  # hash -> seq of the last scene that used it
        self._sizes: dict[str, int] = {}  # hash -> bytes, of the held meshes
        self._arrays: dict[int, tuple[int, int, MeshArrays]] = {}  # id(vtk mesh) -> (mtime, id, arrays)
        self._keep: dict[int, Any] = {}  # the vtk meshes of _arrays, so their ids stay theirs
        self._current: dict[str, MeshArrays] = {}
        self._shapes: dict[str, str] = {}  # hash -> shape (all but the points), of the held meshes
        self._actor_mesh: dict[str, str | None] = {}  # actor id -> the mesh hash of the last scene sent
        self._last_scene: dict[str, Any] | None = None
        #: actors whose new points may travel alone (see the module's docstring)
        self.points_only_actors: frozenset[str] = POINTS_ONLY_ACTORS
        self.last_update_bytes = 0
        #: what the last publish sent: "scene" (a scene, with meshes if any) or "points" (points alone)
        self.last_update_kind = ""
        self.last_publish_ms = 0.0
        self._camera_n = 0
        self._presses: dict[tuple[str, int], None] = {}  # the presses whose pick was handled, oldest first

    # ------------------------------------------------------------------ Python -> browser
    def _mesh_arrays(self, mesh: Any, normals: bool) -> MeshArrays:
        key = id(mesh)
        mtime = mesh.GetMTime()
        cached = self._arrays.get(key)
        if cached is not None and cached[0] == mtime and cached[1] == int(normals):
            return cached[2]
        arrays = MeshArrays(mesh, normals)
        self._arrays[key] = (mtime, int(normals), arrays)
        self._keep[key] = mesh
        return arrays

    def describe(self, actors: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, MeshArrays]]:
        """The browser's description of VTK actors (name -> actor) and the meshes the visible ones draw."""
        out, used = [], {}
        for name, actor in actors.items():
            mapper = actor.GetMapper()
            visible = bool(actor.GetVisibility())
            mesh = mapper.GetInput() if mapper is not None else None
            prop = actor.GetProperty()
            smooth = prop.GetInterpolation() != 0
            arrays = None
            if visible and mesh is not None and mesh.GetNumberOfPoints() and mesh.GetNumberOfCells():
                arrays = self._mesh_arrays(mesh, normals=smooth)
                used[arrays.hash] = arrays
            out.append({
                "id": name, "mesh": arrays.hash if arrays else None, "visible": visible and arrays is not None,
                "opacity": round(float(prop.GetOpacity()), 4), "color": _colour(prop),
                "cellColors": bool(arrays is not None and "rgbRuns" in arrays.arrays and mapper.GetScalarVisibility()),
                "smooth": smooth, "specular": round(float(prop.GetSpecular()), 3),
                "pickable": bool(actor.GetPickable()),
            })
        # forget the arrays of meshes no longer drawn (a clipped copy replaced, a point moved)
        live = {id(m) for m in (a.GetMapper().GetInput() for a in actors.values() if a.GetMapper()) if m is not None}
        for key in [k for k in self._arrays if k not in live]:
            self._arrays.pop(key, None)
            self._keep.pop(key, None)
        return out, used

    def publish(self, actors: dict[str, Any], handle: str = "", anchor_mm: Any = None) -> None:
        """Send the actors' state, and the meshes the browser lacks, in one update.

        ``handle`` names the actor a press can drag, standing on the skin at ``anchor_mm``. When the
        only change is new points of :data:`POINTS_ONLY_ACTORS` (the skin in an expression), the update
        is one blob of those points, or of their mesh hashes when the browser holds those meshes already
        (see the module's docstring).
        """
        t0 = time.perf_counter()
        described, used = self.describe(actors)
        self._seq += 1
        new = {h: a for h, a in used.items() if h not in self._held}
        derived = self._points_only(described, new)
        for h, a in used.items():
            self._held[h] = self._seq
            self._sizes[h] = a.nbytes
            self._shapes[h] = a.shape
        drop = self._evict(set(used))
        self._current = used
        scene: dict[str, Any] = {"seq": self._seq, "actors": described}
        if handle and anchor_mm is not None:
            scene["handle"] = {"id": handle, "anchor": [round(float(v), 3) for v in np.asarray(anchor_mm).ravel()[:3]]}
        sent: dict[str, MeshArrays | PointsOnly] = {h: derived.get(h, a) for h, a in new.items()}
        moved = {d["id"] for d in described if d["id"] in self.points_only_actors
                 and d["mesh"] != self._actor_mesh.get(d["id"], d["mesh"])}
        if moved and len(derived) == len(new) and not drop and self._same_but(scene, moved):
            # only points moved: the blob is the whole update (the browser keeps its scene)
            points = pack_meshes(self._seq, sent, [], actors={d["id"]: d["mesh"] for d in described if d["id"] in moved})
            with param.parameterized.discard_events(self):
                self.scene = scene
            self.meshes = points
            self.last_update_kind = "points"
            blob: bytes | None = points
        else:
            blob = pack_meshes(self._seq, sent, drop) if (new or drop) else None
            if blob is not None:
                self.param.update(meshes=blob, scene=scene)
            else:
                self.scene = scene
            self.last_update_kind = "scene"
        self.last_update_bytes = len(blob) if blob else 0
        self._actor_mesh = {d["id"]: d["mesh"] for d in described}
        self._last_scene = scene
        self.last_publish_ms = (time.perf_counter() - t0) * 1000.0
        log.info("scene published in %.0f ms: %d actors, %d new meshes (%d as points), %.2f MB",
                 self.last_publish_ms, len(described), len(new), len(derived), self.last_update_bytes / 1e6)

    def _points_only(self, described: list[dict[str, Any]], new: dict[str, MeshArrays]) -> dict[str, PointsOnly]:
        """The new meshes of points-only actors that differ from the mesh the browser drew for the same
        actor only in their points: sent as points."""
        out = {}
        for d in described:
            h = d["mesh"]
            if d["id"] not in self.points_only_actors or h not in new:
                continue
            before = self._actor_mesh.get(d["id"])
            if before is not None and before in self._held and self._shapes.get(before) == new[h].shape:
                out[h] = PointsOnly(new[h], before)
        return out

    def _same_but(self, scene: dict[str, Any], moved: set[str]) -> bool:
        """Whether ``scene`` is the last one sent but for the meshes of the ``moved`` actors."""
        last = self._last_scene
        if last is None:
            return False

        def strip(sc: dict[str, Any]) -> dict[str, Any]:
            return {**sc, "seq": 0, "actors": [{**a, "mesh": None} if a["id"] in moved else a for a in sc["actors"]]}

        return strip(scene) == strip(last)

    def _evict(self, in_use: set[str]) -> list[str]:
        """Meshes the browser should forget: those out of the scene beyond :data:`HELD_SPARE` of them
        or :data:`HELD_SPARE_BYTES`, least recently used first."""
        spare = sorted((seq, h) for h, seq in self._held.items() if h not in in_use)  # oldest first
        count, size = len(spare), sum(self._sizes.get(h, 0) for _seq, h in spare)
        drop = []
        for _seq, h in spare:
            if count <= HELD_SPARE and size <= HELD_SPARE_BYTES:
                break
            drop.append(h)
            count -= 1
            size -= self._sizes.get(h, 0)
        for h in drop:
            del self._held[h]
            self._sizes.pop(h, None)
            self._shapes.pop(h, None)
        return drop

    def set_camera(self, camera: dict[str, list[float]]) -> None:
        """Move the browser's camera (a counter makes a repeated view a change)."""
        self._camera_n += 1
        self.camera = {**camera, "n": self._camera_n}

    def _get_model(self, doc: Any, root: Any = None, parent: Any = None, comm: Any = None) -> Any:
        # a new page holds nothing: its first blob carries every mesh of the scene
        if self._current:
            self._seq += 1
            self._held = {h: self._seq for h in self._current}
            self._sizes = {h: a.nbytes for h, a in self._current.items()}
            self._shapes = {h: a.shape for h, a in self._current.items()}
            with param.parameterized.discard_events(self):
                self.meshes = pack_meshes(self._seq, self._current, [])
                self.scene = {**self.scene, "seq": self._seq}
        return super()._get_model(doc, root, parent, comm)

    # ------------------------------------------------------------------ browser -> Python
    def _seen_press(self, data: dict[str, Any]) -> bool:
        """Whether this pick's press (``page`` token and ``press`` number, see scene_canvas.js) was
        handled already: one press places at most one point, however often its message arrives. The
        last :data:`PRESSES_KEPT` presses are remembered; a pick without a press number is handled."""
        press, page = data.get("press"), data.get("page")
        if not isinstance(press, int) or isinstance(press, bool) or not isinstance(page, str):
            return False
        key = (page[:64], press)
        if key in self._presses:
            return True
        self._presses[key] = None
        while len(self._presses) > PRESSES_KEPT:
            self._presses.pop(next(iter(self._presses)))
        return False

    def _handle_msg(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        log.debug("canvas message %s (sent %.0f ms ago)", sorted(data),
                  time.time() * 1000 - data["t"] if isinstance(data.get("t"), (int, float)) else -1)
        if "pick" in data and self._seen_press(data):
            log.info("ignored a second pick of press %r", data.get("press"))
            return
        for key, handler in (("pick", self.on_pick), ("drag", self.on_drag)):
            if key in data and handler is not None:
                try:
                    xyz = np.asarray(data[key], dtype=float).reshape(3)
                except (TypeError, ValueError):
                    log.warning("ignored a %s that is not a 3D point: %r", key, data[key])
                    return
                if np.all(np.isfinite(xyz)):
                    handler(xyz)
                return
        if "camera" in data and self.on_camera is not None:
            cam = data["camera"]
            try:
                checked = {k: [float(v) for v in cam[k]][:3] for k in ("position", "focalPoint", "viewUp")}
            except (TypeError, ValueError, KeyError):
                log.warning("ignored a camera message without position, focalPoint and viewUp")
                return
            self.on_camera(checked)
