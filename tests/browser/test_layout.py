"""The page at laptop and desktop sizes (issue 12, "a page that fits"): the page never scrolls itself
(each column scrolls inside, however tall its cards), the 3D view on screen and beside the text of every
mode, each plan control reachable in its own column, education showing each step's muscle, New plan and
restore, labels, the display bugs."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator

import numpy as np
import pytest
from browser_support import AppPage, no_sideways_scroll, page_does_not_scroll, sized_page

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
SIZES = [(1366, 768), (1920, 1080)]


@pytest.fixture
def sized(browser, app_url: str, request) -> Iterator[AppPage]:
    with sized_page(browser, app_url, request.param) as app:
        yield app


def _box(locator):
    box = locator.bounding_box()
    assert box is not None
    return box


def _scene_on_screen(app: AppPage, width: int, height: int) -> dict:
    box = _box(app.canvas())
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    assert box["y"] >= 0 and box["y"] + box["height"] <= height + 1, box
    assert box["width"] >= 360
    return box


#: the page's scrolling boxes: the two side columns, and the part of the centre column under the 3D view
SCROLLERS = (".side-column", ".plan-column", ".below-view")
#: a test-only card far taller than any window, as cards that grow make a column
TALL_PX = 2500


def _add_tall_cards(app: AppPage) -> None:
    """Append a test-only block of :data:`TALL_PX` to each scrolling box (inside its shadow root, where
    the column's cards are)."""
    for css in SCROLLERS:
        app.page.locator(css).first.evaluate(
            """(el, h) => {
                 const d = document.createElement("div")
                 d.className = "test-tall-card"
                 d.style.cssText = `height:${h}px;min-height:${h}px;flex:none;width:100%;background:#ddd`
                 el.shadowRoot.appendChild(d)
               }""", TALL_PX)


def _columns_fit(app: AppPage, height: int, scroll: bool) -> None:
    """Every column ends inside the window; with ``scroll``, each holds more than it shows (it scrolls)."""
    for css in (".side-column", ".centre-column", ".plan-column", ".below-view"):
        box = _box(app.page.locator(css).first)
        assert box["y"] >= 0 and box["y"] + box["height"] <= height + 1, (css, box)
    if scroll:
        for css in SCROLLERS:
            sh, ch = app.page.locator(css).first.evaluate("el => [el.scrollHeight, el.clientHeight]")
            assert sh > ch and ch > 0, f"{css} does not scroll inside itself: {sh} / {ch}"


def _scroll_to_bottom(app: AppPage, css: str) -> None:
    """Scroll a box's last element into view (Playwright scrolls whatever must scroll: the page, if it can)."""
    app.page.locator(css).first.locator(".test-tall-card").scroll_into_view_if_needed()


def _canvas_rgb(app: AppPage) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(app.canvas_png())).convert("RGB"), dtype=float)


def _settled(app: AppPage) -> np.ndarray:
    img = _canvas_rgb(app)
    for _ in range(60):
        app.page.wait_for_timeout(300)
        nxt = _canvas_rgb(app)
        if np.abs(nxt - img).mean() < 0.3:
            return nxt
        img = nxt
    return img


