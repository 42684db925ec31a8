"""The Patient card: patients, their visits, the two-week review and the touch-up, in the app.

The card works on the patient records of ``injectmap records`` (:class:`injectmap.clinic.records.Records`,
``$INJECTMAP_DATABASE_URL`` or the default SQLite file), as the logged-in user (``"local"`` without
logins). Four tabs:

- **Patient**: find (identifier or name) and open a patient, or add one (identifier, optional name, date
  of birth, notes, the measured interpupillary distance); correct the open patient's name and date of birth
  (checked as when a patient is added, audited as ``injectmap records patients update`` is: the plan on screen,
  the chart and the handout then print the corrected name); delete the open patient's whole record (after a
  confirmation naming them): the visits, outcomes, photos and fitted faces (``Records.delete_patient``, the
  faces' stills and kept charts too) and the autosaved plans that name them, then no patient is open, the plan
  on screen no longer carries them and the Face card forgets its photo and scan fits (see
  :meth:`PatientPanel.delete_patient_id`).
- **Visits**: the patient's visits; add one (kind, date, consent, product, lot, expiry, dilution, notes;
  an initial or touch-up visit keeps the plan on screen as its plan); open one (its plan comes into the
  app and the Report card gets the patient, visit date, lot, expiry, dilution, notes and clinician);
  "Save plan to visit"; the previous visit's points drawn faintly in 3D under today's plan (toggle).
- **Review**: at a review visit, the outcome per area and side (movement left 0-3, side effects);
  "Propose touch-up" (:func:`injectmap.clinic.course.propose_touch_up`) puts the proposal in the plan
  with its reasons, the 3-month maximum and the left/right balance; "Save as touch-up visit".
- **History**: the doses by muscle and side at each visit (:mod:`injectmap.reports.history`).
- **Photos**: the open visit's photos (JPEG or PNG, at most records.yaml ``photo_max_bytes``): add one
  (upload), each shown as a thumbnail (its EXIF orientation applied, re-encoded: no metadata reaches the
  page) with its name and date; delete one (after a confirmation); "Fit face from this photo" hands the
  photo to the Face card (``on_fit_photos``, when the app gives one); the photos ticked "Fit together" (a
  front photo and up to two obliques, in any order) go to it together. The patient's measured interpupillary
  distance (the tab's field, kept in the record as soon as it changes) goes with them: the fit's size is taken
  from it.

A plan whose ``model.face`` names a fitted face (``*.face.json``) takes the face with it when it is saved to
a visit (kept in the records); opening the visit writes the face back into the user's owner-only faces
folder and points the plan's ``model.face`` there, so the face comes back with the visit.

Every database call runs in one worker thread of the process, off the server's event loop; the card says
"Working..." and then the result. Without a served document (tests, notebooks) the call runs at once.
Everything a patient, a visit or an error brings is escaped before it is shown (:func:`viewer.text.plain`)
and nothing of it is logged (only the kind of an error).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import panel as pn

from injectmap.anatomy.typed_text import typed_decimal
from injectmap.clinic.config import database_url
from injectmap.clinic.course import (
    HistoryTable,
    ReviewOutcome,
    TouchUpProposal,
    VisitRecord,
    dose_history,
    previous_treatment,
    propose_touch_up,
)
from injectmap.clinic.records import (
    DeleteResult,
    Outcome,
    Patient,
    PatientSummary,
    Photo,
    Records,
    RecordsError,
    Visit,
    check_photo,
    is_face_id,
    plan_face_json,
)
from injectmap.planning.doses import area_names
from injectmap.planning.plan import Plan, PlanError, parse_plan, plan_to_dict
from injectmap.planning.products import product_info, product_names
from injectmap.planning.sessions import DEFAULT_SESSION, TOUCH_UP_SESSION
from injectmap.viewer.text import mm_text, plain

__all__ = ["LOCAL_USER", "PatientPanel", "PatientView", "PhotoThumb", "chart_fields", "corrected_fields",
           "course_visits", "delete_label", "deleted_text", "dilution_text", "forget_autosaves", "history_summary",
           "patient_form", "patient_label", "patient_text", "patient_texts", "photo_label", "plan_face_json",
           "proposal_text", "review_outcomes", "side_effects", "thumbnail", "visit_label"]

log = logging.getLogger("injectmap.viewer")
#: the clinician of the visits made on a server without logins (its own machine: one user)
LOCAL_USER = "local"
KIND_LABELS = {"initial": "initial", "review": "review", "touch_up": "touch-up"}
_LOCK = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_records: dict[tuple[str, str], Records] = {}


def records_executor() -> ThreadPoolExecutor:
    """One thread for the process's database calls (off the event loop; one at a time)."""
    global _executor
    with _LOCK:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="injectmap-records")
        return _executor


def open_records(user: str) -> Records:
    """The records of ``user`` on the database of ``injectmap records`` (opened and migrated once per
    database and user in this process)."""
    key = (database_url(), user)
    with _LOCK:
        rec = _records.get(key)
    if rec is None:
        rec = Records.open(key[0], user=user)
        with _LOCK:
            rec = _records.setdefault(key, rec)
    return rec


# ----------------------------------------------------------------------------------------------
# the card's logic, without widgets (tests/viewer/test_patient_panel.py)

def patient_label(p: Patient | PatientSummary) -> str:
    """``MRN-1042 (Ana M.)``: the identifier, and the name when there is one (plain text)."""
    return p.identifier + (f" ({p.name})" if p.name else "")


def patient_text(p: Patient | PatientSummary) -> str:
    """The plan's ``patient`` text (what the chart and the handout print): identifier and name."""
    return p.identifier + (f" {p.name}" if p.name else "")


def visit_label(v: Visit) -> str:
    """``2026-05-04 initial #3, plan``: date, kind, row id, whether it has a plan, what it completes."""
    text = f"{v.date.isoformat()} {KIND_LABELS.get(v.kind, v.kind)} #{v.id}"
    if v.completes_visit_id is not None:
        text += f" (completes #{v.completes_visit_id})"
    return text + (", plan" if v.has_plan else "")


#: the longest patient label a button shows (the confirmation's text above it shows the whole label)
LABEL_MAX = 48


def delete_label(p: Patient) -> str:
    """The confirming button's label: ``Yes, delete MRN-1042 (Ana M.) and all visits, photos and faces`` (plain
    text: a button shows its label as text; a long label is cut)."""
    label = patient_label(p)
    if len(label) > LABEL_MAX:
        label = label[:LABEL_MAX - 1].rstrip() + "\u2026"
    return f"Yes, delete {label} and all visits, photos and faces"


def deleted_text(label: str, res: DeleteResult, autosaves: int = 0, others: bool = False) -> str:
    """What a patient's deletion removed, for the card's status (plain text: escaped where it is shown);
    ``autosaves``: the autosaved plans of the deleting login that named them, removed; ``others``: whether some of
    other logins' were removed too (how many is not said: whether a colleague had the patient open is theirs)."""
    text = (f"Deleted {label}: {res.visits} visit(s), {res.outcomes} outcome(s), {res.photos} photo(s) and "
            f"{res.faces} face(s) ({res.face_files} face file(s), {res.built_faces} built face(s), {res.stills} "
            f"still(s) and {autosaves} of your autosaved plan(s) removed"
            + (", and autosaved plans of other logins" if others else "") + ").")
    if res.files_left:  # their paths are the server's to see (``injectmap records patients delete`` prints them)
        text += (f" {len(res.files_left)} file(s) could not be removed: the records' photos and faces folders "
                 "need a look.")
    return text


def patient_texts(patient: Patient, others: Iterable[Patient | PatientSummary]) -> set[str]:
    """The ``patient`` texts the app writes in a plan for ``patient`` (:func:`patient_text`: their identifier, alone
    or with their name), less any that a patient of ``others`` (those still in the records) gives too: the
    identifier ``Lopez Ana`` without a name and the identifier ``Lopez`` named ``Ana`` write the same text."""
    taken = {t for o in others for t in (o.identifier, patient_text(o))}
    return {patient.identifier, patient_text(patient)} - taken


def forget_autosaves(patient: Patient, res: DeleteResult, others: Iterable[Patient | PatientSummary] | None,
                     url: str | None = None) -> list[Path]:
    """Remove the autosaved plans that name a deleted patient, in the autosave folder and its logins' subfolders
    (``viewer.session.forget_patient_autosaves``): by one of their fitted faces in any, by their identifier
    (alone or with their name, :func:`patient_texts` with ``others``, the patients left in the records) only in
    the autosaves of their records database (``url``, :func:`database_url` decides when None); ``others`` None
    (not known): by their faces only. Returns the files removed. Nothing here fails the deletion, done already:
    a failure removes nothing more, logged by its type only (never a path or a patient's data); what is left is
    pruned after 30 days."""
    from injectmap.clinic.config import database_fingerprint
    from injectmap.viewer.file_panel import autosave_dir
    from injectmap.viewer.session import forget_patient_autosaves

    try:
        texts = set() if others is None else patient_texts(patient, others)
        return forget_patient_autosaves(autosave_dir(), texts, res.face_ids, database_fingerprint(url))
    except Exception as exc:  # noqa: BLE001 - see above: the record is deleted whatever happens here
        log.warning("the autosaves naming a deleted patient were not all looked through: %s", type(exc).__name__)
        return []


