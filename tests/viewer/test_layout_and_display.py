"""The page's parts without a browser: New plan, restore, labels, the legend, and the display bugs of
issue 12 (depth to 0.1 mm, findings that follow their point, widgets after Delete, message wording)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from injectmap.planning import rules
from injectmap.viewer import app as viewer_app
from injectmap.viewer.labels import label_settings, landmark_labels, landmark_name, point_labels
from injectmap.viewer.layout import legend_rows
from injectmap.viewer.session import latest_autosave, user_autosave_dir


@pytest.fixture
def app(face_model, tmp_path, monkeypatch):
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    return viewer_app.create_app(face_model)


def test_new_plan_empties_in_one_step_and_undo_brings_it_back(app) -> None:
    """New plan empties the points; the face and the patient the plan is for stay (the chart names them), the rest
    (the sessions of a staged plan) goes."""
    state, before = app.app_state, app.app_state.point_ids()
    assert len(before) >= 5
    state.extra = {**state.extra, "model": {"sex": 0.5}, "patient": "MRN-7 Ana"}
    app.app_plan.new_plan.clicks += 1
    assert state.point_ids() == [] and state.selected == "" and state.highlight == ""
    assert state.extra == {"model": {"sex": 0.5}, "patient": "MRN-7 Ana"}
    assert app.app_plan.table.value.empty
    assert "Undo" in state.message
    state.undo()
    assert state.point_ids() == before


def test_plan_table_shows_depth_to_a_tenth_of_a_millimetre(app) -> None:
    state = app.app_state
    state.update_point("g1", depth_mm=3.5)
    frame = app.app_plan.table.value
    assert frame.loc[frame["id"] == "g1", "depth_mm"].item() == 3.5
    fmt = app.app_plan.table.formatters["depth_mm"]
    assert fmt.format == "0.0"  # numeral.js: 3.5 -> "3.5", 4 -> "4.0" (the browser test reads the cell)



def test_plan_tables_id_column_fits_each_plans_ids(app) -> None:
    """The plan table's columns fit the data again whenever the plan changes (Tabulator sizes them on the first data
    only: the demo plan's ``g1`` kept the id column at 60 px, and a protocol's ``masseter_front_right`` was cut); the
    id column grows at most to ``ID_MAX_PX``, wraps an id longer than that, and stays in view when the table scrolls
    sideways (tests/browser/test_layout.py measures the cells at 1366x768 and 1920x1080)."""
    from injectmap.viewer.plan_panel import ID_CELL_STYLE, ID_MAX_PX

    table = app.app_plan.table
    config = table.get_root().configuration
    assert config["layoutColumnsOnNewData"] is True
    (id_column,) = [c for c in config["columns"] if c["field"] == "id"]
    assert id_column == {"field": "id", "maxWidth": ID_MAX_PX, "frozen": True, "cssClass": "plan-id"}
    assert [c["field"] for c in config["columns"]][:2] == ["id", "units"]  # the frozen column is the first one
    assert ID_CELL_STYLE in table.stylesheets and ".plan-id" in ID_CELL_STYLE and "white-space: normal" in ID_CELL_STYLE

def test_delete_selects_the_next_point_and_the_widgets_follow_it(app) -> None:
    state, plan = app.app_state, app.app_plan
    ids = state.point_ids()
    state.selected = ids[1]
    state.update_point(ids[2], units=7.5, depth_mm=2.5)
    plan.delete.clicks += 1
    assert state.selected == ids[2]
    assert plan.units.value == 7.5 and plan.depth.value == 2.5 and not plan.units.disabled
    while state.point_ids():
        plan.delete.clicks += 1
    assert state.selected == "" and plan.units.disabled and plan.depth.disabled and plan.delete.disabled


def test_findings_selection_follows_its_point_and_clears_with_another_plan(app) -> None:
    state, findings = app.app_state, app.app_findings
    rows = findings._rows
    pick = next(i for i, r in enumerate(rows) if r["point"] and r["structure"] and i > 0)
    findings.table.selection = [pick]
    point, structure = rows[pick]["point"], rows[pick]["structure"]
    assert state.selected == point and state.highlight == structure
    # a change that reorders the rows: the selection stays on the same finding
    state.update_point(state.point_ids()[0], units=float(state.points[0]["units"]) + 1)
    sel = findings.table.selection
    assert sel and findings._rows[sel[0]]["point"] == point and findings._rows[sel[0]]["structure"] == structure
    # another plan: the finding, its structure and its view go
    plan = viewer_app.demo_plan()
    plan["points"] = plan["points"][:2]
    state.load_plan(plan)
    assert state.highlight == "" and findings.table.selection == []
    assert app.app_scene.scene.highlighted == "" and not app.app_scene.scene.highlight_actor.GetVisibility()


def test_restore_offers_and_restores_the_users_last_autosave(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    first = viewer_app.create_app(face_model)
    first.app_state.new_plan()
    first.app_state.place_by_landmark("glabella", target="procerus")  # autosaved: one point
    saved = latest_autosave(tmp_path)
    assert saved is not None and oct(saved.stat().st_mode & 0o777) == "0o600"
    second = viewer_app.create_app(face_model)  # the page reloaded: a new session with the demo plan
    files = second.app_files
    assert files.restore_offer.visible and "1 point" in files.restore_note.object
    files.restore.clicks += 1
    assert not files.restore_offer.visible
    assert len(second.app_state.points) == 1 and second.app_state.points[0]["target"] == "procerus"
    second.app_state.undo()  # the plan before the restore comes back
    assert len(second.app_state.points) > 1


def test_no_offer_without_an_autosave_or_when_it_is_the_plan_on_screen(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    assert not viewer_app.create_app(face_model).app_files.restore_offer.visible  # nothing saved yet
    a = viewer_app.create_app(face_model)
    a.app_state.update_point("g1", units=5)
    a.app_state.undo()  # the autosave is the demo plan again
    assert not viewer_app.create_app(face_model).app_files.restore_offer.visible


def test_each_user_has_own_autosaves(tmp_path) -> None:
    assert user_autosave_dir(tmp_path, None) == tmp_path
    ana, ben = user_autosave_dir(tmp_path, "ana"), user_autosave_dir(tmp_path, "ben")
    assert ana != ben and ana.parent == tmp_path and "ana" not in ana.name
    (tmp_path / "0123456789ab.json").write_text("{}")
    os.utime(tmp_path / "0123456789ab.json", (1, 1))
    (tmp_path / "ba9876543210.json").write_text("{}")
    assert latest_autosave(tmp_path).name == "ba9876543210.json"
    assert latest_autosave(tmp_path, exclude=tmp_path / "ba9876543210.json").name == "0123456789ab.json"
    assert latest_autosave(ana) is None


def test_labels_number_and_units_then_structures_then_few_plain_landmarks(app, face_model) -> None:
    state, view = app.app_state, app.app_scene
    labels = view.canvas.labels
    points = [lab for lab in labels if lab["kind"] == "point"]
    assert [lab["text"] for lab in points][:2] == [f"1 · {state.points[0]['units']:g} U",
                                                   f"2 · {state.points[1]['units']:g} U"]
    state.structure_labels = True
    state.show_landmarks = True
    kinds = [lab["kind"] for lab in view.canvas.labels]
    assert kinds.index("landmark") > max(i for i, k in enumerate(kinds) if k in ("warned", "structure"))
    names = [lab["text"] for lab in view.canvas.labels if lab["kind"] == "structure"]
    assert "Procerus" in " ".join(names) or "procerus" in " ".join(names).lower()
    landmarks = [lab["text"] for lab in view.canvas.labels if lab["kind"] == "landmark"]
    assert 0 < len(landmarks) <= label_settings()["max_landmarks"]
    assert all("_" not in t for t in landmarks)  # plain words, not ids
    assert landmark_name("exocanthion_left") == "outer eye corner (left)"
    assert landmark_labels(face_model.landmarks, ["mental_foramen_left"])[0].text == "mental nerve exit (left)"
    assert point_labels([{"id": "a", "units": 2.5}], {}) == []  # a point not analysed yet has no label
    state.point_labels = False
    assert not [lab for lab in view.canvas.labels if lab["kind"] == "point"]
    json.dumps(view.canvas.labels)  # what the browser gets


def test_labels_carry_the_outward_direction_of_what_they_name(app, face_model) -> None:
    """The browser leaves out a label whose surface faces away from the camera (scene_canvas.js; in a browser:
    tests/browser/test_patient_view.py): each label says which way its skin, or its structure, faces."""
    import numpy as np

    from injectmap.viewer.labels import label_settings

    state, view = app.app_state, app.app_scene
    plan = viewer_app.demo_plan()
    plan["points"] = plan["points"][:1]  # g1, at the glabella
    state.load_plan(plan)
    for side in ("left", "right"):
        state.place_by_landmark(f"gonion_{side}", superior_mm=22, anterior_mm=7, units=12, depth_mm=12,
                                target=f"masseter_superficial_{side}")
    state.structure_labels = state.show_landmarks = True
    view._flush()
    labels = view.canvas.labels
    assert labels and all(len(lab["normal"]) == 3 for lab in labels)
    assert all(abs(np.linalg.norm(lab["normal"]) - 1.0) < 1e-3 for lab in labels)
    # the jaw's points face their own side (+x is the patient's left), the glabella's the front
    points = [lab for lab in labels if lab["kind"] == "point"]
    assert points[-2]["normal"][0] > 0.5 and points[-1]["normal"][0] < -0.5
    assert points[0]["normal"][2] > 0.5  # g1
    masseters = [lab for lab in labels if lab["kind"] == "structure" and "asseter" in lab["text"]]
    assert sorted(np.sign(lab["normal"][0]) for lab in masseters) == [-1.0, 1.0]
    assert view.canvas.label_facing == label_settings()["facing_cosine"]


def test_education_hides_needles_zones_and_the_clinicians_cards(app) -> None:
    state, scene = app.app_state, app.app_scene.scene
    assert scene._point_actors["outer_ok"].GetVisibility() or scene._point_actors["outer_caution"].GetVisibility()
    state.mode = "patient education"
    app.app_scene._flush()
    assert not any(scene._point_actors[k].GetVisibility() for k in scene._point_actors if k != "selected")
    assert not [lab for lab in app.app_scene.canvas.labels if lab["kind"] == "warned"]
    plan_slot, findings_slot, structure_slot = app.app_clinician
    assert plan_slot.objects[0].title == "Plan" and app.app_findings.table in list(findings_slot.select())
    # the Structure card (ids, layers, depths along a point's needle: the clinician's) steps aside too
    assert structure_slot.objects[0].title == "Structure"
    assert not plan_slot.visible and not findings_slot.visible and not structure_slot.visible
    state.education_zones = True  # "Show needles and zones"
    app.app_scene._flush()
    assert scene._point_actors["outer_ok"].GetVisibility() or scene._point_actors["outer_caution"].GetVisibility()
    state.mode = "depth planning"
    assert plan_slot.visible and findings_slot.visible and structure_slot.visible


def test_legend_names_every_colour_the_scene_uses() -> None:
    from injectmap.viewer.scene import CORRIDOR_COLOURS, EMPHASIS_COLOUR, SELECT_COLOUR, SEVERITY_COLOURS

    colours = {c for c, _ in legend_rows()}
    assert set(SEVERITY_COLOURS.values()) | set(CORRIDOR_COLOURS.values()) | {SELECT_COLOUR, EMPHASIS_COLOUR} <= colours


@pytest.mark.parametrize(("mm", "words"), [(4.2, "4 mm above"), (-1.2, "1 mm below"), (-0.4, "level with"),
                                           (0.3, "level with")])
def test_signed_distances_in_words(mm: float, words: str) -> None:
    assert rules._side_words(mm, "above", "below", "level with") == words


def test_shares_and_doses_in_words() -> None:
    assert rules._share_words(0.001) == "less than 1%" and rules._share_words(0.12) == "12%"
    assert rules._units_words(0.01) == "under 0.1 U" and rules._units_words(1.23) == "about 1.2 U"


def test_no_message_says_zero_or_negative_millimetres(face_model) -> None:
    """Points around the eye, the brow and the jaw: no "-1 mm", no "0 mm outside", no "(0% of"."""
    from injectmap.planning.check import check_plan
    from injectmap.planning.plan import parse_plan

    lms = face_model.landmarks
    pts = []
    for i, (lm, target, dx, dy) in enumerate([
            ("exocanthion_left", "orbicularis_oculi_left", 4, 0), ("exocanthion_left", "orbicularis_oculi_left", -2, 2),
            ("orbital_rim_superior_left", "corrugator_supercilii_left", 0, 2),
            ("orbital_rim_superior_left", "corrugator_supercilii_left", 0, -1),
            ("gonion_left", "masseter_superficial_left", 0, 20), ("cheilion_left", "masseter_superficial_left", 12, -5)]):
        at = np.asarray(lms[lm], float) + [dx, dy, 0]
        entry = face_model.skin_point(at)[0]
        pts.append({"id": f"q{i}", "entry_mm": [float(v) for v in entry], "depth_mm": 3.0, "units": 4,
                    "target": target})
    result = check_plan(parse_plan({"format": "injectmap-plan", "version": 1, "points": pts,
                                                "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100,
                                                            "diluent_ml": 2.5}}), face_model)
    messages = [f.message for r in result.points for f in r.findings]
    assert messages
    for m in messages:
        assert "-1 mm" not in m and " 0 mm outside" not in m and "(0% of" not in m and "-0 mm" not in m, m


def test_units_out_of_range_are_said_and_the_message_goes_once_corrected(app) -> None:
    """Units of 5000 or -5 typed in the Plan card were kept in the box and never sent, without a word (the box's
    own bounds); now the plan's check says what is wrong, until the units are corrected."""
    state, panel = app.app_state, app.app_plan
    state.selected = "g1"
    panel.units.value = 5000.0
    assert state.message.startswith("The plan has errors: ") and "at most 400, got 5000" in state.message
    panel.units.value = 6.0
    assert state.point("g1")["units"] == 6.0 and state.message == "The plan's errors are corrected."
