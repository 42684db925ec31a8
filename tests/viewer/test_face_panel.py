"""The Face card without a browser: switching the session's face re-analyses the plan and is saved in it."""

from __future__ import annotations

import json

import pytest

from injectmap.anatomy.params import FaceParams
from injectmap.viewer import app as viewer_app
from injectmap.viewer.face_panel import face_to_plan_model, load_face, plan_face

#: a 6 mm deep point over the lower masseter: in the muscle of a large jaw only
MASSETER_POINT = {"id": "m1", "at": {"landmark": "gonion_left", "anterior_mm": 15, "superior_mm": 15},
                  "depth_mm": 6, "units": 10, "target": "masseter_superficial_left"}


def _masseter_plan(model: dict | None = None) -> dict:
    plan = {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": [dict(MASSETER_POINT)]}
    if model is not None:
        plan["model"] = model
    return plan


def test_plan_model_round_trip() -> None:
    assert face_to_plan_model(FaceParams()) is None
    face = FaceParams(sex=0.2, masseter=1.0, brow_left=-0.5)
    m = face_to_plan_model(face)
    assert m == {"sex": 0.2, "shape": {"masseter": 1.0, "brow_left": -0.5, "brow_right": 0.0}}
    assert plan_face(m) == face and plan_face(None) == FaceParams()


def test_faces_are_loaded_once_per_process(face_model) -> None:
    assert load_face(FaceParams()) is face_model
    big = load_face(FaceParams(masseter=1.0))
    assert load_face(FaceParams(masseter=1.0)) is big and big is not face_model


def test_switching_the_face_reanalyses_and_sets_the_plan_model(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model, plan=_masseter_plan())
    state, analyst, face = app.app_state, app.app_analyst, app.app_face
    assert face.current.is_default and "model" not in state.plan_dict()

    face.masseter = -1.0
    face.apply()
    assert analyst.model is load_face(FaceParams(masseter=-1.0))
    assert analyst.results["m1"].target_hit is False
    assert state.plan_dict()["model"]["shape"]["masseter"] == -1.0

    face.masseter = 1.0
    face._on_apply()  # the Apply button (no server: the switch is done at once)
    big = load_face(FaceParams(masseter=1.0))
    assert analyst.model is big and face.model is big and not face.busy
    assert analyst.results["m1"].target_hit is True
    assert analyst.results["m1"].tip_in == "masseter_superficial_left"
    plan = state.plan_dict()
    assert plan["model"] == {"sex": 0.5, "shape": {"masseter": 1.0, "brow_left": 0.0, "brow_right": 0.0}}
    (saved,) = tmp_path.glob("*.json")  # the autosave keeps the face too
    assert json.loads(saved.read_text())["model"]["shape"]["masseter"] == 1.0

    # back to the default face: the plan names no face again
    face.param.update(masseter=0.0)
    face.apply()
    assert analyst.model is face_model and "model" not in state.plan_dict()
    assert analyst.results["m1"].target_hit is False


def test_loading_a_plan_that_names_a_face_switches_to_it(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, analyst, face = app.app_state, app.app_analyst, app.app_face
    named = {"sex": 0.5, "shape": {"masseter": 1.0}}
    state.load_plan(_masseter_plan(named))
    assert face.current == FaceParams(masseter=1.0) and face.masseter == 1.0
    assert face.sliders[1].value == 1.0  # the card shows the plan's face
    assert analyst.model is load_face(FaceParams(masseter=1.0))
    assert analyst.results["m1"].target_hit is True
    assert state.plan_dict()["model"] == named  # the plan keeps its own model field as loaded
    # a plan without a face goes back to the default one
    state.load_plan(viewer_app.demo_plan())
    assert face.current.is_default and analyst.model is face_model


def test_a_session_started_on_a_plan_with_a_face_uses_it(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model, plan=_masseter_plan({"shape": {"masseter": 1.0}}))
    assert app.app_face.current == FaceParams(masseter=1.0)
    assert app.app_analyst.results["m1"].target_hit is True
    assert app.app_state.point("m1")["target"] == "masseter_superficial_left"


def test_out_of_range_face_in_a_plan_keeps_the_face(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    app.app_state.extra = {"model": {"shape": {"masseter": 3.0}}}
    assert app.app_face.current.is_default
    assert "not valid" in app.app_state.message


@pytest.mark.parametrize("group", ["muscles"])
def test_scene_draws_the_new_face(face_model, group) -> None:
    from injectmap.viewer.scene import Scene

    big = load_face(FaceParams(masseter=1.0))
    scene = Scene(face_model, window_size=(200, 150))
    try:
        aid = "masseter_superficial_left"
        before = scene.actor(aid).mapper.GetInput().GetBounds()
        scene.set_model(big)
        after = scene.actor(aid).mapper.GetInput().GetBounds()
        assert scene.model is big and before != after
        assert scene.group_of[aid] == group
    finally:
        scene.close()


def test_undo_takes_a_face_change_back(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model, plan=_masseter_plan())
    state, analyst, face = app.app_state, app.app_analyst, app.app_face
    face.masseter = 1.0
    face.apply()
    big = load_face(FaceParams(masseter=1.0))
    assert analyst.model is big and state.can_undo
    assert state.undo()  # the face change was the last edit
    assert "model" not in state.plan_dict() and face.current.is_default
    assert analyst.model is face_model and app.app_scene.model is face_model
    assert analyst.results["m1"].target_hit is False  # analysed on the default face again
    assert state.redo()
    assert analyst.model is big and state.plan_dict()["model"]["shape"]["masseter"] == 1.0
    assert [p["id"] for p in state.points] == ["m1"]  # the points were not touched
