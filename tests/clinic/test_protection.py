"""Patient data is protected: owner-only files and folders, a whole record exported and deleted in one
action each (audited without the name), a backup, and nothing about a patient in any log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import stat
import zipfile
from pathlib import Path

import pytest
from records_examples import JPEG, PLAN, PNG
from sqlalchemy import text

from injectmap.clinic import config
from injectmap.clinic.db import make_engine, open_engine, pg_dump_command, sqlite_backup
from injectmap.clinic.records import RECORD_FORMAT, NotFoundError, Records, RecordsError
from injectmap.planning.plan import parse_plan, plan_to_dict

NAME, IDENT, NOTES, VISIT_NOTES = "Wilhelmina Quist", "MRN-QX-8841", "penicillin allergy", "bruised easily"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _course(rec: Records) -> tuple[int, list[int]]:
    """A whole course of treatment: patient, initial visit with plan and photo, review with outcomes, touch-up."""
    p = rec.add_patient(IDENT, name=NAME, date_of_birth=dt.date(1979, 4, 2), notes=NOTES)
    initial = rec.add_visit(p.id, dt.date(2026, 3, 2), "initial", consent=True, lot="C1234A",
                            lot_expiry=dt.date(2027, 1, 31), plan=parse_plan(PLAN), notes=VISIT_NOTES)
    rec.add_photo(initial.id, JPEG)
    review = rec.add_visit(p.id, dt.date(2026, 3, 16), "review", notes=VISIT_NOTES)
    rec.record_outcome(review.id, "forehead", "left", 2, ["heavy brow"])
    rec.record_outcome(review.id, "glabella", "midline", 0)
    rec.add_photo(review.id, PNG)
    touch = rec.add_visit(p.id, dt.date(2026, 3, 16), "touch_up", completes_visit_id=initial.id,
                          plan=parse_plan(PLAN))
    rec.update_patient(p.id, notes=NOTES + " (confirmed)")
    rec.list_patients(NAME[:5])
    rec.visits(p.id)
    return p.id, [initial.id, review.id, touch.id]


def test_sqlite_file_and_folders_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "records"
    url = f"sqlite:///{folder / 'records.sqlite3'}"
    rec = Records.open(url, user="dr.lee", photos_dir=folder / "photos")
    try:
        assert _mode(folder) == 0o700 and _mode(folder / "records.sqlite3") == 0o600
        p = rec.add_patient("P1")
        rec.add_photo(rec.add_visit(p.id, dt.date(2026, 3, 2), "initial").id, JPEG)
        assert _mode(folder / "photos") == 0o700
        assert all(_mode(f) == 0o600 for f in (folder / "photos").iterdir())
        with rec.engine.connect() as conn:  # while a connection is open the WAL files exist: owner-only too
            conn.execute(text("SELECT count(*) FROM patients"))
            side = [f for f in folder.iterdir() if f.name.endswith(("-wal", "-shm"))]
            assert side and all(_mode(f) == 0o600 for f in side)
    finally:
        rec.close()


def test_an_existing_loose_folder_and_file_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    db = folder / "records.sqlite3"
    db.touch()
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert _mode(folder) == 0o700 and _mode(db) == 0o600


def test_the_default_database_is_in_the_user_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv(config.PHOTOS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert config.database_url() == f"sqlite:///{tmp_path / 'xdg' / 'injectmap' / 'records' / 'records.sqlite3'}"
    with Records.open(user="dr.lee") as rec:
        assert rec.photos_dir == tmp_path / "xdg" / "injectmap" / "records" / "photos"
    assert _mode(tmp_path / "xdg" / "injectmap" / "records") == 0o700
    monkeypatch.setenv(config.DATABASE_URL_ENV, "sqlite:////elsewhere/r.sqlite3")
    assert config.database_url() == "sqlite:////elsewhere/r.sqlite3"
    assert config.database_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_export_holds_the_whole_record(records: Records, tmp_path: Path) -> None:
    pid, (initial, review, touch) = _course(records)
    out = records.export_patient(pid, tmp_path / "record.zip")
    assert _mode(out) == 0o600
    with zipfile.ZipFile(out) as z:
        doc = json.loads(z.read("record.json"))
        files = {n: z.read(n) for n in z.namelist() if n.startswith("photos/")}
    assert doc["format"] == RECORD_FORMAT and doc["version"] == 1 and doc["exported_by"] == "dr.lee"
    assert doc["patient"]["identifier"] == IDENT and doc["patient"]["name"] == NAME
    assert doc["patient"]["date_of_birth"] == "1979-04-02" and doc["patient"]["notes"].startswith(NOTES)
    assert [v["id"] for v in doc["visits"]] == [initial, review, touch]  # oldest first in the document
    first = doc["visits"][0]
    assert first["plan"] == plan_to_dict(parse_plan(PLAN)) and parse_plan(first["plan"]) == parse_plan(PLAN)
    assert (first["lot"], first["lot_expiry"], first["consent"], first["clinician"]) == ("C1234A", "2027-01-31", True,
                                                                                        "dr.lee")
    assert doc["visits"][1]["plan"] is None
    assert [(o["area"], o["side"], o["movement"], o["side_effects"]) for o in doc["visits"][1]["outcomes"]] == [
        ("forehead", "left", 2, ["heavy brow"]), ("glabella", "midline", 0, [])]
    assert doc["visits"][2]["completes_visit_id"] == initial
    listed = {ph["file"]: ph["sha256"] for v in doc["visits"] for ph in v["photos"]}
    assert sorted(files) == sorted(listed) and len(files) == 2
    assert all(hashlib.sha256(files[f]).hexdigest() == h for f, h in listed.items())
    assert [a["action"] for a in doc["audit"]][-1] == "export"
    assert len(doc["audit"]) == len(records.audit(pid))
    assert records.audit(pid)[-1].action == "export"


def test_delete_removes_the_record_and_its_files_in_one_audited_action(records: Records, tmp_path: Path) -> None:
    pid, visits = _course(records)
    keep = records.add_patient("OTHER-1")
    kept_visit = records.add_visit(keep.id, dt.date(2026, 3, 2), "initial")
    kept_photo = records.add_photo(kept_visit.id, JPEG)
    photo_files = [ph.path for v in visits for ph in records.photos(v)]
    assert len(photo_files) == 2 and all(f.exists() for f in photo_files)
    before = len(records.audit())
    res = records.delete_patient(pid)
    assert (res.visits, res.outcomes, res.photos, res.files_left) == (3, 2, 2, ())
    assert not any(f.exists() for f in photo_files) and kept_photo.path.exists()
    with pytest.raises(NotFoundError):
        records.patient(pid)
    with pytest.raises(NotFoundError):
        records.visit(visits[0])
    assert [s.identifier for s in records.list_patients()] == ["OTHER-1"]
    after = records.audit()
    assert len(after) == before + 1
    last = after[-1]
    assert (last.action, last.table, last.row_id, last.patient_id) == ("delete", "patients", pid, pid)
    assert last.detail == "visits=3 outcomes=2 photos=2 faces=0"
    dump = repr(after)
    assert NAME not in dump and IDENT not in dump and NOTES not in dump
    with records.engine.connect() as conn:  # no row of the patient is left in any table
        for table in ("visits", "photos", "outcomes"):
            n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            assert n == {"visits": 1, "photos": 1, "outcomes": 0}[table]


def test_nothing_about_the_patient_in_the_logs(records: Records, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                               db_url: str) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, sqlalchemy's and alembic's included
    with Records.open(db_url, user="nurse.kim", photos_dir=records.photos_dir) as rec:
        pid, _ = _course(rec)
        rec.export_patient(pid, tmp_path / "r.zip")
        with pytest.raises(RecordsError) as err:
            rec.add_patient(IDENT, name=NAME)
        assert IDENT not in str(err.value) and NAME not in str(err.value)
        rec.delete_patient(pid)
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for secret in (NAME, IDENT, NOTES, VISIT_NOTES, "Wilhelmina", "8841", "penicillin"):
        assert secret not in logged


def test_sqlite_backup_is_a_consistent_owner_only_copy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'records.sqlite3'}"
    with Records.open(url, user="dr.lee", photos_dir=tmp_path / "photos") as rec:
        pid, _ = _course(rec)
        out = sqlite_backup(rec.engine, tmp_path / "backup.sqlite3")
    assert _mode(out) == 0o600
    con = sqlite3.connect(out)
    try:
        assert con.execute("SELECT identifier FROM patients").fetchall() == [(IDENT,)]
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    restored = open_engine(f"sqlite:///{out}")  # the copy opens as a records database
    try:
        with Records(restored, "dr.lee", tmp_path / "photos") as rec:
            assert [v.kind for v in rec.visits(pid)] == ["touch_up", "review", "initial"]
    finally:
        restored.dispose()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_the_pg_dump_command_never_holds_the_password(tmp_path: Path) -> None:
    engine = make_engine("postgresql://clinic:s3cret-pw@db.example:5433/records")
    try:
        cmd = pg_dump_command(engine, tmp_path / "b.dump")
    finally:
        engine.dispose()
    assert "s3cret" not in cmd
    assert cmd == (f"pg_dump --format=custom --file={tmp_path / 'b.dump'} --host=db.example --port=5433 "
                   "--username=clinic records")
