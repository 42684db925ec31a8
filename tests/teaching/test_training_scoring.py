"""Scoring what a trainee places by hand: points clicked without a target are scored as the exercise's points, a
tip in a muscle to spare breaks a placement rule and its units are not the target's dose, balance and dose count
the same units, and the feedback's sentences say what happened (teaching/training.py, training_fixes.py)."""

from __future__ import annotations

import re

import pytest

from injectmap.teaching.training import Score, load_exercise, score_attempt

MASSETER = "masseter_small_jaw"


def _masseter_plus_stray_point() -> dict:
    """The masseter reference answer and one more point, placed by landmark as in the app: 8 U, 9 mm deep, by the
    left mouth corner (its tip lies in the buccinator, in the facial artery's corridor in front of the masseter)."""
    plan = load_exercise(MASSETER).reference_plan()
    plan["points"].append({"id": "p1", "units": 8, "depth_mm": 9,
                           "at": {"landmark": "cheilion_left", "superior_mm": -10, "lateral_mm": 25,
                                  "anterior_mm": -15}})
    return plan


def _shallow_left_clicks() -> dict:
    """Three points clicked on the left jaw at the app's default depth (2 mm: in the fat), 4 U each, no target."""
    plan = load_exercise(MASSETER).start_plan()
    for i, (up, forward) in enumerate(((35, 10), (20, 6), (12, 0)), 1):
        plan["points"].append({"id": f"p{i}", "units": 4, "depth_mm": 2,
                               "at": {"landmark": "gonion_left", "superior_mm": up, "anterior_mm": forward}})
    return plan


@pytest.fixture(scope="module")
def stray(model) -> Score:
    return score_attempt(load_exercise(MASSETER), _masseter_plus_stray_point(), model)


@pytest.fixture(scope="module")
def shallow(model) -> Score:
    return score_attempt(load_exercise(MASSETER), _shallow_left_clicks(), model)


def _items(score: Score, point: str) -> list:
    return [f for f in score.feedback if f.point == point]


def test_a_masseter_point_whose_tip_is_outside_the_masseter_does_not_pass(stray: Score) -> None:
    assert not stray.passed, stray.verdict()
    assert any(r.startswith("placement rule broken") and "point p1" in r for r in stray.failed), stray.failed
    assert any(f.code == "tip_in_spared_muscle" and f.structure == "buccinator_left" for f in _items(stray, "p1"))


def test_units_outside_the_target_muscle_are_not_its_dose(stray: Score) -> None:
    """The reference gives 20 U per side, 40 U in all; p1's 8 U in the buccinator count for neither."""
    assert re.search(r"\btotal 40 U\b", stray.components["dose"].detail), stray.components["dose"].detail
    assert "8 U" in stray.components["dose"].detail  # and it says where the rest went
    # the two sides are still dosed alike: the buccinator's units are no masseter's
    assert stray.components["balance"].points == stray.components["balance"].max_points


def test_a_point_in_front_of_the_masseter_is_sent_back_and_never_deeper(stray: Score) -> None:
    """Published: stay behind the anterior border, away from the facial artery and risorius; deeper at the mouth
    corner goes through the buccinator toward the mouth."""
    items = _items(stray, "p1")
    assert items
    for f in items:
        assert f.move is None or f.move.deeper <= 0, f.message
        assert not re.search(r"\d+ mm deeper", f.message), f.message
    border = next(f for f in items if f.code == "masseter_anterior_border")
    assert border.move is not None and border.move.forward < 0 and "behind" in border.message


def test_a_point_without_a_target_is_scored_as_the_exercises_point_on_its_side(shallow: Score) -> None:
    said = [f for f in shallow.feedback if f.code == "target_assumed"]
    assert {f.point for f in said} == {"p1", "p2", "p3"}
    assert {f.structure for f in said} == {"masseter_superficial_left"}


def test_a_shallow_masseter_attempt_names_the_depth(shallow: Score) -> None:
    shallow_points = {f.point for f in shallow.feedback if f.code == "masseter_too_shallow"}
    assert shallow_points == {"p1", "p2", "p3"}
    assert any("placement rule broken" in r for r in shallow.failed)


def test_balance_counts_the_units_each_side_gets(shallow: Score, model) -> None:
    """12 U on the left and none on the right is not balanced; nothing on either side earns no balance either."""
    assert shallow.components["balance"].points == 0
    item = next(f for f in shallow.feedback if f.code == "left_right_imbalance")
    assert "12 U left and 0 U right" in item.message
    empty = score_attempt(load_exercise(MASSETER), load_exercise(MASSETER).start_plan(), model)
    assert empty.components["balance"].points == 0


def test_the_dose_numbers_agree(shallow: Score) -> None:
    doses = {f.structure + ("" if "this group" in f.message else " total"): f.message
             for f in shallow.feedback if f.code == "dose_out_of_range"}
    assert "12 U is below" in doses["masseter_superficial_left"]
    assert "0 U is below" in doses["masseter_superficial_right"]
    assert "12 U is below" in doses["masseter_superficial_left total"]
    assert re.search(r"\btotal 12 U\b", shallow.components["dose"].detail)


def test_a_side_left_untreated_is_said_as_it_is(shallow: Score, model) -> None:
    right = next(f for f in shallow.feedback if f.code == "target_missed" and f.structure.endswith("_right"))
    assert "Only the left side is treated" in right.message and "right side stays active" in right.message
    empty = score_attempt(load_exercise(MASSETER), load_exercise(MASSETER).start_plan(), model)
    for f in (f for f in empty.feedback if f.code == "target_missed"):
        assert "one side" not in f.message and "Only the" not in f.message, f.message
        assert "when clenching." in f.message, f.message  # the action is a sentence of its own


def test_the_duct_corridor_names_the_ducts_own_hazard(shallow: Score) -> None:
    duct = next(f for f in shallow.feedback if f.code == "tip_in_duct_corridor")
    fix = duct.message.split("To fix:")[1]
    assert "sialocele" in fix and "bruise" not in fix and "numbness" not in fix, fix
    for f in shallow.feedback:
        assert "stensen" not in f.message, f.message  # a proper name keeps its capital
        # a fix that comes first is named whole, not cut at the bracket of the duct's name
        assert "corridor of the parotid comes first" not in f.message, f.message


def test_following_the_too_shallow_hint_puts_the_tip_in_the_masseter(shallow: Score, model) -> None:
    from injectmap.planning.check import check_plan, model_for_plan
    from injectmap.planning.plan import parse_plan
    from injectmap.teaching.training_fixes import apply_move

    plan = _shallow_left_clicks()
    face = model_for_plan(parse_plan(plan))
    for p in plan["points"]:
        p["target"] = "masseter_superficial_left"  # as scored
    outs = {o.id: o for o in check_plan(plan, face).points}
    for f in (f for f in shallow.feedback if f.code == "masseter_too_shallow"):
        assert f.move is not None and f.move.deeper > 0 and {"up", "lateral", "forward"}.isdisjoint(f.move.signs())
        i = next(k for k, p in enumerate(plan["points"]) if p["id"] == f.point)
        moved = {**plan, "points": [*plan["points"][:i], apply_move(plan["points"][i], outs[f.point], f.move, face),
                                    *plan["points"][i + 1:]]}
        after = {o.id: o for o in check_plan(moved, face).points}[f.point]
        assert after.tip_in == "masseter_superficial_left", (f.message, after.tip_in)


def test_the_pass_mark_names_the_new_placement_rule() -> None:
    from injectmap.teaching.training import pass_mark_lines

    first = pass_mark_lines()[0]
    assert "muscle to spare instead of the target" in first and "without a target" in first
