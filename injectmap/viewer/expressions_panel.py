"""The Expressions card: what the plan does to the frown, the brows and the smile, on the face, per day.

Pick an expression (or all), a day after the session (0, 3, 7, 14, 30, 90, 120), at rest or performing
it, and before treatment or on that day; side by side puts the face before treatment in a second
canvas, left of the 3D view, with the same camera. The numbers beside it: each side's strength with its
band, the brows' heights at rest and raised and the mouth corner's excursion in mm per side, and the
caveat that it is a population heuristic (docs/expressions.md).

The model is :mod:`teaching.expressions`; :class:`ExpressionFrames` turns its displacements of the
refined skin into the displayed (reduced) skin's points, and the scene sends a frame to the browser as
the skin's new points alone (:meth:`viewer.scene.Scene.set_skin_points`, :mod:`viewer.scene_canvas`).
The work runs in the analysis threads, off the server's event loop; a newer choice drops an older one.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import panel as pn
import param
from scipy.spatial import cKDTree

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.teaching import expressions as ex
from injectmap.viewer.analysis import analysis_executor
from injectmap.viewer.scene_canvas import SceneCanvas
from injectmap.viewer.scene_view import SCENE_HEIGHT, SceneView
from injectmap.viewer.state import AppState
from injectmap.viewer.text import error_words, log_unexpected

log = logging.getLogger("injectmap.viewer")

#: the card's choices (label -> expression of teaching/data/expressions.yaml, or "all")
EXPRESSIONS: dict[str, str] = {
    "frown": "frown", "raise brows": "brow_raise", "squint": "squint", "smile": "smile",
    "mouth corners down": "mouth_corner_down", "chin": "chin", "neck bands": "neck_bands", "all": "all",
}
#: the day slider (issue 14): days after the initial session
DAYS = (0, 3, 7, 14, 30, 90, 120)
#: the measures shown (teaching/data/expressions.yaml), with their labels
MEASURES: dict[str, str] = {"brow_height_rest_mm": "brow height at rest",
                            "brow_height_raised_mm": "brow height raised",
                            "smile_corner_excursion_mm": "mouth corner in the smile"}
CAVEAT = ("A population heuristic (an average head, average spread and timeline): for teaching and for "
          "talking a plan through, never a promise for one patient.")
#: previews kept per session (plan and day): moving the slider back and forth recomputes nothing
PREVIEWS_KEPT = 16
_NEAREST_KEY = "viewer.expressions.nearest"


def _nearest_refined(model: Any, rest_points: np.ndarray) -> np.ndarray:
    """For each displayed (reduced) skin point, the refined skin's nearest vertex (kept per face): the
    refined skin's displacements carry to the displayed one through it."""
    from injectmap.viewer.scene import derived

    kept = derived(model).get(_NEAREST_KEY)
    if kept is not None and len(kept) == len(rest_points):
        return kept
    _d, idx = cKDTree(np.asarray(model.skin.points, dtype=float)).query(rest_points)
    idx = np.asarray(idx, dtype=np.int64)
    derived(model)[_NEAREST_KEY] = idx
    return idx


@dataclass(frozen=True)
class Frame:
    """One choice of the card, computed: the preview on the day and the displayed skin's points."""

    result: ex.Preview
    main: np.ndarray  # (n, 3) the 3D view's skin
    before: np.ndarray | None  # (n, 3) the face before treatment (side by side), else None
    ms: float


