"""Patient-education mode: a guided walkthrough of the plan, the timeline, passing effects and aftercare.

:class:`EducationPanel` shows itself only while the session's mode is ``"patient education"``. The
steps come from :func:`teaching.education.walkthrough` (plain words, from a data file with sources);
each carries a camera view and the layers to show, which the panel applies through the session state
(the scene view follows the state) and, for the treated muscle, the scene's highlight. Nothing is
computed here.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.results import PointResult
from injectmap.reports.figures import timeline_figure
from injectmap.teaching import education
from injectmap.viewer.expression_stills_panel import ExpressionStillsView
from injectmap.viewer.state import AppState
from injectmap.viewer.text import plain

EDUCATION_MODE = "patient education"
#: the muscles layer's opacity while a step shows one muscle: project choice, the others stay visible
#: as context but clearly behind the step's muscle
FADED_MUSCLES = 0.3
#: the timeline picture's width in the walkthrough's column (px): the right column (layout.PLAN_WIDTH) less its
#: card's padding, measured at 1366x768 (tests/browser/test_patient_view.py). The figure is drawn at that size
#: (at twice the pixels, for sharp text), so its text shows at the size it is set in
TIMELINE_WIDTH_PX = 410
#: the timeline's text size (pt, shown as px: see TIMELINE_WIDTH_PX): the page's small print
TIMELINE_TEXT_PT = 12.0
#: the timeline's resolution: twice the page's pixels
TIMELINE_DPI = 144


def walkthrough_timeline(plan: Any) -> Any:
    """The walkthrough's timeline figure of a plan: drawn at the size it is shown (:data:`TIMELINE_WIDTH_PX`), its
    text in the page's small print (:data:`TIMELINE_TEXT_PT`), its title said above it by the panel."""
    return timeline_figure(plan, figsize=(TIMELINE_WIDTH_PX / 72.0, 4.6), text_pt=TIMELINE_TEXT_PT, title=False)


