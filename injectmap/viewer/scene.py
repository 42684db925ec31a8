"""The 3D scene of one session: a PyVista plotter built from the face model.

The structures of each display layer (:data:`viewer.state.LAYER_GROUPS`) are merged
into one actor whose cells carry each structure's colour (a few large meshes draw faster in the
browser than a hundred small ones, and each is sent once: see :mod:`viewer.scene_canvas`); a
separate highlight actor draws one structure on its own. Injection points are drawn from what planning computed (entry,
tip, inner and outer radius of effect, worst finding): the scene draws, it never measures.

The cut plane clips each group's merged mesh on the Python side (the browser's canvas draws the
meshes it is sent, and a clipped mesh is sent once per cut position), keeping the part below /
behind / right of the plane:

- ``axial``: keeps y < position (look down on the section);
- ``coronal``: keeps z < position (look from the front into the face);
- ``sagittal``: keeps x < position (look from the subject's left onto the section).

Example
-------
>>> scene = Scene(model)                       # doctest: +SKIP
>>> scene.set_layer("skin", visible=False)     # doctest: +SKIP
>>> scene.screenshot("face.png")               # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonCore import vtkUnsignedCharArray

from injectmap.planning.results import OK_COLOUR, Finding, Severity, worst_of
from injectmap.planning.rules import is_orbit
from injectmap.viewer.state import DEFAULT_OPACITY, DEFAULT_VISIBLE, LAYER_GROUPS

#: display colour of a point's status: its worst finding (caution, danger) or ``ok`` (info or none)
SEVERITY_COLOURS: dict[str, str] = {Severity.DANGER.value: Severity.DANGER.colour,
                                    Severity.CAUTION.value: Severity.CAUTION.colour, "ok": OK_COLOUR}
SELECT_COLOUR = "#1f77ff"
HIGHLIGHT_COLOUR = "#e040fb"
#: the muscle of a walkthrough step (patient education): a bright yellow that no layer uses
EMPHASIS_COLOUR = "#ffd21f"
#: the previous visit's points under today's plan (patient records): a pale grey-blue, drawn faintly
PREVIOUS_COLOUR = "#9fb8d8"
PREVIOUS_OPACITY = 0.45
#: how far the camera stands from a walkthrough step's muscle (mm): project choice, the muscle fills
#: about half of the view (the whole head is seen from CAMERA_DISTANCE_MM)
FOCUS_DISTANCE_MM = 190.0
SKIN_COLOUR = "#e8b89a"
EYE_COLOUR = "#f4f4f0"
BACKGROUND = "#20242b"
NEEDLE_OUTSIDE_MM = 12.0
TIP_RADIUS_MM = 1.0
#: skin triangles sent to the browser (the full skin stays on the server for snapping)
DISPLAY_SKIN_CELLS = 40_000
CAMERA_DISTANCE_MM = 360.0

VIEW_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "front": (0.0, 0.0, 1.0),
    "left": (1.0, 0.0, 0.0),
    "right": (-1.0, 0.0, 0.0),
    "three_quarter_left": (0.7, 0.0, 0.72),
    "three_quarter_right": (-0.7, 0.0, 0.72),
}
CUT_NORMALS: dict[str, tuple[float, float, float]] = {
    "axial": (0.0, 1.0, 0.0), "coronal": (0.0, 0.0, 1.0), "sagittal": (1.0, 0.0, 0.0),
}


class StructureLike(Protocol):
    id: str
    kind: str
    side: str
    layer: str
    name: str
    colour: str
    mesh: pv.PolyData


class ModelLike(Protocol):
    """What the scene reads of a face (read-only: a FaceModel's dicts are Mappings here)."""

    @property
    def skin(self) -> pv.PolyData: ...

    @property
    def eyes(self) -> Mapping[str, pv.PolyData]: ...

    @property
    def landmarks(self) -> Mapping[str, np.ndarray]: ...

    @property
    def structures(self) -> Mapping[str, Any]: ...


def layer_group(structure: StructureLike) -> str | None:
    """The display layer group of a structure (None: not drawn, e.g. a second skin)."""
    sid, kind = structure.id, structure.kind
    if sid == "skin":
        return None
    if is_orbit(structure):
        return "orbit"
    if kind == "bone" or sid == "bone":
        return "bone"
    if kind == "layer":
        return "fat"
    return {"muscle": "muscles", "artery": "vessels", "nerve": "nerves",
            "gland": "gland_duct", "duct": "gland_duct"}.get(kind, "muscles")


def worst_severity(findings: Iterable[Finding]) -> str:
    """``"danger"``, ``"caution"`` or ``"ok"`` (info or no finding) from a point's findings."""
    worst = worst_of(findings)
    return worst.value if worst is not None and worst > Severity.INFO else "ok"


@dataclass(frozen=True)
class PointGlyph:
    """What the scene needs to draw one point (all from injectmap.planning's analysis)."""

    id: str
    entry_mm: tuple[float, float, float]
    tip_mm: tuple[float, float, float]
    inner_mm: float
    outer_mm: float
    severity: str


#: most triangles sent to the browser per actor, by group (the full meshes stay on the server)
DISPLAY_CELLS: dict[str, int] = {"skin": DISPLAY_SKIN_CELLS, "fat": 15_000, "bone": 15_000, "orbit": 4_000,
                                 "muscles": 3_000, "gland_duct": 3_000, "vessels": 1_500, "nerves": 1_500,
                                 "eyes": 2_000}
DISPLAY_CACHE_ENV = "INJECTMAP_DISPLAY_CACHE"

#: the keys of what the scene derives from a face and keeps with it (``FaceModel.derived``): freed with
#: the face when the registry of loaded faces lets it go (``anatomy.model.FaceRegistry``)
DISPLAY_KEY = "viewer.display_meshes"
GROUPS_KEY = "viewer.group_meshes"
_CACHE_LOCK = threading.Lock()
#: for models without a ``derived`` slot (not a FaceModel): the derived data, dropped with the model
_DERIVED_ELSEWHERE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def derived(model: Any) -> dict[str, Any]:
    """Where the viewer keeps what it derives from a face: the face's own ``derived`` slot, so that it
    goes when the face goes (a model without one: a weak-keyed table)."""
    slot = getattr(model, "derived", None)
    if isinstance(slot, dict):
        return slot
    return _DERIVED_ELSEWHERE.setdefault(model, {})


def _reduce(mesh: pv.PolyData, max_cells: int) -> pv.PolyData:
    mesh = mesh.triangulate() if not mesh.is_all_triangles else mesh
    if mesh.n_cells > 1.2 * max_cells:
        mesh = mesh.decimate(1.0 - max_cells / mesh.n_cells)
    return mesh.compute_normals(split_vertices=False, auto_orient_normals=False)


def _read_polydata(path: Path) -> pv.PolyData:
    """A cached display mesh (ValueError when the file holds something else)."""
    mesh = pv.read(path)
    if not isinstance(mesh, pv.PolyData):
        raise ValueError(f"{path} is not a surface mesh")
    return mesh


def _display_cache_dir(model: ModelLike) -> Path | None:
    sha = getattr(model, "sha256", None)
    if not sha:
        return None
    root = os.environ.get(DISPLAY_CACHE_ENV) or str(Path.home() / ".cache" / "injectmap" / "display")
    return Path(root) / f"{str(sha)[:16]}-v2"


def display_meshes(model: ModelLike) -> dict[str, pv.PolyData]:
    """The meshes drawn for a model, reduced for the browser: skin, eyes, structures.

    Computed once per model (and cached on disk by the model's sha256); shared by every session
    of the process and never modified.
    """
    with _CACHE_LOCK:
        kept = derived(model).get(DISPLAY_KEY)
        if kept is not None:
            return kept
        sources: dict[str, tuple[pv.PolyData, str]] = {"skin": (model.skin, "skin")}
        for side, eye in model.eyes.items():
            sources[f"eye_{side}"] = (eye, "eyes")
        for sid, s in model.structures.items():
            g = layer_group(s)
            if g is not None and s.mesh is not None and s.mesh.n_points:
                sources[sid] = (s.mesh, g)
        folder = _display_cache_dir(model)
        meshes: dict[str, pv.PolyData] = {}
        if folder is not None and folder.is_dir():
            try:
                meshes = {aid: _read_polydata(folder / f"{aid}.vtp") for aid in sources}
            except (OSError, ValueError, FileNotFoundError):
                meshes = {}
        if not meshes:
            meshes = {aid: _reduce(m, DISPLAY_CELLS.get(g, 6_000)) for aid, (m, g) in sources.items()}
            if folder is not None:
                try:
                    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(folder.parent)))
                    for aid, m in meshes.items():
                        m.save(tmp / f"{aid}.vtp")
                    if folder.exists():
                        shutil.rmtree(folder, ignore_errors=True)
                    os.replace(tmp, folder)
                except OSError:
                    pass
        derived(model)[DISPLAY_KEY] = meshes
        return meshes


