"""The patient records' service: patients, visits with their plans, photos, review outcomes, the audit,
export and deletion of a whole record. Callers get frozen dataclasses, never ORM objects.

One :class:`Records` per user: every change it makes writes an audit row (who, when in UTC, action,
table, row id, the patient's row id, and a detail made by the program: counts and field names) in the
same transaction as the change, so a change is never kept without its audit row, nor the reverse.
The audit never holds a patient's name, identifier or notes; neither do the messages of
:class:`RecordsError`, nor any log (statements are logged without parameters or rows, clinic.db).

A visit's plan is the plan file of CONTRACTS.md: :meth:`Records.set_plan` stores
``planning.plan.dumps_plan(plan)``, :meth:`Records.import_plan` stores a plan file's own text once
``planning.plan.load_plan`` has accepted it, :meth:`Records.plan` reads it back through
``planning.plan.loads_plan`` (the one validation), and :meth:`Records.export_plan` writes the stored text
byte for byte: import then export gives the same file back.

Photos are files in an owner-only folder (0700; files 0600) named by a random token (never by the
patient), with their SHA-256 and size in the ``photos`` table; reading one checks its hash. The name the
file had when it was added is kept as ``display_name`` (text to show, escaped by whoever shows it).

A fitted face (the ``*.face.json`` a plan's ``model.face`` names) is kept with the visit whose plan used
it (:meth:`Records.set_plan` with ``face_json``): its text, its ``face_id`` and the visit's photo it was
fitted from (matched by the SHA-256 the face file lists among its sources). :meth:`Records.restore_face`
writes it back, owner-only, into the user's faces folder, so the face comes back with the visit.

Usage::

    with Records.open(user="dr.lee") as rec:          # $INJECTMAP_DATABASE_URL or the default SQLite file
        p = rec.add_patient("MRN-1042", name="...", date_of_birth=date(1980, 5, 1))
        v = rec.add_visit(p.id, date(2026, 3, 2), "initial", consent=True, lot="C1234", plan=plan)
        r = rec.add_visit(p.id, date(2026, 3, 16), "review")
        rec.record_outcome(r.id, "forehead", "left", movement=2)
        t = rec.add_visit(p.id, date(2026, 3, 16), "touch_up", completes_visit_id=v.id, plan=touch_up)
        rec.export_patient(p.id, Path("record.zip")); rec.delete_patient(p.id)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.fileio import atomic_write_bytes
from injectmap.anatomy.fit import facefile
from injectmap.clinic.config import PhotoType, faces_folder, limits, photos_folder, user_faces_dir
from injectmap.clinic.db import head_revision, make_engine, owner_only_folder, sqlite_path, upgrade
from injectmap.clinic.models import (
    SIDES,
    VISIT_KINDS,
    AuditRow,
    FaceRow,
    OutcomeRow,
    PatientRow,
    PhotoRow,
    VisitRow,
)
from injectmap.planning.doses import area_names
from injectmap.planning.plan import Plan, dumps_plan, load_plan, loads_plan, plan_to_dict
from injectmap.planning.products import product_info, product_names

__all__ = ["RECORD_FORMAT", "USER_RE", "AuditEntry", "DeleteResult", "Face", "NotFoundError", "Outcome", "Patient",
           "PatientSummary", "Photo", "Records", "RecordsError", "Visit", "check_identifier", "check_photo",
           "check_face", "check_user", "is_face_id", "photo_display_name", "plan_face_json", "utc_now"]

RECORD_FORMAT = "injectmap-patient-record"
RECORD_VERSION = 1
#: a user name as the logins of ``injectmap serve`` allow them (viewer.auth): letters, digits and . _ - @
USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: a fitted face's id (``anatomy.fit.facefile.face_id``: a SHA-256 in hex), the name of its files
_FACE_ID = re.compile(r"[0-9a-f]{64}")
_UNSET: Any = object()


#: a date of birth further back than this is a typing slip (the oldest documented person lived 122 years)
MAX_AGE_YEARS = 120

class RecordsError(UserFacing, ValueError):
    """A request the records refuse: one line, never the patient's name, identifier or notes."""


class NotFoundError(RecordsError):
    """No such patient, visit or photo."""


# ----------------------------------------------------------------------------------------------
# typed values out


@dataclass(frozen=True)
class Patient:
    """A patient. ``name`` and ``date_of_birth`` are optional; ``identifier`` is the clinic's own; ``ipd_mm``, the
    measured distance interpupillary distance, sets the size of the patient's photo fits where it is known."""

    id: int
    identifier: str
    name: str | None
    date_of_birth: dt.date | None
    notes: str
    created_at: dt.datetime
    created_by: str
    ipd_mm: float | None = None


@dataclass(frozen=True)
class PatientSummary:
    """A row of the patient list: the patient, how many visits, the date of the last one."""

    id: int
    identifier: str
    name: str | None
    date_of_birth: dt.date | None
    visits: int
    last_visit: dt.date | None


@dataclass(frozen=True)
class Visit:
    """A visit. ``kind`` is ``initial``, ``review`` or ``touch_up``; a touch-up names the visit it
    completes (``completes_visit_id``); ``dilution_ml`` is the saline added per vial."""

    id: int
    patient_id: int
    date: dt.date
    kind: str
    clinician: str
    consent: bool
    consent_at: dt.datetime | None
    product: str | None
    lot: str | None
    lot_expiry: dt.date | None
    dilution_ml: float | None
    notes: str
    completes_visit_id: int | None
    has_plan: bool
    created_at: dt.datetime
    #: the face_id of the plan's fitted face kept with the visit (:class:`Face`), None: the average face
    face_id: str | None = None


@dataclass(frozen=True)
class Photo:
    """A photo of a visit: its file (owner-only), SHA-256, size and media type."""

    id: int
    visit_id: int
    path: Path
    sha256: str
    size_bytes: int
    media_type: str
    created_at: dt.datetime
    #: the name the file had when it was added (user text: escape it to show it)
    display_name: str = ""


@dataclass(frozen=True)
class Face:
    """A fitted face kept with a visit: its face_id, the photo of the patient it was fitted from (None:
    none of theirs matches the face file's sources), when it was kept. Its text: :meth:`Records.face_text`."""

    id: int
    visit_id: int
    face_id: str
    photo_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Outcome:
    """The outcome at a review for one area (planning/data/dose_ranges.yaml) and side: the movement left
    (0 none .. 3 full movement) and the side effects."""

    id: int
    visit_id: int
    area: str
    side: str
    movement: int
    side_effects: tuple[str, ...]
    recorded_at: dt.datetime
    recorded_by: str


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who, when (UTC), what, in which table, which row, for which patient (row id)."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    table: str
    row_id: int | None
    patient_id: int | None
    detail: str


