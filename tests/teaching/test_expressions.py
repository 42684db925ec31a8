"""The expression model (injectmap/teaching/expressions.py): the sourced map, the weakening over the weeks,
the side effects in mm, and ``injectmap expressions``."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import numpy as np
import pytest

from injectmap.anatomy.ids import structure_ids
from injectmap.planning.protocols import protocol_plan
from injectmap.teaching.expressions import (
    SIDES,
    expression_data,
    expression_displacement,
    expression_names,
    map_muscle_ids,
    preview,
    unit_deltas,
)
from injectmap.teaching.expressions_cli import cmd_expressions
from injectmap.teaching.timeline import scenario

NAMED = ("frown", "brow_raise", "squint", "smile", "mouth_corner_down", "chin", "neck_bands")


def _plan(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": points}


def _strength(res, expression: str, side: str) -> float:
    return res.strengths[expression][side].mid


# -- the map ----------------------------------------------------------------------------------------------
def test_every_muscle_of_the_map_exists_in_the_anatomy() -> None:
    known = set(structure_ids())
    ids = map_muscle_ids()
    assert ids and ids <= known, sorted(ids - known)
    assert {"zygomaticus_major_left", "corrugator_supercilii_right", "procerus", "depressor_anguli_oris_left",
            "mentalis_right", "platysma_left", "levator_labii_superioris_alaeque_nasi_left"} <= ids


def test_the_facs_attributions_the_brief_names() -> None:
    units = expression_data().units
    assert units["brow_inner_up"].muscles == {"frontalis.medial": 1.0}
    assert units["brow_outer_up"].muscles == {"frontalis.lateral": 1.0}
    assert set(units["brow_down"].muscles) == {"corrugator_supercilii", "procerus", "orbicularis_oculi"}
    assert units["lip_corner_pull"].muscles == {"zygomaticus_major": 1.0}
    assert units["lip_corner_down"].muscles == {"depressor_anguli_oris": 1.0}
    assert units["chin_raise"].muscles == {"mentalis": 1.0}
    assert units["neck_tighten"].muscles == {"platysma": 1.0}
    for name, u in units.items():
        assert "FACS" in u.source, name
        assert abs(sum(u.muscles.values()) - 1.0) < 1e-9, name
    assert set(NAMED) == set(expression_names())


def test_each_unit_moves_only_its_side() -> None:
    from injectmap.anatomy.basehead import read_base_obj

    x = read_base_obj().vertices_mm[:, 0]
    for (name, side), ud in unit_deltas().items():
        moved = ud.vertex_ids[np.linalg.norm(ud.delta_mm, axis=1) > 0.05]
        assert len(moved), (name, side)
        sign = 1.0 if side == "left" else -1.0
        # a bilateral unit's half may reach just across the midline (the smooth step), never further
        assert (sign * x[moved] > -expression_data().midline_blend_mm.value / 2).all(), (name, side)


# -- the plan ------------------------------------------------------------------------------------------------
def test_an_empty_plan_changes_nothing(model) -> None:
    res = preview(model, _plan([]), 14)
    for e in NAMED:
        for s in SIDES:
            assert res.strengths[e][s].mid == 1.0
    for m in res.measures.values():
        assert m.left == pytest.approx(m.untreated_left) and m.right == pytest.approx(m.untreated_right)
        assert m.untreated_left == pytest.approx(m.untreated_right, abs=0.3)  # the base head is symmetric


def test_a_glabellar_protocol_reduces_the_frown_and_leaves_the_smile(model) -> None:
    res = preview(model, protocol_plan("glabella_five_point"), 14)
    for s in SIDES:
        frown = res.strengths["frown"][s]
        assert frown.high < 0.7 and frown.low <= frown.mid <= frown.high
        assert _strength(res, "smile", s) == 1.0
        assert _strength(res, "mouth_corner_down", s) == 1.0
        assert _strength(res, "frown", s) < _strength(res, "brow_raise", s)
    m = res.measures["brow_head_frown_mm"]  # the brow head comes down less in the frown
    assert m.left > m.untreated_left + 1.0 and m.right > m.untreated_right + 1.0
    assert res.measures["smile_corner_excursion_mm"].asymmetry_mm == 0.0


def test_nothing_moves_on_day_zero_and_the_effect_fades_by_the_wear_off(model) -> None:
    plan = protocol_plan("forehead_lines_with_glabella")
    peak = preview(model, plan, 14)
    assert _strength(peak, "frown", "left") < 0.6 and _strength(peak, "brow_raise", "left") < 0.9
    day0 = preview(model, plan, 0)
    for e in NAMED:
        for s in SIDES:
            assert day0.strengths[e][s].low == day0.strengths[e][s].high == 1.0
    for m in day0.measures.values():
        assert (m.left, m.right) == pytest.approx((m.untreated_left, m.untreated_right))
    end = scenario("upper_face", "early").end_day  # the latest wear-off of the band
    gone = preview(model, plan, end)
    assert all(gone.strengths[e][s].low == 1.0 for e in NAMED for s in SIDES)
    # on the way down, between the peak and the wear-off
    mid = preview(model, plan, 100)
    assert _strength(peak, "frown", "left") < _strength(mid, "frown", "left") < 1.0


def _low_canthal(drop_mm: float) -> dict[str, Any]:
    """The template's left crow's feet middle point, moved ``drop_mm`` down."""
    plan = protocol_plan("lateral_canthal_three_point")
    mid = next(p for p in plan["points"] if p["id"] == "canthal_mid_left")
    p = copy.deepcopy(mid)
    p["id"] = "canthal_low_left"
    p["at"]["superior_mm"] = -drop_mm
    return _plan([p])


def test_a_lateral_canthal_point_placed_too_low_weakens_the_smile_on_its_side_only(model) -> None:
    right = preview(model, _low_canthal(0.0), 14)
    assert _strength(right, "smile", "left") == 1.0  # at the template's height: the smile is spared
    low = preview(model, _low_canthal(20.0), 14)
    assert _strength(low, "smile", "left") < 0.99
    assert low.strengths["smile"]["left"].low < _strength(low, "smile", "left")
    assert _strength(low, "smile", "right") == 1.0
    m = low.measures["smile_corner_excursion_mm"]
    assert m.left < m.untreated_left and m.right == pytest.approx(m.untreated_right)
    assert m.asymmetry_mm > 0.2
    assert "zygomaticus_major_left" in low.weakening and low.weakening["zygomaticus_major_left"].mid > 0


def _forehead_row(above_brow_mm: float) -> dict[str, Any]:
    return _plan([{"id": f"f_{lm}", "units": 4, "target": "frontalis_left", "depth_mm": 3,
                   "at": {"landmark": f"{lm}_left", "superior_mm": above_brow_mm}}
                  for lm in ("brow_medial", "brow_peak")])


def test_a_forehead_row_just_above_the_brow_lowers_that_brow_at_rest(model) -> None:
    low = preview(model, _forehead_row(10.0), 14).measures["brow_height_rest_mm"]
    high = preview(model, _forehead_row(35.0), 14).measures["brow_height_rest_mm"]
    assert low.left < low.untreated_left - 0.4
    assert low.right == pytest.approx(low.untreated_right)
    assert low.asymmetry_mm > 0.4
    assert high.left > low.left + 0.3  # the label's row (>= 2 cm above the brow) spares the resting brow more


def test_medial_frontalis_only_leaves_the_lateral_brow_free_to_rise(model) -> None:
    medial = _plan([{"id": "fm", "units": 4, "target": "frontalis_left", "depth_mm": 3,
                     "at": {"landmark": "brow_medial_left", "superior_mm": 30}}])
    res = preview(model, medial, 14)
    w = res.weakening
    assert w["frontalis.medial_left"].mid > 2 * w.get("frontalis.lateral_left").mid
    raised = res.measures["brow_height_raised_mm"]
    tail = res.measures["brow_tail_raised_mm"]
    head_loss = raised.untreated_left - raised.left
    tail_loss = tail.untreated_left - tail.left
    assert head_loss > 0 and tail_loss < head_loss / 2


def test_the_skin_moves_with_the_expression_strength(model) -> None:
    full = expression_displacement(model, None, "frown")
    assert full.shape == np.asarray(model.skin.points).shape
    assert 2.0 < np.linalg.norm(full, axis=1).max() < 15.0
    res = preview(model, protocol_plan("glabella_five_point"), 14)
    treated = expression_displacement(model, res, "frown")
    assert np.linalg.norm(treated, axis=1).max() < 0.8 * np.linalg.norm(full, axis=1).max()
    smile = expression_displacement(model, res, "smile")
    assert np.allclose(smile, expression_displacement(model, None, "smile"))


# -- the command line -------------------------------------------------------------------------------------------
def test_the_command_prints_the_issue_shape(model, tmp_path) -> None:
    path = tmp_path / "glabella.json"
    path.write_text(json.dumps(protocol_plan("glabella_five_point")))
    out = io.StringIO()
    assert cmd_expressions(path, day=14, fmt="json", out=out, model=model) == 0
    doc = json.loads(out.getvalue())
    assert doc["day"] == 14
    assert set(doc["expressions"]) == set(NAMED)
    for e in NAMED:
        for s in SIDES:
            band = doc["expressions"][e][s]
            assert set(band) == {"strength", "low", "high"}
            assert 0.0 <= band["low"] <= band["strength"] <= band["high"] <= 1.0
    for name in ("brow_height_rest_mm", "brow_height_raised_mm", "smile_corner_excursion_mm"):
        assert {"left", "right", "asymmetry_mm"} <= set(doc["measures"][name])
    table = io.StringIO()
    assert cmd_expressions(path, day=3, fmt="table", out=table, model=model) == 0
    assert "frown" in table.getvalue() and "brow_height_rest_mm" in table.getvalue()


def test_the_command_rejects_a_bad_plan_and_day(model, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "injectmap-plan", "version": 1, "points": [{"id": "a"}]}')
    assert cmd_expressions(bad, out=io.StringIO(), model=model) == 2
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_plan([])))
    assert cmd_expressions(good, day=-1, out=io.StringIO(), model=model) == 2
    assert "day" in capsys.readouterr().err


def test_dao_spread_toward_the_lower_lip_depressor_weakens_it_on_that_side(model) -> None:
    template = protocol_plan("dao_single_point")
    left = copy.deepcopy(next(p for p in template["points"] if p["id"] == "dao_left"))
    left["at"]["lateral_mm"] = float(left["at"].get("lateral_mm", 0.0)) - 8.0  # 8 mm nearer the midline
    res = preview(model, _plan([left]), 14)
    at_template = preview(model, _plan([next(p for p in template["points"] if p["id"] == "dao_left")]), 14)
    dli = res.weakening["depressor_labii_inferioris_left"]
    assert dli.mid > at_template.weakening["depressor_labii_inferioris_left"].mid + 0.2
    assert "depressor_labii_inferioris_right" not in res.as_json()["weakening"]
    assert res.strengths["mouth_corner_down"]["left"].mid < 1.0  # AU16 is part of the movement
    assert _strength(res, "mouth_corner_down", "right") == 1.0
