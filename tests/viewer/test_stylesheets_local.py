"""In a served process Panel's stylesheets never name its CDN (``viewer.server.force_local_resources``).

Panel patches a component's stylesheets to the document's ``dist_url`` and takes its CDN when the
document has none (a session's document before its page is rendered, or one made outside a page); a
page rendered later patches them back, but a page of the served app now and then still asked the CDN for
``loading.css`` (blocked by the content security policy; seen in the browser test's console). Each case
runs in a process of its own: the guard is process-wide, as in ``injectmap serve``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from injectmap.viewer.report_render import _CDN

CODE = r"""
import json, sys
from types import SimpleNamespace
import numpy as np
import panel as pn
import pyvista as pv
from bokeh.document import Document
from bokeh.models import ImportedStyleSheet
if sys.argv[1] == "served":
    from injectmap.viewer.server import force_local_resources
    force_local_resources()
doc = Document()  # no page yet: no dist_url
root = pn.Column(pn.pane.Markdown("x"), pn.widgets.Button(label="Go"), pn.Tabs(("a", pn.pane.Markdown("y")))).get_root(doc)
doc.add_root(root)
urls = sorted({m.url for m in root.references() if isinstance(m, ImportedStyleSheet)})
out = {"urls": urls}
if sys.argv[1] == "served":
    from injectmap.viewer.report_render import scene_html
    plotter = pv.Plotter(off_screen=True, window_size=(160, 120))
    plotter.add_mesh(pv.Sphere(radius=50.0))
    html = scene_html(SimpleNamespace(plotter=plotter, centre=np.zeros(3), look_at=lambda *_a, **_k: None))
    plotter.close()
    out["scene_local_links"] = html.count("static/extensions/panel/")
    out["scene_cdn"] = html.count("cdn.holoviz.org")
    out["scene_data_css"] = html.count("data:text/css;base64,")
print(json.dumps(out))
"""


def _run(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CODE, mode], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
def test_a_served_process_never_names_panels_cdn_in_a_stylesheet() -> None:
    plain, served = _run("plain"), _run("served")
    # without the guard a document without a page gets the CDN's addresses: what the guard is for
    assert any(u.startswith("https://cdn.holoviz.org/") for u in plain["urls"]), plain["urls"]
    assert served["urls"] and not [u for u in served["urls"] if "cdn" in u], served["urls"]
    assert any(u.startswith("static/extensions/panel/css/") for u in served["urls"]), served["urls"]
    # the report's 3D scene, made in a served process: its stylesheets still carried as data URIs
    assert served["scene_cdn"] == 0 and served["scene_local_links"] == 0 and served["scene_data_css"] > 0, served


def test_the_scene_inlines_panels_stylesheets_by_either_address() -> None:
    cdn = 'href="https://cdn.holoviz.org/panel/1.9.4/dist/css/loading.css?v=1.9.4"'
    local = '"url":"static/extensions/panel/css/loading.css?v=1.9.4"'
    for text in (cdn, local):
        m = _CDN.search(text)
        assert m is not None and m.group(1) == "css/loading.css", text
    assert _CDN.search('"/static/extensions/panel/css/loading.css"') is None  # a rooted path is not Panel's link
