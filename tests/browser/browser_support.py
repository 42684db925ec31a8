"""Helpers of the browser tests: chromium settings, the app page wrapper, collected timings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
#: the page size of the tests that do not set their own; INJECTMAP_TEST_VIEWPORT=1366x768 runs them at another
VIEWPORT = dict(zip(("width", "height"), map(int, os.environ.get("INJECTMAP_TEST_VIEWPORT", "1850x1150").split("x")),
                    strict=True))
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(proc: subprocess.Popen, port: int, log_path: str, timeout_s: float = 600) -> None:
    """Wait until the server accepts TCP connections (no HTTP request: that would start a session)."""
    deadline = time.time() + timeout_s  # the first run may build the model cache
    while True:
        if proc.poll() is not None:
            tail = Path(log_path).read_text()[-3000:]
            raise RuntimeError(f"the app server exited ({proc.returncode}); log: {tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"the app server did not listen within {timeout_s:.0f} s") from None
            time.sleep(0.05)


def start_server(env_extra: dict[str, str]) -> tuple[subprocess.Popen, int, str]:
    """Start ``injectmap serve`` on a free port (not waiting for it); return the process, the port and
    the path of its log (stdout and stderr)."""
    port = free_port()
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", **env_extra)
    log = tempfile.NamedTemporaryFile(prefix="injectmap-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, injectmap.cli; sys.exit(injectmap.cli.main())", "serve",
         "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, port, log.name


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
