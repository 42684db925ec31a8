"""The dose totals card checks a lower-face plan in the browser: every treated muscle with its units per side.

The by-the-book lower-face plan (tests/planning/plans/lower_face_by_the_book.json: masseter, DAO, mentalis and
platysma, 18 points) showed only "platysma 16 / 16" under "By area"; the masseter's 24 U per side was only in the
PDF.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import AppPage, no_sideways_scroll, sized_page

from injectmap.planning.doses import dose_range

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
LOWER_FACE = Path(__file__).resolve().parents[1] / "planning" / "plans" / "lower_face_by_the_book.json"


@pytest.fixture
def laptop(browser, app_url: str) -> Iterator[AppPage]:
    with sized_page(browser, app_url, (1366, 768)) as app:
        yield app


def test_the_totals_card_lists_every_treated_muscle_per_side(laptop: AppPage) -> None:
    page = laptop.page
    page.locator("input[type=file][accept='.json']").set_input_files(str(LOWER_FACE))
    laptop.plan_rows().filter(has_text="mas_top_left").first.wait_for(timeout=WAIT_MS)
    table = page.locator(".dose-totals table.totals-muscles").first
    table.wait_for(timeout=WAIT_MS)
    table.scroll_into_view_if_needed()
    expected = {"masseter": "24", "depressor_anguli_oris": "3", "mentalis": "3", "platysma": "16"}
    for muscle, units in expected.items():
        row = table.locator(f'tr[data-muscle="{muscle}"]')
        for side in ("left", "right"):
            cell = row.locator(f"td.{side}")
            assert cell.inner_text().strip() == units, (muscle, side, cell.inner_text())
        rng = dose_range(muscle)
        assert rng is not None
        usual = row.locator("td.usual").inner_text().strip()
        assert usual.startswith(f"{rng.typical_low_units:g}-{rng.typical_high_units:g}"), usual
    assert table.locator("tr[data-muscle]").count() == len(expected)
    box = table.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1366 + 1, box
    no_sideways_scroll(page)
    assert not laptop.errors
