"""The report's 3D scene is made without switching Bokeh's or Panel's process-wide resource mode.

Panel's ``save(resources=INLINE)`` sets ``bokeh.settings.resources`` and Panel's ``RESOURCE_MODE`` for
the whole process while it writes: a page that a server in the same process rendered meanwhile got
Panel's CDN addresses (and inlined libraries) instead of the server's own ``static/extensions`` files.
Here a second session's page is requested from a server in this process at the first moment any of
those settings differs from its value before the scene was made, and all the while the scene is made.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import panel as pn
import pytest
import pyvista as pv

from injectmap.viewer.report_render import scene_html

#: an address in a served page's ``src``/``href`` attributes or CSS ``url()``
_ADDRESS = re.compile(r"""(?:src|href)\s*=\s*["']?(https?:)?//([^/"'\s>]+)|url\(\s*["']?https?://([^/"')\s]+)""")


def _modes() -> tuple[Any, ...]:
    """The process-wide settings that decide where a page's scripts and stylesheets come from."""
    from bokeh.settings import settings
    from panel.io import resources

    return settings.resources(default="server"), resources.RESOURCE_MODE, pn.config.embed


def _foreign(html: str) -> list[str]:
    """What a page names outside its own server: CDN names anywhere, or absolute addresses elsewhere."""
    out = sorted(set(re.findall(r"[a-z0-9.-]*cdn[a-z0-9-]*\.[a-z.]+", html)))
    for m in _ADDRESS.finditer(html):
        host = m.group(2) or m.group(3)
        if host and host.split(":")[0] not in ("127.0.0.1", "localhost"):
            out.append(host)
    return out


def _other_session_page() -> pn.viewable.Viewable:
    return pn.Column(pn.pane.Markdown("another session"), pn.widgets.Button(label="Go"),
                     pn.widgets.Tabulator(value=None))


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = pn.serve({"/": _other_session_page}, port=port, address="127.0.0.1", show=False, threaded=True,
                      websocket_origin=[f"127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=30).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield url
    server.stop()


def _small_scene() -> SimpleNamespace:
    """What :func:`scene_html` uses of a report scene: a plotter (here a sphere), its centre and camera."""
    plotter = pv.Plotter(off_screen=True, window_size=(320, 240))
    plotter.add_mesh(pv.Sphere(radius=50.0))
    return SimpleNamespace(plotter=plotter, centre=np.zeros(3), look_at=lambda *_a, **_k: None)


def test_a_page_served_while_the_report_scene_is_made_loads_nothing_from_elsewhere(server_url: str) -> None:
    baseline = _modes()
    assert _foreign(urllib.request.urlopen(server_url, timeout=60).read().decode()) == []
    switched: list[str] = []
    pages: list[str] = []
    result: dict[str, Any] = {}
    done = threading.Event()

    seen = {baseline}

    def watch(frame: Any, event: str, _arg: Any) -> None:
        if event != "call" or (modes := _modes()) in seen:
            return
        seen.add(modes)
        switched.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}: {modes} (was {baseline})")
        sys.setprofile(None)
        try:  # the other session's page, served at the very moment the switch holds
            pages.append(urllib.request.urlopen(server_url, timeout=60).read().decode())
        finally:
            sys.setprofile(watch)

    def make() -> None:
        # the render window is made and read in one thread, as the app's report worker does
        scene = _small_scene()
        sys.setprofile(watch)
        try:
            result["html"] = scene_html(scene)
        except Exception:  # noqa: BLE001 - reported by the test's thread, with where it was raised
            import traceback

            result["error"] = traceback.format_exc()
        finally:
            sys.setprofile(None)
            scene.plotter.close()
            done.set()

    worker = threading.Thread(target=make)
    worker.start()
    while not done.is_set():  # and pages all the while
        pages.append(urllib.request.urlopen(server_url, timeout=60).read().decode())
    worker.join()
    # (before: Panel's save took the served session's document as its own, "Models must be owned by
    # only a single document", or switched the modes and a page served then linked the CDN)
    assert "error" not in result, result["error"]
    assert [f for p in pages if (f := _foreign(p))] == []
    assert switched == []
    assert _modes() == baseline
    assert len(pages) >= 1
    # the scene block itself carries everything it needs: no address of a CDN, the libraries inline
    block = result["html"]
    assert "cdn.holoviz.org" not in block and "cdn.bokeh.org" not in block
    dist = Path(pn.__file__).parent / "dist"
    for lib in (dist / "panel.min.js", next(dist.glob("bundled/abstractvtkplot/vtk.js@*/vtk.js"))):
        assert lib.read_text(encoding="utf-8")[-3000:] in block, lib.name
    assert "BEGIN bokeh.min.js" in block
    assert '"name":"panel.models.vtk.VTKSynchronizedPlot"' in block  # the scene itself