def _emphasis_pixels(img: np.ndarray) -> np.ndarray:
    """Pixels of the emphasis yellow, lit or seen through the skin: red and green high, blue low (the
    skin is pink, with blue about two thirds of red; the muscles are red, with little green)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return (r > 120) & (g > 0.7 * r) & (b < 0.45 * r)


def _remove_tall_cards(app: AppPage) -> None:
    """Take the test-only blocks out again and scroll each box back to its top."""
    for css in SCROLLERS:
        app.page.locator(css).first.evaluate(
            "el => { el.shadowRoot.querySelectorAll('.test-tall-card').forEach(d => d.remove()); el.scrollTop = 0 }")


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=["1366x768", "1920x1080-then-1600x900"])
def test_the_page_fits_and_every_plan_control_is_reachable(sized: AppPage) -> None:
    """The page never scrolls itself, at its own height and with every column far taller than the window
    (as cards that grow make them): the header and the whole 3D view stay, each column scrolls inside. The
    large window is then made 1600x900, as a user shrinks it, and all of it holds there too."""
    _page_fits(sized)
    if sized.page.viewport_size["width"] == 1920:
        _remove_tall_cards(sized)
        wide = _box(sized.canvas())["width"]
        _resize(sized, 1600, 900)
        assert _box(sized.canvas())["width"] < wide  # laid out again for the smaller window
        _page_fits(sized)


def _resize(app: AppPage, width: int, height: int) -> None:
    """Make the window ``width`` x ``height`` and wait until the 3D view is laid out inside it again."""
    app.page.set_viewport_size({"width": width, "height": height})
    app.page.wait_for_function("([w, h]) => window.innerWidth === w && window.innerHeight === h", arg=[width, height])
    app.canvas().wait_for(state="visible", timeout=WAIT_MS)
    for _ in range(50):  # the page lays the columns out again after the resize event
        box = _box(app.canvas())
        if box["x"] + box["width"] <= width + 1 and box["y"] + box["height"] <= height + 1:
            break
        app.page.wait_for_timeout(200)
    app.page.wait_for_timeout(500)


def _page_fits(sized: AppPage) -> None:
    page = sized.page
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    header = page.get_by_text("injectmap: botulinum toxin injection map").first
    page_does_not_scroll(sized.page)
    _columns_fit(sized, height, scroll=False)
    scene = _scene_on_screen(sized, width, height)
    _add_tall_cards(sized)
    page.wait_for_timeout(300)
    page_does_not_scroll(sized.page)
    _columns_fit(sized, height, scroll=True)
    moved = _box(sized.canvas())
    assert abs(moved["y"] - scene["y"]) < 1 and abs(moved["height"] - scene["height"]) < 1, (moved, scene)
    for name in ("Undo", "Redo", "New plan", "Up", "Back", "Lateral", "Delete point", "Mirror point", "Mirror all",
                 "Place at landmark"):
        button = page.get_by_role("button", name=name, exact=True)
        button.scroll_into_view_if_needed()
        box = _box(button)
        assert box["x"] >= scene["x"] + scene["width"] - 1 and box["x"] + box["width"] <= width, name
        assert 0 <= box["y"] and box["y"] + box["height"] <= height + 1, name  # + a fraction of a pixel
    units = page.locator(".bk-input-group").filter(has_text=re.compile("^Units")).first
    units.scroll_into_view_if_needed()
    ubox = _box(units)
    assert ubox["x"] + ubox["width"] <= width and ubox["y"] + ubox["height"] <= height + 1
    # each column scrolled to its very end: the column scrolled, not the page; the header and the 3D view
    # are where they were
    for css in SCROLLERS:
        _scroll_to_bottom(sized, css)
        assert page.locator(css).first.evaluate("el => el.scrollTop") > 0, css
        page_does_not_scroll(sized.page)
        assert abs(_box(sized.canvas())["y"] - scene["y"]) < 1, css
        assert 0 <= _box(header)["y"] < 20, css
    _scene_on_screen(sized, width, height)
    # the legend and the point labels
    legend = page.locator(".legend-card").get_by_text("corridor of an artery")
    legend.scroll_into_view_if_needed()
    legend.wait_for(timeout=WAIT_MS)
    page_does_not_scroll(sized.page)
    label = page.locator(".injectmap-label-point").first
    label.wait_for(state="visible", timeout=WAIT_MS)
    assert re.fullmatch(r"1 · [\d.]+ U", label.inner_text())
    assert not sized.errors


@pytest.mark.parametrize("sized", [SIZES[0]], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}-and-1920x1080")
def test_training_and_education_text_stays_beside_the_view(sized: AppPage) -> None:
    """In each mode its text stands beside the 3D view, at 1366x768 and with the window made 1920x1080."""
    page = sized.page
    widths = []
    for width, height in SIZES:
        _resize(sized, width, height)
        for mode, css in (("training", ".training-panel"), ("patient education", ".education-panel")):
            panel = sized.switch_mode(mode, css)
            page.wait_for_timeout(500)
            scene = _scene_on_screen(sized, width, height)
            widths.append(scene["width"])
            box = _box(panel)
            assert box["x"] >= scene["x"] + scene["width"] - 1, f"{mode} at {width}: the text is not beside the view"
            assert box["y"] < scene["y"] + 100, f"{mode} at {width}: the text starts below the view"
            no_sideways_scroll(sized.page)
            page.get_by_role("button", name="depth planning", exact=True).click()
            panel.wait_for(state="hidden", timeout=WAIT_MS)
    assert min(widths[2:]) > max(widths[:2]), widths  # the view was laid out again for the larger window


@pytest.mark.parametrize("sized", [SIZES[0]], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}-and-1920x1080")
def test_education_shows_each_steps_muscle_and_hides_the_clinicians_controls(sized: AppPage) -> None:
    """Steps 2-4 at 1366x768, each drawing its muscle in the emphasis colour; then the window made 1920x1080:
    the clinician's controls stay hidden and the step before is drawn again with its muscle."""
    page = sized.page
    sized.switch_mode("patient education", ".education-panel")
    # clinician-only parts step aside; the option to show needles and zones is there
    page.locator(".findings-table").first.wait_for(state="hidden", timeout=WAIT_MS)
    assert not page.get_by_role("button", name="Delete point", exact=True).is_visible()
    page.locator(".education-zones").first.wait_for(timeout=WAIT_MS)
    assert "p1" not in page.locator(".education-points").first.inner_text()
    counter = page.locator(".education-counter")
    pictures = []
    for n in (2, 3, 4):
        page.get_by_role("button", name="Next >").click()
        counter.get_by_text(f"Step {n} of").wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(800)
        pictures.append(_settled(sized))
        if os.environ.get("INJECTMAP_TEST_PICTURES"):  # to look at them
            from PIL import Image

            Image.fromarray(pictures[-1].astype(np.uint8)).save(
                f"{os.environ['INJECTMAP_TEST_PICTURES']}/step{n}-{page.viewport_size['width']}.png")
    for a, b in zip(pictures, pictures[1:], strict=False):
        # the step's muscle is drawn in the emphasis colour; the pictures differ where it is
        yellow = _emphasis_pixels(b)
        assert yellow.mean() > 0.001, "the step's muscle is not shown in its colour"
        ys, xs = np.nonzero(yellow)
        region = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        assert np.abs(a[region] - b[region]).mean() > 5.0, "consecutive steps look the same where the muscle is"
    _resize(sized, *SIZES[1])
    large = []
    for button, n in (("< Previous", 3), ("Next >", 4)):
        page.get_by_role("button", name=button).click()
        counter.get_by_text(f"Step {n} of").wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(800)
        large.append(_settled(sized))
    assert large[0].shape[1] > pictures[1].shape[1]  # the view grew with the window
    yellow = _emphasis_pixels(large[1])
    assert yellow.mean() > 0.001, "at 1920x1080 the step's muscle is not shown in its colour"
    ys, xs = np.nonzero(yellow)
    region = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    assert np.abs(large[0][region] - large[1][region]).mean() > 5.0, "at 1920x1080 steps 3 and 4 look the same"
    assert not page.locator(".findings-table").first.is_visible()
    assert not page.get_by_role("button", name="Delete point", exact=True).is_visible()
    no_sideways_scroll(page)
    assert not sized.errors


