"""One side rule (planning.sides, its band in sides.yaml) for every count by side. Before, the report's dose
table counted a point with no target at x = +38.9 mm in the "Midline" column, the mirroring used a 0.5 mm
band, the chart a 3 mm band, and the check's totals sided an untargeted point at x = 0 on the left."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import injectmap
from injectmap.planning import sides
from injectmap.planning.check import check_plan
from injectmap.planning.mirroring import mirror_plan
from injectmap.planning.mirroring import point_side as mirror_side
from injectmap.planning.plan import parse_plan
from injectmap.planning.totals import dose_totals
from injectmap.reports.chart import side_of_point as chart_side
from injectmap.reports.report import dose_rows


def _plan(points: list[dict]) -> object:
    return parse_plan({"format": "injectmap-plan", "version": 1,
                       "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                       "points": points})


def test_the_band_and_its_reason_are_in_the_data_file():
    s = sides.sides_settings()
    assert s.midline_half_width_mm == 3.0 and sides.midline_half_width_mm() == 3.0
    assert "procerus" in s.reason and "Cho" in s.source
    assert [sides.side_of_x(x) for x in (3.01, 3.0, 0.0, -3.0, -3.01)] == ["left", "midline", "midline", "midline",
                                                                          "right"]


@pytest.mark.parametrize(("target", "x", "side"), [
    (None, 38.9, "left"), (None, -38.9, "right"), (None, 2.0, "midline"),
    ("procerus", 0.5, "midline"), ("procerus", 6.0, "left"),  # a midline muscle: by position
    ("corrugator_supercilii_left", -1.0, "left"),  # a sided muscle: its side
    ("frontalis_right", 40.0, "right"),
])
def test_point_side(target, x, side):
    assert sides.point_side(target, x) == side
    assert chart_side(target, x) == side


def test_an_untargeted_point_at_plus_38_9_is_never_midline():
    plan = _plan([{"id": "a", "units": 4, "entry_mm": [38.9, 30.0, 60.0], "depth_mm": 2},
                  {"id": "g", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3}])
    assert sides.plan_point_side(plan.point("a")) == "left"
    t = dose_totals(plan)
    assert t.side("left").units == 4.0 and t.side("midline").units == 4.0
    rows = {r["muscle"]: r for r in dose_rows(plan)}  # without the analysis's positions: by the placement
    assert rows["(no target)"]["left"] == 4.0 and rows["(no target)"]["midline"] == 0.0
    assert rows["procerus"]["midline"] == 4.0


def test_mirroring_uses_the_same_band():
    plan = _plan([{"id": "near", "units": 4, "entry_mm": [2.5, 30.0, 80.0], "depth_mm": 2},
                  {"id": "off", "units": 4, "entry_mm": [3.5, 30.0, 80.0], "depth_mm": 2},
                  {"id": "lm", "units": 4, "at": {"landmark": "glabella", "left_mm": 2}, "depth_mm": 2}])
    assert [mirror_side(p) for p in plan.points] == ["midline", "left", "midline"]
    assert [p.id for p in mirror_plan(plan).points] == ["near", "off", "lm", "off_mirror"]


def test_the_check_totals_side_an_untargeted_point_by_its_position(face_model):
    g = face_model.landmarks["glabella"]
    far = face_model.landmarks["brow_peak_left"]
    plan = _plan([{"id": "mid", "units": 2, "entry_mm": [float(g[0]), float(g[1]) + 12, float(g[2])], "depth_mm": 2},
                  {"id": "far", "units": 3, "entry_mm": [float(far[0]), float(far[1]) + 15, float(far[2])],
                   "depth_mm": 2}])
    res = check_plan(plan, face_model)
    xs = {p.id: float(p.entry_mm[0]) for p in res.points}
    assert abs(xs["mid"]) <= 3.0 < xs["far"]
    assert res.totals.by_side == {"midline": 2.0, "left": 3.0}
    by_id = {p.point_id: p.side for p in dose_totals(plan, entry_x=xs).points}
    assert by_id == {"mid": "midline", "far": "left"}


def test_no_other_module_has_a_band_of_its_own():
    """The band's number lives in sides.yaml only: no module compares an x with a midline constant of its own."""
    root = Path(injectmap.__file__).parent
    pattern = re.compile(r"MIDLINE_TOLERANCE|midline_half_width_mm\s*[:=]\s*[0-9]")
    found = [str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert found == []
