""""Start from a protocol" in a real browser at 1366x768: the chosen template's points show in the plan table."""

from __future__ import annotations

import pytest
from browser_support import AppPage

from injectmap.planning.protocols import get_protocol, protocol_plan

pytestmark = pytest.mark.browser


def test_start_from_a_protocol_shows_its_points(browser, app_url: str) -> None:
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        app = AppPage(ctx.new_page(), app_url, timed=False).open()
        page = app.page
        name = "lateral_canthal_three_point"
        ids = [p["id"] for p in protocol_plan(name)["points"]]
        assert app.plan_rows().filter(has_text=ids[0]).count() == 0
        page.locator("select").filter(has_text=get_protocol("glabella_five_point").title).first.select_option(
            label=get_protocol(name).title)
        page.get_by_role("button", name="Start from protocol").click()
        app.plan_rows().filter(has_text=ids[0]).first.wait_for(timeout=60_000)
        shown = [t.split()[0] for t in app.plan_rows().all_inner_texts()]
        assert shown == ids
        assert app.plan_rows().filter(has_text="g1").count() == 0  # the demo plan was replaced
        assert app.errors == []
    finally:
        ctx.close()
