"""Browser fixtures: the app served in a subprocess and headless Debian chromium through Playwright.

The server is started once per test run (``injectmap serve``, the README's command, on a free port);
every test gets a fresh browser context (its own cookies and storage, hence its own Panel session).
Timings (server start to first frame) are kept in ``TIMINGS`` for the timing report: the server is
polled with bare TCP connections, so the first page a test opens is the server's first session.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import CHROMIUM, TIMINGS, VIEWPORT, AppPage, start_server, stop_server, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def autosave_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="injectmap-autosave-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def app_url(autosave_dir: Path) -> Iterator[str]:
    """Serve the app; yield its URL once it answers HTTP."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    t0 = time.perf_counter()
    TIMINGS["server_epoch"] = time.time()
    # no users file: the app on the loopback without a login, whatever the machine's own users file holds
    proc, port, log = start_server({"INJECTMAP_AUTOSAVE_DIR": str(autosave_dir),
                                    "INJECTMAP_USERS_FILE": str(autosave_dir / "no-users.json")})
    url = f"http://127.0.0.1:{port}/"
    wait_for_port(proc, port, log)
    TIMINGS["server_listening_s"] = time.perf_counter() - t0
    TIMINGS["server_t0"] = t0
    yield url
    stop_server(proc)


@pytest.fixture
def app_page(browser, app_url: str) -> Iterator[AppPage]:
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = ctx.new_page()
    yield AppPage(page, app_url).open()
    ctx.close()