class ExpressionFrames:
    """The card's computation (no widgets): previews per plan and day, and the displayed skin's points.

    Parameters
    ----------
    model : FaceModel
    rest_points : (n, 3) float
        The displayed skin at rest (:attr:`viewer.scene.Scene.rest_skin_points`).
    """

    def __init__(self, model: Any, rest_points: np.ndarray) -> None:
        self.model = model
        self.rest = np.asarray(rest_points, dtype=float)
        self.nearest = _nearest_refined(model, self.rest)
        self._previews: OrderedDict[tuple[str, int], ex.Preview] = OrderedDict()
        self._untreated: dict[str, np.ndarray] = {}

    def preview(self, plan: dict[str, Any], day: int) -> ex.Preview:
        key = (json.dumps(plan, sort_keys=True, default=str), int(day))
        got = self._previews.get(key)
        if got is None:
            got = ex.preview(self.model, plan, day)
            self._previews[key] = got
            while len(self._previews) > PREVIEWS_KEPT:
                self._previews.popitem(last=False)
        return got

    def _names(self, expression: str) -> tuple[str, ...]:
        return ex.expression_names() if expression == "all" else (expression,)

    def displacement(self, result: ex.Preview | None, expression: str) -> np.ndarray:
        """(n, 3) the displayed skin's displacement performing ``expression`` ("all": every one at once)
        at the preview's strengths (None: untreated)."""
        if result is None:
            if expression not in self._untreated:
                self._untreated[expression] = sum(
                    (ex.expression_displacement(self.model, None, e) for e in self._names(expression)),
                    np.zeros((self.model.skin.n_points, 3)))[self.nearest]
            return self._untreated[expression]
        total = np.zeros((self.model.skin.n_points, 3))
        for e in self._names(expression):
            total += ex.expression_displacement(self.model, result, e)
        return total[self.nearest]

    def skin_points(self, result: ex.Preview | None, expression: str, performing: bool) -> np.ndarray:
        """The displayed skin's points: at rest (the brow lowered at rest by the plan) or performing."""
        pts = self.rest.copy()
        if result is not None:
            pts += ex.rest_displacement(self.model, result)[self.nearest]
        if performing:
            pts += self.displacement(result, expression)
        return pts

    def frame(self, plan: dict[str, Any], day: int, expression: str, performing: bool, after: bool,
              side_by_side: bool) -> Frame:
        t0 = time.perf_counter()
        result = self.preview(plan, day)
        main = self.skin_points(result if after or side_by_side else None, expression, performing)
        before = self.skin_points(None, expression, performing) if side_by_side else None
        return Frame(result, main, before, (time.perf_counter() - t0) * 1000.0)


def _strength_cell(b: ex.Band) -> str:
    return f"{b.mid:.2f} <small>({b.low:.2f}-{b.high:.2f})</small>"


def numbers_html(result: ex.Preview, expression: str) -> str:
    """The card's numbers: strength per side with its band (1 = untreated), then the measures in mm per
    side, before treatment and on the day. Our own words and numbers only (nothing from the plan)."""
    names = ex.expression_names() if expression == "all" else (expression,)
    label = {v: k for k, v in EXPRESSIONS.items()}
    day = int(result.day) if float(result.day).is_integer() else result.day
    rows = [f"<tr><th>day {html.escape(str(day))}</th><th>left</th><th>right</th></tr>"]
    for e in names:
        s = result.strengths[e]
        rows.append(f'<tr class="expr-strength" data-expression="{html.escape(e)}"><td>{html.escape(label.get(e, e))}'
                    f"</td><td>{_strength_cell(s['left'])}</td><td>{_strength_cell(s['right'])}</td></tr>")
    rows.append("<tr><th>mm (before)</th><th>left</th><th>right</th></tr>")
    for key, text in MEASURES.items():
        m = result.measures.get(key)
        if m is None:
            continue
        rows.append(f'<tr class="expr-measure" data-measure="{html.escape(key)}"><td>{html.escape(text)}</td>'
                    f"<td>{m.left:.1f} <small>({m.untreated_left:.1f})</small></td>"
                    f"<td>{m.right:.1f} <small>({m.untreated_right:.1f})</small></td></tr>")
    return ('<table class="expr-table" style="font-size:12px;border-collapse:collapse;width:100%">'
            + "".join(rows) + "</table>"
            + '<div style="font-size:11px;color:#555">Strength: 1 = untreated, 0 = no movement (band in '
            "brackets). " + html.escape(CAVEAT) + "</div>")


