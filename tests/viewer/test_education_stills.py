"""The walkthrough's expression stills driven without a browser: asked for, rendered, cleared by a plan change."""

from __future__ import annotations

import pytest

from injectmap.teaching.education import expression_change
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.app import demo_plan
from injectmap.viewer.education_panel import EducationPanel
from injectmap.viewer.state import AppState


@pytest.fixture
def panel(face_model) -> EducationPanel:
    state = AppState(snap=face_model.skin_point)
    state.load_plan(demo_plan(), undoable=False)
    return EducationPanel(state, PlanAnalyst(state, face_model), None)


def test_the_demo_plan_treats_the_frown_and_says_how_much_is_left(face_model) -> None:
    change = expression_change(face_model, demo_plan())
    assert change is not None and change.expression == "frown" and change.words == "Frowning"
    assert change.strengths[0] == (1.0, 1.0)
    assert change.strengths[1][0] < change.strengths[2][0] < 1.0  # weakest at two weeks, coming back at three months
    text = change.text()
    assert "at two weeks, about" in text and "at three months" in text and "not a promise" in text


def test_the_stills_are_shown_on_request_and_cleared_by_a_plan_change(panel: EducationPanel) -> None:
    view = panel.expression_stills
    assert view.stills.objects == []
    view.button.clicks += 1
    assert len(view.stills.objects) == 3
    captions = [col.objects[1].object for col in view.stills.objects]
    assert captions == ["Frowning, before", "Frowning, at two weeks", "Frowning, at three months"]
    assert all(col.objects[0].object[:8] == b"\x89PNG\r\n\x1a\n" for col in view.stills.objects)
    assert "movement is left" in view.status.object and not view.button.disabled
    points = [dict(p) for p in panel.state.points][:1]
    panel.state.points = points  # another plan: the pictures are no longer its own
    assert view.stills.objects == [] and view.status.object == ""


def test_a_plan_that_changes_no_expression_says_so(face_model) -> None:
    state = AppState(snap=face_model.skin_point)
    plan = demo_plan()
    plan["points"] = []
    state.load_plan(plan, undoable=False)
    panel = EducationPanel(state, PlanAnalyst(state, face_model), None)
    panel.expression_stills.make()
    assert panel.expression_stills.stills.objects == []
    assert "does not change an expression" in panel.expression_stills.status.object
