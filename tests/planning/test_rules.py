"""Each named rule on its own: it fires where the literature says it should and stays quiet where
the standard technique is followed. Every rule has a source in injectmap/planning/data/rules.yaml."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy.model import load_model
from injectmap.planning.check import check_plan
from injectmap.planning.results import PlanResult, Severity
from injectmap.planning.rules import RULES, RulesFile, masseter_anterior_border, plan_rules, point_rules

pytestmark = pytest.mark.slow

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


@pytest.fixture(scope="module")
def model():
    return load_model()


def run(model, *points: dict) -> PlanResult:
    plan = {"format": "injectmap-plan", "version": 1, "product": PRODUCT, "points": list(points)}
    res = check_plan(plan, model)
    assert res.errors == (), res.errors
    return res


def codes(res: PlanResult, point: int = 0, rule: str | None = None) -> set[str]:
    return {f.code for f in res.points[point].findings if rule is None or f.rule == rule}


def pt(pid: str = "p", units: float = 4, **kw) -> dict:
    return {"id": pid, "units": units, **kw}


def test_every_rule_has_a_source_and_every_entry_a_rule() -> None:
    names = RulesFile.rule_names()
    assert names == set(RULES)
    for r in RULES.values():
        assert len(r.source) > 20, r.name
    assert point_rules() and plan_rules()


def test_tip_in_structure(model) -> None:
    # a tip on the facial artery's centreline beside the mouth corner
    c = model.structures["facial_artery_left"].centreline
    tip = c[len(c) // 2]
    skin, _ = model.skin_point(tip)
    res = run(model, pt(entry_mm=[round(float(x), 2) for x in skin], tip_mm=[round(float(x), 2) for x in tip]))
    f = [f for f in res.points[0].findings if f.code == "tip_in_artery"]
    # a tip on a vessel's mean course is a bruising risk for a toxin point: caution (docs/severity.md), not danger
    assert f and f[0].severity is Severity.CAUTION and f[0].structure == "facial_artery_left"
    # a superficial forehead point is in no vessel
    quiet = run(model, pt(target="frontalis_left", at={"landmark": "pupil_left", "superior_mm": 50}, depth_mm=2))
    assert not codes(quiet, rule="tip_in_structure")


def test_corridor(model) -> None:
    """The medial corrugator point lies inside the supratrochlear vessels' corridor: a caution that gives the
    distance to the mean course and the corridor's share; a chin point lies in no vessel's corridor."""
    res = run(model, pt(target="corrugator_supercilii_left", at={"landmark": "brow_medial_left", "superior_mm": 5},
                        depth_mm=5))
    cor = [f for f in res.points[0].findings if f.rule == "corridor"]
    assert cor and all(f.severity is Severity.CAUTION and f.distance_mm is not None and f.distance_mm < 0 for f in cor)
    assert {f.structure for f in cor} >= {"supratrochlear_artery_left"}
    assert all("mean course" in f.message and "68% of people" in f.message for f in cor)
    entry = {c.structure: c for c in res.points[0].corridors}["supratrochlear_artery_left"]
    assert entry.tip_inside and entry.distance_mm < entry.corridor_mm
    quiet = run(model, pt(target="mentalis_left", at={"landmark": "pogonion", "left_mm": 5, "superior_mm": -5},
                          depth_mm=6))
    assert not [f for f in quiet.points[0].findings if f.rule == "corridor" and f.severity >= Severity.CAUTION]


def test_sphere_spared_reaches_levator_from_the_rim(model) -> None:
    res = run(model, pt(units=5, target="corrugator_supercilii_left", at={"landmark": "orbital_rim_superior_left"},
                        depth_mm=6))
    hit = {f.structure for f in res.points[0].findings if f.code == "sphere_near_structure"}
    assert hit & {"levator_palpebrae_superioris_left", "orbit_left"}
    quiet = run(model, pt(units=2, target="frontalis_left", at={"landmark": "pupil_left", "superior_mm": 50},
                          depth_mm=2))
    assert "sphere_near_structure" not in codes(quiet)


def test_orbital_septum(model) -> None:
    res = run(model, pt(target="orbicularis_oculi_left", at={"landmark": "exocanthion_left", "lateral_mm": 3},
                        depth_mm=5))
    assert "tip_at_septum" in codes(res)
    quiet = run(model, pt(units=3, target="orbicularis_oculi_left",
                          at={"landmark": "exocanthion_left", "lateral_mm": 15}, depth_mm=2))
    assert "tip_at_septum" not in codes(quiet)


@pytest.mark.parametrize("above, fires", [(5, True), (15, True), (28, False)])
def test_frontalis_above_brow(model, above: float, fires: bool) -> None:
    res = run(model, pt(units=2, target="frontalis_left", at={"landmark": "brow_peak_left", "superior_mm": above},
                        depth_mm=2))
    assert ("frontalis_low" in codes(res)) is fires


@pytest.mark.parametrize("lateral, anterior, fires", [(2, 0, True), (6, 0, True), (10, -10, False), (22, -18, False)])
def test_lateral_orbit_margin(model, lateral: float, anterior: float, fires: bool) -> None:
    """The entry is the skin point nearest the moved landmark (CONTRACTS): around the curve of the
    temple, the published crow's feet site (10-15 mm from the canthus) is reached by moving back as well
    as out, and is not flagged; a point 2-6 mm from the canthus is on the rim."""
    res = run(model, pt(units=3, target="orbicularis_oculi_left",
                        at={"landmark": "exocanthion_left", "lateral_mm": lateral, "anterior_mm": anterior},
                        depth_mm=2))
    assert ("lateral_orbit_margin" in codes(res)) is fires


@pytest.mark.parametrize("above, fires", [(0, True), (6, True), (14, False)])
def test_rim_margin(model, above: float, fires: bool) -> None:
    res = run(model, pt(target="corrugator_supercilii_left",
                        at={"landmark": "orbital_rim_superior_left", "superior_mm": above}, depth_mm=3))
    assert ("rim_margin" in codes(res)) is fires


def test_masseter_safe_zone(model) -> None:
    # 1 cm inside the masseter's own anterior border (on this face the border is 20-21 mm in front of the
    # gonion at this height, so gonion + 8 mm forward is just over 1 cm behind it: checked below)
    good = run(model, pt(units=10, target="masseter_superficial_left",
                         at={"landmark": "gonion_left", "anterior_mm": 8, "superior_mm": 15}, depth_mm=12))
    entry = np.asarray(good.points[0].entry_mm)
    border = masseter_anterior_border(model, "left", float(entry[1]), 3.0)
    assert border is not None and border[2] - entry[2] >= 10.0
    assert not codes(good, rule="masseter_safe_zone")
    high = run(model, pt(units=10, target="masseter_superficial_left",
                         at={"landmark": "tragion_left", "anterior_mm": 20, "superior_mm": -10}, depth_mm=8))
    assert "masseter_above_safe_zone" in codes(high)
    front = run(model, pt(units=10, target="masseter_superficial_left",
                          at={"landmark": "gonion_left", "anterior_mm": 34, "superior_mm": 12}, depth_mm=10))
    assert "masseter_anterior_border" in codes(front)
    low = run(model, pt(units=10, target="masseter_superficial_left",
                        at={"landmark": "gonion_left", "anterior_mm": 10, "superior_mm": -12}, depth_mm=8))
    assert "masseter_below_border" in codes(low)
    shallow = run(model, pt(units=10, target="masseter_superficial_left",
                            at={"landmark": "gonion_left", "anterior_mm": 15, "superior_mm": 15}, depth_mm=3))
    assert "masseter_too_shallow" in codes(shallow)


def test_dao_position(model) -> None:
    good = run(model, pt(units=3, target="depressor_anguli_oris_left",
                         at={"landmark": "cheilion_left", "lateral_mm": 4, "superior_mm": -20}, depth_mm=4))
    assert not codes(good, rule="dao_position")
    medial = run(model, pt(units=3, target="depressor_anguli_oris_left",
                           at={"landmark": "cheilion_left", "lateral_mm": -8, "superior_mm": -20}, depth_mm=4))
    assert "dao_too_medial" in codes(medial)
    high = run(model, pt(units=3, target="depressor_anguli_oris_left",
                         at={"landmark": "cheilion_left", "lateral_mm": 3, "superior_mm": -4}, depth_mm=4))
    assert "dao_too_high" in codes(high)


def test_mentalis_position(model) -> None:
    good = run(model, pt(units=4, target="mentalis_left", at={"landmark": "pogonion", "left_mm": 5,
                                                             "superior_mm": -4}, depth_mm=6))
    assert not codes(good, rule="mentalis_position")
    high = run(model, pt(units=4, target="mentalis_left", at={"landmark": "sublabiale", "left_mm": 5,
                                                             "superior_mm": 3}, depth_mm=5))
    assert "mentalis_too_high" in codes(high)
    lateral = run(model, pt(units=4, target="mentalis_left", at={"landmark": "pogonion", "left_mm": 20,
                                                                "superior_mm": -4}, depth_mm=5))
    assert "mentalis_too_lateral" in codes(lateral)


def test_platysma_depth(model) -> None:
    at = {"landmark": "gonion_left", "anterior_mm": 12, "superior_mm": -14}
    assert "platysma_too_deep" in codes(run(model, pt(units=2, target="platysma_left", at=at, depth_mm=8)))
    assert "platysma_too_deep" not in codes(run(model, pt(units=2, target="platysma_left", at=at, depth_mm=2)))


def test_target_reached(model) -> None:
    far = run(model, pt(units=2, target="masseter_superficial_left", at={"landmark": "pupil_left",
                                                                         "superior_mm": 50}, depth_mm=2))
    assert "target_not_reached" in codes(far)
    near = run(model, pt(units=2, target="frontalis_left", at={"landmark": "pupil_left", "superior_mm": 50},
                         depth_mm=2))
    assert "target_not_reached" not in codes(near)


def _masseter(pid: str, side: str, units: float) -> dict:
    return pt(pid, units, target=f"masseter_superficial_{side}",
              at={"landmark": f"gonion_{side}", "anterior_mm": 15, "superior_mm": 15}, depth_mm=12)


def test_dose_range_and_imbalance(model) -> None:
    ok = run(model, _masseter("a", "left", 25), _masseter("b", "right", 25))
    assert not [f for f in ok.findings if f.code in ("dose_above_range", "left_right_imbalance")]
    over = run(model, _masseter("a", "left", 70), _masseter("b", "right", 25))
    above = [f for f in over.findings if f.code == "dose_above_range"]
    assert above and above[0].structure == "masseter_left"
    assert any(f.code == "left_right_imbalance" for f in over.findings)


def test_total_dose(model) -> None:
    pts = [_masseter(f"m{i}", "left" if i % 2 else "right", 100) for i in range(5)]
    res = run(model, *pts)
    assert any(f.code == "total_dose_above_max" and f.severity is Severity.DANGER for f in res.findings)
    assert not any(f.code == "total_dose_above_max" for f in run(model, *pts[:2]).findings)
