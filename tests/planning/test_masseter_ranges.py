"""One masseter range, quoted from one place: planning's (dose_ranges.yaml), with the training exercise's narrower
one saying why it differs.

Three ranges were quoted: the small-jaw exercise allowed 20-30 U per side, its source text said "planning's
masseter range (20-40 U per side...)" (a copy of the data's numbers, typed into the exercise), and planning's
findings and the report "24-32 U, at most 40 U". Their sources: 24-32 U per side is the three-point pattern of
Aesthet Surg J (sjac336 fig. 8: 12-16 U plus two lower points of 6-8 U), 20-40 U per muscle Xie et al.'s dose by
thickness class (the range's low and high ends), and 30 U the exercise's own ceiling for a small jaw (the lower
part of Xie et al.'s range: a teaching choice).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from injectmap.planning.doses import dose_range, range_words
from injectmap.teaching.training import load_exercise, load_exercises

pytestmark = pytest.mark.slow

#: a range of units typed into a text ("20-40 U")
TYPED_RANGE = re.compile(r"\b\d+(?:\.\d+)?-\d+(?:\.\d+)?\s*U\b")


def _masseter_words() -> tuple[str, str]:
    """Planning's masseter range as the data gives it: its ends, and its usual part."""
    r = dose_range("masseter")
    assert r is not None
    return range_words(r.low_units, r.high_units), range_words(r.typical_low_units, r.typical_high_units)


def test_the_range_and_its_usual_part_come_from_their_published_sources() -> None:
    r = dose_range("masseter")
    assert r is not None and r.per == "side"
    assert "24-32 U per side" in r.source and "sjac336" in r.source  # the usual part: Aesthet Surg J's pattern
    assert "20-40 U per muscle by thickness class (Xie" in r.source  # the ends: Xie et al.
    assert (r.low_units, r.high_units, r.typical_low_units, r.typical_high_units) == (20, 40, 24, 32)


def test_an_exercise_that_takes_planning_s_range_types_none_of_its_numbers() -> None:
    """The exercise's source says why it narrows planning's range; planning's numbers come from dose_ranges.yaml
    when shown, so they cannot drift apart."""
    for ex_id, ex in load_exercises().items():
        data = json.loads(Path(ex.source).read_text())
        for g in [*data["dose_groups"], data["total"]]:
            if g.get("planning") or g.get("planning_area"):
                assert not TYPED_RANGE.search(g.get("source", "")), (ex_id, g.get("id", "total"), g["source"])


def test_the_small_jaw_exercise_says_how_its_range_differs_from_planning_s() -> None:
    ends, usual = _masseter_words()
    jaw = load_exercise("masseter_small_jaw")
    for g in jaw.dose_groups:
        words = g.allowed_words()
        assert words.startswith(range_words(g.min_units, g.max_units)), words
        assert (g.min_units, g.max_units) == (20, 30)
        assert f"planning's masseter range: {ends} per side, usually {usual}" in words, words
        assert "small jaw" in words and "lower part" in words, words
    # a group that takes planning's range unchanged says so without a reason of its own
    corr = next(g for g in load_exercise("glabellar_complex").dose_groups if g.id == "corrugator_supercilii_left")
    r = dose_range("corrugator_supercilii")
    assert r is not None
    assert corr.allowed_words() == (f"{range_words(r.low_units, r.high_units)} (planning's corrugator supercilii "
                                    f"range: {range_words(r.low_units, r.high_units)} per side, usually "
                                    f"{range_words(r.typical_low_units, r.typical_high_units)})")


def test_the_trainee_reads_both_ranges_in_the_dose_feedback(face_model) -> None:
    from injectmap.teaching.training import score_attempt

    ends, usual = _masseter_words()
    jaw = load_exercise("masseter_small_jaw")
    plan = jaw.reference_plan()
    for p in plan["points"]:
        if p["id"] == "m1_left":
            p["units"] = 20  # 32 U on the left: usual for planning, above this exercise's 30 U
    s = score_attempt(jaw, plan, face_model)
    fb = next(f for f in s.feedback if f.code == "dose_out_of_range" and f.structure == "masseter_superficial_left")
    assert "above the allowed 20-30 U" in fb.message
    assert f"planning's masseter range: {ends} per side, usually {usual}" in fb.message and "small jaw" in fb.message


def test_planning_and_the_report_quote_the_same_usual_range(face_model) -> None:
    from injectmap.planning.check import check_plan
    from injectmap.planning.plan import parse_plan
    from injectmap.reports.report import dose_rows

    ends, usual = _masseter_words()
    r = dose_range("masseter")
    assert r is not None
    plan = load_exercise("masseter_small_jaw").reference_plan()
    for p in plan["points"]:
        p["units"] = 20
    res = check_plan(plan, face_model)
    above = next(f for f in res.findings if f.code == "dose_above_range")
    assert f"above the usual range ({usual}, at most {r.high_units:g} U)" in above.message
    row = next(x for x in dose_rows(parse_plan(plan), face_model) if x["muscle"] == "masseter_superficial")
    assert row["typical"] == f"{usual} per side"
