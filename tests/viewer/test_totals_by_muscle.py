"""The dose totals card checks a lower-face plan: every treated muscle with the plan's units per side and the usual
range beside them.

The by-the-book lower-face plan (18 points: masseter, DAO, mentalis, platysma) showed only "platysma 16 / 16" under
"By area" (the card counted the areas of dose_ranges.yaml, which name no masseter, DAO or mentalis area); the
masseter's 24 U per side was only in the PDF's "Dose by muscle and side".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from injectmap.planning.doses import dose_range
from injectmap.planning.plan import parse_plan
from injectmap.viewer.totals_panel import plan_counts, totals_html

LOWER_FACE = Path(__file__).resolve().parents[1] / "planning" / "plans" / "lower_face_by_the_book.json"


def _row(html: str, muscle: str) -> dict[str, str]:
    m = re.search(rf'<tr data-muscle="{re.escape(muscle)}">(.*?)</tr>', html)
    assert m, (muscle, html)
    return dict(re.findall(r'<td class="([a-z]+)[^"]*"[^>]*>(.*?)</td>', m.group(1)))


def _html(plan: dict) -> str:
    return totals_html(plan_counts(parse_plan(plan)))


def test_every_treated_muscle_has_its_units_per_side() -> None:
    html = _html(json.loads(LOWER_FACE.read_text()))
    assert '<table class="totals-muscles">' in html
    expected = {"masseter": 24, "depressor_anguli_oris": 3, "mentalis": 3, "platysma": 16}
    for muscle, units in expected.items():
        row = _row(html, muscle)
        assert (row["left"], row["right"], row["midline"]) == (f"{units:g}", f"{units:g}", "0"), (muscle, row)
        rng = dose_range(muscle)
        assert rng is not None
        # the usual range beside them, in planning's words (dose_ranges.yaml): the one source of the numbers
        assert row["usual"] == f"{rng.typical_low_units:g}-{rng.typical_high_units:g} per side", row
    assert set(re.findall(r'data-muscle="([a-z_]+)"', html)) == set(expected)
    # the areas are still counted (the platysma is one)
    assert 'data-area="platysma"' in html


def test_a_dose_outside_the_range_is_marked_in_its_cell() -> None:
    """400 U into the left masseter: its cell says it is above the range (the findings say how far)."""
    plan = json.loads(LOWER_FACE.read_text())
    for p in plan["points"]:
        if p["id"] == "mas_top_left":
            p["units"] = 400
        if p["id"] == "dao_right":
            p["units"] = 1
    html = _html(plan)
    m = re.search(r'<tr data-muscle="masseter">(.*?)</tr>', html)
    assert m and re.search(r'<td class="left above"[^>]*>412</td>', m.group(1)), m
    assert re.search(r'<td class="right"[^>]*>24</td>', m.group(1))
    dao = re.search(r'<tr data-muscle="depressor_anguli_oris">(.*?)</tr>', html)
    assert dao and re.search(r'<td class="right below"[^>]*>1</td>', dao.group(1))


def test_a_midline_muscle_and_a_point_with_no_target() -> None:
    plan = {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": [{"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3},
                       {"id": "x", "units": 2, "at": {"landmark": "glabella", "superior_mm": 30}, "depth_mm": 2}]}
    html = _html(plan)
    proc = _row(html, "procerus")
    assert (proc["left"], proc["right"], proc["midline"]) == ("0", "0", "4") and proc["usual"] == "4-8 in all"
    untargeted = _row(html, "untargeted")
    assert untargeted["midline"] == "2" and untargeted["usual"] == ""
