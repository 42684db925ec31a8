"""The Patient card's photos and the fitted face of a visit, without a browser (no served document: each
database call runs at once): thumbnails with their EXIF orientation, names shown as text, unreadable
files refused, deletion after a confirmation, the photo handed to the Face card's fit (a fake), and a plan's
fitted face saved with the visit and written back to the user's faces folder when the visit is opened."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from injectmap.anatomy.fit import facefile
from injectmap.clinic.config import user_faces_dir
from injectmap.clinic.records import Records
from injectmap.planning.protocols import protocol_plan
from injectmap.viewer.patient_panel import thumbnail

EVIL = "<img src=x onerror=alert(1)>.png"


def jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    im = Image.new("RGB", (width, height), (200, 150, 120))
    buf = io.BytesIO()
    if orientation is None:
        im.save(buf, format="JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def size(png_bytes: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png_bytes)) as im:
        assert im.format == "PNG" and not im.getexif()
        return im.size


def test_thumbnails_follow_the_exif_orientation_and_carry_no_metadata() -> None:
    assert size(thumbnail(jpeg(400, 200))) == (96, 48)
    assert size(thumbnail(jpeg(400, 200, orientation=6))) == (48, 96)  # held upright: portrait
    assert size(thumbnail(jpeg(400, 200, orientation=3))) == (96, 48)
    assert size(thumbnail(png(30, 60))) == (30, 60)  # never enlarged


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, face_model: Any):
    monkeypatch.setenv("INJECTMAP_DATABASE_URL", f"sqlite:///{tmp_path / 'records' / 'records.sqlite3'}")
    monkeypatch.setenv("INJECTMAP_PHOTOS_DIR", str(tmp_path / "photos"))
    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    asked: list[Any] = []

    def load_model(params: Any = None, **_kw: Any) -> Any:  # the face the app asks for, not built here
        asked.append(params)
        return face_model

    monkeypatch.setattr("injectmap.anatomy.model.load_model", load_model)
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    layout.faces_asked = asked
    return layout


def test_photos_of_a_visit_in_the_card(app: Any, tmp_path: Path) -> None:
    card, state = app.app_patient, app.app_state
    card.identifier.value = "MRN-5"
    card.new_patient()
    card.photo_upload.filename, card.photo_upload.value = "front.jpg", jpeg(400, 200)
    assert "Open or add a visit first" in card.status.object and list((tmp_path / "photos").glob("*")) == []
    state.load_plan(protocol_plan("glabella_five_point"))
    card.kind.value, card.date.value = "initial", "2026-05-04"
    card.new_visit()
    assert card.visit is not None, card.status.object
    card.photo_upload.filename, card.photo_upload.value = "front.jpg", jpeg(400, 200, orientation=6)
    card.photo_upload.filename, card.photo_upload.value = EVIL, png(50, 40)
    assert [i.photo.display_name for i in card.photo_items] == ["front.jpg", EVIL], card.status.object
    assert size(card.photo_items[0].png) == (48, 96)
    names = [r.objects[1].objects[0].object for r in card.photo_list.objects]
    assert "<img" not in names[1] and "&lt;img src=x onerror=alert\\(1\\)&gt;.png" in names[1]
    assert "photo(s) of visit 2026-05-04 initial" in card.photo_note.object.replace("\\", "")
    # not an image although it starts like a JPEG: refused, nothing kept
    card.photo_upload.filename, card.photo_upload.value = "broken.jpg", bytes.fromhex("ffd8ffe0") + b"junk" * 50
    assert "cannot be read as an image" in card.status.object and len(card.photo_items) == 2
    card.photo_upload.filename, card.photo_upload.value = "notes.gif", b"GIF89a" + b"\0" * 40
    assert "image/jpeg or image/png" in card.status.object and len(list((tmp_path / "photos").iterdir())) == 2
    # the app hands a visit's photo to its Face card: each photo has the fit button, and the photo goes there
    labels = [b.label for r in card.photo_list.objects for b in r.objects[1].objects if hasattr(b, "label")]
    assert labels.count("Fit face from this photo") == 2, labels
    fits: list[list[tuple[bytes, str]]] = []
    sizes: list[float | None] = []  # the measured interpupillary distance given with each fit

    def fit_photos(photos: list[tuple[bytes, str]], ipd_mm: float | None) -> None:
        fits.append(photos)
        sizes.append(ipd_mm)

    card.on_fit_photos = fit_photos
    card.ask_delete(None)
    fit = card.photo_list.objects[1].objects[1].objects[2]
    assert fit.label == "Fit face from this photo"
    fit.clicks += 1
    assert fits == [[(png(50, 40), EVIL)]] and "The Face card fits the face to" in card.status.object
    assert sizes == [None] and "interpupillary" not in card.status.object  # none in the record yet
    # ticked "Fit together": the front photo and its obliques go to the Face card in one fit
    together = card.fit_together
    assert together.visible and together.disabled and "Tick the front photo" in together.label
    picks = [r.objects[1].objects[3] for r in card.photo_list.objects]
    assert [p.label for p in picks] == ["Fit together"] * 2
    picks[0].value = True
    assert together.disabled
    picks[1].value = True
    assert not together.disabled and together.label == "Fit face from the 2 ticked photos"
    # the patient's measured interpupillary distance, typed in the Photos tab: kept in the record at once (a value
    # outside the adult range refused, the record's shown again), then given with the photos
    assert not card.ipd.disabled and card.ipd.value == ""
    card.ipd.value = "62,50"  # a decimal comma: kept as the number, shown as stored
    assert "Saved: the measured interpupillary distance is 62.5 mm" in card.status.object, card.status.object
    assert card.ipd.value == "62.5"
    card.ipd.value = "31"
    assert "Not done: an interpupillary distance of 31 mm is outside the adult range" in card.status.object
    assert card.ipd.value == "62.5"
    from injectmap.viewer.patient_panel import open_records

    assert open_records(card.user).find_patient("MRN-5").ipd_mm == 62.5
    assert app.app_face.ipd_input.value == "62.5"  # the Face card's field shows the open patient's
    # a value the fit would refuse, typed and the fit clicked at once: no fit, the reason said
    n = len(fits)
    card._showing_ipd = True  # as if the field's change had not reached the save yet
    card.ipd.value = "31,5"
    card._showing_ipd = False
    together.clicks += 1
    assert len(fits) == n and "Not done: an interpupillary distance of 31.5 mm" in card.status.object
    card._show_ipd(62.5, enabled=True)
    together.clicks += 1
    assert fits[-1] == [(jpeg(400, 200, orientation=6), "front.jpg"), (png(50, 40), EVIL)] and sizes[-1] == 62.5
    assert "fits the face to front.jpg, " in card.status.object
    assert ("its size from the patient's measured interpupillary distance (62.5 mm)"
            in card.status.object.replace("\\", ""))  # plain() escapes the brackets for Markdown
    # delete: asked first, then gone with its file, and the charts kept in memory (of whichever photo) with it
    from injectmap.reports import chart_cache

    chart_cache.IMAGES.put("a chart on a photo", ((1, 1), b"\0\0\0"))
    first = card.photo_items[0].photo
    card.photo_list.objects[0].objects[1].objects[1].clicks += 1
    assert card._confirm_delete == first.id and first.path.exists()
    confirm = card.photo_list.objects[0].objects[1].objects[2].objects[0]
    assert confirm.label == "Yes, delete"
    confirm.clicks += 1
    assert [i.photo.display_name for i in card.photo_items] == [EVIL] and not first.path.exists()
    assert "Deleted the photo front.jpg" in card.status.object
    assert chart_cache.info()["images"] == 0
    assert card._together == {card.photo_items[0].photo.id} and not card.fit_together.visible  # one photo left
    # another patient, added with no measured distance: neither card keeps the last patient's
    card.identifier.value = "MRN-6"
    card.new_patient()
    assert "Added MRN-6" in card.status.object
    assert card.ipd.value == "" and app.app_face.ipd_input.value == "" and card.new_ipd.value == ""
    # opened again, the first patient's distance comes back from the record, into both fields
    card.open(open_records(card.user).find_patient("MRN-5").id)
    assert card.ipd.value == "62.5" and app.app_face.ipd_input.value == "62.5"


def test_a_fitted_face_comes_back_with_the_visit(app: Any, tmp_path: Path) -> None:
    from injectmap.anatomy.fit.basis import face_basis

    card, state = app.app_patient, app.app_state
    names = face_basis().names
    face = facefile.make([(names[10], 0.4), (names[20], 0.25)], [], [1.0, 2.0], {})
    made = tmp_path / "made-elsewhere" / "ana.face.json"
    made.parent.mkdir()
    facefile.write(face, made)
    card.identifier.value = "MRN-6"
    card.new_patient()
    plan = protocol_plan("glabella_five_point")
    plan["model"] = {"face": str(made)}
    state.load_plan(plan)
    card.kind.value, card.date.value = "initial", "2026-05-04"
    card.new_visit()
    assert card.visit is not None and card.visit.face_id == face.face_id, card.status.object
    with Records.open(user="local", faces_dir=tmp_path / "faces") as rec:
        assert json.loads(rec.face_text(card.visit.id, face.face_id)) == json.loads(made.read_text())
    made.unlink()  # the face file the plan was made with is gone; the visit still has it
    vid = card.visit.id
    card.identifier.value = "MRN-7"
    card.new_patient()
    state.load_plan(protocol_plan("glabella_five_point"))
    card.identifier.value = ""
    card.search.value = "MRN-6"
    card.list_patients()
    card.open(next(iter(card.patients.options.values())))
    card.open_visit_id(vid)
    back = Path(state.extra["model"]["face"])
    assert back.parent == user_faces_dir(tmp_path / "faces", "local") and back.name == f"{face.face_id}.face.json"
    assert back.stat().st_mode & 0o777 == 0o600 and back.parent.stat().st_mode & 0o777 == 0o700
    assert facefile.read(back).face_id == face.face_id
    assert any(getattr(p, "fit_id", "") == face.face_id for p in app.faces_asked)  # the app asked for that face


@pytest.mark.variants
@pytest.mark.xdist_group("photofit")
def test_a_visits_front_photo_and_its_oblique_are_fitted_together(app: Any) -> None:
    """Ticked "Fit together", a visit's oblique (added first) and front photo go to the Face card as one fit: the
    front one found by the card, the oblique posed against it (synthetic patient 2, turned 40 degrees)."""
    pytest.importorskip("mediapipe")
    from injectmap.anatomy.fit.synthetic import make_patient

    def as_jpeg(rgb: Any) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
        return buf.getvalue()

    card, face = app.app_patient, app.app_face
    card.identifier.value = "MRN-9"
    card.new_patient()
    card.kind.value, card.date.value = "initial", "2026-05-04"
    card.new_visit()
    for name, shot in (("left45.jpg", make_patient(2, yaw_deg=40.0)), ("front.jpg", make_patient(2))):
        card.photo_upload.filename, card.photo_upload.value = name, as_jpeg(shot.image)
    assert [i.photo.display_name for i in card.photo_items] == ["left45.jpg", "front.jpg"], card.status.object
    for row in card.photo_list.objects:
        row.objects[1].objects[3].value = True
    card.fit_together.clicks += 1
    fit = face.photo_fit
    assert fit is not None, face.photo_status.object
    assert fit.display_name == "front.jpg" and fit.obliques == ("left45.jpg",)
    assert [s["role"] for s in fit.face.sources] == ["front", "oblique"]
    assert "checked on the oblique **left45.jpg**" in face.photo_status.object
