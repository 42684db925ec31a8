"""The training card in the plan column at laptop and desktop sizes: its buttons are reached and pressed with
the mouse as a user does (the column scrolled with the wheel, a click where the button shows, never a scripted
scroll sideways), and the feedback's messages are shown whole."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import AppPage, sized_page

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
SIZES = [(1366, 768), (1920, 1080)]
MENTALIS = "Mentalis (dimpled, 'orange-peel' chin)"


@pytest.fixture
def sized(browser, app_url: str, request) -> Iterator[AppPage]:
    with sized_page(browser, app_url, request.param) as app:
        yield app


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, "no box: the element is not laid out"
    return box


def _scroll_lefts(app: AppPage) -> list[int]:
    """How far each scrolling column has been scrolled sideways (a user cannot do it: they hide overflow-x)."""
    return [app.page.locator(css).first.evaluate("el => el.scrollLeft")
            for css in (".side-column", ".centre-column", ".plan-column", ".below-view")]


def _wheel_into_view(app: AppPage, target, width: int, height: int) -> dict:
    """Turn the mouse wheel over the plan column until ``target`` is inside the window from top to bottom, as a
    user scrolls; return its box."""
    column = _box(app.page.locator(".plan-column").first)
    app.page.mouse.move(column["x"] + column["width"] / 2, column["y"] + min(column["height"], height) / 2)
    for _ in range(40):
        box = _box(target)
        if box["y"] >= 0 and box["y"] + box["height"] <= height:
            return box
        app.page.mouse.wheel(0, 150 if box["y"] + box["height"] > height else -150)
        app.page.wait_for_timeout(150)
    raise AssertionError(f"the wheel did not bring the element into the {width}x{height} window: {_box(target)}")


def _mouse_click(app: AppPage, target, width: int, height: int) -> None:
    """Click ``target`` with the mouse where it shows: it must lie inside the window and inside its column, and be
    what the mouse hits there (nothing over it)."""
    box = _wheel_into_view(app, target, width, height)
    column = _box(app.page.locator(".plan-column").first)
    assert box["x"] >= column["x"] - 1 and box["x"] + box["width"] <= column["x"] + column["width"] + 1, (
        f"the button lies outside its column ({box} in {column}): the mouse cannot reach it")
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"the button lies outside the {width} px window: {box}"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    hit = target.evaluate("""(el, [x, y]) => {
        let e = document.elementFromPoint(x, y)
        while (e && e.shadowRoot) {
          const inner = e.shadowRoot.elementFromPoint(x, y)
          if (!inner || inner === e) break
          e = inner
        }
        return e === el || el.contains(e) || (el.shadowRoot && el.shadowRoot.contains(e))
      }""", [x, y])
    assert hit, f"something else lies over the button at ({x:.0f}, {y:.0f})"
    app.page.mouse.click(x, y)


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=[f"{w}x{h}" for w, h in SIZES])
def test_score_is_pressed_with_the_mouse_and_the_feedback_reads_whole(sized: AppPage) -> None:
    page = sized.page
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    sized.switch_mode("training", ".training-panel")
    page.locator(".training-picker select").select_option(label=MENTALIS)
    page.locator(".training-goal").filter(has_text="dimpled chin").wait_for(timeout=WAIT_MS)
    _mouse_click(sized, page.get_by_role("button", name="Load reference answer"), width, height)
    sized.plan_rows().filter(has_text="mn1_left").first.wait_for(timeout=WAIT_MS)
    score = page.get_by_role("button", name="Score my plan")
    _mouse_click(sized, score, width, height)
    heading = page.locator(".training-score").get_by_text(re.compile(r"Score: \d+/100"))
    try:
        heading.wait_for(timeout=WAIT_MS)
    except Exception as exc:  # noqa: BLE001 - say what the card showed instead
        shown = page.locator(".training-score").first.inner_text()
        raise AssertionError(f"no score after the click; the card says {shown!r}; errors {sized.errors}") from exc
    assert "(passed)" in heading.inner_text()
    assert _scroll_lefts(sized) == [0, 0, 0, 0]  # nothing was shifted sideways to reach the button
    # the reference answer keeps teaching feedback on mn1_left: its message is shown whole, in lines of a
    # readable width, not cut to "m..." in a narrow column
    message = page.locator(".training-feedback").get_by_text(re.compile(r"^Point mn1_left")).filter(visible=True).first
    message.wait_for(state="visible", timeout=WAIT_MS)
    for _ in range(20):  # the row's content is laid out once it is shown: measure it when it has settled
        shown = message.evaluate("""el => {
            const s = getComputedStyle(el), r = el.getBoundingClientRect()
            return {sw: el.scrollWidth, cw: el.clientWidth, sh: el.scrollHeight, ch: el.clientHeight, w: r.width,
                    overflow: s.textOverflow, text: el.innerText}
          }""")
        if shown["w"] >= 300 and shown["sw"] <= shown["cw"] + 1 and shown["sh"] <= shown["ch"] + 1:
            break
        page.wait_for_timeout(250)
    assert len(shown["text"]) > 80, shown
    assert shown["sw"] <= shown["cw"] + 1 and shown["sh"] <= shown["ch"] + 1, f"the message is cut: {shown}"
    assert shown["w"] >= 300, f"the message is squeezed into {shown['w']:.0f} px"
    assert not [e for e in sized.errors if "Error" in e and "favicon" not in e]
