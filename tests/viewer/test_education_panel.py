"""The patient-education panel driven without a browser: steps, camera and layers, text, lists."""

from __future__ import annotations

from typing import Any

import pytest

from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.app import SceneView, demo_plan
from injectmap.viewer.education_panel import EDUCATION_MODE, TIMELINE_WIDTH_PX, EducationPanel
from injectmap.viewer.state import LAYER_GROUPS, AppState


@pytest.fixture
def panel(face_model) -> EducationPanel:
    state = AppState(snap=face_model.skin_point)
    state.load_plan(demo_plan(), undoable=False)
    analyst = PlanAnalyst(state, face_model)
    scene_view = SceneView(state, analyst, face_model)
    return EducationPanel(state, analyst, scene_view)


def test_visible_only_in_education_mode(panel: EducationPanel):
    layout = panel.__panel__()
    assert not layout.visible
    panel.state.mode = EDUCATION_MODE
    assert layout.visible
    panel.state.mode = "depth planning"
    assert not layout.visible


def test_steps_set_camera_layers_and_text(panel: EducationPanel):
    state = panel.state
    state.mode = EDUCATION_MODE
    assert [s.kind for s in panel.steps] == ["intro", "muscle", "muscle", "muscle", "after"]
    assert panel.prev_button.disabled and not panel.next_button.disabled
    first = panel.step_text.object
    assert "Your treatment plan" in first
    seen = []
    while not panel.next_button.disabled:
        panel.next_button.clicks += 1
        step = panel.step
        seen.append(step.id)
        assert panel.step_text.object == step.text()
        assert state.view == step.view
        assert {g: state.layer_visible[g] for g in LAYER_GROUPS} == step.layers
        assert all(panel.scene_view.scene.is_visible(a) == step.layers["skin"] for a in ["skin"])
        if step.focus:  # every muscle of the step in the emphasis colour, the camera on it
            assert set(panel.scene_view.scene.emphasised) == set(step.focus)
            assert panel.scene_view.scene.highlight_actor.GetVisibility()
            assert state.layer_opacity["muscles"] <= 0.3
            # the step's points by their number in the plan (ids are the clinician's, not words)
            numbers = [n for n, p in enumerate(state.points, start=1) if p["id"] in step.point_ids]
            assert all(f"Point {n}" in panel.points_text.object for n in numbers) and numbers
            assert not any(f"**{pid}**" in panel.points_text.object for pid in step.point_ids)
    assert seen == ["frontalis", "procerus", "corrugator_supercilii", "after"]
    assert "Step 5 of 5" in panel.counter.object
    panel.prev_button.clicks += 1
    assert panel.step.id == "corrugator_supercilii"
    assert "What it leaves alone" in panel.step_text.object
    assert "lifts the upper eyelid" in panel.step_text.object
    state.mode = "depth planning"
    assert panel.scene_view.scene.highlighted == "" and panel.scene_view.scene.emphasised == ()
    assert not panel.scene_view.scene.highlight_actor.GetVisibility()
    assert state.layer_opacity["muscles"] > 0.3  # the clinician's opacity is back


def test_timeline_effects_and_aftercare_are_shown(panel: EducationPanel):
    assert panel.timeline.object is None  # hidden: the figure is not made on every plan change
    panel.state.mode = EDUCATION_MODE
    fig = panel.timeline.object
    assert fig is not None and fig.axes[0].get_legend() is not None
    assert "Headache" in panel.effects_text.object and "bruises" in panel.effects_text.object
    assert "Get help at once" in panel.effects_text.object
    assert "Aftercare" in panel.aftercare_text.object and "not a promise" in panel.aftercare_text.object


#: the smallest text a patient is asked to read on the screen (CSS px): project choice, the page's own small print
MIN_TEXT_PX = 11.0


def _texts_as_shown(panel: EducationPanel) -> tuple[list[tuple[str, float, Any]], Any]:
    """Every text of the walkthrough's timeline with its height on the page (px: its size in the picture the pane
    makes, scaled to the picture's width in the column at 1366x768) and its box in the picture, and the picture's
    box (the pane crops the figure to its content)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    pane = panel.timeline
    fig = pane.object
    fig.set_dpi(pane.dpi)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    shown = fig.get_tightbbox(renderer).padded(0.1)  # inches, as bbox_inches="tight" saves it
    scale = TIMELINE_WIDTH_PX / (shown.width * pane.dpi)  # picture px -> page px
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")):
        if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0:
            out.append((t.get_text(), t.get_fontsize() * pane.dpi / 72.0 * scale, t.get_window_extent(renderer)))
    return out, Bbox.from_extents(*(v * pane.dpi for v in shown.extents))


def test_the_timeline_text_is_legible_in_its_column(panel: EducationPanel):
    """At 1366x768 the chart's labels were a few pixels high and "first change" was cut to "frst" by the axis.
    Every text of the picture is now at least MIN_TEXT_PX high as shown, inside the picture, and clear of the
    others (tests/browser/test_patient_view.py measures the picture's width in the page)."""
    panel.state.mode = EDUCATION_MODE
    texts, picture = _texts_as_shown(panel)
    words = " ".join(" ".join(t.split()) for t, _, _ in texts)
    assert "first change" in words and "full effect" in words and "two-week review" in words
    small = [(t, round(px, 1)) for t, px, _ in texts if px < MIN_TEXT_PX]
    assert not small, small
    for i, (a, _, box_a) in enumerate(texts):
        assert picture.x0 - 1 <= box_a.x0 and box_a.x1 <= picture.x1 + 1, a
        for b, _, box_b in texts[i + 1:]:
            assert not box_a.overlaps(box_b), (a, b)
    ax = panel.timeline.object.axes[0]
    spine_x = ax.transData.transform((0.0, 0.0))[0]  # the day axis starts at the left spine: no text crosses it
    assert not [t for t, _, box in texts if box.x0 < spine_x < box.x1 and box.y0 > ax.bbox.y0]


def test_plan_changes_rebuild_the_walkthrough(panel: EducationPanel):
    panel.state.place_by_landmark("gonion_left", superior_mm=15, anterior_mm=12, units=10, depth_mm=10,
                                  target="masseter_superficial_left")
    ids = [s.id for s in panel.steps]
    assert "masseter_superficial" in ids
    assert "jaw" in panel.effects_text.object.lower()
    panel.state.mode = EDUCATION_MODE
    shown = panel.timeline.object
    panel.state.place_by_landmark("gonion_right", superior_mm=15, anterior_mm=12, units=10, depth_mm=10,
                                  target="masseter_superficial_right")
    assert panel.timeline.object is not shown  # shown: the timeline follows the plan at once
    panel.state.mode = "depth planning"
    panel.step_index = ids.index("masseter_superficial")
    panel.state.mode = EDUCATION_MODE
    assert panel.state.view == "left"
    assert panel.state.layer_visible["gland_duct"]
