"""The Face card's jobs and what it keeps (issue 13's review): the upload widget lets go of the file once read;
a fit keeps the face's part of the photo, scaled down, never the photo; in a server session a session has at
most one waiting fit in the shared fit thread (a new photo replaces the waiting one, a job that became stale
before it started does nothing) and the fit's picture is drawn in that thread, not on the session's loop;
Undo after Accept goes back to the previous face and keeps the accepted face file listed (Redo returns to it,
Discard still removes it); a patient's deletion forgets the photo, its fit and a fit still running or waiting.
The fit itself is replaced by a stand-in (the real one: test_face_photo_card.py)."""

from __future__ import annotations

import dataclasses
import os
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from injectmap.anatomy.fit.facefile import FaceFile
from injectmap.anatomy.params import FaceParams
from injectmap.viewer import face_photo
from injectmap.viewer.face_panel import FacePanel
from injectmap.viewer.face_photo import CROP_SIDE, PhotoFit, face_crop, fit_executor, fit_picture
from injectmap.viewer.state import AppState

#: the real fit (the card fixture puts a fake in its place)
REAL_FIT_PHOTOS = face_photo.fit_photos


class FakeModel:
    def __init__(self, params: FaceParams) -> None:
        self.params = params

    def skin_point(self, p: Any) -> Any:
        return p


def _fake_fit(photos: list[tuple[bytes, str]], progress: Any = None, ipd_mm: float | None = None) -> PhotoFit:
    """A fit of a 3000 x 2000 front photo (the first) whose face is the box (1000..2000, 500..1500), as fit_photos
    keeps it."""
    (data, display_name), *_obliques = photos
    if progress:
        progress("Fitting the face's shape to the landmarks...")
    rng = np.random.default_rng(len(data))
    photo = rng.integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
    det = rng.uniform([1000, 500], [2000, 1500], (468, 2))
    box = face_photo._box(det, det + 2.0, face_photo.CROP_MARGIN, (3000, 2000))
    face = FaceFile(targets=(("nose/nose-scale-vert-incr.target.gz", round(0.1 + len(data) % 7 / 10, 2)),))
    return PhotoFit(display_name=display_name, crop=face_crop(photo, box), crop_box=box, photo_size=(3000, 2000),
                    detected_px=det, fitted_px=det + 2.0,
                    result=types.SimpleNamespace(residuals_mm=[np.full(468, 1.5)]), face=face)  # type: ignore[arg-type]


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FacePanel, list[FaceParams]]:
    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    monkeypatch.setattr(face_photo, "fit_photos", _fake_fit)
    loaded: list[FaceParams] = []

    def loader(p: FaceParams) -> FakeModel:
        loaded.append(p)
        return FakeModel(p)

    panel = FacePanel(AppState(snap=lambda p: p), FakeModel(FaceParams()), lambda _m: None, loader=loader, user="ana")
    return panel, loaded


def _served(panel: FacePanel) -> None:
    """As in a server session: jobs go to the fit thread, their results are handed back at once."""
    panel._served_doc = lambda: object()  # type: ignore[method-assign]
    panel._schedule = lambda _doc, cb: cb()  # type: ignore[method-assign]


def _drain() -> None:
    fit_executor().submit(lambda: None).result(timeout=60)  # one thread: every job before it has run


