"""The 3D scene of one session: a PyVista plotter built from the face model.

Every structure is its own actor, coloured by its metadata and grouped into display layers
(:data:`viewer.state.LAYER_GROUPS`). Injection points are drawn from what planning computed (entry,
tip, inner and outer radius of effect, worst finding): the scene draws, it never measures.

The cut plane clips each actor's mesh on the Python side (vtk.js in Panel's VTK pane does not
receive mapper clipping planes), keeping the part below / behind / right of the plane:

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyvista as pv

from viewer.state import DEFAULT_OPACITY, DEFAULT_VISIBLE, LAYER_GROUPS

SEVERITY_COLOURS: dict[str, str] = {"danger": "#d62728", "caution": "#ff9f1c", "ok": "#2ca02c"}
SEVERITY_RANK: dict[str, int] = {"danger": 3, "caution": 2, "info": 1}
SELECT_COLOUR = "#1f77ff"
HIGHLIGHT_COLOUR = "#e040fb"
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
    skin: pv.PolyData
    eyes: Mapping[str, pv.PolyData]
    landmarks: Mapping[str, np.ndarray]
    structures: Mapping[str, Any]


def layer_group(structure: StructureLike) -> str | None:
    """The display layer group of a structure (None: not drawn, e.g. a second skin)."""
    sid, kind = structure.id, structure.kind
    if sid == "skin":
        return None
    if sid.startswith("orbit"):
        return "orbit"
    if kind == "bone" or sid == "bone":
        return "bone"
    if kind == "layer":
        return "fat"
    return {"muscle": "muscles", "artery": "vessels", "nerve": "nerves",
            "gland": "gland_duct", "duct": "gland_duct"}.get(kind, "muscles")


def worst_severity(findings: Iterable[Mapping[str, Any]]) -> str:
    """``"danger"``, ``"caution"`` or ``"ok"`` (info or no finding) from a point's findings."""
    rank = max((SEVERITY_RANK.get(str(f.get("severity")), 0) for f in findings), default=0)
    return {3: "danger", 2: "caution"}.get(rank, "ok")


@dataclass(frozen=True)
class PointGlyph:
    """What the scene needs to draw one point (all from planning's analysis)."""

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

# display meshes shared read-only by every session of the process (keyed by the model's identity)
_DISPLAY_CACHE: dict[int, dict[str, pv.PolyData]] = {}
_CACHE_LOCK = threading.Lock()


def _reduce(mesh: pv.PolyData, max_cells: int) -> pv.PolyData:
    mesh = mesh.triangulate() if not mesh.is_all_triangles else mesh
    if mesh.n_cells > 1.2 * max_cells:
        mesh = mesh.decimate(1.0 - max_cells / mesh.n_cells)
    return mesh.compute_normals(split_vertices=False, auto_orient_normals=False)


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
    key = id(model)
    with _CACHE_LOCK:
        if key in _DISPLAY_CACHE:
            return _DISPLAY_CACHE[key]
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
                meshes = {aid: pv.read(folder / f"{aid}.vtp") for aid in sources}
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
        _DISPLAY_CACHE[key] = meshes
        return meshes


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