def _equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def _same_camera(a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return all(np.allclose(np.asarray(a[k], float), np.asarray(b[k], float), atol=1e-3)
                   for k in ("position", "focalPoint", "viewUp"))
    except (KeyError, TypeError, ValueError):
        return False


class ExpressionsPanel(pn.viewable.Viewer):
    """The Expressions card (see the module's docstring)."""

    expression: Any = param.Selector(default="frown", objects=list(EXPRESSIONS))
    day: Any = param.Selector(default=14, objects=list(DAYS))
    pose: Any = param.Selector(default="performing", objects=["at rest", "performing"])
    compare: Any = param.Selector(default="after", objects=["before", "after"])
    side_by_side = param.Boolean(default=False)
    on_face = param.Boolean(default=True, doc="Show the choice on the face while the card is open.")
    busy = param.Boolean(default=False)

    def __init__(self, state: AppState, scene_view: SceneView, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.scene_view = state, scene_view
        self._frames: ExpressionFrames | None = None
        self._generation = 0
        self.last_frame: Frame | None = None
        self._opacity_before: float | None = None
        doc = pn.state.curdoc
        self._doc = doc if doc is not None and doc.session_context is not None else None
        self.expression_select = pn.widgets.Select.from_param(self.param.expression, label="", width=120,
                                                              css_classes=["expr-choice"])
        self.pose_buttons = pn.widgets.RadioButtonGroup.from_param(self.param.pose, width=140,
                                                                   css_classes=["expr-pose"])
        self.day_slider = pn.widgets.DiscreteSlider.from_param(self.param.day, label="Day after the session",
                                                               width=260, css_classes=["expr-day"])
        self.compare_buttons = pn.widgets.RadioButtonGroup.from_param(self.param.compare, width=120,
                                                                      css_classes=["expr-compare"])
        self.side_box = pn.widgets.Checkbox.from_param(self.param.side_by_side, label="side by side",
                                                       css_classes=["expr-side"])
        self.face_box = pn.widgets.Checkbox.from_param(self.param.on_face, label="on the face",
                                                       css_classes=["expr-show"])
        self.numbers = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["expr-numbers"])
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["expr-status"], margin=(0, 5))
        self.before_canvas = SceneCanvas(sizing_mode="stretch_width", height=SCENE_HEIGHT, min_width=200,
                                         background=scene_view.canvas.background, css_classes=["expr-before"])
        self.before_canvas.on_camera = self._before_camera
        self._main_on_camera = scene_view.canvas.on_camera
        scene_view.canvas.on_camera = self._main_camera
        scene_view.canvas.param.watch(self._main_camera_set, ["camera"])
        scene_view.published.append(self._publish_before)
        self._layout = pn.Card(
            pn.Row(self.expression_select, self.pose_buttons, margin=0),
            self.day_slider,
            pn.Row(self.compare_buttons, pn.Column(self.side_box, self.face_box, margin=0)),
            self.status, self.numbers,
            title="Expressions", width=290, collapsed=True, css_classes=["expressions-card"])
        self._layout.param.watch(self._on_open, ["collapsed"])
        self.param.watch(self._on_choice, ["expression", "day", "pose", "compare", "side_by_side", "on_face"])
        state.param.watch(self._on_plan, ["points", "product"])

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        """The card is open: it computes (and, with ``on_face``, moves the face)."""
        return not self._layout.collapsed

    def frames(self) -> ExpressionFrames:
        model = self.scene_view.model
        if self._frames is None or self._frames.model is not model:
            self._frames = ExpressionFrames(model, self.scene_view.scene.rest_skin_points)
        return self._frames

    def _on_open(self, *_: Any) -> None:
        self.refresh()

    def _on_choice(self, *events: param.parameterized.Event) -> None:
        if any(e.name != "on_face" for e in events) and self.active:
            with param.parameterized.discard_events(self):
                self.on_face = True  # a choice is meant to be seen
            self.face_box.value = True
        self.refresh()

    def _on_plan(self, *_: Any) -> None:
        if self.active:
            self.refresh()

    # ------------------------------------------------------------------ work
    def refresh(self) -> None:
        """Compute the current choice (off the event loop when served) and show it."""
        self._generation += 1
        if not self.active:
            self._show_rest()
            return
        try:
            plan = self.state.plan_dict()
            parse_plan(plan)
        except PlanError as exc:
            self.status.object = "*The plan has errors: " + "; ".join(html.escape(str(e)) for e in exc.errors[:2]) + "*"
            return
        args = (plan, int(self.day), EXPRESSIONS[self.expression], self.pose == "performing",
                self.compare == "after", bool(self.side_by_side and self.on_face))
        frames = self.frames()
        if self._doc is None:
            self._apply(self._generation, self._compute(frames, args))
            return
        self.busy = True
        self.status.object = "*Computing...*"
        analysis_executor().submit(self._background, self._generation, frames, args)

    @staticmethod
    def _compute(frames: ExpressionFrames, args: tuple[Any, ...]) -> Frame | str:
        try:
            return frames.frame(*args)
        except Exception as exc:  # shown in the card instead of a silent failure (never an internal fault's text)
            log_unexpected(log, "the expression preview", exc)
            return f"the preview failed: {error_words(exc)}"

    def _background(self, generation: int, frames: ExpressionFrames, args: tuple[Any, ...]) -> None:
        out = self._compute(frames, args)
        if generation != self._generation or self._doc is None:
            return
        try:
            self._doc.add_next_tick_callback(functools.partial(self._apply, generation, out))
        except Exception:  # the session has ended meanwhile
            log.debug("expression frame not delivered: the session has ended")

    def _apply(self, generation: int, out: Frame | str) -> None:
        if generation != self._generation:
            return
        self.busy = False
        if isinstance(out, str):
            self.status.object = "*" + html.escape(out) + "*"
            return
        self.last_frame = out
        self.numbers.object = numbers_html(out.result, EXPRESSIONS[self.expression])
        what = "performing" if self.pose == "performing" else "at rest"
        if not self.on_face:
            self.status.object = ""
            self._show_rest()
            return
        if self.side_by_side:
            self.status.object = f"Left: before treatment; right: day {int(self.day)}, {what}."
        else:
            when = f"day {int(self.day)}" if self.compare == "after" else "before treatment"
            self.status.object = f"The face: {when}, {what}."
        self._opaque_skin(True)
        self.scene_view.set_plain_points(True)  # needles and spheres would hide the movement
        scene = self.scene_view.scene
        same = _equal(scene.skin_points, out.main) and _equal(self._before_points, out.before)
        if not same or self.scene_view._points_pending:
            scene.set_skin_points(out.main)
            self._before_points = out.before
            self.beside(self.side_by_side)
            self.scene_view.sync()
        log.info("expression frame in %.0f ms", out.ms)

    def _show_rest(self) -> None:
        """The face at rest again (the card closed or the face not asked for)."""
        self._before_points = None
        self.beside(False)
        self._opaque_skin(False)
        if self.scene_view.scene.skin_points is not None or self.scene_view.plain_points:
            self.scene_view.set_plain_points(False)
            self.scene_view.scene.set_skin_points(None)
            self.scene_view.sync()

    def _opaque_skin(self, on: bool) -> None:
        """An expression is seen on an opaque skin; the user's opacity comes back after."""
        op = dict(self.state.layer_opacity)
        if on and self._opacity_before is None:
            self._opacity_before = float(op.get("skin", 1.0))
            self.state.layer_opacity = {**op, "skin": 1.0}
        elif not on and self._opacity_before is not None:
            self.state.layer_opacity = {**op, "skin": self._opacity_before}
            self._opacity_before = None

    # ------------------------------------------------------------------ the second canvas
    _before_points: np.ndarray | None = None

    def beside(self, on: bool) -> None:
        """Show (or take away) the canvas of the face before treatment, left of the 3D view."""
        slot = self.scene_view.beside
        if on and not slot.objects:
            slot.objects = [self.before_canvas]
            self._known_before = self.scene_view.scene.camera_dict()
            self.before_canvas.set_camera(self._known_before)
            self.before_canvas.labels = [{"text": "before treatment", "xyz": self._caption_xyz(), "kind": "landmark"}]
        elif not on and slot.objects:
            slot.objects = []
        slot.visible = on

    def _caption_xyz(self) -> list[float]:
        """Where the caption of the face before treatment stands: high on the forehead, left of the midline."""
        g = np.asarray(self.scene_view.model.landmarks["glabella"], dtype=float)
        return [round(float(v), 2) for v in g + np.array([-40.0, 55.0, -10.0])]

    def before_actors(self) -> dict[str, Any]:
        """The 3D view's actors with the skin before treatment in place of its skin."""
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

        scene = self.scene_view.scene
        actors = dict(scene.plotter.renderer.actors)
        skin = scene.actors.get("skin")
        if skin is not None and self._before_points is not None:
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(scene._clip(scene.skin_mesh(self._before_points)))
            mapper.SetScalarVisibility(skin.GetMapper().GetScalarVisibility())
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.SetProperty(skin.GetProperty())
            actor.SetVisibility(skin.GetVisibility())
            actor.SetPickable(False)
            actors["group_skin"] = actor
        return actors

    def _publish_before(self) -> None:
        if self.scene_view.beside.objects and self._before_points is not None:
            self.before_canvas.publish(self.before_actors())

    # ------------------------------------------------------------------ one camera for both
    # each canvas sends the camera the user turned it to; the other one is set to it, unless it is
    # there already (which ends the echo of a camera set from Python)
    _known_main: dict[str, Any] = {}
    _known_before: dict[str, Any] = {}

    def _main_camera(self, cam: dict[str, list[float]]) -> None:
        if self._main_on_camera is not None:
            self._main_on_camera(cam)
        self._known_main = cam
        self._to_before(cam)

    def _main_camera_set(self, event: param.parameterized.Event) -> None:
        self._known_main = event.new
        self._to_before(event.new)

    def _to_before(self, cam: dict[str, Any]) -> None:
        if self.scene_view.beside.objects and cam and not _same_camera(self._known_before, cam):
            self._known_before = cam
            self.before_canvas.set_camera({k: cam[k] for k in ("position", "focalPoint", "viewUp")})

    def _before_camera(self, cam: dict[str, list[float]]) -> None:
        self._known_before = cam
        if not _same_camera(self._known_main, cam):
            self._known_main = cam
            self.scene_view.scene.set_camera(cam)
            self.scene_view.canvas.set_camera(cam)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
