"""An overdose shows on the point that makes it, and a gross left/right imbalance is judged by its consequence and
likelihood (docs/severity.md).

The by-the-book lower-face plan (tests/planning/plans/lower_face_by_the_book.json) with 400 U at its top left
masseter point: the dangers (418 U into the left masseter, 486 U in the plan) were plan-level rows only, the point
itself said "caution" (its worst, from its field), and 418 U left against 24 U right was info, as a 4 U difference
would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from injectmap.anatomy.model import load_model
from injectmap.planning.check import check_plan, dumps
from injectmap.planning.results import Finding, PlanResult, Severity
from injectmap.planning.rules import thresholds

pytestmark = pytest.mark.slow

LOWER_FACE = Path(__file__).parent / "plans" / "lower_face_by_the_book.json"
REFERENCE_CASES = Path(__file__).resolve().parents[3] / "shared" / "reference-cases"


@pytest.fixture(scope="module")
def model():
    return load_model()


def _plan(units: dict[str, float] | None = None, extra: list[dict] | None = None) -> dict:
    plan = json.loads(LOWER_FACE.read_text())
    for p in plan["points"]:
        p["units"] = (units or {}).get(p["id"], p["units"])
    plan["points"] += extra or []
    return plan


#: the clinician's extra point: 6 U at the masseter's anterior border
P1 = {"id": "p1", "units": 6, "target": "masseter_superficial_left",
      "at": {"landmark": "gonion_left", "anterior_mm": 20, "superior_mm": 15}, "depth_mm": 12}


@pytest.fixture(scope="module")
def overdosed(model) -> PlanResult:
    return check_plan(_plan({"mas_top_left": 400}, [P1]), model)


def _codes(res: PlanResult, pid: str) -> dict[str, Finding]:
    return {f.code: f for p in res.points if p.id == pid for f in p.findings}


def test_the_point_that_makes_the_overdose_shows_it_as_its_worst(overdosed) -> None:
    top = next(p for p in overdosed.points if p.id == "mas_top_left")
    assert top.worst is Severity.DANGER
    f = _codes(overdosed, "mas_top_left")["point_dose_above_range"]
    assert f.severity is Severity.DANGER and f.structure == "masseter_superficial_left"
    assert f.distance_mm is None and f.rule == "dose_range" and "Xie" in f.source
    assert "400 U" in f.message and "418 U into masseter (left)" in f.message and "18 U without it" in f.message
    assert top.findings[0] is f  # a point's findings are worst first
    # the plan-level findings are kept, as they were
    plan_codes = {f.code: f for f in overdosed.findings}
    assert plan_codes["dose_above_range"].severity is Severity.DANGER
    assert plan_codes["total_dose_above_max"].severity is Severity.DANGER


def test_the_other_points_of_that_muscle_do_not_make_it_and_stay_as_they_were(model, overdosed) -> None:
    """Without the 400 U the left masseter has 18 U: its 6 U points do not make the overdose (a warning on every
    point is as useless as none), and their own findings are what they were."""
    plain = check_plan(_plan(extra=[P1]), model)
    for pid in ("mas_front_left", "mas_back_left", "p1", "mas_top_right", "dao_left"):
        assert "point_dose_above_range" not in _codes(overdosed, pid), pid
        assert ([f.code for p in overdosed.points if p.id == pid for f in p.findings]
                == [f.code for p in plain.points if p.id == pid for f in p.findings]), pid


def test_equal_doses_that_together_make_an_overdose_each_show_it(model) -> None:
    """Four 25 U points in one masseter (the reference case masseter-overdose): without any one the muscle still has
    75 U, yet together they make 100 U, more than twice the usual maximum; no point is picked over its equals."""
    case = json.loads((REFERENCE_CASES / "masseter-overdose.json").read_text()) if REFERENCE_CASES.exists() else None
    plan = case["plan"] if case else {
        "format": "injectmap-plan", "version": 1, "product": _plan()["product"],
        "points": [{"id": f"m{i}", "units": 25, "target": "masseter_superficial_left",
                    "at": {"landmark": "gonion_left", "anterior_mm": 12 + 4 * i, "superior_mm": 12 + 3 * i},
                    "depth_mm": 12} for i in range(4)]}
    res = check_plan(plan, model)
    for p in res.points:
        f = {f.code: f for f in p.findings}["point_dose_above_range"]
        assert f.severity is Severity.DANGER and "100 U into masseter (left)" in f.message
        assert "with m" in f.message  # names the other points that make it
    # 45 U in three points: above the range (caution), the same on each point
    three = {"format": "injectmap-plan", "version": 1, "product": plan["product"],
             "points": [dict(p, units=15) for p in plan["points"][:3]]}
    res = check_plan(three, model)
    assert all({f.code: f.severity for f in p.findings}["point_dose_above_range"] is Severity.CAUTION
               for p in res.points)


def test_a_dose_within_the_range_puts_nothing_on_its_points(model) -> None:
    res = check_plan(_plan(), model)
    assert not [f for p in res.points for f in p.findings if f.code.startswith("point_dose")]
    assert not [f for f in res.findings if f.severity >= Severity.CAUTION]


def test_the_json_keeps_its_keys(overdosed) -> None:
    out = json.loads(dumps(overdosed))
    f = next(f for p in out["points"] if p["id"] == "mas_top_left" for f in p["findings"])
    assert f["code"] == "point_dose_above_range" and "distance_mm" not in f
    assert [d["code"] for d in out["findings"]][:2] == ["dose_above_range", "total_dose_above_max"]
    assert PlanResult.from_dict(out).to_dict() == out


# -- left and right ---------------------------------------------------------------------------------------
def _imbalance(res: PlanResult, group: str) -> Finding:
    (f,) = [f for f in res.findings if f.code == "left_right_imbalance" and f.structure == group]
    return f


def test_a_gross_imbalance_is_judged_by_consequence_and_likelihood(model, overdosed) -> None:
    """418 U left against 24 U right: the difference alone is more than twice the masseter's usual maximum, a dose no
    asymmetry correction uses: a lopsided jaw and chewing as planned (a likely, major effect): a danger."""
    f = _imbalance(overdosed, "masseter")
    assert f.severity is Severity.DANGER
    assert "418 U left and 24 U right" in f.message and "394 U" in f.message
    assert f.source == thresholds().imbalance.cite


def _masseters(left: float, right: float) -> dict:
    """The plan with ``left`` and ``right`` U in its masseters, shared by each side's three points (none: no point)."""
    plan = _plan()
    pts = []
    for p in plan["points"]:
        side = "left" if p["id"].endswith("_left") else "right"
        units = {"left": left, "right": right}[side]
        if p["id"].startswith("mas_"):
            if units:
                pts.append(dict(p, units=round(units / 3, 2)))
        else:
            pts.append(p)
    return dict(plan, points=pts)


