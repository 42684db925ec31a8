"""A deleted patient's fitted face leaves every place the app kept it: the face files (test_visit_faces.py),
the face cache's built faces of it (``<sliders>-fit-<id>``, one per slider setting) and the stills rendered
on it, from ``Records.delete_patient`` and from ``injectmap records patients delete``; a face another
patient keeps, the default face and other faces' stills stay. A photo's kept name drops control and
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
