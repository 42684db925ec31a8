"""The Patient card without a browser: its pure logic, and a whole course of treatment driven through the
card's own methods on a SQLite file (no served document: each database call runs at once)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from injectmap.clinic.config import database_fingerprint
from injectmap.clinic.records import Records
from injectmap.planning.plan import parse_plan
from injectmap.planning.protocols import protocol_plan
from injectmap.reports.chart import ChartContext, visit_session
from injectmap.viewer.patient_panel import (
    chart_fields,
    course_visits,
    dilution_text,
    history_summary,
    patient_label,
    side_effects,
    visit_label,
)

DAY0 = dt.date(2026, 5, 4)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'records' / 'records.sqlite3'}"
    monkeypatch.setenv("INJECTMAP_DATABASE_URL", url)
    monkeypatch.setenv("INJECTMAP_PHOTOS_DIR", str(tmp_path / "photos"))
    monkeypatch.setenv("INJECTMAP_AUTOSAVE_DIR", str(tmp_path / "autosave"))  # never the home folder's
    return url


def test_labels_fields_and_side_effects(db: str) -> None:
    with Records.open(db, user="dr.lee") as rec:
        p = rec.add_patient("MRN-7", name="Ana <b>M.</b>")
        plan = parse_plan(protocol_plan("glabella_five_point"))
        v = rec.add_visit(p.id, DAY0, "initial", lot="L-9", lot_expiry=dt.date(2027, 1, 31), dilution_ml=2.0,
                          notes="light", plan=plan)
        assert patient_label(p) == "MRN-7 (Ana <b>M.</b>)"  # plain text: escaped where it is shown
        assert visit_label(v) == f"2026-05-04 initial #{v.id}, plan"
        assert dilution_text(v) == "2 mL saline per 100 U vial"
        assert chart_fields(v) == {"clinician": "dr.lee", "visit_date": "2026-05-04", "session": "initial",
                                   "lot": "L-9", "expiry": "2027-01-31", "dilution": "2 mL saline per 100 U vial",
                                   "notes": "light"}
        records = course_visits(rec.visits_with_plans(p.id))
        # a first visit postponed to the day its plan had declared for the touch-up is the first visit on its handout
        late = {**protocol_plan("glabella_five_point"), "sessions": [{"id": "touch_up", "date": "2026-05-18"}]}
        late["points"] = [*late["points"], {**late["points"][0], "id": "t1", "units": 2, "session": "touch_up"}]
        moved = rec.add_visit(p.id, DAY0 + dt.timedelta(days=14), "initial", plan=parse_plan(late))
        fields = chart_fields(moved)
        ctx = ChartContext(visit_date=fields["visit_date"], session=fields["session"])
        assert visit_session(parse_plan(late), ctx) == "initial"
        assert visit_session(parse_plan(late), replace(ctx, session="")) == "touch_up"  # by the date alone
        review = rec.add_visit(p.id, DAY0 + dt.timedelta(days=14), "review")
        touch_up = rec.add_visit(p.id, DAY0 + dt.timedelta(days=16), "touch_up", completes_visit_id=v.id)
        assert (chart_fields(review)["session"], chart_fields(touch_up)["session"]) == ("", "touch_up")
    assert [r.kind for r in records] == ["initial"] and records[0].plan is not None
    from injectmap.clinic.course import dose_history

    assert history_summary(dose_history(records)) == "- 2026-05-04 initial: 20 U"
    assert side_effects(" brow ptosis; headache,, ") == ["brow ptosis", "headache"]


def test_a_course_of_treatment_through_the_card(db: str, face_model) -> None:
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state, report, scene = layout.app_patient, layout.app_state, None, layout.app_scene.scene
    report = card.report
    card.identifier.value, card.name_input.value = "MRN-1042", "Ana <img src=x onerror=alert(1)>"
    card.new_patient()
    assert card.view is not None and "&lt;img" in card.current.object and "<img" not in card.current.object
    assert state.extra["patient"] == "MRN-1042 Ana <img src=x onerror=alert(1)>"
    # the initial visit keeps the plan on screen: the forehead and glabella template
    state.load_plan(protocol_plan("forehead_lines_with_glabella"))
    card.kind.value, card.date.value, card.lot.value = "initial", DAY0.isoformat(), "C1234"
    card.expiry.value, card.dilution.value, card.visit_notes.value = "2027-03-31", "2", "first treatment"
    card.new_visit()
    assert card.visit is not None and card.visit.kind == "initial" and card.visit.has_plan, card.status.object
    initial = card.visit
    assert (report.lot.value, report.expiry.value, report.visit_date.value) == ("C1234", "2027-03-31", "2026-05-04")
    assert report.session.value == "initial" and report.context().session == "initial"  # what the visit is
    assert report.dilution.value == "2 mL saline per 100 U vial" and report.clinician.value == "local"
    assert report.notes.value == "first treatment"
    assert state.product["diluent_ml"] == 2.0  # the plan's mL follow the visit's dilution
    assert state.extra["patient"].startswith("MRN-1042")
    assert scene.previous_actor is None or not scene.previous_actor.GetVisibility()  # nothing before it
    # the two-week review: the initial treatment drawn faintly, never picked
    card.kind.value, card.date.value, card.lot.value, card.expiry.value = "review", "2026-05-18", "", ""
    card.new_visit()
    assert card.visit is not None and card.visit.kind == "review"
    assert scene.previous_actor is not None and scene.previous_actor.GetVisibility()
    assert not scene.previous_actor.GetPickable()
    tips = np.asarray(scene.previous_actor.mapper.GetInput().points)
    entries = [r.entry_mm for r in layout.app_analyst.results.values()]  # the initial plan is still on screen
    assert len(entries) == 10
    for e in entries:  # each needle of the last visit reaches its skin entry
        assert np.linalg.norm(tips - np.asarray(e), axis=1).min() < 0.5
    card.show_previous.value = False
    assert not scene.previous_actor.GetVisibility()
    card.show_previous.value = True
    assert scene.previous_actor.GetVisibility()
    card.area.value, card.side.value, card.movement.value, card.effects.value = "glabella", "right", 0, "bruise <b>"
    card.record_outcome()
    card.area.value, card.side.value, card.movement.value, card.effects.value = "forehead", "left", 2, ""
    card.record_outcome()
    assert len(card.outcomes) == 2 and "bruise &lt;b&gt;" in card.outcome_text.object
    card.propose_touch_up()
    assert card.proposal is not None and not card.proposal.empty, card.status.object
    assert "3-month maximum" in card.proposal_pane.object and "| forehead |" in card.proposal_pane.object
    assert [p["id"] for p in state.points] == [p.id for p in card.proposal.plan.points]
    assert state.plan_source() == "the touch-up proposal"  # the chart's "Plan:" line
    assert not card.save_touch_up.disabled
    card.save_as_touch_up()
    assert card.visit is not None and card.visit.kind == "touch_up", card.status.object
    assert card.visit.completes_visit_id == initial.id and card.visit.date == dt.date(2026, 5, 18)
    assert report.context().session == "touch_up"
    text = card.history_text.object
    assert "2026\\-05\\-04 initial" not in text  # dashes are not escaped
    assert "2026-05-04 initial: 40 U" in text and "2026-05-18 review: no injection" in text
    assert "2026-05-18 touch-up" in text
    assert card.history.object is not None and bytes(card.history.object)[:4] == b"\x89PNG"
    # saving the plan to a review is refused with a reason, and a wrong date is said, not raised
    card.open_visit_id(initial.id)
    assert state.plan_source() == "the initial visit of 2026-05-04"
    card.open_visit_id(card.visits.options[next(k for k in card.visits.options if "review" in k)])
    card.save_plan_to_visit()
    assert "review records outcomes" in card.status.object
    card.date.value, card.kind.value = "18/05/2026", "initial"
    card.new_visit()
    assert "YYYY\\-MM\\-DD" in card.status.object or "YYYY-MM-DD" in card.status.object
    # the list and search of patients
    card.search.value = "1042"
    card.list_patients()
    assert list(card.patients.options.values()) == [card.view.patient.id]


def test_undo_never_reaches_past_a_patients_opening(db: str, face_model) -> None:
    """Opening a patient starts the plan's undo history again: an Undo then never brings back the plan (its points,
    its name) of the patient open before, nor takes the open patient's name off the plan."""
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value, card.name_input.value = "MRN-1", "First"
    card.new_patient()
    first = card.view.patient.id
    named = state.extra["patient"]
    state.load_plan(dict(protocol_plan("forehead_lines_with_glabella"), patient=named))  # patient 1's plan, edited
    state.load_plan(dict(protocol_plan("lateral_canthal_three_point"), patient=named))
    assert state.can_undo and state.extra["patient"].startswith("MRN-1")
    card.identifier.value, card.name_input.value = "MRN-2", "Second"
    card.new_patient()
    assert state.extra["patient"].startswith("MRN-2") and "set aside" in state.message
    assert state.points == []  # patient 1's points are not patient 2's plan
    assert not state.can_undo and not state.can_redo and state.undo() is False
    assert state.extra["patient"].startswith("MRN-2")
    # patient 2's own edits undo as before, down to the plan they were opened with, and no further
    opened_with = state.plan_dict()
    state.load_plan(dict(protocol_plan("masseter_three_point"), patient=opened_with["patient"]))
    assert state.undo() and state.plan_dict() == opened_with and state.undo() is False
    # patient 1 opened again from the list: their plan set aside comes back, with no history to undo either
    card.open(first)
    assert state.extra["patient"].startswith("MRN-1") and not state.can_undo and state.undo() is False
    assert [p["id"] for p in state.points] == [p["id"] for p in protocol_plan("lateral_canthal_three_point")["points"]]
    assert "is back" in state.message


