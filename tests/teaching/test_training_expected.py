"""Exercises scored on the expected result (teaching/training_expected.py): the reference answers meet it; a
plan that gives a crooked smile or leaves a frown does not pass, and the feedback says what was measured."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from injectmap.teaching.training import load_exercise, score_attempt
from injectmap.teaching.training_expected import ExpectedResultSpec

WITH_EXPECTED = ("glabellar_complex", "forehead_heavy_brow", "crows_feet_smile", "depressor_anguli_oris", "mentalis")


@pytest.mark.parametrize("eid", WITH_EXPECTED)
def test_the_reference_answer_meets_the_expected_result(model, eid) -> None:
    ex = load_exercise(eid)
    assert ex.expected is not None and ex.expected.day == 14
    s = score_attempt(ex, ex.reference_plan(), model)
    assert s.expected and all(e.met for e in s.expected), [e.as_dict() for e in s.expected]
    assert s.passed, s.verdict()
    assert s.to_dict()["expected"][0]["met"] is True


def test_a_low_crows_feet_point_fails_the_smile_expectation_with_the_asymmetry_in_mm(model) -> None:
    from injectmap.planning.protocols import protocol_plan

    ex = load_exercise("crows_feet_smile")
    plan = ex.reference_plan()
    # the lower point placed as the template's middle one, but 20 mm lower: over the zygomaticus' origin
    low = copy.deepcopy(next(p for p in protocol_plan("lateral_canthal_three_point")["points"]
                             if p["id"] == "canthal_mid_left"))
    low["id"], low["at"]["superior_mm"] = "o3_left", -20.0
    plan["points"] = [low if p["id"] == "o3_left" else p for p in plan["points"]]
    s = score_attempt(ex, plan, model)
    unmet = {e.id: e for e in s.expected if not e.met}
    assert {"smile_kept", "no_smile_effect"} <= set(unmet)
    assert "mm" in unmet["no_smile_effect"].measured and "left" in unmet["no_smile_effect"].measured
    items = [f for f in s.feedback if f.code == "expected_result"]
    assert items and any("Smile at full strength" in f.message and "Measured" in f.message for f in items)
    assert not s.passed and any("expected result not met" in r for r in s.failed)


def test_a_glabellar_plan_on_one_side_leaves_the_other_frown(model) -> None:
    ex = load_exercise("glabellar_complex")
    plan = ex.reference_plan()
    plan["points"] = [p for p in plan["points"] if not p["id"].endswith("_right")]
    s = score_attempt(ex, plan, model)
    frown = next(e for e in s.expected if e.id == "frown_gone")
    assert not frown.met and "right" in frown.measured


def test_an_expected_check_names_a_known_expression_and_one_kind() -> None:
    ok = {"source": "a test of the schema", "checks": [{"id": "a", "text": "smile kept", "expression": "smile",
                                                          "min_strength": 0.9}]}
    assert ExpectedResultSpec.model_validate(ok).checks[0].kind == "min_strength"
    for bad in ({"id": "a", "text": "x y z", "expression": "grin", "min_strength": 0.9},
                {"id": "a", "text": "x y z", "expression": "smile", "min_strength": 0.9, "max_strength": 0.95},
                {"id": "a", "text": "x y z", "no_side_effects": ["sneeze"]},
                {"id": "a", "text": "x y z", "measure": "nose_mm", "max_asymmetry_mm": 1}):
        with pytest.raises(ValidationError):
            ExpectedResultSpec.model_validate({**ok, "checks": [bad]})


def test_a_dao_point_reaching_the_lower_lip_depressor_does_not_meet_the_symmetric_smile(model) -> None:
    """The DAO point 8 mm medial of the reference reaches the depressor labii inferioris, whose weakening gives an
    uneven lower lip and smile (the feedback says so): the smile check measures the lower lip as well as the mouth
    corners, so it is not "met" beside that item."""
    ex = load_exercise("depressor_anguli_oris")
    plan = ex.reference_plan()
    plan["points"][0]["at"]["lateral_mm"] = -2.0  # d1_left, from 6 mm lateral of the mouth corner to 2 mm medial
    s = score_attempt(ex, plan, model)
    assert any("depressor labii inferioris" in f.message and "smile" in f.message for f in s.feedback
               if f.point == "d1_left")
    smile = next(e for e in s.expected if e.id == "smile_symmetric")
    assert not smile.met, smile.as_dict()
    assert "lower lip" in smile.measured and "mouth corner" in smile.text + smile.measured, smile.as_dict()
    assert not s.passed and any("Smile symmetric" in r for r in s.failed), s.failed
    # the reference's two points weaken both lower lips alike: its smile stays symmetric
    ref = next(e for e in score_attempt(ex, ex.reference_plan(), model).expected if e.id == "smile_symmetric")
    assert ref.met and "lower lip" in ref.measured


def test_a_check_may_add_the_side_effects_lower_lip_measure() -> None:
    base = {"source": "a test of the schema", "checks": [
        {"id": "a", "text": "smile even", "measure": "smile_corner_excursion_mm", "max_asymmetry_mm": 1,
         "also_measures": ["lower_lip_excursion_mm"]}]}
    assert ExpectedResultSpec.model_validate(base).checks[0].also_measures == ["lower_lip_excursion_mm"]
    for bad in ({"also_measures": ["nose_mm"]}, {"measure": None, "expression": "smile", "max_asymmetry_mm": None,
                                                 "max_strength": 0.5}):
        with pytest.raises(ValidationError):
            ExpectedResultSpec.model_validate({**base, "checks": [{**base["checks"][0], **bad}]})
