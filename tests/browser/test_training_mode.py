"""Training mode in a real browser: switch mode, load an exercise's reference answer, score it."""

from __future__ import annotations

import re

import pytest
from browser_support import AppPage

pytestmark = pytest.mark.browser


def test_training_mode_scores_the_reference_answer(app_page: AppPage) -> None:
    page = app_page.page
    app_page.switch_mode("training", ".training-panel")
    page.locator(".training-goal").filter(has_text="Goal").wait_for(timeout=30_000)
    page.locator(".training-picker select").select_option(label="Mentalis (dimpled, 'orange-peel' chin)")
    page.locator(".training-goal").filter(has_text="dimpled chin").wait_for(timeout=30_000)
    page.get_by_role("button", name="Load reference answer").click()
    app_page.plan_rows().filter(has_text="mn1_left").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Score my plan").click()
    heading = page.locator(".training-score").get_by_text(re.compile(r"Score: \d+/100"))
    heading.wait_for(timeout=60_000)
    text = heading.inner_text()
    total = int(re.search(r"Score: (\d+)/100", text).group(1))
    assert total >= 80 and "(passed)" in text
    parts = page.locator(".training-score").get_by_text(re.compile(r"targets \d+/30"))
    assert "safety" in parts.first.inner_text()
    # the reference answer still has teaching feedback (the lower-lip depressor is close): its rows show
    page.locator(".training-feedback .tabulator-row").first.wait_for(timeout=30_000)
    assert not [e for e in app_page.errors if "Error" in e and "favicon" not in e]
