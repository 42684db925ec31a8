"""``injectmap records photos add|list|export|delete`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from records_examples import JPEG, PNG

from injectmap.cli import main


def run(capsys: pytest.CaptureFixture[str], url: str, photos: Path, *args: str) -> tuple[int, str, str]:
    code = main(["records", "--database-url", url, "--user", "dr.lee", "--photos-dir", str(photos), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_photos_from_the_command_line(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    photos = tmp_path / "photos"
    (tmp_path / "front.jpg").write_bytes(JPEG)
    (tmp_path / "left.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("not a photo")
    assert run(capsys, db_url, photos, "patients", "add", "P")[0] == 0
    assert run(capsys, db_url, photos, "visits", "add", "P", "--kind", "initial", "--date", "2026-03-02")[0] == 0
    code, _, err = run(capsys, db_url, photos, "photos", "add", "1", str(tmp_path / "front.jpg"),
                       str(tmp_path / "notes.txt"))
    assert code == 2 and "image/jpeg or image/png" in err
    code, out, _ = run(capsys, db_url, photos, "photos", "list", "1", "--json")
    assert code == 0 and json.loads(out) == []  # a wrong file added none
    code, out, _ = run(capsys, db_url, photos, "photos", "add", "1", str(tmp_path / "front.jpg"),
                       str(tmp_path / "left.png"))
    assert code == 0 and "added photo 1" in out and "added photo 2" in out
    code, out, _ = run(capsys, db_url, photos, "photos", "list", "1")
    assert code == 0 and "front.jpg" in out and "left.png" in out and "image/png" in out
    rows = json.loads(run(capsys, db_url, photos, "photos", "list", "1", "--json")[1])
    assert [r["display_name"] for r in rows] == ["front.jpg", "left.png"] and "path" not in rows[0]
    out_file = tmp_path / "out.jpg"
    assert run(capsys, db_url, photos, "photos", "export", "1", "-o", str(out_file))[0] == 0
    assert out_file.read_bytes() == JPEG and out_file.stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, db_url, photos, "photos", "delete", "2")
    assert code == 2 and "--yes" in err and len(list(photos.iterdir())) == 2
    code, out, _ = run(capsys, db_url, photos, "photos", "delete", "2", "--yes")
    assert code == 0 and "deleted photo 2" in out and len(list(photos.iterdir())) == 1
    code, _, err = run(capsys, db_url, photos, "photos", "export", "2", "-o", str(out_file))
    assert code == 2 and "no photo with id 2" in err
    code, _, err = run(capsys, db_url, photos, "photos", "add", "7", str(tmp_path / "front.jpg"))
    assert code == 2 and "no visit with id 7" in err


def test_a_plan_imported_with_its_face_keeps_the_face(db_url: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    from records_examples import PLAN

    from injectmap.anatomy.fit import facefile

    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    photos = tmp_path / "photos"
    face = facefile.FaceFile(targets=(("nose/nose-scale-vert-incr.target.gz", 0.3),))
    face_path = tmp_path / "ana.face.json"
    face_path.write_text(json.dumps(face.to_json()))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({**PLAN, "model": {"face": str(face_path)}}))
    assert run(capsys, db_url, photos, "patients", "add", "P")[0] == 0
    assert run(capsys, db_url, photos, "visits", "add", "P", "--kind", "initial", "--plan", str(plan_file))[0] == 0
    code, out, _ = run(capsys, db_url, photos, "plan", "import", "1", str(plan_file))
    assert code == 0 and "with its fitted face" in out
    assert run(capsys, db_url, photos, "patients", "export", "P", "-o", str(tmp_path / "r.zip"))[0] == 0
    with zipfile.ZipFile(tmp_path / "r.zip") as z:
        [visit] = json.loads(z.read("record.json"))["visits"]
        assert visit["face_id"] == face.face_id and json.loads(z.read(visit["faces"][0]["file"])) == face.to_json()
    face_path.unlink()
    code, _, err = run(capsys, db_url, photos, "plan", "import", "1", str(plan_file))
    assert code == 2 and "face file ana.face.json cannot be read" in err
    code, out, _ = run(capsys, db_url, photos, "patients", "delete", "P", "--yes")
    assert code == 0 and "1 faces" in out