def unforget_patient(patient: Patient, url: str | None = None) -> None:
    """A patient in the records of ``url`` (:func:`database_url` decides when None) again, opened in the app or
    added anew with a deleted one's identifier (here or by ``injectmap records patients add``), is no longer one
    whose plan is kept from the autosave (``viewer.session.names_forgotten_patient``). Never raises: a failure
    is logged by its type only."""
    from injectmap.clinic.config import database_fingerprint
    from injectmap.viewer.file_panel import autosave_dir
    from injectmap.viewer.session import unforget

    try:
        unforget(autosave_dir(), [patient.identifier, patient_text(patient)], database=database_fingerprint(url))
    except Exception as exc:  # noqa: BLE001 - the patient is in the records whatever happens here
        log.warning("a re-added patient's autosaves were not allowed again: %s", type(exc).__name__)


def dilution_text(visit: Visit) -> str:
    """The visit's reconstitution as the chart prints it (``""``: the plan's)."""
    if visit.dilution_ml is None or visit.product is None:
        return ""
    per_vial = product_info(visit.product).default_units_per_vial
    return f"{visit.dilution_ml:g} mL saline per {per_vial:g} U vial"


#: the plan's session a visit of each kind is, for its chart and handout (a review's plan, if any, is left to the
#: plan's own rules: reports.chart.visit_session)
KIND_SESSIONS = {"initial": DEFAULT_SESSION, "touch_up": TOUCH_UP_SESSION}


def chart_fields(visit: Visit) -> dict[str, str]:
    """What the Report card gets from an opened visit (the widgets' names and values): its session is the one its
    kind says (a first visit postponed to the day its plan gave the touch-up is still the first visit)."""
    return {"clinician": visit.clinician, "visit_date": visit.date.isoformat(),
            "session": KIND_SESSIONS.get(visit.kind, ""), "lot": visit.lot or "",
            "expiry": visit.lot_expiry.isoformat() if visit.lot_expiry else "", "dilution": dilution_text(visit),
            "notes": visit.notes}


def course_visits(pairs: Sequence[tuple[Visit, Plan | None]]) -> list[VisitRecord]:
    """The course of treatment (clinic.course) from the records' visits and their plans."""
    return [VisitRecord(date=v.date, kind=v.kind, plan=plan, completes_visit_id=v.completes_visit_id, id=v.id)
            for v, plan in pairs]


def review_outcomes(outcomes: Sequence[Outcome]) -> list[ReviewOutcome]:
    """A review's recorded outcomes as the touch-up proposal takes them."""
    return [ReviewOutcome(area=o.area, side=o.side, movement=o.movement, side_effects=o.side_effects)
            for o in outcomes]


def side_effects(text: str) -> list[str]:
    """Side effects typed as one line, separated by commas or semicolons."""
    return [s.strip() for s in text.replace(";", ",").split(",") if s.strip()]


def _units(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def proposal_text(p: TouchUpProposal) -> str:
    """The proposal for the card, as escaped Markdown: each point's reason, each area's decision, the
    3-month maximum and the left/right balance before and after."""
    lines = [f"**Touch-up proposed for {plain(p.date.isoformat())}**: {len(p.plan.points)} point(s), "
             f"{_units(p.ona_units)} U (onabotulinumtoxinA-equivalent)."]
    lines += [f"- {plain(r.point_id)}: {plain(r.text)}" for r in p.reasons]
    lines += [f"- {plain(d.area)} {plain(d.side)}: {plain(d.text)}" for d in p.decisions]
    lines.append(f"\n3-month maximum: {_units(p.window_ona_units)} U given in the last {p.window_days} days, "
                 f"{_units(p.window_ona_units + p.ona_units)} U with this touch-up, at most {_units(p.max_units)} U.")
    before = {r.area: r for r in p.balance_before}
    if p.balance_after:
        lines.append("\n| area | left | right | left - right before | after |\n|---|---|---|---|---|")
        for r in p.balance_after:
            b = before.get(r.area)
            lines.append(f"| {plain(r.area.replace('_', ' '))} | {_units(r.left)} | {_units(r.right)} | "
                         f"{_units(b.difference) if b else '-'} | {_units(r.difference)} |")
    return "\n".join(lines)


def history_summary(table: HistoryTable) -> str:
    """One line per visit of the history: date, kind and the units given (ona-equivalent)."""
    given = [0.0] * len(table.visits)
    for r in table.rows:
        given[r.visit] += r.ona_units
    return "\n".join(f"- {v.date.isoformat()} {KIND_LABELS.get(v.kind, v.kind)}: "
                     + (f"{_units(u)} U" if u else "no injection") for v, u in zip(table.visits, given, strict=True))


@dataclass
class PatientView:
    """What the card shows of an open patient (made in the worker thread)."""

    patient: Patient
    visits: list[Visit]
    plans: dict[int, Plan | None] = field(default_factory=dict)
    history_png: bytes = b""
    history_text: str = ""

    def records(self) -> list[VisitRecord]:
        return course_visits([(v, self.plans.get(v.id)) for v in self.visits])


def load_patient(rec: Records, patient_id: int) -> PatientView:
    """A patient with the visits and their plans, and the history picture (in the worker thread)."""
    from injectmap.reports.history import history_png

    patient = rec.patient(patient_id)
    pairs = rec.visits_with_plans(patient_id)
    table = dose_history(course_visits(pairs))
    return PatientView(patient=patient, visits=[v for v, _ in pairs], plans={v.id: p for v, p in pairs},
                       history_png=history_png(table, figsize=(5.6, 3.6), dpi=80) if pairs else b"",
                       history_text=history_summary(table))


#: the side of a photo's thumbnail, in pixels
THUMB_PX = 96


def thumbnail(data: bytes, size: int = THUMB_PX) -> bytes:
    """A PNG of at most ``size`` x ``size`` pixels of a JPEG or PNG photo, its EXIF orientation applied (as
    the camera held it); re-encoded, so no metadata (EXIF, GPS) goes with it.

    Raises
    ------
    RecordsError
        When the bytes cannot be read as an image.
    """
    from PIL import Image, ImageOps

    from injectmap.reports.photo_io import MAX_PIXELS

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:  # refused before anything is decoded (photo_io's limit)
                raise RecordsError(f"the photo is {im.width} x {im.height} pixels: at most "
                                   f"{MAX_PIXELS // 1_000_000} megapixels")
            im.draft("RGB", (size * 2, size * 2))  # a JPEG is decoded at a reduced scale: fast for big photos
            shown = ImageOps.exif_transpose(im).convert("RGB")
        shown.thumbnail((size, size))
        buf = io.BytesIO()
        shown.save(buf, format="PNG")
    except RecordsError:
        raise
    except Exception as exc:  # any decoder error: the file is not a readable image
        raise RecordsError(f"the photo cannot be read as an image ({type(exc).__name__})") from None
    return buf.getvalue()


@dataclass(frozen=True)
class PhotoThumb:
    """A photo of the open visit and its thumbnail (b"": no preview: the file is missing or unreadable)."""

    photo: Photo
    png: bytes


def photo_label(photo: Photo) -> str:
    """``front.jpg, 2026-05-04 10:12, 2.1 MB``: the name it was added under, when, its size (plain text)."""
    when = photo.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    n = photo.size_bytes
    size = f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} KB" if n >= 1000 else f"{n} bytes"
    return f"{photo.display_name or f'photo {photo.id}'}, {when}, {size}"


def visit_photos(rec: Records, visit_id: int, cache: dict[int, bytes]) -> list[PhotoThumb]:
    """The visit's photos with their thumbnails (made once per photo and card: ``cache``)."""
    out = []
    for ph in rec.photos(visit_id):
        if ph.id not in cache:
            try:
                cache[ph.id] = thumbnail(rec.photo_bytes(ph))
            except RecordsError:
                cache[ph.id] = b""
        out.append(PhotoThumb(ph, cache[ph.id]))
    return out


@dataclass(frozen=True)
class VisitMedia:
    """What an opened visit brings besides its plan: its photos, and its face written back (or None)."""

    photos: list[PhotoThumb]
    face_path: Path | None


VisitView = tuple[PatientView, Visit, list[Outcome], VisitMedia]


def visit_view(rec: Records, patient_id: int, visit: Visit, cache: dict[int, bytes] | None = None) -> VisitView:
    """The patient, a visit of theirs, its outcomes (a review's; none for another kind), its photos and its
    plan's face written back into the user's faces folder."""
    media = VisitMedia(photos=visit_photos(rec, visit.id, {} if cache is None else cache),
                       face_path=rec.restore_face(visit.id) if visit.face_id else None)
    return (load_patient(rec, patient_id), visit, rec.outcomes(visit.id) if visit.kind == "review" else [], media)


def previous_needles(model: Any, view: PatientView, before: dt.date | None) -> list[tuple[Any, Any]]:
    """The (entry, tip) of each point of the last treatment before ``before``, placed on ``model``."""
    from injectmap.planning.analysis import place_all

    prev = previous_treatment(view.records(), before=before)
    if prev is None:
        return []
    placed, _issues = place_all(model, prev.plan)
    return [(p.entry_mm, p.tip_mm) for p in placed if p is not None]


#: the measured distance's field, in the new-patient form and the Photos tab
IPD_LABEL = "Measured interpupillary distance, mm (optional)"


def _w(cls: Any, name: str, **params: Any) -> Any:
    """A widget of the card with the class ``pt-<name>``."""
    return cls(css_classes=[f"pt-{name}"], **params)


def _date(text: str, what: str) -> dt.date:
    text = text.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"{what} {text} is not a day of the calendar") from None
        raise ValueError(f"{what} is written YYYY-MM-DD") from None