@pytest.mark.parametrize("sized", [SIZES[0]], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}")
def test_new_plan_undo_and_restore_after_reload(sized: AppPage, browser, app_url: str) -> None:
    page = sized.page
    demo_rows = sized.plan_rows().count()
    assert demo_rows >= 5
    page.get_by_role("button", name="New plan", exact=True).click()
    page.wait_for_function("() => true")
    sized.plan_rows().first.wait_for(state="detached", timeout=WAIT_MS)
    page.get_by_role("button", name="Undo", exact=True).click()
    sized.plan_rows().filter(has_text="g1").first.wait_for(timeout=WAIT_MS)
    assert sized.plan_rows().count() == demo_rows
    page.get_by_role("button", name="New plan", exact=True).click()
    sized.plan_rows().first.wait_for(state="detached", timeout=WAIT_MS)
    page.get_by_role("button", name="Place at landmark", exact=True).click()
    sized.plan_rows().first.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(1000)  # the autosave follows the edit
    # the page is opened again (a reload is a new session): the last autosave is offered
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    again = AppPage(ctx.new_page(), app_url, timed=False).open()
    try:
        restore = again.page.get_by_role("button", name="Restore last autosave")
        restore.wait_for(timeout=WAIT_MS)
        again.page.get_by_text(re.compile(r"Your last autosaved plan \(.*, 1 point\)")).wait_for(timeout=WAIT_MS)
        restore.click()
        again.page.wait_for_function("() => true")
        for _ in range(100):
            if again.plan_rows().count() == 1:
                break
            again.page.wait_for_timeout(200)
        assert again.plan_rows().count() == 1
        restore.wait_for(state="hidden", timeout=WAIT_MS)
    finally:
        ctx.close()