def test_delete_labels_and_what_was_deleted(db: str) -> None:
    from injectmap.clinic.records import DeleteResult
    from injectmap.viewer.patient_panel import delete_label, deleted_text

    with Records.open(db, user="dr.lee") as rec:
        p = rec.add_patient("MRN-7", name="Ana <b>M.</b>")
        long = rec.add_patient("MRN-8", name="A" * 150)
    assert delete_label(p) == "Yes, delete MRN-7 (Ana <b>M.</b>) and all visits, photos and faces"  # a button's text
    assert delete_label(long) == f"Yes, delete MRN-8 ({'A' * 40}\u2026 and all visits, photos and faces"
    res = DeleteResult(patient_id=p.id, visits=2, outcomes=1, photos=3, files_left=("/x/1.jpg",), faces=1,
                       face_files=1, face_ids=("ab" * 32,), built_faces=1, stills=4)
    text = deleted_text(patient_label(p), res, autosaves=2)
    assert text.startswith("Deleted MRN-7 (Ana <b>M.</b>): 2 visit(s), 1 outcome(s), 3 photo(s) and 1 face(s) "
                           "(1 face file(s), 1 built face(s), 4 still(s) and 2 of your autosaved plan(s) removed).")
    # other logins' autosaves: said, never counted (whether a colleague had the patient open is theirs)
    assert "2 of your autosaved plan(s) removed, and autosaved plans of other logins)." in deleted_text(
        patient_label(p), res, autosaves=2, others=True)
    assert "1 file(s) could not be removed" in text and "/x/" not in text  # no path: it is the server's


