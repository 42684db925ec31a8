"""The handout of a visit is dated from that visit: a touch-up visit's handout starts the touch-up's own
timeline on the visit's date (found by a clinician-style test: it printed today's date and a touch-up two
weeks after it)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from injectmap.planning.plan import parse_plan
from injectmap.reports import chart, handout

ROOT = Path(__file__).resolve().parents[2]
VISIT = "2026-05-18"
TODAY = dt.date(2026, 12, 5)  # the day the handout is printed, months after the visit


def _demo() -> dict:
    return json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())


def _touch_up_plan(session: dict) -> chart.Plan:
    """A touch-up visit's plan as the Patient card saves it: its points all in the touch-up session."""
    plan = _demo()
    plan["points"] = [{**p, "id": f"{p['id']}_tu", "units": 2, "session": "touch_up"} for p in plan["points"][:3]]
    plan["sessions"] = [session]
    return parse_plan(plan)


@pytest.mark.parametrize("session", [{"id": "touch_up", "date": VISIT, "label": "Two-week touch-up"},
                                     {"id": "touch_up"}], ids=["dated", "undated"])
def test_a_touch_up_visits_handout_is_dated_from_the_visit(session):
    plan = _touch_up_plan(session)
    h = chart.handout_data(plan, chart.ChartContext(visit_date=VISIT), today=TODAY)
    assert h.visit_date == dt.date(2026, 5, 18) and h.date_given
    assert h.timeline and all(r.treated == dt.date(2026, 5, 18) for r in h.timeline)
    assert all(r.review is None for r in h.timeline)  # no second touch-up offered two weeks later
    assert h.timeline[0].first_change[0] == dt.date(2026, 5, 19)
    text = handout.render_handout_html(h)
    assert "Treatment date: Mon 18 May 2026" in text and "no visit date was given" not in text
    assert "touch-up on Mon 18 May 2026" in text
    assert "Review visit" not in text and "touch-up on Mon 1 Jun 2026" not in text and "Dec 2026" not in text


def test_a_touch_up_plans_handout_without_a_visit_date_takes_the_sessions_date():
    plan = _touch_up_plan({"id": "touch_up", "date": VISIT})
    h = chart.handout_data(plan, today=TODAY)
    assert h.visit_date == dt.date(2026, 5, 18) and h.date_given
    assert h.timeline[0].treated == dt.date(2026, 5, 18)


def test_the_visit_date_given_wins_over_the_plans_initial_date():
    plan = _demo()
    plan["sessions"] = [{"id": "initial", "date": "2026-03-02"}]
    h = chart.handout_data(parse_plan(plan), chart.ChartContext(visit_date="2026-03-04"), today=TODAY)
    assert h.visit_date == dt.date(2026, 3, 4) and h.date_given
    assert h.timeline[0].treated == dt.date(2026, 3, 4) and h.timeline[0].review == dt.date(2026, 3, 18)


