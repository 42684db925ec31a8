"""The face file: owner-only, checked on reading, the fit's command line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from injectmap.anatomy.fit import facefile


def test_a_face_file_is_written_owner_only_and_read_back(tmp_path: Path) -> None:
    face = facefile.make([("nose/nose-scale-vert-incr.target.gz", 0.3)], [{"kind": "photo", "sha256": "ab"}],
                         [0.5, 1.0, 2.0], {"iris_depth_mm": 600.0})
    path = tmp_path / "p.face.json"
    facefile.write(face, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = facefile.read(path)
    assert back.targets == face.targets and back.face_id == face.face_id
    raw = json.loads(path.read_text())
    assert raw["kind"] == "injectmap-face" and raw["version"] == 1
    assert raw["residuals_mm"]["median"] == 1.0 and "mediapipe" in raw["libraries"] or "numpy" in raw["libraries"]
    assert "population" in raw["caveat"]


def test_the_face_id_depends_on_the_targets_only() -> None:
    a = facefile.face_id([("a", 0.1), ("b", 0.2)])
    assert a == facefile.face_id([("b", 0.2), ("a", 0.1), ("c", 0.0)])
    assert a != facefile.face_id([("a", 0.1), ("b", 0.21)])


@pytest.mark.parametrize("change, message", [
    ({"kind": "x"}, "not an injectmap face"),
    ({"version": 2}, "version"),
    ({"targets": [["nose/no-such.target.gz", 0.1]]}, "unknown shape target"),
    ({"targets": [["nose/nose-scale-vert-incr.target.gz", 1.5]]}, "not from 0 to 1"),
    ({"base_mesh_sha256": "0" * 64}, "another base mesh"),
])
def test_a_bad_face_file_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    raw = {"kind": "injectmap-face", "version": 1, "targets": [["nose/nose-scale-vert-incr.target.gz", 0.2]]}
    raw.update(change)
    path = tmp_path / "bad.face.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(facefile.FaceFileError, match=message):
        facefile.read(path)
