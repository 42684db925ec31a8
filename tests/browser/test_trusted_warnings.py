"""Issue 10 in a real browser at 1366x768: "Target = tip's structure" never silences the danger of a tip in the
orbit, and the corridors layer draws the vessels' and nerves' spread."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from browser_support import AppPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SIZE = {"width": 1366, "height": 768}
SCENE_CSS = ".scene .injectmap-scene"


def _image(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _danger_rows(app: AppPage, pid: str, code: str):
    page = app.page
    return app.finding_rows().filter(
        has=page.locator("[tabulator-field=point]", has_text=re.compile(rf"^\s*{re.escape(pid)}\s*$"))
    ).filter(has=page.locator("[tabulator-field=severity]", has_text=re.compile(r"danger"))).filter(has_text=code)


def test_target_from_the_tip_refuses_the_orbit_and_the_danger_stays(browser, app_url: str, tmp_path: Path) -> None:
    """The issue's silenced danger: 3 mm lateral to the left lateral canthus, 12 mm deep, the tip is in the orbit.
    Pressing "Target = tip's structure" leaves the target empty, says why, and the danger stays."""
    plan = {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": [{"id": "orb1", "units": 4, "depth_mm": 12,
                        "at": {"landmark": "exocanthion_left", "lateral_mm": 3}}]}
    path = tmp_path / "orbit.json"
    path.write_text(json.dumps(plan))
    ctx = browser.new_context(viewport=SIZE)
    try:
        app = AppPage(ctx.new_page(), app_url, timed=False).open()
        page = app.page
        page.locator("input[type=file][accept='.json']").set_input_files(str(path))
        row = app.plan_rows().filter(has_text="orb1").first
        row.wait_for(timeout=60_000)
        danger = _danger_rows(app, "orb1", "tip_in_orbit")
        danger.first.wait_for(timeout=60_000)
        row.click()  # select the point
        expect(page.get_by_text(re.compile(r"Point orb1"))).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Target = tip's structure").click()
        expect(page.get_by_text(re.compile("not a muscle that is treated"))).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)
        assert danger.count() >= 1, app.finding_rows().all_inner_texts()
        target = row.locator("[tabulator-field=target]").inner_text().strip()
        assert "orbit" not in target, target
        assert app.errors == []
    finally:
        ctx.close()


def test_the_corridors_layer_draws_the_spread(browser, app_url: str) -> None:
    """The "Corridors (spread)" layer is off at first; ticking it draws the translucent corridors."""
    ctx = browser.new_context(viewport=SIZE)
    try:
        app = AppPage(ctx.new_page(), app_url, timed=False).open()
        page = app.page
        box = page.locator(".layer-corridors input[type=checkbox]")
        expect(box).not_to_be_checked()
        seq = int(page.locator(SCENE_CSS).first.get_attribute("data-scene-seq") or -1)
        before = _image(app.canvas_png())
        box.check()
        expect(page.locator(SCENE_CSS).first).to_have_attribute("data-scene-seq", re.compile(rf"^(?!{seq}$)\d+$"),
                                                                 timeout=60_000)
        after = _image(app.canvas_png())
        assert np.abs(after - before).mean() > 0.5, "the corridors did not change the picture"
        assert app.errors == []
    finally:
        ctx.close()
