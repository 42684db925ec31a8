"""A visit's photos (names, deletion) and fitted faces (kept with the plan, written back, exported,
deleted with the patient), and the migration 0002 applied to a database of 0001 that holds a record;
each test on SQLite and on PostgreSQL (conftest.db_url)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from alembic import command
from records_examples import JPEG, PLAN, PNG
from sqlalchemy import text

from injectmap.anatomy.fit import facefile
from injectmap.clinic.config import user_faces_dir
from injectmap.clinic.db import current_revision, head_revision, make_engine, migration_config, upgrade
from injectmap.clinic.records import NotFoundError, Records, RecordsError, check_face, photo_display_name
from injectmap.planning.plan import parse_plan

D0 = dt.date(2026, 3, 2)


def face_text(targets: tuple[tuple[str, float], ...], photo_sha: str | None = None) -> str:
    sources = ({"kind": "photo", "sha256": photo_sha, "role": "front"},) if photo_sha else ()
    face = facefile.FaceFile(targets=targets, sources=sources, created="2026-03-02T10:00:00+00:00")
    return json.dumps(face.to_json(), indent=1) + "\n"


FACE_A = (("nose/nose-scale-vert-incr.target.gz", 0.31), ("chin/chin-prominent-incr.target.gz", 0.2))
FACE_B = (("nose/nose-scale-vert-incr.target.gz", 0.5),)


def plan_with_face(path: str = "/somewhere/else/patient.face.json"):
    return parse_plan({**PLAN, "model": {"face": path}})


def test_photo_names_are_kept_as_text_and_a_photo_is_deleted_with_its_file(records: Records) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial")
    evil = "<img src=x onerror=alert(1)>.png"
    a = records.add_photo(v.id, PNG, display_name="C:\\Users\\x\\" + evil)
    b = records.add_photo(v.id, JPEG, display_name="front\x00\x1b.jpg")
    assert (a.display_name, b.display_name) == (evil, "front.jpg")  # the last part of the name, no controls
    assert records.photo(a.id) == a and records.photos(v.id) == [a, b]
    assert photo_display_name("x" * 300) == "x" * 200 and photo_display_name(None) == ""
    gone = records.delete_photo(a.id)
    assert gone == a and not a.path.exists() and b.path.exists()
    assert records.photos(v.id) == [b]
    with pytest.raises(NotFoundError):
        records.delete_photo(a.id)
    with pytest.raises(NotFoundError):
        records.photo(a.id)
    audit = [(e.action, e.table, e.row_id, e.detail) for e in records.audit(p.id) if e.table == "photos"]
    assert audit == [("create", "photos", a.id, ""), ("create", "photos", b.id, ""), ("delete", "photos", a.id, "")]
    assert "onerror" not in repr(records.audit())


def test_a_face_fitted_to_a_front_photo_and_its_oblique_is_kept_as_the_front_photos(records: Records) -> None:
    """A face fitted to several of a visit's photos lists them front first: it is the front photo's, whichever
    photo was added first (the oblique here)."""
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial")
    oblique = records.add_photo(v.id, PNG, display_name="left45.png")
    front = records.add_photo(v.id, JPEG, display_name="front.jpg")
    sources = ({"kind": "photo", "sha256": front.sha256, "role": "front"},
               {"kind": "photo", "sha256": oblique.sha256, "role": "oblique"})
    face = facefile.FaceFile(targets=FACE_A, sources=sources, created="2026-03-02T10:00:00+00:00")
    records.set_plan(v.id, plan_with_face(), face_json=json.dumps(face.to_json()) + "\n")
    assert [f.photo_id for f in records.faces(v.id)] == [front.id]


def test_a_plan_face_is_kept_with_the_visit_and_comes_back(records: Records, tmp_path: Path) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial")
    photo = records.add_photo(v.id, JPEG, display_name="front.jpg")
    text_a = face_text(FACE_A, photo.sha256)
    fid_a = facefile.face_id(FACE_A)
    saved = records.set_plan(v.id, plan_with_face(), face_json=text_a)
    assert saved.face_id == fid_a and records.visit(v.id).face_id == fid_a
    [face] = records.faces(v.id)
    assert (face.face_id, face.photo_id, face.visit_id) == (fid_a, photo.id, v.id)
    assert records.face_text(v.id, fid_a) == text_a
    # saved again with the same face: still one face; with another face: kept too, and it is the plan's
    records.set_plan(v.id, plan_with_face(), face_json=text_a)
    assert len(records.faces(v.id)) == 1
    text_b = face_text(FACE_B)
    records.set_plan(v.id, plan_with_face(), face_json=text_b)
    assert [f.photo_id for f in records.faces(v.id)] == [photo.id, None]
    assert records.visit(v.id).face_id == facefile.face_id(FACE_B)
    # opening the visit writes the plan's face into this user's faces folder, owner-only
    path = records.restore_face(v.id)
    assert path is not None and path.parent == user_faces_dir(tmp_path / "faces", "dr.lee")
    assert path.read_text() == text_b and "dr.lee" not in str(path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert facefile.parse(json.loads(path.read_text()), "x", known={n for n, _ in FACE_B},
                          base_sha256="").face_id == facefile.face_id(FACE_B)
    # a plan saved without its face's text (a plan file imported) keeps only its path: no kept face for it
    records.set_plan(v.id, plan_with_face())
    assert records.visit(v.id).face_id is None
    records.set_plan(v.id, plan_with_face(), face_json=text_b)
    # a plan without a face leaves the visit on the average face; its faces stay in the record
    records.set_plan(v.id, parse_plan(PLAN))
    assert records.visit(v.id).face_id is None and records.restore_face(v.id) is None
    assert len(records.faces(v.id)) == 2
    # the photo a face came from is deleted: the face stays, without its photo
    records.delete_photo(photo.id)
    assert [f.photo_id for f in records.faces(v.id)] == [None, None]
    audit = [(e.action, e.table, e.detail) for e in records.audit(p.id) if e.table == "faces"]
    assert audit == [("create", "faces", "from photo"), ("create", "faces", "")]


def test_a_visit_added_with_a_face(records: Records) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial", plan=plan_with_face(), face_json=face_text(FACE_A))
    assert v.face_id == facefile.face_id(FACE_A) and len(records.faces(v.id)) == 1


@pytest.mark.parametrize("bad, message", [
    ("{", "not JSON"),
    ('{"kind": "something"}', "not an injectmap face file"),
    ('{"kind": "injectmap-face", "version": 1, "targets": [["a", 3]]}', "weight"),
    ("x" * (facefile.MAX_BYTES + 1), "too large"),
])
def test_what_is_not_a_face_file_is_refused(records: Records, bad: str, message: str) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial")
    with pytest.raises(RecordsError, match=message):
        records.set_plan(v.id, plan_with_face(), face_json=bad)
    assert records.visit(v.id).has_plan is False and records.faces(v.id) == []  # one transaction
    with pytest.raises(RecordsError, match="model names a face"):
        records.set_plan(v.id, parse_plan(PLAN), face_json=face_text(FACE_A))
    with pytest.raises(RecordsError, match="face is the text"):
        check_face(b"{}")


def test_export_and_delete_take_the_faces_and_photos(records: Records, db_url: str, tmp_path: Path) -> None:
    p = records.add_patient("MRN-9", name="Jane Roe")
    v = records.add_visit(p.id, D0, "initial")
    photo = records.add_photo(v.id, JPEG, display_name="Jane front.jpg")
    text_a = face_text(FACE_A, photo.sha256)
    records.set_plan(v.id, plan_with_face(), face_json=text_a)
    mine = records.restore_face(v.id)
    with Records.open(db_url, user="nurse.kim", photos_dir=records.photos_dir, faces_dir=records.faces_dir) as other:
        theirs = other.restore_face(v.id)
    assert mine is not None and theirs is not None and mine.parent != theirs.parent
    out = records.export_patient(p.id, tmp_path / "record.zip")
    with zipfile.ZipFile(out) as z:
        doc = json.loads(z.read("record.json"))
        [vd] = doc["visits"]
        [fd] = vd["faces"]
        assert fd["face_id"] == facefile.face_id(FACE_A) and fd["photo"] == vd["photos"][0]["file"]
        assert z.read(fd["file"]).decode() == text_a and z.read(fd["photo"]) == JPEG
        assert vd["photos"][0]["display_name"] == "Jane front.jpg" and vd["face_id"] == fd["face_id"]
    # another patient with the same face keeps it: only faces nobody else keeps are removed from the folders
    q = records.add_patient("MRN-10")
    w = records.add_visit(q.id, D0, "initial", plan=plan_with_face(), face_json=face_text(FACE_B))
    kept = records.restore_face(w.id)
    res = records.delete_patient(p.id)
    assert (res.visits, res.photos, res.faces, res.face_files, res.files_left) == (1, 1, 1, 2, ())
    assert not mine.exists() and not theirs.exists() and not photo.path.exists()
    assert kept is not None and kept.exists()
    [deleted] = [e for e in records.audit(p.id) if e.action == "delete" and e.table == "patients"]
    assert deleted.detail == "visits=1 outcomes=0 photos=1 faces=1"
    assert "Jane" not in repr(records.audit()) and "MRN-9" not in repr(records.audit())
    assert dataclasses.asdict(res)["faces"] == 1


def test_migration_0002_on_a_database_of_0001_with_a_record(empty_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(migration_config(conn), "0001")
        assert current_revision(engine) == "0001"
        now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO patients (identifier, notes, created_at, created_by) "
                              "VALUES ('OLD-1', '', :t, 'dr.lee')"), {"t": now})
            pid = conn.execute(text("SELECT id FROM patients")).scalar_one()
            conn.execute(text("INSERT INTO visits (patient_id, date, kind, clinician, consent, notes, created_at) "
                              "VALUES (:p, :d, 'initial', 'dr.lee', false, '', :t)"), {"p": pid, "d": D0, "t": now})
            vid = conn.execute(text("SELECT id FROM visits")).scalar_one()
            conn.execute(text("INSERT INTO photos (visit_id, file_name, sha256, size_bytes, media_type, created_at)"
                              " VALUES (:v, 'abc.jpg', :h, :n, 'image/jpeg', :t)"),
                         {"v": vid, "h": hashlib.sha256(JPEG).hexdigest(), "n": len(JPEG), "t": now})
        assert upgrade(engine) == head_revision() == "0003"  # 0002 and 0003 (the patient's distance)
    finally:
        engine.dispose()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "abc.jpg").write_bytes(JPEG)
    with Records.open(empty_db_url, user="dr.lee", photos_dir=tmp_path / "photos", faces_dir=tmp_path / "faces") as rec:
        [photo] = rec.photos(vid)
        assert photo.display_name == "" and rec.photo_bytes(photo) == JPEG
        assert rec.visit(vid).face_id is None and rec.faces(vid) == []
        v = rec.set_plan(vid, plan_with_face(), face_json=face_text(FACE_A, photo.sha256))
        assert v.face_id == facefile.face_id(FACE_A) and rec.faces(vid)[0].photo_id == photo.id
        assert rec.add_photo(vid, PNG, display_name="new.png").display_name == "new.png"
        assert rec.find_patient("OLD-1").id == pid and rec.find_patient("OLD-1").ipd_mm is None
        assert rec.update_patient(pid, ipd_mm=64.0).ipd_mm == 64.0


def test_taking_the_records_back_to_0001_and_forward_keeps_them(empty_db_url: str, tmp_path: Path) -> None:
    """A clinic going back to an older injectmap takes the database back first (``records downgrade``): with
    patients, visits, a plan, a photo and a fitted face in it (on SQLite the tables are copied, which failed on the
    rows other tables point at), what 0001 had stays, what 0002 and 0003 added goes, and going forward again
    gives the same records."""
    from injectmap.clinic.db import downgrade

    dirs = {"photos_dir": tmp_path / "photos", "faces_dir": tmp_path / "faces"}
    with Records.open(empty_db_url, user="dr.lee", **dirs) as rec:
        p = rec.add_patient("MRN-1", name="Ana", ipd_mm=63.0)
        v = rec.add_visit(p.id, D0, "initial", plan=plan_with_face(), face_json=face_text(FACE_A))
        rec.add_photo(v.id, JPEG, display_name="front.jpg")
        r = rec.add_visit(p.id, D0 + dt.timedelta(days=14), "review")
        rec.record_outcome(r.id, "glabella", "midline", 1)
    engine = make_engine(empty_db_url)
    try:
        before = dt.datetime.now(dt.timezone.utc)
        assert downgrade(engine, "0002", actor="dr.lee") == "0002" == current_revision(engine)
        assert downgrade(engine, "0001", actor="it.admin") == "0001" == current_revision(engine)
        with engine.connect() as conn:
            counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("patients", "visits", "photos", "outcomes")]
            assert counts == [1, 2, 1, 1]
            assert "faces" not in {r[0] for r in conn.execute(text(
                "SELECT table_name FROM information_schema.tables" if conn.dialect.name == "postgresql"
                else "SELECT name FROM sqlite_master WHERE type = 'table'"))}
            if conn.dialect.name == "sqlite":  # the pool's connections enforce foreign keys again
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert upgrade(engine) == head_revision()
    finally:
        engine.dispose()
    with Records.open(empty_db_url, user="dr.lee", **dirs) as rec:
        # each downgrade is audited as the records' changes are: who, when, from and to which migration, no patient
        taken_back = [a for a in rec.audit() if a.action == "downgrade"]
        assert [(a.actor, a.table, a.row_id, a.patient_id, a.detail) for a in taken_back] == [
            ("dr.lee", "alembic_version", None, None, "from=0003 to=0002"),
            ("it.admin", "alembic_version", None, None, "from=0002 to=0001")]
        assert all(before <= a.at <= dt.datetime.now(dt.timezone.utc) for a in taken_back)
    engine = make_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    with Records.open(empty_db_url, user="dr.lee", **dirs) as rec:
        p2 = rec.find_patient("MRN-1")
        assert (p2.id, p2.name, p2.ipd_mm) == (p.id, "Ana", None)  # 0003's distance went with it
        v2 = rec.visit(v.id)
        assert sorted(x.id for x in rec.visits(p.id)) == sorted([v.id, r.id]) and len(rec.outcomes(r.id)) == 1
        assert v2.has_plan and v2.face_id is None and rec.faces(v.id) == []
        [photo] = rec.photos(v.id)
        assert photo.display_name == "" and rec.photo_bytes(photo) == JPEG


def test_a_downgrade_is_refused_with_the_reason_and_changes_nothing(empty_db_url: str) -> None:
    from injectmap.clinic.db import DatabaseError, downgrade

    engine = make_engine(empty_db_url)
    try:
        with pytest.raises(DatabaseError, match="no schema yet"):
            downgrade(engine, "0001", actor="dr.lee")
        upgrade(engine)
        for revision, message in (("0009", "not a migration of this injectmap"), (head_revision(), "is not older")):
            with pytest.raises(DatabaseError, match=message):
                downgrade(engine, revision, actor="dr.lee")
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:  # nothing was taken back: nothing is audited
            assert conn.execute(text("SELECT count(*) FROM audit")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_downgrade_that_cannot_be_audited_is_not_made(empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit row is written after the migrations are taken back, in their transaction, into the audit table of
    the older schema. Every migration this injectmap goes back to has that table (0001 makes it; taking back 0001
    itself is refused); a later one going back to before an audit table would leave nowhere to write the row, and
    the downgrade is then refused and rolled back (here a migration that drops the table stands for one)."""
    from injectmap.clinic import db

    real = db.command.downgrade

    def dropping_the_audit(config, revision: str) -> None:  # type: ignore[no-untyped-def]
        real(config, revision)
        config.attributes["connection"].execute(text("DROP TABLE audit"))

    engine = make_engine(empty_db_url)
    try:
        upgrade(engine)
        monkeypatch.setattr(db.command, "downgrade", dropping_the_audit)
        with pytest.raises(db.DatabaseError, match="no audit table to record it in: nothing was changed"):
            db.downgrade(engine, "0002", actor="dr.lee")
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_sqlite_migration_is_all_or_nothing_and_checks_the_foreign_keys(tmp_path: Path) -> None:
    """SQLite's driver commits each schema statement by itself unless told otherwise: a migration that fails half
    way leaves nothing of itself, and one that would leave a row pointing nowhere (foreign keys are off while
    tables are copied) is refused."""
    from injectmap.clinic.db import DatabaseError, _sqlite_migration, open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")

    def half_way(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("CREATE TABLE half (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("ALTER TABLE patients ADD COLUMN half TEXT")
        raise RuntimeError("a migration failing half way")

    def dangling(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("INSERT INTO visits (patient_id, date, kind, clinician, consent, notes, created_at) "
                             "VALUES (999, '2026-05-04', 'initial', 'dr.lee', 0, '', '2026-05-04 09:00:00')")

    try:
        with pytest.raises(RuntimeError, match="half way"):
            _sqlite_migration(engine, half_way)
        with pytest.raises(DatabaseError, match="1 row\\(s\\) of visits pointing at rows that do not exist"):
            _sqlite_migration(engine, dangling)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'half'")).first() is None
            assert "half" not in [r[1] for r in conn.execute(text("PRAGMA table_info(patients)"))]
            assert conn.execute(text("SELECT count(*) FROM visits")).scalar_one() == 0
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