def test_the_upload_is_let_go_and_only_a_bounded_face_crop_is_kept(card) -> None:
    panel, _ = card
    # as the browser sends a selection of one file to the widget, which takes several
    panel.photo_input.param.update(filename=["front.jpg"], value=[b"\xff\xd8 a photo"])
    assert panel.photo_input.value is None and not panel.photo_input.filename  # the widget holds no bytes
    fit = panel.photo_fit
    assert fit is not None and fit.display_name == "front.jpg"
    assert not hasattr(fit, "photo")  # the photo itself is not kept
    assert max(fit.crop.shape[:2]) <= CROP_SIDE and fit.crop.nbytes <= CROP_SIDE * CROP_SIDE * 3
    arrays = [v for v in vars(fit).values() if isinstance(v, np.ndarray)]
    assert sum(a.nbytes for a in arrays) < 2000 * 3000 * 3 / 4  # far less than the decoded photo
    x0, y0, x1, y1 = fit.crop_box  # the face with its margin, within the photo
    assert 0 <= x0 < 1000 and 0 <= y0 < 500 and 2000 < x1 <= 3000 and 1500 < y1 <= 2000
    assert panel.photo_pane.visible and panel.photo_pane.object.startswith(b"\x89PNG")
    assert np.asarray(fit_picture(fit)).shape[2] == 3  # drawn from the crop


def test_the_measured_interpupillary_distance_goes_with_the_photo_and_a_wrong_one_is_refused(
        card, monkeypatch: pytest.MonkeyPatch) -> None:
    """The value in the card's field when the photo comes is the fit's (62.5 or 62,5); one outside the adult range is
    refused with the reason the fit gives (a text field: a number field's spinner would replace the value silently,
    and shows NaN when emptied). The open patient's distance fills the field; a fit whose size is not the field's
    says so."""
    from injectmap.anatomy.fit.photo import checked_ipd

    panel, _ = card
    given: list[float | None] = []

    def recording(photos: list[tuple[bytes, str]], progress: Any = None, ipd_mm: Any = None) -> PhotoFit:
        given.append(checked_ipd(ipd_mm))
        fit = _fake_fit(photos, progress)
        if given[-1] is not None:  # as the real fit records it
            fit = dataclasses.replace(fit, face=dataclasses.replace(
                fit.face, scale={"ipd_mm": given[-1], "iris_mm": 11.8, "iris_z": 0.2}))
        return fit

    monkeypatch.setattr(face_photo, "fit_photos", recording)
    assert panel.ipd_input.value == "" and panel.ipd_input.placeholder.startswith("e.g. 63")
    panel.start_photo_fit(b"\xff\xd8 a photo", "front.jpg")
    panel.ipd_input.value = "62,5"  # a decimal comma
    panel.start_photo_fit(b"\xff\xd8 another photo", "front.jpg")
    assert given == [None, 62.5]
    assert "Size from the patient's measured interpupillary distance, 62.5 mm" in panel.photo_status.object
    assert "not the one this fit used" not in panel.photo_status.object
    panel.ipd_input.value = "66"  # changed after the fit: the status says the fit did not use it
    assert "not the one this fit used: upload the photo again" in panel.photo_status.object
    # a patient record's distance (the Patient card's fit) is the fit's, and the field shows it
    panel.start_photos_fit([(b"\xff\xd8 a record's photo", "visit.jpg")], ipd_mm=64.0)
    assert given[-1] == 64.0 and panel.ipd_input.value == "64"
    # the next patient's record has none: that fit takes no distance, and the field no longer holds the last one
    panel.start_photos_fit([(b"\xff\xd8 another record's photo", "visit.jpg")], ipd_mm=None)
    assert given[-1] is None and panel.ipd_input.value == ""
    # a patient opened in the Patient card: an upload here takes their distance
    panel.patient_shown(7, 61.0)
    panel.start_photo_fit(b"\xff\xd8 an upload", "front.jpg")
    assert given[-1] == 61.0
    # forgotten with a deleted patient, as their photo is
    panel.forget_patient()
    assert panel.ipd_input.value == ""
    monkeypatch.setattr(face_photo, "fit_photos", REAL_FIT_PHOTOS)  # refused before the photo is read
    for typed, why in (("31.5", "31.5 mm is outside the adult range"), ("sixty", "not a number of millimetres")):
        panel.ipd_input.value = typed
        panel.start_photo_fit(b"\xff\xd8 a third photo", "front.jpg")
        text = panel.photo_status.object
        assert text.startswith("**Photo refused** (front.jpg)") and why in text, text


