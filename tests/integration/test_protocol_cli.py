"""``injectmap protocol list|show``: the templates on the command line, and their JSON checked by ``check``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from injectmap.planning.protocols import protocol_names

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "injectmap", *args], capture_output=True, text=True, timeout=600)


def test_list_names_every_template() -> None:
    p = run("protocol", "list")
    assert p.returncode == 0, p.stderr
    listed = [line.split()[0] for line in p.stdout.splitlines()]
    assert listed == protocol_names()


def test_show_table_and_unknown_name() -> None:
    p = run("protocol", "show", "glabella_five_point", "--format", "table")
    assert p.returncode == 0, p.stderr
    assert "corrugator_lateral_left" in p.stdout and "total 20 U" in p.stdout and "L1:" in p.stdout
    bad = run("protocol", "show", "no_such_pattern")
    assert bad.returncode == 2
    assert "glabella_five_point" in bad.stderr and "Traceback" not in bad.stderr


def test_show_json_is_a_plan_that_check_accepts(tmp_path: Path) -> None:
    out = tmp_path / "dao.json"
    p = run("protocol", "show", "dao_single_point", "--format", "json", "-o", str(out))
    assert p.returncode == 0, p.stderr
    plan = json.loads(out.read_text())
    assert plan["format"] == "injectmap-plan" and plan["version"] == 1
    c = run("check", str(out), "--format", "json")
    assert c.returncode == 0, c.stdout + c.stderr
    res = json.loads(c.stdout)
    assert [pt["id"] for pt in res["points"]] == ["dao_left", "dao_right"]
    assert all(pt["target_reached"] for pt in res["points"])
    # printed JSON equals the written file
    printed = run("protocol", "show", "dao_single_point", "--format", "json")
    assert json.loads(printed.stdout) == plan


def test_show_to_a_directory_fails_cleanly(tmp_path: Path) -> None:
    p = run("protocol", "show", "bunny_lines", "--format", "json", "-o", str(tmp_path))
    assert p.returncode == 3 and "directory" in p.stderr and "Traceback" not in p.stderr
