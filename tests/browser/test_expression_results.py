"""The expression model where it is used, in a real browser: the walkthrough's before / two weeks / three
months stills, and a training exercise scored on its expected result."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser_support import AppPage

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("INJECTMAP_SCREENSHOTS", "/tmp"))


def test_the_walkthrough_shows_the_treated_expression_before_and_after(app_page: AppPage) -> None:
    page = app_page.page
    page.set_viewport_size({"width": 1366, "height": 768})
    app_page.switch_mode("patient education", ".education-panel")
    button = page.get_by_role("button", name="Show the expected change")
    button.scroll_into_view_if_needed()
    button.click()
    stills = page.locator(".education-stills img")  # CSS locators reach into Panel's shadow roots
    stills.nth(2).wait_for(timeout=240_000)
    assert stills.count() == 3
    captions = page.locator(".education-still-caption")
    for k, words in enumerate(("Frowning, before", "Frowning, at two weeks", "Frowning, at three months")):
        captions.nth(k).get_by_text(words, exact=True).wait_for(timeout=10_000)
    status = page.locator(".education-stills-status").get_by_text(re.compile(r"at two weeks, about"))
    status.wait_for(timeout=10_000)
    assert "not a promise" in status.inner_text()
    for w, h in ((1366, 768), (1920, 1080)):
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(500)
        # each picture is drawn (a decoded PNG, not a broken image) and the three sit side by side in the page
        sizes = stills.evaluate_all("els => els.map(e => [e.naturalWidth, e.getBoundingClientRect().left,"
                                    " e.getBoundingClientRect().right])")
        assert all(nat > 100 for nat, _l, _r in sizes)
        assert sizes[0][2] <= sizes[1][1] + 1 and sizes[1][2] <= sizes[2][1] + 1
        assert max(r for _n, _l, r in sizes) <= page.evaluate("() => document.documentElement.clientWidth")
        assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
        page.locator(".education-stills").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"education-stills-{w}x{h}.png"))
    assert not [e for e in app_page.errors if "Error" in e and "favicon" not in e]


def test_an_exercise_is_scored_on_its_expected_result(app_page: AppPage) -> None:
    page = app_page.page
    page.set_viewport_size({"width": 1366, "height": 768})
    app_page.switch_mode("training", ".training-panel")
    page.locator(".training-picker select").select_option(label="Crow's feet with a full smile to keep")
    goal = page.locator(".training-goal").get_by_text(re.compile(r"Smile symmetric within 1 mm"))
    goal.wait_for(timeout=30_000)
    assert "Expected at day 14" in goal.inner_text()
    page.get_by_role("button", name="Load reference answer").click()
    app_page.plan_rows().filter(has_text="o3_left").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Score my plan").click()
    score = page.locator(".training-score")
    heading = score.get_by_text(re.compile(r"Score: \d+/100"))
    heading.wait_for(timeout=90_000)
    assert "(passed)" in heading.inner_text()
    score.get_by_text("Expected result").first.wait_for(timeout=30_000)
    item = score.get_by_text(re.compile(r"met: Smile symmetric within 1 mm"))
    item.wait_for(timeout=30_000)
    assert "asymmetry 0.0 mm" in item.inner_text() and not item.inner_text().startswith("NOT")
    assert score.get_by_text(re.compile(r"NOT met")).count() == 0
    assert not [e for e in app_page.errors if "Error" in e and "favicon" not in e]
