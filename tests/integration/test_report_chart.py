"""The clinician's chart and the patient handout: sides from position, the record page's values, label
layout without overlaps, a handout with calendar dates and no clinician-only content, hostile text kept
as text in HTML and PDF. (Before: unlabelled dots, a point at x = +38.9 counted as "Midline", raw
citation keys and an internal file as sources, no lot, visit date, clinician, notes or mL per point.)"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from injectmap.anatomy.model import load_model
from injectmap.planning.check import check_plan
from injectmap.planning.plan import parse_plan
from injectmap.planning.sides import midline_half_width_mm
from injectmap.reports import chart, handout, report
from injectmap.reports.figures import Label, label_view, layout_column
from injectmap.teaching import education

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script> & </table><img src=x onerror=alert(1)> **bold** {0} $title \u00e9\u4e2d\U0001f489'


@pytest.fixture(scope="module")
def model():
    return load_model()


def _plan(**extra) -> dict:
    plan = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    plan["sessions"] = [{"id": "initial", "date": "2026-03-02"}, {"id": "touch_up", "date": "2026-03-16"}]
    plan["points"] += [
        {"id": "m1_left", "units": 10, "target": "masseter_superficial_left", "lot": "LOT-M",
         "at": {"landmark": "gonion_left", "superior_mm": 15, "anterior_mm": 12}, "depth_mm": 3.5},
        {"id": "p4_free", "units": 2, "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 2},
        {"id": "t1", "units": 2, "target": "frontalis_left", "session": "touch_up",
         "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 2},
    ]
    plan.update(extra)
    return plan


@pytest.fixture(scope="module")
def analysed(model):
    plan = parse_plan(_plan(patient="P-0042"))
    return plan, check_plan(plan, model)


def test_an_untargeted_point_is_sided_by_its_position(analysed, model):
    plan, analysis = analysed
    free = next(p for p in analysis.points if p.id == "p4_free")
    assert free.entry_mm[0] > midline_half_width_mm()  # on the patient's left
    rows = {r.id: r for r in chart.chart_rows(plan, analysis, model)}
    assert rows["p4_free"].side == "left" and rows["g1"].side == "midline" and rows["c1_right"].side == "right"
    assert chart.point_side(38.9) == "left" and chart.point_side(-38.9) == "right" and chart.point_side(0.5) == "midline"
    data = report.report_data(plan, analysis, model)
    no_target = next(r for r in data["doses"] if r["muscle"] == "(no target)")
    assert no_target["left"] == 2 and no_target["midline"] == 0


def test_record_page_values(analysed, model):
    plan, analysis = analysed
    ctx = chart.ChartContext(clinician="Dr Q", lot="LOT-V", expiry="2027-01", notes="n")
    rec = chart.chart_record(plan, analysis, model, ctx)
    assert rec.patient == "P-0042" and rec.clinician == "Dr Q" and rec.expiry == "2027-01"
    assert [(v.session, v.date) for v in rec.visits] == [("initial", "2026-03-02"), ("touch_up", "2026-03-16")]
    assert "2.5 mL" in rec.dilution and "100 U" in rec.dilution
    rows = {r.id: r for r in rec.rows}
    assert [r.number for r in rec.rows] == list(range(1, len(plan.points) + 1))
    assert rows["m1_left"].lot == "LOT-M" and rows["g1"].lot == "LOT-V"  # a point's own lot wins
    assert rec.lots == ("LOT-V", "LOT-M")
    assert rows["m1_left"].depth_mm == 3.5  # to 0.1 mm, never rounded to whole mm
    by_result = {p.id: p for p in analysis.points}
    assert rows["g1"].volume_ml == pytest.approx(by_result["g1"].volume_ml)
    (tot,) = rec.totals
    assert tot.units == pytest.approx(sum(p.units for p in plan.points))
    assert tot.volume_ml == pytest.approx(sum(p.volume_ml for p in analysis.points), abs=1e-3)
    assert tot.vials == pytest.approx(tot.units / 100) and tot.vials_opened == 1
    table = report.point_table_rows(rec)
    m1 = next(r for r in table if r[1] == "m1_left")
    assert m1[3] == "left" and m1[4] == "3.5" and m1[5] == "10" and m1[6] == "0.25" and m1[7] == "LOT-M"
    assert m1[8].startswith("caution: ")  # the shallow masseter point's findings, most severe first


def test_a_finding_distance_is_said_as_the_contract_means_it(analysed, model):
    _, analysis = analysed
    rows = chart.chart_rows(parse_plan(_plan()), analysis, model)
    words = [t for r in rows for _s, t in r.findings]
    assert any("reaches" in w and "mm in" in w for w in words)
    assert not any(re.search(r"-\d", w) for w in words)  # never "-3.3 mm"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 800), min_size=0, max_size=30), st.floats(10, 40))
def test_label_column_never_overlaps(wanted, height):
    ys = layout_column(wanted, height, 0.0, 800.0)
    assert len(ys) == len(wanted)
    s = sorted(ys)
    assert all(b - a >= height - 1e-6 for a, b in zip(s, s[1:], strict=False))
    assert all(y >= height / 2 - 1e-6 for y in ys)


def test_label_view_places_every_label_apart_and_outside_the_render():
    import numpy as np

    img = np.zeros((400, 600, 3), np.uint8)
    img[100:300, 200:400] = 200  # the "head"
    labels = [Label(210 + i % 3, 150 + (i % 4), f"{i + 1}: 4 U") for i in range(12)]
    labels += [Label(390, 160, "Corrugator supercilii (left)", kind="structure")]
    view = label_view(img, labels)
    assert len(view.placed) == len(labels)
    x_img0, x_img1 = view.offset[0], view.offset[0] + view.image.size[0]
    for side in ("l", "r"):
        ys = sorted(p.y for p in view.placed if (p.edge[0] < x_img0 + 1) == (side == "l"))
        assert all(b - a >= view.line_h - 1e-6 for a, b in zip(ys, ys[1:], strict=False))
    for p in view.placed:
        assert p.x_text + p.width <= x_img0 or p.x_text >= x_img1  # labels sit in the margins
    assert view.render().size == view.canvas


def test_handout_has_dates_and_no_clinician_content(analysed, model):
    plan, analysis = analysed
    h = chart.handout_data(plan, chart.ChartContext(clinician="Dr Q"))
    assert h.visit_date == dt.date(2026, 3, 2) and h.date_given
    first = h.timeline[0]
    assert first.review == dt.date(2026, 3, 16)  # the two-week review
    assert first.first_change[0] == dt.date(2026, 3, 3)  # onset from day 1
    touch = [r for r in h.timeline if r.visit != "first visit"]
    assert touch and touch[0].treated == dt.date(2026, 3, 16)
    text = handout.render_handout_html(h)
    assert "Mon 16 Mar 2026" in text and "Tue 3 Mar 2026" in text
    for pid in (p.id for p in plan.points):
        assert not re.search(rf"\b{re.escape(pid)}\b", text), pid
    for key in education.education_data()["sources"]:
        assert key not in text, key
    for word in ("ANATOMY-FACTS", ".md", ".yaml", "injectmap/", "Supratrochlear"):
        assert word not in text, word
    assert not re.search(r"\b(caution|danger|info)\b", text, re.I)  # no severity of a clinician finding
    for f in (f for p in analysis.points for f in p.findings):
        assert html.escape(f.message) not in text
    refs = [r.text() for r in h.references]
    assert any("Beer KR" in r and "(2011)" in r for r in refs)


def test_every_source_a_patient_may_see_has_a_readable_reference():
    d = education.education_data()
    keys = {k for e in d["transient_effects"] for k in e["sources"]} | {k for a in d["aftercare"] for k in a["sources"]}
    keys |= set(education.timeline_source_keys())
    keys |= {k for m in d["muscles"].values() for k in m["sources"]}
    refs = chart.readable_references(sorted(keys))  # raises on a source with no readable reference
    assert refs and not any("injectmap" in r.text() for r in refs)


def test_hostile_text_is_text_in_html(model):
    plan = _plan(patient=HOSTILE)
    plan["points"][0]["note"] = HOSTILE
    plan["points"][0]["lot"] = HOSTILE
    plan = parse_plan(plan)
    analysis = check_plan(plan, model, HOSTILE)
    ctx = chart.ChartContext(clinician=HOSTILE, notes=HOSTILE, expiry=HOSTILE, dilution=HOSTILE, lot=HOSTILE)
    rec = chart.chart_record(plan, analysis, model, ctx)
    data = report.report_data(plan, analysis, model, plan_name=HOSTILE)
    for text in (report.render_html(data, {}, "", "", rec, [("#ff0000", HOSTILE)]),
                 handout.render_handout_html(chart.handout_data(plan, ctx))):
        assert "<script>" not in text and "<img src=x" not in text and "</table><img" not in text
        assert html.escape(HOSTILE) in text


def test_hostile_text_is_text_in_pdf(model, tmp_path):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    plan = _plan(patient=HOSTILE)
    plan["points"][0]["note"] = HOSTILE
    plan = parse_plan(plan)
    analysis = check_plan(plan, model)
    ctx = chart.ChartContext(clinician=HOSTILE, notes=HOSTILE)
    rec = chart.chart_record(plan, analysis, model, ctx)
    data = report.report_data(plan, analysis, model, plan_name=HOSTILE)
    ascii_part = HOSTILE.split(" \u00e9")[0]
    for name, pdf in (("chart", report.render_pdf(data, {}, None, rec)),
                      ("handout", handout.render_handout_pdf(chart.handout_data(plan, ctx)))):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf)
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert ascii_part.split(" & ")[0] in text, name  # the markup-like text printed as it is
        assert "**bold**" in " ".join(text.split()), name


def test_handout_pdf_has_no_nearly_blank_last_page(analysed, tmp_path):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    from injectmap.viewer.report_render import timeline_images

    plan, _ = analysed
    _svg, png = timeline_images(plan)
    path = tmp_path / "handout.pdf"
    path.write_bytes(handout.render_handout_pdf(chart.handout_data(plan), png))
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    last = subprocess.run(["pdftotext", "-f", str(pages), "-l", str(pages), str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert pages <= 3
    assert len([ln for ln in last.splitlines() if ln.strip()]) >= 12, last
    assert "Mon 16 Mar 2026" in subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                               check=True).stdout
