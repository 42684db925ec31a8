"""Browser fixtures: the app served in a subprocess and headless Debian chromium through Playwright.

The server is started once per test run (``injectmap serve``, the README's command, on a free port);
every test gets a fresh browser context (its own cookies and storage, hence its own Panel session).
Timings (server start to first frame) are kept in ``TIMINGS`` for the timing report: the server is
polled with bare TCP connections, so the first page a test opens is the server's first session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
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


def _wait_for_port(proc: subprocess.Popen, port: int, log_path: str, timeout_s: float = 600) -> None:
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
    TIMINGS["server_epoch"] = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, injectmap.cli; sys.exit(injectmap.cli.main())", "serve",
         "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    _wait_for_port(proc, port, log.name)
    TIMINGS["server_listening_s"] = time.perf_counter() - t0
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
