"""The Findings table lists the most severe first, plan-level findings among them, and a point whose dose makes its
muscle's overdose shows that danger on its own row, glyph and worst.

The by-the-book lower-face plan with 400 U at its top left masseter point (and a 6 U point at the anterior border):
its only dangers, "418 U into masseter (left)" and "The plan totals 486 U", were rows 26-27 of 28, below 21 info
rows (the table put every plan-level row last), and the point's own row and glyph said "caution".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from injectmap.viewer import app as viewer_app

LOWER_FACE = Path(__file__).resolve().parents[1] / "planning" / "plans" / "lower_face_by_the_book.json"
RANK = {"info": 1, "caution": 2, "danger": 3}


def _overdosed() -> dict:
    plan = json.loads(LOWER_FACE.read_text())
    for p in plan["points"]:
        if p["id"] == "mas_top_left":
            p["units"] = 400
    plan["points"].append({"id": "p1", "units": 6, "target": "masseter_superficial_left",
                           "at": {"landmark": "gonion_left", "anterior_mm": 20, "superior_mm": 15}, "depth_mm": 12})
    return plan


@pytest.fixture
def app(face_model, tmp_path, monkeypatch):
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    return viewer_app.create_app(face_model, plan=_overdosed())


def test_the_most_severe_findings_come_first_plan_level_ones_among_them(app) -> None:
    rows = app.app_findings._rows
    ranks = [RANK[r["severity"]] for r in rows]
    assert ranks == sorted(ranks, reverse=True), [(r["point"], r["severity"], r["code"]) for r in rows]
    dangers = [(r["point"], r["code"]) for r in rows if r["severity"] == "danger"]
    assert dangers[0] == ("mas_top_left", "point_dose_above_range")
    assert {("", "dose_above_range"), ("", "total_dose_above_max"), ("", "left_right_imbalance")} <= set(dangers)
    assert len(dangers) == 4 and rows[: len(dangers)] == [r for r in rows if r["severity"] == "danger"]
    # within a severity, a point's rows before the plan's (as in the report)
    assert [r["point"] for r in rows[:4]] == ["mas_top_left", "", "", ""]
    # the table shows them in that order
    frame = app.app_findings.table.value
    assert list(frame["severity"][:4]) == ["danger"] * 4 and frame["code"][0] == "point_dose_above_range"


def test_the_overdosing_point_shows_the_danger_as_its_worst(app) -> None:
    res = app.app_analyst.results["mas_top_left"]
    assert res.worst == "danger" and res.findings[0].code == "point_dose_above_range"
    glyph = next(g for g in app.app_analyst.glyphs() if g.id == "mas_top_left")
    assert glyph.severity == "danger"
    assert next(g for g in app.app_analyst.glyphs() if g.id == "mas_front_left").severity != "danger"


def test_the_danger_leaves_the_point_when_its_dose_is_put_right(app) -> None:
    """The point-level finding follows the plan: back to 12 U, the point's worst is what its placement gives."""
    app.app_state.update_point("mas_top_left", units=12)
    res = app.app_analyst.results["mas_top_left"]
    assert "point_dose_above_range" not in {f.code for f in res.findings}
    assert not [r for r in app.app_findings._rows if r["severity"] == "danger"]