def _optional_ml(text: str, what: str) -> float | None:
    """A volume in mL typed in a text field (2.5 or 2,5, up to 3 decimals: anatomy.typed_text); None when empty."""
    try:
        return typed_decimal(text, 3)
    except ValueError:
        raise ValueError(f"{what} is not a number of mL") from None


def _unless_disabled(button: Any, action: Callable[[], Any], _event: Any = None) -> None:
    """Run a button's action, unless the button was disabled by the time its click reached the server."""
    if not button.disabled:
        action()


def _optional_date(text: str, what: str) -> dt.date | None:
    return _date(text, what) if text.strip() else None


def patient_form(name: str, birth: str) -> tuple[str | None, dt.date | None]:
    """A patient's name and date of birth as typed in the card, in the new-patient form and in the correction of the
    open patient alike: the name stripped (empty: none), the date of birth YYYY-MM-DD and a day of the calendar (empty:
    none).

    Raises
    ------
    ValueError
        For a date of birth that is not written YYYY-MM-DD or is not a day of the calendar (the reason in the
        message). The records check the rest (``Records.add_patient`` and ``update_patient``: the name's length and
        characters, a date of birth neither in the future nor more than 120 years back).
    """
    return name.strip() or None, _optional_date(birth, "the date of birth")


def corrected_fields(before: Patient, after: Patient) -> list[str]:
    """What a correction changed, in words (``["name", "date of birth"]``; empty: nothing)."""
    return [words for key, words in (("name", "name"), ("date_of_birth", "date of birth"))
            if getattr(before, key) != getattr(after, key)]


# ----------------------------------------------------------------------------------------------
# the card

#: the plans of other patients a card keeps set aside (the oldest goes first): a clinic session sees a few patients
MAX_SET_ASIDE_PLANS = 20