def test_an_initial_visit_keeps_its_two_week_review_and_its_touch_up():
    plan = _demo()
    plan["points"].append({"id": "t1", "units": 2, "target": "frontalis_left", "session": "touch_up",
                           "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 2})
    plan["sessions"] = [{"id": "touch_up"}]
    h = chart.handout_data(parse_plan(plan), chart.ChartContext(visit_date=VISIT), today=TODAY)
    first = [r for r in h.timeline if r.visit == "first visit"]
    touch = [r for r in h.timeline if r.visit != "first visit"]
    assert first and all(r.treated == dt.date(2026, 5, 18) and r.review == dt.date(2026, 6, 1) for r in first)
    assert touch and touch[0].treated == dt.date(2026, 6, 1)


def test_a_touch_up_visit_of_a_two_session_plan_dates_the_first_visit_before_it():
    plan = _demo()
    plan["points"].append({"id": "t1", "units": 2, "target": "frontalis_left", "session": "touch_up",
                           "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 2})
    plan["sessions"] = [{"id": "initial", "date": "2026-05-04"}, {"id": "touch_up", "date": VISIT}]
    h = chart.handout_data(parse_plan(plan), chart.ChartContext(visit_date=VISIT), today=TODAY)
    assert h.visit_date == dt.date(2026, 5, 18)
    assert {r.visit: r.treated for r in h.timeline} == {"first visit": dt.date(2026, 5, 4),
                                                       "touch-up": dt.date(2026, 5, 18)}


def test_no_date_anywhere_is_today_as_before():
    h = chart.handout_data(parse_plan(_demo()), today=TODAY)
    assert h.visit_date == TODAY and not h.date_given
    assert "(today; no visit date was given)" in handout.render_handout_html(h)


def _figure_texts(curves) -> str:
    from injectmap.reports.figures import timeline_figure

    fig = timeline_figure(curves)
    ax = fig.axes[0]
    return " ".join([t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_legend().get_texts()])


def test_a_touch_up_visits_timeline_figure_starts_on_the_visit_and_offers_no_review():
    plan = _touch_up_plan({"id": "touch_up", "date": VISIT})
    curves = chart.handout_curves(plan, chart.ChartContext(visit_date=VISIT))
    assert curves and all(c.start_day == 0 for c in curves)
    texts = _figure_texts(curves)
    assert "two-week review" not in texts and "(day 14)" not in texts and "touch-up" in texts
    assert "two-week review" in _figure_texts(chart.handout_curves(parse_plan(_demo())))  # a first visit's


def _two_session_plan() -> chart.Plan:
    """A first treatment on 4 May with its touch-up declared for 18 May (VISIT)."""
    plan = _demo()
    plan["points"].append({"id": "t1", "units": 2, "target": "frontalis_left", "session": "touch_up",
                           "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 2})
    plan["sessions"] = [{"id": "initial", "date": "2026-05-04"}, {"id": "touch_up", "date": VISIT}]
    return parse_plan(plan)


def test_a_first_visit_postponed_to_the_touch_ups_day_is_still_the_first_visit():
    """The first visit moved to the day the plan had declared for its touch-up: the visit is the first one (the
    records' kind, the card's or --session), so its handout reads as the first visit's (treated that day, its
    review two weeks later, the touch-up after it), not as the touch-up's because the dates coincide."""
    plan = _two_session_plan()
    ctx = chart.ChartContext(visit_date=VISIT, session="initial")
    assert chart.visit_session(plan, ctx) == "initial"
    h = chart.handout_data(plan, ctx, today=TODAY)
    assert h.visit_date == dt.date(2026, 5, 18) and h.date_given
    first = [r for r in h.timeline if r.visit == "first visit"]
    assert first and all(r.treated == dt.date(2026, 5, 18) and r.review == dt.date(2026, 6, 1) for r in first)
    assert {r.treated for r in h.timeline if r.visit != "first visit"} == {dt.date(2026, 6, 1)}
    assert all(c.start_day >= 0 for c in chart.handout_curves(plan, ctx))  # nothing before this visit
    assert [(v.session, v.date) for v in chart.visits(plan, ctx)] == [("initial", VISIT), ("touch_up", VISIT)]
    # not said: the plan's dates decide, as before (the touch-up's day is the touch-up's visit)
    assert chart.visit_session(plan, chart.ChartContext(visit_date=VISIT)) == "touch_up"


def test_a_touch_up_visit_postponed_past_its_declared_day_is_still_the_touch_up():
    """The same rule the other way: a touch-up visit two days late matched no declared date and read as the first
    visit of its two-session plan (the two-week review offered again). The first visit keeps the plan's date for
    it, not the visit's less the 14 days the plan had between them."""
    plan = _two_session_plan()
    ctx = chart.ChartContext(visit_date="2026-05-20", session="touch_up")
    assert chart.visit_session(plan, ctx) == "touch_up"
    h = chart.handout_data(plan, ctx, today=TODAY)
    assert {r.visit: r.treated for r in h.timeline} == {"first visit": dt.date(2026, 5, 4),
                                                       "touch-up": dt.date(2026, 5, 20)}
    assert all(r.review is None for r in h.timeline)


def test_a_session_the_plan_does_not_have_leaves_the_plan_to_decide():
    """A touch-up visit whose plan holds only first-visit points (or a session named otherwise): the plan's own
    rules decide, as without a session."""
    plan = parse_plan(_demo())
    ctx = chart.ChartContext(visit_date=VISIT, session="touch_up")
    assert chart.visit_session(plan, ctx) == "initial"
    with pytest.raises(ValueError, match="not a session id"):
        chart.ChartContext(session="touch up")
