"""Doses as clinicians count them (planning.totals): numbers worked out by hand in the comments."""

from __future__ import annotations

import pytest
from plan_examples import CONTRACT_EXAMPLE, fresh

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.totals import (
    ProductSwitchError,
    areas_of,
    dose_totals,
    session_totals,
    side_of_point,
    switch_product,
)


def _plan(points, product=None):
    return parse_plan({"format": "injectmap-plan", "version": 1,
                       "product": product or {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                       "points": points})


def test_whole_plan_units_ml_and_vials():
    # FULL: g1 4 U, c1 4.5 U, m1 12 U, c1_tu 2 U of ona 100 U / 2.5 mL (40 U/mL); o1 4 U of inco 50 U / 1.25 mL
    # with its volume written as 0.05 mL.
    t = dose_totals(parse_plan(fresh()))
    assert t.units == 26.5 and t.ona_units == 26.5
    # 0.1 + 0.1125 + 0.05 (written) + 0.3 + 0.05
    assert t.volume_ml == pytest.approx(0.6125, abs=1e-9)
    assert t.products == ("incobotulinumtoxinA", "onabotulinumtoxinA")
    vials = {(v.product, v.units_per_vial): v for v in t.vials}
    ona = vials[("onabotulinumtoxinA", 100)]
    assert (ona.units, ona.vials, ona.vials_to_open) == (22.5, 0.225, 1)
    assert ona.volume_ml == pytest.approx(0.5625)
    inco = vials[("incobotulinumtoxinA", 50)]
    assert (inco.units, inco.vials, inco.vials_to_open, inco.volume_ml) == (4.0, 0.08, 1, 0.05)


def test_per_session():
    s = session_totals(parse_plan(fresh()))
    assert list(s) == ["initial", "touch_up"]
    assert (s["initial"].units, s["touch_up"].units) == (24.5, 2.0)
    assert s["touch_up"].volume_ml == 0.05  # 2 U at 40 U/mL
    assert [p.point_id for p in s["touch_up"].points] == ["c1_tu"]
    assert s["initial"].session == "initial"


def test_by_area_muscle_and_side():
    t = dose_totals(parse_plan(fresh()))
    # glabella: c1 4.5 + c1_tu 2 on the left, g1 4 on the midline (procerus at the glabella, left_mm 0)
    assert t.area("glabella", "left").units == 6.5 and t.area("glabella", "left").points == 2
    assert t.area("glabella", "midline").units == 4.0
    assert t.area("glabella", "right") is None
    assert t.area("lateral_canthal", "right").volume_ml == 0.05
    # upper_face overlaps the three areas: left 6.5, midline 4, right 4
    assert [(g.side, g.units) for g in t.by_area if g.name == "upper_face"] == [
        ("left", 6.5), ("right", 4.0), ("midline", 4.0)]
    assert t.muscle("masseter", "left").units == 12.0  # masseter_superficial counts as the masseter
    assert t.muscle("corrugator_supercilii", "left").units == 6.5
    # by side: left 4.5 + 12 + 2, right 4 (o1), midline 4 (g1)
    assert [(g.side, g.units) for g in t.by_side] == [("left", 18.5), ("right", 4.0), ("midline", 4.0)]


def test_a_point_with_no_target_counts_by_its_position():
    plan = _plan([{"id": "a", "units": 4, "entry_mm": [38.9, 30.0, 60.0], "depth_mm": 2},
                  {"id": "b", "units": 2, "entry_mm": [0.3, 30.0, 70.0], "depth_mm": 2},
                  {"id": "c", "units": 2, "entry_mm": [-12.0, 30.0, 70.0], "depth_mm": 2}])
    t = dose_totals(plan)
    assert [(g.side, g.units) for g in t.by_side] == [("left", 4.0), ("right", 2.0), ("midline", 2.0)]
    assert t.muscle("untargeted", "left").units == 4.0
    assert t.by_area == ()
    # a placed entry x overrides the placement
    assert side_of_point(plan.point("b"), entry_x=-3.1) == "right"
    assert side_of_point(plan.point("b"), entry_x=2.9) == "midline"  # inside the 3 mm band of sides.yaml
    assert dose_totals(plan, entry_x={"a": -20.0}).side("left") is None


def test_vials_to_open_round_up():
    # 3 x 40 U of ona from 100 U vials: 1.2 vials, 2 to open; exactly one vial opens one
    pts = [{"id": f"m{i}", "units": 40, "target": "masseter_superficial_left",
            "entry_mm": [50.0, -60.0 - i, 0.0], "depth_mm": 10} for i in range(3)]
    v = dose_totals(_plan(pts)).vials[0]
    assert (v.vials, v.vials_to_open, v.volume_ml) == (1.2, 2, 3.0)
    v = dose_totals(_plan(pts[:2] + [{**pts[2], "units": 20}])).vials[0]
    assert (v.vials, v.vials_to_open) == (1.0, 1)


def test_areas_of():
    assert areas_of("corrugator_supercilii_left") == ("glabella", "upper_face")
    assert areas_of("frontalis_right") == ("forehead", "upper_face")
    assert areas_of("masseter_deep_left") == ()
    assert areas_of(None) == ()


def test_switch_ona_to_abo_and_back():
    plan = parse_plan(fresh(CONTRACT_EXAMPLE))
    s = switch_product(plan, "abobotulinumtoxinA")
    # 2.5 abo units per ona unit: 4 -> 10, 10 -> 25
    assert [p.units for p in s.plan.points] == [10.0, 10.0, 25.0]
    assert s.plan.product.name == "abobotulinumtoxinA" and s.plan.product.units_per_vial == 300
    assert s.note.ratio == 2.5 and not s.note.estimate
    assert "Dorizas" in s.note.source and "2.5" in s.note.text
    assert s.note.converted == ("g1", "c1", "m1")
    # the comparison in ona units is the same before and after
    assert dose_totals(s.plan).ona_units == dose_totals(plan).ona_units == 18.0
    # 10 abo U at 300 U / 2.5 mL (120 U/mL)
    assert dose_totals(s.plan).points[0].volume_ml == pytest.approx(10 / 120, abs=1e-9)
    back = switch_product(s.plan, "onabotulinumtoxinA")
    assert [p.units for p in back.plan.points] == [4.0, 4.0, 10.0]
    assert back.note.ratio == 0.4


def test_switch_keeps_points_with_their_own_product_and_drops_stale_volumes():
    d = fresh()
    d["points"][0]["volume_ml"] = 0.1  # g1: 4 U in 0.1 mL of ona 100/2.5
    s = switch_product(parse_plan(d), "incobotulinumtoxinA")
    assert s.note.ratio == 1.0
    assert "o1" in s.note.kept and "o1" not in s.note.converted
    assert s.plan.point("o1") == parse_plan(d).point("o1")
    # same units, but another product: the written volume is recomputed
    assert s.note.volume_dropped == ("g1",) and s.plan.point("g1").volume_ml is None
    same = switch_product(parse_plan(d), parse_plan(d).product)
    assert same.note.volume_dropped == () and same.plan == parse_plan(d)


def test_switch_refuses_without_an_established_equivalence():
    plan = parse_plan(fresh(CONTRACT_EXAMPLE))
    with pytest.raises(ProductSwitchError, match="no established unit equivalence.*daxibotulinumtoxinA.*estimate"):
        switch_product(plan, "daxibotulinumtoxinA")
    s = switch_product(plan, "daxibotulinumtoxinA", accept_estimate=True)
    assert [p.units for p in s.plan.points] == [8.0, 8.0, 20.0] and s.note.estimate
    assert "estimate" in s.note.text
    with pytest.raises(ProductSwitchError, match="unknown product 'Botox'"):
        switch_product(plan, "Botox")


def test_switch_that_breaks_the_plan_limits_is_refused():
    plan = _plan([{"id": "a", "units": 200, "target": "masseter_superficial_left",
                   "entry_mm": [50.0, -60.0, 0.0], "depth_mm": 10}])
    with pytest.raises(PlanError, match="units"):
        switch_product(plan, "abobotulinumtoxinA")  # 500 U at one point
