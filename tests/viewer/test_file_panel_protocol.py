"""The Files card's "Start from a protocol": the template replaces the plan, keeps the face and the patient, and
Undo brings the plan back."""

from __future__ import annotations

from injectmap.planning.protocols import protocol_names, protocol_plan
from injectmap.viewer import app as viewer_app
from injectmap.viewer.file_panel import FilePanel


def test_start_from_a_protocol_replaces_the_plan_and_undo_restores(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state = app.app_state
    files = FilePanel(state, app.app_scene, "test-session")
    before = [p["id"] for p in state.points]
    assert list(files.protocol.options.values()) == protocol_names()
    state.extra = {**state.extra, "model": {"sex": 0.5}, "patient": "MRN-7 Ana"}
    files.protocol.value = "masseter_three_point"
    files.start.clicks += 1
    ids = [p["id"] for p in state.points]
    assert ids == [p["id"] for p in protocol_plan("masseter_three_point")["points"]]
    assert state.extra.get("model") == {"sex": 0.5}  # the face is kept
    assert state.extra.get("patient") == "MRN-7 Ana"  # and the patient it is for: the chart names them
    assert state.selected == ids[0]
    assert "replaced the plan" in state.message and "Masseter" in files.status.object
    state.undo()
    assert [p["id"] for p in state.points] == before
