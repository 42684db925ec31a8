"""Helpers of the browser tests: chromium settings, the app page wrapper, collected timings."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


# -- helpers shared by the test modules ------------------------------------------------------------
@contextlib.contextmanager
def sized_page(browser, url: str, size: tuple[int, int]) -> Iterator[AppPage]:
    """The app opened in a fresh context of ``size`` (width, height) pixels, downloads allowed."""
    width, height = size
    ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    try:
        yield AppPage(ctx.new_page(), url, timed=False).open()
    finally:
        ctx.close()


def no_sideways_scroll(page) -> None:
    """The document is no wider than the window."""
    sw, iw = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sw <= iw, f"the page scrolls sideways: {sw} > {iw}"


def page_does_not_scroll(page) -> None:
    """The document is no taller and no wider than the window, and has not scrolled."""
    sw, sh, iw, ih, sx, sy = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight, window.innerWidth,"
        " window.innerHeight, window.scrollX, window.scrollY]")
    assert sw <= iw, f"the page scrolls sideways: {sw} > {iw}"
    assert sh <= ih, f"the page scrolls itself: {sh} > {ih} px"
    assert sx == 0 and sy == 0, (sx, sy)


def pdf_text(path: Path) -> str:
    """The text of a PDF (poppler's pdftotext, the layout kept)."""
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def make_and_download(page, button: str, link_name: str, dest: Path) -> Path:
    """Press ``button`` (a report or handout), wait for its download button ``link_name``, save the file it
    gives into ``dest`` and return its path; the file is a PDF."""
    page.get_by_role("button", name=button, exact=True).click()
    link = page.get_by_role("button", name=link_name)
    link.wait_for(state="visible", timeout=240_000)
    with page.expect_download(timeout=120_000) as dl:
        link.click()
    path = dest / (dl.value.suggested_filename or f"{button}.pdf")
    dl.value.save_as(path)
    assert path.read_bytes()[:5] == b"%PDF-"
    return path


def open_as(browser, url: str, name: str, password: str, size: tuple[int, int] = (1366, 768)) -> tuple:
    """A new browser context logged in as ``name``: (context, the opened AppPage)."""
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = ctx.new_page()
    page.goto(url, timeout=120_000)
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Log in").click(no_wait_after=True)
    # logged in once the login page sent the browser on (the app's page may still be loading: opened below)
    page.wait_for_url(lambda u: "/login" not in u, timeout=120_000)
    return ctx, AppPage(page, url, timed=False).open()


def patient_status(page, text: str, timeout: float = 120_000) -> None:
    """Wait for the Patient card's status to say ``text`` (it said "Working..." meanwhile)."""
    try:
        page.locator(".patient-status").filter(has_text=text).first.wait_for(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - say what the card said instead
        said = page.locator(".patient-status").first.inner_text()
        raise AssertionError(f"the card did not say {text!r}; it says {said!r}") from exc