class Scene:
    """One session's plotter: structures by actor, layer groups, points, cut plane and camera."""

    def __init__(self, model: ModelLike, window_size: tuple[int, int] = (900, 700)) -> None:
        self.model = model
        self.plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
        self.plotter.set_background(BACKGROUND)
        self.meshes = display_meshes(model)
        self.actors: dict[str, pv.Actor] = {}
        self.group_of: dict[str, str] = {}
        self.visible = dict(DEFAULT_VISIBLE)
        self.opacity = dict(DEFAULT_OPACITY)
        self.cut: tuple[str, float] = ("none", 0.0)
        self.highlighted: str = ""
        self._clip_of: dict[str, tuple[str, float]] = {}
        self._colour: dict[str, str] = {}
        for aid in self.meshes:
            if aid == "skin":
                group, colour = "skin", SKIN_COLOUR
            elif aid.startswith("eye_"):
                group, colour = "eyes", EYE_COLOUR
            else:
                s = model.structures[aid]
                group, colour = layer_group(s) or "muscles", s.colour
            self.group_of[aid] = group
            self._colour[aid] = colour
        # actors of hidden layers are made when first shown: the browser gets only what is drawn
        for aid, group in self.group_of.items():
            if self.visible.get(group, False):
                self.actor(aid)
        self._point_actors: dict[str, pv.Actor] = {}
        self._make_point_actors()
        self._landmark_actors: list[pv.Actor] = []
        self._apply_layers()
        bounds = np.asarray(self.meshes["skin"].bounds).reshape(3, 2)
        self.centre = bounds.mean(axis=1)
        self.centre[2] = 0.0
        self.set_view("front")

    # ------------------------------------------------------------------ layers
    def actor(self, aid: str) -> pv.Actor:
        """The actor of a structure (``"skin"``, ``"eye_left"``...), made on first use."""
        if aid not in self.actors:
            actor = self.plotter.add_mesh(self._clip(self.meshes[aid]), color=self._colour[aid], name=aid,
                                          smooth_shading=aid == "skin", specular=0.2 if aid == "skin" else 0.0,
                                          reset_camera=False)
            self._clip_of[aid] = self.cut
            self.actors[aid] = actor
            actor.SetVisibility(self.visible.get(self.group_of[aid], True) or aid == self.highlighted)
            actor.prop.opacity = self.opacity.get(self.group_of[aid], 1.0)
        return self.actors[aid]

    def layer_actor_ids(self, group: str) -> list[str]:
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
        groups = set(groups or LAYER_GROUPS)
        for aid, g in self.group_of.items():
            if g not in groups:
                continue
            on = self.visible.get(g, True) or aid == self.highlighted
            if not on and aid not in self.actors:
                continue
            actor = self.actor(aid)
            actor.SetVisibility(on)
            actor.prop.opacity = 1.0 if aid == self.highlighted else self.opacity.get(g, 1.0)
            if on:
                self._sync_clip(aid)

    def is_visible(self, actor_id: str) -> bool:
        return actor_id in self.actors and bool(self.actors[actor_id].GetVisibility())

    # ------------------------------------------------------------------ cut plane
    def set_cut(self, axis: str, position_mm: float) -> None:
        """Clip every actor by the plane (``axis`` ``"none"`` removes the cut)."""
        if axis != "none" and axis not in CUT_NORMALS:
            raise KeyError(axis)
        self.cut = (axis, float(position_mm))
        for aid, actor in self.actors.items():
            if actor.GetVisibility():
                self._sync_clip(aid)

    def _clip(self, mesh: pv.PolyData) -> pv.PolyData:
        axis, pos = self.cut
        if axis == "none":
            return mesh
        normal = np.asarray(CUT_NORMALS[axis])
        clipped = mesh.clip(normal=normal, origin=normal * pos, invert=True)
        clipped = clipped.extract_surface() if not isinstance(clipped, pv.PolyData) else clipped
        if clipped.n_points == 0:  # all cut away: Panel's serialiser fails on a mesh without points
            clipped = pv.PolyData()
            clipped.points = np.zeros((1, 3))  # one point, no cell: nothing is drawn
        return clipped

    def _sync_clip(self, aid: str) -> None:
        """Clip a (visible) actor's mesh to the current cut, if not done yet."""
        if self._clip_of.get(aid) != self.cut:
            self.actors[aid].mapper.SetInputData(self._clip(self.meshes[aid]))
            self._clip_of[aid] = self.cut

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

    def _set_mesh(self, name: str, meshes: list[pv.PolyData]) -> None:
        actor = self._point_actors[name]
        if not meshes:
            actor.SetVisibility(False)
            return
        merged = meshes[0] if len(meshes) == 1 else pv.merge(meshes)
        actor.mapper.SetInputData(merged)
        actor.SetVisibility(True)

    def set_points(self, glyphs: Iterable[PointGlyph], selected: str = "") -> None:
        """Draw every point: tip sphere and needle, inner and outer sphere of effect, by severity."""
        parts: dict[str, list[pv.PolyData]] = {k: [] for k in self._point_actors}
        for g in glyphs:
            entry, tip = np.asarray(g.entry_mm, float), np.asarray(g.tip_mm, float)
            axis = entry - tip
            n = np.linalg.norm(axis)
            axis = axis / n if n > 1e-6 else np.array([0.0, 0.0, 1.0])
            hub = entry + axis * NEEDLE_OUTSIDE_MM
            sev = g.severity if g.severity in SEVERITY_COLOURS else "ok"
            parts[f"tip_{sev}"].append(pv.Sphere(radius=TIP_RADIUS_MM, center=tip, theta_resolution=12,
                                                 phi_resolution=12))
            parts[f"tip_{sev}"].append(pv.Tube(pointa=tip, pointb=hub, radius=0.25, n_sides=8))
            if g.inner_mm > 0:
                parts[f"inner_{sev}"].append(pv.Sphere(radius=g.inner_mm, center=tip,
                                                       theta_resolution=24, phi_resolution=16))
            if g.outer_mm > 0:
                parts[f"outer_{sev}"].append(pv.Sphere(radius=g.outer_mm, center=tip,
                                                       theta_resolution=24, phi_resolution=16))
            if g.id == selected:
                parts["selected"].append(pv.Disc(center=entry + axis * 0.6, inner=2.2, outer=3.2,
                                                 normal=axis, c_res=24))
                parts["selected"].append(pv.Sphere(radius=TIP_RADIUS_MM * 1.6, center=hub))
        for name, meshes in parts.items():
            if name != "closest":
                self._set_mesh(name, meshes)

    # ------------------------------------------------------------------ highlight
    def highlight(self, structure_id: str = "", tip_mm: Any = None, closest_mm: Any = None) -> None:
        """Show one structure at full opacity (even in a hidden layer) and the closest pair."""
        old, self.highlighted = self.highlighted, structure_id if structure_id in self.group_of else ""
        for aid in {old, self.highlighted} - {""}:
            self._apply_layers([self.group_of[aid]])
        if tip_mm is not None and closest_mm is not None:
            a, b = np.asarray(tip_mm, float), np.asarray(closest_mm, float)
            meshes = [pv.Sphere(radius=0.8, center=b)]
            if np.linalg.norm(b - a) > 1e-3:
                meshes.append(pv.Tube(pointa=a, pointb=b, radius=0.3, n_sides=8))
            self._set_mesh("closest", meshes)
        else:
            self._set_mesh("closest", [])

    # ------------------------------------------------------------------ landmarks
    def show_landmarks(self, on: bool) -> None:
        """Landmark markers with 3D text labels (text geometry shows in vtk.js, 2D labels do not)."""
        if on and not self._landmark_actors:
            dots, texts = [], []
            for lid, p in self.model.landmarks.items():
                p = np.asarray(p, float)
                dots.append(pv.Sphere(radius=0.9, center=p, theta_resolution=8, phi_resolution=8))
                label = pv.Text3D(lid.replace("_", " "), depth=0.2).scale(2.2, inplace=False)
                texts.append(label.translate(p + np.array([1.5, 0.8, 3.0]), inplace=False))
            self._landmark_actors = [
                self.plotter.add_mesh(pv.merge(dots), color="#00e5ff", name="landmarks", reset_camera=False),
                self.plotter.add_mesh(pv.merge(texts), color="#ffffff", name="landmark_labels",
                                      reset_camera=False),
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

    def camera_dict(self) -> dict[str, list[float]]:
        cam = self.plotter.camera
        return {"position": list(cam.position), "focalPoint": list(cam.focal_point),
                "viewUp": list(cam.up)}

    # ------------------------------------------------------------------ output
    def screenshot(self, filename: str | None = None) -> np.ndarray:
        """Render off-screen and return the image (and write it as PNG when given a filename)."""
        self.plotter.render()
        return self.plotter.screenshot(filename, return_img=True)

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
        """Show another face in the same plotter (the structures' actors get the new meshes).

        Layers, opacity and the cut plane stay; landmark labels are dropped (show them again).
        """
        self.model = model
        self.meshes = display_meshes(model)
        for aid in [a for a in self.group_of if a not in self.meshes]:
            if aid in self.actors:
                self.plotter.remove_actor(self.actors.pop(aid))
            self.group_of.pop(aid)
            self._clip_of.pop(aid, None)
        for aid in self.meshes:
            if aid not in self.group_of and aid.startswith("eye_"):
                self.group_of[aid], self._colour[aid] = "eyes", EYE_COLOUR
            elif aid not in self.group_of:
                s = model.structures[aid]
                self.group_of[aid], self._colour[aid] = layer_group(s) or "muscles", s.colour
        for aid, actor in self.actors.items():
            actor.mapper.SetInputData(self._clip(self.meshes[aid]))
            self._clip_of[aid] = self.cut
        for a in self._landmark_actors:
            self.plotter.remove_actor(a)
        self._landmark_actors = []
        self._apply_layers()
        bounds = np.asarray(self.meshes["skin"].bounds).reshape(3, 2)
        self.centre = bounds.mean(axis=1)
        self.centre[2] = 0.0
