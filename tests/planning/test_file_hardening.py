"""Writes that survive a kill and concurrent writers: stray temporary files, owner-only files, the score lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from injectmap.anatomy import fileio
from injectmap.anatomy.fileio import atomic_write_bytes, remove_stray_tmp
from injectmap.teaching import training

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

#: writes a 10 MB file over and over; the parent kills it while it writes
WRITER = textwrap.dedent(
    """
    import sys
    from injectmap.anatomy.fileio import atomic_write_bytes
    data = b"x" * (10 * 1024 * 1024)
    print("ready", flush=True)
    while True:
        atomic_write_bytes(sys.argv[1], data)
    """
)


def _strays(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.") and p.name.endswith(".tmp")]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_writers_temporary_file_goes_with_the_next_write(tmp_path):
    target = tmp_path / "big.bin"
    left = []
    for _ in range(20):  # until a kill lands during a write (it nearly always does: writes are back to back)
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, env=ENV)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = _strays(target)
        if left:
            break
    assert left, "no kill landed during a write"
    assert max(p.stat().st_size for p in left) > 0
    time.sleep(fileio.STRAY_TMP_GRACE_S + 0.2)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert _strays(target) == []


def test_a_temporary_file_being_written_is_not_removed(tmp_path):
    """A stray is removed only when no live writer holds it: a held one (another process writing) stays."""
    fcntl = pytest.importorskip("fcntl")
    target = tmp_path / "plan.json"
    busy = tmp_path / ".plan.json.abc123.tmp"
    old = tmp_path / ".plan.json.def456.tmp"
    other = tmp_path / ".other.json.xyz.tmp"
    for p in (busy, old, other):
        p.write_bytes(b"partial")
        os.utime(p, (time.time() - 60, time.time() - 60))
    fd = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held = subprocess.run([sys.executable, "-c", "import sys; from injectmap.anatomy.fileio import "
                               "remove_stray_tmp as r; print(len(r(sys.argv[1])))", str(target)],
                              env=ENV, capture_output=True, text=True, check=True)
        assert held.stdout.strip() == "1"  # only the unheld one of this file
        assert busy.exists() and not old.exists() and other.exists()
    finally:
        os.close(fd)
    assert remove_stray_tmp(target) == [str(busy)]


def test_a_fresh_temporary_file_is_left_alone(tmp_path):
    target = tmp_path / "plan.json"
    fresh = tmp_path / ".plan.json.new.tmp"
    fresh.write_bytes(b"just created")
    assert remove_stray_tmp(target) == []
    assert fresh.exists()


def test_owner_only_mode(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"{}", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600
    target.chmod(0o640)
    atomic_write_bytes(target, b"{}")  # without mode: an existing file keeps its bits
    assert target.stat().st_mode & 0o777 == 0o640


SCORER = textwrap.dedent(
    """
    import sys
    from injectmap.teaching.training import Component, Score, record_score
    s = Score("mentalis", 80, {"targets": Component("targets", 40, 40, "")}, passed=True)
    for i in range(int(sys.argv[3])):
        record_score(sys.argv[1], sys.argv[2], "mentalis", s)
    """
)


def test_concurrent_processes_lose_no_score(tmp_path):
    """4 processes x 50 attempts: every attempt is stored (without the lock about 57 of 200 were)."""
    path = tmp_path / "scores.json"
    procs = [subprocess.Popen([sys.executable, "-c", SCORER, str(path), f"trainee {i}", "50"], env=ENV)
             for i in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {k: len(v) for k, v in data["trainees"].items()} == {f"trainee {i}": 50 for i in range(4)}
    assert sum(len(h) for h in (training.history(path, f"trainee {i}") for i in range(4))) == 200
    assert _strays(path) == []