def test_deleting_a_patient_through_the_card(db: str, face_model, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Delete asks first (Cancel keeps the record), then the whole record goes: the visits, the photo and its
    file, the fitted face and its copy; the card has no patient open, the list no longer shows them, and the plan
    on screen, the faint last visit, the Report card and the Face card (a photo fit waiting for Accept) no longer
    carry them."""
    import io

    from PIL import Image

    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.fit.basis import face_basis

    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    monkeypatch.setattr("injectmap.anatomy.model.load_model", lambda params=None, **_kw: face_model)  # never built
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state, scene, report = layout.app_patient, layout.app_state, layout.app_scene.scene, layout.app_patient.report
    card.delete_patient.clicks += 1
    assert "Open or add a patient first" in card.status.object and card.delete_box.objects == [card.delete_patient]
    card.identifier.value, card.name_input.value = "MRN-KEEP", ""
    card.new_patient()
    card.identifier.value, card.name_input.value = "MRN-DEL", "Ana <img src=x onerror=alert(1)>"
    card.new_patient()
    pid = card.view.patient.id
    # an initial visit on the patient's fitted face, with a photo; then the review draws it faintly
    names = face_basis().names
    face = facefile.make([(names[10], 0.4)], [], [1.0], {})
    made = tmp_path / "made" / "ana.face.json"
    made.parent.mkdir()
    facefile.write(face, made)
    plan = protocol_plan("glabella_five_point")
    plan["model"] = {"face": str(made)}
    state.load_plan(plan)
    card.kind.value, card.date.value, card.lot.value = "initial", DAY0.isoformat(), "C-1"
    card.new_visit()
    assert card.visit is not None and card.visit.face_id == face.face_id, card.status.object
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 150, 120)).save(buf, format="JPEG")
    card.photo_upload.filename, card.photo_upload.value = "front.jpg", buf.getvalue()
    assert len(card.photo_items) == 1 and card.photo_items[0].photo.path.exists(), card.status.object
    photo = card.photo_items[0].photo.path
    card.open_visit_id(card.visit.id)  # the face is written back into the user's faces folder
    back = Path(state.extra["model"]["face"])
    assert back.exists() and back.name == f"{face.face_id}.face.json"
    card.kind.value, card.date.value = "review", "2026-05-18"
    card.new_visit()
    assert scene.previous_actor is not None and scene.previous_actor.GetVisibility()
    assert report.lot.value == "" and state.extra["patient"].startswith("MRN-DEL")
    report.lot.value, report._pdf["report"], report.report_download.visible = "C-1", b"%PDF-", True
    # asked first, naming the patient as text; Cancel keeps everything
    card.delete_patient.clicks += 1
    question, yes, no = card.delete_box.objects
    assert "&lt;img src=x" in question.object and "<img" not in question.object
    assert yes.label == "Yes, delete MRN-DEL (Ana <img src=x onerror=alert(1)>) and all visits, photos and faces"
    no.clicks += 1
    assert card.delete_box.objects == [card.delete_patient] and card.view is not None
    with Records.open(db, user="local") as rec:
        assert len(rec.visits(pid)) == 2
    # a confirmation is for the patient it names: opening another withdraws it
    card.delete_patient.clicks += 1
    card.open(next(p.id for p in open_records_list(db) if p.identifier == "MRN-KEEP"))
    assert card.delete_box.objects == [card.delete_patient]
    card.open(pid)
    card.open_visit_id(max(v.id for v in card.view.visits))  # the review: the initial visit drawn faintly
    assert scene.previous_actor.GetVisibility()
    card.search.value, card.visit_notes.value = "MRN", "wants a natural brow"
    from injectmap.reports import chart_cache

    chart_cache.IMAGES.put("a chart on the patient's photo", ((1, 1), b"\0\0\0"))
    face_card = layout.app_face  # a photo of theirs fitted in the Face card, waiting for Accept
    face_card.photo_fit = SimpleNamespace(face=SimpleNamespace(face_id="0123456789abcdef" * 4))
    card.delete_patient.clicks += 1
    yes = card.delete_box.objects[1]
    yes.clicks += 1
    assert chart_cache.info()["images"] == 0  # the charts kept in memory go with the photos
    status = card.status.object
    yes.clicks += 1  # a second click on the answered question's button deletes nothing more, says nothing new
    assert card.status.object == status
    status = card.status.object  # escaped Markdown: the name shows as text
    assert "<img" not in status and status.replace("\\", "").startswith(
        "Deleted MRN-DEL (Ana &lt;img src=x onerror=alert(1)&gt;): 2 visit(s), 0 outcome(s), 1 photo(s) and 1 face(s) "
        "(1 face file(s)"), status
    assert [p.identifier for p in open_records_list(db)] == ["MRN-KEEP"]
    assert not photo.exists() and not back.exists() and made.exists()  # a face file made elsewhere is not the records'
    assert card.view is None and card.visit is None and card.photo_items == [] and card.visits.options == {}
    assert list(card.patients.options.values()) == [p.id for p in open_records_list(db)]
    assert card.current.object == "No patient open." and card.history.object is None
    assert card.identifier.value == card.name_input.value == card.visit_notes.value == ""  # the forms forget them
    assert card.lot.value == "C-1"  # the vial's, not the patient's
    assert "patient" not in state.extra and "model" not in state.extra and not state.can_undo
    assert state.points == []  # their plan went with them: the next patient opened does not adopt it
    assert not scene.previous_actor.GetVisibility()
    assert report.lot.value == "" and not report.report_download.visible and report._pdf == {}
    assert card.delete_box.objects == [card.delete_patient] and card.tabs.active == 0
    assert not layout.app_face.current.fit_id  # the default face is back: the fitted one went with the patient
    assert face_card.photo_fit is None and face_card.accept_button.disabled  # the Face card forgot the photo fit
    assert "forgotten with the deleted patient's record" in face_card.photo_status.object
    assert face_card.accept_photo_fit() is None and "Nothing to accept" in face_card.photo_status.object
    card.delete_patient.clicks += 1
    assert "Open or add a patient first" in card.status.object


def open_records_list(db: str) -> list:
    with Records.open(db, user="local") as rec:
        return rec.list_patients()


def _autosave(folder: Path, name: str, **fields: object) -> Path:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({**protocol_plan("glabella_five_point"), **fields}))
    path.chmod(0o600)
    return path


def test_deleting_a_patient_forgets_their_kept_charts_stills_and_autosaves(db: str, face_model, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a patient through the card removes their fitted face from the charts kept in memory
    (``chart_cache.kept_faces``), its stills and the autosaved plans that name them (their identifier with or
    without their name, or their face), in the autosave folder and a login's subfolder; another patient's face,
    stills and autosave stay, and this session's own autosave is written again without the patient."""
    import json

    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.reports import chart_cache
    from injectmap.reports.stills_cache import StillsCache, still_key

    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    monkeypatch.setenv("INJECTMAP_STILLS_CACHE_DIR", str(tmp_path / "stills"))
    monkeypatch.setattr("injectmap.anatomy.model.load_model", lambda params=None, **_kw: face_model)  # never built
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    names = face_basis().names
    faces = {}
    for who, (identifier, name) in {"keep": ("MRN-KEEP", ""), "del": ("MRN-DEL", "Ana")}.items():
        card.identifier.value, card.name_input.value = identifier, name
        card.new_patient()
        face = facefile.make([(names[10 + len(faces)], 0.4)], [], [1.0], {})
        made = tmp_path / "made" / f"{who}.face.json"
        made.parent.mkdir(exist_ok=True)
        facefile.write(face, made)
        plan = protocol_plan("glabella_five_point")
        plan["model"] = {"face": str(made)}
        state.load_plan(plan)
        card.kind.value, card.date.value = "initial", DAY0.isoformat()
        card.new_visit()
        assert card.visit is not None and card.visit.face_id == face.face_id, card.status.object
        faces[who] = face.face_id
    chart_cache.clear()
    stills = StillsCache(tmp_path / "stills", 1e9)
    kept_stills = {}
    for who, fid in faces.items():
        chart_cache.GEOMETRY.put(("seeing", (f"default-fit-{fid[:16]}", "f" * 64), ("camera",)), (1.0, None))
        key = still_key("{}", f"default-fit-{fid[:16]}:abc", "frown", 0, (420, 480), 1.0, np.zeros((3, 3)))
        assert stills.put(key, b"\x89PNG\r\n\x1a\n" + b"x" * 10 + b"IEND\xaeB`\x82")
        kept_stills[who] = key
    assert chart_cache.kept_faces() == {f"default-fit-{faces['keep'][:16]}", f"default-fit-{faces['del'][:16]}"}
    folder = tmp_path / "autosave"
    login = folder / ("u" + "0" * 16)
    here, there = database_fingerprint(db), "f" * 16
    gone = [_autosave(folder, f"a00000000001.{here}.json", patient="MRN-DEL Ana"),
            _autosave(login, f"a00000000002.{here}.json", patient="MRN-DEL"),
            _autosave(folder, f"a00000000003.{there}.json", model={"face": f"/elsewhere/{faces['del']}.face.json"})]
    stay = [_autosave(folder, f"a00000000004.{here}.json", patient="MRN-KEEP"),
            _autosave(folder, f"a00000000005.{here}.json", patient="MRN-DEL Anastasia"),  # another text: not theirs
            _autosave(folder, f"a00000000006.{there}.json", patient="MRN-DEL Ana"),  # another database's MRN-DEL
            _autosave(folder, "a00000000007.json", patient="MRN-DEL"),  # of no known database: by face only
            _autosave(folder, "not-an-autosave.json", patient="MRN-DEL Ana")]  # not a session's autosave
    own = layout.app_files.autosave_path
    assert own.name.endswith(f".{here}.json")  # a session's autosave records its records database
    assert own.exists() and json.loads(own.read_text())["patient"] == "MRN-DEL Ana"
    card.delete_patient.clicks += 1
    card.delete_box.objects[1].clicks += 1
    status = card.status.object.replace("\\", "")  # the login's own (and our own), the other login's not counted
    assert "3 of your autosaved plan(s) removed, and autosaved plans of other logins)." in status, status
    assert chart_cache.kept_faces() == {f"default-fit-{faces['keep'][:16]}"}
    assert stills.get(kept_stills["del"]) is None and stills.get(kept_stills["keep"]) is not None
    assert not any(p.exists() for p in gone) and all(p.exists() for p in stay)
    assert own.exists() and "patient" not in json.loads(own.read_text())  # written again, without them


def _two_patients(card, first: tuple[str, str], second: tuple[str, str]) -> int:
    for identifier, name in (second, first):
        card.identifier.value, card.name_input.value = identifier, name
        card.new_patient()
    assert card.view is not None and card.view.patient.identifier == first[0], card.status.object
    return card.view.patient.id


def _delete_open_patient(card) -> None:
    card.delete_patient.clicks += 1
    card.delete_box.objects[1].clicks += 1


def test_the_card_keeps_an_autosave_whose_text_a_remaining_patient_also_writes(db: str, face_model) -> None:
    """The identifier ``Lopez Ana`` without a name and the identifier ``Lopez`` named ``Ana`` write the same
    ``patient`` text: deleting the first keeps the autosave with that text (it may be the second's)."""
    from injectmap.viewer.app import create_app
    from injectmap.viewer.file_panel import autosave_dir

    layout = create_app(face_model)
    card = layout.app_patient
    _two_patients(card, ("Lopez Ana", ""), ("Lopez", "Ana"))
    shared = _autosave(autosave_dir(), f"b00000000001.{database_fingerprint(db)}.json", patient="Lopez Ana")
    _delete_open_patient(card)
    assert card.status.object.replace("\\", "").startswith("Deleted Lopez Ana:"), card.status.object
    assert shared.exists() and [p.identifier for p in open_records_list(db)] == ["Lopez"]


def test_the_card_finishes_a_deletion_past_an_autosave_nested_too_deeply_or_a_failing_step(
        db: str, face_model, monkeypatch: pytest.MonkeyPatch) -> None:
    """An autosave of JSON nested too deeply names nobody and stops nothing; a failure of the autosave step or of
    the Face card's forget after the record is deleted is logged by its kind only: the card says what was
    deleted (never stuck on "Working") and can be used again."""
    from injectmap.viewer import session
    from injectmap.viewer.app import create_app
    from injectmap.viewer.file_panel import autosave_dir

    layout = create_app(face_model)
    card = layout.app_patient
    _two_patients(card, ("MRN-A", ""), ("MRN-B", ""))
    here = database_fingerprint(db)
    folder = autosave_dir()
    folder.mkdir(parents=True, exist_ok=True)
    deep = folder / f"c00000000001.{here}.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    theirs = _autosave(folder, f"c00000000002.{here}.json", patient="MRN-A")
    _delete_open_patient(card)
    assert card.status.object.replace("\\", "").startswith("Deleted MRN-A:"), card.status.object
    assert "2 of your autosaved plan(s) removed" in card.status.object.replace("\\", "")  # and this session's
    assert deep.exists() and not theirs.exists()

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError(f"{folder} MRN-B")

    monkeypatch.setattr(session, "forget_patient_autosaves", broken)
    card.on_patient_deleted = broken
    card.open(next(p.id for p in open_records_list(db) if p.identifier == "MRN-B"))
    # a handler of its own on the card's logger (caplog's root handler misses it once a library run
    # earlier in the same process has reconfigured logging)
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    logger = logging.getLogger("injectmap.viewer")
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logging.root.manager, "disable", 0)
    keep = Keep(level=logging.WARNING)
    logger.addHandler(keep)
    try:
        _delete_open_patient(card)
    finally:
        logger.removeHandler(keep)
    assert card.status.object.replace("\\", "").startswith("Deleted MRN-B:"), card.status.object
    assert open_records_list(db) == [] and card.view is None
    assert all(not b.disabled for b in card._buttons)  # usable again
    logged = " ".join(r.getMessage() for r in got)
    assert "RuntimeError" in logged and "MRN-B" not in logged and str(folder) not in logged
    card.identifier.value, card.name_input.value = "MRN-C", ""
    card.new_patient()
    assert card.view is not None and card.view.patient.identifier == "MRN-C", card.status.object