@pytest.mark.parametrize(("left", "right", "severity"), [
    (30, 24, None),  # within a quarter of each other: no finding
    (36, 24, "info"),  # a third apart, not twice: context
    (24, 12, "caution"),  # one side a treatment's dose, twice the other's: a lopsided jaw is plausible
    (40, 0, "caution"),  # one side only, within the usual maximum: plausible, or an asymmetry corrected by intent
    (100, 10, "danger"),  # 90 U apart: more than twice the usual maximum (40 U), a dose no correction uses
])
def test_masseter_balance_by_how_far_apart(model, left: float, right: float, severity: str | None) -> None:
    res = check_plan(_masseters(left, right), model)
    found = [f for f in res.findings if f.code == "left_right_imbalance" and f.structure == "masseter"]
    assert [f.severity.value for f in found] == ([severity] if severity else []), [f.message for f in found]


def test_a_small_imbalance_stays_info(model) -> None:
    """A DAO and a mentalis point 1 U lighter on one side (3 U and 2 U): more than a quarter apart, not twice:
    context, not a warning."""
    res = check_plan(_plan({"dao_right": 2, "mn_left": 2}), model)
    assert _imbalance(res, "depressor_anguli_oris").severity is Severity.INFO
    assert _imbalance(res, "mentalis").severity is Severity.INFO


def test_a_one_sided_touch_up_alone_stays_info(model) -> None:
    """A touch-up is one-sided by design: 20 U into one masseter at the touch-up, alone in its plan, is not a
    lopsided treatment (docs/severity.md)."""
    pts = [dict(p, session="touch_up") for p in _plan()["points"] if p["id"] in ("mas_top_left", "mas_front_left")]
    plan = dict(_plan(), points=pts, sessions=[{"id": "touch_up", "label": "Two-week touch-up"}])
    res = check_plan(plan, model)
    assert _imbalance(res, "masseter").severity is Severity.INFO


def test_training_asks_for_less_at_the_point_not_a_move(model) -> None:
    """Training turns each point finding into a fix. An overdose on a point is a dose, not a place: moving the point
    away from its own muscle would not help (the default fix said so); the fix is a smaller dose at that point."""
    from injectmap.teaching.training import load_exercise, score_attempt

    ex = load_exercise("glabellar_complex")
    plan = ex.reference_plan()
    for p in plan["points"]:
        if p["id"] in ("c1_left", "c2_left"):
            p["units"] = 15
    s = score_attempt(ex, plan, model)
    fb = [f for f in s.feedback if f.code == "point_dose_above_range"]
    assert {f.point for f in fb} == {"c1_left", "c2_left"}, [(f.code, f.point) for f in s.feedback]
    for f in fb:
        assert f.move is None and "give less at this point" in f.message, f.message
        assert "move the point away" not in f.message
