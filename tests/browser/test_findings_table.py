"""The planning Findings table read at laptop and desktop sizes: the most severe first, and the point, severity,
structure and message each wide enough to read, their whole text shown.

At 1366x768 the six columns were squeezed to 40 px each beside a 420 px message cut to one line ("p1 | cautic |
masse | masse | -10.2"); the lower-face plan's dangers were rows 26-27 of 28. The plan here is the by-the-book lower
face (tests/planning/plans/lower_face_by_the_book.json) with 400 U at its top left masseter point and a 6 U point
at the masseter's anterior border.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import AppPage, no_sideways_scroll, sized_page

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
SIZES = [(1366, 768), (1920, 1080)]
LOWER_FACE = Path(__file__).resolve().parents[1] / "planning" / "plans" / "lower_face_by_the_book.json"
#: the least width (px) a column needs to be read: a point id, "caution" and its header, a structure's name over two or
#: three lines, a message of about 40 characters a line
READABLE_PX = {"point": 90, "severity": 80, "structure": 120, "message": 270}


@pytest.fixture
def sized(browser, app_url: str, request) -> Iterator[AppPage]:
    with sized_page(browser, app_url, request.param) as app:
        yield app


def _overdosed(tmp_path: Path) -> Path:
    plan = json.loads(LOWER_FACE.read_text())
    for p in plan["points"]:
        if p["id"] == "mas_top_left":
            p["units"] = 400
    plan["points"].append({"id": "p1", "units": 6, "target": "masseter_superficial_left",
                           "at": {"landmark": "gonion_left", "anterior_mm": 20, "superior_mm": 15}, "depth_mm": 12})
    path = tmp_path / "lower_face_400.json"
    path.write_text(json.dumps(plan))
    return path


#: for each of the first rows: each cell's field, its width, and whether its whole text shows (not cut or clipped)
_CELLS_JS = """(rows) => rows.slice(0, 6).map(r => {
    const cells = {};
    r.querySelectorAll('.tabulator-cell[tabulator-field]').forEach(c => {
        const b = c.getBoundingClientRect();
        cells[c.getAttribute('tabulator-field')] = {
            width: b.width, shown: b.width > 0 && c.offsetParent !== null,
            whole: c.scrollWidth <= c.clientWidth + 1 && c.scrollHeight <= c.clientHeight + 1,
            text: c.innerText.trim()};
    });
    return {cells, text: r.innerText};
})"""

_HEADERS_JS = """(cols) => cols.map(c => {
    const t = c.querySelector('.tabulator-col-title');
    return {field: c.getAttribute('tabulator-field'), width: c.getBoundingClientRect().width,
            whole: t ? t.scrollWidth <= t.clientWidth + 1 : false};
})"""


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_findings_table_is_read_most_severe_first(sized: AppPage, tmp_path: Path) -> None:
    page = sized.page
    page.locator("input[type=file][accept='.json']").set_input_files(str(_overdosed(tmp_path)))
    sized.plan_rows().filter(has_text="p1").first.wait_for(timeout=WAIT_MS)
    sized.finding_rows().filter(has_text="point_dose_above_range").first.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(1000)  # the table laid out for its width
    table = page.locator(".findings-table").first
    table.scroll_into_view_if_needed()

    rows = sized.finding_rows().evaluate_all(_CELLS_JS)
    assert len(rows) >= 5, rows
    # the most severe first: the point whose dose makes the overdose, then the plan's dangers
    severities = [r["cells"]["severity"]["text"] for r in rows]
    assert severities[:4] == ["danger"] * 4, severities
    assert rows[0]["cells"]["point"]["text"] == "mas_top_left" and "point_dose_above_range" in rows[0]["text"]
    assert "418 U into masseter (left)" in rows[0]["cells"]["message"]["text"]

    for i, row in enumerate(rows):
        for field, least in READABLE_PX.items():
            cell = row["cells"][field]
            assert cell["shown"] and cell["width"] >= least, (page.viewport_size, i, field, cell)
            assert cell["whole"], (page.viewport_size, i, field, cell["text"][:80])
        # the code and the distance: a column of their own, or folded under the row (labelled), never dropped
        code = row["cells"]["code"]
        assert (code["shown"] and code["whole"]) or ("code" in row["text"] and code["text"] in row["text"]), row
        assert row["cells"]["distance_mm"]["text"] in row["text"]
    p1 = next(r for r in rows if r["cells"]["point"]["text"] == "p1")
    assert "-10.2" in p1["text"] and "masseter_anterior_border" in p1["text"]
    assert "Masseter (superficial part)" in p1["cells"]["structure"]["text"]

    headers = table.locator(".tabulator-col[tabulator-field]").evaluate_all(_HEADERS_JS)
    for h in headers:
        if h["field"] in READABLE_PX:
            assert h["whole"] and h["width"] >= READABLE_PX[h["field"]], (page.viewport_size, h)
    if page.viewport_size["width"] >= 1920:  # room for every column side by side
        for h in headers:
            if h["field"] in ("code", "distance_mm"):
                assert h["whole"] and h["width"] > 0, h
        assert all(r["cells"]["code"]["shown"] and r["cells"]["code"]["whole"] for r in rows), rows
    no_sideways_scroll(page)
    assert not sized.errors
