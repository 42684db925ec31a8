"""parse_plan: the valid forms and every kind of error, each naming the point and the key."""

from __future__ import annotations

import math

import pytest
from plan_examples import CONTRACT_EXAMPLE, FULL, fresh, reference_plans

from injectmap.planning.plan import (
    DEFAULT_SESSION,
    Plan,
    PlanError,
    PlanIssue,
    parse_plan,
    plan_to_dict,
)


def errors_of(obj) -> list[PlanIssue]:
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    assert e.value.errors, "a PlanError must list its errors"
    return e.value.errors


def messages(obj) -> list[str]:
    return [str(i) for i in errors_of(obj)]


def test_contract_example_parses():
    plan = parse_plan(fresh(CONTRACT_EXAMPLE))
    assert isinstance(plan, Plan)
    assert [p.id for p in plan.points] == ["g1", "c1", "m1"]
    assert plan.points[0].session_id == DEFAULT_SESSION
    assert plan.volume_ml_of(plan.points[0]) == 0.1
    assert plan.points[2].placement.entry_mm == (-52.0, -70.5, 20.1)
    assert plan.points[1].placement.offset_left_mm() == 10.0


def test_full_example_parses():
    plan = parse_plan(fresh())
    assert plan.points[2].product.name == "incobotulinumtoxinA"
    assert plan.volume_ml_of(plan.points[2]) == 0.05
    assert plan.points[1].angle_deg == 30 and plan.points[1].toward == "brow_peak_left"
    assert plan.points[4].session_id == "touch_up"
    assert plan.model.sex == 0.25
    assert plan.points[2].placement.offset_left_mm() == -15.0


@pytest.mark.parametrize("obj", reference_plans())
def test_reference_case_plans_parse(obj):
    assert plan_to_dict(parse_plan(obj)) == obj


def test_contract_example_message_format():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][1]["depth_mm"] = 55
    assert messages(obj) == ["points[1] (id 'c1').depth_mm: must be between 0 and 40, got 55"]


def _point(**kw):
    p = {"id": "p", "units": 4, "at": {"landmark": "glabella"}, "depth_mm": 3}
    p.update(kw)
    return {k: v for k, v in p.items() if v is not _DROP}


_DROP = object()


def _plan_with(point) -> dict:
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"] = [point]
    return obj