def group_meshes(model: ModelLike, meshes: Mapping[str, pv.PolyData], group_of: Mapping[str, str],
                 colours: Mapping[str, str]) -> dict[str, GroupMesh]:
    """Each layer group's merged, per-cell coloured mesh for a model (once per model, shared read-only),
    with the ``corridors`` group drawn from the structures' spread."""
    with _CACHE_LOCK:
        kept = derived(model).get(GROUPS_KEY)
        if kept is None:
            by_group: dict[str, dict[str, pv.PolyData]] = {}
            for aid, mesh in meshes.items():
                by_group.setdefault(group_of[aid], {})[aid] = mesh
            kept = {g: merge_group(ms, colours) for g, ms in by_group.items()}
            kept["corridors"] = corridor_group(model)
            for group in kept.values():
                group.mesh = _slim(group.mesh)
            derived(model)[GROUPS_KEY] = kept
        return kept


#: corridor colours: arteries red (a bruise), nerves, the duct and foramina amber (neuropraxia, duct injury)
CORRIDOR_COLOURS: dict[str, str] = {"artery": Severity.DANGER.colour, "nerve": Severity.CAUTION.colour,
                                    "duct": Severity.CAUTION.colour, "foramen": Severity.CAUTION.colour}
#: every n-th centreline point is a tube joint (the corridors are wide: a coarse tube is enough)
CORRIDOR_STRIDE = 3


def corridor_meshes(model: ModelLike) -> dict[str, tuple[pv.PolyData, str]]:
    """Each vessel's, nerve's and the duct's corridor as a tube of the corridor's radius around its mean
    course, and each foramen's as a ball around its landmark (anatomy/data/spread/variability.yaml), with
    its kind: ``{"corridor_<id>": (mesh, kind)}``."""
    from injectmap.anatomy.ids import BONE_LANDMARKS
    from injectmap.anatomy.variability import load_variability

    var = load_variability()
    out: dict[str, tuple[pv.PolyData, str]] = {}
    for sid, s in model.structures.items():
        cor = var.corridor_of(sid) if s.kind in ("artery", "nerve", "duct") else None
        line = getattr(s, "centreline", None)
        if cor is None or line is None or len(line) < 2:
            continue
        pts = np.asarray(line, float)
        pts = np.vstack([pts[::CORRIDOR_STRIDE], pts[-1:]]) if len(pts) > CORRIDOR_STRIDE else pts
        radius = cor.corridor_mm + float(getattr(s, "radius_mm", 0.0) or 0.0)
        parts = [tube(a, b, radius) for a, b in zip(pts[:-1], pts[1:], strict=True) if np.linalg.norm(b - a) > 1e-6]
        parts += [sphere(p, radius) for p in pts]  # round joints
        out[f"corridor_{sid}"] = (merge_placed(parts), s.kind)
    for base in BONE_LANDMARKS:
        fc = var.foramina[base]
        for side in ("left", "right"):
            lm = f"{base}_{side}"
            if lm in model.landmarks:
                out[f"corridor_{lm}"] = (merge_placed([sphere(model.landmarks[lm], fc.corridor_mm)]), "foramen")
    return out


