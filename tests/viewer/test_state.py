"""AppState: plan edits, history and display settings, without a browser or a renderer."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.planning.plan import parse_plan
from injectmap.viewer.state import AppState


def _state() -> AppState:
    s = AppState()
    s.place_by_landmark("glabella", units=4, target="procerus", depth_mm=3)
    return s


def test_add_assigns_ids_and_selects() -> None:
    s = _state()
    pid = s.place_at_skin([10.0, 40.0, 5.0])
    assert s.point_ids() == ["p1", "p2"]
    assert s.selected == pid == "p2"
    p = s.point(pid)
    assert p["entry_mm"] == [10.0, 40.0, 5.0]
    assert p["units"] == s.default_units and p["depth_mm"] == s.default_depth_mm
    parse_plan(s.plan_dict())  # a valid CONTRACTS plan


def test_place_by_landmark_with_offsets_drops_zeros() -> None:
    s = AppState()
    pid = s.place_by_landmark("brow_peak_left", superior_mm=12, lateral_mm=0, left_mm=-3.0, units=2)
    p = s.point(pid)
    assert p["at"] == {"landmark": "brow_peak_left", "superior_mm": 12.0, "left_mm": -3.0}
    assert p["units"] == 2
    parse_plan(s.plan_dict())


def test_move_and_update() -> None:
    s = _state()
    s.move_point("p1", [0.0, 20.0, 9.0])
    p = s.point("p1")
    assert "at" not in p and p["entry_mm"] == [0.0, 20.0, 9.0]
    s.update_point("p1", depth_mm=5.5, units=6)
    assert s.point("p1")["depth_mm"] == 5.5 and s.point("p1")["units"] == 6
    s.update_point("p1", tip_mm=[0.0, 20.0, 4.0])
    assert "depth_mm" not in s.point("p1")
    n = len(s._undo)
    s.update_point("p1", units=6)  # no change: no history entry
    assert len(s._undo) == n


def test_nudge_landmark_point_changes_offsets() -> None:
    s = AppState()
    s.place_by_landmark("brow_peak_right", superior_mm=10)
    s.nudge("p1", "superior", 2)
    s.nudge("p1", "lateral", 1.5)
    s.nudge("p1", "left", 1)
    assert s.point("p1")["at"] == {"landmark": "brow_peak_right", "superior_mm": 12.0,
                                   "lateral_mm": 1.5, "left_mm": 1.0}
    s.nudge("p1", "inferior", 12)
    assert "superior_mm" not in s.point("p1")["at"]
    with pytest.raises(ValueError):
        _state().nudge("p1", "lateral", 1)


def test_nudge_skin_point_snaps() -> None:
    calls = []

    def snap(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(p.copy())
        return p + np.array([0.0, 0.0, 0.5]), np.array([0.0, 0.0, 1.0])

    s = AppState(snap=snap)
    s.place_at_skin([-20.0, 30.0, 0.0])
    s.nudge("p1", "lateral", 2)  # right side: lateral is -x
    np.testing.assert_allclose(calls[0], [-22.0, 30.0, 0.0])
    assert s.point("p1")["entry_mm"] == [-22.0, 30.0, 0.5]


def test_delete_undo_redo_every_edit() -> None:
    s = _state()
    s.place_at_skin([5.0, 50.0, 2.0])
    s.update_point("p2", units=8)
    s.delete_point("p1")
    assert s.point_ids() == ["p2"]
    history = []
    while s.can_undo:
        s.undo()
        history.append(s.point_ids())
    assert history == [["p1", "p2"], ["p1", "p2"], ["p1"], []]
    assert not s.undo()
    s.redo()
    s.redo()
    s.redo()
    assert s.point("p2")["units"] == 8
    s.redo()
    assert s.point_ids() == ["p2"] and not s.can_redo
    s.undo()
    s.place_at_skin([1.0, 1.0, 1.0])  # a new edit clears the redo stack
    assert not s.can_redo


def test_selection_cleared_when_point_goes() -> None:
    s = _state()
    assert s.selected == "p1"
    s.delete_point("p1")
    assert s.selected == ""


def test_mirror_one_point_and_all() -> None:
    s = AppState()
    s.place_by_landmark("exocanthion_left", lateral_mm=10, superior_mm=5, target="orbicularis_oculi_left")
    s.place_by_landmark("glabella", target="procerus")
    added = s.mirror("p1")
    assert len(added) == 1
    m = s.point(added[0])
    assert m["at"]["landmark"] == "exocanthion_right" and m["target"] == "orbicularis_oculi_right"
    assert m["at"]["lateral_mm"] == 10
    assert s.mirror("p2") == []  # midline: nothing to mirror
    s.undo()
    assert s.point_ids() == ["p1", "p2"]
    assert len(s.mirror()) == 1
    assert len(s.points) == 3
    parse_plan(s.plan_dict())


def test_a_mirror_never_lands_on_a_site_a_point_takes() -> None:
    """Found by a clinician-style test: Mirror point on the left corrugator point added a copy on top of the right
    one already there (the one point was mirrored as a plan of its own), and after one side's dose was edited
    Mirror all added another copy on the other side's point. Now neither stacks a point on a taken site; Mirror
    point says which point is there."""
    s = AppState()
    s.place_by_landmark("brow_medial_left", lateral_mm=4, target="corrugator_supercilii_left")
    s.place_by_landmark("brow_medial_right", lateral_mm=4, target="corrugator_supercilii_right")
    s.update_point("p1", units=6.0)  # one side's dose edited: the sites are still each other's mirror images
    before = s.plan_dict()
    with pytest.raises(ValueError, match="not mirrored: p2 is already at the mirrored site"):
        s.mirror("p1")
    assert s.mirror() == [] and s.plan_dict() == before and s.point("p2")["units"] != 6.0
    s.update_point("p2", depth_mm=6.0)  # deeper on one side: another site (a deep and a superficial point)
    assert len(s.mirror("p1")) == 1 and len(s.points) == 3


def test_product_change_is_undoable() -> None:
    s = _state()
    s.set_product({"name": "incobotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5})
    assert s.plan_dict()["product"]["name"] == "incobotulinumtoxinA"
    s.undo()
    assert s.plan_dict()["product"]["name"] == "onabotulinumtoxinA"


def test_load_plan_round_trip_and_undo() -> None:
    s = _state()
    plan = {"format": "injectmap-plan", "version": 1, "patient": "demo",
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": [{"id": "a", "units": 2, "at": {"landmark": "nasion"}, "depth_mm": 1}]}
    s.load_plan(plan)
    assert s.plan_dict() == plan
    assert s.selected == "a"
    s.undo()
    assert s.point_ids() == ["p1"]


def test_layers_and_display() -> None:
    s = AppState()
    seen = []
    s.param.watch(lambda e: seen.append(e.name), ["layer_visible", "layer_opacity"])
    s.set_layer("skin", visible=False)
    s.set_layer("skin", visible=False)
    s.set_layer("muscles", opacity=1.5)
    assert s.layer_visible["skin"] is False and s.layer_opacity["muscles"] == 1.0
    assert seen == ["layer_visible", "layer_opacity"]
    with pytest.raises(KeyError):
        s.set_layer("hair", visible=True)
    s.cut_axis = "sagittal"
    s.cut_mm = 10
    s.view = "left"
    assert not s.can_undo  # display changes are not plan edits


def test_structure_display_is_set_clamped_and_reset() -> None:
    s = AppState()
    seen = []
    s.param.watch(lambda e: seen.append(dict(e.new)), ["structure_display"])
    s.set_structure_display("frontalis_left", visible=False)
    s.set_structure_display("frontalis_left", visible=False)  # no change: no event
    s.set_structure_display("zygomaticus_major_left", opacity=-0.5)
    assert s.structure_display == {"frontalis_left": {"visible": False}, "zygomaticus_major_left": {"opacity": 0.0}}
    assert len(seen) == 2 and not s.can_undo  # display, not a plan edit
    s.reset_structure_display("frontalis_left")
    assert s.structure_display == {"zygomaticus_major_left": {"opacity": 0.0}}
    s.reset_structure_display()
    assert s.structure_display == {}
    with pytest.raises(KeyError):
        s.set_structure_display("", visible=True)


def test_the_plan_face_is_an_undoable_edit() -> None:
    s = AppState()
    s.load_plan({"points": [{"id": "a", "entry_mm": [0, 0, 0], "depth_mm": 2}], "patient": {"id": "x"}},
                undoable=False)
    s.set_plan_model({"sex": 0.3})
    assert s.plan_dict()["model"] == {"sex": 0.3} and s.plan_dict()["patient"] == {"id": "x"}
    s.set_plan_model({"sex": 0.3})  # no change: no history entry
    assert s.undo() and "model" not in s.plan_dict() and not s.can_undo
    assert s.redo() and s.plan_dict()["model"] == {"sex": 0.3}
    s.set_plan_model(None)
    assert "model" not in s.plan_dict() and s.undo() and s.plan_dict()["model"] == {"sex": 0.3}
    # loading another plan is undone with its face
    s.load_plan({"points": [], "model": {"sex": 0.9}})
    assert s.plan_dict()["model"] == {"sex": 0.9} and s.undo()
    assert s.plan_dict()["model"] == {"sex": 0.3} and s.point_ids() == ["a"]


def test_sessions_do_not_share_state() -> None:
    a, b = AppState(), AppState()
    a.place_at_skin([1.0, 2.0, 3.0])
    a.set_layer("skin", visible=False)
    assert b.points == [] and b.layer_visible["skin"] is True


def test_a_touch_up_point_is_mirrored_beside_the_first_treatments() -> None:
    """The first treatment's point and its touch-up at one site are two injections: mirroring the touch-up's adds
    its copy even where the first treatment has a point on the other side."""
    s = AppState()
    s.place_by_landmark("brow_medial_left", lateral_mm=4, target="corrugator_supercilii_left")
    s.place_by_landmark("brow_medial_right", lateral_mm=4, target="corrugator_supercilii_right")
    s.place_by_landmark("brow_medial_left", lateral_mm=4, target="corrugator_supercilii_left")
    s.extra = {**s.extra, "sessions": [{"id": "initial"}, {"id": "touch_up", "label": "two-week touch-up"}]}
    s.update_point("p3", session="touch_up")
    added = s.mirror("p3")
    assert len(added) == 1 and s.point(added[0])["session"] == "touch_up"
    assert s.point(added[0])["at"]["landmark"] == "brow_medial_right"


def test_each_plan_says_where_it_came_from_and_whether_it_was_changed() -> None:
    """A chart's "Plan:" line (the Report card's): where the plan on screen came from, followed by Undo and Redo,
    and said changed once its points or product were edited; a plan started empty was made in the app."""
    s = _state()
    plan = {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": [{"id": "a", "units": 2, "at": {"landmark": "nasion"}, "depth_mm": 1}]}
    s.load_plan(plan, source="opened from brow <b>plan</b>.json")
    assert s.plan_source() == "opened from brow <b>plan</b>.json"  # text: the report escapes it
    s.update_point("a", units=4)
    assert s.plan_source() == "opened from brow <b>plan</b>.json, changed in the app"
    s.update_point("a", units=2)  # edited back to what came: as it came
    assert s.plan_source() == "opened from brow <b>plan</b>.json"
    s.load_plan({**plan, "patient": "MRN-1"}, undoable=False)  # the same plan relabelled keeps its source
    assert s.plan_source() == "opened from brow <b>plan</b>.json"
    s.new_plan()
    assert s.plan_source() == "made in the app"
    s.undo()
    assert s.plan_source() == "opened from brow <b>plan</b>.json"
    s.redo()
    assert s.plan_source() == "made in the app"
    s.load_plan(plan, source="")
    assert s.plan_source() == "made in the app"