class EducationPanel(pn.viewable.Viewer):
    """Previous/Next through the walkthrough; the plan's points in plain words; timeline; effects; aftercare."""

    step_index = param.Integer(default=0, bounds=(0, None), doc="The step shown.")

    def __init__(self, state: AppState, analyst: Any = None, scene_view: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.scene_view = state, analyst, scene_view
        self.steps: list[education.Step] = []
        self._figure: Any = None
        self._plan: Any = None
        self.prev_button = pn.widgets.Button(label="< Previous", width=120, css_classes=["education-prev"])
        self.next_button = pn.widgets.Button(label="Next >", color="primary", width=120,
                                             css_classes=["education-next"])
        self.prev_button.on_click(lambda _e: self.previous())
        self.next_button.on_click(lambda _e: self.next())
        self.counter = pn.pane.Markdown("", width=110, css_classes=["education-counter"])
        self.step_text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["education-step"])
        self.points_text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["education-points"])
        self.timeline_heading = pn.pane.Markdown(
            "#### Expected effect over time\n\n*The shaded band is the usual range, not a promise.*",
            sizing_mode="stretch_width", css_classes=["education-timeline-heading"])
        self.timeline = pn.pane.Matplotlib(None, tight=True, format="png", dpi=TIMELINE_DPI,
                                           sizing_mode="stretch_width", css_classes=["education-timeline"])
        self.effects_text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["education-effects"])
        self.aftercare_text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["education-aftercare"])
        # needles, spheres of effect and warning colours are for the clinician: hidden unless asked
        self.zones = pn.widgets.Checkbox.from_param(state.param.education_zones, label="Show needles and zones",
                                                    css_classes=["education-zones"])
        # the treated expression before, at two weeks and at three months (rendered when asked for)
        self.expression_stills = ExpressionStillsView(state, analyst)
        # beside the 3D view (the page's right column, docs/layout.md): the step first, the rest below
        self._layout = pn.Card(
            pn.Row(self.prev_button, self.counter, self.next_button),
            self.step_text, self.points_text, self.zones,
            self.timeline_heading, self.timeline, self.expression_stills, self.effects_text, self.aftercare_text,
            title="Patient walkthrough", sizing_mode="stretch_width", css_classes=["education-panel"],
            visible=state.mode == EDUCATION_MODE)
        self._opacity_before: dict[str, float] | None = None
        state.param.watch(self._on_mode, ["mode"])
        state.param.watch(self._on_plan, ["points", "product"])
        if analyst is not None:
            analyst.param.watch(self._on_plan, ["results"])
        self.param.watch(self._on_step, ["step_index"])
        self.rebuild()

    # ------------------------------------------------------------------ data
    def _analysis(self) -> list[PointResult] | None:
        if self.analyst is None:
            return None
        return list(getattr(self.analyst, "results", {}).values())

    def rebuild(self) -> None:
        """Recompute the steps, the timeline and the lists from the current plan."""
        try:
            plan = parse_plan(self.state.plan_dict())
        except PlanError as exc:
            self.steps = []
            self.step_text.object = "*The plan has errors; fix them to see the walkthrough.*\n\n" + "\n".join(
                f"- {plain(e)}" for e in exc.errors[:5])
            self._update_buttons()
            return
        model = getattr(self.analyst, "model", None)
        self.steps = education.walkthrough(plan, self._analysis(), model)
        # the timeline figure (matplotlib, about 45 ms to make and more to render to PNG for the page)
        # is made when the walkthrough is shown: outside education mode every click would pay for it
        self._plan, self._figure = plan, None
        if self.state.mode == EDUCATION_MODE:
            self._draw_timeline()
        effects = education.transient_effects(plan)
        lines = ["#### Common passing effects"]
        for e in effects:
            mark = "**Get help at once:** " if e.seek_help else ""
            lines.append(f"- {mark}**{e.name}.** {e.plain}")
        self.effects_text.object = "\n".join(lines)
        lines = ["#### Aftercare"]
        for a in education.aftercare():
            # the evidence in words; the citation keys are the clinician's (the report lists the sources)
            lines.append(f"- **{a.advice}** {a.why} <small>(evidence: {a.evidence})</small>")
        lines.append(f"\n*{education.reminder()}*")
        self.aftercare_text.object = "\n".join(lines)
        with param.parameterized.discard_events(self):
            self.step_index = min(self.step_index, max(len(self.steps) - 1, 0))
        self._show()

    def _draw_timeline(self) -> None:
        if self._plan is not None:
            self._figure = walkthrough_timeline(self._plan)
            self.timeline.object = self._figure

    def _points_text(self, step: education.Step) -> str:
        rows = []
        for n, p in enumerate(self.state.points, start=1):  # numbered as in the scene's labels, not by id
            if p["id"] not in step.point_ids:
                continue
            target = p.get("target", "")
            info = education.muscle_info(target) if target else None
            where = info["plain_name"] if info else "(no muscle named)"
            rows.append(f"- **Point {n}**: {float(p.get('units', 0)):g} units, {where}")
        return "#### Points in this step\n" + ("\n".join(rows) if rows else "*none*")

    # ------------------------------------------------------------------ navigation
    @property
    def step(self) -> education.Step | None:
        return self.steps[self.step_index] if self.steps else None

    def next(self) -> None:
        if self.step_index < len(self.steps) - 1:
            self.step_index += 1

    def previous(self) -> None:
        if self.step_index > 0:
            self.step_index -= 1

    def _update_buttons(self) -> None:
        n = len(self.steps)
        self.prev_button.disabled = self.step_index <= 0
        self.next_button.disabled = self.step_index >= n - 1
        self.counter.object = f"**Step {self.step_index + 1} of {n}**" if n else ""

    def _show(self) -> None:
        step = self.step
        self._update_buttons()
        if step is None:
            return
        self.step_text.object = step.text()
        self.points_text.object = self._points_text(step)
        if self.state.mode == EDUCATION_MODE:
            self.apply_step()

    def apply_step(self) -> None:
        """Set the scene's camera and layers (through the state) and highlight the step's muscle."""
        step = self.step
        if step is None:
            return
        if self._opacity_before is None:
            self._opacity_before = dict(self.state.layer_opacity)
        opacity = dict(self._opacity_before)
        if step.focus:  # the other muscles fade, so the step's muscle stands out in its own colour
            opacity["muscles"] = min(opacity.get("muscles", 1.0), FADED_MUSCLES)
        with param.parameterized.batch_call_watchers(self.state):
            self.state.layer_visible = {**self.state.layer_visible, **step.layers}
            self.state.layer_opacity = opacity
            self.state.view = step.view
        if self.scene_view is not None:
            scene = self.scene_view.scene
            centre = scene.emphasise(step.focus)
            if centre is not None:  # the camera on the muscle, from the step's side
                self.scene_view.canvas.set_camera(scene.focus_camera(centre, step.view))
            self.scene_view.sync()

    # ------------------------------------------------------------------ watchers
    def _on_step(self, *_: Any) -> None:
        self._show()

    def _on_plan(self, *_: Any) -> None:
        self.rebuild()

    def _on_mode(self, *_: Any) -> None:
        on = self.state.mode == EDUCATION_MODE
        self._layout.visible = on
        if on:
            if self._figure is None:
                self._draw_timeline()
            self.apply_step()
        else:
            if self._opacity_before is not None:  # the clinician's opacities come back
                self.state.layer_opacity = self._opacity_before
                self._opacity_before = None
            if self.scene_view is not None:
                self.scene_view.scene.highlight("")
                self.scene_view.sync()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