def test_another_patient_opened_sets_aside_the_fits_of_the_one_before(card) -> None:
    """A photo fitted while patient 1 was open is theirs: when the Patient card opens patient 2 the fit, its picture
    and Accept go (a fit made with no patient open stays: it names nobody), and a face accepted for patient 1 stops
    being the session's face."""
    panel, loaded = card
    open_id: list[int | None] = [None]
    panel.open_patient = lambda: open_id[0]
    panel.start_photo_fit(b"\xff\xd8 nobody's photo", "front.jpg")
    panel.patient_shown(1, None)  # patient 1 opened: the fit made with no patient open stays
    assert panel.photo_fit is not None and not panel.accept_button.disabled
    open_id[0] = 1
    panel.start_photo_fit(b"\xff\xd8 patient 1's photo", "front.jpg")
    panel.patient_shown(1, 64.0)  # shown again (a save, a visit): still theirs
    assert panel.photo_fit is not None and panel.photo_fit.display_name == "front.jpg"
    open_id[0] = 2
    panel.patient_shown(2, 58.0)
    assert panel.photo_fit is None and panel.accept_button.disabled and not panel.photo_pane.visible
    assert "set aside: it is not this patient's" in panel.photo_status.object
    assert panel.ipd_input.value == "58"
    # a face accepted for patient 2, then patient 3 opened: the plan loses the face at once (before the Patient card
    # gives it the next patient), and the default face comes back
    panel.start_photo_fit(b"\xff\xd8 patient 2's photo", "front.jpg")
    assert panel.accept_photo_fit() is not None and panel.current.fit_id
    assert "model" in panel.state.extra
    panel.patient_shown(3, None)
    assert "model" not in panel.state.extra
    assert not panel.current.fit_id and panel.face_file is None and loaded[-1] == FaceParams()
    assert panel.photo_fit is None and panel.ipd_input.value == ""
    # a photo fitted and accepted with no patient open is the first patient's shown after it
    open_id[0] = None
    panel.forget_patient()
    panel.start_photo_fit(b"\xff\xd8 an unnamed photo", "front.jpg")
    assert panel.accept_photo_fit() is not None
    open_id[0] = 4
    panel.patient_shown(4, None)
    assert panel.current.fit_id and panel.photo_fit is not None  # now patient 4's
    open_id[0] = 5
    panel.patient_shown(5, None)
    assert not panel.current.fit_id and panel.photo_fit is None and panel.accept_button.disabled


def test_the_distance_field_changed_keeps_a_refusal_on_show(card, monkeypatch: pytest.MonkeyPatch) -> None:
    """The note on a fit's distance follows the field only while the card shows the fit's own words."""
    panel, _ = card
    panel.start_photo_fit(b"\xff\xd8 a photo", "front.jpg")
    panel._refused("next.jpg", "no face was found")
    panel.ipd_input.value = "63"
    assert panel.photo_status.object.startswith("**Photo refused** (next.jpg)")


def test_a_session_has_one_waiting_fit_and_a_stale_job_does_nothing(card, monkeypatch: pytest.MonkeyPatch) -> None:
    panel, _ = card
    _served(panel)
    fitted: list[str] = []

    def counting(photos: list[tuple[bytes, str]], progress: Any = None, ipd_mm: float | None = None) -> PhotoFit:
        fitted.append(photos[0][1])
        return _fake_fit(photos, progress)

    monkeypatch.setattr(face_photo, "fit_photos", counting)
    gate = threading.Event()
    fit_executor().submit(gate.wait, 60)  # the fit thread is busy (another session's fit)
    try:
        for i in range(5):
            panel.start_photo_fit(b"photo %d" % i, f"p{i}.jpg")
        queued = fit_executor()._work_queue.qsize()  # noqa: SLF001 - the queue is what must stay bounded
        assert queued == 1  # one waiting entry for the session, which runs the newest photo
    finally:
        gate.set()
    _drain()
    assert fitted == ["p4.jpg"]  # only the last photo was fitted
    assert panel.photo_fit is not None and panel.photo_fit.display_name == "p4.jpg" and not panel.photo_busy

    gate = threading.Event()
    fit_executor().submit(gate.wait, 60)
    try:
        panel.start_photo_fit(b"late", "late.jpg")  # waiting...
        panel.discard_photo()  # ...and discarded before it starts: it must not fit, nor show, anything
    finally:
        gate.set()
    _drain()
    assert fitted == ["p4.jpg"] and panel.photo_fit is None and not panel.photo_busy


