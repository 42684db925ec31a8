"""The Report card at 1366x768: "Report" and "Handout" make their PDF off the event loop and offer it
for download; the chart's text has the point labels and the record page, the handout's the calendar
dates from the visit date and no point id. (Before: no report button; only the CLI.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from browser_support import AppPage, make_and_download, pdf_text

pytestmark = pytest.mark.browser


def test_report_and_handout_buttons(browser, app_url: str, tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    try:
        app = AppPage(ctx.new_page(), app_url, timed=False).open()
        page = app.page
        for placeholder, value in (("the clinician's name", "Dr Test <b>"), ("YYYY-MM-DD (empty: the plan's)", "2026-05-04"),
                                   ("the vial's lot", "LOT-77"), ("the vial's expiry", "2027-02"),
                                   ("notes of the visit", "Asked for a light result.")):
            box = page.get_by_placeholder(placeholder)
            box.fill(value)
            box.press("Tab")
        chart = pdf_text(make_and_download(app.page, "Report", "Download report (PDF)", tmp_path))
        for text in ("Treatment chart", "1: 4 U", "2: 4 U", "Dr Test <b>", "LOT-77", "2027-02", "initial: 2026-05-04",
                     "Asked for a light result.", "Signature", "Totals", "Procerus"):
            assert text in chart, text
        handout = pdf_text(make_and_download(app.page, "Handout", "Download handout (PDF)", tmp_path))
        for text in ("Your botulinum toxin treatment", "Mon 4 May 2026", "Mon 18 May 2026", "Dr Test <b>", "Aftercare"):
            assert text in handout, text
        for hidden in ("g1", "c1_left", "caution", "danger", "LOT-77"):  # no point id, finding or lot
            assert not re.search(rf"\b{hidden}\b", handout), hidden
        assert [e for e in app.errors if "favicon" not in e] == []
    finally:
        ctx.close()
