"""Helpers of the browser tests: chromium settings, the app page wrapper, collected timings."""

from __future__ import annotations

import time

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1850, "height": 1150}
#: measured durations in seconds (server start to first frame, click to finding...)
TIMINGS: dict[str, float] = {}


class AppPage:
    """A page of the app with its console errors collected."""

    def __init__(self, page, url: str, timed: bool = True) -> None:
        self.page = page
        self.url = url
        self.timed = timed  # the first timed page of a run gives the server-start-to-first-frame figures
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self) -> AppPage:
        self.page.goto(self.url, timeout=120_000)
        # the scene canvas has drawn its first frame (it counts them on its container)
        self.page.locator(".scene .injectmap-scene[data-frames]").first.wait_for(timeout=120_000)
        # the demo plan is analysed and drawn: its first point shows in the plan table
        self.plan_rows().filter(has_text="g1").first.wait_for(timeout=60_000)
        if self.timed and "server_epoch" in TIMINGS and "first_frame_s" not in TIMINGS:
            # when the canvas drew (the page's clock: Playwright sees it later, once the rest of the
            # page is built) and when the whole page was ready, from the server's start
            drawn = self.page.evaluate("() => (performance.timeOrigin + window.injectmapFirstFrame) / 1000")
            TIMINGS["first_frame_s"] = drawn - TIMINGS["server_epoch"]
            TIMINGS["first_page_ready_s"] = time.time() - TIMINGS["server_epoch"]
        return self

    def canvas(self):
        return self.page.locator(".scene canvas").first

    def canvas_png(self, attempts: int = 50) -> bytes:
        """A screenshot of the scene canvas; Panel replaces the canvas on scene updates, so a capture
        that loses its element is taken again."""
        last: Exception | None = None
        for _ in range(attempts):
            try:
                self.canvas().wait_for(state="visible", timeout=60_000)
                return self.canvas().screenshot(timeout=10_000)
            except Exception as exc:  # noqa: BLE001 - the canvas was replaced mid-capture
                last = exc
                self.page.wait_for_timeout(200)
        raise AssertionError(f"no screenshot of the scene: {last}")

    def switch_mode(self, mode: str, panel_css: str):
        """Press a mode button and return the mode's panel once shown (hidden before: asserted)."""
        panel = self.page.locator(panel_css)
        assert not panel.is_visible()
        self.page.get_by_role("button", name=mode, exact=True).click()
        panel.wait_for(state="visible", timeout=30_000)
        return panel

    def plan_rows(self):
        return self.page.locator(".plan-table .tabulator-row")

    def finding_rows(self):
        return self.page.locator(".findings-table .tabulator-row")
