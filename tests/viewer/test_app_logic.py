"""The app without a browser: one session's components driven through their parameters."""

from __future__ import annotations

import pytest

from viewer import app as viewer_app


def test_serve_refuses_open_host_without_password() -> None:
    with pytest.raises(SystemExit, match="password"):
        viewer_app.serve(port=0, host="0.0.0.0", password=None)


def test_demo_plan_is_valid() -> None:
    plan = viewer_app.demo_plan()
    ids = [p["id"] for p in plan["points"]]
    assert len(ids) >= 5 and "g1" in ids


def test_session_app_analyses_and_isolates(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    a = viewer_app.create_app(face_model)
    b = viewer_app.create_app(face_model)
    sa, sb = a.app_state, b.app_state
    assert sa is not sb
    g = face_model.landmarks["brow_peak_left"]
    pid = sa.place_at_skin(face_model.skin_point(g + [0, 4, 0])[0])
    assert pid not in sb.point_ids()
    saved = list(tmp_path.glob("*.json"))
    assert len(saved) == 1 and pid in saved[0].read_text()


def test_every_change_reanalyses_the_changed_point(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, analyst = app.app_state, app.app_analyst
    assert set(analyst.results) == set(state.point_ids())
    before = analyst.results["g1"]
    state.update_point("g1", depth_mm=6)
    assert analyst.results["g1"] is not before and analyst.results["g1"]["depth_mm"] == pytest.approx(6, abs=0.5)
    other = analyst.results["c1_left"]
    state.update_point("g1", units=6)
    assert analyst.results["c1_left"] is other  # unchanged points keep their analysis
    state.undo()
    state.undo()
    assert analyst.results["g1"]["depth_mm"] == pytest.approx(before["depth_mm"])
