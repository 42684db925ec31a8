"""``injectmap report`` checks where it writes before it renders: a folder, a missing folder, a read-only
place and a full disk end with a message and exit 2 or 3, never a traceback after seconds of rendering,
and no folder is created. (Before: a traceback and exit 1 after the rendering, and missing folders were
made silently.)"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from injectmap import cli
from injectmap.viewer import report_render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    return path


@pytest.fixture
def no_rendering(monkeypatch):
    """Rendering fails the test: the output must be refused before it starts."""
    def render(*_a, **_k):
        raise AssertionError("rendering started before the output was checked")

    monkeypatch.setattr(report_render, "report_scene", render)
    monkeypatch.setattr(report_render, "load_plan", render)


def _run(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["report", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_output_is_a_folder(plan_file, tmp_path, capsys, no_rendering):
    folder = tmp_path / "out.html"
    folder.mkdir()
    code, err = _run(capsys, str(plan_file), "-o", str(folder))
    assert code == 2 and "is a folder" in err


def test_missing_folder_is_not_created(plan_file, tmp_path, capsys, no_rendering):
    out = tmp_path / "no" / "such" / "report.pdf"
    code, err = _run(capsys, str(plan_file), "-o", str(out))
    assert code == 2 and "does not exist" in err and str(tmp_path / "no" / "such") in err
    assert not (tmp_path / "no").exists()


def test_unknown_extension(plan_file, tmp_path, capsys, no_rendering):
    code, err = _run(capsys, str(plan_file), "-o", str(tmp_path / "r.txt"))
    assert code == 2 and ".html or .pdf" in err


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permission bits: /sys then)."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        return d
    d = Path("/sys")
    try:
        fd, probe = tempfile.mkstemp(dir=d)
    except OSError:
        return d
    os.close(fd)
    os.unlink(probe)
    pytest.skip("no folder here refuses a new file")


def test_read_only_folder(plan_file, tmp_path, capsys, no_rendering):
    folder = _read_only_folder(tmp_path)
    try:
        code, err = _run(capsys, str(plan_file), "-o", str(folder / "report.html"))
    finally:
        if folder.parent == tmp_path:
            folder.chmod(0o755)
    assert code == 3 and "cannot write in" in err
    assert not (folder / "report.html").exists()


def test_disk_full_while_writing(plan_file, tmp_path, capsys, monkeypatch):
    """The disk fills during the write (simulated at the atomic write; the pictures are replaced by nothing
    so that the test does not render): exit 3, the reason, the old report untouched, no stray file."""
    class _Scene:
        plotter = type("P", (), {"window_size": None})()

        def close(self) -> None:
            pass

    def full(path, data, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(report_render, "report_scene", lambda *a, **k: _Scene())
    monkeypatch.setattr(report_render, "pictures", lambda scene, **_k: {})
    monkeypatch.setattr(report_render, "atomic_write_bytes", full)
    out = tmp_path / "report.html"
    out.write_text("the old report")
    code, err = _run(capsys, str(plan_file), "-o", str(out), "--no-3d")
    assert code == 3 and "the disk is full" in err and str(out) in err
    assert out.read_text() == "the old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "report.html"]


def test_the_preflight_leaves_nothing_behind(tmp_path):
    from injectmap.reports.report import check_output

    check_output(tmp_path / "r.pdf")  # the probe file is made and removed
    assert list(tmp_path.iterdir()) == []


def test_the_report_is_drawn_on_the_face_the_plan_names(tmp_path, capsys, monkeypatch):
    """A plan made on another face is reported on that face, as `injectmap check` places it, never silently on
    the default head: a plan naming a face file that is gone is refused (exit 2, the key named), and a plan's
    sex and shape reach the face loader."""
    import json

    plan = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    plan["model"] = {"sex": 0.5, "face": str(tmp_path / "gone.face.json")}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code, err = _run(capsys, str(path), "-o", str(tmp_path / "r.html"))
    assert code == 2 and "model.face" in err and "gone.face.json" in err, err
    assert not (tmp_path / "r.html").exists()

    asked = []

    def load_model(params=None, **_k):
        asked.append(params)
        raise RuntimeError("stop after the face is chosen")

    monkeypatch.setattr("injectmap.anatomy.model.load_model", load_model)
    plan["model"] = {"sex": 0.0, "shape": {"masseter": 1.0}}
    path.write_text(json.dumps(plan))
    with pytest.raises(RuntimeError, match="stop after"):
        report_render.build_report(path, tmp_path / "r.html")
    assert asked and asked[0].sex == 0.0 and asked[0].masseter == 1.0, asked


def test_the_session_the_visit_is_reaches_the_handout(plan_file, tmp_path, capsys, monkeypatch):
    """``--session`` says what the visit is (a first visit postponed to the plan's touch-up day is still the first
    visit); a session the plan does not have, or one that is no session id, is refused before anything is drawn."""
    import json

    plan = json.loads(plan_file.read_text())
    plan["sessions"] = [{"id": "touch_up", "date": "2026-05-18"}]
    plan_file.write_text(json.dumps(plan))
    made = []

    def render(plan, model, kind, name, context, handout, *_a, **_k):
        made.append((context.visit_date, context.session, handout))
        return b"<html></html>"

    monkeypatch.setattr(report_render, "render_document", render)
    monkeypatch.setattr("injectmap.planning.check.model_for_plan", lambda plan: object())
    out = str(tmp_path / "handout.html")
    code, err = _run(capsys, str(plan_file), "-o", out, "--handout", "--visit-date", "2026-05-18", "--session", "initial")
    assert (code, made) == (0, [("2026-05-18", "initial", True)]), err
    code, err = _run(capsys, str(plan_file), "-o", out, "--handout", "--session", "touchup")
    assert code == 2 and "the plan has no session 'touchup' (its sessions: initial, touch_up)" in err
    code, err = _run(capsys, str(plan_file), "-o", out, "--handout", "--session", "Touch up")
    assert code == 2 and "--session: 'Touch up' is not a session id" in err
    assert len(made) == 1
