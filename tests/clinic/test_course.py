"""The course of treatment across visits (clinic.course): history, previous treatment, touch-up, balance."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from injectmap.anatomy.datamodel import DataFileError, validate_data
from injectmap.clinic.course import (
    ReviewOutcome,
    TouchUpFile,
    VisitRecord,
    balance,
    dose_history,
    previous_treatment,
    propose_touch_up,
)
from injectmap.planning.datafiles import load_data
from injectmap.planning.doses import dose_range, max_total
from injectmap.planning.plan import parse_plan
from injectmap.planning.protocols import protocol_plan
from injectmap.planning.totals import dose_totals, switch_product

DAY0 = date(2026, 1, 5)
AREAS = ("glabella", "forehead")
SIDES = ("left", "right", "midline")


def _initial_dict(units: dict[str, float] | None = None) -> dict:
    """The forehead-with-glabella protocol (glabella 8 U a side + 4 U procerus; forehead 8 U a side)."""
    d = protocol_plan("forehead_lines_with_glabella")
    for p in d["points"]:
        if units and p["id"] in units:
            p["units"] = units[p["id"]]
    return d


def _initial(units: dict[str, float] | None = None) -> VisitRecord:
    return VisitRecord(DAY0, "initial", parse_plan(_initial_dict(units)), id=1)


def _all(movement: int = 0, **moving: int) -> list[ReviewOutcome]:
    """An outcome for every glabella and forehead side; ``forehead_left=2`` sets one."""
    return [ReviewOutcome(a, s, moving.get(f"{a}_{s}", movement)) for a in AREAS for s in SIDES]


def _point(pid: str, units: float, x: float = 50.0, target: str | None = "masseter_superficial_left") -> dict:
    d = {"id": pid, "units": units, "entry_mm": [x, -60.0, 0.0], "depth_mm": 10}
    if target:
        d["target"] = target
    return d


def _other_visit(day: date, units: float, kind: str = "initial", vid: int = 9) -> VisitRecord:
    plan = parse_plan({"format": "injectmap-plan", "version": 1,
                       "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                       "points": [_point("m1", units)]})
    return VisitRecord(day, kind, plan, id=vid)


# -- the touch-up ------------------------------------------------------------------------------------

def test_movement_on_the_left_forehead_only_proposes_a_left_forehead_top_up():
    r = propose_touch_up([_initial()], _all(forehead_left=2))
    # 30% of the 8 U on the left forehead = 2.4 U, over its two sites (frontalis per point 1-4 U): 1.2 U each,
    # rounded down to the 0.5 U step: 1 U + 1 U
    assert [(p.id, p.units, p.target, p.session) for p in r.plan.points] == [
        ("frontalis_lower_left_tu", 1.0, "frontalis_left", "touch_up"),
        ("frontalis_upper_left_tu", 1.0, "frontalis_left", "touch_up")]
    assert {(x.area, x.side, x.basis) for x in r.reasons} == {("forehead", "left", "movement")}
    assert [p.placement for p in r.plan.points] == [
        _initial().plan.point("frontalis_lower_left").placement, _initial().plan.point("frontalis_upper_left").placement]
    # the touch-up session, dated 14 days after the initial visit, in the initial product
    assert r.plan.sessions[0].id == "touch_up" and r.plan.sessions[0].date == "2026-01-19"
    assert r.date == DAY0 + timedelta(days=14) and r.completes_visit_id == 1
    assert r.plan.product == _initial().plan.product
    moved = [d for d in r.decisions if d.proposed_ona_units > 0]
    assert [(d.area, d.side, d.proposed_ona_units) for d in moved] == [("forehead", "left", 2.0)]
    assert "30% of the initial 8 U = 2.4 U" in moved[0].text
    assert r.ona_units == 2.0 and r.window_ona_units == 40.0


def test_no_movement_proposes_nothing():
    r = propose_touch_up([_initial()], _all(0))
    assert r.empty and r.reasons == () and r.plan.points == ()
    assert all("below the threshold" in d.text for d in r.decisions)
    # slight forehead movement is kept on purpose (threshold 2); any glabella movement is topped up (threshold 1)
    assert propose_touch_up([_initial()], _all(forehead_left=1, forehead_right=1)).empty
    g = propose_touch_up([_initial()], _all(glabella_right=1))
    # 15% of 8 U = 1.2 U, less than the corrugator's smallest dose at a point (2 U): one point of 2 U at the
    # right corrugator site given the most (the medial one, first of two equal sites)
    assert [(p.id, p.units) for p in g.plan.points] == [("corrugator_medial_right_tu", 2.0)]
    assert "raised to the muscle's smallest dose at a point (2 U)" in g.reasons[0].text


def test_an_asymmetric_initial_proposes_balancing():
    # left forehead 2 + 4 = 6 U, right 8 U; at review the left still moves a little, the right not at all
    first = _initial({"frontalis_upper_left": 2})
    before = balance(first)
    fh = next(b for b in before if b.area == "forehead")
    assert (fh.left, fh.right, fh.difference, fh.weaker) == (6.0, 8.0, -2.0, "left")
    r = propose_touch_up([first], _all(forehead_left=1))  # below the forehead threshold: balance alone
    assert {(x.area, x.side, x.basis) for x in r.reasons} == {("forehead", "left", "balance")}
    assert sum(p.units for p in r.plan.points) == 2.0
    after = next(b for b in r.balance_after if b.area == "forehead")
    assert (after.left, after.right, after.difference, after.weaker) == (8.0, 8.0, 0.0, None)
    assert "given 2 U less" in r.reasons[0].text
    # both sides still, or the stronger side moving as much: no balancing
    assert propose_touch_up([first], _all(0)).empty
    assert propose_touch_up([first], _all(forehead_left=1, forehead_right=1)).empty


def test_balance_stays_within_the_muscle_range():
    # left 2 U, right 10 U (frontalis high 10 U a side): left moves fully, right not at all
    first = _initial({"frontalis_upper_left": 1, "frontalis_lower_left": 1,
                      "frontalis_upper_right": 5, "frontalis_lower_right": 5})
    r = propose_touch_up([first], _all(forehead_left=3))
    assert sum(p.units for p in r.plan.points) == 8.0  # the difference, within the 10 U of one side
    assert {x.basis for x in r.reasons} == {"balance"}


def test_the_ranges_cut_the_dose():
    # left forehead already 10 U (the frontalis high): full movement still gets nothing
    first = _initial({"frontalis_upper_left": 5, "frontalis_lower_left": 5})
    r = propose_touch_up([first], _all(forehead_left=3))
    assert r.empty
    d = next(d for d in r.decisions if (d.area, d.side) == ("forehead", "left"))
    assert d.requested_ona_units == 5.0 and "no room" in d.text


def test_earlier_touch_ups_of_the_same_initial_count():
    first = _initial({"frontalis_upper_left": 3, "frontalis_lower_left": 3})  # 6 U on the left forehead
    done = propose_touch_up([first], _all(forehead_left=3))  # 50% of 6 U = 3 U: 1.5 + 1.5
    assert [p.units for p in done.plan.points] == [1.5, 1.5]
    earlier = VisitRecord(DAY0 + timedelta(days=14), "touch_up", done.plan, completes_visit_id=1, id=2)
    assert next(b for b in balance(first, [earlier]) if b.area == "forehead").left == 9.0
    # a second review a week later asks for 3 U again, but the frontalis high (10 U a side) leaves 1 U
    again = propose_touch_up([first, earlier], _all(forehead_left=3), on=DAY0 + timedelta(days=21))
    assert [p.units for p in again.plan.points] == [1.0]
    assert again.reasons[0].limited_by == ("muscle range",)
    assert next(b for b in again.balance_before if b.area == "forehead").left == 9.0
    assert next(b for b in again.balance_after if b.area == "forehead").left == 10.0
    assert not {p.id for p in again.plan.points} & {p.id for p in done.plan.points}
    # a touch-up linked to another initial visit does not count
    stray = VisitRecord(DAY0 + timedelta(days=14), "touch_up", done.plan, completes_visit_id=77, id=5)
    assert sum(p.units for p in propose_touch_up([first, stray], _all(forehead_left=3)).plan.points) == 3.0


def test_side_effects_block_the_top_up_of_that_area_and_side():
    outs = [o if (o.area, o.side) != ("forehead", "left") else ReviewOutcome("forehead", "left", 3, ("brow ptosis",))
            for o in _all(0)]
    r = propose_touch_up([_initial()], outs)
    assert r.empty
    assert any("brow ptosis" in d.text for d in r.decisions)


def test_the_three_month_maximum_counts_every_visit_of_the_last_90_days():
    first = _initial()  # 40 U
    # a masseter visit of 359 U 60 days before: 399 U in the window, so at most 1 U is left
    heavy = _other_visit(DAY0 - timedelta(days=60), 359)
    r = propose_touch_up([heavy, first], _all(forehead_left=3))
    assert r.window_ona_units == 399.0
    assert sum(p.units for p in r.plan.points) == 1.0
    assert any("3-month maximum" in x.limited_by for x in r.reasons)
    # 100 days before: outside the window; 50% of 8 U asks for 4 U, the frontalis high (10 U) allows 2 U
    old = _other_visit(DAY0 - timedelta(days=100), 359)
    r = propose_touch_up([old, first], _all(forehead_left=3))
    assert r.window_ona_units == 40.0
    assert sum(p.units for p in r.plan.points) == 2.0
    d = next(d for d in r.decisions if d.proposed_ona_units)
    assert (d.requested_ona_units, d.proposed_ona_units, d.limited_by) == (4.0, 2.0, ("muscle range",))


def test_other_products_and_the_initial_chosen():
    low = _initial_dict({f"frontalis_{h}_{s}": 3 for h in ("upper", "lower") for s in ("left", "right")})
    abo = switch_product(parse_plan(low), "abobotulinumtoxinA").plan  # 7.5 abo U at each left frontalis point
    first = VisitRecord(DAY0, "initial", abo, product="abobotulinumtoxinA", id="a")
    r = propose_touch_up([first], _all(forehead_left=2))
    # 30% of 15 abo U (6 ona) = 4.5 abo U, less than two points of the smallest frontalis dose (1 ona U =
    # 2.5 abo U): one point of 4.5 abo U = 1.8 ona U
    assert [p.units for p in r.plan.points] == [4.5]
    assert r.ona_units == pytest.approx(1.8) and r.plan.product.name == "abobotulinumtoxinA"
    assert "of the initial 15 U = 4.5 U" in r.reasons[0].text
    with pytest.raises(ValueError, match="no initial visit"):
        propose_touch_up([first], _all(1), on=DAY0 - timedelta(days=1))
    with pytest.raises(ValueError, match="not its plan's"):
        VisitRecord(DAY0, "initial", abo, product="onabotulinumtoxinA")


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="unknown area"):
        ReviewOutcome("cheek", "left", 1)
    with pytest.raises(ValueError, match="movement"):
        ReviewOutcome("forehead", "left", 4)
    with pytest.raises(ValueError, match="side"):
        ReviewOutcome("forehead", "up", 1)
    with pytest.raises(ValueError, match="kind"):
        VisitRecord(DAY0, "followup", None)
    with pytest.raises(TypeError, match="date"):
        VisitRecord("2026-01-05", "initial", None)  # type: ignore[arg-type]


def test_the_data_file_is_checked():
    raw = load_data("touch_up.yaml", "injectmap.clinic")
    assert isinstance(validate_data(raw, TouchUpFile, "touch_up.yaml"), TouchUpFile)
    for mutate, fragment in [
        (lambda d: d["areas"].pop("forehead"), r"missing \['forehead'\]"),
        (lambda d: d["areas"]["glabella"].update(threshold=0), "threshold"),
        (lambda d: d["fraction_of_initial"]["values"].update({2: 0.9}), "must not fall"),
        (lambda d: d["fraction_of_initial"]["values"].update({0: 0.1}), "movement 0 asks for nothing"),
    ]:
        bad = copy.deepcopy(raw)
        mutate(bad)
        with pytest.raises(DataFileError, match=fragment):
            validate_data(bad, TouchUpFile, "touch_up.yaml")


outcome_st = st.builds(ReviewOutcome, area=st.sampled_from(("glabella", "forehead", "upper_face", "lateral_canthal")),
                       side=st.sampled_from(SIDES), movement=st.integers(0, 3))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcomes=st.lists(outcome_st, max_size=8), scale=st.sampled_from((0.5, 1.0, 1.5, 2.0)),
       prior=st.lists(st.tuples(st.integers(0, 120), st.integers(1, 390)), max_size=3),
       days=st.integers(10, 30))
def test_a_proposal_never_passes_the_three_month_maximum(outcomes, scale, prior, days):
    first = _initial({p["id"]: p["units"] * scale for p in _initial_dict()["points"]})
    others = [_other_visit(DAY0 - timedelta(days=back), u, vid=10 + i) for i, (back, u) in enumerate(prior)]
    on = DAY0 + timedelta(days=days)
    r = propose_touch_up([*others, first], outcomes, on=on)
    mt = max_total()
    window = sum(dose_totals(v.plan).ona_units for v in [*others, first] if (on - v.date).days <= mt.days)
    assert r.window_ona_units == pytest.approx(window)
    assert window + r.ona_units <= max(mt.units, window) + 1e-6
    # no muscle and side goes above its range's high through the proposal
    before, after = dose_totals(first.plan), dose_totals(r.plan)
    for g in after.by_muscle:
        rng = dose_range(g.name)
        given_before = before.muscle(g.name, g.side)
        total = g.ona_units + (given_before.ona_units if given_before else 0.0)
        if rng is not None and rng.per == "side":
            assert total <= max(rng.high_units, total - g.ona_units) + 1e-6
    assert all(p.session == "touch_up" and p.units > 0 for p in r.plan.points)


# -- history, previous treatment ----------------------------------------------------------------------

def test_history_by_muscle_and_side_across_visits():
    first = _initial()
    tu = propose_touch_up([first], _all(forehead_left=2))
    touch = VisitRecord(DAY0 + timedelta(days=14), "touch_up", tu.plan, completes_visit_id=1, id=2)
    review = VisitRecord(DAY0 + timedelta(days=13), "review", None, id=3)
    abo = switch_product(parse_plan(_initial_dict()), "abobotulinumtoxinA").plan
    later = VisitRecord(DAY0 + timedelta(days=120), "initial", abo, id=4)
    h = dose_history([later, touch, first, review])
    assert [(v.id, v.kind) for v in h.visits] == [(1, "initial"), (3, "review"), (2, "touch_up"), (4, "initial")]
    s = h.series()
    # the mid-forehead point has no target: counted as untargeted on the midline
    assert s[("frontalis", "left")] == (8.0, 0.0, 2.0, 8.0)
    assert s[("corrugator_supercilii", "right")] == (8.0, 0.0, 0.0, 8.0)
    assert s[("procerus", "midline")] == (4.0, 0.0, 0.0, 4.0)
    assert s[("untargeted", "midline")] == (4.0, 0.0, 0.0, 4.0)
    # the product's own units: 20 abo U into the left frontalis at the last visit
    assert h.series(ona=False)[("frontalis", "left")] == (8.0, 0.0, 2.0, 20.0)
    last = [r for r in h.rows if r.visit == 3 and r.muscle == "frontalis" and r.side == "left"]
    assert [(r.product, r.units, r.ona_units, r.points) for r in last] == [("abobotulinumtoxinA", 20.0, 8.0, 2)]
    assert len(h.keys()) == 6


def test_previous_treatment_is_the_last_visit_that_gave_points():
    first = _initial()
    tu = propose_touch_up([first], _all(forehead_left=2))
    touch = VisitRecord(DAY0 + timedelta(days=14), "touch_up", tu.plan, completes_visit_id=1, id=2)
    review = VisitRecord(DAY0 + timedelta(days=20), "review", None, id=3)
    visits = [review, touch, first]
    prev = previous_treatment(visits, before=DAY0 + timedelta(days=120))
    assert prev is not None and prev.visit_id == 2 and prev.kind == "touch_up"
    assert [p.id for p in prev.points] == ["frontalis_lower_left_tu", "frontalis_upper_left_tu"]
    prev = previous_treatment(visits, before=DAY0 + timedelta(days=14))  # today's is not "previous"
    assert prev is not None and prev.visit_id == 1 and len(prev.points) == 10
    assert previous_treatment(visits, before=DAY0) is None
    assert previous_treatment([]) is None


# -- the history picture (reports.history) ------------------------------------------------------------

def test_history_picture_has_a_bar_per_visit_muscle_and_side():
    from injectmap.reports.history import history_figure, history_png

    first = _initial()
    tu = propose_touch_up([first], _all(forehead_left=2))
    visits = [first, VisitRecord(DAY0 + timedelta(days=13), "review", None, id=3),
              VisitRecord(DAY0 + timedelta(days=14), "touch_up", tu.plan, completes_visit_id=1, id=2)]
    h = dose_history(visits)
    ax = history_figure(h).axes[0]
    bars = [p for p in ax.patches if p.get_height() > 0]
    # initial: 6 muscle-sides (corrugator L/R, frontalis L/R, procerus, the untargeted mid-forehead point);
    # review: none; touch-up: the left frontalis
    assert len(bars) == len(ax.patches) == 7
    assert sorted(round(b.get_height(), 6) for b in bars) == [2.0, 4.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2026-01-05\ninitial", "2026-01-18\nreview",
                                                            "2026-01-19\ntouch-up"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["corrugator supercilii (left)", "corrugator supercilii (right)", "frontalis (left)",
                      "frontalis (right)", "procerus (midline)", "untargeted (midline)"]
    # the touch-up bar stands over the third visit, the right sides are hatched
    tu_bar = next(b for b in bars if b.get_height() == 2.0)
    assert 1.6 < tu_bar.get_x() + tu_bar.get_width() / 2 < 2.4
    by_series = {c.get_label(): c.patches for c in ax.containers}
    assert [b.get_height() for b in by_series["frontalis (left)"]] == [8.0, 2.0]
    assert {b.get_hatch() for b in by_series["frontalis (right)"]} == {"///"}
    assert {b.get_hatch() for b in by_series["procerus (midline)"]} == {"..."}
    assert not any(b.get_hatch() for b in by_series["frontalis (left)"])
    png = history_png(h)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    empty = history_figure(dose_history([]))
    assert not empty.axes[0].patches