def test_the_fits_picture_is_drawn_in_the_fit_thread(card, monkeypatch: pytest.MonkeyPatch) -> None:
    panel, _ = card
    _served(panel)
    threads: list[str] = []
    real = face_photo.fit_picture

    def recording(fit: PhotoFit, side: int = face_photo.PREVIEW_SIDE) -> np.ndarray:
        threads.append(threading.current_thread().name)
        return real(fit, side)

    monkeypatch.setattr(face_photo, "fit_picture", recording)
    statuses: list[str] = []
    panel.photo_status.param.watch(lambda e: statuses.append(e.new), "object")
    panel.start_photo_fit(b"photo", "front.jpg")
    _drain()
    assert threads and all(t.startswith("injectmap-photo-fit") for t in threads), threads
    assert any("Drawing the fit's picture" in s for s in statuses)  # the stage is shown
    assert panel.photo_pane.visible and panel.photo_pane.object.startswith(b"\x89PNG")


def test_undo_after_accept_goes_back_and_keeps_the_face_file_listed(card) -> None:
    panel, loaded = card
    state = panel.state
    panel.start_photo_fit(b"photo", "front.jpg")
    path = panel.accept_photo_fit()
    assert path is not None and path.exists() and panel.current.fit_id
    assert state.undo()
    assert loaded[-1] == FaceParams() and not panel.current.fit_id  # the previous face is back
    assert path.exists() and panel.accepted_files == [path]  # the accepted face is kept, still the card's
    assert not panel.discard_button.disabled and not panel.accept_button.disabled
    assert "kept" in panel.kept_note.object and panel.kept_note.visible
    assert state.redo()  # Redo returns to the accepted face from its file
    assert panel.current.fit_id == panel.photo_fit.face.face_id and panel.face_file == path
    assert not panel.kept_note.visible
    assert state.undo()
    panel.discard_photo()  # Discard removes the accepted file though the session no longer shows its face
    assert not path.exists() and panel.accepted_files == [] and panel.discard_button.disabled