class PatientPanel(pn.viewable.Viewer):
    """The Patient card (see the module's description)."""

    def __init__(self, state: Any, analyst: Any, scene_view: Any, report: Any, doc: Any = None,
                 user: str | None = None,
                 on_fit_photos: Callable[[list[tuple[bytes, str]], float | None], None] | None = None,
                 on_patient_shown: Callable[[int | None, float | None], Any] | None = None,
                 on_patient_deleted: Callable[[tuple[str, ...]], Any] | None = None,
                 on_plan_forgotten: Callable[[], Any] | None = None,
                 accepted_faces: Callable[[int], tuple[str, ...]] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.scene_view, self.report = state, analyst, scene_view, report
        #: the Face card's photo fit (``FacePanel.start_photos_fit([(data, display_name), ...])``); None: no fit
        #: buttons
        self.on_fit_photos = on_fit_photos
        #: the open patient (None: none) and their measured interpupillary distance (None: none), for the Face
        #: card (``FacePanel.patient_shown``: its field, and the fits of another patient set aside)
        self.on_patient_shown = on_patient_shown
        #: after a deletion, the Face card forgets its photo, scan and their fits (``FacePanel.forget_patient``,
        #: given the deleted faces' ids): Accept must not write the deleted patient's face back
        self.on_patient_deleted = on_patient_deleted
        #: then, once the plan on screen no longer names them (the Files card's restore offer is checked again)
        self.on_plan_forgotten = on_plan_forgotten
        #: the ids of the faces the Face card's Accept wrote in this session while a patient was open
        #: (``FacePanel.faces_accepted_for``): a deleted patient's faces, their visit perhaps not saved yet
        self.accepted_faces = accepted_faces
        self.photo_items: list[PhotoThumb] = []
        #: the open visit's photos ticked "Fit together"
        self._together: set[int] = set()
        self._thumbs: dict[int, bytes] = {}  # this card's thumbnails by photo id (never shared between sessions)
        self._confirm_delete: int | None = None
        self._confirm_patient: int | None = None  # the open patient whose deletion is being confirmed
        served = doc is not None and getattr(doc, "session_context", None) is not None
        self._doc = doc if served else None
        self.user = user or getattr(pn.state, "user", None) or LOCAL_USER
        self._login = user  # the login the app gives (None without logins): whose faces folder a plan may name
        self.view: PatientView | None = None
        self.visit: Visit | None = None
        self.outcomes: list[Outcome] = []
        self.proposal: TouchUpProposal | None = None
        self._generation = 0
        self._tab_at_call = 0  # the tab shown when the last call started: a tab the user chose since stays
        w, half = 270, 132
        text, area_in, select = pn.widgets.TextInput, pn.widgets.TextAreaInput, pn.widgets.Select
        # Patient tab (each input has a class of its own: the browser tests find it by that)
        self.search = _w(text, "search", placeholder="identifier or name", width=170, max_length=200)
        self.find = pn.widgets.Button(label="Find", width=80)
        self.patients = _w(select, "patients", label="Patients", options={}, width=w)
        self.open_patient = pn.widgets.Button(label="Open patient", width=w)
        self.delete_patient = _w(pn.widgets.Button, "delete-patient", label="Delete patient", width=w)
        self.delete_box = pn.Column(self.delete_patient, width=w, margin=0, css_classes=["patient-delete"])
        # the open patient's name and date of birth, to correct (filled when a patient opens; off with none open)
        self.fix_name = _w(text, "fix-name", label="Name (empty: none)", width=w, max_length=200, disabled=True)
        self.fix_birth = _w(text, "fix-birth", label="Date of birth (empty: none)", placeholder="YYYY-MM-DD", width=w,
                            max_length=10, disabled=True)
        self.correct = _w(pn.widgets.Button, "correct", label="Correct name and date of birth", width=w)
        self.identifier = _w(text, "identifier", label="Identifier", placeholder="the clinic's patient id", width=w,
                             max_length=200)
        self.name_input = _w(text, "name", label="Name (optional)", width=w, max_length=200)
        self.birth = _w(text, "birth", label="Date of birth (optional)", placeholder="YYYY-MM-DD", width=w,
                        max_length=10)
        self.patient_notes = _w(area_in, "patient-notes", label="Patient notes", width=w, height=50, max_length=4000)
        # text (62.5 or 62,5), read by the records (the photo fit's check): a number field's spinner would replace a
        # value out of range silently, and shows NaN when emptied
        self.new_ipd = _w(text, "new-ipd", label=IPD_LABEL, value="", width=w, max_length=20,
                          placeholder="e.g. 63 (a distance PD)")
        self.add_patient = pn.widgets.Button(label="Add patient", color="primary", width=w)
        # Visits tab
        self.current = pn.pane.Markdown("No patient open.", width=w, css_classes=["patient-current"])
        self.visits = _w(select, "visits", label="Visits", options={}, width=w)
        self.open_visit = pn.widgets.Button(label="Open visit", width=half)
        self.save_plan = pn.widgets.Button(label="Save plan to visit", width=half)
        self.kind = _w(select, "kind", label="Kind", options={"initial": "initial", "review": "review",
                                                              "touch-up": "touch_up"}, width=half)
        self.date = _w(text, "date", label="Date", value=dt.date.today().isoformat(), placeholder="YYYY-MM-DD",
                       width=half, max_length=10)
        self.consent = _w(pn.widgets.Checkbox, "consent", label="Consent recorded", value=False, width=w)
        self.product = _w(select, "product", label="Product",
                          options={"the plan's": ""} | {n: n for n in product_names()}, width=w)
        self.lot = _w(text, "lot", label="Lot", width=half, max_length=100)
        self.expiry = _w(text, "expiry", label="Expiry", placeholder="YYYY-MM-DD", width=half, max_length=10)
        # text (2.5 or 2,5), checked with the plan: a number field showed 0 or NaN for a value out of its range and
        # sent 0
        self.dilution = _w(text, "dilution", label="Dilution (mL per vial; empty: the plan's)", value="",
                           placeholder="e.g. 2.5", width=w, max_length=10)
        self.visit_notes = _w(area_in, "visit-notes", label="Visit notes", width=w, height=50, max_length=4000)
        self.add_visit = pn.widgets.Button(label="Add visit", color="primary", width=w)
        self.show_previous = _w(pn.widgets.Checkbox, "show-previous", label="Show the last visit's points (faint)",
                                value=True, width=w)
        # Review tab
        self.area = _w(select, "area", label="Area", options=list(area_names()), width=half)
        self.side = _w(select, "side", label="Side", options=["left", "right", "midline"], width=half)
        self.movement = _w(select, "movement", label="Movement left",
                           options={"0 none": 0, "1 slight": 1, "2 some": 2, "3 full": 3}, width=half)
        self.effects = _w(text, "effects", label="Side effects", placeholder="comma-separated", width=half,
                          max_length=400)
        self.record = pn.widgets.Button(label="Record outcome", width=w)
        self.outcome_text = pn.pane.Markdown("", width=w, css_classes=["patient-outcomes"])
        self.propose = pn.widgets.Button(label="Propose touch-up", color="primary", width=w)
        self.proposal_pane = pn.pane.Markdown("", width=w, css_classes=["patient-proposal"])
        self.save_touch_up = pn.widgets.Button(label="Save as touch-up visit", width=w, disabled=True)
        # History tab
        self.history = pn.pane.PNG(None, width=w, css_classes=["patient-history"])
        self.history_text = pn.pane.Markdown("", width=w, css_classes=["patient-history-text"])
        # Photos tab
        self.photo_upload = _w(pn.widgets.FileInput, "photo-upload", accept=".jpg,.jpeg,.png,image/jpeg,image/png",
                               multiple=False, width=w)
        self.photo_upload.param.watch(lambda _e: self.upload_photo(), "value")
        self.photo_note = pn.pane.Markdown("Open a visit to see or add its photos.", width=w,
                                           css_classes=["patient-photos-note"])
        self.photo_list = pn.Column(width=w, css_classes=["patient-photos"], margin=0)
        self.fit_together = _w(pn.widgets.Button, "photos-fit", label="Fit face from the ticked photos", width=w,
                               disabled=True, visible=False)
        self.fit_together.on_click(lambda _e: self.fit_photos(sorted(self._together)))
        # the open patient's measured distance: kept in the record when changed, given with every fit from here
        self.ipd = _w(text, "ipd", label=IPD_LABEL, value="", width=w, disabled=True, max_length=20,
                      placeholder="e.g. 63 (a distance PD)")
        self._showing_ipd = False  # the field is being set from the record (no save)
        self.ipd.param.watch(lambda _e: self.save_ipd(), "value")
        self.status = pn.pane.Markdown("", width=w, css_classes=["patient-status"])
        # a click that reaches the server after its button was disabled (a double click while the first one's call
        # runs) does nothing: each would otherwise add a visit
        for button, action in ((self.find, self.list_patients), (self.open_patient, lambda: self.open(self.patients.value)),
                               (self.add_patient, self.new_patient), (self.correct, self.correct_patient),
                               (self.delete_patient, lambda: self.ask_delete_patient(True)),
                               (self.open_visit, lambda: self.open_visit_id(self.visits.value)),
                               (self.add_visit, self.new_visit), (self.save_plan, self.save_plan_to_visit),
                               (self.record, self.record_outcome), (self.propose, self.propose_touch_up),
                               (self.save_touch_up, self.save_as_touch_up)):
            button.on_click(functools.partial(_unless_disabled, button, action))
        self._proposal_origin: int | None = None  # the plan (AppState.origin) the touch-up proposal was loaded as
        self._saving_touch_up = False
        #: the plans of patients opened before in this session, set aside when another patient was opened (by their
        #: records id; never written anywhere but the session's autosave, which follows the screen)
        self._set_aside_plans: dict[int, dict[str, Any]] = {}
        self._set_aside_sources: dict[int, str] = {}  # where each set-aside plan came from (the chart's "Plan:")
        #: the records id and the plan's ``patient`` text of the patient whose plan the card made the plan on screen
        self._owner: tuple[int, str] | None = None
        state.param.watch(lambda _e: self._show_save_touch_up(), "origin")
        self.show_previous.param.watch(lambda e: self.scene_view.show_previous(None, bool(e.new)), "value")
        self._buttons = [self.find, self.open_patient, self.delete_patient, self.correct, self.add_patient,
                         self.open_visit, self.add_visit, self.save_plan, self.record, self.propose]
        #: the patients the list shows (found by the last Find), kept to show a corrected name there too
        self._found: list[PatientSummary] = []
        self.tabs = pn.Tabs(
            ("Patient", pn.Column(pn.Row(self.search, self.find), self.patients, self.open_patient, self.delete_box,
                                  pn.pane.Markdown("**Correct the open patient**", margin=(0, 5)), self.fix_name,
                                  self.fix_birth, self.correct,
                                  pn.pane.Markdown("**New patient**", margin=(0, 5)), self.identifier,
                                  self.name_input, self.birth, self.patient_notes, self.new_ipd, self.add_patient)),
            ("Visits", pn.Column(self.current, self.visits, pn.Row(self.open_visit, self.save_plan),
                                 self.show_previous, pn.pane.Markdown("**New visit**", margin=(0, 5)),
                                 pn.Row(self.kind, self.date), self.consent, self.product, pn.Row(self.lot, self.expiry),
                                 self.dilution, self.visit_notes, self.add_visit)),
            ("Review", pn.Column(pn.Row(self.area, self.side), pn.Row(self.movement, self.effects), self.record,
                                 self.outcome_text, self.propose, self.proposal_pane, self.save_touch_up)),
            ("History", pn.Column(self.history, self.history_text)),
            ("Photos", pn.Column(self.photo_note, self.ipd, self.photo_upload, self.photo_list, self.fit_together)),
            dynamic=False, width=285)

    # ------------------------------------------------------------------ running database calls
    def _call(self, work: Callable[[Records], Any], done: Callable[[Any], None], what: str,
              always: bool = False, on_error: Callable[[str], None] | None = None) -> None:
        """Run ``work(records)`` off the event loop, then ``done(result)`` on it; the card says what it
        does, and the error if it fails (the message of the records, never logged); ``on_error(message)`` runs on
        a failure even when a later call has started (it decides what still applies). ``done`` is skipped when a
        later call has started meanwhile, unless ``always`` (what the screen must show whatever came after)."""
        self._generation += 1
        gen = self._generation
        self._tab_at_call = self.tabs.active
        self.status.object = plain(f"Working: {what}...")
        for b in self._buttons:
            b.disabled = True
        if self._doc is None:
            self._finish(gen, done, *self._run(work), always=always, on_error=on_error)
            return
        records_executor().submit(self._background, gen, work, done, always, on_error)

    def _face_json(self, plan: Plan) -> str | None:
        """The text of the plan's face file to keep with the visit: with logins, only one in the login's own
        faces folder (a plan is user input: it must not carry another login's face into this record)."""
        from injectmap.viewer.face_photo import face_path_allowed

        face = plan.model.face if plan.model is not None else None
        if face and not face_path_allowed(face, self._login):
            raise RecordsError("the plan names a face file outside your own faces folder: accept the photo's fit "
                               "in the Face card first")
        return plan_face_json(plan)

    def _run(self, work: Callable[[Records], Any]) -> tuple[Any, str]:
        from sqlalchemy.exc import SQLAlchemyError

        from injectmap.clinic.db import DatabaseError

        try:
            return work(open_records(self.user)), ""
        except PlanError as exc:
            return None, "; ".join(str(e) for e in exc.errors[:3])
        except (ValueError, DatabaseError) as exc:  # RecordsError is a ValueError: its text names no patient
            return None, str(exc) or type(exc).__name__
        except SQLAlchemyError as exc:
            log.warning("a records call failed: %s", type(exc).__name__)  # never its text: it may quote values
            return None, f"the database failed ({type(exc).__name__})"
        except OSError as exc:  # a photo or face file that cannot be written or read: no path (it may name a patient)
            log.warning("a records file operation failed: %s", type(exc).__name__)
            return None, f"a file of the records could not be written or read ({exc.strerror or type(exc).__name__})"
        except Exception as exc:  # noqa: BLE001 - anything else: the card must not stay "Working" with its buttons off
            log.warning("a records call failed unexpectedly: %s", type(exc).__name__)  # never its text
            return None, f"an unexpected error ({type(exc).__name__}); nothing more was done"

    def _background(self, gen: int, work: Callable[[Records], Any], done: Callable[[Any], None],
                    always: bool = False, on_error: Callable[[str], None] | None = None) -> None:
        result, error = self._run(work)
        if self._doc is not None:
            try:
                self._doc.add_next_tick_callback(functools.partial(self._finish, gen, done, result, error,
                                                                   always=always, on_error=on_error))
            except Exception:  # the session has ended meanwhile
                log.debug("records result not delivered: the session has ended")

    def _finish(self, gen: int, done: Callable[[Any], None], result: Any, error: str, always: bool = False,
                on_error: Callable[[str], None] | None = None) -> None:
        for b in self._buttons:
            b.disabled = False
        if error and on_error is not None:
            on_error(error)
        if gen != self._generation and not (always and not error):
            return
        if error:
            self.status.object = plain(f"Not done: {error}")
            return
        done(result)

    def _show_tab(self, index: int) -> None:
        """Show the card's tab ``index`` after a call, unless the user chose another tab while it ran: a click
        is never undone by a result that arrives after it."""
        if self.tabs.active == self._tab_at_call:
            self.tabs.active = index

    def _not_training(self) -> bool:
        """False (and the card says why) while the app is in training: the plan on screen is an exercise's, and the
        plan set aside for training comes back when it ends, whoever is open then; opening a patient or saving a
        plan to their visits waits until training is left."""
        if getattr(self.state, "mode", "") == "training":
            self.status.object = plain("Leave training first: the plan on screen is an exercise's, not a patient's.")
            return False
        return True

    def _need_patient(self) -> bool:
        if self.view is None:
            self.status.object = plain("Open or add a patient first.")
            return False
        return True

    def _need_visit(self, kind: str | None = None) -> bool:
        if self.visit is None:
            self.status.object = plain("Open or add a visit first.")
            return False
        if kind is not None and self.visit.kind != kind:
            now = KIND_LABELS[self.visit.kind]
            self.status.object = plain(f"Open a {KIND_LABELS[kind]} visit first (this one is {now}).")
            return False
        return True

    # ------------------------------------------------------------------ patients
    def list_patients(self) -> None:
        """Find the patients whose identifier or name contains the search text (all when empty)."""
        search = str(self.search.value or "").strip() or None

        def shown(found: list[PatientSummary]) -> None:
            self._show_found(found)
            self.status.object = plain(f"{len(found)} patient(s) found.")

        self._call(lambda rec: rec.list_patients(search), shown, "finding patients")

    def _show_found(self, found: list[PatientSummary]) -> None:
        """The list of patients: each one's label and how many visits."""
        self._found = list(found)
        self.patients.options = {f"{patient_label(p)}, {p.visits} visit(s)": p.id for p in found}

    def new_patient(self) -> None:
        """Add the patient of the form and open it."""
        if not self._not_training():
            return
        try:
            name, birth = patient_form(str(self.name_input.value or ""), str(self.birth.value or ""))
        except ValueError as exc:
            self.status.object = plain(f"Not done: {exc}")
            return
        ident = str(self.identifier.value or "")
        notes, ipd = str(self.patient_notes.value or ""), str(self.new_ipd.value or "")

        def work(rec: Records) -> PatientView:
            p = rec.add_patient(ident, name=name, date_of_birth=birth, notes=notes, ipd_mm=ipd)
            return load_patient(rec, p.id)

        def added(view: PatientView) -> None:
            # the form held this patient: never carried to the next one added (nor their measured distance)
            self.identifier.value = self.name_input.value = self.birth.value = self.patient_notes.value = ""
            self.new_ipd.value = ""
            self._opened("Added", view)

        self._call(work, added, "adding the patient")

    def open(self, patient_id: int | None) -> None:
        """Open a patient: the visits, the history and the previous treatment under today's plan."""
        if not self._not_training():
            return
        if patient_id is None:
            self.status.object = plain("Find and choose a patient first.")
            return
        self._call(lambda rec: load_patient(rec, int(patient_id)), functools.partial(self._opened, "Opened"),
                   "opening the patient")

    def _opened(self, verb: str, view: PatientView) -> None:
        """A patient is open: nothing of the patient open before stays in the card, the visit form or the Report
        card, and the plan on screen is theirs (:meth:`_plan_for`)."""
        before = self.state.extra.get("patient")
        now, pid = patient_text(view.patient), view.patient.id
        owner = self._owner
        # the plan on screen is the patient's open before (kept, face and all, before the Face card sets their face
        # aside), or one naming someone else (a file's, an autosave's: not kept, it is where it came from)
        theirs = owner is not None and owner[0] != pid and before == owner[1]
        # ... or this patient has a plan set aside earlier in the session: it comes back
        replace = theirs or (isinstance(before, str) and before != now) or pid in self._set_aside_plans
        if theirs and owner is not None:
            self._set_aside_plans.pop(owner[0], None)
            self._set_aside_plans[owner[0]] = self.state.plan_dict()
            self._set_aside_sources[owner[0]] = self.state.plan_source()
            while len(self._set_aside_plans) > MAX_SET_ASIDE_PLANS:
                self._set_aside_sources.pop(next(iter(self._set_aside_plans)), None)
                self._set_aside_plans.pop(next(iter(self._set_aside_plans)))
        self.visit, self.outcomes, self.proposal = None, [], None
        self.ask_delete_patient(False)  # a confirmation asked for the patient open before is withdrawn
        self.photo_upload.clear()  # the name of a file uploaded for the patient open before
        self._show_photos([])
        self.save_touch_up.disabled = True
        self.proposal_pane.object = self.outcome_text.object = ""
        self._reset_visit_form(patient=True)
        self.effects.value = ""
        self.report.forget()  # the visit's details and a chart made (or being made) for the patient open before
        self._show(view)
        self._show_correction(view.patient)
        unforget_patient(view.patient)  # in the records again: their plans autosave again
        if replace:
            self._plan_for(pid, now, set_aside=theirs)
        else:
            self._set_patient_in_plan()
        self._show_tab(1)
        self.status.object = plain(f"{verb} {patient_label(view.patient)}.")
        self._draw_previous(None)

    def _plan_for(self, patient_id: int, text: str, set_aside: bool) -> None:
        """The plan on screen is not this patient's (``set_aside``: it was the patient's open before, and :meth:`_opened`
        has set it aside in this card for this session): this patient's plan set aside earlier comes back, or an
        empty plan for them (the product stays: the vial's); the undo history starts again (it held another
        patient's plans). Before, the other patient's points stayed on screen under this patient's name, and a visit
        added next saved them into this record."""
        back = self._set_aside_plans.pop(patient_id, None)
        source = self._set_aside_sources.pop(patient_id, "")  # where their plan came from ("": an empty one)
        plan = back if back is not None else {"product": dict(self.state.product), "patient": text, "points": []}
        plan["patient"] = text  # their name as the records have it now
        self.state.load_plan(plan, undoable=False, source=source if back is not None else "")
        self._owner = (patient_id, text)
        before = ("The plan of the patient open before is set aside until they are opened again in this session; "
                  if set_aside else "The plan on screen was not this patient's; ")
        self.state.message = before + ("this patient's plan from earlier in this session is back."
                                       if back is not None else "this patient's plan is empty.")

    def _reset_visit_form(self, patient: bool = False) -> None:
        """The new-visit form's consent and notes are each visit's own: never carried to the next visit or another
        patient (a visit added for the next patient recorded the previous one's consent and notes); for another
        ``patient`` the kind and the date start again too. The vial (product, lot, expiry, dilution) stays: one
        reconstituted vial may serve several patients in a day, and the chart prints what was typed."""
        self.consent.value = False
        self.visit_notes.value = ""
        if patient:
            self.kind.value = "initial"
            self.date.value = dt.date.today().isoformat()

    def _show(self, view: PatientView, select: int | None = None) -> None:
        """Show an open patient's visits and history."""
        self.view = view
        p = view.patient
        self._show_ipd(p.ipd_mm, enabled=True)
        head = f"**{plain(patient_label(p))}**"
        if p.date_of_birth:
            head += f", born {p.date_of_birth.isoformat()}"
        if self.visit is not None:
            head += f"; open visit: {plain(visit_label(self.visit))}"
        self.current.object = head
        self.visits.options = {visit_label(v): v.id for v in view.visits}
        if select is not None:
            self.visits.value = select
        self.history.object = view.history_png or None
        self.history_text.object = plain(view.history_text)

    def _show_ipd(self, value: float | None, *, enabled: bool) -> None:
        """The Photos tab's distance field shows ``value`` (the open patient's record's; None when no patient is
        open) without saving it again, and the Face card hears of the open patient (``on_patient_shown``): its field
        then shows the same distance, so an upload there takes this patient's size and never a previous patient's,
        and a fit it holds of another patient is set aside."""
        self._showing_ipd = True
        try:
            self.ipd.value = mm_text(value)
        finally:
            self._showing_ipd = False
        self.ipd.disabled = not enabled
        if self.on_patient_shown is not None:
            self.on_patient_shown(self.view.patient.id if self.view is not None else None, value)

    def _typed_ipd(self) -> float | None:
        """The Photos tab's distance as a number (None: empty).

        Raises
        ------
        anatomy.fit.landmarks.FitRefused
            Not a number, or outside the adult range (the reason in the message).
        """
        from injectmap.anatomy.fit.photo import checked_ipd

        return checked_ipd(str(self.ipd.value or ""))

    def save_ipd(self) -> None:
        """Keep the field's measured interpupillary distance in the open patient's record (empty: none). The result
        lands whatever the card did meanwhile (the fit buttons stay usable while it is saved): the open patient's
        record on screen takes it if it is still the same patient. A value that is not a distance in the adult range
        is refused with the reason, and the field shows the record's again (unless it was changed since)."""
        from injectmap.anatomy.fit.landmarks import FitRefused

        if self._showing_ipd or self.view is None:
            return
        patient_id, text = self.view.patient.id, self.ipd.value
        try:
            value = self._typed_ipd()
        except FitRefused as exc:
            self._show_ipd(self.view.patient.ipd_mm, enabled=True)
            self.status.object = plain(f"Not done: {exc}")
            return
        if value == self.view.patient.ipd_mm:
            return

        def saved(patient: Patient) -> None:
            if self.view is None or self.view.patient.id != patient_id:
                return  # another patient is open now: the record has it, the screen shows theirs
            self.view.patient = patient
            if self.ipd.value == text:
                self._show_ipd(patient.ipd_mm, enabled=True)  # as stored (62,50 shows as 62.5), and to the Face card
            shown = patient.ipd_mm
            self.status.object = plain(f"Saved: the measured interpupillary distance is {shown:g} mm; photo fits "
                                       "from here take the face's size from it." if shown is not None else
                                       "Saved: no measured interpupillary distance; photo fits take the size from "
                                       "the iris.")

        def refused(error: str) -> None:
            if self.view is None or self.view.patient.id != patient_id or self.ipd.value != text:
                return  # another patient, or another value typed since: that one is what counts
            self._show_ipd(self.view.patient.ipd_mm, enabled=True)
            self.status.object = plain(f"Not done: {error}")

        self._call(lambda rec: rec.update_patient(patient_id, ipd_mm=value), saved,
                   "saving the interpupillary distance", always=True, on_error=refused)

    def _set_patient_in_plan(self) -> None:
        """The plan on screen carries the open patient (what the chart and the handout print).

        The plan's undo history starts again here: what it held was made before this patient was open (another
        patient's plans, name and face, or no patient's), and an Undo must never put it back under this one's name
        (nor take the name away from the plan, so that the chart prints nobody)."""
        if self.view is None:
            return
        text = patient_text(self.view.patient)
        named = self.state.extra.get("patient")
        if named == text:
            self._owner = (self.view.patient.id, text)
            return
        if isinstance(named, str):  # another patient's (a file's, a restored autosave's): never relabelled
            self.state.message = ("The plan on screen names another patient: it is not saved to this patient's visits "
                                  "(open this patient again for their own plan).")
            return
        plan = self.state.plan_dict()
        plan["patient"] = text
        self.state.load_plan(plan, undoable=False)
        self._owner = (self.view.patient.id, text)
        self.state.message = "The plan carries the open patient; Undo starts from here."

    def _draw_previous(self, before: dt.date | None) -> None:
        """Place the last treatment before ``before`` on the face (worker thread) and draw it faintly."""
        view, model = self.view, self.analyst.model
        if view is None:
            return
        show = bool(self.show_previous.value)
        if self._doc is None:
            self.scene_view.show_previous(previous_needles(model, view, before), show)
            return

        def work() -> None:
            try:
                needles = previous_needles(model, view, before)
            except Exception as exc:  # drawn or not, the card goes on
                log.warning("the previous visit could not be drawn: %s", type(exc).__name__)
                return
            if self._doc is not None:
                self._doc.add_next_tick_callback(lambda: self.scene_view.show_previous(needles, show))

        records_executor().submit(work)

    # ------------------------------------------------------------------ correcting a patient
    def _show_correction(self, patient: Patient | None) -> None:
        """The correction's fields show the open patient's name and date of birth as the records have them (empty and
        off when no patient is open)."""
        self.fix_name.value = (patient.name or "") if patient is not None else ""
        birth = patient.date_of_birth if patient is not None else None
        self.fix_birth.value = birth.isoformat() if birth is not None else ""
        self.fix_name.disabled = self.fix_birth.disabled = patient is None

    def correct_patient(self) -> None:
        """Correct the open patient's name and date of birth to the correction's fields (empty: none): checked as when
        a patient is added (:func:`patient_form`, then the records), kept and audited as ``injectmap records patients
        update`` does (``Records.update_patient``: an ``update`` of ``patients`` naming the fields changed, never
        their values; nothing is written when nothing changed). Then the card, the list of patients and, when the
        plan on screen is theirs, the plan (its Undo history too) and so the chart and the handout name them as
        corrected (:meth:`_corrected`)."""
        if not self._not_training():
            return
        if not self._need_patient():
            return
        assert self.view is not None
        try:
            name, birth = patient_form(str(self.fix_name.value or ""), str(self.fix_birth.value or ""))
        except ValueError as exc:
            self.status.object = plain(f"Not done: {exc}")
            return
        pid = self.view.patient.id

        def work(rec: Records) -> tuple[Patient, Patient]:
            before = rec.patient(pid)
            after = rec.update_patient(pid, name=name, date_of_birth=birth)
            if patient_text(after) != patient_text(before):
                unforget_patient(after)  # a plan naming them so autosaves (never raises)
            return before, after

        # shown whatever ran after it: the records have the correction, the plan on screen must follow it
        self._call(work, self._corrected, "correcting the patient", always=True)

    def _corrected(self, result: tuple[Patient, Patient]) -> None:
        """A patient's name or date of birth was corrected: the card shows it (if they are still the open patient), so
        does the list of patients, and a plan the card made theirs, on screen or set aside, names them as corrected
        (the chart and handout made before, printing the old name, are withdrawn)."""
        before, after = result
        changed = corrected_fields(before, after)
        if self.view is not None and self.view.patient.id == after.id:
            self.view.patient = after
            self._show(self.view)
            self._show_correction(after)
        if any(p.id == after.id for p in self._found):
            self._show_found([replace(p, name=after.name, date_of_birth=after.date_of_birth) if p.id == after.id else p
                              for p in self._found])
        text = patient_text(after)
        if self._owner is not None and self._owner[0] == after.id and self._owner[1] != text:
            old, self._owner = self._owner[1], (after.id, text)
            if self.state.rename_patient(old, text):
                self.report.forget_documents("The patient's name was corrected: make the report or handout again.")
                self.state.message = "The plan names the patient as corrected; so will its chart and handout."
        if not changed:
            self.status.object = plain(f"Nothing changed: {patient_label(after)} has this name and date of birth "
                                       "already.")
            return
        self.status.object = plain(f"Corrected the {' and the '.join(changed)} of {patient_label(after)}.")

    # ------------------------------------------------------------------ deleting a patient
    def ask_delete_patient(self, ask: bool) -> None:
        """Ask to confirm the deletion of the open patient, naming them (False: withdraw the question)."""
        if ask and not self._not_training():
            return
        if ask and not self._need_patient():
            return
        self._confirm_patient = self.view.patient.id if ask and self.view is not None else None
        if self._confirm_patient is None or self.view is None:
            self.delete_box.objects = [self.delete_patient]
            return
        p = self.view.patient
        question = pn.pane.Markdown(f"Delete **{plain(patient_label(p))}** for good: every visit, outcome, photo and "
                                    "fitted face of theirs? This cannot be undone (an export keeps a copy: "
                                    "`injectmap records patients export`).", width=270, margin=(0, 5),
                                    css_classes=["patient-delete-question"])
        yes = pn.widgets.Button(label=delete_label(p), color="danger", width=270, css_classes=["pt-patient-confirm"],
                                stylesheets=[":host .bk-btn { white-space: normal; overflow-wrap: anywhere; }"])
        no = pn.widgets.Button(label="Cancel", width=270, css_classes=["pt-patient-cancel"])
        yes.on_click(functools.partial(lambda pid, _e: self.delete_patient_id(pid), p.id))  # this patient only
        no.on_click(lambda _e: self.ask_delete_patient(False))
        self.delete_box.objects = [question, yes, no]

    def delete_patient_id(self, patient_id: int) -> None:
        """Delete the open patient's whole record (after the confirmation): its visits, outcomes, photos and
        their files, its fitted faces (the records' copies, the users' faces folders, the face cache, the
        reports' stills and kept charts) and the autosaved plans that name the patient (:func:`forget_autosaves`);
        then the card has no patient open, the list is found again and the plan on screen no longer carries the
        patient (see :meth:`_forget_patient`)."""
        if not self._not_training():
            return
        if self._confirm_patient != patient_id:  # a second click on the answered question's button: done already
            return
        self.ask_delete_patient(False)
        if self.view is None or self.view.patient.id != patient_id:  # another patient was opened meanwhile
            self.status.object = plain("Not done: the patient to delete is no longer the open one.")
            return
        patient = self.view.patient
        search = str(self.search.value or "").strip() or None
        unsaved = self._unsaved_faces(patient)

        def work(rec: Records) -> tuple[DeleteResult, list[PatientSummary] | None, list[Path]]:
            from injectmap.reports import chart_cache
            from injectmap.reports.stills_cache import forget_face

            def forget(face_id: str) -> int:
                chart_cache.forget_face(face_id)  # the charts this server keeps in memory (not counted)
                return forget_face(face_id)

            res = rec.delete_patient(patient_id, forget_face=forget, unsaved_faces=unsaved)
            chart_cache.forget_pictures()  # the photos charted, kept in memory (whose, their keys do not say)
            try:  # the record is gone: a failure to list the others must not keep it on screen
                remaining: list[PatientSummary] | None = rec.list_patients()
            except Exception as exc:  # noqa: BLE001 - then the autosaves are matched by face only
                log.warning("the patients left could not be listed: %s", type(exc).__name__)
                remaining = None
            autosaves = forget_autosaves(patient, res, remaining)  # never raises
            if remaining is not None and search is None:
                return res, remaining, autosaves
            try:
                return res, rec.list_patients(search), autosaves
            except Exception:  # noqa: BLE001 - the list is found again with the next Find
                return res, None, autosaves

        def done(result: tuple[DeleteResult, list[PatientSummary] | None, list[Path]]) -> None:
            from injectmap.viewer.file_panel import autosave_dir
            from injectmap.viewer.session import user_autosave_dir

            res, found, autosaves = result
            self._forget_patient(res, patient)  # this session's own autosave is written again, without them
            self._show_found([] if found is None else found)
            own_folder = user_autosave_dir(autosave_dir(), self._login)
            own = sum(1 for p in autosaves if p.parent == own_folder)
            self.tabs.active = 0  # the patient is gone: whatever tab was chosen meanwhile showed them
            self.status.object = plain(deleted_text(patient_label(patient), res, own, others=own < len(autosaves)))

        self._call(work, done, "deleting the patient", always=True)  # shown gone whatever ran after it

    def _unsaved_faces(self, patient: Patient) -> tuple[str, ...]:
        """The faces the Face card accepted in this session while ``patient`` was open here (a photo's or a
        scan's fit, its visit perhaps not saved yet): the patient's, so they go with their record. Never
        raises: the record is deleted whatever happens here (its saved faces go with it)."""
        if self.accepted_faces is None:
            return ()
        try:
            ids = self.accepted_faces(patient.id)
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("the accepted faces were not looked up: %s", type(exc).__name__)
            return ()
        return tuple(f for f in ids if is_face_id(f))

    def open_patient_id(self) -> int | None:
        """The records' id of the patient open in the card (None: none)."""
        return self.view.patient.id if self.view is not None else None

    def _forget_patient(self, res: DeleteResult, patient: Patient) -> None:
        """No patient open after their deletion: the card's visit, review, history and photos are emptied, the
        forms' notes too (and the new-patient form when it still holds them), the faint previous treatment
        goes, the Report card forgets the visit's details and its documents, the Face card its photo, scan and
        their fits (``on_patient_deleted``), and the plan on screen loses the patient (and their fitted face: the
        default face comes back) without an Undo that would bring them back; when it was theirs (named them, or
        nobody), its points go too, so the next patient opened does not adopt them (the vial's product, lot,
        expiry and dilution stay in the visit form)."""
        self.view, self.visit, self.outcomes, self.proposal = None, None, [], None
        self._set_aside_plans.pop(patient.id, None)  # their plan set aside in this session goes with the record
        self._set_aside_sources.pop(patient.id, None)
        self._owner = None
        self._show_ipd(None, enabled=False)
        self._show_correction(None)
        if str(self.identifier.value or "").strip() == patient.identifier:
            self.identifier.value = self.name_input.value = self.birth.value = self.patient_notes.value = ""
            self.new_ipd.value = ""
        self.visit_notes.value = self.effects.value = ""
        self._thumbs.clear()
        self._show_photos([])
        self.current.object = "No patient open."
        self.visits.options = {}
        self.history.object, self.history_text.object = None, ""
        self.proposal_pane.object = self.outcome_text.object = ""
        self.save_touch_up.disabled = True
        self.scene_view.show_previous([], None)
        self.report.forget()
        if self.on_patient_deleted is not None:  # before the plan changes: the Face card then shows no fit of theirs
            try:
                self.on_patient_deleted(res.face_ids)
            except Exception as exc:  # noqa: BLE001 - the deletion is done: the card must still say so
                log.warning("the Face card did not forget the deleted patient: %s", type(exc).__name__)
        plan = self.state.plan_dict()
        theirs = plan.pop("patient", None) in {patient_text(patient), None}
        if theirs:  # their points are their record's too: the next patient opened must not adopt them
            plan["points"] = []
        model = plan.get("model")
        gone = {f"{fid}.face.json" for fid in res.face_ids}
        if isinstance(model, dict) and model.get("face") and Path(str(model["face"])).name in gone:
            plan.pop("model")  # that face file was removed: the Face card goes back to the default face
        # the undo history holds the patient's plans and name; emptied, the plan is the app's own
        self.state.load_plan(plan, undoable=False, source="" if theirs else None)
        self.state.message = ("The patient's record was deleted; so is their plan on screen." if theirs else
                              "The patient's record was deleted; the plan on screen no longer names them.")
        if self.on_plan_forgotten is not None:
            try:
                self.on_plan_forgotten()
            except Exception as exc:  # noqa: BLE001 - the deletion is done: the card must still say so
                log.warning("the restore offer was not checked after the deletion: %s", type(exc).__name__)

    # ------------------------------------------------------------------ visits
    def new_visit(self) -> None:
        """Add the visit of the form to the open patient; an initial or touch-up visit keeps the plan on
        screen as its plan. The new visit is then opened."""
        if not self._not_training():
            return
        if not self._need_patient():
            return
        assert self.view is not None
        kind = str(self.kind.value)
        if kind == "touch_up":
            self.status.object = plain("A touch-up is saved from the Review tab (it names the visit it completes).")
            return
        try:
            fields = self._visit_form()
            plan = self._screen_plan(fields.get("dilution_ml")) if kind != "review" else None
            if kind == "review":  # no injection: no product, lot or dilution
                fields = {k: fields[k] for k in ("date", "consent", "notes")}
        except ValueError as exc:
            self.status.object = plain(f"Not done: {exc}")
            return
        pid = self.view.patient.id

        def work(rec: Records) -> VisitView:
            v = rec.add_visit(pid, kind=kind, plan=plan, face_json=self._face_json(plan) if plan else None, **fields)
            return visit_view(rec, pid, v, self._thumbs)

        def added(result: VisitView) -> None:
            self._reset_visit_form()  # consent and the notes were this visit's
            self._visit_opened("Added", result)

        self._call(work, added, "adding the visit")

    def _visit_form(self) -> dict[str, Any]:
        """The visit form's values, checked for their form (the records check the rest)."""
        return {"date": _date(str(self.date.value or ""), "the visit date"), "consent": bool(self.consent.value),
                "product": self.product.value or None, "lot": str(self.lot.value or "").strip() or None,
                "lot_expiry": _optional_date(str(self.expiry.value or ""), "the expiry"),
                "dilution_ml": _optional_ml(str(self.dilution.value or ""), "the dilution"),
                "notes": str(self.visit_notes.value or "")}

    def _screen_plan(self, dilution_ml: float | None = None) -> Plan:
        """The plan on screen, with the open patient and the visit's dilution (its mL per point follow)."""
        plan = self.state.plan_dict()
        if self.view is not None:
            text = patient_text(self.view.patient)
            named = plan.get("patient")
            if isinstance(named, str) and named != text:  # a file's, a restored autosave's, training's planning plan
                raise ValueError("the plan on screen names another patient: it is not saved to this patient's "
                                 "visits (open this patient again for their own plan)")
            plan["patient"] = text
        if dilution_ml is None or plan["product"].get("diluent_ml") == dilution_ml:
            return parse_plan(plan)
        plan["product"] = dict(plan["product"], diluent_ml=float(dilution_ml))
        checked = parse_plan(plan)  # a dilution the plan refuses leaves the plan on screen as it was
        self.state.set_product(plan["product"])
        return checked

    def open_visit_id(self, visit_id: int | None) -> None:
        """Open a visit of the open patient (see :meth:`_visit_opened`)."""
        if not self._not_training():
            return
        if not self._need_patient() or visit_id is None:
            if visit_id is None:
                self.status.object = plain("Choose a visit first.")
            return
        assert self.view is not None
        pid = self.view.patient.id

        def work(rec: Records) -> VisitView:
            return visit_view(rec, pid, rec.visit(int(visit_id)), self._thumbs)

        self._call(work, functools.partial(self._visit_opened, "Opened"), "opening the visit")

    def _visit_opened(self, verb: str, result: VisitView) -> None:
        """A visit is open: its plan in the app (a review keeps the plan on screen), the Report card's
        fields filled, its outcomes shown and the treatment before it drawn faintly."""
        view, visit, outcomes, media = result
        self.visit, self.proposal = visit, None
        self._show_photos(media.photos)
        self.save_touch_up.disabled = True
        self.proposal_pane.object = ""
        self._show(view, select=visit.id)
        plan = view.plans.get(visit.id)
        if plan is not None:
            d = plan_to_dict(plan)
            d["patient"] = patient_text(view.patient)
            if media.face_path is not None:  # the face kept with the visit, written back for this user
                d["model"] = dict(d.get("model") or {}, face=str(media.face_path))
            kind = KIND_LABELS.get(visit.kind, visit.kind)
            self.state.load_plan(d, source=f"the {kind} visit of {visit.date.isoformat()}")
        else:
            self._set_patient_in_plan()
        for name, value in chart_fields(visit).items():
            getattr(self.report, name).value = value
        self._draw_previous(visit.date)
        if visit.kind == "review":
            self._show_outcomes(outcomes, say=False)
            self._show_tab(2)
        self.status.object = plain(f"{verb} visit {visit_label(visit)}: the Report card has its details.")

    def save_plan_to_visit(self) -> None:
        """The plan on screen becomes the open visit's plan."""
        if not self._not_training():
            return
        if not self._need_visit() or self.view is None or self.visit is None:
            return
        if self.visit.kind == "review":
            self.status.object = plain("A review records outcomes; its touch-up is a visit of its own.")
            return
        try:
            plan = self._screen_plan()
        except ValueError as exc:
            self.status.object = plain(f"Not done: {exc}")
            return
        pid, vid = self.view.patient.id, self.visit.id

        def work(rec: Records) -> VisitView:
            v = rec.set_plan(vid, plan, face_json=self._face_json(plan))
            return visit_view(rec, pid, v, self._thumbs)

        self._call(work, functools.partial(self._visit_opened, "Saved the plan to"), "saving the plan")

    # ------------------------------------------------------------------ review and touch-up
    def record_outcome(self) -> None:
        """Record the outcome of the form at the open review."""
        if not self._need_visit("review") or self.visit is None:
            return
        vid, area, side = self.visit.id, str(self.area.value), str(self.side.value)
        movement, effects = int(self.movement.value), side_effects(str(self.effects.value or ""))

        def work(rec: Records) -> list[Outcome]:
            rec.record_outcome(vid, area, side, movement, effects)
            return rec.outcomes(vid)

        self._call(work, self._show_outcomes, "recording the outcome")

    def _show_outcomes(self, outcomes: list[Outcome], say: bool = True) -> None:
        self.outcomes = outcomes
        rows = [f"| {plain(o.area)} | {plain(o.side)} | {o.movement} | {plain(', '.join(o.side_effects)) or '-'} |"
                for o in outcomes]
        self.outcome_text.object = ("| area | side | movement | side effects |\n|---|---|---|---|\n" + "\n".join(rows)
                                    if rows else "No outcome recorded at this review yet.")
        if say:
            self.status.object = plain(f"{len(outcomes)} outcome(s) recorded at this review.")

    def propose_touch_up(self) -> None:
        """The touch-up from the open review's outcomes, put in the plan with its reasons (undoable)."""
        if not self._not_training():
            return
        if not self._need_visit("review") or self.view is None or self.visit is None:
            return
        vid, pid, on = self.visit.id, self.view.patient.id, self.visit.date

        def work(rec: Records) -> TouchUpProposal:
            view = load_patient(rec, pid)
            return propose_touch_up(view.records(), review_outcomes(rec.outcomes(vid)), on=on)

        self._call(work, self._proposed, "proposing the touch-up")

    def _proposed(self, proposal: TouchUpProposal) -> None:
        self.proposal = proposal
        self._saving_touch_up = False  # a save that ended while another call ran (its result not shown) is over
        self.proposal_pane.object = proposal_text(proposal)
        if proposal.empty:
            self._proposal_origin = None  # an earlier proposal's plan, brought back by Undo and Redo, is not this one
            self.save_touch_up.disabled = True
            self.status.object = plain("Nothing to touch up: see the reasons.")
            return
        d = plan_to_dict(proposal.plan)
        if self.view is not None:
            d["patient"] = patient_text(self.view.patient)
        if "model" in self.state.extra:
            d["model"] = self.state.extra["model"]
        self.state.load_plan(d, source="the touch-up proposal")
        self._proposal_origin = self.state.origin
        self.state.message = "The touch-up proposal is in the plan (Undo brings the plan back); edit it, then save it."
        self.save_touch_up.disabled = False
        self.status.object = plain(f"Proposed {len(proposal.plan.points)} point(s): edit the plan, then "
                                   "\"Save as touch-up visit\".")

    def _show_save_touch_up(self) -> None:
        """"Save as touch-up visit" is there while the plan on screen is the proposal or an edit of it: an Undo past
        the proposal (or another plan opened) takes it away, a Redo brings it back; never while one is being
        saved."""
        self.save_touch_up.disabled = (self.proposal is None or self.proposal.empty or self._saving_touch_up
                                       or self.state.origin != self._proposal_origin)

    def save_as_touch_up(self) -> None:
        """The plan on screen (the edited proposal) as a touch-up visit completing the initial visit, with
        the visit form's consent, lot, expiry, dilution and notes."""
        if not self._not_training():
            return
        if self.proposal is None or self.proposal.empty or self.view is None or self._saving_touch_up:
            self.status.object = plain("Propose a touch-up first.")
            return
        if self.state.origin != self._proposal_origin:
            self.status.object = plain("The plan on screen is no longer the touch-up proposal (an Undo went past it, "
                                       "or another plan was opened): Redo, or propose the touch-up again.")
            self.save_touch_up.disabled = True
            return
        try:
            fields = self._visit_form()
            plan = self._screen_plan(fields.get("dilution_ml"))
        except ValueError as exc:
            self.status.object = plain(f"Not done: {exc}")
            return
        fields["date"] = self.proposal.date
        completes = None if self.proposal.completes_visit_id is None else int(self.proposal.completes_visit_id)
        pid = self.view.patient.id

        def work(rec: Records) -> VisitView:
            v = rec.add_visit(pid, kind="touch_up", plan=plan, completes_visit_id=completes,
                              face_json=self._face_json(plan), **fields)
            return visit_view(rec, pid, v, self._thumbs)

        def saved(result: VisitView) -> None:
            self._saving_touch_up = False
            self._reset_visit_form()
            self._show_tab(3)
            self._visit_opened("Saved the touch-up as", result)

        def failed(_error: str) -> None:
            self._saving_touch_up = False
            self._show_save_touch_up()

        self._saving_touch_up = True  # one touch-up visit per click, however fast the second one comes (an Undo and
        self.save_touch_up.disabled = True  # a Redo meanwhile do not bring the button back either)
        self._call(work, saved, "saving the touch-up", on_error=failed)

    # ------------------------------------------------------------------ photos
    def upload_photo(self) -> None:
        """Keep the uploaded file as a photo of the open visit (checked: JPEG or PNG, its size, readable)."""
        data, name = self.photo_upload.value, str(self.photo_upload.filename or "")
        if not data:
            return
        if not self._need_visit():
            return
        assert self.visit is not None
        vid, cache = self.visit.id, self._thumbs

        def work(rec: Records) -> list[PhotoThumb]:
            check_photo(data)
            png = thumbnail(bytes(data))  # an unreadable image is refused before it is kept
            ph = rec.add_photo(vid, bytes(data), display_name=name)
            cache[ph.id] = png
            return visit_photos(rec, vid, cache)

        def shown(items: list[PhotoThumb]) -> None:
            self._show_photos(items)
            self.status.object = plain(f"Added the photo {items[-1].photo.display_name or ''} to this visit.")

        self._call(work, shown, "adding the photo")

    def _show_photos(self, items: list[PhotoThumb]) -> None:
        """The open visit's photos as thumbnails, each with its name, date, Delete (with a confirmation) and,
        with a Face card to hand it to, "Fit face from this photo" and "Fit together"."""
        self.photo_items = items
        self._together &= {item.photo.id for item in items}  # another visit's, or deleted: not ticked
        if self.visit is None:
            self.photo_note.object = "Open a visit to see or add its photos."
        else:
            self.photo_note.object = plain(f"{len(items)} photo(s) of visit {visit_label(self.visit)}. "
                                           "Add a JPEG or PNG:")
        rows = []
        for item in items:
            ph = item.photo
            thumb: Any = (pn.pane.PNG(item.png, width=THUMB_PX, height=THUMB_PX, fixed_aspect=True, margin=(2, 4))
                          if item.png else pn.pane.Markdown("(no preview)", width=THUMB_PX))
            text = pn.pane.Markdown(plain(photo_label(ph)), width=150, margin=(0, 4), css_classes=["patient-photo-name"])
            if self._confirm_delete == ph.id:
                yes = pn.widgets.Button(label="Yes, delete", color="danger", width=70,
                                        css_classes=["pt-photo-confirm"])
                no = pn.widgets.Button(label="Cancel", width=70, css_classes=["pt-photo-cancel"])
                yes.on_click(functools.partial(lambda pid, _e: self.delete_photo(pid), ph.id))
                no.on_click(lambda _e: self.ask_delete(None))
                buttons: list[Any] = [pn.pane.Markdown("Delete this photo for good?", margin=(0, 4)), pn.Row(yes, no)]
            else:
                delete = pn.widgets.Button(label="Delete", width=70, css_classes=["pt-photo-delete"])
                delete.on_click(functools.partial(lambda pid, _e: self.ask_delete(pid), ph.id))
                buttons = [delete]
                if self.on_fit_photos is not None:
                    fit = pn.widgets.Button(label="Fit face from this photo", width=150, css_classes=["pt-photo-fit"])
                    fit.on_click(functools.partial(lambda pid, _e: self.fit_photos([pid]), ph.id))
                    buttons.append(fit)
                    if len(items) > 1:
                        pick = pn.widgets.Checkbox(label="Fit together", value=ph.id in self._together, width=150,
                                                   css_classes=["pt-photo-pick"])
                        pick.param.watch(functools.partial(self._tick, ph.id), "value")
                        buttons.append(pick)
            rows.append(pn.Row(thumb, pn.Column(text, *buttons, margin=0), css_classes=["patient-photo"], margin=(4, 0)))
        self.photo_list.objects = rows
        self._show_together()

    def _tick(self, photo_id: int, event: Any) -> None:
        if event.new:
            self._together.add(photo_id)
        else:
            self._together.discard(photo_id)
        self._show_together()

    def _show_together(self) -> None:
        """The button that fits the ticked photos together: shown with two photos or more, usable with two or
        three ticked (a front photo and up to two obliques)."""
        from injectmap.anatomy.fit.photo import MAX_PHOTOS

        n = len(self._together)
        self.fit_together.visible = self.on_fit_photos is not None and len(self.photo_items) > 1
        self.fit_together.disabled = not 2 <= n <= MAX_PHOTOS
        self.fit_together.label = ("Tick the front photo and up to two obliques to fit them together"
                                   if n < 2 else f"Fit face from the {n} ticked photos" if n <= MAX_PHOTOS
                                   else f"{n} ticked: fit at most {MAX_PHOTOS} together")

    def ask_delete(self, photo_id: int | None) -> None:
        """Ask to confirm the deletion of a photo (None: cancel)."""
        self._confirm_delete = photo_id
        self._show_photos(self.photo_items)

    def delete_photo(self, photo_id: int) -> None:
        """Delete a photo of the open visit and its file (after the confirmation)."""
        self._confirm_delete = None
        if not self._need_visit():
            return
        assert self.visit is not None
        vid, cache = self.visit.id, self._thumbs

        def work(rec: Records) -> tuple[Photo, list[PhotoThumb]]:
            from injectmap.reports.chart_cache import forget_pictures

            gone = rec.delete_photo(photo_id)
            cache.pop(photo_id, None)
            forget_pictures()  # the charts drawn on photos, kept in memory (whose, their keys do not say)
            return gone, visit_photos(rec, vid, cache)

        def shown(result: tuple[Photo, list[PhotoThumb]]) -> None:
            self._show_photos(result[1])
            self.status.object = plain(f"Deleted the photo {result[0].display_name or result[0].id} and its file.")

        self._call(work, shown, "deleting the photo")

    def fit_photos(self, photo_ids: list[int]) -> None:
        """Hand photos of the open visit (their files, hashes checked) to the Face card's fit: one, or a front
        photo and its obliques together (the card finds which is which, and refuses with the reason)."""
        callback = self.on_fit_photos
        if callback is None or not photo_ids:
            return
        ids = list(photo_ids)

        def work(rec: Records) -> list[tuple[bytes, str]]:
            out = []
            for pid in ids:
                ph = rec.photo(pid)
                out.append((rec.photo_bytes(ph), ph.display_name or f"photo {ph.id}"))
            return out

        from injectmap.anatomy.fit.landmarks import FitRefused

        try:  # what the tab shows (saved as it was typed); a value the fit would refuse stops it here, with why
            ipd = self._typed_ipd() if self.view is not None else None
        except FitRefused as exc:
            self.status.object = plain(f"Not done: {exc}")
            return

        def fit(result: list[tuple[bytes, str]]) -> None:
            callback(result, ipd)
            size = (f", its size from the patient's measured interpupillary distance ({ipd:g} mm)" if ipd is not None
                    else "")
            self.status.object = plain(f"The Face card fits the face to {', '.join(name for _d, name in result)}"
                                       f"{size}.")

        self._call(work, fit, "reading the photo" if len(ids) == 1 else f"reading the {len(ids)} photos")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(self.tabs, self.status, title="Patient", width=290, css_classes=["patient-card"])
