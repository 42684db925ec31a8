"""Every PDF writes text outside Latin-1 as it was typed (it printed "?ucja Wa??sa ??" in fpdf2's core
Helvetica): DejaVu Sans from matplotlib, a clinic's extra fonts, then Last Resort (reports.pdf_fonts)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from injectmap.anatomy.model import load_model
from injectmap.planning.check import check_plan
from injectmap.planning.plan import parse_plan
from injectmap.reports import chart, handout, pdf_fonts, report

ROOT = Path(__file__).resolve().parents[2]
NAME = "Łucja Wałęsa 王芳"
SNOW = "☃"
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
                                reason="poppler's pdftotext and pdffonts are not installed")


def _run(tool: str, path: Path) -> str:
    return subprocess.run([tool, "-layout", str(path), "-"] if tool == "pdftotext" else [tool, str(path)],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def model():
    return load_model()


def _plan() -> dict:
    plan = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    plan["patient"] = NAME
    plan["points"][0]["note"] = f"{SNOW} <b>not bold</b> **nor this**"
    return plan


def _documents(model, ctx: chart.ChartContext) -> dict[str, bytes]:
    plan = parse_plan(_plan())
    analysis = check_plan(plan, model)
    rec = chart.chart_record(plan, analysis, model, ctx)
    data = report.report_data(plan, analysis, model, plan_name=NAME)
    return {"chart": report.render_pdf(data, {}, None, rec),
            "handout": handout.render_handout_pdf(chart.handout_data(plan, ctx))}


def test_a_non_latin_name_is_in_the_chart_and_the_handout_as_typed(model, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(pdf_fonts.FONTS_ENV, raising=False)
    with caplog.at_level(logging.DEBUG):
        docs = _documents(model, chart.ChartContext(clinician="Dr Søren Ødegård", notes=f"Notes {SNOW}"))
    assert "王" not in caplog.text and "Wałęsa" not in caplog.text  # fpdf2 logs no missing glyph of a name
    for name, pdf in docs.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf)
        text = _run("pdftotext", path)
        assert NAME in text, name
        assert "?ucja" not in text and "Wa??sa" not in text, name
        fonts = _run("pdffonts", path)
        assert "DejaVuSans" in fonts and "Helvetica" not in fonts, name
        if name == "chart":
            assert f"Notes {SNOW}" in text and "Dr Søren Ødegård" in text
            assert f"{SNOW} <b>not" in text and "**nor" in text  # the point's note (a table cell): text, never markup
        # no CJK font on the machine and none named: the CJK characters are Last Resort's boxes, kept as text
        assert "LastResort" in fonts, name


def test_a_latin_document_reads_no_fallback_font(model, tmp_path):
    plan = parse_plan({**_plan(), "patient": "Zoë Brontë"})
    path = tmp_path / "handout.pdf"
    t = time.perf_counter()
    path.write_bytes(handout.render_handout_pdf(chart.handout_data(plan)))
    seconds = time.perf_counter() - t
    fonts = _run("pdffonts", path)
    assert "LastResort" not in fonts and "Zoë Brontë" in _run("pdftotext", path)
    assert seconds < 10 and path.stat().st_size < 200_000, (seconds, path.stat().st_size)


def test_a_font_named_by_the_environment_writes_what_dejavu_sans_lacks(tmp_path, monkeypatch):
    # DejaVu Sans Mono (from matplotlib too) has U+2312 ARC, which DejaVu Sans lacks: it stands for a clinic's
    # CJK font here, as no CJK font is installed on the test machines
    mono = pdf_fonts.font_dir() / "DejaVuSansMono.ttf"
    monkeypatch.setenv(pdf_fonts.FONTS_ENV, f"{tmp_path / 'missing.ttf'}:{mono}")
    doc = report._Pdf("x")
    doc.para("Arc \u2312 here")
    path = tmp_path / "x.pdf"
    path.write_bytes(bytes(doc.pdf.output()))
    fonts = _run("pdffonts", path)
    assert "DejaVuSansMono" in fonts and "LastResort" not in fonts
    assert "Arc \u2312 here" in _run("pdftotext", path)