def corridor_group(model: ModelLike) -> GroupMesh:
    """The ``corridors`` layer: every corridor in one mesh, red for arteries and amber for the others."""
    meshes = corridor_meshes(model)
    return merge_group({aid: m for aid, (m, _k) in meshes.items()},
                       {aid: CORRIDOR_COLOURS[k] for aid, (_m, k) in meshes.items()})


def display_groups(model: ModelLike, meshes: Mapping[str, pv.PolyData]) -> tuple[dict[str, str], dict[str, str]]:
    """The layer group and the colour of each displayed mesh (skin, eyes, structures)."""
    group_of: dict[str, str] = {}
    colour: dict[str, str] = {}
    for aid in meshes:
        if aid == "skin":
            group, col = "skin", SKIN_COLOUR
        elif aid.startswith("eye_"):
            group, col = "eyes", EYE_COLOUR
        else:
            s = model.structures[aid]
            group, col = layer_group(s) or "muscles", s.colour
        group_of[aid] = group
        colour[aid] = col
    return group_of, colour


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _rgb(colour: str) -> np.ndarray:
    from pyvista.plotting.colors import Color  # imported: see Scene.__init__

    return np.asarray(Color(colour).int_rgb, dtype=np.uint8)


@dataclass
class GroupMesh:
    """One layer group's structures merged into one mesh, with each cell's RGB colour (``"rgb"``).

    ``cells[aid]`` is the ``(start, stop)`` range of a structure's cells in the merged mesh.
    """

    mesh: pv.PolyData
    cells: dict[str, tuple[int, int]]


def _slim(mesh: pv.PolyData) -> pv.PolyData:
    """A group mesh as it is kept with its face: float32 points (what the browser and VTK's renderer take)
    and 32-bit cell ids (``anatomy.cache.compact_mesh``). Measured: the corridors' 415,000 triangles keep
    18 MB of each loaded face in float64 with 64-bit ids, half that slimmed (docs/cache.md)."""
    from injectmap.anatomy.cache import compact_mesh

    slim = compact_mesh(mesh)
    if slim.points.dtype != np.float32:
        slim.points = np.asarray(slim.points, dtype=np.float32)
    return slim


def _empty_mesh() -> pv.PolyData:
    """A mesh with one point and no cell: drawn as nothing (mappers and exporters want a point)."""
    mesh = pv.PolyData()
    mesh.points = np.zeros((1, 3))
    rgb = vtkUnsignedCharArray()
    rgb.SetName("rgb")
    rgb.SetNumberOfComponents(3)
    mesh.GetCellData().AddArray(rgb)
    return mesh


def merge_group(meshes: Mapping[str, pv.PolyData], colours: Mapping[str, str]) -> GroupMesh:
    """Merge structures' display meshes (in the given order) into one mesh coloured per cell."""
    parts, cells, start = [], {}, 0
    for aid, mesh in meshes.items():
        part = pv.PolyData(mesh.points, faces=mesh.faces) if mesh.n_cells else None
        if part is None:
            cells[aid] = (start, start)
            continue
        if "Normals" in mesh.point_data:
            part.point_data["Normals"] = mesh.point_data["Normals"]
        part.cell_data["rgb"] = np.tile(_rgb(colours[aid]), (part.n_cells, 1))
        cells[aid] = (start, start + part.n_cells)
        start += part.n_cells
        parts.append(part)
    if not parts:
        return GroupMesh(_empty_mesh(), cells)
    merged = parts[0] if len(parts) == 1 else pv.merge(parts, merge_points=False)
    merged = merged if isinstance(merged, pv.PolyData) else merged.extract_surface()
    return GroupMesh(merged, cells)


# ---------------------------------------------------------------------------------------- glyphs
#: a placed glyph: its points (n, 3) and triangles (m, 3)
Placed = tuple[np.ndarray, np.ndarray]


def _template(mesh: pv.PolyData) -> Placed:
    tri = mesh.triangulate()
    return np.asarray(tri.points, float), np.asarray(tri.faces).reshape(-1, 4)[:, 1:]


def _unit_tube(sides: int = 8) -> Placed:
    """A unit tube along z (radius 1, z from 0 to 1), open at both ends."""
    t = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    ring_xy = np.column_stack([np.cos(t), np.sin(t)])
    pts = np.vstack([np.column_stack([ring_xy, np.zeros(sides)]), np.column_stack([ring_xy, np.ones(sides)])])
    i = np.arange(sides)
    j = (i + 1) % sides
    tris = np.vstack([np.column_stack([i, j, i + sides]), np.column_stack([j, j + sides, i + sides])])
    return pts, tris


#: unit templates, placed by numpy (making each glyph with a VTK source cost ~1 ms, 4 per point per click)
SPHERE_SMALL = _template(pv.Sphere(radius=1.0, theta_resolution=12, phi_resolution=12))
SPHERE_LARGE = _template(pv.Sphere(radius=1.0, theta_resolution=24, phi_resolution=16))
TUBE = _unit_tube(8)
_RING_RES = 24


