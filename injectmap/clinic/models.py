"""The tables of the patient records (SQLAlchemy 2 ORM). Only clinic.records uses these classes; callers
get frozen dataclasses (clinic.records), never an ORM object.

- ``patients``: the clinic's identifier (unique), name and date of birth (both optional), notes.
- ``visits``: a patient's visit: date, kind (``initial``, ``review``, ``touch_up``), the clinician (the
  logged-in user), consent (yes/no and when), product, lot and its expiry, dilution (mL of saline per
  vial), notes, the plan as the plan-file JSON of CONTRACTS.md (``plan_json``; written by
  planning.plan.dumps_plan, read back by planning.plan.loads_plan), and for a touch-up the visit it
  completes (``completes_visit_id``).
- ``photos``: a visit's photo files (stored in an owner-only folder, named by a random token) with
  their SHA-256, size and the name the file had when it was added (``display_name``: shown, never a path).
- ``faces``: a fitted face (the ``*.face.json`` of anatomy.fit.facefile, its text) kept with the visit whose
  plan used it, by its ``face_id`` (the SHA-256 of its targets), and the photo of the visit it was fitted
  from when one matches the face file's sources. ``visits.face_id`` names the face of the visit's plan.
- ``outcomes``: at a review, the movement left (0 none .. 3 full) and the side effects per area
  (planning/data/dose_ranges.yaml) and side.
- ``audit``: who did what when (UTC) to which table and row; ``patient_id`` (no foreign key: the rows
  outlive a deleted patient) and a ``detail`` made only by the program (counts, field names), never the
  patient's name, identifier or notes.

The schema is created by the Alembic migrations in clinic/migrations/ (tests/clinic/test_schema.py checks
that the migrated schema equals this metadata, on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AuditRow", "Base", "FaceRow", "OutcomeRow", "PatientRow", "PhotoRow", "VisitRow", "VISIT_KINDS", "SIDES"]

VISIT_KINDS = ("initial", "review", "touch_up")
SIDES = ("left", "right", "midline")

#: constraint names both databases share (Alembic needs stable names to alter them later)
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The records' declarative base."""

    metadata = MetaData(naming_convention=NAMING)


def _kinds() -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in VISIT_KINDS) + ")"


class PatientRow(Base):
    """A patient."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    #: the measured distance interpupillary distance (mm), which sets the size of the patient's photo fits
    ipd_mm: Mapped[float | None] = mapped_column(Float)


class VisitRow(Base):
    """A visit of a patient, with its plan."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint(_kinds(), name="kind"),
        CheckConstraint("completes_visit_id IS NULL OR kind = 'touch_up'", name="completes_touch_up"),
        CheckConstraint("consent_at IS NULL OR consent", name="consent_at"),
        CheckConstraint("dilution_ml IS NULL OR dilution_ml > 0", name="dilution_ml"),
        Index("ix_visits_patient_date", "patient_id", "date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    clinician: Mapped[str] = mapped_column(String(64))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    product: Mapped[str | None] = mapped_column(String(200))
    lot: Mapped[str | None] = mapped_column(String(64))
    lot_expiry: Mapped[dt.date | None] = mapped_column(Date)
    dilution_ml: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str] = mapped_column(Text, default="")
    completes_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    plan_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: the fitted face of the plan (a ``faces`` row of this visit), None for the average face
    face_id: Mapped[str | None] = mapped_column(String(64))


class PhotoRow(Base):
    """A photo of a visit: the file's name in the photos folder, its SHA-256 and size."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(80), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    display_name: Mapped[str] = mapped_column(String(200), default="", server_default="")


class FaceRow(Base):
    """A fitted face kept with a visit: the face file's text, its face_id, the photo it came from."""

    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("visit_id", "face_id", name="uq_faces_visit_face"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    face_id: Mapped[str] = mapped_column(String(64))
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"), index=True)
    face_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OutcomeRow(Base):
    """The outcome at a review for one area and side."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("visit_id", "area", "side", name="uq_outcomes_visit_area_side"),
        CheckConstraint("side IN ('left', 'right', 'midline')", name="side"),
        CheckConstraint("movement >= 0 AND movement <= 3", name="movement"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    area: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    movement: Mapped[int] = mapped_column(Integer)
    side_effects: Mapped[Any] = mapped_column(JSON)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(64))


class AuditRow(Base):
    """One change (or export) of the records: who, when (UTC), what, which row. Never a name or notes."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int | None] = mapped_column(Integer)
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[str] = mapped_column(String(200), default="")