@pytest.mark.parametrize(
    "point, key, fragment",
    [
        (_point(units=-4), "units", "greater than 0"),
        (_point(units=0), "units", "greater than 0"),
        (_point(units=1e9), "units", "at most 400"),
        (_point(units=True), "units", "must be a number, got boolean true"),
        (_point(units="4"), "units", "must be a number, got string '4'"),
        (_point(units=None), "units", "got null"),
        (_point(units=float("nan")), "units", "finite"),
        (_point(units=float("inf")), "units", "finite"),
        (_point(units=_DROP), "units", "is required"),
        (_point(depth_mm=-1), "depth_mm", "between 0 and 40"),
        (_point(depth_mm=40.5), "depth_mm", "between 0 and 40"),
        (_point(depth_mm=_DROP), "depth_mm", "is required (or `tip_mm`)"),
        (_point(tip_mm=[0, 0, 0]), "tip_mm", "not both"),
        (_point(direction=[1, 1, 0]), "direction", "unit vector"),
        (_point(direction=[1.002, 0, 0]), "direction", "unit vector"),
        (_point(direction=[1, 0]), "direction", "3 numbers"),
        (_point(direction=[1, 0, False]), "direction[2]", "must be a number"),
        (_point(target="glabella"), "target", "landmark id"),
        (_point(target="nose_muscle"), "target", "unknown structure id"),
        (_point(target=7), "target", "must be a string"),
        (_point(at={"landmark": "chin"}), "at.landmark", "unknown landmark id 'chin'"),
        (_point(at={"landmark": "glabella", "lateral_mm": 4}), "at.lateral_mm", "midline landmark"),
        (_point(at={"landmark": "pupil_left", "up_mm": 4}), "at.up_mm", "unknown key"),
        (_point(at={"superior_mm": 4}), "at.landmark", "is required"),
        (_point(at={"landmark": "pupil_left", "superior_mm": 1000}), "at.superior_mm",
         "between -100 and 100"),
        (_point(at="glabella"), "at", "must be an object"),
        (_point(at=_DROP), "at", "no placement"),
        (_point(entry_mm=[0, 0, 0]), "at", "not both"),
        (_point(at=_DROP, entry_mm=[0, 0]), "entry_mm", "3 numbers"),
        (_point(at=_DROP, entry_mm=[0, 0, 0, 0]), "entry_mm", "got 4 items"),
        (_point(at=_DROP, entry_mm="0,0,0"), "entry_mm", "array of 3 numbers"),
        (_point(at=_DROP, entry_mm=[0, float("nan"), 0]), "entry_mm[1]", "finite"),
        (_point(angle_deg=20), "toward", "is required with `angle_deg`"),
        (_point(toward="pupil_left"), "toward", "only allowed with `angle_deg`"),
        (_point(angle_deg=95, toward="pupil_left"), "angle_deg", "between 0 and 89"),
        (_point(angle_deg=10, toward="pupil_left", direction=[0, 0, -1]), "angle_deg", "not allowed"),
        (_point(volume_ml=0), "volume_ml", "greater than 0"),
        (_point(volume_ml=50), "volume_ml", "at most 5"),
        (_point(session="Touch Up"), "session", "lower-case id"),
        (_point(session="touch_up"), "session", "not declared"),
        (_point(lot=123), "lot", "must be a string"),
        (_point(note="x" * 5000), "note", "at most 2000 characters"),
        (_point(colour="red"), "colour", "unknown key"),
        (_point(product={"name": "botox", "units_per_vial": 100, "diluent_ml": 2.5}), "product.name",
         "did you mean 'onabotulinumtoxinA'"),
        (_point(product="abobotulinumtoxinA"), "product", "must be an object"),
    ],
)
def test_point_errors_name_point_and_key(point, key, fragment):
    errs = errors_of(_plan_with(point))
    hits = [e for e in errs if e.key == key and fragment in e.message]
    assert hits, [str(e) for e in errs]
    e = hits[0]
    assert e.point_index == 0
    assert str(e).startswith("points[0] (id 'p')." + key + ": ")


def test_bad_id_uses_index():
    errs = errors_of(_plan_with(_point(id="has space")))
    assert str(errs[0]).startswith("points[0].id: ")
    errs = errors_of(_plan_with(_point(id=5)))
    assert str(errs[0]) == "points[0].id: must be a string, got 5"
    errs = errors_of(_plan_with(_point(id=_DROP)))
    assert str(errs[0]) == "points[0].id: is required"


def test_duplicate_ids():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][2]["id"] = "g1"
    assert messages(obj) == ["points[2] (id 'g1').id: duplicate point id 'g1' (also points[0])"]


