"""Autosaves are owner-only (0600 files in a 0700 folder) and pruned by count and age; before, they were
written 0644 in a 0755 folder and never deleted."""

from __future__ import annotations

import os
import time
from pathlib import Path

from injectmap.planning.plan import load_plan, parse_plan
from injectmap.viewer import app as viewer_app
from injectmap.viewer import session

PLAN = parse_plan({"format": "injectmap-plan", "version": 1,
                   "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                   "patient": "Ms Example",
                   "points": [{"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"},
                               "depth_mm": 3}]})


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_the_apps_autosave_is_owner_only(face_model, tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(folder))
    app = viewer_app.create_app(face_model)
    g = face_model.landmarks["brow_peak_left"]
    app.app_state.place_at_skin(face_model.skin_point(g + [0, 4, 0])[0])
    (saved,) = folder.glob("*.json")
    assert _mode(folder) == 0o700 and _mode(saved) == 0o600


def test_an_open_folder_is_tightened(tmp_path):
    folder = tmp_path / "autosave"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    session.write_autosave(PLAN, folder / "0123456789ab.json")
    assert _mode(folder) == 0o700 and _mode(folder / "0123456789ab.json") == 0o600
    assert load_plan(folder / "0123456789ab.json") == PLAN


def _aged(folder: Path, name: str, age_s: float) -> Path:
    p = folder / name
    p.write_text("{}")
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def test_old_autosaves_are_removed(tmp_path):
    day = 86400.0
    old = _aged(tmp_path, "aaaaaaaaaaaa.json", (session.AUTOSAVE_MAX_AGE_DAYS + 1) * day)
    recent = _aged(tmp_path, "bbbbbbbbbbbb.json", (session.AUTOSAVE_MAX_AGE_DAYS - 1) * day)
    mine = _aged(tmp_path, "plan.json", 1000 * day)  # not an autosave's name: never touched
    session.write_autosave(PLAN, tmp_path / "cccccccccccc.json")
    assert not old.exists() and recent.exists() and mine.exists()


def test_only_the_newest_are_kept(tmp_path):
    n = session.AUTOSAVE_KEEP + 5
    files = [_aged(tmp_path, f"{i:012x}.json", 1000.0 + i) for i in range(n)]  # file 0 is the newest
    current = tmp_path / "ffffffffffff.json"
    _aged(tmp_path, current.name, 10 * 86400.0)  # the current session's own file is old but kept
    session.write_autosave(PLAN, current)
    left = sorted(p.name for p in tmp_path.glob("*.json"))
    assert len(left) == session.AUTOSAVE_KEEP and current.name in left
    assert [p.exists() for p in files] == [True] * (session.AUTOSAVE_KEEP - 1) + [False] * 6
