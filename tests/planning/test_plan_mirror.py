"""Mirroring points to the other side."""

from __future__ import annotations

import pytest
from plan_examples import CONTRACT_EXAMPLE, fresh

from injectmap.planning.mirroring import mirror_plan, point_side
from injectmap.planning.plan import parse_plan, plan_to_dict


def test_contract_example_mirror():
    plan = parse_plan(fresh(CONTRACT_EXAMPLE))
    out = mirror_plan(plan)
    ids = [p.id for p in out.points]
    assert ids == ["g1", "c1", "m1", "c1_mirror", "m1_mirror"]  # g1 is midline: not duplicated
    c = out.point("c1_mirror")
    assert c.placement.landmark == "exocanthion_right"
    assert c.placement.lateral_mm == 10 and c.placement.superior_mm == 5
    assert c.target == "orbicularis_oculi_right"
    m = out.point("m1_mirror")
    assert m.placement.entry_mm == (52.0, -70.5, 20.1)
    assert m.target == "masseter_superficial_left"
    assert m.depth_mm == 10 and m.units == 10


def test_side_selects_source():
    plan = parse_plan(fresh(CONTRACT_EXAMPLE))
    assert [p.id for p in mirror_plan(plan, side="left").points][3:] == ["c1_mirror"]
    assert [p.id for p in mirror_plan(plan, side="right").points][3:] == ["m1_mirror"]
    with pytest.raises(ValueError):
        mirror_plan(plan, side="both")


def test_everything_flips():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["sessions"] = [{"id": "touch_up"}]
    obj["points"] = [
        {"id": "a", "units": 2, "target": "corrugator_supercilii_left",
         "at": {"landmark": "brow_medial_left", "left_mm": 3, "lateral_mm": -1},
         "depth_mm": 4, "angle_deg": 20, "toward": "brow_peak_left", "session": "touch_up",
         "lot": "L1", "note": "n", "volume_ml": 0.05},
        {"id": "b", "units": 2, "entry_mm": [30.0, 1.0, 2.0], "tip_mm": [28.5, 1.0, -3.0]},
        {"id": "c", "units": 2, "entry_mm": [-30.0, 1.0, 2.0], "direction": [0.6, 0.0, -0.8],
         "depth_mm": 3},
        {"id": "d", "units": 2, "at": {"landmark": "glabella", "left_mm": 8}, "depth_mm": 3},
    ]
    out = mirror_plan(parse_plan(obj))
    a = out.point("a_mirror")
    assert a.placement.landmark == "brow_medial_right" and a.placement.left_mm == -3
    assert a.placement.lateral_mm == -1
    assert a.toward == "brow_peak_right" and a.target == "corrugator_supercilii_right"
    assert (a.session, a.lot, a.note, a.volume_ml, a.angle_deg) == ("touch_up", "L1", "n", 0.05, 20)
    b = out.point("b_mirror")
    assert b.placement.entry_mm == (-30.0, 1.0, 2.0) and b.tip_mm == (-28.5, 1.0, -3.0)
    c = out.point("c_mirror")
    assert c.direction == (-0.6, 0.0, -0.8)
    d = out.point("d_mirror")
    assert d.placement.landmark == "glabella" and d.placement.left_mm == -8
    assert point_side(out.point("d")) == "left" and point_side(d) == "right"


def test_midline_points_not_duplicated_and_no_negative_zero():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"] = [
        {"id": "m", "units": 4, "entry_mm": [0.3, 10.0, 80.0], "depth_mm": 3},
        {"id": "n", "units": 4, "at": {"landmark": "nasion", "left_mm": 0.0}, "depth_mm": 3},
        {"id": "l", "units": 4, "entry_mm": [20.0, 0.0, 0.0], "direction": [0.0, 0.0, -1.0],
         "depth_mm": 3},
    ]
    out = mirror_plan(parse_plan(obj))
    assert [p.id for p in out.points] == ["m", "n", "l", "l_mirror"]
    text = str(plan_to_dict(out))
    assert "-0.0" not in text


def test_symmetric_plan_unchanged_and_idempotent():
    plan = parse_plan(fresh(CONTRACT_EXAMPLE))
    once = mirror_plan(plan)
    assert mirror_plan(once) == once


def test_id_collisions_get_numbered_suffix():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"].append({"id": "c1_mirror", "units": 1, "at": {"landmark": "pupil_left"}, "depth_mm": 1})
    out = mirror_plan(parse_plan(obj))
    ids = [p.id for p in out.points]
    assert "c1_mirror2" in ids and "c1_mirror_mirror" in ids
    assert len(set(ids)) == len(ids)


def test_long_id_truncated_to_stay_valid():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][1]["id"] = "x" * 64
    out = mirror_plan(parse_plan(obj))
    assert all(len(p.id) <= 64 for p in out.points)


def test_a_copy_of_a_sided_id_names_the_other_side() -> None:
    """A right-side copy of ``dao_left`` was ``dao_left_mirror``: an id that names the wrong side in the plan table
    and the chart. It is ``dao_right``, or ``dao_right_mirror`` when that id is taken; ids naming no side keep the
    suffix."""
    pts = [{"id": "dao_left", "units": 3, "at": {"landmark": "cheilion_left", "lateral_mm": 3, "superior_mm": -18},
            "depth_mm": 3},
           {"id": "mas_top_left", "units": 12, "at": {"landmark": "gonion_left", "superior_mm": 30}, "depth_mm": 12},
           {"id": "c1", "units": 4, "at": {"landmark": "exocanthion_left", "lateral_mm": 10}, "depth_mm": 2},
           {"id": "dao_right", "units": 3, "at": {"landmark": "cheilion_right", "lateral_mm": 6, "superior_mm": -18},
            "depth_mm": 3}]
    plan = parse_plan({"format": "injectmap-plan", "version": 1,
                       "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                       "points": pts})
    out = mirror_plan(plan, side="left")
    assert [p.id for p in out.points][4:] == ["dao_right_mirror", "mas_top_right", "c1_mirror"]
    assert out.point("mas_top_right").placement.landmark == "gonion_right"
