"""Where a session's face files live and which a plan may name: an accepted face is named by its whole face
id (so deleting the patient finds it), and with logins a plan may only name a face in the login's own
folder (a plan is user input). Photos are read by one reader with one pixel limit, also for thumbnails and
the chart; the face chart command refuses a bad face file with a message, not a traceback."""

from __future__ import annotations

import io
import json
import types
from pathlib import Path

import pytest
from PIL import Image

from injectmap import cli
from injectmap.anatomy.fit.facefile import FaceFile
from injectmap.clinic.records import RecordsError
from injectmap.reports.photo_chart import PhotoChartError, read_rgb
from injectmap.reports.photo_io import MAX_PIXELS, PhotoError
from injectmap.viewer.face_photo import accept, face_path_allowed, user_faces_dir
from injectmap.viewer.patient_panel import thumbnail


@pytest.fixture
def faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    return tmp_path / "faces"


def test_an_accepted_face_is_named_by_its_whole_id_in_the_logins_folder(faces: Path) -> None:
    face = FaceFile(targets=(("nose/nose-scale-vert-incr.target.gz", 0.3),))
    path = accept(types.SimpleNamespace(face=face), "ana")  # type: ignore[arg-type]
    assert path.name == f"{face.face_id}.face.json" and len(face.face_id) == 64
    assert path.parent == user_faces_dir("ana") and faces in path.parents
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


def test_with_logins_a_plan_names_only_a_face_in_the_logins_own_folder(faces: Path, tmp_path: Path) -> None:
    own = user_faces_dir("ana") / "a.face.json"
    other = user_faces_dir("bo") / "b.face.json"
    assert face_path_allowed(own, "ana")
    assert not face_path_allowed(other, "ana")  # another login's face
    assert not face_path_allowed(user_faces_dir("ana") / ".." / other.parent.name / other.name, "ana")
    assert not face_path_allowed("/etc/passwd", "ana")  # probing the server's files
    assert not face_path_allowed(tmp_path / "x.face.json", "ana")
    # without logins (the loopback's single user) a face made by `injectmap face fit -o` anywhere is read
    assert face_path_allowed(tmp_path / "x.face.json", None)


def _huge_png() -> bytes:
    side = int(MAX_PIXELS ** 0.5) + 10
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_photo_over_the_pixel_limit_is_refused_by_every_reader(tmp_path: Path) -> None:
    data = _huge_png()
    with pytest.raises(RecordsError, match="megapixels"):
        thumbnail(data)  # the Patient card's thumbnails: refused before decoding
    path = tmp_path / "huge.png"
    path.write_bytes(data)
    with pytest.raises(PhotoError, match="megapixels"):
        read_rgb(path)  # the chart on the photo reads through the one photo reader
    assert issubclass(PhotoChartError, ValueError)


def test_face_chart_refuses_a_damaged_face_file_without_a_traceback(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "front.png"
    Image.new("RGB", (64, 64)).save(photo)
    bad = tmp_path / "bad.face.json"
    bad.write_text("{not json")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "points": []}))
    code = cli.main(["face", "chart", "--photo", str(photo), "--face", str(bad), "--plan", str(plan),
                     "-o", str(tmp_path / "chart.png")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "not JSON" in err, err
    assert not (tmp_path / "chart.png").exists()