def test_a_deleted_patients_autosave_is_no_longer_offered_for_restore(db: str, face_model,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A page opened while the login's last autosave names a patient offers it for restore; the patient deleted
    there, the autosave goes and so does the offer: the login's latest autosave left is offered instead. A
    page still offering an autosave removed elsewhere says it is gone when Restore is pressed, and offers
    nothing it cannot restore."""
    import json
    import os

    monkeypatch.setattr("injectmap.anatomy.model.load_model", lambda params=None, **_kw: face_model)  # never built
    from injectmap.viewer.app import create_app

    first = create_app(face_model)
    card = first.app_patient
    card.identifier.value, card.name_input.value = "MRN-KEEP", ""
    card.new_patient()
    card.identifier.value, card.name_input.value = "MRN-DEL", "Ana"
    card.new_patient()
    pid = card.view.patient.id
    folder, here = first.app_files.autosave_path.parent, database_fingerprint(db)
    for p in folder.glob("*.json"):
        p.unlink()  # only the two below
    keep = _autosave(folder, f"a00000000001.{here}.json", patient="MRN-KEEP")
    theirs = _autosave(folder, f"a00000000002.{here}.json", patient="MRN-DEL Ana")
    hour_ago = keep.stat().st_mtime - 3600
    os.utime(keep, (hour_ago, hour_ago))  # the older one (an old one would be pruned)
    second, third = create_app(face_model), create_app(face_model)  # two more pages of the same login
    for page in (second, third):
        assert page.app_files.restore_from == theirs and page.app_files.restore_offer.visible
    second.app_patient.open(pid)
    _delete_open_patient(second.app_patient)
    assert not theirs.exists() and keep.exists()
    files = second.app_files
    assert files.restore_from == keep and files.restore_offer.visible  # the latest left, offered in its place
    assert "5 points" in files.restore_note.object
    third.app_files.restore_last()  # the page that still offered the removed one
    assert third.app_state.message == "Not restored: that autosave is no longer there."
    latest = third.app_files.restore_from  # the latest left: the second page's own, written again without them
    assert latest == second.app_files.autosave_path
    written = json.loads(latest.read_text())
    assert "patient" not in written and written["points"] == []  # their plan went with them
    keep.unlink()  # pruned, say: the offer goes, and nothing else is left to offer
    files.recheck_restore()
    assert not files.restore_offer.visible and files.restore_from is None  # nothing left to offer


def test_a_page_still_open_on_a_deleted_patient_does_not_autosave_them_again(db: str, face_model,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Another page of the clinic still shows the deleted patient's plan: its next change is not written back to
    an autosave (the deletion is written down as hashes in the autosave folder, no identifier), and says so;
    the page's next plan without them autosaves as before."""
    import json

    monkeypatch.setattr("injectmap.anatomy.model.load_model", lambda params=None, **_kw: face_model)  # never built
    from injectmap.viewer.app import create_app
    from injectmap.viewer.session import FORGOTTEN_FILE

    first = create_app(face_model)
    card = first.app_patient
    card.identifier.value, card.name_input.value = "MRN-GONE", "Ana"
    card.new_patient()
    pid = card.view.patient.id
    state, mine = first.app_state, first.app_files.autosave_path
    state.load_plan(protocol_plan("glabella_five_point") | {"patient": "MRN-GONE Ana"})
    assert json.loads(mine.read_text())["patient"] == "MRN-GONE Ana"
    second = create_app(face_model)
    second.app_patient.open(pid)
    _delete_open_patient(second.app_patient)
    assert not mine.exists()
    forgotten = first.app_files.autosave_root / FORGOTTEN_FILE
    assert forgotten.stat().st_mode & 0o077 == 0 and b"MRN-GONE" not in forgotten.read_bytes()
    # the first page still holds their plan: a change there is not autosaved
    pid0 = state.points[0]["id"]
    state.update_point(pid0, units=state.points[0]["units"] + 1)
    assert not mine.exists()
    assert first.app_files.status.object == "Not autosaved: this plan names a patient whose record was deleted."
    # a plan without them autosaves again
    state.load_plan(protocol_plan("glabella_five_point"))
    assert mine.exists() and "patient" not in json.loads(mine.read_text())
    # and a patient created anew with that identifier is in the records: their plan autosaves
    card.identifier.value, card.name_input.value = "MRN-GONE", "Ana"
    card.new_patient()
    assert json.loads(mine.read_text())["patient"] == "MRN-GONE Ana"
    state.update_point(pid0, units=state.points[0]["units"] + 1)
    assert json.loads(mine.read_text())["points"][0]["units"] == state.points[0]["units"]


def test_the_faces_accepted_for_the_patient_and_not_yet_saved_go_with_their_record(db: str, face_model, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Photo fits accepted on the Face card while the patient is open, their visit not saved yet, are the patient's
    faces (the one on screen and one it replaced): deleting the patient removes their files from the faces folder
    and their built faces from the cache, and the default face comes back. A face accepted while no patient was
    open, or while another was, stays the card's (whose it is, nothing says: Discard removes it)."""
    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.fit.basis import face_basis

    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    monkeypatch.setenv("INJECTMAP_CACHE_DIR", str(tmp_path / "meshes"))
    monkeypatch.setattr("injectmap.anatomy.model.load_model", lambda params=None, **_kw: face_model)  # never built
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, face_card, state = layout.app_patient, layout.app_face, layout.app_state
    names = face_basis().names

    def accept(weight: float) -> tuple[Path, Path]:
        face = facefile.make([(names[10], weight)], [], [1.0], {})
        face_card.photo_fit = SimpleNamespace(face=face, display_name="front.jpg")
        path = face_card.accept_photo_fit()
        assert path is not None and path.exists(), face_card.photo_status.object
        built = tmp_path / "meshes" / f"default-fit-{face.face_id[:16]}"
        built.mkdir(parents=True)
        (built / "manifest.json").write_text("{}")
        return path, built

    nobodys = accept(0.2)  # no patient open
    card.identifier.value, card.name_input.value = "MRN-OTHER", ""
    card.new_patient()
    others = accept(0.25)
    card.identifier.value, card.name_input.value = "MRN-NEW", "Ana"
    card.new_patient()
    theirs = [accept(0.3), accept(0.4)]  # the first replaced by the second, on screen
    assert state.extra["model"]["face"] == str(theirs[1][0]) and state.extra["patient"].startswith("MRN-NEW")
    _delete_open_patient(card)
    status = card.status.object.replace("\\", "")  # no visit holds them: the files and the built faces were removed
    assert status.startswith("Deleted MRN-NEW (Ana): 0 visit(s), 0 outcome(s), 0 photo(s) and 0 face(s) (2 face file(s), "
                             "2 built face(s)"), status
    assert not any(p.exists() or b.exists() for p, b in theirs)
    assert "model" not in state.extra and not face_card.current.fit_id  # the default face again
    assert all(p.exists() and b.exists() for p, b in (nobodys, others))
    assert face_card.accepted_files == [nobodys[0], others[0]]


class _HeldDoc:
    """A served page's document as the card sees it: a finished call's result waits for the event loop."""

    def __init__(self) -> None:
        self.pending: list = []

    def add_next_tick_callback(self, cb) -> None:
        self.pending.append(cb)

    def run(self) -> None:
        while self.pending:
            self.pending.pop(0)()


def test_a_tab_the_user_clicks_while_a_call_runs_stays_shown(db: str, face_model,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A review visit opens on the Review tab, unless the user chose another tab while it was being opened:
    the result, arriving after the click, must not take them away from it."""
    from injectmap.viewer import patient_panel
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card = layout.app_patient
    card.identifier.value = "MRN-77"
    card.new_patient()
    assert card.tabs.active == 1  # a patient opens on Visits
    for kind, date in (("initial", "2026-05-04"), ("review", "2026-05-18")):
        card.kind.value, card.date.value = kind, date
        card.new_visit()
    review = max(v.id for v in card.view.visits)
    card.tabs.active = 1
    doc = _HeldDoc()
    monkeypatch.setattr(card, "_doc", doc)
    monkeypatch.setattr(patient_panel, "records_executor",
                        lambda: SimpleNamespace(submit=lambda fn, *a, **k: fn(*a, **k)))
    card.open_visit_id(review)  # not clicked meanwhile: the review opens on Review
    assert card.tabs.active == 1 and doc.pending
    doc.run()
    assert card.visit is not None and card.visit.kind == "review" and card.tabs.active == 2
    card.tabs.active = 1
    card.open_visit_id(review)
    card.tabs.active = 4  # Photos, clicked before the result arrives
    doc.run()
    assert card.visit.kind == "review" and card.tabs.active == 4, card.status.object
    assert card.status.object.startswith("Opened visit")


def _visits_in(db: str, identifier: str) -> list:
    from injectmap.clinic.records import Records

    with Records.open(db, user="local") as rec:
        return rec.visits(rec.find_patient(identifier).id)


def test_another_patient_opened_takes_nothing_of_the_one_before(db: str, face_model) -> None:
    """Found by a clinician-style test of the app: with patient A open, adding patient B left A's points on screen
    under B's name (a visit added next saved them into B's record), A's consent and notes in the visit form (B's
    visit recorded a consent never given), and A's visit details and made chart in the Report card. Now B gets an
    empty plan (A's is set aside and back when A is opened again), the form's consent and notes start again (the
    vial's product, lot, expiry and dilution stay: one vial may serve several patients), and the Report card
    forgets A's visit."""
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state, report = layout.app_patient, layout.app_state, layout.app_patient.report
    card.identifier.value = "MRN-A"
    card.new_patient()
    a_plan = [p["id"] for p in state.points]  # the demo plan, adopted by the first patient opened
    assert a_plan and state.extra["patient"] == "MRN-A"
    card.kind.value, card.date.value, card.lot.value, card.dilution.value = "initial", "2026-05-04", "C1234", "2,5"
    card.consent.value, card.visit_notes.value = True, "A: anxious"
    card.new_visit()
    assert card.visit is not None and card.visit.consent and card.visit.dilution_ml == 2.5, card.status.object
    assert (card.consent.value, card.visit_notes.value, card.lot.value) == (False, "", "C1234")  # the visit's own go
    assert report.visit_date.value == "2026-05-04" and report.notes.value == "A: anxious"
    card.consent.value, card.visit_notes.value, card.date.value = True, "typed for A, never saved", "2026-05-11"
    card.identifier.value = "MRN-B"
    card.name_input.value, card.birth.value = "Bo", "1990-01-02"
    card.new_patient()
    assert card.identifier.value == card.name_input.value == card.birth.value == ""  # the form held B
    assert state.extra["patient"] == "MRN-B Bo" and state.points == [] and not state.can_undo
    assert (card.consent.value, card.visit_notes.value, card.kind.value) == (False, "", "initial")
    assert card.date.value == dt.date.today().isoformat() and card.lot.value == "C1234"
    assert report.visit_date.value == report.notes.value == report.lot.value == ""
    assert not report.report_download.visible and not report.handout_download.visible
    card.open(next(p.id for p in open_records_list(db) if p.identifier == "MRN-A"))
    assert [p["id"] for p in state.points] == a_plan and state.extra["patient"] == "MRN-A"
    assert [v.kind for v in _visits_in(db, "MRN-B")] == []
    card.open(next(p.id for p in open_records_list(db) if p.identifier == "MRN-B"))
    assert state.points == [] and state.extra["patient"] == "MRN-B Bo"


def test_a_refused_dilution_leaves_the_plan_as_it_was(db: str, face_model) -> None:
    """A dilution the plan refuses (or not a number) stops the visit before the plan on screen changes: the number
    field it replaced showed 0 for -1 or 100 and sent 0, which became the plan's diluent, so the Report was refused
    until an Undo."""
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value = "MRN-D"
    card.new_patient()
    before = dict(state.product)
    for typed, said in (("100", "between 0.5 and 10, got 100"), ("-1", "not a number of mL"),
                        ("0,05", "between 0.5 and 10, got 0.05"),
                        ("2.5.1", "not a number of mL")):
        card.dilution.value = typed
        card.new_visit()
        assert card.visit is None and "Not done" in card.status.object and said in card.status.object, typed
        assert state.product == before
    card.date.value = "2026-02-30"
    card.dilution.value = ""
    card.new_visit()
    assert "the visit date 2026-02-30 is not a day of the calendar" in card.status.object


def test_one_visit_per_click_and_the_touch_up_saved_only_from_its_proposal(db: str, face_model,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A double click on Add visit or on Save as touch-up visit added two visits (the second click reached the
    server before the first call ended); and after an Undo past the touch-up proposal, Save as touch-up saved the
    initial plan as the touch-up. Now a click that arrives while its button is disabled does nothing, and the
    touch-up is saved only while the plan on screen is the proposal or an edit of it (a Redo brings it back)."""
    from injectmap.viewer import patient_panel
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value = "MRN-T"
    card.new_patient()
    doc = _HeldDoc()
    monkeypatch.setattr(card, "_doc", doc)
    monkeypatch.setattr(patient_panel, "records_executor",
                        lambda: SimpleNamespace(submit=lambda fn, *a, **k: fn(*a, **k)))
    card.kind.value, card.date.value = "initial", "2026-05-04"
    card.add_visit.clicks += 1
    card.add_visit.clicks += 1  # the second click of a double click, before the first call's result is back
    doc.run()
    assert [v.kind for v in _visits_in(db, "MRN-T")] == ["initial"]
    card.kind.value, card.date.value = "review", "2026-05-18"
    card.add_visit.clicks += 1
    doc.run()
    card.area.value, card.side.value, card.movement.value = "glabella", "midline", 2
    card.record.clicks += 1
    doc.run()
    card.propose.clicks += 1
    doc.run()
    assert card.proposal is not None and not card.proposal.empty and not card.save_touch_up.disabled
    proposed = state.plan_dict()
    state.update_point(proposed["points"][0]["id"], units=1.0)  # an edit of the proposal: still it
    assert not card.save_touch_up.disabled
    state.undo()
    state.undo()  # past the proposal: the initial plan is back
    assert card.save_touch_up.disabled
    card.save_as_touch_up()
    assert "no longer the touch-up proposal" in card.status.object
    state.redo()
    assert not card.save_touch_up.disabled
    card.save_touch_up.clicks += 1
    card.save_touch_up.clicks += 1
    doc.run()
    visits = _visits_in(db, "MRN-T")
    assert sorted(v.kind for v in visits) == ["initial", "review", "touch_up"], card.status.object
    assert card.save_touch_up.disabled  # saved: the proposal is done


def test_a_plan_naming_another_patient_is_never_saved_into_this_ones_record(db: str, face_model) -> None:
    """A plan opened from a file or restored from an autosave that names another patient, with this patient open, is
    not relabelled (opening a review visit did that) nor saved into this patient's visits; opening the patient again
    gives them their own plan. In training the card opens no patient and saves no plan (the planning plan set aside
    for training would come back under whoever was opened meanwhile)."""
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value = "MRN-A"
    card.new_patient()
    a = card.view.patient.id
    state.load_plan(dict(protocol_plan("glabella_five_point"), patient="MRN-X"))  # a file naming another patient
    card.kind.value, card.date.value = "initial", "2026-05-04"
    card.new_visit()
    assert card.visit is None and "names another patient" in card.status.object
    assert _visits_in(db, "MRN-A") == []
    card.kind.value = "review"
    card.new_visit()  # a review saves no plan, and the plan is not relabelled
    assert card.visit is not None and state.extra["patient"] == "MRN-X" and "names another patient" in state.message
    card.open(a)  # their own plan: empty (the file's plan is where it came from, not kept)
    assert state.extra["patient"] == "MRN-A" and state.points == []
    assert state.message == "The plan on screen was not this patient's; this patient's plan is empty."
    state.mode = "training"
    card.identifier.value = "MRN-B"
    for action in (card.new_patient, lambda: card.open(a), card.new_visit, card.save_plan_to_visit):
        action()
        assert "Leave training first" in card.status.object
    assert card.view.patient.id == a and [p.identifier for p in open_records_list(db)] == ["MRN-A"]
    state.mode = "depth planning"


def test_plans_set_aside_by_the_records_id_and_a_deleted_patients_plan_goes(db: str, face_model) -> None:
    """Two patients the plan names alike ("Lopez Ana" as an identifier, and "Lopez" named Ana) each get their own
    plan back; a deleted patient's plan on screen goes with their record (the next patient opened adopted it)."""
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value = "Lopez Ana"
    card.new_patient()
    one = card.view.patient.id
    state.load_plan(dict(protocol_plan("glabella_five_point"), patient=state.extra["patient"]))
    card.identifier.value, card.name_input.value = "Lopez", "Ana"
    card.new_patient()
    two = card.view.patient.id
    assert state.extra["patient"] == "Lopez Ana" and state.points == []  # the same text, another patient
    state.load_plan(dict(protocol_plan("masseter_three_point"), patient="Lopez Ana"))
    card.open(one)
    assert [p["id"] for p in state.points] == [p["id"] for p in protocol_plan("glabella_five_point")["points"]]
    card.open(two)
    assert [p["id"] for p in state.points] == [p["id"] for p in protocol_plan("masseter_three_point")["points"]]
    card.delete_patient.clicks += 1
    card.delete_box.objects[1].clicks += 1
    assert card.view is None and state.points == [] and "patient" not in state.extra
    card.open(one)
    assert [p["id"] for p in state.points] == [p["id"] for p in protocol_plan("glabella_five_point")["points"]]


def test_an_empty_proposal_after_one_never_brings_back_the_earlier_ones_save(db: str, face_model) -> None:
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value = "MRN-E"
    card.new_patient()
    for kind, date in (("initial", "2026-05-04"), ("review", "2026-05-18")):
        card.kind.value, card.date.value = kind, date
        card.new_visit()
    card.area.value, card.side.value, card.movement.value = "glabella", "midline", 2
    card.record_outcome()
    card.propose_touch_up()
    assert card.proposal is not None and not card.proposal.empty and not card.save_touch_up.disabled
    card.movement.value = 0  # nothing left to treat: the next proposal is empty
    card.record_outcome()
    state.undo()  # back to the plan before the first proposal, then forward to it again
    card.propose_touch_up()
    assert card.proposal is not None and card.proposal.empty and card.save_touch_up.disabled
    state.redo()
    assert card.save_touch_up.disabled
    card.save_as_touch_up()
    assert "touch_up" not in [v.kind for v in _visits_in(db, "MRN-E")]


def _patient_in(db: str, identifier: str):
    from injectmap.clinic.records import Records

    with Records.open(db, user="local") as rec:
        p = rec.find_patient(identifier)
        return p, rec.audit(p.id)


def test_correcting_the_open_patients_name_and_date_of_birth(db: str, face_model, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Found by a clinician: a patient's name and date of birth could be corrected on the command line only. The
    Patient card corrects the open patient's: kept and audited as ``injectmap records patients update`` does (the
    fields named, never their values), shown escaped in the card and the list of patients, and the plan on screen
    (its Undo history too, and its origin kept), hence the chart and the handout, names them as corrected; a chart
    made before, printing the old name, is withdrawn. Nothing changed: nothing audited, and the card says so."""
    import subprocess

    from injectmap.cli import main
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state, report = layout.app_patient, layout.app_state, layout.app_patient.report
    card.identifier.value, card.name_input.value, card.birth.value = "MRN-C", "Ana Lopes", "1980-05-01"
    card.new_patient()
    assert (card.fix_name.value, card.fix_birth.value) == ("Ana Lopes", "1980-05-01")  # the record's, to correct
    assert not card.fix_name.disabled and not card.fix_birth.disabled
    card.search.value = "MRN-C"
    card.list_patients()
    assert list(card.patients.options) == ["MRN-C (Ana Lopes), 0 visit(s)"]
    assert state.extra["patient"] == "MRN-C Ana Lopes"  # the demo plan, adopted
    first = state.point_ids()[0]
    state.update_point(first, units=6.0)  # an edit: Undo brings the plan before it back
    origin = state.origin
    report.make(handout=True)  # made before the correction: it prints the old name
    assert report.handout_download.visible, report.status.object
    name = "Ana <b>Lopez</b>"
    card.fix_name.value, card.fix_birth.value = f"  {name} ", "1980-06-01"
    card.correct.clicks += 1
    status = card.status.object
    assert status == "Corrected the name and the date of birth of MRN-C \\(Ana &lt;b&gt;Lopez&lt;/b&gt;\\).", status
    assert "&lt;b&gt;Lopez" in card.current.object and "<b>" not in card.current.object
    assert "born 1980-06-01" in card.current.object
    assert (card.fix_name.value, card.fix_birth.value) == (name, "1980-06-01")  # as stored (stripped)
    assert list(card.patients.options) == [f"MRN-C ({name}), 0 visit(s)"]  # a select shows its labels as text
    # the records: the correction, audited as the command line audits its own
    patient, audit = _patient_in(db, "MRN-C")
    assert (patient.name, patient.date_of_birth) == (name, dt.date(1980, 6, 1))
    assert [(e.actor, e.action, e.table, e.detail) for e in audit] == [
        ("local", "create", "patients", ""), ("local", "update", "patients", "fields=name,date_of_birth")]
    photos = tmp_path / "photos"
    assert main(["records", "--database-url", db, "--user", "local", "--photos-dir", str(photos), "patients", "add",
                 "MRN-D", "--name", "Bo", "--dob", "1970-01-01"]) == 0
    assert main(["records", "--database-url", db, "--user", "local", "--photos-dir", str(photos), "patients",
                 "update", "MRN-D", "--name", "Bo Berg", "--dob", "1970-01-02"]) == 0
    assert "updated patient MRN-D: date_of_birth, name" in capsys.readouterr().out
    cli_audit = _patient_in(db, "MRN-D")[1]
    assert [(e.action, e.table, e.detail) for e in cli_audit] == [(e.action, e.table, e.detail) for e in audit]
    # the plan on screen names them as corrected, and so does the plan before the edit (Undo), the same plan still
    assert state.extra["patient"] == f"MRN-C {name}" and state.origin == origin
    assert "as corrected" in state.message
    assert state.undo() and state.extra["patient"] == f"MRN-C {name}" and state.point(first)["units"] != 6.0
    assert state.redo() and state.point(first)["units"] == 6.0 and state.origin == origin
    # the handout made before is withdrawn; made again, it prints the corrected name
    assert not report.handout_download.visible and "make the report or handout again" in report.status.object
    report.make(handout=True)
    pdf = tmp_path / "handout.pdf"
    pdf.write_bytes(report._pdf["handout"])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert f"For: MRN-C {name}" in text and "Lopes" not in text
    # the same values again: nothing changed, nothing audited
    card.correct.clicks += 1
    assert card.status.object.startswith("Nothing changed:"), card.status.object
    assert len(_patient_in(db, "MRN-C")[1]) == 2
    # both emptied: no name, no date of birth (both are optional, as when a patient is added)
    card.fix_name.value = card.fix_birth.value = ""
    card.correct.clicks += 1
    patient = _patient_in(db, "MRN-C")[0]
    assert (patient.name, patient.date_of_birth) == (None, None) and state.extra["patient"] == "MRN-C"
    assert "born" not in card.current.object
    # another patient opened and this one again: the plan set aside comes back under the name the records have
    card.identifier.value = "MRN-E"
    card.new_patient()
    card.open(patient.id)
    assert state.extra["patient"] == "MRN-C" and state.point(first)["units"] == 6.0
    # after a deletion no patient is open: the correction's fields are empty and off
    card.delete_patient.clicks += 1
    card.delete_box.objects[1].clicks += 1
    assert card.view is None and (card.fix_name.value, card.fix_birth.value) == ("", "")
    assert card.fix_name.disabled and card.fix_birth.disabled
    card.correct.clicks += 1
    assert card.status.object == "Open or add a patient first."


@pytest.mark.parametrize("typed, said", [
    ("1880-05-01", "a date of birth in 1880 is over 120 years ago: check the year (YYYY-MM-DD)"),
    ("1980-02-30", "the date of birth 1980-02-30 is not a day of the calendar"),
    ("01/05/1980", "the date of birth is written YYYY-MM-DD"),
    ((dt.date.today() + dt.timedelta(days=1)).isoformat(), "the date of birth is in the future"),
], ids=["over-120-years-back", "not-a-day-of-the-calendar", "not-YYYY-MM-DD", "tomorrow"])
def test_a_correction_is_checked_as_an_added_patient_is(db: str, face_model, typed: str, said: str) -> None:
    """A correction refuses what adding the patient refuses, in the same words (one check of each input: the card's
    for the form of a date, the records' for the rest), and keeps nothing of it."""
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card = layout.app_patient
    card.identifier.value, card.birth.value = "MRN-V", typed
    card.new_patient()
    refused_add = card.status.object
    assert card.view is None and refused_add.startswith("Not done: ")
    card.birth.value = "1980-05-01"
    card.new_patient()
    card.fix_birth.value = typed
    card.correct.clicks += 1
    assert card.status.object == refused_add
    assert refused_add.replace("\\", "") == f"Not done: {said}"
    patient, audit = _patient_in(db, "MRN-V")
    assert patient.date_of_birth == dt.date(1980, 5, 1) and [e.action for e in audit] == ["create"]
    # a name with a control character: refused by the records' one check, in the same words as when adding
    card.fix_birth.value, card.fix_name.value = "1980-05-01", "Ana\x07"
    card.correct.clicks += 1
    refused_fix = card.status.object
    card.identifier.value, card.name_input.value = "MRN-W", "Ana\x07"
    card.new_patient()
    assert card.status.object == refused_fix and "control character" in refused_fix
    assert _patient_in(db, "MRN-V")[0].name is None


def test_a_correction_runs_off_the_event_loop_once_per_click_and_never_in_training(
        db: str, face_model, monkeypatch: pytest.MonkeyPatch) -> None:
    """The correction is a records call as the card's others are: run in the records' worker thread (the event loop
    only shows its result), once however fast a second click comes (a click reaching the server while the button
    is disabled does nothing: a second call would have said "Nothing changed" over "Corrected"), and refused while
    the app is in training."""
    from injectmap.viewer import patient_panel
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state = layout.app_patient, layout.app_state
    card.identifier.value, card.name_input.value = "MRN-K", "Kim"
    card.new_patient()
    state.mode = "training"
    card.fix_name.value = "Kim Park"
    card.correct.clicks += 1
    assert "Leave training first" in card.status.object and _patient_in(db, "MRN-K")[0].name == "Kim"
    state.mode = "depth planning"
    doc, submitted = _HeldDoc(), []
    monkeypatch.setattr(card, "_doc", doc)
    monkeypatch.setattr(patient_panel, "records_executor",
                        lambda: SimpleNamespace(submit=lambda fn, *a, **k: submitted.append((fn, a, k))))
    card.fix_name.value = "Kim Park"
    card.correct.clicks += 1
    card.correct.clicks += 1  # the second click of a double click, before the first call's result is back
    assert len(submitted) == 1 and card.correct.disabled
    assert card.status.object == "Working: correcting the patient..."
    assert _patient_in(db, "MRN-K")[0].name == "Kim"  # not done on the event loop
    fn, args, kwargs = submitted.pop()
    fn(*args, **kwargs)  # the worker thread
    assert _patient_in(db, "MRN-K")[0].name == "Kim Park" and card.view.patient.name == "Kim"
    doc.run()  # the event loop shows the result
    assert card.view.patient.name == "Kim Park" and state.extra["patient"] == "MRN-K Kim Park"
    assert card.status.object == "Corrected the name of MRN-K \\(Kim Park\\)." and not card.correct.disabled
    assert submitted == []
