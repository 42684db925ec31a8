"""The app without a browser: one session's components driven through their parameters."""

from __future__ import annotations

import re

import pytest

from injectmap.viewer import app as viewer_app
from injectmap.viewer import server as viewer_server


def test_serve_refuses_open_host_without_password(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INJECTMAP_USERS_FILE", str(tmp_path / "no-users.json"))  # no user has a password
    with pytest.raises(SystemExit, match="password"):
        viewer_server.serve(port=0, host="0.0.0.0")


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
    assert analyst.results["g1"] is not before and analyst.results["g1"].depth_mm == pytest.approx(6, abs=0.5)
    other = analyst.results["c1_left"]
    state.update_point("g1", units=6)
    assert analyst.results["c1_left"] is other  # unchanged points keep their analysis
    state.undo()
    state.undo()
    assert analyst.results["g1"].depth_mm == pytest.approx(before.depth_mm)


def test_canvas_messages_place_drag_and_turn_the_camera(face_model, tmp_path, monkeypatch) -> None:
    import numpy as np

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, view = app.app_state, app.app_scene
    forehead = np.asarray(face_model.landmarks["glabella"], float) + np.array([10.0, 30.0, 5.0])
    n = len(state.points)
    view.canvas._handle_msg({"pick": forehead.tolist()})  # placing is off: a click only turns the view
    assert len(state.points) == n
    state.placing = True
    assert view.canvas.placing  # the browser shows the crosshair
    view.canvas._handle_msg({"pick": forehead.tolist()})
    assert len(state.points) == n + 1
    assert state.selected not in {p["id"] for p in viewer_app.demo_plan()["points"]}  # the new point
    pid = state.selected
    entry = np.asarray(state.point(pid)["entry_mm"])
    assert np.linalg.norm(entry - face_model.skin_point(forehead)[0]) < 0.02  # snapped to the skin
    # drag the selected point: it moves to the skin under the release, keeping depth and dose
    to = forehead + np.array([-20.0, 0.0, 0.0])
    view.canvas._handle_msg({"drag": to.tolist()})
    moved = state.point(pid)
    assert np.linalg.norm(np.asarray(moved["entry_mm"]) - face_model.skin_point(to)[0]) < 0.02
    assert moved["depth_mm"] == state.default_depth_mm and state.undo() and state.point(pid)["entry_mm"] == list(entry)
    # the camera the user turned to comes back, so the PNG export shows the same view
    cam = {"position": [300.0, 40.0, 120.0], "focalPoint": [0.0, 20.0, 0.0], "viewUp": [0.0, 1.0, 0.0]}
    view.canvas._handle_msg({"camera": cam})
    assert np.allclose(view.scene.plotter.camera.position, cam["position"])
    assert view.scene.camera_dict()["focalPoint"] == pytest.approx(cam["focalPoint"])


def test_structure_panel_hides_a_structure_and_sets_its_opacity(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, view = app.app_state, app.app_scene
    panel = app.app_structure
    state.highlight = "procerus"
    assert panel.sid == "procerus" and panel.controls.visible and panel.shown.value
    # g1 (selected) has its tip in the procerus at 3 mm: the card gives the muscle's depth on its line
    depth = re.search(r"Depth here.*?: ([0-9.]+)-([0-9.]+) mm below the skin", panel.text.object)
    assert depth and float(depth.group(1)) < 3.0 < float(depth.group(2))
    panel.shown.value = False
    assert state.structure_display == {"procerus": {"visible": False}}
    assert not view.scene.is_visible("procerus")
    drawn = {a["id"]: a for a in view.canvas.scene["actors"]}  # the browser was told
    assert drawn["group_muscles"]["visible"]
    panel.shown.value = True
    panel.opacity._process_events({"value": 0.25, "value_throttled": 0.25})  # as a slider release does
    assert state.structure_display["procerus"] == {"visible": True, "opacity": 0.25}
    assert any(a["id"] == "structure_procerus" and a["opacity"] == 0.25 for a in view.canvas.scene["actors"])
    state.highlight = "frontalis_left"  # the controls show the other structure's (its layer's) settings
    assert panel.shown.value and panel.opacity.value == state.layer_opacity["muscles"]
    panel.show_all.clicks += 1
    assert state.structure_display == {} and view.scene.is_visible("procerus")


def test_a_released_session_leaves_nothing_behind(face_model, tmp_path, monkeypatch) -> None:
    import gc
    import weakref

    from pyvista.plotting import plotter as pv_plotter

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    app.app_state.update_point("g1", depth_mm=4)  # a session that did something
    refs = [weakref.ref(app.app_state), weakref.ref(app.app_scene), weakref.ref(app.app_scene.scene)]
    plotters = len(pv_plotter._ALL_PLOTTERS)
    viewer_app.release_session(app)  # what the server does when the session is destroyed
    del app
    gc.collect()
    assert [r() for r in refs] == [None, None, None]  # the whole session was freed
    assert len(pv_plotter._ALL_PLOTTERS) == plotters - 1


def test_pressing_the_current_view_again_brings_its_camera_back(face_model, tmp_path, monkeypatch) -> None:
    import panel as pn

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    view = app.app_scene
    front = next(b for b in app.select(pn.widgets.Button) if b.label == "Front")
    standard = dict(view.canvas.camera)
    turned = {"position": [250.0, 0.0, 250.0], "focalPoint": [0.0, 0.0, 0.0], "viewUp": [0.0, 1.0, 0.0]}
    view.canvas._handle_msg({"camera": turned})  # the user turned the head in the browser
    assert app.app_state.view == "front"
    front.clicks += 1
    sent = view.canvas.camera
    assert sent["n"] > standard["n"] and sent["position"] == pytest.approx(standard["position"])
    assert view.scene.camera_dict()["position"] == pytest.approx(standard["position"])  # and the export


def test_the_plans_errors_leave_the_status_line_once_corrected(face_model, tmp_path, monkeypatch) -> None:
    """"The plan has errors" stayed on the status line after the plan was corrected."""
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state = app.app_state
    state.set_product(dict(state.product, diluent_ml=0.0))
    assert state.message.startswith("The plan has errors: ") and "diluent_ml" in state.message
    state.undo()
    assert state.message == "The plan's errors are corrected."
    state.update_point("g1", units=6)  # another message stays as it was
    state.message = "Opened a.json (5 points)."
    state.update_point("g1", units=5)
    assert state.message == "Opened a.json (5 points)."


def test_a_tip_in_no_structure_says_its_layer_not_a_question_mark(face_model, tmp_path, monkeypatch) -> None:
    """The demo's (and the glabellar template's) medial corrugator point, 4 mm deep, lies under the orbicularis
    oculi and the SMAS and above the corrugator: in no structure (``tip_in`` null). The point card read
    "tip in `?`" and the table's tip column was empty; both now name the layer."""
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, plan = app.app_state, app.app_plan
    r = app.app_analyst.results["c1_left"]
    assert r.tip_in is None and r.layer == "deep"
    state.selected = "c1_left"
    title = plan.selected_title.object
    assert "?" not in title and "tip in the deep layer under the SMAS, in no muscle (layer deep)" in title, title
    row = plan._points_frame().set_index("id").loc["c1_left"]
    assert row["tip_in"] == "the deep layer under the SMAS, in no muscle"
    state.selected = "g1"  # a tip in a structure keeps its id
    assert "tip in `procerus` (layer muscle)" in plan.selected_title.object


def test_the_findings_distance_column_says_what_it_is(face_model, tmp_path, monkeypatch) -> None:
    """The Findings table's distance_mm was read as the tip-to-course distance (-5.7 beside a message saying
    "2.9 mm from the mean course"): for a corridor finding it is that distance minus the corridor's radius. The
    column's header tooltip says so, and the row's number is the finding's."""
    from injectmap.viewer.findings_panel import DISTANCE_TOOLTIP

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    tips = app.app_findings.table.header_tooltips
    assert tips.get("distance_mm") == DISTANCE_TOOLTIP and "minus the corridor's radius" in DISTANCE_TOOLTIP
    r = app.app_analyst.results["c1_left"]
    f = next(f for f in r.findings if f.code == "tip_in_artery_corridor")
    cr = next(c for c in r.corridors if c.structure == f.structure)
    row = next(x for x in app.app_findings._rows if x["point"] == "c1_left" and x["code"] == f.code)
    assert row["distance_mm"] == round(cr.distance_mm - cr.corridor_mm, 1) == round(f.distance_mm, 1)


def test_mirroring_says_what_it_added_and_what_already_treats_that_muscle(face_model, tmp_path, monkeypatch) -> None:
    """Mirror point beside a point that already treats the muscle on the other side added a second dose there with
    no word (a moved DAO point's mirror beside the right DAO point), and Mirror all on a symmetric plan did nothing
    and said nothing. The card says what was added, which points already treat that muscle and the units there now,
    and why nothing was added."""
    from injectmap.planning.plan import parse_plan, plan_to_dict

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, plan = app.app_state, app.app_plan
    product = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}
    dao = {"units": 3, "depth_mm": 3}
    state.load_plan(plan_to_dict(parse_plan({"format": "injectmap-plan", "version": 1, "product": product, "points": [
        {"id": "dao_left", "target": "depressor_anguli_oris_left", **dao,
         "at": {"landmark": "cheilion_left", "lateral_mm": 3, "superior_mm": -18}},
        {"id": "dao_right", "target": "depressor_anguli_oris_right", **dao,
         "at": {"landmark": "cheilion_right", "lateral_mm": 3, "superior_mm": -18}}]})))
    plan.mirror_all.clicks += 1
    assert state.point_ids() == ["dao_left", "dao_right"]
    assert state.message == "Nothing to mirror: every point off the midline has its mirror image already."
    state.selected = "dao_left"
    plan.mirror.clicks += 1
    assert state.point_ids() == ["dao_left", "dao_right"] and "dao_right is already at the mirrored site" in state.message
    state.nudge("dao_left", "medial", 4.0)  # moved: its mirror image is another site of the same muscle
    state.selected = "dao_left"
    plan.mirror.clicks += 1
    assert state.point_ids() == ["dao_left", "dao_right", "dao_right_mirror"]  # a right-side id, never "left"
    assert state.message == ("Mirrored: added dao_right_mirror. dao_right_mirror joins dao_right in "
                             "depressor_anguli_oris_right (6 U there now: check the dose).")


def test_the_plan_card_moves_a_point_forward_and_back_as_a_fix_asks(face_model, tmp_path, monkeypatch) -> None:
    """A finding's fix says "move it 6 mm back" (training_fixes.AXES: up, lateral, forward, deeper), but the card
    had only Up, Down, Medial and Lateral: on the side of the jaw Medial moves a point into the skin, not along it.
    Forward and Back move it along the face."""
    import numpy as np

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state, plan = app.app_state, app.app_plan
    assert [b.label for b in plan.nudges] == ["Up", "Down", "Forward", "Back", "Medial", "Lateral"]
    state.place_by_landmark("gonion_left", superior_mm=25)
    pid = state.selected
    before = np.asarray(app.app_analyst.results[pid].entry_mm)
    plan.nudge_step.value = 6.0
    next(b for b in plan.nudges if b.label == "Back").clicks += 1
    assert state.point(pid)["at"] == {"landmark": "gonion_left", "superior_mm": 25.0, "anterior_mm": -6.0}
    after = np.asarray(app.app_analyst.results[pid].entry_mm)
    assert after[2] < before[2] - 3.0  # moved back along the jaw, still on its skin
    next(b for b in plan.nudges if b.label == "Forward").clicks += 1
    assert state.point(pid)["at"] == {"landmark": "gonion_left", "superior_mm": 25.0}


#: the mentalis point of a lower-face plan
MENTALIS = {"id": "mn_left", "units": 3, "target": "mentalis_left",
            "at": {"landmark": "pogonion", "left_mm": 5, "superior_mm": -6}, "depth_mm": 6}


def test_a_point_too_deep_says_why_where_the_point_is(face_model, tmp_path, monkeypatch) -> None:
    """The mentalis point set to 20 mm: the reason was in the Files card's status (the left column) and a banner
    ("the tip is 18.1 mm below the skin") while the plan table said 20.0 with worst "?" and the point "tip not
    analysed yet". The plan card now says the point is not placed and why, with the plan's depth in the reason."""
    from injectmap.planning.plan import MAX_DEPTH_MM

    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    plan = viewer_app.demo_plan()
    plan["points"] = [*plan["points"], dict(MENTALIS)]
    app = viewer_app.create_app(face_model, plan)
    state, analyst, panel = app.app_state, app.app_analyst, app.app_plan
    state.selected = "mn_left"
    panel.depth.value = 20.0  # as typed in the point's depth box
    assert state.point("mn_left")["depth_mm"] == 20.0
    why = analyst.point_errors["mn_left"]
    assert "20.0 mm along the needle" in why and "beyond the bone" in why
    title = panel.selected_title.object
    assert "not placed" in title and "20.0 mm along the needle" in title and "not analysed yet" not in title
    row = panel.table.value.set_index("id").loc["mn_left"]
    assert row["worst"] == "not placed" and row["tip_in"] == "not placed" and row["depth_mm"] == 20.0
    # the status line (in the Files card) points to the plan card instead of repeating the reason there
    assert "mn_left" in state.message and "beyond the bone" not in state.message and "Plan card" in state.message
    panel.depth.value = 6.0
    assert "mn_left" not in analyst.point_errors and "not placed" not in panel.selected_title.object
    # the depth slider covers what a plan file may hold, no less
    assert panel.depth.end == panel.depth.fixed_end == MAX_DEPTH_MM
