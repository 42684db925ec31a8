"""The visible side effects (injectmap/teaching/side_effects.py): each decided from the plan's fields and the
expression model, with its measured effect in mm per side, and ``injectmap check --expressions``."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from injectmap.planning.protocols import protocol_plan
from injectmap.teaching.expressions import preview
from injectmap.teaching.side_effects import effects_for_finding, side_effect_data, side_effects
from injectmap.teaching.side_effects_cli import cmd_check_expressions
from injectmap.teaching.timeline import scenario

GOLDEN = Path(__file__).parents[1] / "planning" / "golden" / "check_demo.json"


def _plan(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": points}


def _low_canthal(drop_mm: float) -> dict[str, Any]:
    plan = protocol_plan("lateral_canthal_three_point")
    p = copy.deepcopy(next(q for q in plan["points"] if q["id"] == "canthal_mid_left"))
    p["id"], p["at"]["superior_mm"] = "canthal_low_left", -drop_mm
    return _plan([p])


def _forehead_row(above_brow_mm: float) -> dict[str, Any]:
    return _plan([{"id": f"f_{lm}", "units": 4, "target": "frontalis_left", "depth_mm": 3,
                   "at": {"landmark": f"{lm}_left", "superior_mm": above_brow_mm}}
                  for lm in ("brow_medial", "brow_peak")])


def _ids(effects) -> set[tuple[str, str]]:
    return {(e.id, e.side) for e in effects}


# -- the data file ---------------------------------------------------------------------------------------------
def test_every_side_effect_has_its_mechanism_sources_and_a_measure_of_the_model() -> None:
    from injectmap.teaching.expressions import expression_data

    data = side_effect_data()
    assert {"smile_weakened", "low_lateral_canthal", "brow_ptosis", "spock_brow", "lower_lip_drop"} <= set(data.effects)
    measures = set(expression_data().measures) | {"lower_lip_excursion_mm"}
    for eid, e in data.effects.items():
        assert e.mechanism and e.plain and e.sources, eid
        assert e.measure in measures and set(e.also_measures) <= measures, eid
    # the low-row threshold is the label's 2 cm (consensus 1.5-2 cm), the same as the planning rule's
    from injectmap.planning.rules import thresholds

    row = data.effects["brow_ptosis"].row_within_mm
    assert row is not None and row.value == thresholds().frontalis_above_brow.min_mm
    assert (row.low, row.high) == (15.0, 20.0) and "LABEL" in row.source


# -- the cases -----------------------------------------------------------------------------------------
def test_a_glabellar_protocol_has_no_visible_side_effect(model) -> None:
    plan = protocol_plan("glabella_five_point")
    res = preview(model, plan, 14)
    assert all(res.strengths["frown"][s].mid < 0.7 for s in ("left", "right"))
    assert side_effects(model, plan, 14, result=res) == []


def test_a_low_lateral_canthal_point_weakens_the_smile_on_its_side_with_the_asymmetry_in_mm(model) -> None:
    assert side_effects(model, _low_canthal(0.0), 14) == []  # at the template's height: nothing
    effects = side_effects(model, _low_canthal(20.0), 14)
    assert _ids(effects) == {("low_lateral_canthal", "left")}  # the smile_weakened entry leaves this cause to it
    e = effects[0]
    assert e.points == ("canthal_low_left",)
    assert "zygomaticus_major_left" in e.structures
    m = e.measures["smile_corner_excursion_mm"]
    assert m.right == pytest.approx(m.untreated_right)
    assert e.change_mm == pytest.approx(m.left - m.untreated_left) and e.change_mm < -0.2
    assert e.asymmetry_mm == pytest.approx(abs(m.left - m.right)) and e.asymmetry_mm > 0.2
    assert "smile" in e.summary().lower() or "Crow" in e.summary()


def test_a_cheek_point_that_reaches_the_zygomaticus_weakens_that_smile(model) -> None:
    plan = _plan([{"id": "cheek", "units": 4, "depth_mm": 4,
                   "at": {"landmark": "cheilion_left", "lateral_mm": 12, "superior_mm": 12}}])
    effects = side_effects(model, plan, 14)
    assert ("smile_weakened", "left") in _ids(effects)
    assert ("smile_weakened", "right") not in _ids(effects)
    e = next(x for x in effects if x.id == "smile_weakened")
    assert e.points == ("cheek",) and e.change_mm < 0 and e.asymmetry_mm > 0


def test_a_forehead_row_just_above_the_brow_lowers_that_brow_at_rest(model) -> None:
    effects = side_effects(model, _forehead_row(10.0), 14)
    assert _ids(effects) >= {("brow_ptosis", "left")} and ("brow_ptosis", "right") not in _ids(effects)
    e = next(x for x in effects if x.id == "brow_ptosis")
    assert set(e.points) == {"f_brow_medial", "f_brow_peak"}
    m = e.measures["brow_height_rest_mm"]
    assert e.change_mm == pytest.approx(m.left - m.untreated_left) and e.change_mm < -0.4
    assert m.right == pytest.approx(m.untreated_right) and e.asymmetry_mm > 0.4
    # the label's row (35 mm above the brow) is not a low row
    assert "brow_ptosis" not in {x.id for x in side_effects(model, _forehead_row(35.0), 14)}


def test_medial_frontalis_only_gives_the_spock_brow_and_the_whole_forehead_does_not(model) -> None:
    medial = _plan([{"id": "fm", "units": 4, "target": "frontalis_left", "depth_mm": 3,
                     "at": {"landmark": "brow_medial_left", "superior_mm": 30}}])
    effects = side_effects(model, medial, 14)
    assert ("spock_brow", "left") in _ids(effects)
    e = next(x for x in effects if x.id == "spock_brow")
    peak, tail = e.measures["brow_height_raised_mm"], e.measures["brow_tail_raised_mm"]
    assert e.change_mm < 0 and (tail.untreated_left - tail.left) < (peak.untreated_left - peak.left) / 2
    whole = side_effects(model, protocol_plan("forehead_lines_with_glabella"), 14)
    assert "spock_brow" not in {x.id for x in whole}


def test_dao_spread_toward_the_lower_lip_depressor_drops_that_lower_lip(model) -> None:
    template = protocol_plan("dao_single_point")
    left = copy.deepcopy(next(p for p in template["points"] if p["id"] == "dao_left"))
    left["at"]["lateral_mm"] = float(left["at"].get("lateral_mm", 0.0)) - 8.0
    effects = side_effects(model, _plan([left]), 14)
    assert _ids(effects) == {("lower_lip_drop", "left")}
    e = effects[0]
    m = e.measures["lower_lip_excursion_mm"]
    assert m.right == pytest.approx(m.untreated_right) and m.left < m.untreated_left - 1.0
    at_template = side_effects(model, _plan([next(p for p in template["points"] if p["id"] == "dao_left")]), 14)
    assert all(x.change_mm > e.change_mm for x in at_template)  # 8 mm medial drops the lip more


def test_nothing_on_day_zero_and_gone_by_the_wear_off(model) -> None:
    plan = _forehead_row(10.0)
    assert side_effects(model, plan, 0) == []
    assert side_effects(model, plan, 14)
    assert side_effects(model, plan, scenario("upper_face", "early").end_day) == []


# -- check --expressions ----------------------------------------------------------------------------------------
def test_findings_link_to_the_side_effects_they_concern(model, tmp_path) -> None:
    path = tmp_path / "row.json"
    path.write_text(json.dumps(_forehead_row(10.0)))
    out = io.StringIO()
    code = cmd_check_expressions(path, day=14, fmt="json", out=out, model=model)
    assert code in (0, 1)
    doc = json.loads(out.getvalue())
    linked = [f for p in doc["points"] for f in p["findings"] if "expression" in f]
    assert linked and all(f["code"] == "frontalis_low" for f in linked)
    link = linked[0]["expression"]
    assert link["day"] == 14 and link["side_effects"][0]["id"] == "brow_ptosis"
    assert link["side_effects"][0]["change_mm"] < -0.4
    section = doc["expressions"]
    assert section["day"] == 14 and [e["id"] for e in section["side_effects"]] == ["brow_ptosis"]
    assert section["side_effects"][0]["sources"] and "brow_height_rest_mm" in section["measures"]
    assert {"frown", "smile"} <= set(section["strengths"])
    # a finding of another point, or about another structure, is not linked
    e = next(x for x in side_effects(model, _forehead_row(10.0), 14) if x.id == "brow_ptosis")
    assert effects_for_finding({"code": "frontalis_low", "structure": "frontalis_left"}, "other", [e]) == []
    assert effects_for_finding({"code": "sphere_near_structure", "structure": "orbit_left"}, "f_brow_peak", [e]) == []


def test_the_check_json_without_the_flag_is_unchanged(model, tmp_path) -> None:
    """``check --expressions`` only adds keys: remove them and the document is ``check``'s, byte for byte."""
    from injectmap.planning.check import check_file, dumps

    golden = json.loads(GOLDEN.read_text())
    path = tmp_path / "plan-demo.json"
    path.write_text(json.dumps(json.loads((Path(__file__).parents[2] / "injectmap/viewer/demo_plan.json").read_text())))
    res, _code = check_file(path, model)
    plain = dumps(res)
    out = io.StringIO()
    cmd_check_expressions(path, day=14, fmt="json", out=out, model=model)
    doc = json.loads(out.getvalue())
    doc.pop("expressions")
    for p in doc["points"]:
        for f in p["findings"]:
            f.pop("expression", None)
    assert json.dumps(doc, indent=1) == plain
    assert set(golden) == set(json.loads(plain))  # the contract's keys, none added without the flag


def test_the_command_line_flag(tmp_path) -> None:
    import subprocess
    import sys

    path = tmp_path / "low.json"
    path.write_text(json.dumps(_low_canthal(20.0)))
    run = subprocess.run([sys.executable, "-m", "injectmap", "check", str(path), "--format", "json",
                          "--expressions", "--day", "14"], capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, 1), run.stderr
    doc = json.loads(run.stdout)
    assert [(e["id"], e["side"]) for e in doc["expressions"]["side_effects"]] == [("low_lateral_canthal", "left")]
    plain = subprocess.run([sys.executable, "-m", "injectmap", "check", str(path), "--format", "json"],
                           capture_output=True, text=True, timeout=600)
    assert "expressions" not in json.loads(plain.stdout)
    table = subprocess.run([sys.executable, "-m", "injectmap", "check", str(path), "--expressions", "--day", "0"],
                           capture_output=True, text=True, timeout=600)
    assert "visible side effects on day 0" in table.stdout and "none" in table.stdout
