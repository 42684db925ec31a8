"""The chart and handout of a lower-face plan (masseter, mouth corners, chin, neck) read as the app does.

Found on such a plan: the chart printed 3 U at 2.5 mL per 100 U as "0.07" mL where the app's plan table says
"0.075"; point ids broke mid-word in the PDF tables ("mas_top_l / eft"); the handout named no product and no
units per area, and headed a masseter-only timeline "Jaw and temple (chewing muscles)".
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from injectmap.anatomy.model import load_model
from injectmap.planning.check import check_plan
from injectmap.planning.plan import parse_plan
from injectmap.planning.products import ml_text
from injectmap.reports import chart, handout, report
from injectmap.teaching import timeline

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def _point(pid: str, units: float, target: str, at: dict, depth: float) -> dict:
    return {"id": pid, "units": units, "target": target, "at": at, "depth_mm": depth}


def _lower_face(masseter_only: bool = False) -> dict:
    points = []
    for side in ("left", "right"):
        g, s = f"gonion_{side}", 1 if side == "left" else -1
        points += [_point(f"mas_top_{side}", 12, f"masseter_superficial_{side}",
                          {"landmark": g, "anterior_mm": 7, "superior_mm": 22}, 12),
                   _point(f"mas_front_{side}", 6, f"masseter_superficial_{side}",
                          {"landmark": g, "anterior_mm": 7, "superior_mm": 10}, 12)]
        if not masseter_only:
            points += [_point(f"dao_{side}", 3, f"depressor_anguli_oris_{side}",
                              {"landmark": f"cheilion_{side}", "lateral_mm": 3, "superior_mm": -18}, 3),
                       _point(f"mn_{side}", 3, f"mentalis_{side}", {"landmark": "pogonion", "left_mm": 5 * s,
                                                                   "superior_mm": -6}, 6),
                       _point(f"pl11_{side}", 4, f"platysma_{side}",
                              {"landmark": g, "anterior_mm": 15, "superior_mm": -20}, 2)]
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT, "points": points}


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def lower_face(model):
    plan = parse_plan(_lower_face())
    analysis = check_plan(plan, model)
    return plan, analysis, chart.chart_record(plan, analysis, model)


def _pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("ml", "text"), [(0.075, "0.075"), (0.3, "0.30"), (0.15, "0.15"), (0.1, "0.10"),
                                          (0.0625, "0.063"), (0.0125, "0.013"), (2.45, "2.45"), (0.0, "0.00"),
                                          (0.0744, "0.074"), (0.12345, "0.123")])
def test_ml_is_shown_as_the_apps_plan_table_shows_it(ml: float, text: str) -> None:
    """Two decimals, a third when it is not zero (the plan table's "0.00[0]"), rounded half away from zero."""
    assert ml_text(ml) == text


def test_the_chart_prints_the_mls_the_app_shows(lower_face, tmp_path) -> None:
    plan, analysis, record = lower_face
    rows = {r[1]: r for r in report.point_table_rows(record)}
    assert rows["dao_left"][6] == "0.075" and rows["mn_right"][6] == "0.075"  # 3 U at 4 U per 0.1 mL
    assert rows["mas_top_left"][6] == "0.30" and rows["pl11_left"][6] == "0.10"
    (total,) = report.totals_rows(record)
    assert total[2] == ml_text(sum(p.volume_ml for p in analysis.points))
    text = _pdf_text(report.render_pdf(report.report_data(plan, analysis), {}, None, record), tmp_path, "chart")
    assert "0.075" in text and not re.search(r"\b0\.07\b", text)


def _cut(piece: str, pid: str) -> bool:
    """Whether ``piece`` is ``pid`` cut somewhere other than just after a "_" (at every place it occurs)."""
    spots = [m.start() for m in re.finditer(f"(?={re.escape(piece)})", pid)]
    return not any((i == 0 or pid[i - 1] == "_") and (i + len(piece) == len(pid) or pid[i + len(piece) - 1] == "_")
                   for i in spots)


def _pieces_break_only_after_underscores(text: str, ids: list[str]) -> list[str]:
    """The words of ``text`` that are a piece of an id cut anywhere but just after a "_": a piece with a "_" in
    it, or the id's end ("eft" of "mas_top_left")."""
    bad = set()
    for word in set(re.findall(r"[A-Za-z0-9_]+", text)):
        for pid in ids:
            if word != pid and word in pid and ("_" in word or pid.endswith(word)) and _cut(word, pid):
                bad.add(f"{word} (of {pid})")
    return sorted(bad)


def test_point_ids_wrap_only_after_an_underscore_in_the_pdf(lower_face, tmp_path) -> None:
    plan, analysis, record = lower_face
    ids = [p.id for p in plan.points]
    text = _pdf_text(report.render_pdf(report.report_data(plan, analysis), {}, None, record), tmp_path, "chart")
    assert _pieces_break_only_after_underscores(text, ids) == []
    # the check itself catches a cut inside a word
    assert {"eft (of mas_top_left)", "mas_top_l (of mas_top_left)"} <= set(
        _pieces_break_only_after_underscores("mas_top_l\neft", ids))
    assert _pieces_break_only_after_underscores("mas_front_\nleft", ids) == []


def test_the_handout_names_the_product_and_the_units_of_each_area(lower_face, tmp_path) -> None:
    plan, _analysis, _record = lower_face
    h = chart.handout_data(plan)
    assert h.products == ("onabotulinumtoxinA",)
    units = {a.title: a.units for a in h.areas}
    assert units == {"Corners of the mouth": 6, "Chin": 6, "Jaw": 36, "Neck": 8}
    html_text = handout.render_handout_html(h)
    pdf_text = " ".join(_pdf_text(handout.render_handout_pdf(h), tmp_path, "handout").split())
    for text in (html_text, pdf_text):
        assert "onabotulinumtoxinA" in text and "BOTOX" in text
        assert "Jaw (both sides, 36 units)" in text and "Chin (both sides, 6 units)" in text
    # a touch-up the plan gives in an area is said beside the units of this visit
    two = _lower_face()
    two["sessions"] = [{"id": "touch_up"}]
    two["points"].append({**_point("mn_top_up", 2, "mentalis_left", {"landmark": "pogonion", "left_mm": 5}, 6),
                          "session": "touch_up"})
    chin = next(a for a in chart.handout_data(parse_plan(two)).areas if a.title == "Chin")
    assert handout.units_words(chin) == "6 units; 2 more at the touch-up"


def test_a_timeline_is_headed_by_what_is_treated(lower_face) -> None:
    plan, _analysis, _record = lower_face
    titles = [c.title for c in timeline.plan_curves(plan)]
    assert titles == ["Corners of the mouth, chin and neck", "Jaw"]
    only_jaw = parse_plan(_lower_face(masseter_only=True))
    assert [r.title for r in chart.handout_data(only_jaw).timeline] == ["Jaw"]
    temple = _lower_face(masseter_only=True)
    temple["points"].append(_point("t1", 10, "temporalis_left", {"landmark": "frontotemporale_left",
                                                                  "lateral_mm": 10}, 8))
    assert [c.title for c in timeline.plan_curves(temple)] == ["Jaw and temple"]
