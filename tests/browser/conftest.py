"""Browser fixtures: the app served in a subprocess and headless Debian chromium through Playwright.

The server is started once per test run (``panel serve viewer/app.py`` on a free port); every test
gets a fresh browser context (its own cookies and storage, hence its own Panel session).
Timings (server start to first frame) are kept in ``TIMINGS`` for the timing report.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import CHROMIUM, TIMINGS, VIEWPORT, AppPage

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def autosave_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="injectmap-autosave-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def app_url(autosave_dir: Path) -> Iterator[str]:
    """Serve the app; yield its URL once it answers HTTP."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    port = _free_port()
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow",
               INJECTMAP_AUTOSAVE_DIR=str(autosave_dir))
    log = tempfile.NamedTemporaryFile(prefix="injectmap-serve-", suffix=".log", delete=False)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "viewer/app.py", "--port", str(port),
         "--address", "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}", "--num-procs", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.time() + 600  # the first run may build the model cache
    while True:
        if proc.poll() is not None:
            tail = Path(log.name).read_text()[-3000:]
            raise RuntimeError(f"the app server exited ({proc.returncode}); log: {tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError("the app server did not answer within 600 s") from None
            time.sleep(0.2)
    TIMINGS["server_http_s"] = time.perf_counter() - t0
    TIMINGS["server_t0"] = t0
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def app_page(browser, app_url: str) -> Iterator[AppPage]:
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = ctx.new_page()
    yield AppPage(page, app_url).open()
    ctx.close()
