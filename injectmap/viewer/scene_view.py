"""The 3D scene of a session in the page: a vtk.js canvas kept in step with the state and the analysis.

:class:`SceneView` owns the session's :class:`~viewer.scene.Scene` (the PyVista plotter, the source
of truth for the PNG and glTF exports) and its :class:`~viewer.scene_canvas.SceneCanvas` (what the
browser draws); it turns canvas messages (a pick, a drag, a turned camera) into state edits and sends
each change of the scene to the browser once, however many parameters one action changed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import panel as pn
import param

from injectmap.planning.results import Severity
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.labels import Label, landmark_labels, point_labels, structure_labels
from injectmap.viewer.scene import BACKGROUND, Scene
from injectmap.viewer.scene_canvas import SceneCanvas
from injectmap.viewer.state import AppState

log = logging.getLogger("injectmap.viewer")
#: the exports' picture size; in the page the canvas takes its column's width (docs/layout.md)
SCENE_SIZE = (860, 640)
#: the canvas's height in the page (px): project choice, so that at 1366x768 the header and the whole
#: 3D view are on screen together (docs/layout.md)
SCENE_HEIGHT = 560
EDUCATION_MODE = "patient education"


class SceneView(pn.viewable.Viewer):
    """The 3D scene (a vtk.js canvas updated in place), kept in step with the state and the analysis."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.model = state, analyst, model
        self.scene = Scene(model, window_size=SCENE_SIZE)
        self.scene.set_layers(state.layer_visible, state.layer_opacity)
        self.canvas = SceneCanvas(sizing_mode="stretch_width", height=SCENE_HEIGHT, min_width=360,
                                  placing=state.placing, background=BACKGROUND)
        self.canvas.on_pick = self.place_at
        self.canvas.on_drag = self.drag_selected_to
        self.canvas.on_camera = self.scene.set_camera
        self.canvas.set_camera(self.scene.camera_dict())
        #: a second canvas left of this one (the Expressions card's face before treatment), and what runs
        #: after each publish (it follows the scene)
        self.beside = pn.Column(sizing_mode="stretch_width", visible=False, css_classes=["scene-beside"])
        self.published: list[Any] = []
        #: points drawn as plain dots whatever the mode (the Expressions card shows the face moving)
        self.plain_points = False
        self.place_toggle = pn.widgets.Toggle(label="Place points (click the skin)", color="primary",
                                              value=state.placing, width=240)
        self.place_toggle.link(state, value="placing")
        state.param.watch(self._on_placing, ["placing"])
        self.last_pick_ms = 0.0
        self.last_sync_ms = 0.0
        self._sync_pending = False
        self._sync_scheduled = False
        self._batch_depth = 0
        self._points_pending = False
        state.param.watch(self._on_layers, ["layer_visible", "layer_opacity"])
        state.param.watch(self._on_structures, ["structure_display"])
        state.param.watch(self._on_cut, ["cut_axis", "cut_mm"])
        state.param.watch(self._on_view, ["view"])
        state.param.watch(self._on_landmarks, ["show_landmarks"])
        state.param.watch(self._on_points, ["selected"])
        state.param.watch(self._on_highlight, ["highlight"])
        state.param.watch(self._on_points, ["mode", "education_zones", "point_labels", "structure_labels"])
        analyst.param.watch(self._on_points, ["results"])
        self._camera_moved = False  # a finding's camera is on screen (a cleared finding brings the view back)
        self._draw_points()
        self.publish()

    # handlers: gather input, call the state or the scene, then send the scene
    def place_at(self, xyz: np.ndarray) -> None:
        """A click on the scene picked ``xyz``: place a point at the skin there (when placing is on)."""
        if not self.state.placing:
            return
        t0 = time.perf_counter()
        with self.batch():  # the tables, panels and scene of one click reach the browser as one patch
            entry, _normal = self.model.skin_point(np.asarray(xyz, dtype=float))
            self.state.place_at_skin(entry)
        self.last_pick_ms = (time.perf_counter() - t0) * 1000.0
        log.info("pick handled in %.0f ms (analysis %.0f ms)", self.last_pick_ms, self.analyst.last_ms)

    def drag_selected_to(self, xyz: np.ndarray) -> None:
        """The selected point's handle was dragged and let go over ``xyz``: move its entry to the skin
        there (depth, angle, dose and target stay; a landmark placement becomes a skin point)."""
        pid = self.state.selected
        if not pid or pid not in self.state.point_ids():
            return
        with self.batch():
            entry, _normal = self.model.skin_point(np.asarray(xyz, dtype=float))
            self.state.move_point(pid, entry)
        log.info("point %s dragged to %s", pid, np.round(entry, 1).tolist())

    def _on_placing(self, event: param.parameterized.Event) -> None:
        self.canvas.placing = bool(event.new)

    def _on_layers(self, *_: Any) -> None:
        self.scene.set_layers(self.state.layer_visible, self.state.layer_opacity)
        self.sync()

    def _on_structures(self, *_: Any) -> None:
        self.scene.set_structure_display(self.state.structure_display)
        self.sync()

    def _on_cut(self, *_: Any) -> None:
        self.scene.set_cut(self.state.cut_axis, self.state.cut_mm)
        self.sync()

    def _on_view(self, *_: Any) -> None:
        self.canvas.set_camera(self.scene.set_view(self.state.view))
        self.sync()

    def _on_landmarks(self, *_: Any) -> None:
        self.scene.show_landmarks(self.state.show_landmarks)
        self._points_pending = True  # their labels
        self.sync()

    def _on_points(self, *_: Any) -> None:
        # a placed point changes the plan, the analysis and the selection: inside a server session the
        # points are drawn once, with the deferred synchronisation
        self._points_pending = True
        self.sync()

    def _on_highlight(self, *_: Any) -> None:
        sid = self.state.highlight
        tip = closest = None
        if sid and self.state.selected in self.analyst.results:
            r = self.analyst.results[self.state.selected]
            tip = r.tip_mm
            for f in r.findings:
                if f.structure == sid and f.closest_mm is not None:
                    closest = f.closest_mm
                    break
        self.scene.highlight(sid, tip, closest)
        if not sid and self._camera_moved:  # the finding is gone (e.g. another plan): its view goes too
            self._camera_moved = False
            self.canvas.set_camera(self.scene.set_view(self.state.view))
        if tip is not None:
            self._camera_moved = True
            r = self.analyst.results[self.state.selected]
            entry = np.asarray(r.entry_mm, float)
            focal = (np.asarray(tip, float) + np.asarray(closest if closest is not None else tip, float)) / 2
            out = entry - np.asarray(tip, float)
            out = out if np.linalg.norm(out) > 1e-6 else np.array([0.0, 0.0, 1.0])
            out = out / np.linalg.norm(out) + np.array([0.0, 0.0, 0.6])
            self.canvas.set_camera(self.scene.look_at(focal, out, 200.0))
        self.sync()

    @property
    def simple_points(self) -> bool:
        """Patient education without "Show needles and zones", or :attr:`plain_points`: points as plain dots."""
        return self.plain_points or (self.state.mode == EDUCATION_MODE and not self.state.education_zones)

    def set_plain_points(self, on: bool) -> None:
        """Draw the points as plain dots (or as the mode wants again), with the next sync."""
        if self.plain_points != on:
            self.plain_points = on
            self._points_pending = True

    def _draw_points(self) -> None:
        self._points_pending = False
        self.scene.set_points(self.analyst.glyphs(), self.state.selected, simple=self.simple_points)
        self.canvas.labels = [lab.to_dict() for lab in self.labels()]

    def labels(self) -> list[Label]:
        """The labels over the scene, most important first (see :mod:`viewer.labels`)."""
        out: list[Label] = []
        results = self.analyst.results
        skin_normal = self._skin_normal
        if self.state.point_labels:
            entries = {pid: r.entry_mm for pid, r in results.items()}
            out += point_labels(self.state.points, entries, skin_normal)
        if self.state.structure_labels:
            targets = [p["target"] for p in self.state.points if p.get("target")]
            warned = [] if self.simple_points else [
                f.structure for r in results.values() for f in r.findings
                if f.structure and f.severity.rank >= Severity.CAUTION.rank]
            ids = set(targets) | set(warned)
            centres = {sid: c for sid in ids if (c := self.scene.structure_centre(sid)) is not None}
            names = {sid: self.model.structures[sid].name for sid in ids if sid in self.model.structures}
            out += structure_labels(targets, warned, centres, names, self.scene.centre)
        if self.state.show_landmarks:
            used = [p["at"]["landmark"] for p in self.state.points if "at" in p]
            out += landmark_labels(self.model.landmarks, used, skin_normal)
        return out

    def _skin_normal(self, xyz: Any) -> np.ndarray:
        """The skin's outward direction at the skin point nearest ``xyz`` (a label faces the camera with it)."""
        return np.asarray(self.model.skin_point(np.asarray(xyz, dtype=float))[1], float)

    def show_previous(self, needles: list[tuple[Any, Any]] | None = None, show: bool | None = None) -> None:
        """The previous visit's points under today's plan (``needles``: (entry, tip) pairs in mm; None keeps
        those drawn) and whether they show; sent with the next scene update."""
        if needles is None:
            self.scene.toggle_previous(bool(show) if show is not None else self.scene.show_previous)
        else:
            self.scene.set_previous(needles, show)
        self.sync()

    def _draw_pending_points(self) -> None:
        if self._points_pending:
            self._draw_points()

    def set_model(self, model: Any) -> None:
        """Show another face (the points are redrawn when the analysis of the new face arrives)."""
        self.model = model
        self.scene.set_model(model)
        self.scene.show_landmarks(self.state.show_landmarks)
        self.canvas.set_camera(self.scene.set_view(self.state.view))
        self.sync()

    def sync(self) -> None:
        """Send the changed scene to the browser, once however many changes came.

        One user action changes several parameters (a placed point changes the plan, the analysis
        and the selection); each would re-serialise the scene. Inside :meth:`batch` the scene is sent
        when the batch ends; otherwise, inside a server session, on the next tick; outside one
        (tests, notebooks) at once.
        """
        self._sync_pending = True
        if self._batch_depth:
            return
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self._flush()
            return
        if not self._sync_scheduled:
            self._sync_scheduled = True
            doc.add_next_tick_callback(self._flush)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Everything changed inside (tables, panels, the scene) reaches the browser as one patch."""
        with pn.io.hold():
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if not self._batch_depth:
                    self._flush()

    def _flush(self) -> None:
        self._sync_scheduled = False
        if not self._sync_pending:  # already sent (by a batch that ended first)
            return
        self._sync_pending = False
        t0 = time.perf_counter()
        self._draw_pending_points()
        self.publish()
        self.last_sync_ms = (time.perf_counter() - t0) * 1000.0
        log.info("scene sync %.0f ms (%.2f MB sent; analysis %.0f ms)", self.last_sync_ms,
                 self.canvas.last_update_bytes / 1e6, self.analyst.last_ms)

    def close(self) -> None:
        """Release the session's scene (its plotter and meshes) when the session ends."""
        self.scene.close()
        self.canvas.on_pick = self.canvas.on_drag = self.canvas.on_camera = None
        log.info("session closed: scene released")

    def publish(self) -> None:
        """Send what the scene draws now to the browser (only the meshes it does not hold), with the
        selected point's handle (ring and needle hub) as what a press can drag."""
        anchor = None
        result = self.analyst.results.get(self.state.selected)
        if result is not None:
            anchor = list(result.entry_mm)
        self.canvas.publish(self.scene.plotter.renderer.actors, handle="selected", anchor_mm=anchor)
        for follow in self.published:
            follow()

    def __panel__(self) -> pn.viewable.Viewable:
        main = pn.Column(self.canvas, css_classes=["scene"], sizing_mode="stretch_width")
        return pn.Row(self.beside, main, sizing_mode="stretch_width", margin=0)
