"""Helpers of the browser tests: chromium settings, the app page wrapper, collected timings.

A test that clicks or drags the 3D scene does it through :class:`AppPage`'s ``ready_canvas``,
``click_canvas``, ``press_canvas`` and ``drag_canvas``: they wait until the canvas takes pointer input and
shows the scene it holds (its container's ``data-ready``, see injectmap/viewer/scene_canvas.js), then check
on the container's counters that the canvas took the press and what became of it, and fail saying which
step did not happen. A frame costs about 1 s in this headless chromium (no GPU) and several under load:
every wait is bounded by :data:`CANVAS_WAIT_MS`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
#: the page size of the tests that do not set their own; INJECTMAP_TEST_VIEWPORT=1366x768 runs them at another
VIEWPORT = dict(zip(("width", "height"), map(int, os.environ.get("INJECTMAP_TEST_VIEWPORT", "1850x1150").split("x")),
                    strict=True))
#: measured durations in seconds (server start to first frame, click to finding...)
TIMINGS: dict[str, float] = {}
#: the scene canvas's container: its data attributes say what the canvas did (scene_canvas.js)
SCENE_CSS = ".scene .injectmap-scene"
#: the longest wait for the scene canvas to be ready or to answer a press (ms)
CANVAS_WAIT_MS = 60_000


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
        # the scene canvas takes pointer input and has drawn its scene (data-ready, on its container)
        self.page.locator(f'{SCENE_CSS}[data-ready="1"]').first.wait_for(timeout=120_000)
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

    def scene(self):
        """The scene canvas's container (its data attributes are what the canvas did)."""
        return self.page.locator(SCENE_CSS).first

    def scene_state(self) -> dict[str, Any]:
        """The container's data attributes (camelCase keys: ready, frames, sceneSeq, presses, picksSent...)."""
        try:
            return dict(self.scene().evaluate("e => ({...e.dataset})", timeout=10_000))
        except Exception as exc:  # noqa: BLE001 - for a failure message: say why it could not be read
            return {"unreadable": str(exc).splitlines()[0]}

    def ready_canvas(self, timeout_ms: float = CANVAS_WAIT_MS) -> dict[str, float]:
        """Wait until the scene canvas takes pointer input and shows the scene it holds (``data-ready="1"``);
        return the canvas's box in the page."""
        try:
            expect(self.scene()).to_have_attribute("data-ready", "1", timeout=timeout_ms)
            self.canvas().wait_for(state="visible", timeout=timeout_ms)
        except Exception as exc:  # noqa: BLE001 - an assertion or a Playwright timeout: say what the canvas says
            raise AssertionError(f"the scene canvas was not ready within {timeout_ms / 1000:.0f} s; "
                                 f"its container says {self.scene_state()}") from exc
        box = self.canvas().bounding_box()
        assert box is not None, "the scene canvas has no box in the page"
        return box

    def _counts(self) -> dict[str, int]:
        state = self.scene_state()
        return {k: int(state.get(k) or 0) for k in ("presses", "picksSent", "picksMissed", "cameraSent")}

    def wait_for_canvas(self, done, what: str, timeout_ms: float = CANVAS_WAIT_MS) -> dict[str, Any]:
        """Poll the container's state until ``done(state)``; return that state, or fail saying ``what`` did
        not happen and what the container says."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            state = self.scene_state()
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout_ms / 1000:.0f} s; the canvas's container says {state}")
            self.page.wait_for_timeout(100)

    def click_canvas(self, x: float, y: float, timeout_ms: float = CANVAS_WAIT_MS) -> None:
        """Click the scene canvas at ``(x, y)`` pixels of its box once it is ready, and wait until the canvas
        sent the surface point under the click to the server (``data-picks-sent`` grew)."""
        box = self.ready_canvas(timeout_ms)
        before = self._counts()
        self.page.mouse.click(box["x"] + x, box["y"] + y)
        state = self.wait_for_canvas(
            lambda s: int(s.get("picksSent") or 0) > before["picksSent"]
            or int(s.get("picksMissed") or 0) > before["picksMissed"],
            f"the canvas neither sent nor missed a pick for the click at ({x:.0f}, {y:.0f}) (before: {before})",
            timeout_ms)
        if int(state.get("picksSent") or 0) <= before["picksSent"]:
            raise AssertionError(f"the click at ({x:.0f}, {y:.0f}) of the canvas hit no pickable surface; "
                                 f"its container says {state}")

    def press_canvas(self, x: float, y: float, timeout_ms: float = CANVAS_WAIT_MS) -> dict[str, Any]:
        """Move to ``(x, y)`` pixels of the scene canvas's box once it is ready and press the left button
        there; return the container's state once the canvas took the press (``data-presses`` grew; a press
        on the selected point's handle has set ``dragging`` by then). The caller moves and releases."""
        box = self.ready_canvas(timeout_ms)
        before = self._counts()["presses"]
        self.page.mouse.move(box["x"] + x, box["y"] + y)
        self.page.mouse.down()
        return self.wait_for_canvas(lambda s: int(s.get("presses") or 0) > before,
                                    f"the canvas did not take the press at ({x:.0f}, {y:.0f})", timeout_ms)

    def drag_canvas(self, path: list[tuple[float, float]], pause_ms: int = 40,
                    timeout_ms: float = CANVAS_WAIT_MS) -> dict[str, Any]:
        """Press at ``path[0]`` (pixels of the scene canvas's box, see :meth:`press_canvas`), move through
        the rest at a hand's pace and release; return the container's state at the press."""
        pressed = self.press_canvas(*path[0], timeout_ms=timeout_ms)
        box = self.canvas().bounding_box()
        assert box is not None, "the scene canvas has no box in the page"
        for x, y in path[1:]:
            self.page.mouse.move(box["x"] + x, box["y"] + y)
            self.page.wait_for_timeout(pause_ms)
        self.page.mouse.up()
        return pressed

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


def start_server(env_extra: dict[str, str], preamble: str = "") -> tuple[subprocess.Popen, int, str]:
    """Start ``injectmap serve`` on a free port (not waiting for it); return the process, the port and
    the path of its log (stdout and stderr). ``preamble``: Python run in the server's process before it
    starts (a test's hold on a slow step, so that what happens meanwhile is tested without a race)."""
    port = free_port()
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", **env_extra)
    log = tempfile.NamedTemporaryFile(prefix="injectmap-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", preamble + "\nimport sys, injectmap.cli; sys.exit(injectmap.cli.main())", "serve",
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


def patient_tab(page, name: str, timeout_s: float = 60.0) -> None:
    """Show the Patient card's tab ``name`` and wait until it is the active one. The card switches tabs itself
    when a call it ran ends (a review visit opens on Review); a switch the server sent before it heard this click
    can land after it, so the click is repeated until the tab stays active."""
    tab = page.locator(".patient-card .bk-tab").filter(has_text=re.compile(rf"^{re.escape(name)}$")).first
    active = page.locator(".patient-card .bk-tab.bk-active").filter(has_text=re.compile(rf"^{re.escape(name)}$"))
    deadline = time.monotonic() + timeout_s
    while True:
        tab.click()
        try:
            active.first.wait_for(timeout=2_000)
            page.wait_for_timeout(300)  # a switch already on its way lands within this
            if active.count():
                return
        except Exception:  # noqa: BLE001 - not active yet: click again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the Patient card's tab {name!r} did not stay active")