def test_a_scan_does_not_wait_for_the_photo_fits(card, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3D scan's fit (minutes on a loaded machine) runs in a thread of its own: one user's scan never holds up
    another's photo, and a busy photo thread does not hold up a scan."""
    from injectmap.anatomy.scan.loading import ScanError
    from injectmap.viewer import face_scan

    panel, _ = card
    _served(panel)
    names: list[str] = []
    scan_thread: list[str] = []

    def fake_scan(data: bytes, name: str, units: str = "auto", progress: Any = None) -> Any:
        scan_thread.append(threading.current_thread().name)
        names.append(name)
        raise ScanError("not a face (a stand-in)")

    monkeypatch.setattr(face_scan, "fit_scan_bytes", fake_scan)
    gate = threading.Event()
    fit_executor("photo").submit(gate.wait, 60)  # the photo thread is busy with another session's fit
    try:
        panel.start_scan_fit(b"a scan", "face.ply")
        fit_executor("scan").submit(lambda: None).result(timeout=60)
        assert names == ["face.ply"] and scan_thread[0].startswith("injectmap-scan-fit")  # ran meanwhile
        assert "not a face" in panel.scan_status.object
    finally:
        gate.set()
    _drain()


def test_a_deleted_patients_photo_fit_is_forgotten_and_accept_then_writes_nothing(card) -> None:
    """The Patient card deletes a record: the Face card forgets the photo, its fit and the face waiting for Accept
    (it cannot tell whose an upload is), its widgets are empty again, and Accept says there is nothing to accept."""
    panel, loaded = card
    faces = Path(os.environ["INJECTMAP_FACES_DIR"])
    panel.start_photo_fit(b"photo", "front.jpg")
    assert panel.photo_fit is not None and not panel.accept_button.disabled and panel.photo_pane.visible
    assert panel.forget_patient(()) is True
    assert panel.photo_fit is None and panel.scan_fit is None and not panel.photo_busy
    assert panel.accept_button.disabled and panel.discard_button.disabled and not panel.photo_pane.visible
    assert not panel.photo_caveat.visible and not panel.chart_pane.visible
    assert "forgotten with the deleted patient's record" in panel.photo_status.object
    assert panel.accept_photo_fit() is None and panel.accept_scan_fit() is None
    assert "Nothing to accept" in panel.photo_status.object and "Nothing to accept" in panel.scan_status.object
    assert not faces.exists() or not any(faces.rglob("*.face.json"))  # no face file written
    assert loaded == [] and not panel.current.fit_id  # the face never switched
    assert panel.forget_patient(()) is False  # nothing held: nothing said


def _held_photo_fit(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[str]]:
    """The photo fit replaced by one that says it started, then waits to be released: (started, release, the
    names fitted)."""
    started, release = threading.Event(), threading.Event()
    fitted: list[str] = []

    def slow(photos: list[tuple[bytes, str]], progress: Any = None, ipd_mm: float | None = None) -> PhotoFit:
        fitted.append(photos[0][1])
        started.set()
        assert release.wait(60)
        return _fake_fit(photos, progress)

    monkeypatch.setattr(face_photo, "fit_photos", slow)
    return started, release, fitted


def test_a_fit_running_or_waiting_when_the_patient_is_deleted_never_lands(card, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit in the fit thread when the record is deleted comes back to a card that moved on: its result is
    dropped (no fit, no picture, Accept has nothing); one still waiting never runs."""
    panel, _ = card
    _served(panel)
    started, release, fitted = _held_photo_fit(monkeypatch)
    panel.start_photo_fit(b"photo", "running.jpg")
    assert started.wait(60) and panel.photo_busy
    panel.start_photo_fit(b"another", "waiting.jpg")  # waits behind the running one
    panel.forget_patient(("0" * 64,))
    release.set()
    _drain()
    _drain()
    assert fitted == ["running.jpg"]  # the waiting one never ran
    assert panel.photo_fit is None and not panel.photo_busy and not panel.photo_pane.visible
    assert "forgotten with the deleted patient's record" in panel.photo_status.object
    assert panel.accept_photo_fit() is None and panel.accept_button.disabled


def test_a_deleted_patients_accepted_face_files_leave_the_cards_lists(card) -> None:
    """An accepted face the records removed with the patient is no longer listed (Discard has nothing of it to
    remove); another accepted face stays the card's."""
    panel, _ = card
    panel.start_photo_fit(b"photo", "front.jpg")
    theirs = panel.accept_photo_fit()
    assert theirs is not None
    other = theirs.with_name("f" * 64 + ".face.json")
    panel.accepted_files.append(other)
    panel.forget_patient((theirs.name.split(".")[0],))
    assert panel.accepted_files == [other]


def test_a_single_photo_fit_running_when_the_patient_is_deleted_never_lands(card, monkeypatch: pytest.MonkeyPatch) -> None:
    """The only fit of the card, running in the fit thread when the record is deleted (nothing waits behind it to
    move the token on): the forget alone drops its result."""
    panel, _ = card
    _served(panel)
    started, release, _fitted = _held_photo_fit(monkeypatch)
    panel.start_photo_fit(b"photo", "running.jpg")
    assert started.wait(60) and panel.photo_busy
    panel.forget_patient(())
    release.set()
    _drain()
    _drain()
    assert panel.photo_fit is None and not panel.photo_busy and not panel.photo_pane.visible
    assert "forgotten with the deleted patient's record" in panel.photo_status.object
    assert panel.accept_photo_fit() is None and panel.accept_button.disabled


def test_a_scan_fit_running_when_the_patient_is_deleted_never_lands(card, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan's fit running in the scan thread when the record is deleted: what it returns is dropped (the card
    still says the scan was forgotten, not what became of the fit)."""
    from injectmap.anatomy.scan.loading import ScanError
    from injectmap.viewer import face_scan

    panel, _ = card
    _served(panel)
    started, release = threading.Event(), threading.Event()

    def slow_scan(data: bytes, name: str, units: str = "auto", progress: Any = None) -> Any:
        started.set()
        assert release.wait(60)
        raise ScanError("not a face (a stand-in)")

    monkeypatch.setattr(face_scan, "fit_scan_bytes", slow_scan)
    panel.start_scan_fit(b"a scan", "face.ply")
    assert started.wait(60) and panel.scan_busy
    panel.forget_patient(())
    release.set()
    fit_executor("scan").submit(lambda: None).result(timeout=60)
    assert not panel.scan_busy and panel.scan_fit is None
    assert "forgotten with the deleted patient's record" in panel.scan_status.object
    assert "refused" not in panel.scan_status.object


def test_a_chart_waiting_when_the_patient_is_deleted_is_dropped_before_the_cache_forgets(
        card, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the kept charts of the deleted photo's face are forgotten, no chart job of the card is waiting any
    more and a running one is already stale (its token moved on): none can keep the deleted photo again."""
    from injectmap.reports import chart_cache

    panel, _ = card
    panel.start_photo_fit(b"photo", "front.jpg")
    assert panel.photo_fit is not None
    _served(panel)
    drawn: list[int] = []
    monkeypatch.setattr(panel, "_chart_inputs", lambda: ("fit", "camera", ()) if panel.photo_fit is not None else None)
    monkeypatch.setattr(panel, "_draw_chart", lambda *_a: (drawn.append(1), (b"", "note"))[1])
    gate = threading.Event()
    fit_executor("photo").submit(gate.wait, 60)  # the fit thread is busy: the chart job waits
    seen: list[tuple[int, bool]] = []
    try:
        panel.refresh_chart()
        token = panel._chart_token
        assert "chart" in panel._next_job
        monkeypatch.setattr(chart_cache, "forget_face",
                            lambda _fid: seen.append((panel._chart_token, "chart" in panel._next_job)) or 0)
        panel.forget_patient(())
    finally:
        gate.set()
    _drain()
    assert seen and seen[0][0] > token and seen[0][1] is False  # stale and dropped before the cache forgot
    assert drawn == []


def test_a_deleted_patients_accepted_face_is_no_longer_the_cards_face_file(card) -> None:
    """The face the session shows, accepted from the photo, was removed with the record: the card no longer names
    it (Discard is not offered for a file that is gone)."""
    panel, _ = card
    panel.start_photo_fit(b"photo", "front.jpg")
    theirs = panel.accept_photo_fit()
    assert theirs is not None and panel.face_file == theirs
    panel.forget_patient((theirs.name.split(".")[0],))
    assert panel.face_file is None and panel.discard_button.disabled


def test_the_status_line_says_the_face_loaded_in_plain_words(card) -> None:
    """The app's status line (plain text: its pane escapes it) says which face is shown once it is: it showed the
    card's Markdown loading line, asterisks and all, long after the face had come."""
    panel, _ = card
    panel.busy = True  # as while a served session's face loads
    panel._switch(FakeModel(FaceParams(sex=1.0)), FaceParams(sex=1.0), write_plan=False)
    assert panel.state.message == "Face: sex 1." and "*" not in panel.state.message
    panel.busy = False
    assert panel.status.object == "Face: **sex 1**."
    panel._switch(FakeModel(FaceParams()), FaceParams(), write_plan=False)
    assert panel.state.message == "Face: default (average)."