@dataclass(frozen=True)
class DeleteResult:
    """What :meth:`Records.delete_patient` removed; ``files_left`` lists photo files it could not remove."""

    patient_id: int
    visits: int
    outcomes: int
    photos: int
    files_left: tuple[str, ...]
    #: the fitted faces kept with the visits, and their copies removed from the users' faces folders
    faces: int = 0
    face_files: int = 0
    #: the fitted faces that went with the patient (no other patient's visit keeps them): their built faces
    #: were removed from the face cache (``built_faces`` folders) and their stills (``stills``, when the
    #: caller gave ``forget_face``)
    face_ids: tuple[str, ...] = ()
    built_faces: int = 0
    stills: int = 0


# ----------------------------------------------------------------------------------------------
# helpers


def is_face_id(text: str) -> bool:
    """Whether ``text`` is a fitted face's id (``anatomy.fit.facefile.face_id``: a SHA-256 in hex)."""
    return _FACE_ID.fullmatch(text) is not None


def utc_now() -> dt.datetime:
    """The current time in UTC, to the microsecond."""
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives it back naive, as written: in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _text(value: Any, limit: int, what: str, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise RecordsError(f"{what} must be text")
    if len(value) > limit:
        raise RecordsError(f"{what} must be at most {limit} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordsError(f"{what} is not valid Unicode text") from None
    bad = _CONTROL.search(value) if multiline else re.search(r"[\x00-\x1f\x7f]", value)
    if bad:
        raise RecordsError(f"{what} contains a control character (code {ord(bad.group())})")
    return value


def _optional_line(value: Any, limit: int, what: str) -> str | None:
    if value is None:
        return None
    s = _text(value, limit, what).strip()
    return s or None


def _date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise RecordsError(f"{what} must be a date")
    return value


def _optional_date(value: Any, what: str) -> dt.date | None:
    return None if value is None else _date(value, what)


def check_user(user: str) -> str:
    """The user name of the audit: letters, digits and ``. _ - @``, 1 to 64 characters."""
    if not isinstance(user, str) or not USER_RE.match(user):
        raise RecordsError("a user name is 1-64 letters, digits, '.', '_', '-' or '@'")
    return user


def check_identifier(identifier: Any) -> str:
    """A patient identifier: one line of printable text, stripped, not empty, at most ``identifier_max``."""
    s = _text(identifier, limit=limits().identifier_max, what="the identifier").strip()
    if not s:
        raise RecordsError("the identifier is empty")
    return s


def check_photo(data: Any) -> PhotoType:
    """The format of a photo's bytes (records.yaml ``photo_types``), after checking its size.

    Raises
    ------
    RecordsError
        For something that is not a JPEG or PNG file, or one over ``photo_max_bytes``.
    """
    lim = limits()
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise RecordsError("a photo is the bytes of an image file")
    if len(data) > lim.photo_max_bytes:
        raise RecordsError(f"a photo is at most {lim.photo_max_bytes // (1024 * 1024)} MB, got "
                           f"{len(data) / (1024 * 1024):.1f} MB")
    kind = next((t for t in lim.photo_types if bytes(data).startswith(bytes.fromhex(t.signature))), None)
    if kind is None:
        raise RecordsError("a photo must be " + " or ".join(t.media_type for t in lim.photo_types))
    return kind


def _patient(row: PatientRow) -> Patient:
    return Patient(id=row.id, identifier=row.identifier, name=row.name, date_of_birth=row.date_of_birth,
                   notes=row.notes, created_at=_utc(row.created_at), created_by=row.created_by,  # type: ignore[arg-type]
                   ipd_mm=row.ipd_mm)


def _visit(row: VisitRow) -> Visit:
    return Visit(id=row.id, patient_id=row.patient_id, date=row.date, kind=row.kind, clinician=row.clinician,
                 consent=bool(row.consent), consent_at=_utc(row.consent_at), product=row.product, lot=row.lot,
                 lot_expiry=row.lot_expiry, dilution_ml=row.dilution_ml, notes=row.notes,
                 completes_visit_id=row.completes_visit_id, has_plan=row.plan_json is not None,
                 created_at=_utc(row.created_at), face_id=row.face_id)  # type: ignore[arg-type]


def _face(row: FaceRow) -> Face:
    return Face(id=row.id, visit_id=row.visit_id, face_id=row.face_id, photo_id=row.photo_id,
                created_at=_utc(row.created_at))  # type: ignore[arg-type]


def photo_display_name(name: Any) -> str:
    """A photo's name to keep: the last part of a file name, C0/C1 control characters and bidirectional
    controls dropped (:data:`_UNSHOWN`), at most 200 characters (the rest is shown as text, escaped where it
    is shown)."""
    if not isinstance(name, str):
        return ""
    base = re.split(r"[\\/]", name)[-1]
    return _UNSHOWN.sub("", base).strip()[:200]


#: what a file name must not carry when it is kept and shown: C0 and C1 control characters, and the
#: bidirectional marks, embeddings, overrides and isolates that make a name read other than it is
#: (U+200E/F, U+061C, U+202A-202E, U+2066-2069; Unicode TR#9, and CVE-2021-42574's "Trojan Source")
_UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_face(text: Any) -> tuple[str, tuple[str, ...]]:
    """A face file's text checked (kind, version, targets as the face file has them): its face_id and the
    SHA-256 of its sources. Whether its targets fit this installation is checked when a plan loads it.

    Raises
    ------
    RecordsError
        For text that is not a face file, or one over the face file's size limit.
    """
    if not isinstance(text, str) or not text:
        raise RecordsError("a face is the text of a *.face.json file")
    if len(text.encode("utf-8", "replace")) > facefile.MAX_BYTES:
        raise RecordsError("the face file is too large")
    try:
        raw = json.loads(text)
    except ValueError:
        raise RecordsError("the face file is not JSON") from None
    names = {t[0] for t in raw.get("targets", []) if isinstance(t, list) and t and isinstance(t[0], str)} \
        if isinstance(raw, dict) and isinstance(raw.get("targets"), list) else set()
    base = str(raw.get("base_mesh_sha256") or "") if isinstance(raw, dict) else ""
    try:
        face = facefile.parse(raw, "the face file", known=names, base_sha256=base)
    except facefile.FaceFileError as exc:
        raise RecordsError(str(exc)) from None
    shas = tuple(str(src.get("sha256")) for src in face.sources if isinstance(src.get("sha256"), str))
    return face.face_id, shas


def plan_face_json(plan: Plan) -> str | None:
    """The text of the face file the plan's ``model.face`` names (a path, absolute or relative to the working
    folder, as ``anatomy.params.FaceParams`` reads it); None when the plan has no fitted face.

    Raises
    ------
    RecordsError
        When that file cannot be read (the message names the file, never its content).
    """
    face = plan.model.face if plan.model is not None else None
    if not face:
        return None
    path = Path(face)
    try:
        if path.stat().st_size > facefile.MAX_BYTES:
            raise RecordsError(f"the plan's face file {path.name} is too large for a face file")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise RecordsError(f"the plan's face file {path.name} cannot be read; open the face again") from None


def _outcome(row: OutcomeRow) -> Outcome:
    return Outcome(id=row.id, visit_id=row.visit_id, area=row.area, side=row.side, movement=row.movement,
                   side_effects=tuple(row.side_effects or ()), recorded_at=_utc(row.recorded_at),  # type: ignore[arg-type]
                   recorded_by=row.recorded_by)


def _audit_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(id=row.id, at=_utc(row.at), actor=row.actor, action=row.action,  # type: ignore[arg-type]
                      table=row.table_name, row_id=row.row_id, patient_id=row.patient_id, detail=row.detail)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# ----------------------------------------------------------------------------------------------
# the service


class Records:
    """The patient records of one clinic, used by one user (the clinician logged in).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        An engine at the newest schema (:func:`injectmap.clinic.db.open_engine`); :meth:`open` makes one.
    user : str
        Who acts: the audit's ``actor`` and a visit's ``clinician``.
    photos_dir : Path
        The owner-only folder of the photo files (created 0700 when first needed).
    faces_dir : Path, optional
        The folder of the users' faces folders (config.faces_folder): :meth:`restore_face` writes into
        this user's, and :meth:`delete_patient` removes a deleted patient's faces from every user's.
    """

    def __init__(self, engine: Engine, user: str, photos_dir: Path, faces_dir: Path | None = None) -> None:
        self.engine = engine
        self.user = check_user(user)
        self.photos_dir = Path(photos_dir)
        self.faces_dir = Path(faces_dir) if faces_dir is not None else faces_folder()

    @property
    def user_faces_dir(self) -> Path:
        """This user's faces folder (where :meth:`restore_face` writes)."""
        return user_faces_dir(self.faces_dir, self.user)

    @classmethod
    def open(cls, url: str | None = None, *, user: str, photos_dir: Path | None = None,
             faces_dir: Path | None = None) -> Records:
        """Open (and migrate to the newest schema) the database at ``url`` (``$INJECTMAP_DATABASE_URL``,
        else the default SQLite file); photos go to ``photos_dir`` (else config.photos_folder), restored
        faces to ``faces_dir`` (else config.faces_folder)."""
        check_user(user)
        engine = make_engine(url)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        folder = photos_dir if photos_dir is not None else photos_folder(sqlite_path(engine.url))
        return cls(engine, user, folder, faces_dir)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- transactions and audit

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction: committed at the end of the block, rolled back on any exception."""
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    def _audit(self, s: Session, action: str, table: str, row_id: int | None, patient_id: int | None,
               detail: str = "") -> None:
        s.add(AuditRow(at=utc_now(), actor=self.user, action=action, table_name=table, row_id=row_id,
                       patient_id=patient_id, detail=detail))
        s.flush()

    @staticmethod
    def _get_patient(s: Session, patient_id: int) -> PatientRow:
        row = s.get(PatientRow, patient_id)
        if row is None:
            raise NotFoundError(f"no patient with row id {patient_id}")
        return row

    @staticmethod
    def _get_visit(s: Session, visit_id: int) -> VisitRow:
        row = s.get(VisitRow, visit_id)
        if row is None:
            raise NotFoundError(f"no visit with id {visit_id}")
        return row

    # ---------------------------------------------------------------- patients

    def add_patient(self, identifier: str, *, name: str | None = None, date_of_birth: dt.date | None = None,
                    notes: str = "", ipd_mm: float | str | None = None) -> Patient:
        """Add a patient; the identifier must be new to this database.

        Raises
        ------
        RecordsError
            For an identifier already used, text too long or with control characters, a date of birth in
            the future, an interpupillary distance outside the adult range.
        """
        lim = limits()
        row = PatientRow(identifier=check_identifier(identifier), name=_optional_line(name, lim.name_max, "the name"),
                         date_of_birth=self._birth(date_of_birth),
                         notes=_text(notes, lim.notes_max, "the notes", multiline=True),
                         created_at=utc_now(), created_by=self.user, ipd_mm=self._ipd(ipd_mm))
        try:
            with self._tx() as s:
                s.add(row)
                s.flush()
                self._audit(s, "create", "patients", row.id, row.id)
        except IntegrityError:
            raise RecordsError("a patient with this identifier already exists") from None
        return _patient(row)

    @staticmethod
    def _ipd(value: Any) -> float | None:
        """A measured interpupillary distance (mm) or None: the photo fit's own check
        (``anatomy.fit.photo.checked_ipd``, the adult range), rounded to 0.1 mm."""
        from injectmap.anatomy.fit.landmarks import FitRefused
        from injectmap.anatomy.fit.photo import checked_ipd

        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            v = checked_ipd(value)
        except FitRefused as exc:
            raise RecordsError(str(exc)) from None
        return None if v is None else round(v, 1)

    @staticmethod
    def _birth(value: Any) -> dt.date | None:
        d = _optional_date(value, "the date of birth")
        today = dt.date.today()
        if d is not None and d > today:
            raise RecordsError("the date of birth is in the future")
        if d is not None and today.year - d.year > MAX_AGE_YEARS:
            raise RecordsError(f"a date of birth in {d.year} is over {MAX_AGE_YEARS} years ago: check the year "
                               "(YYYY-MM-DD)")
        return d

    def update_patient(self, patient_id: int, *, identifier: str = _UNSET, name: str | None = _UNSET,
                       date_of_birth: dt.date | None = _UNSET, notes: str = _UNSET,
                       ipd_mm: float | str | None = _UNSET) -> Patient:
        """Change the given fields of a patient (the audit names the fields, never their values); ``ipd_mm`` None
        removes the measured distance."""
        lim = limits()
        new: dict[str, Any] = {}
        if identifier is not _UNSET:
            new["identifier"] = check_identifier(identifier)
        if name is not _UNSET:
            new["name"] = _optional_line(name, lim.name_max, "the name")
        if date_of_birth is not _UNSET:
            new["date_of_birth"] = self._birth(date_of_birth)
        if notes is not _UNSET:
            new["notes"] = _text(notes, lim.notes_max, "the notes", multiline=True)
        if ipd_mm is not _UNSET:
            new["ipd_mm"] = self._ipd(ipd_mm)
        try:
            with self._tx() as s:
                row = self._get_patient(s, patient_id)
                changed = self._assign(row, new)
                if changed:
                    s.flush()
                    self._audit(s, "update", "patients", row.id, row.id, "fields=" + ",".join(changed))
        except IntegrityError:
            raise RecordsError("a patient with this identifier already exists") from None
        return _patient(row)

    @staticmethod
    def _assign(row: Any, new: dict[str, Any]) -> list[str]:
        changed = [k for k, v in new.items() if getattr(row, k) != v]
        for k in changed:
            setattr(row, k, new[k])
        return changed

    def patient(self, patient_id: int) -> Patient:
        """One patient by row id."""
        with self._tx() as s:
            return _patient(self._get_patient(s, patient_id))

    def find_patient(self, identifier: str) -> Patient:
        """One patient by the clinic's identifier."""
        ident = check_identifier(identifier)
        with self._tx() as s:
            row = s.scalar(select(PatientRow).where(PatientRow.identifier == ident))
            if row is None:
                raise NotFoundError("no patient with this identifier")
            return _patient(row)

    def list_patients(self, search: str | None = None) -> list[PatientSummary]:
        """Every patient (or those whose identifier or name contains ``search``, any case), by identifier,
        with the number of visits and the date of the last one."""
        counts = (select(VisitRow.patient_id, func.count(VisitRow.id).label("n"), func.max(VisitRow.date).label("last"))
                  .group_by(VisitRow.patient_id).subquery())
        q = (select(PatientRow, counts.c.n, counts.c.last).outerjoin(counts, counts.c.patient_id == PatientRow.id)
             .order_by(PatientRow.identifier))
        if search:
            pattern = "%" + _text(search, 200, "the search").lower().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            q = q.where(or_(func.lower(PatientRow.identifier).like(pattern, escape="\\"),
                            func.lower(PatientRow.name).like(pattern, escape="\\")))
        with self._tx() as s:
            return [PatientSummary(id=p.id, identifier=p.identifier, name=p.name, date_of_birth=p.date_of_birth,
                                   visits=int(n or 0), last_visit=last) for p, n, last in s.execute(q)]

    # ---------------------------------------------------------------- visits

    def add_visit(self, patient_id: int, date: dt.date, kind: str, *, consent: bool = False,
                  consent_at: dt.datetime | None = None, product: str | None = None, lot: str | None = None,
                  lot_expiry: dt.date | None = None, dilution_ml: float | None = None, notes: str = "",
                  completes_visit_id: int | None = None, plan: Plan | None = None,
                  plan_file: str | os.PathLike[str] | None = None, face_json: str | None = None) -> Visit:
        """Add a visit by this user (the clinician), with its plan if given.

        ``consent_at`` defaults to now when ``consent`` is true. The product and the dilution default to
        the plan's product and ``diluent_ml``. ``plan_file``, instead of ``plan``, stores a plan file's text as
        :meth:`import_plan` does, in the same transaction; ``face_json`` is the text of the fitted face the
        plan's ``model.face`` names, kept with the visit (:meth:`set_plan`). A touch-up must name the initial
        visit of the same patient it completes, on or before its date. A lot must not have expired before the visit.

        Raises
        ------
        RecordsError
            For any field out of its rules (the message names the field).
        """
        if kind not in VISIT_KINDS:
            raise RecordsError(f"the kind of a visit is one of {', '.join(VISIT_KINDS)}, got {kind!r}")
        if plan is not None and plan_file is not None:
            raise RecordsError("give the plan or a plan file, not both")
        text = None
        if plan_file is not None:
            plan, text = self._read_plan_file(plan_file)
        elif plan is not None:
            text = dumps_plan(plan)
        if plan is not None:
            product = product if product is not None else plan.product.name
            dilution_ml = dilution_ml if dilution_ml is not None else plan.product.diluent_ml
        fields = self._visit_fields(date=date, consent=consent, consent_at=consent_at, product=product, lot=lot,
                                    lot_expiry=lot_expiry, dilution_ml=dilution_ml, notes=notes)
        with self._tx() as s:
            self._get_patient(s, patient_id)
            self._check_completes(s, patient_id, kind, fields["date"], completes_visit_id)
            row = VisitRow(patient_id=patient_id, kind=kind, clinician=self.user, completes_visit_id=completes_visit_id,
                           created_at=utc_now(), **fields)
            self._check_lot(row)
            if plan is not None:
                self._check_plan_product(row, plan)
                row.plan_json = text
            s.add(row)
            s.flush()
            self._audit(s, "create", "visits", row.id, patient_id, f"kind={kind}" + (" plan" if plan else ""))
            self._plan_face(s, row, plan, face_json)
        return _visit(row)

    def _visit_fields(self, **given: Any) -> dict[str, Any]:
        """The visit's fields checked (only those given); consent, product, lot and dilution together."""
        lim = limits()
        out: dict[str, Any] = {}
        if "date" in given:
            out["date"] = _date(given["date"], "the visit date")
        if "notes" in given:
            out["notes"] = _text(given["notes"], lim.notes_max, "the notes", multiline=True)
        if "lot" in given:
            out["lot"] = _optional_line(given["lot"], lim.lot_max, "the lot")
        if "lot_expiry" in given:
            out["lot_expiry"] = _optional_date(given["lot_expiry"], "the lot expiry")
        if "consent" in given:
            out.update(self._consent(given["consent"], given.get("consent_at")))
        if "product" in given:
            out["product"] = self._product(given["product"])
        if "dilution_ml" in given:
            out["dilution_ml"] = self._dilution(given["dilution_ml"], out.get("product"))
        return out

    @staticmethod
    def _consent(consent: Any, at: Any) -> dict[str, Any]:
        if not isinstance(consent, bool):
            raise RecordsError("consent must be yes or no")
        if at is not None and (not isinstance(at, dt.datetime) or not consent):
            raise RecordsError("the time of consent needs consent recorded, as a date and time")
        return {"consent": consent, "consent_at": (_utc(at) or utc_now()) if consent else None}

    @staticmethod
    def _product(name: Any) -> str | None:
        if name is None:
            return None
        if name not in product_names():
            raise RecordsError(f"unknown product {str(name)[:40]!r}; known products: {', '.join(product_names())}")
        return str(name)

    @staticmethod
    def _dilution(value: Any, product: str | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise RecordsError("the dilution must be a number of mL per vial")
        if product is None:
            raise RecordsError("a dilution needs the product it dilutes")
        lo, hi = product_info(product).diluent_ml_range
        if not lo < float(value) <= hi:
            raise RecordsError(f"the dilution of {product} must be more than {lo:g} and at most {hi:g} mL per vial, "
                               f"got {float(value):g}")
        return float(value)

    @staticmethod
    def _check_lot(row: VisitRow) -> None:
        if row.lot_expiry is not None and row.lot_expiry < row.date:
            raise RecordsError(f"the lot expired on {row.lot_expiry.isoformat()}, before the visit on "
                               f"{row.date.isoformat()}")

    def _check_completes(self, s: Session, patient_id: int, kind: str, date: dt.date,
                         completes_visit_id: int | None) -> None:
        if kind != "touch_up":
            if completes_visit_id is not None:
                raise RecordsError("only a touch-up completes another visit")
            return
        if completes_visit_id is None:
            raise RecordsError("a touch-up names the initial visit it completes")
        done = s.get(VisitRow, completes_visit_id)
        if done is None or done.patient_id != patient_id:
            raise RecordsError(f"visit {completes_visit_id} is not a visit of this patient")
        if done.kind != "initial":
            raise RecordsError(f"a touch-up completes an initial treatment; visit {completes_visit_id} is a {done.kind}")
        if done.date > date:
            raise RecordsError("a touch-up cannot come before the visit it completes")

    @staticmethod
    def _check_plan_product(row: VisitRow, plan: Plan) -> None:
        if row.product is not None and plan.product.name != row.product:
            raise RecordsError(f"the plan's product ({plan.product.name}) differs from the visit's ({row.product})")

    def update_visit(self, visit_id: int, **fields: Any) -> Visit:
        """Change the given fields of a visit: ``date``, ``consent`` (with ``consent_at``), ``product``,
        ``lot``, ``lot_expiry``, ``dilution_ml``, ``notes`` (the audit names the fields, never values)."""
        allowed = {"date", "consent", "consent_at", "product", "lot", "lot_expiry", "dilution_ml", "notes"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise RecordsError(f"a visit has no field {unknown[0]!r} to change")
        if "consent_at" in fields and "consent" not in fields:
            raise RecordsError("give consent together with its time")
        with self._tx() as s:
            row = self._get_visit(s, visit_id)
            if "dilution_ml" in fields and "product" not in fields:
                fields["product"] = row.product
            changed = self._assign(row, self._visit_fields(**fields))
            self._check_lot(row)
            if row.plan_json is not None:
                self._check_plan_product(row, loads_plan(row.plan_json))
            if changed:
                s.flush()
                self._audit(s, "update", "visits", row.id, row.patient_id, "fields=" + ",".join(changed))
        return _visit(row)

    def visit(self, visit_id: int) -> Visit:
        """One visit."""
        with self._tx() as s:
            return _visit(self._get_visit(s, visit_id))

    def visits(self, patient_id: int) -> list[Visit]:
        """A patient's visits, newest first (by date, then the order they were recorded)."""
        with self._tx() as s:
            self._get_patient(s, patient_id)
            rows = s.scalars(select(VisitRow).where(VisitRow.patient_id == patient_id)
                             .order_by(VisitRow.date.desc(), VisitRow.id.desc()))
            return [_visit(r) for r in rows]

    def visits_with_plans(self, patient_id: int) -> list[tuple[Visit, Plan | None]]:
        """A patient's visits, newest first, each with its plan (None when it has none): what the course of
        treatment (doses across visits, the last plan under today's) is computed from."""
        with self._tx() as s:
            self._get_patient(s, patient_id)
            rows = list(s.scalars(select(VisitRow).where(VisitRow.patient_id == patient_id)
                                  .order_by(VisitRow.date.desc(), VisitRow.id.desc())))
            return [(_visit(r), None if r.plan_json is None else loads_plan(r.plan_json, source=f"visit {r.id}"))
                    for r in rows]

    # ---------------------------------------------------------------- plans

    def set_plan(self, visit_id: int, plan: Plan, face_json: str | None = None) -> Visit:
        """Store ``plan`` as the visit's plan (the plan file's JSON); the visit's product and dilution are
        taken from the plan when the visit has none.

        ``face_json`` is the text of the face file the plan's ``model.face`` names: it is kept with the visit
        (table ``faces``, once per face_id) as the plan's face, with the patient's photo it was fitted from.
        Without ``face_json`` the visit has no kept face for this plan (its earlier faces stay in the record).

        Raises
        ------
        RecordsError
            For ``face_json`` that is not a face file, or given for a plan that names no face.
        """
        return self._store_plan(visit_id, plan, dumps_plan(plan), "set_plan", face_json)

    def import_plan(self, visit_id: int, path: str | os.PathLike[str], face_json: str | None = None) -> Visit:
        """Store the plan file at ``path`` as the visit's plan, its text as it is, once
        :func:`injectmap.planning.plan.load_plan` accepts it; ``face_json`` as in :meth:`set_plan`.

        Raises
        ------
        injectmap.planning.plan.PlanError
            For a plan file with errors (every error listed).
        """
        plan, text = self._read_plan_file(path)
        return self._store_plan(visit_id, plan, text, "import_plan", face_json)

    @staticmethod
    def _read_plan_file(path: str | os.PathLike[str]) -> tuple[Plan, str]:
        """A plan file's plan and its text, as it is; the text is the one validated."""
        plan = load_plan(path)
        text = Path(path).read_bytes().decode("utf-8")
        if loads_plan(text) != plan:  # the file changed between the two reads
            raise RecordsError("the plan file changed while it was read; try again")
        return plan, text

    def _store_plan(self, visit_id: int, plan: Plan, text: str, action: str, face_json: str | None = None) -> Visit:
        with self._tx() as s:
            row = self._get_visit(s, visit_id)
            if row.product is None:
                row.product = plan.product.name
                row.dilution_ml = plan.product.diluent_ml if row.dilution_ml is None else row.dilution_ml
            self._check_plan_product(row, plan)
            row.plan_json = text
            s.flush()
            self._audit(s, action, "visits", row.id, row.patient_id, f"points={len(plan.points)}")
            self._plan_face(s, row, plan, face_json)
        return _visit(row)

    def _plan_face(self, s: Session, row: VisitRow, plan: Plan | None, face_json: str | None) -> None:
        """The visit's plan face: kept (and audited) when given; without it the visit has no kept face for
        this plan (a plan naming a face file keeps only the file's path, as it was given)."""
        names_face = plan is not None and plan.model is not None and bool(plan.model.face)
        if face_json is None:
            if plan is not None and row.face_id is not None:
                row.face_id = None
                s.flush()
            return
        if not names_face:
            raise RecordsError("a face is kept with a plan whose model names a face file (model.face)")
        fid, sources = check_face(face_json)
        face = s.scalar(select(FaceRow).where(FaceRow.visit_id == row.id, FaceRow.face_id == fid))
        if face is None:
            # the photo it was fitted from: the front photo where the face lists obliques too (its sources come
            # front first), this visit's before another's
            found = list(s.scalars(select(PhotoRow).join(VisitRow, PhotoRow.visit_id == VisitRow.id)
                                   .where(VisitRow.patient_id == row.patient_id, PhotoRow.sha256.in_(sources)))
                         ) if sources else []
            photo = min(found, key=lambda ph: (ph.visit_id != row.id, sources.index(ph.sha256), ph.id),
                        default=None)
            face = FaceRow(visit_id=row.id, face_id=fid, photo_id=photo.id if photo is not None else None,
                           face_json=face_json, created_at=utc_now())
            s.add(face)
            s.flush()
            self._audit(s, "create", "faces", face.id, row.patient_id,
                        "from photo" if face.photo_id is not None else "")
        row.face_id = fid
        s.flush()

    def faces(self, visit_id: int) -> list[Face]:
        """The fitted faces kept with a visit, in the order they were kept."""
        with self._tx() as s:
            self._get_visit(s, visit_id)
            return [_face(r) for r in s.scalars(select(FaceRow).where(FaceRow.visit_id == visit_id)
                                                .order_by(FaceRow.id))]

    def face_text(self, visit_id: int, face_id: str) -> str:
        """The text of a face kept with a visit (the face file as it was saved)."""
        with self._tx() as s:
            row = s.scalar(select(FaceRow).where(FaceRow.visit_id == visit_id, FaceRow.face_id == face_id))
            if row is None:
                raise NotFoundError(f"no face {str(face_id)[:16]} kept with visit {visit_id}")
            return row.face_json

    def restore_face(self, visit_id: int) -> Path | None:
        """Write the face of the visit's plan back into this user's faces folder (0700, the file 0600,
        named by its face_id) and return its path; None when the visit's plan has no kept face."""
        visit = self.visit(visit_id)
        if visit.face_id is None:
            return None
        text = self.face_text(visit_id, visit.face_id)
        folder = self.user_faces_dir
        owner_only_folder(self.faces_dir)
        owner_only_folder(folder)
        path = folder / f"{visit.face_id}.face.json"
        atomic_write_bytes(path, text.encode("utf-8"), mode=0o600)
        return path

    def plan(self, visit_id: int) -> Plan | None:
        """The visit's plan (None when it has none), read through the plan file's validation."""
        with self._tx() as s:
            text = self._get_visit(s, visit_id).plan_json
        return None if text is None else loads_plan(text, source=f"visit {visit_id}")

    def plan_text(self, visit_id: int) -> str | None:
        """The visit's plan file, as stored (validated on the way out)."""
        with self._tx() as s:
            text = self._get_visit(s, visit_id).plan_json
        if text is not None:
            loads_plan(text, source=f"visit {visit_id}")
        return text

    def export_plan(self, visit_id: int, path: str | os.PathLike[str]) -> Path:
        """Write the visit's plan file to ``path`` (owner-only, atomically); audited."""
        with self._tx() as s:
            row = self._get_visit(s, visit_id)
            if row.plan_json is None:
                raise RecordsError(f"visit {visit_id} has no plan")
            loads_plan(row.plan_json, source=f"visit {visit_id}")
            atomic_write_bytes(path, row.plan_json.encode("utf-8"), mode=0o600)
            self._audit(s, "export_plan", "visits", row.id, row.patient_id)
        return Path(path)

    # ---------------------------------------------------------------- outcomes

    def record_outcome(self, visit_id: int, area: str, side: str, movement: int,
                       side_effects: Sequence[str] = ()) -> Outcome:
        """Record (or correct) the outcome of a review visit for one area and side.

        Parameters
        ----------
        area : str
            An area of planning/data/dose_ranges.yaml (``planning.doses.area_names``).
        side : str
            ``"left"``, ``"right"`` or ``"midline"`` (the subject's side).
        movement : int
            Movement left: 0 none .. 3 full movement.
        side_effects : sequence of str
            Short phrases; none when empty.
        """
        effects = self._side_effects(side_effects)
        if area not in area_names():
            raise RecordsError(f"unknown area {str(area)[:40]!r}; areas: {', '.join(area_names())}")
        if side not in SIDES:
            raise RecordsError(f"the side is one of {', '.join(SIDES)}, got {str(side)[:20]!r}")
        if isinstance(movement, bool) or not isinstance(movement, int) or not 0 <= movement <= 3:
            raise RecordsError("the movement left is a whole number from 0 (none) to 3 (full movement)")
        with self._tx() as s:
            visit = self._get_visit(s, visit_id)
            if visit.kind != "review":
                raise RecordsError(f"outcomes are recorded at a review; visit {visit_id} is a {visit.kind}")
            row = s.scalar(select(OutcomeRow).where(OutcomeRow.visit_id == visit_id, OutcomeRow.area == area,
                                                    OutcomeRow.side == side))
            action = "update" if row is not None else "create"
            if row is None:
                row = OutcomeRow(visit_id=visit_id, area=area, side=side)
                s.add(row)
            row.movement, row.side_effects = movement, list(effects)
            row.recorded_at, row.recorded_by = utc_now(), self.user
            s.flush()
            self._audit(s, action, "outcomes", row.id, visit.patient_id, f"area={area} side={side}")
        return _outcome(row)

    @staticmethod
    def _side_effects(values: Sequence[str]) -> tuple[str, ...]:
        lim = limits()
        if isinstance(values, str):
            raise RecordsError("the side effects are a list of short phrases")
        out = tuple(s for s in (_text(v, lim.side_effect_max, "a side effect").strip() for v in values) if s)
        if len(out) > lim.side_effects_max_count:
            raise RecordsError(f"at most {lim.side_effects_max_count} side effects, got {len(out)}")
        return out

    def outcomes(self, visit_id: int) -> list[Outcome]:
        """The outcomes of a review, by area and side."""
        with self._tx() as s:
            self._get_visit(s, visit_id)
            rows = s.scalars(select(OutcomeRow).where(OutcomeRow.visit_id == visit_id)
                             .order_by(OutcomeRow.area, OutcomeRow.side))
            return [_outcome(r) for r in rows]

    # ---------------------------------------------------------------- photos

    def add_photo(self, visit_id: int, data: bytes, display_name: str = "") -> Photo:
        """Keep a photo of a visit: JPEG or PNG (records.yaml ``photo_types``), at most ``photo_max_bytes``;
        ``display_name`` is the name the file had (kept to show it, see :func:`photo_display_name`).

        The file is written 0600 into the photos folder (0700) under a random name, then its row and the
        audit row are written; if they cannot be, the file is removed again.
        """
        kind = check_photo(data)
        owner_only_folder(self.photos_dir)
        name = secrets.token_hex(16) + kind.suffix
        path = self.photos_dir / name
        atomic_write_bytes(path, bytes(data), mode=0o600)
        try:
            with self._tx() as s:
                visit = self._get_visit(s, visit_id)
                row = PhotoRow(visit_id=visit_id, file_name=name, sha256=hashlib.sha256(data).hexdigest(),
                               size_bytes=len(data), media_type=kind.media_type, created_at=utc_now(),
                               display_name=photo_display_name(display_name))
                s.add(row)
                s.flush()
                self._audit(s, "create", "photos", row.id, visit.patient_id)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self._photo(row)

    def _photo(self, row: PhotoRow) -> Photo:
        return Photo(id=row.id, visit_id=row.visit_id, path=self.photos_dir / row.file_name, sha256=row.sha256,
                     size_bytes=row.size_bytes, media_type=row.media_type, created_at=_utc(row.created_at),  # type: ignore[arg-type]
                     display_name=row.display_name or "")

    def photo(self, photo_id: int) -> Photo:
        """One photo by its row id."""
        with self._tx() as s:
            row = s.get(PhotoRow, photo_id)
            if row is None:
                raise NotFoundError(f"no photo with id {photo_id}")
            return self._photo(row)

    def delete_photo(self, photo_id: int) -> Photo:
        """Delete a photo: its row (a face fitted from it keeps its face, no longer its photo) and the
        audit row in one transaction, then its file.

        Raises
        ------
        RecordsError
            When the row is deleted but the file cannot be removed (the message names the file).
        """
        with self._tx() as s:
            row = s.get(PhotoRow, photo_id)
            if row is None:
                raise NotFoundError(f"no photo with id {photo_id}")
            photo = self._photo(row)
            visit = self._get_visit(s, row.visit_id)
            for face in s.scalars(select(FaceRow).where(FaceRow.photo_id == photo_id)):
                face.photo_id = None
            s.flush()
            s.delete(row)
            s.flush()
            self._audit(s, "delete", "photos", photo_id, visit.patient_id)
        try:
            photo.path.unlink(missing_ok=True)
        except OSError:
            raise RecordsError(f"photo {photo_id} is deleted from the records but its file could not be removed: "
                               f"{photo.path}") from None
        return photo

    def photos(self, visit_id: int) -> list[Photo]:
        """The photos of a visit, in the order they were added."""
        with self._tx() as s:
            self._get_visit(s, visit_id)
            return [self._photo(r) for r in s.scalars(select(PhotoRow).where(PhotoRow.visit_id == visit_id)
                                                      .order_by(PhotoRow.id))]

    def photo_bytes(self, photo: Photo) -> bytes:
        """The photo's file, its SHA-256 checked.

        Raises
        ------
        RecordsError
            When the file is missing or does not match its hash.
        """
        try:
            data = photo.path.read_bytes()
        except OSError:
            raise RecordsError(f"the file of photo {photo.id} is missing from the photos folder") from None
        if hashlib.sha256(data).hexdigest() != photo.sha256:
            raise RecordsError(f"the file of photo {photo.id} does not match its SHA-256 (damaged or replaced)")
        return data

    # ---------------------------------------------------------------- audit, export, delete

    def audit(self, patient_id: int | None = None) -> list[AuditEntry]:
        """The audit rows, oldest first (those of one patient's row id when given)."""
        q = select(AuditRow).order_by(AuditRow.id)
        if patient_id is not None:
            q = q.where(AuditRow.patient_id == patient_id)
        with self._tx() as s:
            return [_audit_entry(r) for r in s.scalars(q)]

    def export_patient(self, patient_id: int, path: str | os.PathLike[str]) -> Path:
        """Write a patient's whole record as a zip (owner-only): ``record.json`` (the patient, every visit
        with its plan in the plan-file format, outcomes, photo and face lists, and the patient's audit rows,
        this export's included), ``photos/`` (the files, each checked against its SHA-256) and ``faces/``
        (each kept face file, as saved)."""
        dest = Path(path)
        with self._tx() as s:
            p = self._get_patient(s, patient_id)
            self._audit(s, "export", "patients", p.id, p.id)
            doc, files = self._record(s, p)
            self._write_zip(dest, doc, files)
        return dest

    def _record(self, s: Session, p: PatientRow) -> tuple[dict[str, Any], list[tuple[str, Photo | str]]]:
        files: list[tuple[str, Photo | str]] = []
        visits = []
        for v in s.scalars(select(VisitRow).where(VisitRow.patient_id == p.id).order_by(VisitRow.date, VisitRow.id)):
            vd: dict[str, Any] = {k: (_iso(x) if isinstance(x, (dt.date, dt.datetime)) else x)
                                  for k, x in _visit(v).__dict__.items()}
            vd.pop("has_plan")
            vd["plan"] = None if v.plan_json is None else plan_to_dict(loads_plan(v.plan_json, source=f"visit {v.id}"))
            vd["outcomes"] = [{"area": o.area, "side": o.side, "movement": o.movement,
                               "side_effects": list(o.side_effects), "recorded_at": _iso(o.recorded_at),
                               "recorded_by": o.recorded_by}
                              for o in (_outcome(r) for r in s.scalars(select(OutcomeRow)
                                        .where(OutcomeRow.visit_id == v.id).order_by(OutcomeRow.area, OutcomeRow.side)))]
            vd["photos"] = []
            for r in s.scalars(select(PhotoRow).where(PhotoRow.visit_id == v.id).order_by(PhotoRow.id)):
                ph = self._photo(r)
                arcname = f"photos/{ph.id}{Path(r.file_name).suffix}"
                files.append((arcname, ph))
                vd["photos"].append({"file": arcname, "sha256": ph.sha256, "size_bytes": ph.size_bytes,
                                     "media_type": ph.media_type, "created_at": _iso(ph.created_at),
                                     "display_name": ph.display_name})
            vd["faces"] = []
            for fr in s.scalars(select(FaceRow).where(FaceRow.visit_id == v.id).order_by(FaceRow.id)):
                arcname = f"faces/{fr.id}.face.json"
                files.append((arcname, fr.face_json))
                vd["faces"].append({"file": arcname, "face_id": fr.face_id, "created_at": _iso(_utc(fr.created_at)),
                                    "photo": None if fr.photo_id is None else
                                    f"photos/{fr.photo_id}{Path(s.get(PhotoRow, fr.photo_id).file_name).suffix}"})  # type: ignore[union-attr]
            visits.append(vd)
        audit = [{"at": _iso(a.at), "actor": a.actor, "action": a.action, "table": a.table, "row_id": a.row_id,
                  "detail": a.detail}
                 for a in (_audit_entry(r) for r in s.scalars(select(AuditRow).where(AuditRow.patient_id == p.id)
                                                               .order_by(AuditRow.id)))]
        pt = _patient(p)
        doc = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "schema": head_revision(),
               "exported_at": _iso(utc_now()), "exported_by": self.user,
               "patient": {"identifier": pt.identifier, "name": pt.name, "date_of_birth": _iso(pt.date_of_birth),
                           "notes": pt.notes, "created_at": _iso(pt.created_at), "created_by": pt.created_by,
                           "ipd_mm": pt.ipd_mm},
               "visits": visits, "audit": audit}
        return doc, files

    def _write_zip(self, dest: Path, doc: dict[str, Any], files: list[tuple[str, Photo | str]]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent or ".")  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
                    z.writestr("record.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
                    for arcname, item in files:
                        if isinstance(item, str):  # a face file's text
                            z.writestr(arcname, item.encode("utf-8"))
                        else:
                            z.writestr(arcname, self.photo_bytes(item), compress_type=zipfile.ZIP_STORED)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _forget_built(face_ids: set[str], forget_face: Callable[[str], int] | None) -> tuple[int, int]:
        """Remove the faces ``face_ids`` as built in the face cache, and what ``forget_face`` removes of them;
        return (built face folders, files ``forget_face`` removed)."""
        if not face_ids:
            return 0, 0
        from injectmap.anatomy.model import forget_fitted_face

        built = stills = 0
        for fid in sorted(face_ids):
            built += len(forget_fitted_face(fid))
            stills += forget_face(fid) if forget_face is not None else 0
        return built, stills

    def delete_patient(self, patient_id: int, forget_face: Callable[[str], int] | None = None,
                       unsaved_faces: Collection[str] = ()) -> DeleteResult:
        """Delete a patient's whole record in one transaction (outcomes, faces, photos, visits, the patient;
        one audit row ``delete`` with the counts, no name), then the photo files and the copies of the
        patient's faces in every user's faces folder (those no other patient's visit keeps), and those faces
        as built in the face cache (``anatomy.model.forget_fitted_face``); ``forget_face(face_id)`` removes
        what a higher layer keeps of a face (the reports' stills: ``reports.stills_cache.forget_face``) and
        returns how many files it removed.

        ``unsaved_faces`` are face ids of the patient's that no visit holds yet (a face accepted in the app while
        the patient was open, its visit not saved): their copies and built faces go the same way, unless another
        patient's visit keeps them.

        The patient's earlier audit rows stay (they name nobody). A file that cannot be removed is listed
        in ``files_left``. A face file written elsewhere (``injectmap face fit -o``) is not the records' to
        remove.
        """
        bad = [f for f in unsaved_faces if not is_face_id(str(f))]
        if bad:
            raise ValueError(f"not a face id: {bad[0]!r}")
        with self._tx() as s:
            p = self._get_patient(s, patient_id)
            visit_ids = list(s.scalars(select(VisitRow.id).where(VisitRow.patient_id == p.id)))
            photos = list(s.scalars(select(PhotoRow).where(PhotoRow.visit_id.in_(visit_ids))))
            outcomes = list(s.scalars(select(OutcomeRow).where(OutcomeRow.visit_id.in_(visit_ids))))
            faces = list(s.scalars(select(FaceRow).where(FaceRow.visit_id.in_(visit_ids))))
            visits = list(s.scalars(select(VisitRow).where(VisitRow.id.in_(visit_ids))))
            for face in faces:
                s.delete(face)
            s.flush()
            for row in (*outcomes, *photos):
                s.delete(row)
            for v in visits:
                v.completes_visit_id = None
            s.flush()
            for v in visits:
                s.delete(v)
            s.flush()
            s.delete(p)
            s.flush()
            self._audit(s, "delete", "patients", patient_id, patient_id,
                        f"visits={len(visits)} outcomes={len(outcomes)} photos={len(photos)} faces={len(faces)}")
            names = [r.file_name for r in photos]
            face_ids = {f.face_id for f in faces} | {str(f) for f in unsaved_faces}
            face_ids -= set(s.scalars(select(FaceRow.face_id).where(FaceRow.face_id.in_(face_ids))))
        left = []
        for name in names:
            try:
                (self.photos_dir / name).unlink(missing_ok=True)
            except OSError:
                left.append(str(self.photos_dir / name))
        removed = 0
        for fid in sorted(face_ids):
            for path in self.faces_dir.glob(f"*/{fid}.face.json"):
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    continue
                except OSError:
                    left.append(str(path))
        built, stills = self._forget_built(face_ids, forget_face)
        return DeleteResult(patient_id=patient_id, visits=len(visits), outcomes=len(outcomes), photos=len(photos),
                            files_left=tuple(left), faces=len(faces), face_files=removed,
                            face_ids=tuple(sorted(face_ids)), built_faces=built, stills=stills)