def test_all_errors_are_collected():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["version"] = 2
    obj["format"] = "other"
    obj["points"][0]["units"] = -1
    obj["points"][1]["depth_mm"] = 99
    obj["points"][2]["target"] = "nowhere"
    obj["extra"] = 1
    msgs = messages(obj)
    assert len(msgs) == 6, msgs
    assert any(m.startswith("version: ") for m in msgs)
    assert any(m.startswith("format: ") for m in msgs)
    assert any(m.startswith("extra: unknown key") for m in msgs)


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda o: o.update(version=2), "version"),
        (lambda o: o.update(version=1.0), "version"),
        (lambda o: o.update(version=True), "version"),
        (lambda o: o.update(version="1"), "version"),
        (lambda o: o.pop("version"), "version"),
        (lambda o: o.update(format="injectmap"), "format"),
        (lambda o: o.pop("format"), "format"),
        (lambda o: o.pop("product"), "product"),
        (lambda o: o.pop("points"), "points"),
        (lambda o: o.update(points={}), "points"),
        (lambda o: o.update(product="onabotulinumtoxinA"), "product"),
        (lambda o: o["product"].update(name="Dysport"), "product.name"),
        (lambda o: o["product"].update(units_per_vial=150), "product.units_per_vial"),
        (lambda o: o["product"].update(units_per_vial=-100), "product.units_per_vial"),
        (lambda o: o["product"].update(diluent_ml=0), "product.diluent_ml"),
        (lambda o: o["product"].update(diluent_ml=25), "product.diluent_ml"),
        (lambda o: o["product"].pop("diluent_ml"), "product.diluent_ml"),
        (lambda o: o["product"].update(lot="x"), "product.lot"),
        (lambda o: o.update(patient=5), "patient"),
        (lambda o: o.update(sessions="initial"), "sessions"),
        (lambda o: o["sessions"].append({"id": "touch_up"}), "sessions[2].id"),
        (lambda o: o["sessions"].append({"date": "2026-01-01"}), "sessions[2].id"),
        (lambda o: o["sessions"][1].update(date="2026-02-30"), "sessions[1].date"),
        (lambda o: o["sessions"][1].update(date="19 Jan 2026"), "sessions[1].date"),
        (lambda o: o["sessions"][1].update(room=3), "sessions[1].room"),
        (lambda o: o["model"].update(sex=2), "model.sex"),
        (lambda o: o["model"].update(sex="f"), "model.sex"),
        (lambda o: o["model"]["shape"].update(jaw=5), "model.shape.jaw"),
        (lambda o: o["model"].update(age=40), "model.age"),
    ],
)
def test_plan_level_errors(mutate, path):
    obj = fresh()
    mutate(obj)
    errs = errors_of(obj)
    assert any(e.path == path for e in errs), [str(e) for e in errs]


def test_undeclared_session_when_sessions_declared():
    obj = fresh()
    obj["points"][4]["session"] = "touchup"
    errs = errors_of(obj)
    assert [str(e) for e in errs] == [
        "points[4] (id 'c1_tu').session: session 'touchup' is not declared in `sessions`; "
        "only 'initial' needs no declaration"
    ]


def test_initial_needs_no_declaration():
    obj = fresh()
    obj["sessions"] = [{"id": "touch_up"}]
    obj["points"][0]["session"] = "initial"
    assert parse_plan(obj).points[0].session_id == "initial"


@pytest.mark.parametrize("top", [None, [], "plan", 3, True, [fresh()]])
def test_top_level_not_object(top):
    errs = errors_of(top)
    assert "must be a JSON object" in str(errs[0])


def test_units_per_vial_by_product():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["product"] = {"name": "abobotulinumtoxinA", "units_per_vial": 300, "diluent_ml": 2.5}
    assert parse_plan(obj).product.units_per_vial == 300
    obj["product"]["units_per_vial"] = 100
    (e,) = errors_of(obj)
    assert "comes in vials of 125, 300, 500 U" in str(e)


def test_huge_integer_message_is_short():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][0]["units"] = 10 ** 5000
    (e,) = errors_of(obj)
    assert "digits" in e.message and len(e.message) < 200


def test_direction_tolerance():
    s = 1 / math.sqrt(2)
    obj = _plan_with(_point(direction=[s, s * 1.0005, 0]))
    assert parse_plan(obj).points[0].direction is not None


def test_plan_error_str_lists_all():
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][0]["units"] = -1
    obj["points"][1]["units"] = -1
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    text = str(e.value)
    assert "2 errors" in text and "points[0] (id 'g1').units" in text and "points[1] (id 'c1').units" in text


def test_full_example_is_unchanged_by_parsing():
    snapshot = fresh()
    parse_plan(snapshot)
    assert snapshot == FULL