def _basis(axis: np.ndarray) -> np.ndarray:
    """Rows u, v, w: an orthonormal basis whose w is ``axis``."""
    w = np.asarray(axis, float)
    w = w / (np.linalg.norm(w) or 1.0)
    helper = np.array([1.0, 0.0, 0.0]) if abs(w[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(helper, w)
    u /= np.linalg.norm(u)
    return np.vstack([u, np.cross(w, u), w])


def sphere(centre: Any, radius: float, template: Placed = SPHERE_SMALL) -> Placed:
    pts, tris = template
    return np.asarray(centre, float) + pts * float(radius), tris


def tube(a: Any, b: Any, radius: float) -> Placed:
    """A tube of ``radius`` from ``a`` to ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    basis = _basis(d)
    pts, tris = TUBE
    scaled = pts * np.array([radius, radius, np.linalg.norm(d)])
    return a + scaled @ basis, tris


def ring(centre: Any, normal: Any, inner: float, outer: float) -> Placed:
    """A flat ring (annulus) around ``centre`` facing ``normal``."""
    t = np.linspace(0.0, 2 * np.pi, _RING_RES, endpoint=False)
    circle = np.column_stack([np.cos(t), np.sin(t), np.zeros(_RING_RES)])
    pts = np.vstack([circle * inner, circle * outer]) @ _basis(normal) + np.asarray(centre, float)
    i = np.arange(_RING_RES)
    j = (i + 1) % _RING_RES
    tris = np.vstack([np.column_stack([i, j, i + _RING_RES]), np.column_stack([j, j + _RING_RES, i + _RING_RES])])
    return pts, tris


def merge_placed(parts: list[Placed]) -> pv.PolyData:
    """One triangle mesh from placed glyphs."""
    offsets = np.cumsum([0] + [len(p) for p, _t in parts[:-1]])
    points = np.vstack([p for p, _t in parts])
    tris = np.vstack([t + o for (_p, t), o in zip(parts, offsets, strict=True)])
    faces = np.column_stack([np.full(len(tris), 3), tris]).ravel()
    return pv.PolyData(points, faces=faces)


def vertex_normals(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(n, 3) unit normals of a triangle mesh's points: the area-weighted sum of their triangles' normals
    (the winding's orientation; the browser computes the same for a mesh sent as points)."""
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    face = np.cross(b - a, c - a)
    out = np.zeros_like(points)
    for k in range(3):
        np.add.at(out, tris[:, k], face)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def with_points(mesh: pv.PolyData, points: Any) -> pv.PolyData:
    """A shallow copy of a triangle mesh with other points (its cells and cell colours kept) and
    normals computed for them when the mesh has normals."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonCore import vtkPoints

    out = mesh.copy(deep=False)
    pts = np.ascontiguousarray(points, dtype=float)
    new = vtkPoints()  # new points: pyvista's setter would write into the points the copy shares
    new.SetData(numpy_to_vtk(pts, deep=True))
    out.SetPoints(new)
    if "Normals" in mesh.point_data:
        tris = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
        out.point_data["Normals"] = vertex_normals(pts, tris)
    return out


def without_structures(gm: GroupMesh, left_out: Iterable[str]) -> pv.PolyData:
    """A group's merged mesh without the cells of some structures (same points, normals, colours)."""
    mesh = gm.mesh
    keep = np.ones(mesh.n_cells, dtype=bool)
    for sid in left_out:
        a, b = gm.cells.get(sid, (0, 0))
        keep[a:b] = False
    faces = np.asarray(mesh.faces).reshape(-1, 4)[keep]
    out = pv.PolyData(mesh.points, faces=faces.ravel()) if len(faces) else _empty_mesh()
    if len(faces):
        if "Normals" in mesh.point_data:
            out.point_data["Normals"] = mesh.point_data["Normals"]
        out.cell_data["rgb"] = np.asarray(mesh.cell_data["rgb"])[keep]
    return out


class Scene:
    """One session's plotter: one actor per layer group (structures coloured per cell), a highlight
    actor for one structure, points, cut plane and camera.

    The structures of a layer group (muscles, arteries, nerves...) share one actor whose cells
    carry each structure's colour.
    """

    def __init__(self, model: ModelLike, window_size: tuple[int, int] = (900, 700)) -> None:
        self.model = model
        # imported, not read from pyvista's lazy attributes: an import that another thread has under way
        # is waited for, where ``pv.Plotter`` then fails (pyvista finds the plotting module half-made)
        from pyvista.plotting.plotter import Plotter

        self.plotter = Plotter(off_screen=True, window_size=list(window_size))
        # pyvista's _deprecate_positional_args decorator is typed as taking the plotter first (it
        # wraps a method): the call is right, the decorator's annotation is not
        self.plotter.set_background(BACKGROUND)  # type: ignore[arg-type]
        self.actors: dict[str, pv.Actor] = {}
        self.visible = dict(DEFAULT_VISIBLE)
        self.opacity = dict(DEFAULT_OPACITY)
        self.cut: tuple[str, float] = ("none", 0.0)
        self.highlighted: str = ""
        #: the structures of a walkthrough step shown in the emphasis colour (:meth:`emphasise`)
        self.emphasised: tuple[str, ...] = ()
        self._clip_of: dict[str, Any] = {}  # group -> (cut, structures left out) of its current input
        #: per-structure display that differs from the layer: id -> {"visible": bool, "opacity": float}
        self.structure_display: dict[str, dict[str, Any]] = {}
        self._own_actors: dict[str, pv.Actor] = {}  # structures drawn at their own opacity
        self._own_clip: dict[str, tuple[str, float]] = {}
        #: the displayed skin's points when it performs an expression (None: at rest)
        self.skin_points: np.ndarray | None = None
        self._load(model)
        self.highlight_actor = self.plotter.add_mesh(_empty_mesh(), color=HIGHLIGHT_COLOUR, name="highlight",
                                                     reset_camera=False)
        self.highlight_actor.SetVisibility(False)
        self._highlight_clip: tuple[str, tuple[str, float]] | None = None
        # actors of hidden layers are made when first shown: the browser gets only what is drawn
        for group in self.groups:
            if self.visible.get(group, False):
                self.actor(group)
        self._point_actors: dict[str, pv.Actor] = {}
        self._make_point_actors()
        self._landmark_actors: list[pv.Actor] = []
        #: the previous visit's needles (entry, tip pairs), drawn faintly in their own actor, never picked
        self.previous_actor: pv.Actor | None = None
        self.show_previous = True
        self._previous_count = 0
        self._apply_layers()
        self.set_view("front")

    def _load(self, model: ModelLike) -> None:
        """The model's display meshes, the group of each structure and the merged group meshes."""
        self.meshes = display_meshes(model)
        self.group_of, self._colour = display_groups(model, self.meshes)
        self.group_meshes = group_meshes(model, self.meshes, self.group_of, self._colour)
        self.groups = [g for g in LAYER_GROUPS if g in self.group_meshes]
        bounds = np.asarray(self.meshes["skin"].bounds).reshape(3, 2)
        self.centre = bounds.mean(axis=1)
        self.centre[2] = 0.0

    # ------------------------------------------------------------------ layers
    def actor(self, aid: str) -> pv.Actor:
        """The actor that draws a layer group (``"muscles"``) or a structure (``"skin"``, ``"eye_left"``,
        a structure id: its group's actor), made on first use."""
        group = aid if aid in self.group_meshes else self.group_of[aid]
        if group not in self.actors:
            mesh = self._group_input(group)
            actor = self.plotter.add_mesh(mesh, scalars="rgb", rgb=True, preference="cell",
                                          name=f"group_{group}", smooth_shading=group == "skin",
                                          specular=0.2 if group == "skin" else 0.0, reset_camera=False)
            # PyVista feeds coloured meshes through an algorithm that runs only on render; the browser
            # canvas reads the mapper's input without rendering, so give the mapper the mesh itself
            actor.mapper.SetInputData(mesh)
            actor.prop.color = "white"  # exporters multiply the cells' colours by it (glTF base colour)
            self._clip_of[group] = self._input_key(group)
            self.actors[group] = actor
            actor.SetVisibility(self.visible.get(group, True))
            actor.prop.opacity = self.opacity.get(group, 1.0)
        return self.actors[group]

    def _group_input(self, group: str) -> pv.PolyData:
        """The group's merged mesh without the structures hidden or drawn on their own, clipped (the
        skin with the points :meth:`set_skin_points` gave it)."""
        gm = self.group_meshes.get(group)
        if gm is None:
            return _empty_mesh()
        left_out = self._left_out(group)
        mesh = without_structures(gm, left_out) if left_out else gm.mesh.copy(deep=False)
        if group == "skin" and self.skin_points is not None:
            mesh = with_points(mesh, self.skin_points)
        return self._clip(mesh)

    @property
    def rest_skin_points(self) -> np.ndarray:
        """(n, 3) float: the displayed skin's points at rest (the skin layer's merged mesh)."""
        return np.asarray(self.group_meshes["skin"].mesh.points, dtype=float)

    def skin_mesh(self, points: Any = None) -> pv.PolyData:
        """The displayed skin (merged, coloured) with other points (None: at rest), unclipped."""
        mesh = self.group_meshes["skin"].mesh.copy(deep=False)
        return mesh if points is None else with_points(mesh, points)

    def set_skin_points(self, points: Any = None) -> None:
        """Move the displayed skin's points (an expression; None: back to rest). Nothing else changes:
        the browser's canvas gets the new points alone (:mod:`viewer.scene_canvas`).

        Parameters
        ----------
        points : (n, 3) float or None
            New positions of :attr:`rest_skin_points`, in the same order.
        """
        if points is not None:
            points = np.asarray(points, dtype=float)
            if points.shape != (len(self.rest_skin_points), 3) or not np.all(np.isfinite(points)):
                raise ValueError(f"need finite skin points of shape {(len(self.rest_skin_points), 3)}, "
                                 f"got {points.shape}")
        self.skin_points = points
        if "skin" in self.actors:
            self.actors["skin"].mapper.SetInputData(self._group_input("skin"))
            self._clip_of["skin"] = self._input_key("skin")

    def _left_out(self, group: str) -> frozenset[str]:
        """Structures of a group its actor does not draw: hidden ones, and those at their own opacity."""
        return frozenset(sid for sid, d in self.structure_display.items()
                         if self.group_of.get(sid) == group and (d.get("visible") is False or "opacity" in d))

    def _input_key(self, group: str) -> tuple[Any, frozenset[str]]:
        return self.cut, self._left_out(group)

    def layer_actor_ids(self, group: str) -> list[str]:
        """The structures of a layer group (drawn by the group's one actor)."""
        return [a for a, g in self.group_of.items() if g == group]

    def set_layer(self, group: str, visible: bool | None = None, opacity: float | None = None) -> None:
        """Show or hide a layer group, or set its opacity."""
        if group not in LAYER_GROUPS:
            raise KeyError(group)
        if visible is not None:
            self.visible[group] = bool(visible)
        if opacity is not None:
            self.opacity[group] = float(opacity)
        self._apply_layers([group])

    def set_layers(self, visible: Mapping[str, bool], opacity: Mapping[str, float]) -> None:
        self.visible.update(visible)
        self.opacity.update(opacity)
        self._apply_layers()

    def _apply_layers(self, groups: Iterable[str] | None = None) -> None:
        for g in set(groups or LAYER_GROUPS) & set(self.group_meshes):
            on = self.visible.get(g, True)
            if not on and g not in self.actors:
                continue
            actor = self.actor(g)
            actor.SetVisibility(on)
            actor.prop.opacity = self.opacity.get(g, 1.0)
            if on:
                self._sync_clip(g)
        self._sync_own()
        self._set_pickable()

    def _set_pickable(self) -> None:
        """A click picks the skin when it is shown (a point is placed on the skin anyway, and the
        browser's picker then tests 40,000 triangles instead of every layer's); else any shown layer."""
        skin_shown = "skin" in self.actors and bool(self.actors["skin"].GetVisibility())
        for g, actor in self.actors.items():  # a corridor is a zone drawn over the anatomy, never picked
            actor.SetPickable(bool(actor.GetVisibility()) and g != "corridors" and (g == "skin" or not skin_shown))
        for actor in self._own_actors.values():
            actor.SetPickable(bool(actor.GetVisibility()) and not skin_shown)
        if hasattr(self, "highlight_actor"):
            self.highlight_actor.SetPickable(not skin_shown)

    def is_visible(self, actor_id: str) -> bool:
        """Whether a layer group or a structure (by its group's actor, its own, or the highlight) is drawn."""
        if actor_id == self.highlighted and self.highlight_actor.GetVisibility():
            return True
        if actor_id in self._own_actors:
            return bool(self._own_actors[actor_id].GetVisibility())
        if actor_id not in self.group_meshes and self.structure_display.get(actor_id, {}).get("visible") is False:
            return False
        group = actor_id if actor_id in self.group_meshes else self.group_of.get(actor_id)
        return group in self.actors and bool(self.actors[group].GetVisibility())

    # ------------------------------------------------------------------ single structures
    def set_structure_display(self, display: Mapping[str, Mapping[str, Any]]) -> None:
        """Per-structure visibility and opacity inside their (shown) layer: ``{id: {"visible": bool,
        "opacity": float}}``; a structure not named follows its layer. Unknown ids are ignored (a
        face without that structure)."""
        before = {g: self._left_out(g) for g in self.group_meshes}
        self.structure_display = {sid: dict(d) for sid, d in display.items() if sid in self.group_of}
        for g, actor in self.actors.items():
            if self._left_out(g) != before.get(g) and actor.GetVisibility():
                self._sync_clip(g)
        self._sync_own()
        self._sync_highlight()
        self._set_pickable()

    def _sync_own(self) -> None:
        """Actors of the structures shown at their own opacity (in their colour, clipped by the cut)."""
        want = {sid: d for sid, d in self.structure_display.items()
                if "opacity" in d and d.get("visible", True) is not False}
        for sid in [s for s in self._own_actors if s not in want]:
            self.plotter.remove_actor(self._own_actors.pop(sid))
            self._own_clip.pop(sid, None)
        for sid, d in want.items():
            actor = self._own_actors.get(sid)
            if actor is None:
                actor = self.plotter.add_mesh(_empty_mesh(), color=self._colour[sid], name=f"structure_{sid}",
                                              reset_camera=False)
                self._own_actors[sid] = actor
            group_on = bool(self.visible.get(self.group_of[sid], True))
            if group_on and self._own_clip.get(sid) != self.cut:
                actor.mapper.SetInputData(self._clip(self.meshes[sid]))
                self._own_clip[sid] = self.cut
            actor.prop.opacity = float(d["opacity"])
            actor.SetVisibility(group_on)

    def structure_colours(self, group: str) -> dict[str, np.ndarray]:
        """The per-cell RGB colours (0-255) of each structure in its group's merged mesh."""
        gm = self.group_meshes[group]
        rgb = np.asarray(gm.mesh.cell_data["rgb"])
        return {aid: rgb[a:b] for aid, (a, b) in gm.cells.items()}

    # ------------------------------------------------------------------ cut plane
    def set_cut(self, axis: str, position_mm: float) -> None:
        """Clip every group's mesh (and the highlight) by the plane (``axis`` ``"none"`` removes the cut)."""
        if axis != "none" and axis not in CUT_NORMALS:
            raise KeyError(axis)
        self.cut = (axis, float(position_mm))
        for group, actor in self.actors.items():
            if actor.GetVisibility():
                self._sync_clip(group)
        self._sync_own()
        self._sync_highlight()

    def _clip(self, mesh: pv.PolyData) -> pv.PolyData:
        axis, pos = self.cut
        if axis == "none":
            return mesh
        normal = np.asarray(CUT_NORMALS[axis])
        clipped = mesh.clip(normal=normal, origin=normal * pos, invert=True)
        clipped = clipped.extract_surface() if not isinstance(clipped, pv.PolyData) else clipped
        if clipped.n_points == 0:  # all cut away: an empty mesh with one point, which exporters accept
            clipped = _empty_mesh()  # one point, no cell: nothing is drawn
        return clipped

    def _sync_clip(self, group: str) -> None:
        """Clip a (visible) group's mesh to the current cut, if not done yet."""
        if self._clip_of.get(group) != self._input_key(group):
            self.actors[group].mapper.SetInputData(self._group_input(group))
            self._clip_of[group] = self._input_key(group)

    # ------------------------------------------------------------------ points
    def _make_point_actors(self) -> None:
        empty = pv.Sphere(radius=0.01)
        for sev, colour in SEVERITY_COLOURS.items():
            self._point_actors[f"tip_{sev}"] = self.plotter.add_mesh(
                empty.copy(), color=colour, name=f"tip_{sev}", reset_camera=False)
            self._point_actors[f"inner_{sev}"] = self.plotter.add_mesh(
                empty.copy(), color=colour, opacity=0.35, name=f"inner_{sev}", reset_camera=False)
            self._point_actors[f"outer_{sev}"] = self.plotter.add_mesh(
                empty.copy(), color=colour, opacity=0.12, name=f"outer_{sev}", reset_camera=False)
        self._point_actors["selected"] = self.plotter.add_mesh(
            empty.copy(), color=SELECT_COLOUR, name="selected", reset_camera=False)
        self._point_actors["closest"] = self.plotter.add_mesh(
            empty.copy(), color=HIGHLIGHT_COLOUR, name="closest", reset_camera=False)
        for a in self._point_actors.values():
            a.SetVisibility(False)
            a.SetPickable(False)

    def _set_mesh(self, name: str, parts: list[Placed]) -> None:
        actor = self._point_actors[name]
        if not parts:
            actor.SetVisibility(False)
            return
        actor.mapper.SetInputData(merge_placed(parts))
        actor.SetVisibility(True)

    def set_points(self, glyphs: Iterable[PointGlyph], selected: str = "", simple: bool = False) -> None:
        """Draw every point: tip sphere and needle, inner and outer sphere of effect, by severity.

        ``simple`` (patient education, unless the user asks for more): each point as a plain dot on
        the skin, with no needle, no sphere of effect and no warning colour.
        """
        parts: dict[str, list[Placed]] = {k: [] for k in self._point_actors}
        if simple:
            for g in glyphs:
                parts["selected"].append(sphere(np.asarray(g.entry_mm, float), TIP_RADIUS_MM * 1.4, SPHERE_SMALL))
            for name, placed in parts.items():
                if name != "closest":
                    self._set_mesh(name, placed)
            return
        for g in glyphs:
            entry, tip = np.asarray(g.entry_mm, float), np.asarray(g.tip_mm, float)
            axis = entry - tip
            n = np.linalg.norm(axis)
            axis = axis / n if n > 1e-6 else np.array([0.0, 0.0, 1.0])
            hub = entry + axis * NEEDLE_OUTSIDE_MM
            sev = g.severity if g.severity in SEVERITY_COLOURS else "ok"
            parts[f"tip_{sev}"].append(sphere(tip, TIP_RADIUS_MM, SPHERE_SMALL))
            parts[f"tip_{sev}"].append(tube(tip, hub, 0.25))
            if g.inner_mm > 0:
                parts[f"inner_{sev}"].append(sphere(tip, g.inner_mm, SPHERE_LARGE))
            if g.outer_mm > 0:
                parts[f"outer_{sev}"].append(sphere(tip, g.outer_mm, SPHERE_LARGE))
            if g.id == selected:
                parts["selected"].append(ring(entry + axis * 0.6, axis, 2.2, 3.2))
                parts["selected"].append(sphere(hub, TIP_RADIUS_MM * 1.6, SPHERE_SMALL))
        for name, placed in parts.items():
            if name != "closest":
                self._set_mesh(name, placed)

    def set_previous(self, needles: Iterable[tuple[Any, Any]], show: bool | None = None) -> None:
        """Draw the previous visit's points faintly: a dot at each tip and a thin needle to the skin
        (``needles``: (entry, tip) pairs in mm), in one actor of its own that is never picked, so a click
        still places or drags today's points. ``show`` turns it on or off (kept when None)."""
        if show is not None:
            self.show_previous = bool(show)
        parts: list[Placed] = []
        for entry, tip in needles:
            e, t = np.asarray(entry, float), np.asarray(tip, float)
            parts.append(sphere(t, TIP_RADIUS_MM * 1.2, SPHERE_SMALL))
            if np.linalg.norm(e - t) > 1e-3:
                parts.append(tube(t, e, 0.2))
        if self.previous_actor is None:
            self.previous_actor = self.plotter.add_mesh(pv.Sphere(radius=0.01), color=PREVIOUS_COLOUR,
                                                        opacity=PREVIOUS_OPACITY, name="previous",
                                                        reset_camera=False)
        actor = self.previous_actor
        actor.SetPickable(False)
        if parts:
            actor.mapper.SetInputData(merge_placed(parts))
        self._previous_count = len(parts)
        actor.SetVisibility(bool(parts) and self.show_previous)

    def toggle_previous(self, show: bool) -> None:
        """Show or hide the previous visit's points (nothing to show: stays hidden)."""
        self.show_previous = bool(show)
        if self.previous_actor is not None:
            self.previous_actor.SetVisibility(self.show_previous and self._previous_count > 0)

    # ------------------------------------------------------------------ highlight
    def highlight(self, structure_id: str = "", tip_mm: Any = None, closest_mm: Any = None) -> None:
        """Show one structure at full opacity (even in a hidden layer), in its own actor, and the closest pair."""
        self.highlighted = structure_id if structure_id in self.group_of else ""
        self.emphasised = ()
        self._sync_highlight()
        if tip_mm is not None and closest_mm is not None:
            a, b = np.asarray(tip_mm, float), np.asarray(closest_mm, float)
            placed = [sphere(b, 0.8, SPHERE_SMALL)]
            if np.linalg.norm(b - a) > 1e-3:
                placed.append(tube(a, b, 0.3))
            self._set_mesh("closest", placed)
        else:
            self._set_mesh("closest", [])

    def _sync_highlight(self) -> None:
        """The highlight actor: only the highlighted structure's mesh, clipped, in its colour; opaque
        (even in a hidden layer) unless the user gave the structure its own opacity or hid it."""
        sid = self.highlighted
        own = self.structure_display.get(sid, {})
        if not sid or own.get("visible") is False:
            self.highlight_actor.SetVisibility(False)
            return
        if self._highlight_clip != (sid, self.cut):
            self.highlight_actor.mapper.SetInputData(self._clip(self.meshes[sid]))
            self.highlight_actor.prop.color = self._colour[sid]
            self._highlight_clip = (sid, self.cut)
        self.highlight_actor.prop.opacity = float(own.get("opacity", 1.0))
        self.highlight_actor.SetVisibility(True)

    def emphasise(self, structure_ids: Iterable[str], colour: str = EMPHASIS_COLOUR) -> np.ndarray | None:
        """Patient education: these structures together in one bright colour, opaque (even in a hidden
        layer), in the highlight's actor; returns their centre (None when none is drawn)."""
        ids = [sid for sid in structure_ids if sid in self.meshes and self.meshes[sid].n_points]
        self.highlighted = ""
        self.emphasised = tuple(ids)
        self._highlight_clip = None  # the next highlight sets its own mesh and colour again
        self._set_mesh("closest", [])
        if not ids:
            self.highlight_actor.SetVisibility(False)
            return None
        mesh = pv.merge([self._clip(self.meshes[sid]) for sid in ids]) if len(ids) > 1 else self._clip(self.meshes[ids[0]])
        self.highlight_actor.mapper.SetInputData(mesh)
        self.highlight_actor.prop.color = colour
        self.highlight_actor.prop.opacity = 1.0
        self.highlight_actor.SetVisibility(True)
        return np.asarray(mesh.points, float).mean(axis=0) if mesh.n_points else None

    def focus_camera(self, centre_mm: Any, view: str, distance_mm: float = FOCUS_DISTANCE_MM) -> dict[str, list[float]]:
        """The camera on ``centre_mm`` from a standard view's direction, nearer than the whole head."""
        return self.look_at(centre_mm, VIEW_DIRECTIONS[view], distance_mm)

    def structure_centre(self, structure_id: str) -> np.ndarray | None:
        """Where a structure's label stands: the centre of its display mesh (None if not drawn)."""
        mesh = self.meshes.get(structure_id)
        if mesh is None or not mesh.n_points:
            return None
        return np.asarray(mesh.points, float).mean(axis=0)

    # ------------------------------------------------------------------ landmarks
    def show_landmarks(self, on: bool) -> None:
        """Landmark markers (their names are labels over the canvas, see viewer.labels)."""
        if on and not self._landmark_actors:
            dots = []
            for _lid, p in self.model.landmarks.items():
                p = np.asarray(p, float)
                dots.append(pv.Sphere(radius=0.9, center=p, theta_resolution=8, phi_resolution=8))
            # the names are labels over the canvas (viewer.labels): plain words, few at a time, never
            # overlapping (3D text of every id piled up into unreadable jargon)
            self._landmark_actors = [
                self.plotter.add_mesh(pv.merge(dots), color="#00e5ff", name="landmarks", reset_camera=False),
            ]
            for a in self._landmark_actors:
                a.SetPickable(False)
        for a in self._landmark_actors:
            a.SetVisibility(on)

    # ------------------------------------------------------------------ camera
    def set_view(self, view: str) -> dict[str, list[float]]:
        """Standard views: front, left, right, three-quarter; returns the camera (vtk.js keys)."""
        d = np.asarray(VIEW_DIRECTIONS[view], float)
        d /= np.linalg.norm(d)
        return self.look_at(self.centre, d, CAMERA_DISTANCE_MM)

    def look_at(self, focal_mm: Any, direction: Any, distance_mm: float = 220.0) -> dict[str, list[float]]:
        """Put the camera ``distance_mm`` from ``focal_mm`` along ``direction``, head up."""
        f = np.asarray(focal_mm, float)
        d = np.asarray(direction, float)
        d = d / (np.linalg.norm(d) or 1.0)
        up = np.array([0.0, 1.0, 0.0])
        if abs(d @ up) > 0.95:
            up = np.array([0.0, 0.0, -1.0])
        cam = self.plotter.camera
        cam.focal_point = f.tolist()
        cam.position = (f + d * distance_mm).tolist()
        cam.up = up.tolist()
        self.plotter.renderer.ResetCameraClippingRange()
        return self.camera_dict()

    def set_camera(self, camera: Mapping[str, Any]) -> None:
        """Take a camera (vtk.js keys: position, focalPoint, viewUp), e.g. the one the user turned to."""
        cam = self.plotter.camera
        cam.position = [float(v) for v in camera["position"]]
        cam.focal_point = [float(v) for v in camera["focalPoint"]]
        cam.up = [float(v) for v in camera["viewUp"]]
        self.plotter.renderer.ResetCameraClippingRange()

    def camera_dict(self) -> dict[str, list[float]]:
        cam = self.plotter.camera
        return {"position": list(cam.position), "focalPoint": list(cam.focal_point),
                "viewUp": list(cam.up)}

    # ------------------------------------------------------------------ output
    def screenshot(self, filename: str | None = None) -> np.ndarray:
        """Render off-screen and return the image (and write it as PNG when given a filename)."""
        self.plotter.render()
        img = self.plotter.screenshot(filename, return_img=True)
        if img is None:  # pyvista returns None only when return_img is False
            raise RuntimeError("the plotter returned no image")
        return np.asarray(img)

    def export_gltf(self, filename: str) -> None:
        """The visible scene as a binary-inlined glTF file."""
        self.plotter.export_gltf(filename, inline_data=True, rotate_scene=False)

    def to_display(self, points_mm: Any) -> np.ndarray:
        """Pixel positions (x right, y down from the top-left corner) of 3D points in this camera."""
        ren = self.plotter.renderer
        h = self.plotter.window_size[1]
        out = []
        for p in np.asarray(points_mm, float).reshape(-1, 3):
            ren.SetWorldPoint(*p, 1.0)
            ren.WorldToDisplay()
            x, y, _z = ren.GetDisplayPoint()
            out.append((x, h - y))
        return np.asarray(out)

    def close(self) -> None:
        self.plotter.close()

    def set_model(self, model: ModelLike) -> None:
        """Show another face in the same plotter (the group actors get the new merged meshes).

        Layers, opacity and the cut plane stay; landmark labels are dropped (show them again), and so
        is a highlight of a structure the new face lacks.
        """
        self.model = model
        self.skin_points = None  # another face: at rest (an expression is computed for each face)
        self._load(model)
        self.structure_display = {sid: d for sid, d in self.structure_display.items() if sid in self.group_of}
        for sid in list(self._own_actors):  # the new face's meshes replace the old ones
            self.plotter.remove_actor(self._own_actors.pop(sid))
        self._own_clip.clear()
        for group, actor in self.actors.items():
            actor.mapper.SetInputData(self._group_input(group))
            self._clip_of[group] = self._input_key(group)
        if self.highlighted not in self.group_of:
            self.highlighted = ""
        self._highlight_clip = None
        self._sync_highlight()
        for a in self._landmark_actors:
            self.plotter.remove_actor(a)
        self._landmark_actors = []
        self._apply_layers()