@pytest.mark.parametrize("sized", [SIZES[0]], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}")
def test_depth_to_a_tenth_and_new_rows_scrolled_into_view(sized: AppPage) -> None:
    page = sized.page
    depths = [t.strip() for t in page.locator(".plan-table .tabulator-cell[tabulator-field='depth_mm']").all_inner_texts()]
    assert depths and all(re.fullmatch(r"\d+\.\d", d) for d in depths), depths
    place = page.get_by_role("button", name="Place at landmark", exact=True)
    n = sized.plan_rows().count()
    for i in range(3):  # rows past the table's height
        place.scroll_into_view_if_needed()
        place.click()
        for _ in range(150):
            if sized.plan_rows().count() == n + i + 1:
                break
            page.wait_for_timeout(200)
    selected = page.locator(".plan-table .tabulator-row.tabulator-selected").first
    selected.wait_for(timeout=WAIT_MS)
    holder = _box(page.locator(".plan-table .tabulator-tableholder").first)
    for _ in range(50):
        row = _box(selected)
        if row["y"] >= holder["y"] - 1 and row["y"] + row["height"] <= holder["y"] + holder["height"] + 1:
            break
        page.wait_for_timeout(200)
    assert row["y"] >= holder["y"] - 1 and row["y"] + row["height"] <= holder["y"] + holder["height"] + 1
    assert selected.locator("[tabulator-field='id']").inner_text().strip() == f"p{n + 3 - 0}" or selected.is_visible()


def _id_cells(app: AppPage) -> list[dict]:
    """Each id cell of the plan table: its text and whether its text fits in it (wider or taller than the cell is
    cut: the cells hide what overflows)."""
    return app.page.locator(".plan-table .tabulator-row .tabulator-cell[tabulator-field='id']").evaluate_all(
        "els => els.map(e => ({text: e.innerText.trim(), sw: e.scrollWidth, cw: e.clientWidth, sh: e.scrollHeight,"
        " ch: e.clientHeight}))")


def _whole(cell: dict) -> bool:
    """The cell is drawn (a table being drawn again has cells of no size) and its text fits in it."""
    return 0 < cell["cw"] and 0 < cell["ch"] and cell["sw"] <= cell["cw"] and cell["sh"] <= cell["ch"]


