"""The plan card offers only treated muscles as a point's target, and "Target = structure at tip" never
turns the orbit (or a vessel, nerve or the duct) into a target."""

from __future__ import annotations

import numpy as np

from injectmap.planning.doses import treatable_targets
from injectmap.viewer import app as viewer_app
from injectmap.viewer.plan_panel import PlanPanel, _target_options


def test_the_target_list_offers_only_treated_muscles(face_model) -> None:
    offered = set(_target_options(face_model).values()) - {""}
    assert offered == set(treatable_targets())
    assert not any(face_model.structures[s].kind != "muscle" for s in offered)


def test_target_from_the_tip_refuses_the_orbit(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, analyst = app.app_state, app.app_analyst
    panel = PlanPanel(state, analyst, face_model)
    lateral_to_canthus = np.asarray(face_model.landmarks["exocanthion_left"], float) + np.array([3.0, 0.0, 0.0])
    pid = state.place_at_skin(face_model.skin_point(lateral_to_canthus)[0])
    state.update_point(pid, depth_mm=12)
    state.selected = pid
    assert analyst.results[pid].tip_in == "orbit_left"
    panel._on_suggest(None)
    assert state.point(pid).get("target") is None
    assert "not a muscle that is treated" in state.message
    assert any(f.code == "tip_in_orbit" and f.severity == "danger" for f in analyst.results[pid].findings)
