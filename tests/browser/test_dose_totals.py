"""Doses as clinicians count them, in the browser (issue 12, item 3): the totals under the plan table and the
mL column at laptop and desktop sizes, updated on an edit; switching the product asks, and converts, keeps
or cancels. Before: no totals, no mL, and a switch silently read "8 U" as the new product's units."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import AppPage, no_sideways_scroll, sized_page
from playwright.sync_api import expect

from injectmap.planning.plan import parse_plan
from injectmap.planning.products import product_info
from injectmap.planning.totals import dose_totals
from injectmap.viewer.app import demo_plan

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
SIZES = [(1366, 768), (1920, 1080)]


@pytest.fixture
def sized(browser, app_url: str, request) -> Iterator[AppPage]:
    with sized_page(browser, app_url, request.param) as app:
        yield app


def _number(text: str) -> float:
    m = re.match(r"\s*([\d.]+)", text)
    assert m, text
    return float(m.group(1))


def _cell(page, row: str, cls: str):
    return page.locator(f".dose-totals {row} td.{cls}").first


def _wait_number(page, row: str, cls: str, value: float) -> None:
    cell = _cell(page, row, cls)
    for _ in range(150):
        if cell.count() and abs(_number(cell.inner_text()) - value) < 1e-6:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{row} {cls}: {cell.inner_text()!r}, expected {value:g}")


def _units_column(app: AppPage, expected: list[float]) -> bool:
    """Whether the plan table's rendered units (its first rows: the table draws the rows in view) are these."""
    for _ in range(100):
        cells = app.page.locator(".plan-table .tabulator-cell[tabulator-field='units']")
        shown = [float(t) for t in cells.all_inner_texts()]
        if shown and shown == expected[:len(shown)]:
            return True
        app.page.wait_for_timeout(200)
    return False


def _on_screen(page, locator) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width + 1, box
    assert 0 <= box["y"] and box["y"] + box["height"] <= height + 1, box


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=lambda s: f"{s[0]}x{s[1]}")
def test_totals_and_ml_column_follow_the_plan(sized: AppPage) -> None:
    page = sized.page
    demo = parse_plan(demo_plan())
    t = dose_totals(demo)
    summary = page.locator(".dose-totals table.totals-summary").first
    summary.wait_for(timeout=WAIT_MS)
    _on_screen(page, summary)
    plan_row = 'tr[data-row="Whole plan"]'
    assert _number(_cell(page, plan_row, "units").inner_text()) == t.units
    assert _number(_cell(page, plan_row, "ml").inner_text()) == pytest.approx(t.volume_ml)
    assert _cell(page, plan_row, "open").inner_text().strip() == str(t.vials[0].vials_to_open)
    for side in ("left", "right", "midline"):
        g = t.side(side)
        assert _number(_cell(page, f'tr[data-side="{side}"]', "units").inner_text()) == (g.units if g else 0)
    _on_screen(page, page.locator(".dose-totals table.totals-areas").first)
    # the mL column: each point's volume at the plan's dilution, as `injectmap check` computes it
    ml = [float(x) for x in page.locator(".plan-table .tabulator-cell[tabulator-field='mL']").all_inner_texts()]
    assert ml == pytest.approx([demo.volume_ml_of(p) for p in demo.points][:len(ml)]) and ml
    # an edit: a point placed at the glabella adds its 4 U to the whole plan and to the midline
    place = page.get_by_role("button", name="Place at landmark", exact=True)
    place.scroll_into_view_if_needed()
    place.click()
    _wait_number(page, plan_row, "units", t.units + 4)
    _wait_number(page, 'tr[data-side="midline"]', "units", t.side("midline").units + 4)
    no_sideways_scroll(page)
    assert not sized.errors


@pytest.mark.parametrize("sized", [SIZES[0]], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}")
def test_product_switch_asks_then_converts_keeps_or_cancels(sized: AppPage) -> None:
    page = sized.page
    demo = parse_plan(demo_plan())
    units = [float(p.units) for p in demo.points]
    total = dose_totals(demo).units
    select = page.locator(".product-select select").first
    prompt = page.locator(".product-switch").first
    plan_row = 'tr[data-row="Whole plan"]'
    _cell(page, plan_row, "units").wait_for(timeout=WAIT_MS)

    # cancel: the selector goes back, nothing changes
    select.select_option("incobotulinumtoxinA")
    prompt.wait_for(state="visible", timeout=WAIT_MS)
    _on_screen(page, prompt)
    page.get_by_role("button", name="Cancel", exact=True).click()
    prompt.wait_for(state="hidden", timeout=WAIT_MS)
    expect(select).to_have_value("onabotulinumtoxinA", timeout=WAIT_MS)
    page.locator(".switch-note").get_by_text("the plan is unchanged").wait_for(timeout=WAIT_MS)
    assert _units_column(sized, units)
    assert _number(_cell(page, plan_row, "units").inner_text()) == total

    # convert: every dose times the table's factor, and the note says the factor and its source
    ratio = product_info("abobotulinumtoxinA").equivalence.units_per_ona_unit
    select.select_option("abobotulinumtoxinA")
    prompt.wait_for(state="visible", timeout=WAIT_MS)
    # the factor and its source (the Markdown's text is in its shadow root: matched by text, which pierces it)
    prompt.get_by_text(re.compile(rf"1 U of onabotulinumtoxinA = {ratio:g} U of abobotulinumtoxinA .*Dorizas")).wait_for(
        timeout=WAIT_MS)
    page.get_by_role("button", name="Convert the doses", exact=True).click()
    prompt.wait_for(state="hidden", timeout=WAIT_MS)
    _wait_number(page, plan_row, "units", total * ratio)
    page.locator(".switch-note").get_by_text(re.compile(rf"1 U = {ratio:g} U")).wait_for(timeout=WAIT_MS)
    assert _units_column(sized, [u * ratio for u in units])
    expect(select).to_have_value("abobotulinumtoxinA")

    # keep: the numbers stay, now read as the new product's units
    select.select_option("incobotulinumtoxinA")
    prompt.wait_for(state="visible", timeout=WAIT_MS)
    page.get_by_role("button", name="Keep the unit numbers", exact=True).click()
    prompt.wait_for(state="hidden", timeout=WAIT_MS)
    page.locator(".switch-note").get_by_text(re.compile("read as incobotulinumtoxinA units")).wait_for(timeout=WAIT_MS)
    assert _units_column(sized, [u * ratio for u in units])
    assert _number(_cell(page, plan_row, "units").inner_text()) == total * ratio
    assert not sized.errors
