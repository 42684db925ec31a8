"""What the patient sees in patient-education mode at 1366x768: no label of a point on the far side of the head
shows through it, and the timeline's text is legible.

Found at 1366x768 with a lower-face plan: in the zoomed jaw step (the camera on the left masseter) the labels of
the right side's points ("10 · 12 U"...) were drawn over the left masseter; the timeline's labels were a few
pixels high, and "first change" was cut to "frst" by the axis.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from browser_support import AppPage, sized_page

from injectmap.planning.plan import parse_plan
from injectmap.viewer.app import demo_plan
from injectmap.viewer.education_panel import TIMELINE_DPI, TIMELINE_WIDTH_PX, walkthrough_timeline

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
#: the smallest text a patient is asked to read on the screen (CSS px), as tests/viewer/test_education_panel.py
MIN_TEXT_PX = 11.0


def _point(pid: str, units: float, target: str, at: dict[str, Any], depth: float) -> dict[str, Any]:
    return {"id": pid, "units": units, "target": target, "at": at, "depth_mm": depth}


def _jaw_plan() -> dict[str, Any]:
    """Three masseter points and a mouth-corner point on each side: numbers 1-4 on the left, 5-8 on the right."""
    points = []
    for side in ("left", "right"):
        g = f"gonion_{side}"
        points += [_point(f"mas_top_{side}", 12, f"masseter_superficial_{side}",
                          {"landmark": g, "anterior_mm": 7, "superior_mm": 22}, 12),
                   _point(f"mas_front_{side}", 6, f"masseter_superficial_{side}",
                          {"landmark": g, "anterior_mm": 7, "superior_mm": 10}, 12),
                   _point(f"mas_back_{side}", 6, f"masseter_superficial_{side}",
                          {"landmark": g, "anterior_mm": 0, "superior_mm": 10}, 12),
                   _point(f"dao_{side}", 3, f"depressor_anguli_oris_{side}",
                          {"landmark": f"cheilion_{side}", "lateral_mm": 3, "superior_mm": -18}, 3)]
    return {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}, "points": points}


def _point_labels(app: AppPage) -> dict[int, bool]:
    """Point number -> whether its label is drawn over the scene."""
    found = app.page.locator(".injectmap-label-point").evaluate_all(
        "els => els.map(e => [e.textContent, e.style.display !== 'none'])")
    return {int(text.split(" · ")[0]): shown for text, shown in found}


def test_labels_of_points_the_camera_cannot_see_are_not_drawn(browser, app_url: str) -> None:
    with sized_page(browser, app_url, (1366, 768)) as app:
        page = app.page
        page.locator("input[type=file][accept='.json']").set_input_files(files=[{
            "name": "jaw.json", "mimeType": "application/json", "buffer": json.dumps(_jaw_plan()).encode()}])
        app.plan_rows().filter(has_text="mas_top_right").first.wait_for(timeout=WAIT_MS)
        app.switch_mode("patient education", ".education-panel")
        step = page.locator(".education-step")
        for n in (2, 3):
            page.get_by_role("button", name="Next >").click()
            page.locator(".education-counter").get_by_text(f"Step {n} of").wait_for(timeout=WAIT_MS)
        step.get_by_text("the main chewing muscle").first.wait_for(timeout=WAIT_MS)
        # the jaw step looks at the left masseter from the left: the right side's points (5-8) face away
        deadline, shown = time.monotonic() + WAIT_MS / 1000, {}
        while time.monotonic() < deadline:
            shown = _point_labels(app)
            if shown and not any(shown.get(n) for n in (5, 6, 7, 8)) and any(shown.get(n) for n in (1, 2, 3)):
                break
            page.wait_for_timeout(300)
        assert shown and not [n for n in (5, 6, 7, 8) if shown.get(n)], f"far-side labels drawn: {shown}"
        assert [n for n in (1, 2, 3) if shown.get(n)], f"no label of the left masseter's points: {shown}"
        assert int(app.scene_state().get("labelsBehind") or 0) >= 4, app.scene_state()
        # the front view of the introduction shows both sides' labels again
        page.get_by_role("button", name="< Previous").click()
        page.get_by_role("button", name="< Previous").click()
        page.locator(".education-counter").get_by_text("Step 1 of").wait_for(timeout=WAIT_MS)
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            shown = _point_labels(app)
            if any(shown.get(n) for n in (5, 6, 7)) and any(shown.get(n) for n in (1, 2, 3)):
                break
            page.wait_for_timeout(300)
        assert any(shown.get(n) for n in (5, 6, 7)) and any(shown.get(n) for n in (1, 2, 3)), shown
        assert not app.errors


def test_the_timeline_text_is_legible_at_1366x768(browser, app_url: str) -> None:
    """The picture is shown at the width it is drawn for, so each text's size in the picture (the figure the panel
    makes, measured here) is its size on the page: at least MIN_TEXT_PX."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    with sized_page(browser, app_url, (1366, 768)) as app:
        app.switch_mode("patient education", ".education-panel")
        img = app.page.locator(".education-timeline img").first
        img.wait_for(timeout=WAIT_MS)
        app.page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=img.element_handle(), timeout=WAIT_MS)
        shown_w, natural_w = img.evaluate("e => [e.getBoundingClientRect().width, e.naturalWidth]")
        src = img.get_attribute("src") or ""
    assert abs(shown_w - TIMELINE_WIDTH_PX) <= 2, (shown_w, TIMELINE_WIDTH_PX)
    fig = walkthrough_timeline(parse_plan(demo_plan()))  # the demo plan is what the page shows
    png = io.BytesIO()
    FigureCanvasAgg(fig).print_figure(png, format="png", dpi=TIMELINE_DPI, bbox_inches="tight")
    assert abs(Image.open(png).width - natural_w) <= 2, "the page shows another picture than the panel's figure"
    assert src.startswith("data:image/png")
    scale = shown_w / natural_w  # picture px -> page px
    sizes = {" ".join(t.get_text().split()): t.get_fontsize() * TIMELINE_DPI / 72 * scale
             for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize"))
             if t.get_visible() and t.get_text().strip()}
    assert "first change (days 1-5)" in sizes
    small = {t: round(px, 1) for t, px in sizes.items() if px < MIN_TEXT_PX}
    assert not small, small
