"""Training exercises and scoring: reference answers score well, deliberately bad ones score lower
with feedback naming the right structure; the score file round-trips and refuses bad files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from injectmap.teaching import training
from injectmap.teaching.training import (
    ExerciseError,
    ScoreFileError,
    history,
    load_exercise,
    load_exercises,
    parse_exercise,
    record_score,
    score_attempt,
    validate_trainee,
)

REQUIRED = {"glabellar_complex", "forehead_heavy_brow", "crows_feet_smile", "masseter_small_jaw",
            "depressor_anguli_oris", "mentalis", "platysma_bands", "brow_asymmetry_high_left"}


@pytest.fixture(scope="module")
def model():
    from injectmap.anatomy.model import load_model

    return load_model()


@pytest.fixture(scope="module")
def reference_scores(model):
    return {eid: score_attempt(ex, ex.reference_plan(), model) for eid, ex in load_exercises().items()}


def _replace(plan: dict, point_id: str, **changes) -> dict:
    plan = copy.deepcopy(plan)
    for p in plan["points"]:
        if p["id"] == point_id:
            p.update(changes)
            return plan
    raise KeyError(point_id)


def _codes(score, structure: str) -> set[str]:
    return {f.code for f in score.feedback if f.structure == structure}


# ------------------------------------------------------------------ exercises as data
def test_at_least_eight_exercises_with_the_required_topics():
    ex = load_exercises()
    assert len(ex) >= 8
    assert REQUIRED <= set(ex)
    for e in ex.values():
        assert e.goal and e.scenario and e.targets and e.spare and e.dose_groups
        assert all(g.source for g in e.dose_groups) and e.total.source
        assert all(g.min_units <= g.max_units for g in e.dose_groups)


def test_bilateral_targets_are_given_per_side():
    for e in load_exercises().values():
        for t in e.targets:
            if t.endswith("_left"):
                assert t.replace("_left", "_right") in e.targets, (e.id, t)


def test_dose_ranges_come_from_planning_where_it_has_one():
    glab = load_exercise("glabellar_complex")
    corr = next(g for g in glab.dose_groups if g.id == "corrugator_supercilii_left")
    assert (corr.min_units, corr.max_units) == (2.0, 10.0)
    assert "planning.doses corrugator_supercilii" in corr.source
    assert (glab.total.min_units, glab.total.max_units) == (15.0, 40.0)  # planning area 'glabella'
    jaw = load_exercise("masseter_small_jaw")
    assert jaw.dose_groups[0].max_units == 30.0 and "planning.doses masseter" in jaw.dose_groups[0].source


def test_special_constraints_are_in_the_data():
    heavy = load_exercise("forehead_heavy_brow")
    assert heavy.constraints[0].kind == "min_brow_height" and heavy.constraints[0].min_mm == 25
    high = load_exercise("brow_asymmetry_high_left")
    assert high.balance.expect == "asymmetric" and high.balance.higher_side == "left"
    crow = load_exercise("crows_feet_smile")
    assert {"zygomaticus_major_left", "orbit_left"} <= set(crow.spare)
    assert "levator_palpebrae_superioris_left" in load_exercise("glabellar_complex").spare


def test_unknown_exercise_and_bad_files_are_clear_errors(tmp_path: Path):
    with pytest.raises(ExerciseError, match="unknown exercise"):
        load_exercise("no_such_exercise")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ExerciseError, match="not valid JSON"):
        load_exercise(bad)
    obj = json.loads(Path(load_exercise("mentalis").source).read_text(encoding="utf-8"))
    obj["targets"] = ["mentalis_middle"]
    obj["reference"]["points"][0]["units"] = -1
    obj["surprise"] = 1
    with pytest.raises(ExerciseError) as info:
        parse_exercise(obj, source="x.json")
    msg = str(info.value)
    assert "unknown structure 'mentalis_middle'" in msg and "reference:" in msg and "surprise" in msg


# ------------------------------------------------------------------ reference answers
@pytest.mark.parametrize("eid", sorted(REQUIRED))
def test_reference_answer_scores_well_without_danger(reference_scores, eid):
    s = reference_scores[eid]
    assert s.total >= 80, (eid, s.summary(), [f.message for f in s.feedback])
    assert s.danger == 0 and s.passed
    assert not [f for f in s.feedback if f.severity == "danger"]
    assert set(s.components) == {"targets", "safety", "dose", "balance"}
    assert sum(c.max_points for c in s.components.values()) == 100
    assert s.components["targets"].points == 30


# ------------------------------------------------------------------ bad answers
def test_point_at_the_canthus_names_the_orbit(model, reference_scores):
    ex = load_exercise("crows_feet_smile")
    plan = _replace(ex.reference_plan(), "o1_left", at={"landmark": "exocanthion_left"})
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    assert "lateral_orbit_margin" in _codes(s, "orbit_left")
    fb = next(f for f in s.feedback if f.code == "lateral_orbit_margin")
    assert fb.point == "o1_left" and "orbital rim" in fb.message and "To fix" in fb.message


def test_low_crows_feet_point_names_zygomaticus_major(model, reference_scores):
    ex = load_exercise("crows_feet_smile")
    plan = _replace(ex.reference_plan(), "o3_left", units=6,
                    at={"landmark": "orbital_rim_lateral_left", "lateral_mm": 6, "superior_mm": -18})
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    zyg = [f for f in s.feedback if f.structure == "zygomaticus_major_left"]
    assert zyg and "smile" in zyg[0].message and "zygomatic arch" in zyg[0].message


def test_frontalis_5mm_above_a_heavy_brow(model, reference_scores):
    ex = load_exercise("forehead_heavy_brow")
    plan = _replace(ex.reference_plan(), "f2_left", at={"landmark": "brow_peak_left", "superior_mm": 5})
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    codes = _codes(s, "frontalis_left")
    assert {"brow_height", "frontalis_low"} <= codes
    fb = next(f for f in s.feedback if f.code == "brow_height")
    assert "25 mm" in fb.message and "brow ptosis" in fb.message


def test_heavy_brow_point_between_20_and_25mm_breaks_only_the_exercise_rule(model):
    ex = load_exercise("forehead_heavy_brow")
    plan = _replace(ex.reference_plan(), "f2_right", at={"landmark": "brow_peak_right", "superior_mm": 21})
    s = score_attempt(ex, plan, model)
    assert "brow_height" in _codes(s, "frontalis_right")
    assert "frontalis_low" not in _codes(s, "frontalis_right")  # planning's own 20 mm rule holds


def test_masseter_point_above_the_tragus_mouth_line(model, reference_scores):
    ex = load_exercise("masseter_small_jaw")
    plan = _replace(ex.reference_plan(), "m2_left", at={"landmark": "gonion_left", "superior_mm": 55,
                                                         "anterior_mm": -2})
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    assert "masseter_above_safe_zone" in _codes(s, "parotid_duct_left")
    fb = next(f for f in s.feedback if f.code == "masseter_above_safe_zone")
    assert "tragus" in fb.message and "duct" in fb.message


def test_overdose_costs_dose_points_and_names_the_muscle(model, reference_scores):
    ex = load_exercise("glabellar_complex")
    plan = ex.reference_plan()
    for pid in ("c1_left", "c2_left"):
        plan = _replace(plan, pid, units=15)
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    assert s.components["dose"].points < 20
    dose = [f for f in s.feedback if f.code == "dose_out_of_range"]
    assert any(f.structure == "corrugator_supercilii_left" and "above the allowed" in f.message for f in dose)
    # 30 U in one corrugator is more than twice its usual ceiling: planning calls that a danger
    assert s.danger >= 1 and not s.passed and s.total <= training.DANGER_CAP
    assert s.feedback[0].severity == "danger"
    assert "left_right_imbalance" in {f.code for f in s.feedback}


def test_missing_side(model, reference_scores):
    ex = load_exercise("depressor_anguli_oris")
    plan = ex.reference_plan()
    plan["points"] = [p for p in plan["points"] if not p["id"].endswith("_right")]
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    assert s.components["targets"].points == 15
    assert "target_missed" in _codes(s, "depressor_anguli_oris_right")
    assert s.components["balance"].points < 15
    assert any(f.code == "dose_out_of_range" and f.structure == "depressor_anguli_oris_right" for f in s.feedback)


def test_dao_too_medial_names_depressor_labii_inferioris(model, reference_scores):
    ex = load_exercise("depressor_anguli_oris")
    plan = _replace(ex.reference_plan(), "d1_left", at={"landmark": "cheilion_left", "lateral_mm": -8,
                                                         "superior_mm": -20})
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    assert "dao_too_medial" in _codes(s, "depressor_labii_inferioris_left")


def test_reversed_asymmetry_on_the_high_brow(model, reference_scores):
    ex = load_exercise("brow_asymmetry_high_left")
    plan = ex.reference_plan()
    plan["points"] = [p for p in plan["points"] if p["id"] != "f3_left"]
    plan["points"].append({"id": "f3_right", "units": 2, "target": "frontalis_right",
                           "at": {"landmark": "brow_peak_right", "lateral_mm": 6, "superior_mm": 24}, "depth_mm": 2})
    s = score_attempt(ex, plan, model)
    assert s.components["balance"].points == 0
    fb = next(f for f in s.feedback if f.code == "asymmetry_expected")
    assert fb.structure == "frontalis_left" and "reversed" in fb.message


def test_symmetric_dosing_fails_the_asymmetry_exercise(model):
    ex = load_exercise("brow_asymmetry_high_left")
    plan = ex.reference_plan()
    plan["points"] = [p for p in plan["points"] if p["id"] != "f3_left"]
    s = score_attempt(ex, plan, model)
    assert s.components["balance"].points == 0
    assert any(f.code == "asymmetry_expected" for f in s.feedback)


def test_deep_platysma_point(model, reference_scores):
    ex = load_exercise("platysma_bands")
    plan = _replace(ex.reference_plan(), "pl11_left", depth_mm=9)
    s = score_attempt(ex, plan, model)
    assert s.total < reference_scores[ex.id].total
    assert "platysma_too_deep" in _codes(s, "platysma_left")


def test_a_bad_plan_scores_zero_with_its_errors(model):
    ex = load_exercise("mentalis")
    s = score_attempt(ex, {"format": "injectmap-plan", "version": 1, "points": [{"id": "x", "units": -3}]}, model)
    assert s.total == 0 and s.errors and not s.passed
    assert s.feedback[0].code == "plan_error"


def test_every_feedback_item_names_a_structure_or_a_point(model):
    ex = load_exercise("glabellar_complex")
    plan = _replace(ex.reference_plan(), "c2_left", at={"landmark": "orbital_rim_superior_left", "superior_mm": 1},
                    units=8)
    s = score_attempt(ex, plan, model)
    assert s.feedback
    for f in s.feedback:
        if f.code != "danger_cap":
            assert f.structure or f.point, f
    assert "levator_palpebrae_superioris_left" in {f.structure for f in s.feedback}


# ------------------------------------------------------------------ score file
def test_score_file_round_trip(tmp_path: Path, reference_scores):
    path = tmp_path / "sub" / "scores.json"
    assert history(path, "Ana") == []
    s = reference_scores["mentalis"]
    e1 = record_score(path, "  Ana   María-López ", "mentalis", s)
    record_score(path, "Ana María-López", "glabellar_complex", reference_scores["glabellar_complex"])
    record_score(path, "Bo", "mentalis", s)
    h = history(path, "Ana María-López")
    assert [e["exercise_id"] for e in h] == ["mentalis", "glabellar_complex"]
    assert h[0] == e1 and h[0]["total"] == s.total and h[0]["passed"] is True
    assert set(h[0]["components"]) == {"targets", "safety", "dose", "balance"}
    assert len(history(path, "Bo")) == 1
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == training.SCORES_FORMAT
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("text", ["{broken", '{"format": "something-else", "version": 1, "trainees": {}}',
                                  "[1, 2]", '{"format": "injectmap-training-scores", "version": 1, "trainees": []}'])
def test_bad_score_file_is_a_clear_error_and_is_not_overwritten(tmp_path: Path, reference_scores, text: str):
    path = tmp_path / "scores.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScoreFileError, match=str(path).replace("\\", "\\\\")):
        history(path, "Ana")
    with pytest.raises(ScoreFileError, match="not overwritten"):
        record_score(path, "Ana", "mentalis", reference_scores["mentalis"])
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("name, why", [("", "empty"), ("   ", "empty"), ("x" * 65, "65 characters"),
                                       ("Ana<script>", "may only hold"), ("a/b", "may only hold"),
                                       ("tab\there", None), (7, "text")])
def test_trainee_name_validation(name, why):
    if why is None:  # whitespace is normalised, not refused
        assert validate_trainee(name) == "tab here"
        return
    with pytest.raises(ValueError, match=why):
        validate_trainee(name)


def test_trainee_names_accept_letters_of_any_script():
    assert validate_trainee("Zoë O'Neil Jr.") == "Zoë O'Neil Jr."
    assert validate_trainee("李 明") == "李 明"


def test_exercise_model_lists_every_problem():
    obj = json.loads(Path(load_exercise("mentalis").source).read_text(encoding="utf-8"))
    obj["balance"] = {"expect": "asymmetric"}
    obj["dose_groups"][0]["structures"] = ["nowhere_left"]
    obj["total"]["max_unit"] = 3
    obj.pop("goal")
    with pytest.raises(ExerciseError) as info:
        parse_exercise(obj, source="x.json")
    errs = info.value.errors
    assert "goal: Field required" in errs
    assert "dose_groups[0].structures[0]: unknown structure 'nowhere_left'" in errs
    assert "total: unknown key 'max_unit'" in errs
    assert any(e.startswith("balance: ") and "asymmetric exercise needs group" in e for e in errs)
