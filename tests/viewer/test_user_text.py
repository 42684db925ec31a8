"""User text is data, never markup: what a plan, a file name or a form brings reaches the page's
Markdown panes escaped (a hostile plan or file name must not become an element or run a script)."""

from __future__ import annotations

import json

from injectmap.viewer import app as viewer_app
from injectmap.viewer.file_panel import FilePanel

HOSTILE = '<img src=x onerror="alert(8)">'


def _plan(point_id: str, target: str = "procerus") -> bytes:
    return json.dumps({"format": "injectmap-plan", "version": 1,
                       "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                       "points": [{"id": point_id, "units": 4, "target": target, "at": {"landmark": "glabella"},
                                   "depth_mm": 3}]}).encode()


def _markup_free(markdown: str) -> None:
    assert "<img" not in markdown and "<script" not in markdown, markdown
    assert "&lt;img" in markdown or "&lt;script" in markdown, markdown  # still shown, as text


def test_a_hostile_plan_and_file_name_show_as_text(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    files = FilePanel(app.app_state, app.app_scene, "test-session")
    # the id and the target quote the hostile text in the error message
    files.upload.filename = f"{HOSTILE}.json"
    files.upload.value = _plan("<script>alert(1)</script>", target=HOSTILE)
    assert app.app_state.message.startswith("Not opened")
    _markup_free(files.status.object)
    # a valid plan under a hostile file name: the name is quoted in the status
    files.upload.filename = f"{HOSTILE}.json"
    files.upload.value = _plan("g9")
    assert app.app_state.message.startswith("Opened")
    _markup_free(files.status.object)
