"""Sessions and differences."""

from __future__ import annotations

import pytest
from plan_examples import CONTRACT_EXAMPLE, fresh

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.sessions import (
    TOUCH_UP_SESSION,
    add_session,
    diff_plans,
    diff_sessions,
    points_in_session,
    session_ids,
    touch_up_session,
    units_by_session,
)


def test_default_session_and_helpers():
    plan = parse_plan(fresh())
    assert session_ids(plan) == ["initial", "touch_up"]
    assert [p.id for p in points_in_session(plan)] == ["g1", "c1", "o1", "m1"]
    assert [p.id for p in points_in_session(plan, "touch_up")] == ["c1_tu"]
    assert units_by_session(plan) == {"initial": 24.5, "touch_up": 2.0}


def test_touch_up_convention():
    s = touch_up_session("2026-01-05")
    assert (s.id, s.date) == (TOUCH_UP_SESSION, "2026-01-19")
    assert touch_up_session().date is None
    plan = add_session(parse_plan(fresh(CONTRACT_EXAMPLE)), s)
    assert session_ids(plan) == ["initial", "touch_up"]
    with pytest.raises(PlanError):
        add_session(plan, s)


def test_diff_sessions_initial_vs_touch_up():
    plan = parse_plan(fresh())
    d = diff_sessions(plan, "initial", "touch_up")
    # c1_tu sits where c1 was: matched by placement, units changed 4.5 -> 2
    assert [c.before.id for c in d.changed] == ["c1"]
    assert d.changed[0].names == ("units", "angle_deg", "toward")
    assert [p.id for p in d.removed] == ["g1", "o1", "m1"]
    assert d.added == ()
    assert any(line.startswith("~ c1 / c1_tu: units 4.5 -> 2") for line in d.lines())


def test_diff_plans_by_id():
    a = parse_plan(fresh())
    obj = fresh()
    obj["points"][0]["units"] = 6
    obj["points"][1]["at"]["superior_mm"] = 7
    obj["points"][2]["target"] = "orbicularis_oculi_left"
    obj["points"][3]["tip_mm"] = [48.0, -70.0, 11.0]
    del obj["points"][4]
    obj["points"].append({"id": "new", "units": 2, "at": {"landmark": "pupil_left"}, "depth_mm": 1})
    b = parse_plan(obj)
    d = diff_plans(a, b)
    assert [p.id for p in d.added] == ["new"]
    assert [p.id for p in d.removed] == ["c1_tu"]
    assert {c.before.id: c.names for c in d.changed} == {
        "g1": ("units",), "c1": ("placement",), "o1": ("target",), "m1": ("tip_mm",)}
    assert diff_plans(a, a).empty
    assert len(d.lines()) == 6
