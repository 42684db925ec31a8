"""``injectmap records ...`` on SQLite and PostgreSQL: a course from the command line, one-line errors with a
non-zero exit, the backup (SQLite copy, PostgreSQL pg_dump command) and ``upgrade``."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
from records_examples import JPEG, PLAN

from injectmap.cli import main
from injectmap.clinic.records import Records
from injectmap.planning.plan import dumps_plan, parse_plan


def run(capsys: pytest.CaptureFixture[str], url: str, photos: Path, *args: str) -> tuple[int, str, str]:
    code = main(["records", "--database-url", url, "--user", "dr.lee", "--photos-dir", str(photos), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_course_from_the_command_line(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(dumps_plan(parse_plan(PLAN)), encoding="utf-8")
    photo = tmp_path / "front.jpg"
    photo.write_bytes(JPEG)
    assert run(capsys, db_url, photos, "patients", "add", "MRN-1", "--name", "Jane Roe", "--dob", "1980-05-01")[0] == 0
    # the patient's measured interpupillary distance: set, refused outside the adult range, shown, removed, set again
    code, out, _ = run(capsys, db_url, photos, "patients", "update", "MRN-1", "--ipd-mm", "62.5")
    assert code == 0 and out.strip() == "updated patient MRN-1: ipd_mm", out
    code, _, err = run(capsys, db_url, photos, "patients", "update", "MRN-1", "--ipd-mm", "31")
    assert code != 0 and "31 mm is outside the adult range" in err and "\n" not in err.strip(), err
    assert "interpupillary distance: 62.5 mm" in run(capsys, db_url, photos, "patients", "show", "MRN-1")[1]
    assert run(capsys, db_url, photos, "patients", "update", "MRN-1", "--no-ipd")[0] == 0
    assert "interpupillary" not in run(capsys, db_url, photos, "patients", "show", "MRN-1")[1]
    code, _, err = run(capsys, db_url, photos, "patients", "update", "MRN-1", "--ipd-mm", " ")  # not --no-ipd
    assert code == 2 and "--ipd-mm needs the distance in mm" in err, err
    code, _, err = run(capsys, db_url, photos, "patients", "update", "MRN-1")  # nothing to change
    assert code == 2 and err.startswith("ERROR give what to change") and err.count("\n") == 1, err
    code, out, _ = run(capsys, db_url, photos, "patients", "update", "MRN-1", "--ipd-mm", "62,5")  # decimal comma
    assert code == 0 and out.strip() == "updated patient MRN-1: ipd_mm", out
    code, out, _ = run(capsys, db_url, photos, "patients", "update", "MRN-1", "--ipd-mm", "62.5")  # the same: no change
    assert code == 0 and out.strip() == "patient MRN-1: nothing changed", out
    code, out, _ = run(capsys, db_url, photos, "visits", "add", "MRN-1", "--date", "2026-03-02", "--kind", "initial",
                       "--consent", "--consent-at", "2026-03-02T09:00+01:00", "--lot", "C1", "--lot-expiry",
                       "2027-01-01", "--plan", str(plan_file),
                       "--photo", str(photo))
    assert code == 0 and out.startswith("added visit 1 ")
    assert run(capsys, db_url, photos, "visits", "add", "MRN-1", "--date", "2026-03-16", "--kind", "review")[0] == 0
    code, out, _ = run(capsys, db_url, photos, "outcome", "add", "2", "--area", "forehead", "--side", "left",
                       "--movement", "2", "--side-effect", "heavy brow")
    assert code == 0 and "forehead left: movement 2/3" in out
    code, _, _ = run(capsys, db_url, photos, "visits", "add", "MRN-1", "--date", "2026-03-16", "--kind", "touch_up",
                     "--completes", "1")
    assert code == 0
    assert run(capsys, db_url, photos, "plan", "import", "3", str(plan_file))[0] == 0
    code, _, _ = run(capsys, db_url, photos, "plan", "export", "3", "-o", str(tmp_path / "back.json"))
    assert code == 0 and (tmp_path / "back.json").read_bytes() == plan_file.read_bytes()

    code, out, _ = run(capsys, db_url, photos, "visits", "list", "MRN-1", "--json")
    assert code == 0 and [(v["id"], v["kind"]) for v in json.loads(out)] == [(3, "touch_up"), (2, "review"),
                                                                              (1, "initial")]
    first = json.loads(out)[-1]
    assert (first["consent"], first["consent_at"], first["lot"], first["product"], first["dilution_ml"]) == (
        True, "2026-03-02T08:00:00+00:00", "C1", "onabotulinumtoxinA", 2.5)
    code, out, _ = run(capsys, db_url, photos, "patients", "show", "MRN-1")
    assert code == 0 and "forehead left: movement 2/3, heavy brow" in out and "completes visit 1" in out
    code, out, _ = run(capsys, db_url, photos, "patients", "list", "--json")
    assert code == 0 and [(p["identifier"], p["visits"]) for p in json.loads(out)] == [("MRN-1", 3)]

    zip_path = tmp_path / "export.zip"
    assert run(capsys, db_url, photos, "patients", "export", "MRN-1", "-o", str(zip_path))[0] == 0
    assert stat.S_IMODE(zip_path.stat().st_mode) == 0o600
    with zipfile.ZipFile(zip_path) as z:
        assert len(json.loads(z.read("record.json"))["visits"]) == 3
    code, _, err = run(capsys, db_url, photos, "patients", "delete", "MRN-1")
    assert code == 2 and "--yes" in err
    code, out, _ = run(capsys, db_url, photos, "patients", "delete", "MRN-1", "--yes")
    assert code == 0 and "3 visits, 1 outcomes, 1 photos" in out
    assert list(photos.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["patients", "show", "NOPE"], "no patient with this identifier"),
    (["visits", "add", "P", "--kind", "touch_up"], "names the initial visit"),
    (["outcome", "add", "1", "--area", "nose", "--side", "left", "--movement", "1"], "unknown area"),
    (["plan", "export", "99", "-o", "x.json"], "no visit with id 99"),
    (["visits", "add", "P", "--kind", "initial", "--plan", "missing.json"], "invalid plan"),
    (["visits", "add", "P", "--kind", "initial", "--photo", "PLANFILE"], "image/jpeg or image/png"),
])
def test_errors_are_one_line_and_a_non_zero_exit(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 args: list[str], message: str) -> None:
    photos = tmp_path / "photos"
    assert run(capsys, db_url, photos, "patients", "add", "P")[0] == 0
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(dumps_plan(parse_plan(PLAN)), encoding="utf-8")
    code, out, err = run(capsys, db_url, photos, *[str(plan_file) if a == "PLANFILE" else a for a in args])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("ERROR ") and message in err
    code, out, _ = run(capsys, db_url, photos, "visits", "list", "P", "--json")
    assert json.loads(out) == []  # a refused visit adds nothing


def test_a_bad_user_name_or_database_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["records", "--database-url", f"sqlite:///{tmp_path / 'r.sqlite3'}", "--user", "a b", "upgrade"])
    assert code == 2 and "user name" in capsys.readouterr().err
    code = main(["records", "--database-url", "mysql://u@h/db", "--user", "x", "upgrade"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "unsupported database" in err


def test_backup_and_upgrade(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    code, out, _ = run(capsys, db_url, photos, "upgrade")
    assert code == 0 and "migration 0003" in out
    assert run(capsys, db_url, photos, "patients", "add", "P")[0] == 0
    out_file = tmp_path / "backup.bin"
    code, out, err = run(capsys, db_url, photos, "backup", "-o", str(out_file))
    assert code == 0
    if db_url.startswith("sqlite"):
        assert stat.S_IMODE(out_file.stat().st_mode) == 0o600 and "wrote" in out
        code, out, _ = run(capsys, f"sqlite:///{out_file}", photos, "patients", "list", "--json")
        assert [p["identifier"] for p in json.loads(out)] == ["P"]
    else:
        assert not out_file.exists() and out.startswith("pg_dump --format=custom")
        assert f"--file={out_file}" in out and "--username=injectmap" in out and "pg_restore" in err
        assert out.strip().split()[-1].startswith("records_")


def test_downgrade_says_what_it_drops_and_asks_for_yes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, photos = f"sqlite:///{tmp_path / 'db' / 'records.sqlite3'}", tmp_path / "photos"
    assert run(capsys, url, photos, "patients", "add", "P", "--ipd-mm", "63")[0] == 0
    code, out, err = run(capsys, url, photos, "downgrade", "0001")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert ("from migration 0003 back to 0001 drops the patients' interpupillary distances; the visits' fitted faces"
            in err) and "backup -o FILE" in err and "--yes" in err
    with Records.open(url, user="dr.lee", photos_dir=photos) as rec:  # nothing changed
        assert rec.find_patient("P").ipd_mm == 63.0
    code, out, err = run(capsys, url, photos, "downgrade", "0002", "--yes")
    assert (code, err) == (0, "") and out == ("the records database is at migration 0002 (dropped: the patients' "
                                              "interpupillary distances)\n")
    for args, message in ((("downgrade", "0002", "--yes"), "at migration 0002: 0002 is not older"),
                          (("downgrade", "12", "--yes"), "'12' is not a migration of this injectmap")):
        code, out, err = run(capsys, url, photos, *args)
        assert code == 3 and out == "" and message in err
    code, out, _ = run(capsys, url, photos, "upgrade")
    assert code == 0 and "migration 0003" in out
    with Records.open(url, user="dr.lee", photos_dir=photos) as rec:  # audited as --user's, once (not the refused)
        assert [(a.actor, a.action, a.detail) for a in rec.audit() if a.action == "downgrade"] == [
            ("dr.lee", "downgrade", "from=0003 to=0002")]
