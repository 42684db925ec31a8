"""The served app on a clinic network, in a real browser: the login page and the app load nothing from
elsewhere and break no part of the content security policy; a user is locked out after repeated
failures; an oversized upload is refused with a message; and while one session analyses a big plan, a
second session still loads and responds (the analysis runs off the server's event loop)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import VIEWPORT, AppPage, start_server, stop_server, wait_for_port

from injectmap.viewer.auth import add_user
from injectmap.viewer.limits import int_limit

pytestmark = pytest.mark.browser
PASSWORD = "a long browser password"
# the most points a plan file may hold (planning/plan.py); at about 3.6 ms a point (procerus points, measured
# 2026-12-02) that is some 18 s of analysis on one idle core, longer while a second session loads beside it
BIG_PLAN_POINTS = 5000


@pytest.fixture(scope="module")
def login_url() -> Iterator[str]:
    """The app behind its login, with the point limit raised so that a big plan can be analysed."""
    with tempfile.TemporaryDirectory(prefix="injectmap-login-") as d:
        users = Path(d) / "users.json"
        for name in ("ana", "bo", "cy"):
            add_user(users, name, PASSWORD)
        proc, port, log = start_server({"INJECTMAP_USERS_FILE": str(users), "INJECTMAP_AUTOSAVE_DIR": d,
                                        "INJECTMAP_MAX_PLAN_POINTS": str(BIG_PLAN_POINTS)})
        wait_for_port(proc, port, log)
        yield f"http://127.0.0.1:{port}/"
        stop_server(proc)


def _login(page, url: str, name: str, password: str = PASSWORD) -> None:
    page.goto(url, timeout=120_000)
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _open(browser, url: str, name: str) -> tuple:
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    app = AppPage(page, url, timed=False)
    _login(page, url, name)
    return ctx, app.open(), requests


def test_login_and_app_load_nothing_from_elsewhere_and_break_no_policy(browser, login_url: str) -> None:
    ctx, app, requests = _open(browser, login_url, "ana")
    try:
        app.page.get_by_role("button", name="Place at landmark").click()  # runs the widgets' callbacks
        app.plan_rows().filter(has_text="p1").first.wait_for(timeout=60_000)
        app.switch_mode("training", ".training-panel")  # every mode's scripts and styles load
        app.switch_mode("patient education", ".education-panel")
        assert any(u.startswith(login_url + "login") for u in requests)
        foreign = [u for u in requests if not u.startswith(login_url) and not u.startswith(("blob:", "data:"))]
        assert foreign == []
        assert [e for e in app.errors if "Content Security Policy" in e] == []
        assert app.errors == []
    finally:
        ctx.close()


#: every href/src in the page, its shadow roots included (Bokeh links each model's stylesheets in its own)
_PAGE_LINKS = """() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      for (const a of ['href', 'src']) { const v = el.getAttribute && el.getAttribute(a); if (v) out.push(v); }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out;
}"""


def test_a_whole_session_asks_nothing_of_any_other_server(browser, login_url: str, tmp_path: Path) -> None:
    """Log in, load, place points, make and download the report, export the plan, the picture and the
    scene at 1366x768: every request and websocket goes to the app's own server, and no element of the
    page (shadow roots included) names another."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    requests: list[str] = []
    ctx.on("request", lambda r: requests.append(r.url))
    page = ctx.new_page()
    page.on("websocket", lambda ws: requests.append(ws.url))
    app = AppPage(page, login_url, timed=False)
    try:
        _login(page, login_url, "ana")
        app.open()
        place = page.get_by_role("button", name="Place at landmark")
        for pid in ("p1", "p2"):
            place.click()
            app.plan_rows().filter(has_text=pid).first.wait_for(timeout=60_000)

        def download(button: str, link: str | None = None) -> bytes:
            if link is not None:
                page.get_by_role("button", name=button, exact=True).click()
                page.get_by_role("button", name=link).wait_for(state="visible", timeout=240_000)
            with page.expect_download(timeout=240_000) as dl:
                page.get_by_role("button", name=link or button).click()
            path = tmp_path / (dl.value.suggested_filename or button)
            dl.value.save_as(path)
            return path.read_bytes()

        assert download("Report", "Download report (PDF)")[:5] == b"%PDF-"
        assert b'"p2"' in download("Download plan")
        assert download("Screenshot (PNG)")[:4] == b"\x89PNG"
        assert len(download("Scene (glTF)")) > 1000
        own = login_url.removeprefix("http://")
        foreign = [u for u in requests if not u.startswith((login_url, f"ws://{own}", "blob:", "data:"))]
        assert foreign == []
        assert any(u.startswith(f"ws://{own}") for u in requests)  # the session's websocket was seen
        links = page.evaluate(_PAGE_LINKS)
        named = [u for u in links if "cdn." in u or (u.startswith(("http:", "https:", "//"))
                                                     and not u.startswith(login_url))]
        assert named == []
        assert any("static/extensions/panel/" in u for u in links)  # the shadow roots' stylesheets were read
        assert app.errors == []
    finally:
        ctx.close()


def test_repeated_failed_logins_lock_the_user_out(browser, login_url: str) -> None:
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    try:
        for _ in range(int_limit("login_max_failures")):
            _login(page, login_url, "bo", "not the password")
            assert "wrong password" in page.locator("#login-error").inner_text()
        _login(page, login_url, "bo")  # the right password, too late
        assert "locked" in page.locator("#login-error").inner_text()
        assert page.locator(".scene").count() == 0
    finally:
        ctx.close()


def test_a_50_mb_upload_is_refused_with_a_message(browser, login_url: str, tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:  # a file on disk: the local browser reads it itself
        f.truncate(50 * 1000 * 1000)
    ctx, app, _ = _open(browser, login_url, "ana")
    try:
        app.page.locator("input[type=file][accept='.json']").set_input_files(str(huge), timeout=120_000)
        status = app.page.get_by_text("Not opened: huge.json is 50.0 MB", exact=False).first
        status.wait_for(timeout=180_000)
        app.plan_rows().filter(has_text="g1").first.wait_for(timeout=30_000)  # the session lives on
    finally:
        ctx.close()


def test_while_a_big_plan_is_analysed_a_second_session_loads_and_responds(browser, login_url: str) -> None:
    ctx_a, a, _ = _open(browser, login_url, "ana")
    # the second user logs in first (a login costs a deliberate second and a 128 MiB hash), so that what is
    # timed against the analysis is the app's page loading, not the login
    ctx_b, b, _ = _open(browser, login_url, "cy")
    b.page.goto("about:blank")
    try:
        points = [{"id": f"p{i}", "units": 10, "target": "procerus",
                   "at": {"landmark": "glabella", "superior_mm": (i % 10) * 0.5}, "depth_mm": 4}
                  for i in range(BIG_PLAN_POINTS)]
        plan = {"format": "injectmap-plan", "version": 1,
                "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}, "points": points}
        a.page.locator("input[type=file][accept='.json']").set_input_files(
            files=[{"name": "big.json", "mimeType": "application/json", "buffer": json.dumps(plan).encode()}])
        progress = a.page.locator(".analysis-progress")
        progress.wait_for(state="visible", timeout=120_000)
        b.open()  # the second session's page loads while the big plan is analysed
        panel = b.switch_mode("training", ".training-panel")  # and responds
        assert panel.is_visible()
        assert progress.is_visible(), "the big plan's analysis ended before the second session was tested"
        assert a.page.get_by_text("Analysing", exact=False).first.is_visible()  # the text is in a shadow root
    finally:
        ctx_a.close()  # the session ends: its analysis stops at its next point
        ctx_b.close()
