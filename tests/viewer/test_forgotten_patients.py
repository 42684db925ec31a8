"""The deleted patients written down for the open sessions (``viewer.session``): hashes only, by database for a
patient's text and in any for a face, struck out when the patient or the face is back, gone after 30 days."""

from __future__ import annotations

import os
import time
from pathlib import Path

from injectmap.planning.plan import parse_plan
from injectmap.planning.protocols import protocol_plan
from injectmap.viewer.session import (
    AUTOSAVE_MAX_AGE_DAYS,
    FORGOTTEN_FILE,
    names_forgotten_patient,
    remember_forgotten,
    unforget,
)


def _plan(**fields: object):
    return parse_plan({**protocol_plan("glabella_five_point"), **fields})


def test_a_deleted_patient_is_known_by_text_in_their_database_and_by_face_in_any(tmp_path: Path) -> None:
    remember_forgotten(tmp_path, ["MRN-7 Ana"], ["abc.face.json"], database="db1")
    f = tmp_path / FORGOTTEN_FILE
    assert f.stat().st_mode & 0o777 == 0o600 and b"MRN-7" not in f.read_bytes() and b"abc" not in f.read_bytes()
    assert names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), "db1")
    assert names_forgotten_patient(tmp_path, _plan(patient=" MRN-7 Ana "), "db1")
    assert not names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), "db2")  # another database's MRN-7
    assert not names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), None)
    assert not names_forgotten_patient(tmp_path, _plan(patient="MRN-8"), "db1")
    assert not names_forgotten_patient(tmp_path, _plan(), "db1")
    on_face = _plan(model={"face": "/home/x/faces/abc.face.json"})
    assert names_forgotten_patient(tmp_path, on_face, "db2") == names_forgotten_patient(tmp_path, on_face, None) == "face"
    assert names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), "db1") == "patient"
    # the face accepted again, the patient back in the records: their plans autosave again
    unforget(tmp_path, faces=["abc.face.json"])
    assert not names_forgotten_patient(tmp_path, on_face, None)
    assert names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), "db1")
    unforget(tmp_path, ["MRN-7 Ana"], database="db2")  # another database's: not this one
    assert names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), "db1")
    unforget(tmp_path, ["MRN-7 Ana"], database="db1")
    assert not names_forgotten_patient(tmp_path, _plan(patient="MRN-7 Ana"), "db1")


def test_entries_end_with_the_autosaves_age(tmp_path: Path) -> None:
    remember_forgotten(tmp_path, [], ["old.face.json"], database=None)
    f = tmp_path / FORGOTTEN_FILE
    old = time.time() - AUTOSAVE_MAX_AGE_DAYS * 86400.0 - 60
    f.write_text("".join(f"{old:.0f} {line.split()[1]}\n" for line in f.read_text().splitlines()))
    os.chmod(f, 0o600)
    assert not names_forgotten_patient(tmp_path, _plan(model={"face": "old.face.json"}), None)
    remember_forgotten(tmp_path, [], ["new.face.json"], database=None)
    assert len(f.read_text().splitlines()) == 1  # the old entry dropped when the file is written again
    assert names_forgotten_patient(tmp_path, _plan(model={"face": "new.face.json"}), None)
