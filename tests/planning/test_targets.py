"""A target is a muscle that is treated; nothing else may be one, and no rule passes over an artery,
a nerve, the duct, the gland or the orbit because a point names it as its target."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from injectmap.anatomy.ids import base_of
from injectmap.planning.check import check_plan
from injectmap.planning.doses import dosed_muscles, treatable_targets
from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.results import Severity

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}
#: one structure of every kind that must never be a target, and the finding a tip inside it must raise (a danger
#: for the orbit; a caution for a vessel, nerve or the duct, whose consequence for a toxin point is a bruise, a
#: transient neuropraxia or a duct injury: docs/severity.md)
NOT_TARGETS = {
    "facial_artery_left": "tip_in_artery",
    "supraorbital_nerve_left": "tip_in_nerve",
    "parotid_duct_left": "tip_in_duct",
    "orbit_left": "tip_in_orbit",
    "parotid_gland_left": None,
    "skin": None,
    "smas": None,
    "levator_palpebrae_superioris_left": None,
    "zygomaticus_major_left": None,
}


def _plan(**point) -> dict:
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "points": [{"id": "p", "units": 4, "at": {"landmark": "glabella"}, "depth_mm": 3, **point}]}


@pytest.mark.parametrize("sid", sorted(NOT_TARGETS))
def test_a_structure_that_is_not_a_treated_muscle_is_refused_as_target(sid: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_plan(_plan(target=sid))
    (issue,) = e.value.errors
    assert issue.point_id == "p" and issue.key == "target", str(issue)
    assert "not a muscle that is treated" in str(issue)


def test_every_dosed_muscle_is_a_target_on_each_side() -> None:
    targets = set(treatable_targets())
    assert {base_of(t) for t in targets} == set(dosed_muscles())
    for t in ("procerus", "frontalis_left", "frontalis_right", "masseter_superficial_right", "masseter_deep_left",
              "orbicularis_oculi_left", "platysma_right", "nasalis_left", "orbicularis_oris"):
        assert t in targets
        assert parse_plan(_plan(target=t)).points[0].target == t
    assert not targets & set(NOT_TARGETS)


def _on_centreline(model, sid: str) -> tuple[list[float], list[float]]:
    """An entry on the skin and a tip on the middle of a tube structure's centreline."""
    c = model.structures[sid].centreline
    tip = np.asarray(c[len(c) // 2], float)
    skin, _ = model.skin_point(tip)
    return [round(float(x), 2) for x in skin], [round(float(x), 2) for x in tip]


def _tip_plan(model, sid: str):
    if sid == "orbit_left":  # 3 mm lateral to the lateral canthus, 12 mm deep: into the orbit
        return parse_plan(_plan(at={"landmark": "exocanthion_left", "lateral_mm": 3}, depth_mm=12))
    entry, tip = _on_centreline(model, sid)
    obj = _plan()
    obj["points"][0] = {"id": "p", "units": 4, "entry_mm": entry, "tip_mm": tip}
    return parse_plan(obj)


@pytest.mark.slow
@pytest.mark.parametrize("sid", [s for s, code in NOT_TARGETS.items() if code])
def test_no_rule_passes_over_a_danger_because_of_the_target(model, sid: str) -> None:
    """Even a plan object built past the file's validation, aiming at the vessel, nerve, duct or orbit the
    tip lies in, keeps its danger: the target never silences a finding about those."""
    plan = _tip_plan(model, sid)
    plain = check_plan(plan, model)
    forced = dataclasses.replace(plan, points=(dataclasses.replace(plan.points[0], target=sid),))
    aimed = check_plan(forced, model)
    least = Severity.DANGER if sid.startswith("orbit") else Severity.CAUTION
    for res in (plain, aimed):
        raised = {(f.code, f.structure) for f in res.points[0].findings if f.severity >= least}
        assert (NOT_TARGETS[sid], sid) in raised, res.points[0].findings
        assert res.exit_status == (1 if least is Severity.DANGER else 0)
    # the target changes nothing about the structure the tip lies in
    assert [f for f in plain.points[0].findings if f.structure == sid] == \
        [f for f in aimed.points[0].findings if f.structure == sid]
