"""The patient-education panel driven without a browser: steps, camera and layers, text, lists."""

from __future__ import annotations

import pytest

from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.app import SceneView, demo_plan
from injectmap.viewer.education_panel import EDUCATION_MODE, EducationPanel
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
