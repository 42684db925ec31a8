"""The injectmap web app (Panel + PyVista): one scene, plan and findings per browser session.

Run it with ``injectmap serve`` (which calls :func:`serve`) or ``panel serve viewer/app.py``.

The face model is loaded once per server process (:func:`get_model`) and shared read-only; each
session gets its own :class:`~viewer.state.AppState`, :class:`~viewer.analysis.PlanAnalyst` and
:class:`~viewer.scene.Scene` from :func:`create_app`. Handlers only gather input and call the state
(plan edits) or planning (analysis); the scene draws what planning returned.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from injectmap.anatomy.ids import landmark_ids
from injectmap.planning.analysis import depths_along
from injectmap.planning.plan import PlanError, loads_plan, parse_plan, plan_to_dict, save_plan
from injectmap.planning.products import product_info, product_names
from injectmap.planning.results import DISCLAIMER, PointResult
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.education_panel import EducationPanel
from injectmap.viewer.face_panel import FacePanel, plan_face
from injectmap.viewer.scene import BACKGROUND, SEVERITY_COLOURS, Scene, layer_group, worst_severity
from injectmap.viewer.scene_canvas import SceneCanvas
from injectmap.viewer.state import CUT_AXES, LAYER_GROUPS, LAYER_LABELS, MODES, VIEWS, AppState
from injectmap.viewer.training_panel import TrainingPanel

log = logging.getLogger("injectmap.viewer")
DEMO_PLAN = Path(__file__).with_name("demo_plan.json")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
AUTOSAVE_ENV = "INJECTMAP_AUTOSAVE_DIR"
SCENE_SIZE = (860, 640)

_MODEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _default_model() -> Any:
    from injectmap.anatomy.model import load_model

    return load_model()


def get_model() -> Any:
    """The default face model, loaded once per process and shared read-only by every session.

    A session that asks while the warm-up thread is loading it waits for that load.
    """
    with _MODEL_LOCK:
        return _default_model()


def warm_up() -> None:
    """Load what every session shares and the first one would otherwise wait for: the model, its
    display and layer-group meshes, and the modules imported on first use (tables, the scene).
    (The walkthrough's timeline figure is made when that mode is first shown, not here.)"""
    t0 = time.perf_counter()
    model = get_model()
    import pandas  # noqa: F401 - the tables' first import
    import pyvista.plotting  # noqa: F401 - the scene's first import

    from injectmap.viewer.scene import display_groups, display_meshes, group_meshes

    meshes = display_meshes(model)
    group_meshes(model, meshes, *display_groups(model, meshes))
    log.info("warm-up done in %.1f s", time.perf_counter() - t0)


@functools.cache
def start_warm_up() -> threading.Thread:
    """Run :func:`warm_up` in a background thread, once per process (later calls return that thread):
    the server starts, and the first page and its scripts load, meanwhile (a session that needs the
    model first waits for it in :func:`get_model`)."""
    thread = threading.Thread(target=warm_up, name="injectmap-warm-up", daemon=True)
    thread.start()
    return thread


def session_page() -> pn.viewable.Viewable:
    """What a served page gets: the app, built once the browser has connected.

    The page and its scripts (bokeh, panel, vtk.js) load while the session is built (and, for the
    first page, while the model is still loading), instead of after it.
    """
    pn.extension("tabulator")  # the deferred app's tables: their scripts must come with the page
    return pn.panel(create_app, defer_load=True, loading_indicator=True)


def autosave_dir() -> Path:
    """Where each session's plan is saved after every change (``$INJECTMAP_AUTOSAVE_DIR``)."""
    d = os.environ.get(AUTOSAVE_ENV) or str(Path.home() / ".cache" / "injectmap" / "autosave")
    return Path(d)


def demo_plan() -> dict[str, Any]:
    """The default plan of a new session: the demo glabellar and forehead pattern."""
    return plan_to_dict(parse_plan(json.loads(DEMO_PLAN.read_text(encoding="utf-8"))))


def _structure_options(model: Any) -> dict[str, str]:
    opts = {"(none)": ""}
    for sid, s in sorted(model.structures.items(), key=lambda kv: kv[1].name):
        opts[f"{s.name} ({sid})"] = sid
    return opts


# ---------------------------------------------------------------------------------------- scene
class SceneView(pn.viewable.Viewer):
    """The 3D scene (a vtk.js canvas updated in place), kept in step with the state and the analysis."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.model = state, analyst, model
        self.scene = Scene(model, window_size=SCENE_SIZE)
        self.scene.set_layers(state.layer_visible, state.layer_opacity)
        self.canvas = SceneCanvas(width=SCENE_SIZE[0], height=SCENE_SIZE[1], placing=state.placing,
                                  background=BACKGROUND)
        self.canvas.on_pick = self.place_at
        self.canvas.on_drag = self.drag_selected_to
        self.canvas.on_camera = self.scene.set_camera
        self.canvas.set_camera(self.scene.camera_dict())
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
        analyst.param.watch(self._on_points, ["results"])
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
        if tip is not None:
            r = self.analyst.results[self.state.selected]
            entry = np.asarray(r.entry_mm, float)
            focal = (np.asarray(tip, float) + np.asarray(closest if closest is not None else tip, float)) / 2
            out = entry - np.asarray(tip, float)
            out = out if np.linalg.norm(out) > 1e-6 else np.array([0.0, 0.0, 1.0])
            out = out / np.linalg.norm(out) + np.array([0.0, 0.0, 0.6])
            self.canvas.set_camera(self.scene.look_at(focal, out, 200.0))
        self.sync()

    def _draw_points(self) -> None:
        self._points_pending = False
        self.scene.set_points(self.analyst.glyphs(), self.state.selected)

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

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.canvas, css_classes=["scene"])


# ---------------------------------------------------------------------------------------- panels
class LayerPanel(pn.viewable.Viewer):
    """Layer visibility and opacity, cut plane, camera views, landmark labels."""

    def __init__(self, state: AppState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        rows = []
        for g in LAYER_GROUPS:
            cb = pn.widgets.Checkbox(label=LAYER_LABELS[g], value=state.layer_visible[g], width=130,
                                     css_classes=[f"layer-{g}"])
            sl = pn.widgets.FloatSlider(label="", start=0.0, end=1.0, step=0.05,
                                        value=state.layer_opacity[g], width=120, show_value=False)
            cb.param.watch(functools.partial(self._visible, g), "value")
            sl.param.watch(functools.partial(self._opacity, g), "value_throttled")
            rows.append(pn.Row(cb, sl, margin=0))
        self.cut_axis = pn.widgets.RadioButtonGroup.from_param(state.param.cut_axis, options=list(CUT_AXES),
                                                              color="default")
        self.cut_mm = pn.widgets.FloatSlider(label="Cut position (mm)", start=-110, end=110, step=1,
                                             value=state.cut_mm, width=250)
        self.cut_mm.link(state, value_throttled="cut_mm")
        # buttons, not a radio group: after the user turned the head, the view chosen last (still
        # "selected" in a radio group) must bring its standard camera back when pressed again
        view_buttons = []
        for v in VIEWS:
            b = pn.widgets.Button(label=v.replace("three_quarter_", "3/4 ").capitalize(), width=52, margin=(2, 1))
            b.on_click(functools.partial(self._choose_view, v))
            view_buttons.append(b)
        self.views = pn.Row(*view_buttons, css_classes=["views"])
        self.landmarks = pn.widgets.Checkbox.from_param(state.param.show_landmarks, label="Landmark labels")
        self._layout = pn.Card(pn.Column(*rows), pn.pane.Markdown("**Cut plane**"), self.cut_axis,
                               self.cut_mm, pn.pane.Markdown("**View**"), self.views, self.landmarks,
                               title="Layers and view", width=300)

    def _choose_view(self, view: str, _e: Any = None) -> None:
        if self.state.view == view:
            self.state.param.trigger("view")  # the same view again: its camera again
        else:
            self.state.view = view

    def _visible(self, group: str, event: param.parameterized.Event) -> None:
        self.state.set_layer(group, visible=event.new)

    def _opacity(self, group: str, event: param.parameterized.Event) -> None:
        self.state.set_layer(group, opacity=event.new)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class PlanPanel(pn.viewable.Viewer):
    """The plan's points, the product, and the selected point's controls."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.model = state, analyst, model
        #: groups an edit's changes into one update of the page (the scene's batch, set by the app)
        self.batch: Any = contextlib.nullcontext
        self._updating = False
        self.table = pn.widgets.Tabulator(self._points_frame(), show_index=False, selectable=1,
                                          disabled=True, height=220, width=560, css_classes=["plan-table"],
                                          layout="fit_data_table")
        self.table.param.watch(self._on_table_select, "selection")
        names = product_names()
        self.product = pn.widgets.Select(label="Product", options=names, value=state.product["name"],
                                         width=200)
        self.product.param.watch(self._on_product, "value")
        self.depth = pn.widgets.EditableFloatSlider(label="Depth (mm)", start=0.0, end=20.0, fixed_start=0.0,
                                                    fixed_end=40.0, step=0.5, value=2.0, width=250)
        self.units = pn.widgets.FloatInput(label="Units", start=0.0, end=400.0, step=0.5, value=4.0, width=90)
        self.angle = pn.widgets.FloatInput(label="Angle (deg)", start=0.0, end=89.0, step=5.0, value=0.0,
                                           width=90)
        lms = landmark_ids()
        self.toward = pn.widgets.Select(label="toward", options=["(none)"] + lms, width=170)
        self.target = pn.widgets.Select(label="Target", options=_structure_options(model), width=260)
        self.suggest = pn.widgets.Button(label="Target = structure at tip", width=200)
        for w in (self.depth, self.units, self.angle, self.toward, self.target):
            w.param.watch(self._on_point_edit, "value")
        self.suggest.on_click(self._on_suggest)
        self.nudges = []
        for label, direction in (("Up", "superior"), ("Down", "inferior"), ("Medial", "medial"),
                                 ("Lateral", "lateral")):
            b = pn.widgets.Button(label=label, width=70)
            b.on_click(functools.partial(self._on_nudge, direction))
            self.nudges.append(b)
        self.nudge_step = pn.widgets.FloatInput(label="Step (mm)", value=2.0, start=0.5, end=20.0, step=0.5,
                                                width=80)
        self.delete = pn.widgets.Button(label="Delete point", color="danger", width=110)
        self.delete.on_click(self._on_delete)
        self.mirror = pn.widgets.Button(label="Mirror point", width=110)
        self.mirror.on_click(self._on_mirror)
        self.mirror_all = pn.widgets.Button(label="Mirror all", width=100)
        self.mirror_all.on_click(lambda _e: self._guard(lambda: self.state.mirror()))
        self.undo = pn.widgets.Button(label="Undo", width=80, disabled=True)
        self.redo = pn.widgets.Button(label="Redo", width=80, disabled=True)
        self.undo.on_click(lambda _e: self._guard(self.state.undo))
        self.redo.on_click(lambda _e: self._guard(self.state.redo))
        self.landmark = pn.widgets.Select(label="Landmark", options=lms, value="glabella", width=200)
        self.sup = pn.widgets.FloatInput(label="superior mm", value=0.0, step=1.0, width=90)
        self.lat = pn.widgets.FloatInput(label="lateral mm", value=0.0, step=1.0, width=90)
        self.ant = pn.widgets.FloatInput(label="anterior mm", value=0.0, step=1.0, width=90)
        self.place = pn.widgets.Button(label="Place at landmark", color="primary", width=160)
        self.place.on_click(self._on_place)
        self.selected_title = pn.pane.Markdown("", width=540)
        state.param.watch(self._refresh_table, ["points"])
        analyst.param.watch(self._refresh_table, ["results"])
        state.param.watch(self._on_selected, ["selected"])
        state.param.watch(self._on_history, ["can_undo", "can_redo"])
        state.param.watch(lambda e: setattr(self.product, "value", e.new["name"]), ["product"])
        self._on_selected()

    # ------------------------------------------------------------ table
    def _points_frame(self) -> Any:
        import pandas as pd

        rows = []
        plan = self.state.plan_dict()
        for p in plan["points"]:
            r = self.analyst.results.get(p["id"])
            where = p["at"]["landmark"] if "at" in p else "skin point"
            product = (p.get("product") or plan["product"])["name"]
            rows.append({"id": p["id"], "units": float(p.get("units", 0.0)),
                         "product": product.replace("botulinumtoxinA", ""),
                         "depth_mm": p.get("depth_mm", r.depth_mm if r else None), "target": p.get("target", ""),
                         "at": where, "tip_in": (r.tip_in if r else None) or "",
                         "worst": worst_severity(r.findings) if r else "?"})
        cols = ["id", "units", "product", "depth_mm", "target", "at", "tip_in", "worst"]
        return pd.DataFrame(rows, columns=cols)

    def _refresh_table(self, *_: Any) -> None:
        self.table.value = self._points_frame()
        self._select_row()
        self._on_selected()

    def _select_row(self) -> None:
        ids = self.state.point_ids()
        sel = [ids.index(self.state.selected)] if self.state.selected in ids else []
        if self.table.selection != sel:
            self._updating = True
            try:
                self.table.selection = sel
            finally:
                self._updating = False

    def _on_table_select(self, event: param.parameterized.Event) -> None:
        if self._updating or not event.new:
            return
        ids = self.state.point_ids()
        if event.new[0] < len(ids):
            with self.batch():
                self.state.selected = ids[event.new[0]]

    # ------------------------------------------------------------ selected point
    def _on_selected(self, *_: Any) -> None:
        self._select_row()
        pid = self.state.selected
        if not pid or pid not in self.state.point_ids():
            self.selected_title.object = "*No point selected: click one in the table, or place one.*"
            return
        p = self.state.point(pid)
        r = self.analyst.results.get(pid)
        self._updating = True
        try:
            depth = p.get("depth_mm", r.depth_mm if r else 0.0) or 0.0
            self.depth.value = float(depth)
            self.units.value = float(p.get("units", 0.0))
            self.angle.value = float(p.get("angle_deg", 0.0))
            self.toward.value = p.get("toward", "(none)")
            target = p.get("target", "")
            self.target.value = target if target in self.target.options.values() else ""
        finally:
            self._updating = False
        tip = (r.tip_in if r else None) or "?"
        self.selected_title.object = (f"**Point {pid}**: {p.get('units', 0)} U, tip in `{tip}` "
                                      f"(layer {r.layer if r else '?'}), target {p.get('target', 'none')}")

    def _guard(self, fn: Any) -> None:
        try:
            with self.batch():  # the edit's tables, panels and scene reach the browser as one patch
                fn()
        except (KeyError, ValueError, PlanError) as exc:
            self.state.message = f"Not done: {exc}"

    def _on_point_edit(self, *_: Any) -> None:
        if self._updating or not self.state.selected:
            return
        angle = float(self.angle.value or 0.0)
        toward = None if self.toward.value == "(none)" else self.toward.value
        changes: dict[str, Any] = {"depth_mm": float(self.depth.value), "units": float(self.units.value),
                                   "target": self.target.value or None}
        if angle > 0 and toward:
            changes.update(angle_deg=angle, toward=toward)
        else:
            changes.update(angle_deg=None, toward=None)
        self._guard(lambda: self.state.update_point(self.state.selected, **changes))

    def _on_suggest(self, _e: Any) -> None:
        r = self.analyst.results.get(self.state.selected)
        sid = r.tip_in if r else None
        if sid and sid in self.model.structures:
            self._guard(lambda: self.state.update_point(self.state.selected, target=sid))

    def _on_nudge(self, direction: str, _e: Any) -> None:
        if self.state.selected:
            step = float(self.nudge_step.value)
            self._guard(lambda: self.state.nudge(self.state.selected, direction, step))

    def _on_delete(self, _e: Any) -> None:
        if self.state.selected:
            self._guard(lambda: self.state.delete_point(self.state.selected))

    def _on_mirror(self, _e: Any) -> None:
        if self.state.selected:
            self._guard(lambda: self.state.mirror(self.state.selected))

    def _on_place(self, _e: Any) -> None:
        self._guard(lambda: self.state.place_by_landmark(
            self.landmark.value, superior_mm=float(self.sup.value or 0),
            lateral_mm=float(self.lat.value or 0), anterior_mm=float(self.ant.value or 0)))

    def _on_product(self, event: param.parameterized.Event) -> None:
        if event.new == self.state.product["name"]:
            return
        info = product_info(event.new)
        self._guard(lambda: self.state.set_product({"name": info.name,
                                                    "units_per_vial": info.default_units_per_vial,
                                                    "diluent_ml": info.default_diluent_ml}))

    def _on_history(self, *_: Any) -> None:
        self.undo.disabled = not self.state.can_undo
        self.redo.disabled = not self.state.can_redo

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(
            pn.Row(self.product, self.undo, self.redo),
            self.table,
            self.selected_title,
            pn.Row(self.depth, self.units, self.angle, self.toward),
            pn.Row(self.target, self.suggest),
            pn.Row(*self.nudges, self.nudge_step),
            pn.Row(self.delete, self.mirror, self.mirror_all),
            pn.pane.Markdown("**Place by landmark**"),
            pn.Row(self.landmark, self.sup, self.lat, self.ant),
            self.place,
            title="Plan", width=600)


class FindingsPanel(pn.viewable.Viewer):
    """The findings of the plan; selecting one selects its point and highlights its structure."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst = state, analyst
        #: groups a selection's changes into one update of the page (the scene's batch, set by the app)
        self.batch: Any = contextlib.nullcontext
        self._rows: list[dict[str, Any]] = []
        colours = {k: f"background-color: {v}33" for k, v in SEVERITY_COLOURS.items()}
        self.table = pn.widgets.Tabulator(self._frame(), show_index=False, selectable=1, disabled=True,
                                          height=260, width=860, css_classes=["findings-table"],
                                          layout="fit_columns", widths={"message": 420})
        self.table.style.apply(lambda s: [colours.get(v, "") for v in s], subset=["severity"])
        self.table.param.watch(self._on_select, "selection")
        self.errors = pn.pane.Alert("", alert_type="danger", visible=False, width=860)
        analyst.param.watch(self._refresh, ["results", "plan_findings", "errors"])

    def _frame(self) -> Any:
        import pandas as pd

        self._rows = self.analyst.finding_rows()
        cols = ["point", "severity", "code", "structure", "distance_mm", "message"]
        return pd.DataFrame(self._rows, columns=cols)

    def _refresh(self, *_: Any) -> None:
        self.table.value = self._frame()
        self.errors.object = "\n\n".join(self.analyst.errors)
        self.errors.visible = bool(self.analyst.errors)

    def _on_select(self, event: param.parameterized.Event) -> None:
        if not event.new or event.new[0] >= len(self._rows):
            return
        row = self._rows[event.new[0]]
        with self.batch():
            if row["point"]:
                self.state.selected = row["point"]
            self.state.highlight = ""
            self.state.highlight = row["structure"]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.pane.Markdown("### Findings"), self.errors, self.table)


class StructurePanel(pn.viewable.Viewer):
    """What the highlighted structure (or the one at the selected tip) is and does, and its display:
    shown or hidden, and its own opacity, inside its layer."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.model = state, analyst, model
        self.sid = ""
        self._updating = False
        self.text = pn.pane.Markdown("", width=280)
        self.shown = pn.widgets.Checkbox(label="Show this structure", value=True, css_classes=["structure-shown"])
        self.opacity = pn.widgets.FloatSlider(label="Its opacity", start=0.0, end=1.0, step=0.05, value=1.0,
                                              width=250, css_classes=["structure-opacity"])
        self.follow = pn.widgets.Button(label="Follow its layer", width=115)
        self.show_all = pn.widgets.Button(label="Show every structure", width=145)
        self.controls = pn.Column(self.shown, self.opacity, pn.Row(self.follow, self.show_all), visible=False)
        self.shown.param.watch(self._on_shown, "value")
        self.opacity.param.watch(self._on_opacity, "value_throttled")
        self.follow.on_click(lambda _e: self.state.reset_structure_display(self.sid or None))
        self.show_all.on_click(lambda _e: self.state.reset_structure_display())
        state.param.watch(self._refresh, ["highlight", "selected", "structure_display", "layer_opacity"])
        analyst.param.watch(self._refresh, ["results"])
        self._refresh()

    def _on_shown(self, event: param.parameterized.Event) -> None:
        if not self._updating and self.sid:
            self.state.set_structure_display(self.sid, visible=bool(event.new))

    def _on_opacity(self, event: param.parameterized.Event) -> None:
        if not self._updating and self.sid:
            self.state.set_structure_display(self.sid, opacity=float(event.new))

    def _refresh(self, *_: Any) -> None:
        r = self.analyst.results.get(self.state.selected)
        sid = self.state.highlight or (r.tip_in if r else None) or ""
        s = self.model.structures.get(sid)
        self.sid = sid if s is not None else ""
        self._refresh_controls()
        if s is None:
            self.text.object = "*Select a finding or a point to see the structure.*"
            return
        lines = [f"#### {s.name}", f"`{s.id}` ({s.kind}, {s.side}, layer {s.layer})",
                 f"**What it does:** {s.action}", f"**If weakened:** {s.weakened}"]
        for f in r.findings if r else ():
            if f.structure == sid and f.distance_mm is not None:
                lines.append(f"**At point {self.state.selected}:** {f.distance_mm:.1f} mm from the "
                             f"sphere of effect ({f.severity.value}).")
                break
        if r is not None and r.tip_in == sid:
            lines.append(f"**At point {self.state.selected}:** the needle tip lies in it "
                         f"(depth {r.depth_mm:.1f} mm).")
        if r is not None:
            lines.append(self._depth_line(sid, r))
        self.text.object = "\n\n".join(lines)

    def _depth_line(self, sid: str, r: PointResult) -> str:
        """Where the structure lies along the selected point's needle line (depths below the skin)."""
        spans = depths_along(self.model, r.entry_mm, r.tip_mm, sid)
        where = f"**Depth here** (along point {self.state.selected}'s needle):"
        if not spans:
            return f"{where} not on this line within 40 mm."
        text = ", ".join(f"{a:.1f}-{b:.1f} mm" for a, b in spans)
        return f"{where} {text} below the skin."

    def _refresh_controls(self) -> None:
        """The display controls show the structure's own settings, or its layer's."""
        self.controls.visible = bool(self.sid)
        if not self.sid:
            return
        entry = self.state.structure_display.get(self.sid, {})
        group = layer_group(self.model.structures[self.sid]) or "muscles"
        self._updating = True
        try:
            self.shown.value = entry.get("visible", True) is not False
            self.opacity.value = float(entry.get("opacity", self.state.layer_opacity.get(group, 1.0)))
        finally:
            self._updating = False

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(self.text, self.controls, title="Structure", width=300)


class FilePanel(pn.viewable.Viewer):
    """Open, download and autosave the plan; export a screenshot and the scene."""

    def __init__(self, state: AppState, scene_view: SceneView, session_id: str, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.scene_view, self.session_id = state, scene_view, session_id
        self.upload = pn.widgets.FileInput(accept=".json", label="Open plan", width=250)
        self.upload.param.watch(self._on_upload, "value")
        self.download = pn.widgets.FileDownload(callback=self._plan_bytes, filename="plan.json",
                                                label="Download plan", color="success", width=250)
        self.png = pn.widgets.FileDownload(callback=self._png_bytes, filename="injectmap.png",
                                           label="Screenshot (PNG)", width=250)
        self.gltf = pn.widgets.FileDownload(callback=self._gltf_bytes, filename="injectmap-scene.gltf",
                                            label="Scene (glTF)", width=250)
        self.status = pn.pane.Markdown("", width=280)
        self.autosave_path = autosave_dir() / f"{session_id}.json"
        state.param.watch(self._autosave, ["points", "product", "extra"])  # extra: the face
        state.param.watch(lambda e: setattr(self.status, "object", e.new), ["message"])

    def _plan_bytes(self) -> io.BytesIO:
        return io.BytesIO(self.state.to_json().encode("utf-8"))

    def _png_bytes(self) -> io.BytesIO:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.scene_view.scene.screenshot()).save(buf, format="PNG")
        buf.seek(0)
        return buf

    def _gltf_bytes(self) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "scene.gltf"
            self.scene_view.scene.export_gltf(str(path))
            return io.BytesIO(path.read_bytes())

    def _on_upload(self, event: param.parameterized.Event) -> None:
        if not event.new:
            return
        try:
            plan = loads_plan(event.new, source=self.upload.filename or "upload")
        except PlanError as exc:
            self.state.message = "Not opened: " + "; ".join(str(e) for e in exc.errors[:5])
            return
        self.state.load_plan(plan_to_dict(plan))
        self.state.message = f"Opened {self.upload.filename} ({len(plan.points)} points)."

    def _autosave(self, *_: Any) -> None:
        try:
            plan = parse_plan(self.state.plan_dict())
        except PlanError:
            return
        try:
            self.autosave_path.parent.mkdir(parents=True, exist_ok=True)
            save_plan(plan, self.autosave_path)
        except OSError as exc:
            self.status.object = f"Autosave failed: {exc}"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(pn.pane.Markdown("Open a plan (.json)"), self.upload, self.download, self.png,
                       self.gltf, self.status, title="Files", width=300)


# ---------------------------------------------------------------------------------------- the app
def create_app(model: Any = None, plan: dict[str, Any] | None = None) -> pn.viewable.Viewable:
    """One session's app: its own state, analysis and scene over the shared read-only model."""
    t0 = time.perf_counter()
    model = model if model is not None else get_model()
    state = AppState(snap=model.skin_point)
    state.load_plan(plan if plan is not None else demo_plan(), undoable=False)
    analyst = PlanAnalyst(state, model)
    scene_view = SceneView(state, analyst, model)
    session_id = uuid.uuid4().hex[:12]
    mode = pn.widgets.RadioButtonGroup.from_param(state.param.mode, options=list(MODES), color="light")
    header = pn.Row(pn.pane.Markdown("## injectmap: botulinum toxin injection map", margin=(0, 10)), mode,
                    scene_view.place_toggle)
    disclaimer = pn.pane.Markdown(f"*{DISCLAIMER}*", width=860)
    training = TrainingPanel(state, model)  # shows itself in training mode only
    education = EducationPanel(state, analyst, scene_view)  # shows itself in patient education mode only
    plan_panel, structure_panel = PlanPanel(state, analyst, model), StructurePanel(state, analyst, model)
    plan_panel.batch = scene_view.batch
    findings = FindingsPanel(state, analyst)
    findings.batch = scene_view.batch

    def switch_model(new: Any) -> None:  # the face of the plan changed: every part uses the new one
        state.set_snap(new.skin_point)
        plan_panel.model = structure_panel.model = training.model = new
        scene_view.set_model(new)
        analyst.set_model(new)

    face = FacePanel(state, model, switch_model)
    if "model" in state.extra:  # the starting plan names a face
        face.request(plan_face(state.extra["model"]), write_plan=False)
    layout = pn.Column(
        header,
        _shown_from_mode(training, state, "training"),
        _shown_from_mode(education, state, "patient education"),
        pn.Row(
            pn.Column(LayerPanel(state), structure_panel, FilePanel(state, scene_view, session_id), face),
            pn.Column(scene_view, disclaimer, findings),
            plan_panel,
        ),
    )
    layout.app_state = state  # for tests and notebooks: the session's state and analysis
    layout.app_analyst = analyst
    layout.app_scene = scene_view
    layout.app_structure = structure_panel
    layout.app_training = training
    layout.app_education = education
    layout.app_face = face
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        doc.on_session_destroyed(lambda _ctx: release_session(layout))
    log.info("session app built in %.0f ms", (time.perf_counter() - t0) * 1000.0)
    return layout


def _shown_from_mode(panel: pn.viewable.Viewer, state: AppState, mode: str) -> pn.Column:
    """A slot that gets ``panel`` the first time ``mode`` is chosen: a page that never opens the
    mode does not build its (hidden) widgets in the browser; the panel shows and hides itself."""
    slot = pn.Column(panel) if state.mode == mode else pn.Column()

    def fill(event: param.parameterized.Event) -> None:
        if event.new == mode and not slot.objects:
            slot.objects = [panel]

    state.param.watch(fill, ["mode"])
    return slot


#: inner widgets of Panel's composite widgets that register JavaScript callbacks
_LINKED_PARTS = ("_value_edit", "_slider", "_start_edit", "_end_edit", "_text")


def release_session(layout: pn.viewable.Viewable) -> None:
    """Free what a closed session would otherwise leave in the server process for good (about 9 MB
    per session, measured): PyVista keeps every plotter in a module-level registry until it is
    closed, and Panel's registry of JavaScript callbacks (a weak-key dictionary whose values refer
    back to their keys, e.g. the depth slider's number box) keeps the whole session's objects alive.
    """
    from panel.links import Callback

    layout.app_scene.close()
    # the mode panels are in the layout only once their mode was chosen
    roots = [layout, pn.panel(layout.app_training), pn.panel(layout.app_education)]
    for obj in (o for root in roots for o in root.select()):
        for part in (obj, *(getattr(obj, name, None) for name in _LINKED_PARTS)):
            if part is not None:
                Callback.registry.pop(part, None)


def serve(port: int = 5006, host: str = "127.0.0.1", password: str | None = None) -> None:
    """Serve the app (blocking). A host other than loopback needs a password (basic auth).

    Raises
    ------
    SystemExit
        For a non-loopback host without a password.
    """
    if host not in LOOPBACK and not password:
        raise SystemExit(
            f"Refusing to serve on {host}: the app would be reachable from other machines without a "
            "password. Give a password (injectmap serve --password ...) or serve on 127.0.0.1.")
    start_warm_up()  # the model loads while the server starts and the first page's scripts load
    print(f"injectmap: serving on http://{host}:{port}/ (the face model is loading)", flush=True)
    kwargs: dict[str, Any] = {}
    if password:
        kwargs["basic_auth"] = password
        kwargs["cookie_secret"] = uuid.uuid4().hex
    origin = [f"{host}:{port}"] + ([f"localhost:{port}"] if host in LOOPBACK else [])
    pn.serve({"/": session_page}, port=port, address=host, show=False, title="injectmap",
             websocket_origin=origin, **kwargs)


if __name__.startswith("bokeh"):
    # `panel serve viewer/app.py` runs this file as a new module per session: build the session from
    # the imported package so that the model and display caches are shared by the process
    from injectmap.viewer.app import session_page as _session_page
    from injectmap.viewer.app import start_warm_up as _start_warm_up

    _start_warm_up()  # once per process: this file runs again for every session
    _session_page().servable(title="injectmap")