def _ids_shown_whole(app: AppPage, ids: list[str], one_line: int) -> list[dict]:
    """Wait until the plan table shows ``ids`` whole, each on one line of ``one_line`` px but those longer than the
    column's widest (a table drawn for new data first keeps its rows as tall as the narrower column before made them,
    until the analysis draws it again); return the cells as last measured."""
    cells: list[dict] = []
    for _ in range(150):
        cells = _id_cells(app)
        if ([c["text"] for c in cells] == ids and all(_whole(c) for c in cells)
                and all(c["ch"] == one_line for c in cells if len(c["text"]) <= len(PROTOCOL_LONGEST))):
            break
        app.page.wait_for_timeout(200)
    return cells


#: the longest id of the protocols' plans
PROTOCOL_LONGEST = "corrugator_lateral_right"


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_plan_tables_ids_are_never_cut(sized: AppPage) -> None:
    """Found by a clinician at 1366x768: the plan table's id column kept the width of the demo plan's ids (``g1``),
    so a protocol's ``masseter_front_right`` showed as ``masseter``. Each id now shows whole, at the laptop and at
    the desktop size: a protocol's on one line, an id of the plan file's longest (64 characters) wrapped; the id
    stays in view when the table scrolls sideways to its other columns, and the page does not scroll sideways."""
    from injectmap.planning.protocols import get_protocol, protocol_names, protocol_plan

    assert max((p["id"] for n in protocol_names() for p in protocol_plan(n)["points"]), key=len) == PROTOCOL_LONGEST
    page = sized.page
    demo = _id_cells(sized)
    assert demo and all(_whole(c) for c in demo), demo  # the demo plan's short ids: one line each
    one_line = demo[0]["ch"]
    for name in ("masseter_three_point", "glabella_five_point"):
        page.locator("select").filter(has_text=get_protocol("glabella_five_point").title).first.select_option(
            label=get_protocol(name).title)
        page.get_by_role("button", name="Start from protocol").click()
        ids = [p["id"] for p in protocol_plan(name)["points"]]
        cells = _ids_shown_whole(sized, ids, one_line)
        assert [c["text"] for c in cells] == ids, cells
        for c in cells:
            assert _whole(c) and c["ch"] == one_line, f"the id {c['text']} is cut or wrapped: {c}"
    longest = "a" * 31 + "_" + "b" * 32  # the plan file's longest id (64 characters: docs/plan.schema.json)
    plan = protocol_plan("glabella_five_point")
    plan["points"][0]["id"] = longest
    page.locator("input[type=file][accept='.json']").set_input_files(
        files=[{"name": "long-ids.json", "mimeType": "application/json", "buffer": json.dumps(plan).encode()}])
    ids = [p["id"] for p in plan["points"]]
    cells = _ids_shown_whole(sized, ids, one_line)
    assert [c["text"] for c in cells] == ids, cells
    for c in cells:
        assert _whole(c), f"the id {c['text']} is cut: {c}"
    assert cells[0]["ch"] > one_line and all(c["ch"] == one_line for c in cells[1:]), cells  # only the long one wraps
    # the table scrolled sideways to its last columns: the ids stay in view, beside them
    holder = page.locator(".plan-table .tabulator-tableholder").first
    for _ in range(20):  # a redraw of the table (the analysis returning) scrolls it back
        holder.evaluate("e => { e.scrollLeft = e.scrollWidth }")
        page.wait_for_timeout(300)
        if holder.evaluate("e => e.scrollLeft") > 0:
            break
    assert holder.evaluate("e => e.scrollLeft") > 0
    hbox = _box(holder)
    for k in range(len(ids)):
        box = _box(page.locator(".plan-table .tabulator-row .tabulator-cell[tabulator-field='id']").nth(k))
        assert hbox["x"] - 1 <= box["x"] and box["x"] + box["width"] <= hbox["x"] + hbox["width"] + 1, (k, box, hbox)
    no_sideways_scroll(page)
    assert not sized.errors
