"""Patient-education mode in a real browser: switch mode, step with Next, the step text changes."""

from __future__ import annotations

import pytest
from browser_support import AppPage

pytestmark = pytest.mark.browser


def test_education_mode_steps_through_the_walkthrough(app_page: AppPage) -> None:
    page = app_page.page
    app_page.switch_mode("patient education", ".education-panel")
    step = page.locator(".education-step")
    step.get_by_text("Your treatment plan").wait_for(timeout=30_000)
    before = step.locator("h3").first.inner_text()
    page.locator(".education-counter").get_by_text("Step 1 of").wait_for(timeout=30_000)
    page.get_by_role("button", name="Next >").click()
    step.get_by_text("What it leaves alone").wait_for(timeout=30_000)
    after = step.locator("h3").first.inner_text()
    assert after != before and "forehead muscle" in after.lower()
    assert "lifts the eyebrows" in step.locator("p").all_inner_texts()[1]
    page.locator(".education-counter").get_by_text("Step 2 of").wait_for(timeout=30_000)
    # the timeline plot and the lists are there
    page.locator(".education-timeline img").first.wait_for(timeout=30_000)
    page.locator(".education-aftercare h4").get_by_text("Aftercare").wait_for(timeout=30_000)
    assert app_page.canvas().is_visible()
    assert not [e for e in app_page.errors if "Error" in e and "favicon" not in e]
