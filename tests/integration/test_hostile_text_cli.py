"""Issue 11, item 6 and the "Deploying for a clinic" README section: a lone surrogate in a plan's free text
is a plan error naming the point and key in every command that reads the plan (before: ``plan mirror``
printed a traceback and exited 1, the danger code, and ``report`` exited 2 without naming the key)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow")
    return subprocess.run([sys.executable, "-m", "injectmap", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("command", [("plan", "validate"), ("plan", "mirror"), ("check",), ("report",)])
def test_a_lone_surrogate_is_a_plan_error_naming_the_key(tmp_path: Path, command: tuple[str, ...]) -> None:
    plan = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    plan["points"][0]["note"] = "bad \ud800 text"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))  # ASCII JSON with the escape
    args = [*command, str(path)] + (["-o", str(tmp_path / "r.html")] if command == ("report",) else [])
    res = _cli(*args)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out
    assert f"points[0] (id '{plan['points'][0]['id']}').note" in out and "surrogate" in out, out
    assert not (tmp_path / "r.html").exists()


def test_the_readme_says_how_to_deploy_for_a_clinic() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Deploying for a clinic")
    section = text[start:text.index("\n## ", start + 1)]
    for needed in ("--certfile", "--behind-proxy", "injectmap users add", "Back up", "INJECTMAP_AUTOSAVE_DIR",
                   "docs/deploying.md"):
        assert needed in section, needed
    assert "--password" not in text  # the password never on the command line
    assert (ROOT / "docs" / "deploying.md").is_file()
