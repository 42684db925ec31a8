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


def _pdf_text(pdf: bytes, tmp_path) -> str:
    import subprocess

    path = tmp_path / "chart.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_chart_says_where_the_plan_came_from(face_model, tmp_path, monkeypatch) -> None:
    """The chart's "Plan:" line read "plan" for every plan in the app: it names the file opened, the protocol's
    template or "made in the app", and says when the plan was changed after it came."""
    import json

    from injectmap.planning.plan import parse_plan, plan_to_dict

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, report = app.app_state, app.app_patient.report
    files = FilePanel(state, app.app_scene, "test-session")
    plan = plan_to_dict(parse_plan(protocol_plan("glabella_five_point")))
    files.upload.filename = "brow & frown.json"
    files.upload.value = json.dumps(plan).encode()
    assert state.plan_source() == "opened from brow & frown.json"
    report.make()
    assert "Plan: opened from brow & frown.json" in _pdf_text(report._pdf["report"], tmp_path)
    state.update_point(state.points[0]["id"], units=float(state.points[0]["units"]) + 1)
    report.make()
    assert "Plan: opened from brow & frown.json, changed in the app" in _pdf_text(report._pdf["report"], tmp_path)
    state.new_plan()
    assert state.plan_source() == "made in the app"
    files.protocol.value = "masseter_three_point"
    files.start.clicks += 1
    assert state.plan_source().startswith("the protocol template 'Masseter")
