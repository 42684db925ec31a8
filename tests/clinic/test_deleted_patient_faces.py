"""A deleted patient's fitted face leaves every place the app kept it: the face files (test_visit_faces.py),
the face cache's built faces of it (``<sliders>-fit-<id>``, one per slider setting) and the stills rendered
on it, from ``Records.delete_patient`` and from ``injectmap records patients delete`` (which also forgets the
charts its process keeps and the app's autosaved plans naming the patient); a face another patient keeps, the
default face and other faces' stills stay. A photo's kept name drops control and
bidirectional characters (a name that reads other than it is)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from records_examples import PLAN

from injectmap.anatomy.fit import facefile
from injectmap.cli import main
from injectmap.clinic.config import database_fingerprint
from injectmap.clinic.records import Records, photo_display_name
from injectmap.planning.plan import parse_plan
from injectmap.reports.stills_cache import StillsCache, forget_face, still_key

D0 = dt.date(2026, 3, 2)
FACE_A = (("nose/nose-scale-vert-incr.target.gz", 0.31),)
FACE_B = (("nose/nose-scale-vert-incr.target.gz", 0.5),)


def _face_json(targets: tuple[tuple[str, float], ...]) -> str:
    return json.dumps(facefile.FaceFile(targets=targets, created="2026-03-02T10:00:00+00:00").to_json())


def _plan():
    return parse_plan({**PLAN, "model": {"face": "/elsewhere/patient.face.json"}})


@pytest.fixture
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, StillsCache]:
    root = tmp_path / "meshes"
    monkeypatch.setenv("INJECTMAP_CACHE_DIR", str(root))
    monkeypatch.setenv("INJECTMAP_STILLS_CACHE_DIR", str(tmp_path / "stills"))
    return root, StillsCache(tmp_path / "stills", 1e9)


def _built(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "skin.vtp").write_bytes(b"mesh")
    (folder / "manifest.json").write_text("{}")
    return folder


def _still(cache: StillsCache, face: str, day: float) -> str:
    key = still_key("{}", face, "frown", day, (420, 480), 1.0, np.zeros((3, 3)))
    assert cache.put(key, b"\x89PNG\r\n\x1a\n" + b"x" * 10 + b"IEND\xaeB`\x82")
    return key


def _setup(records: Records, root: Path, cache: StillsCache) -> tuple[int, dict[str, Path], dict[str, str]]:
    a, b = facefile.face_id(FACE_A), facefile.face_id(FACE_B)
    p = records.add_patient("MRN-1")
    records.add_visit(p.id, D0, "initial", plan=_plan(), face_json=_face_json(FACE_A))
    q = records.add_patient("MRN-2")
    records.add_visit(q.id, D0, "initial", plan=_plan(), face_json=_face_json(FACE_B))
    built = {"a": _built(root, f"default-fit-{a[:16]}"), "a_sex": _built(root, f"sex0.25-fit-{a[:16]}"),
             "b": _built(root, f"default-fit-{b[:16]}"), "default": _built(root, "default")}
    stills = {"a": _still(cache, f"default-fit-{a[:16]}:abc", 0), "a2": _still(cache, f"sex0.25-fit-{a[:16]}:d", 14),
              "b": _still(cache, f"default-fit-{b[:16]}:abc", 0), "default": _still(cache, "default:abc", 0)}
    return p.id, built, stills


def test_deleting_a_patient_removes_their_built_faces_and_stills(records: Records, caches) -> None:
    root, cache = caches
    pid, built, stills = _setup(records, root, cache)
    a = facefile.face_id(FACE_A)
    assert stills["a"].startswith(f"fit-{a[:16]}-") and len(stills["default"]) == 64  # a fitted face's are named
    res = records.delete_patient(pid, forget_face=forget_face)
    assert res.face_ids == (a,) and (res.built_faces, res.stills) == (2, 2)
    assert not built["a"].exists() and not built["a_sex"].exists()
    assert built["b"].exists() and built["default"].exists()  # another patient's face, the default face
    assert cache.get(stills["a"]) is None and cache.get(stills["a2"]) is None
    assert cache.get(stills["b"]) is not None and cache.get(stills["default"]) is not None


def test_a_face_accepted_for_the_patient_but_not_yet_saved_with_a_visit_goes_too(records: Records, caches) -> None:
    """The app names the face on screen with the patient (accepted on the Face card, the visit not saved): its
    copies in the users' faces folders and its built faces go with the record, unless another patient's visit
    keeps it; anything but a face id is refused before anything is deleted."""
    root, cache = caches
    pid, built, stills = _setup(records, root, cache)
    a, b = facefile.face_id(FACE_A), facefile.face_id(FACE_B)
    unsaved = facefile.face_id((("nose/nose-scale-vert-incr.target.gz", 0.7),))
    files = {}
    for fid in (unsaved, b):
        files[fid] = records.user_faces_dir / f"{fid}.face.json"
        files[fid].parent.mkdir(parents=True, exist_ok=True)
        files[fid].write_text("{}")
    built["unsaved"] = _built(root, f"default-fit-{unsaved[:16]}")
    with pytest.raises(ValueError, match="not a face id"):
        records.delete_patient(pid, unsaved_faces=["../../default"])
    assert records.find_patient("MRN-1").id == pid and built["a"].exists()
    res = records.delete_patient(pid, forget_face=forget_face, unsaved_faces=[unsaved, b])
    assert res.face_ids == tuple(sorted((a, unsaved)))  # MRN-2's visit keeps b
    assert not files[unsaved].exists() and not built["unsaved"].exists() and not built["a"].exists()
    assert files[b].exists() and built["b"].exists() and built["default"].exists()


def test_records_patients_delete_removes_them_too(db_url: str, tmp_path: Path, caches,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, cache = caches
    photos = tmp_path / "photos"
    with Records.open(db_url, user="dr.lee", photos_dir=photos, faces_dir=tmp_path / "faces") as records:
        _pid, built, stills = _setup(records, root, cache)
    code = main(["records", "--database-url", db_url, "--user", "dr.lee", "--photos-dir", str(photos),
                 "patients", "delete", "MRN-1", "--yes"])
    out = capsys.readouterr().out
    assert code == 0 and "2 built face(s)" in out and "2 still(s)" in out, out
    assert not built["a"].exists() and not built["a_sex"].exists() and built["b"].exists()
    assert cache.get(stills["a"]) is None and cache.get(stills["b"]) is not None


def _autosave(folder: Path, name: str, patient: str | None = None, face: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = dict(PLAN) | ({"patient": patient} if patient else {}) | ({"model": {"face": face}} if face else {})
    path = folder / name
    path.write_text(json.dumps(plan))
    return path


def test_records_patients_delete_asks_first_then_forgets_charts_stills_and_autosaves(
        db_url: str, tmp_path: Path, caches, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``injectmap records patients delete`` without ``--yes`` refuses and removes nothing; with it, the patient's
    fitted face leaves this process's kept charts (``chart_cache.kept_faces``), the built faces and the stills,
    and the app's autosaved plans that name the patient (by identifier or by face) are removed, each count
    printed; another patient's face, stills and autosave stay, and a link named like an autosave is not followed."""
    from injectmap.reports import chart_cache

    root, cache = caches
    photos, autosaves = tmp_path / "photos", tmp_path / "autosave"
    monkeypatch.setenv("INJECTMAP_AUTOSAVE_DIR", str(autosaves))
    with Records.open(db_url, user="dr.lee", photos_dir=photos, faces_dir=tmp_path / "faces") as records:
        _pid, built, stills = _setup(records, root, cache)
    a, b = facefile.face_id(FACE_A), facefile.face_id(FACE_B)
    chart_cache.clear()
    for fid in (a, b):
        chart_cache.GEOMETRY.put(("seeing", (f"default-fit-{fid[:16]}", "f" * 64), ("camera",)), (1.0, None))
    here = database_fingerprint(db_url)
    theirs = [_autosave(autosaves, f"b00000000001.{here}.json", patient="MRN-1"),
              _autosave(autosaves / ("u" + "1" * 16), "b00000000002.json", face=f"/x/{a}.face.json")]
    others = [_autosave(autosaves, f"b00000000003.{here}.json", patient="MRN-2"),
              _autosave(autosaves, "b00000000004.json", face=f"/x/{b}.face.json"),
              _autosave(autosaves, "b00000000006.json", patient="MRN-1")]  # of no known database: by face only
    outside = _autosave(tmp_path / "elsewhere", "plan.json", patient="MRN-1")
    (autosaves / "b00000000005.json").symlink_to(outside)
    argv = ["records", "--database-url", db_url, "--user", "dr.lee", "--photos-dir", str(photos), "patients", "delete",
            "MRN-1"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and "--yes" in err and out == ""  # asked first: nothing removed
    assert built["a"].exists() and cache.get(stills["a"]) is not None and all(p.exists() for p in theirs)
    assert chart_cache.kept_faces() == {f"default-fit-{a[:16]}", f"default-fit-{b[:16]}"}
    code = main([*argv, "--yes"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert "2 built face(s)" in out and "2 still(s)" in out and "removed 2 autosaved plan(s) naming the patient" in out
    assert chart_cache.kept_faces() == {f"default-fit-{b[:16]}"}
    assert not built["a"].exists() and built["b"].exists()
    assert cache.get(stills["a"]) is None and cache.get(stills["b"]) is not None
    assert not any(p.exists() for p in theirs) and all(p.exists() for p in others)
    assert outside.exists() and (autosaves / "b00000000005.json").is_symlink()
    chart_cache.clear()


def _delete(db_url: str, tmp_path: Path, identifier: str) -> list[str]:
    return ["records", "--database-url", db_url, "--user", "dr.lee", "--photos-dir", str(tmp_path / "photos"),
            "patients", "delete", identifier, "--yes"]


def test_records_patients_delete_keeps_the_autosaves_of_another_database(
        tmp_path: Path, caches, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An autosave names a patient by identifier, unique only within one database: deleting patient 1001 of a
    practice database keeps the autosaves naming the production database's 1001 (and those that record no
    database); those of the practice database naming 1001 go, and one naming a deleted face goes wherever it is."""
    autosaves = tmp_path / "autosave"
    monkeypatch.setenv("INJECTMAP_AUTOSAVE_DIR", str(autosaves))
    production, practice = f"sqlite:///{tmp_path / 'prod' / 'records.sqlite3'}", "sqlite:///practice.db"
    monkeypatch.chdir(tmp_path)
    with Records.open(practice, user="dr.lee", photos_dir=tmp_path / "photos", faces_dir=tmp_path / "faces") as rec:
        p = rec.add_patient("1001")
        rec.add_visit(p.id, D0, "initial", plan=_plan(), face_json=_face_json(FACE_A))
    prod, prac = database_fingerprint(production), database_fingerprint(practice)
    assert prod and prac and prod != prac
    assert database_fingerprint(f"sqlite:///{tmp_path / 'practice.db'}") == prac  # the same file, however named
    stay = [_autosave(autosaves, f"c00000000001.{prod}.json", patient="1001"),
            _autosave(autosaves / ("u" + "2" * 16), f"c00000000002.{prod}.json", patient="1001 Ana"),
            _autosave(autosaves, "c00000000003.json", patient="1001")]
    gone = [_autosave(autosaves, f"c00000000004.{prac}.json", patient="1001"),
            _autosave(autosaves, f"c00000000005.{prod}.json", face=f"/x/{facefile.face_id(FACE_A)}.face.json")]
    code = main(_delete(practice, tmp_path, "1001"))
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and "removed 2 autosaved plan(s) naming the patient" in out, (out, err)
    assert all(f.exists() for f in stay) and not any(f.exists() for f in gone)


def test_a_database_fingerprint_names_no_password_and_no_user() -> None:
    one = database_fingerprint("postgresql://dr.lee:secret@db.example:5432/records")
    assert one == database_fingerprint("postgresql+psycopg://other:other@db.example:5432/records")
    assert one != database_fingerprint("postgresql://dr.lee:secret@db.example:5432/practice")
    assert one is not None and len(one) == 16 and int(one, 16) >= 0
    assert database_fingerprint("sqlite://") is None and database_fingerprint("sqlite:///:memory:") is None
    assert database_fingerprint("not a url") is None


def test_records_patients_delete_keeps_the_autosave_of_a_patient_who_writes_the_same_text(
        db_url: str, tmp_path: Path, caches, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The identifier ``Lopez Ana`` without a name and the identifier ``Lopez`` named ``Ana`` write the same
    ``patient`` text in a plan: deleting the first keeps the autosave with that text (it may be the second's)."""
    autosaves = tmp_path / "autosave"
    monkeypatch.setenv("INJECTMAP_AUTOSAVE_DIR", str(autosaves))
    with Records.open(db_url, user="dr.lee", photos_dir=tmp_path / "photos", faces_dir=tmp_path / "faces") as rec:
        rec.add_patient("Lopez Ana")
        rec.add_patient("Lopez", name="Ana")
    here = database_fingerprint(db_url)
    shared = _autosave(autosaves, f"d00000000001.{here}.json", patient="Lopez Ana")
    code = main(_delete(db_url, tmp_path, "Lopez Ana"))
    out, err = capsys.readouterr()
    assert code == 0 and "removed 0 autosaved plan(s)" in out, (out, err)
    assert shared.exists()


def test_records_patients_delete_goes_on_past_an_autosave_nested_too_deeply(
        db_url: str, tmp_path: Path, caches, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An autosave of JSON nested too deeply for the parser names nobody: the deletion goes on, removes the
    autosave naming the patient and says so; one that fails past that is reported by its kind only (the files
    the records could not remove printed before), exit status 2."""
    from injectmap.viewer import session

    autosaves = tmp_path / "autosave"
    monkeypatch.setenv("INJECTMAP_AUTOSAVE_DIR", str(autosaves))
    with Records.open(db_url, user="dr.lee", photos_dir=tmp_path / "photos", faces_dir=tmp_path / "faces") as rec:
        rec.add_patient("MRN-7")
        rec.add_patient("MRN-8")
    here = database_fingerprint(db_url)
    autosaves.mkdir()
    deep = autosaves / f"e00000000001.{here}.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    theirs = _autosave(autosaves, f"e00000000002.{here}.json", patient="MRN-7")
    code = main(_delete(db_url, tmp_path, "MRN-7"))
    out, err = capsys.readouterr()
    assert code == 0 and "deleted the record" in out and "removed 1 autosaved plan(s)" in out, (out, err)
    assert deep.exists() and not theirs.exists()

    def broken(*_a: object, **_k: object) -> list[Path]:
        raise RuntimeError("/private/path MRN-8")

    monkeypatch.setattr(session, "forget_patient_autosaves", broken)
    code = main(_delete(db_url, tmp_path, "MRN-8"))
    out, err = capsys.readouterr()
    assert "deleted the record" in out and "MRN-8" not in err and "/private" not in err
    with Records.open(db_url, user="dr.lee", photos_dir=tmp_path / "photos") as rec:
        assert [p.identifier for p in rec.list_patients()] == []


def test_forget_face_refuses_what_is_not_a_face_id(caches) -> None:
    from injectmap.anatomy.model import forget_fitted_face

    for bad in ("", "*", "../../etc", "0123456789abcde*"):
        with pytest.raises(ValueError):
            forget_face(bad)
        with pytest.raises(ValueError):
            forget_fitted_face(bad)


@pytest.mark.parametrize(("given", "kept"), [
    ("front\u202egpj.exe", "frontgpj.exe"),  # right-to-left override: would show as "frontexe.jpg"
    ("a\u2066b\u2067c\u2068d\u2069.png", "abcd.png"),  # isolates
    ("\u200eleft\u200f.jpg", "left.jpg"),  # marks
    ("\u061cmark.jpg", "mark.jpg"),  # the Arabic letter mark (TR#9 lists it with the other marks)
    ("x\u202ay\u202bz\u202c.jpg", "xyz.jpg"),  # embeddings and their end
    ("c1\x85\x9b\x80.jpg", "c1.jpg"),  # C1 controls (NEL, CSI)
    ("tab\there\x00\x1b.jpg", "tabhere.jpg"),  # C0 controls
    ("Photo é 写真.jpg", "Photo é 写真.jpg"),  # letters of any script stay
])
def test_a_photo_name_drops_control_and_bidi_characters(given: str, kept: str) -> None:
    assert photo_display_name(given) == kept


def test_a_patient_added_again_from_the_command_line_is_autosaved_again(
        db_url: str, tmp_path: Path, caches, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """After ``records patients delete``, an app page still holding the patient's plan does not autosave it
    (``viewer.session.names_forgotten_patient``); ``records patients add`` with the identifier puts the patient back
    in the records, and their plans autosave again without the app having to open them."""
    from injectmap.viewer.session import names_forgotten_patient

    root, cache = caches
    autosaves = tmp_path / "autosave"
    monkeypatch.setenv("INJECTMAP_AUTOSAVE_DIR", str(autosaves))
    with Records.open(db_url, user="dr.lee", photos_dir=tmp_path / "photos", faces_dir=tmp_path / "faces") as records:
        _setup(records, root, cache)
    here = database_fingerprint(db_url)
    plan = parse_plan({**PLAN, "patient": "MRN-1"})
    assert main(_delete(db_url, tmp_path, "MRN-1")) == 0
    assert names_forgotten_patient(autosaves, plan, here) == "patient"
    assert names_forgotten_patient(autosaves, parse_plan({**PLAN, "patient": "MRN-2"}), here) is None
    add = ["records", "--database-url", db_url, "--user", "dr.lee", "patients", "add", "MRN-1"]
    assert main(add) == 0, capsys.readouterr().err
    assert "added patient MRN-1" in capsys.readouterr().out
    assert names_forgotten_patient(autosaves, plan, here) is None
