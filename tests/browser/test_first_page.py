"""The first page of a fresh server, opened the moment the port accepts, draws its scene.

A page that connected while the server's warm-up thread was still importing got a half-imported
pyvista (``module 'pyvista' has no attribute 'Plotter'``): its session failed and its scene stayed
blank. Here the server is started for this test alone, so its first page is this one.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from browser_support import CHROMIUM, VIEWPORT, AppPage, start_server, stop_server, wait_for_port

pytestmark = pytest.mark.browser

#: what the server log must not hold: a traceback, or an error logged by Bokeh, Panel or the app
SERVER_ERRORS = re.compile(r"Traceback|^\S*\s*ERROR|AttributeError|Exception", re.MULTILINE)


@pytest.fixture
def fresh_server() -> Iterator[tuple[str, str]]:
    """A server of its own, started now; yields its URL (as soon as the port accepts) and its log."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with tempfile.TemporaryDirectory(prefix="injectmap-autosave-") as autosave:
        proc, port, log = start_server({"INJECTMAP_AUTOSAVE_DIR": autosave})
        try:
            wait_for_port(proc, port, log)
            yield f"http://127.0.0.1:{port}/", log
        finally:
            stop_server(proc)


def _face_pixels(png: bytes) -> float:
    """The share of the canvas in the skin's warm tones (the background is a dark blue-grey)."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return float(((r > 90) & (r > g + 15) & (g > b)).mean())


def test_the_first_page_draws_its_scene_while_the_server_warms_up(browser, fresh_server) -> None:
    url, log = fresh_server
    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        app = AppPage(ctx.new_page(), url, timed=False).open()  # the canvas drew, the demo plan shows
        assert int(app.page.locator(".injectmap-scene").first.get_attribute("data-frames")) >= 1
        assert _face_pixels(app.canvas_png()) > 0.05, "the canvas shows no face"
        assert app.errors == []
    finally:
        ctx.close()
    text = Path(log).read_text(errors="replace")
    assert "serving on" in text
    assert not SERVER_ERRORS.search(text), f"the server logged an error:\n{text[-3000:]}"
