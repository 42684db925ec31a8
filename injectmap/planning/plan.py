"""The plan file (JSON, version 1; CONTRACTS.md "Plan file"): data model, validation, load, save.

- :func:`parse_plan` turns a decoded JSON object into a :class:`Plan`, or raises :class:`PlanError`
  listing EVERY problem found (a plan with one error is rejected whole). The validator is the
  declarative pydantic model :class:`injectmap.planning.planfile.PlanFile` (which also gives the
  published JSON Schema); each of its errors becomes a :class:`PlanIssue` that names the point
  (index and id) and the key path, e.g. ``points[2] (id 'c1').depth_mm: must be between 0 and 40, got 55``.
- :func:`load_plan` reads a file (a regular file only, size checked before parsing, UTF-8, strict
  JSON with line and column in the message, a key given twice in one object, NaN/Infinity and deep
  nesting rejected) and parses it: it raises nothing but :class:`PlanError`.
- :func:`save_plan` writes atomically (temporary file in the same directory, flush, fsync,
  ``os.replace``, fsync of the directory): a reader, or a crash, sees the old file or the new one,
  never a mix.
- :func:`plan_to_dict` is the inverse of :func:`parse_plan`: ``parse_plan(plan_to_dict(p)) == p``,
  and keys absent from the file stay absent, so load -> save -> load is the identity.

Decisions beyond CONTRACTS (version 1):

- Sessions: every point belongs to a session, ``"initial"`` by default. ``"initial"`` never needs
  declaring; any other session id a point uses must be declared in the plan's ``sessions`` list
  (this catches typos such as ``"touchup"`` for ``"touch_up"``). Declared sessions may be empty.
  The two-week review is conventionally ``"touch_up"`` (planning.sessions).
- A per-point ``product`` has the same form as the plan's: ``{name, units_per_vial, diluent_ml}``.
- ``units_per_vial`` must be one of the product's vial sizes (injectmap/planning/data/products.yaml);
  ``diluent_ml`` must lie in the product's validation range.
- ``units``: greater than 0, at most 400 (the 3-month label ceiling). ``volume_ml``: greater than 0,
  at most 5. ``depth_mm``: 0 to 40. Offsets: -100 to 100 mm. Coordinates: -500 to 500 mm.
  ``angle_deg``: 0 to 89 and needs ``toward`` (and the reverse). ``direction``, ``angle_deg`` and
  ``tip_mm`` exclude each other.
- ``model``: ``{name?: str, face?: a *.face.json's path, sex?: 0..1 or "female"/"male", shape?: {name: -1..1}}``,
  the shape names those the face builder knows (``anatomy.params.SHAPE_KEYS``: masseter, brow_left, brow_right).
- The checks that need the face (an entry more than 15 mm from the skin, a needle whose tip or shaft
  leaves the body or whose tip passes the bone, an explicit tip beyond the 40 mm depth limit) are made by
  ``injectmap.planning.analysis.placement_issues`` (limits in rules.yaml and placement.yaml);
  ``injectmap.planning.check.validate_file`` runs them after this module's checks, for ``check`` and
  ``plan validate`` alike.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.fileio import atomic_write_bytes
from injectmap.anatomy.ids import side_of
from injectmap.planning.planfile import (
    AT_KEYS,
    FORMAT,
    MAX_ANGLE_DEG,
    MAX_COORD_MM,
    MAX_DEPTH_MM,
    MAX_OFFSET_MM,
    MAX_POINTS,
    MAX_SESSIONS,
    MAX_TEXT,
    MAX_UNITS,
    MAX_VOLUME_ML,
    POINT_ID_RE,
    SESSION_ID_RE,
    UNIT_TOLERANCE,
    VERSION,
    ModelFile,
    PlanFile,
    PointFile,
    ProductFile,
    show,
    validation_issues,
)
from injectmap.planning.products import ona_equivalent_units

__all__ = [
    "DEFAULT_SESSION",
    "FORMAT",
    "MAX_ANGLE_DEG",
    "MAX_COORD_MM",
    "MAX_DEPTH_MM",
    "MAX_FILE_BYTES",
    "MAX_OFFSET_MM",
    "MAX_POINTS",
    "MAX_SESSIONS",
    "MAX_TEXT",
    "MAX_UNITS",
    "MAX_VOLUME_ML",
    "POINT_ID_RE",
    "SESSION_ID_RE",
    "UNIT_TOLERANCE",
    "VERSION",
    "Model",
    "Plan",
    "PlanError",
    "PlanIssue",
    "Point",
    "PointPlacement",
    "Product",
    "Session",
    "dumps_plan",
    "load_plan",
    "loads_plan",
    "parse_plan",
    "plan_to_dict",
    "save_plan",
]

DEFAULT_SESSION = "initial"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_JSON_NESTING = 64

Vec3 = tuple[float, float, float]


# ----------------------------------------------------------------------------------------------
# errors

@dataclass(frozen=True)
class PlanIssue:
    """One problem in a plan.

    Attributes
    ----------
    path : str
        Where: ``"points[2] (id 'c1').depth_mm"``, ``"product.name"``, ``"version"``; empty for a
        problem with the file as a whole.
    message : str
        What is wrong, with the value found.
    point_index : int or None
        Index of the point in ``points``, when the issue is about a point.
    point_id : str or None
        The point's id, when it has a valid one.
    key : str or None
        The key path inside the point or the plan (``"at.lateral_mm"``).
    """

    path: str
    message: str
    point_index: int | None = None
    point_id: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PlanError(UserFacing, ValueError):
    """A plan that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[PlanIssue]) -> None:
        self.errors: list[PlanIssue] = list(errors)
        n = len(self.errors)
        head = f"invalid plan ({n} error{'s' if n != 1 else ''})"
        super().__init__(head + ":\n" + "\n".join(f"  {e}" for e in self.errors))


# ----------------------------------------------------------------------------------------------
# data model

@dataclass(frozen=True)
class Product:
    """The product and its reconstitution.

    Attributes
    ----------
    name : str
        Product name (planning.products).
    units_per_vial : float
        Units in the vial.
    diluent_ml : float
        Saline added to the vial, mL.
    """

    name: str
    units_per_vial: float
    diluent_ml: float

    @property
    def units_per_ml(self) -> float:
        """Concentration of the reconstituted solution."""
        return self.units_per_vial / self.diluent_ml


@dataclass(frozen=True)
class PointPlacement:
    """Where a point enters the skin: relative to a landmark, or by raw coordinates.

    Exactly one of ``landmark`` and ``entry_mm`` is set. Offsets are in the frame's axes
    (CONTRACTS): ``superior_mm`` +y, ``anterior_mm`` +z, ``lateral_mm`` along x away from the
    midline on the landmark's side, ``left_mm`` +x. An offset absent from the file is None.
    """

    landmark: str | None = None
    superior_mm: float | None = None
    anterior_mm: float | None = None
    lateral_mm: float | None = None
    left_mm: float | None = None
    entry_mm: Vec3 | None = None

    @property
    def kind(self) -> str:
        """``"landmark"`` or ``"entry"``."""
        return "landmark" if self.landmark is not None else "entry"

    def offset_left_mm(self) -> float:
        """Total offset along +x (the subject's left) of a landmark placement, in mm.

        ``lateral_mm`` points away from the midline on the landmark's side: +x on the left,
        -x on the right. Zero for an ``entry_mm`` placement.
        """
        if self.landmark is None:
            return 0.0
        dx = float(self.left_mm or 0.0)
        lat = float(self.lateral_mm or 0.0)
        s = side_of(self.landmark)
        if s == "left":
            dx += lat
        elif s == "right":
            dx -= lat
        return dx


@dataclass(frozen=True)
class Point:
    """One injection point (CONTRACTS "Plan file"). Fields absent from the file are None.

    Attributes
    ----------
    id : str
        Unique within the plan.
    units : float
        Dose in the units of the point's product.
    placement : PointPlacement
        ``at`` or ``entry_mm``.
    depth_mm : float or None
        Depth from the entry along the inward normal (or ``direction``); None when ``tip_mm``.
    tip_mm : (3,) float or None
        Explicit tip position.
    direction : (3,) float or None
        Unit vector of the needle.
    angle_deg : float or None
        Angle from the inward normal, tilted toward ``toward``.
    toward : str or None
        Landmark id the angle tilts toward.
    target : str or None
        Intended structure id.
    product : Product or None
        Overrides the plan's product.
    volume_ml : float or None
        Overrides the volume computed from the units and the reconstitution.
    session : str or None
        Session id; None means ``"initial"`` (see :attr:`session_id`).
    lot, deviation, note : str or None
        Free text.
    """

    id: str
    units: float
    placement: PointPlacement
    depth_mm: float | None = None
    tip_mm: Vec3 | None = None
    direction: Vec3 | None = None
    angle_deg: float | None = None
    toward: str | None = None
    target: str | None = None
    product: Product | None = None
    volume_ml: float | None = None
    session: str | None = None
    lot: str | None = None
    deviation: str | None = None
    note: str | None = None

    @property
    def session_id(self) -> str:
        """The point's session, ``"initial"`` when none is given."""
        return self.session if self.session is not None else DEFAULT_SESSION


@dataclass(frozen=True)
class Session:
    """A treatment visit: id, optional ISO date (``YYYY-MM-DD``) and label."""

    id: str
    date: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Model:
    """The face variant a plan was made on (all optional)."""

    name: str | None = None
    sex: float | str | None = None
    shape: tuple[tuple[str, float], ...] | None = None
    #: the path of a fitted face's ``*.face.json`` (``injectmap face fit``)
    face: str | None = None


@dataclass(frozen=True)
class Plan:
    """A validated plan. Build one with :func:`parse_plan` or :func:`load_plan`."""

    product: Product
    points: tuple[Point, ...]
    sessions: tuple[Session, ...] | None = None
    patient: str | None = None
    model: Model | None = None
    format: str = FORMAT
    version: int = VERSION

    def point(self, point_id: str) -> Point:
        """The point with this id (KeyError if none)."""
        for p in self.points:
            if p.id == point_id:
                return p
        raise KeyError(point_id)

    def product_of(self, point: Point) -> Product:
        """The product a point uses: its own, or the plan's."""
        return point.product if point.product is not None else self.product

    def volume_ml_of(self, point: Point) -> float:
        """The injected volume of a point: its ``volume_ml``, or units over concentration."""
        if point.volume_ml is not None:
            return float(point.volume_ml)
        prod = self.product_of(point)
        return round(float(point.units) / prod.units_per_ml, 9)

    def ona_units_of(self, point: Point) -> float:
        """A point's dose in onabotulinumtoxinA-equivalent units (for totals against dose ranges)."""
        return ona_equivalent_units(point.units, self.product_of(point).name)


# ----------------------------------------------------------------------------------------------
# validation: the pydantic model of the file (planning.planfile) is the validator

def _issues(exc: ValidationError, obj: Mapping[str, Any]) -> list[PlanIssue]:
    return [PlanIssue(path=path, message=msg, point_index=i, point_id=pid, key=key)
            for path, msg, i, pid, key in validation_issues(exc, obj)]


def _product(f: ProductFile) -> Product:
    return Product(name=f.name, units_per_vial=f.units_per_vial, diluent_ml=f.diluent_ml)


def _vec(v: Sequence[float] | None) -> Vec3 | None:
    return None if v is None else (v[0], v[1], v[2])


def _placement(f: PointFile) -> PointPlacement:
    if f.at is None:
        return PointPlacement(entry_mm=_vec(f.entry_mm))
    return PointPlacement(**{k: getattr(f.at, k) for k in AT_KEYS})


def _point(f: PointFile) -> Point:
    return Point(id=f.id, units=f.units, placement=_placement(f), depth_mm=f.depth_mm, tip_mm=_vec(f.tip_mm),
                 direction=_vec(f.direction), angle_deg=f.angle_deg, toward=f.toward, target=f.target,
                 product=_product(f.product) if f.product is not None else None, volume_ml=f.volume_ml,
                 session=f.session, lot=f.lot, deviation=f.deviation, note=f.note)


def _model(f: ModelFile) -> Model:
    shape = tuple(f.shape.items()) if f.shape is not None else None
    return Model(name=f.name, sex=f.sex, shape=shape, face=f.face)


def _plan(f: PlanFile) -> Plan:
    sessions = None
    if f.sessions is not None:
        sessions = tuple(Session(id=s.id, date=s.date, label=s.label) for s in f.sessions)
    return Plan(product=_product(f.product), points=tuple(_point(p) for p in f.points), sessions=sessions,
                patient=f.patient, model=_model(f.model) if f.model is not None else None)


def parse_plan(obj: object) -> Plan:
    """Validate a decoded plan (the JSON object) and build a :class:`Plan`.

    Parameters
    ----------
    obj : object
        What ``json.loads`` returned for a plan file.

    Returns
    -------
    Plan

    Raises
    ------
    PlanError
        With every problem found; nothing else escapes for any input.
    """
    if not isinstance(obj, Mapping):
        raise PlanError([PlanIssue("", f"a plan must be a JSON object, got {show(obj)}")])
    try:
        return _plan(PlanFile.model_validate(obj))
    except ValidationError as exc:
        raise PlanError(_issues(exc, obj)) from None
    except RecursionError:
        raise PlanError([PlanIssue("", "the plan is nested too deeply")]) from None
    except Exception as exc:  # a bug here must still surface as a bad plan, with the cause
        raise PlanError([PlanIssue("", f"could not validate the plan ({type(exc).__name__})")]) from exc

# ----------------------------------------------------------------------------------------------
# to dict / JSON

def _product_dict(p: Product) -> dict[str, Any]:
    return {"name": p.name, "units_per_vial": p.units_per_vial, "diluent_ml": p.diluent_ml}


_POINT_VECTORS = ("tip_mm", "direction")
_POINT_SCALARS_BEFORE = ("depth_mm",)
_POINT_SCALARS_AFTER = ("angle_deg", "toward")
_POINT_TAIL = ("volume_ml", "session", "lot", "deviation", "note")


def _present(obj: object, keys: Sequence[str], convert: Callable[[Any], Any] = lambda v: v) -> dict[str, Any]:
    """The attributes of ``obj`` named in ``keys`` that are set (not None), converted."""
    return {k: convert(getattr(obj, k)) for k in keys if getattr(obj, k) is not None}


def _point_dict(p: Point) -> dict[str, Any]:
    d: dict[str, Any] = {"id": p.id, "units": p.units, **_present(p, ("target",))}
    pl = p.placement
    if pl.landmark is not None:
        d["at"] = _present(pl, AT_KEYS)
    else:
        d["entry_mm"] = list(pl.entry_mm or ())
    d.update(_present(p, _POINT_SCALARS_BEFORE))
    d.update(_present(p, _POINT_VECTORS, list))
    d.update(_present(p, _POINT_SCALARS_AFTER))
    if p.product is not None:
        d["product"] = _product_dict(p.product)
    d.update(_present(p, _POINT_TAIL))
    return d


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The JSON object of a plan (inverse of :func:`parse_plan`; absent keys stay absent)."""
    d: dict[str, Any] = {"format": plan.format, "version": plan.version,
                         "product": _product_dict(plan.product)}
    if plan.patient is not None:
        d["patient"] = plan.patient
    if plan.model is not None:
        m: dict[str, Any] = {}
        if plan.model.name is not None:
            m["name"] = plan.model.name
        if plan.model.sex is not None:
            m["sex"] = plan.model.sex
        if plan.model.shape is not None:
            m["shape"] = dict(plan.model.shape)
        if plan.model.face is not None:
            m["face"] = plan.model.face
        d["model"] = m
    if plan.sessions is not None:
        d["sessions"] = [
            {k: v for k, v in (("id", s.id), ("date", s.date), ("label", s.label)) if v is not None}
            for s in plan.sessions
        ]
    d["points"] = [_point_dict(p) for p in plan.points]
    return d


def dumps_plan(plan: Plan) -> str:
    """The plan as JSON text: 2-space indent, UTF-8 characters kept, a final newline.

    Floats are written with Python's shortest round-trip repr, so reading the text gives the
    same numbers back.
    """
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------------------------
# load

def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a plan (numbers must be finite)")


def _nesting_depth_exceeds(text: str, limit: int) -> bool:
    """True if brackets nest deeper than ``limit`` (strings are skipped)."""
    depth = 0
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _fail(source: str, message: str) -> PlanError:
    return PlanError([PlanIssue("", f"{source}: {message}")])


def _decode(text: str | bytes, source: str) -> str:
    """The plan's text: size-checked, UTF-8 decoded, without a byte-order mark."""
    limit = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_FILE_BYTES:
            raise _fail(source, f"{limit} ({len(text)} bytes); not read")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if len(text) > MAX_FILE_BYTES:
        raise _fail(source, f"{limit}; not read")
    return text[1:] if text.startswith("\ufeff") else text


class _DuplicateKeys:
    """``object_pairs_hook`` that builds dicts and records every key an object gives twice."""

    def __init__(self) -> None:
        self.issues: list[PlanIssue] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                owner = dict(pairs).get("id")
                where = f" in the object with id {show(owner)}" if isinstance(owner, str) else ""
                self.issues.append(PlanIssue("", f"duplicate key {show(k)}{where}: a JSON object may give "
                                                 "a key only once (which value was meant?)"))
            out[k] = v
        return out


def _decode_json(text: str, source: str) -> tuple[object, list[PlanIssue]]:
    """The decoded JSON, and an issue for every key an object gives twice."""
    if _nesting_depth_exceeds(text, MAX_JSON_NESTING):
        raise _fail(source, f"JSON nested deeper than {MAX_JSON_NESTING} levels; not a plan")
    hook = _DuplicateKeys()
    try:
        obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise _fail(source, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _fail(source, "JSON nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise _fail(source, f"not a valid plan number: {str(exc)[:200]}") from None
    return obj, [PlanIssue("", f"{source}: {i.message}") for i in hook.issues]


def loads_plan(text: str | bytes, source: str = "<plan>") -> Plan:
    """Parse plan JSON text (see :func:`load_plan`); raises only :class:`PlanError`.

    Besides :func:`parse_plan`'s checks, a JSON object that gives a key twice
    (``"units": 4, "units": 400``) is rejected: JSON parsers disagree on which value wins.
    """
    try:
        obj, duplicates = _decode_json(_decode(text, source), source)
        try:
            plan = parse_plan(obj)
        except PlanError as exc:
            raise PlanError(duplicates + exc.errors) from None
        if duplicates:
            raise PlanError(duplicates)
        return plan
    except PlanError:
        raise
    except RecursionError:
        raise _fail(source, "JSON nested too deeply") from None
    except Exception as exc:
        raise _fail(source, f"could not read the plan ({type(exc).__name__})") from exc


def _read_plan_bytes(name: str) -> bytes:
    """The bytes of a plan file, after checking it is a regular file no larger than the limit."""
    p = Path(name)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except OSError as exc:
        raise _fail(name, f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(name, "is a directory, not a plan file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        raise _fail(name, "is not a regular file (a pipe, device or socket); not read")
    if st.st_size > MAX_FILE_BYTES:
        raise _fail(name, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({st.st_size} bytes); not read")
    try:
        with open(p, "rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _fail(name, f"cannot read ({exc.strerror or exc})") from None


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and validate a plan file.

    Parameters
    ----------
    path : str or path-like
        The plan file.

    Returns
    -------
    Plan

    Raises
    ------
    PlanError
        For a missing or unreadable file, a path that is not a regular file (a FIFO, a device),
        a file over 5 MB (checked before reading), text that is not UTF-8, invalid or truncated
        JSON (with line and column), a key given twice in one object, NaN or Infinity, nesting
        deeper than 64 levels, a top level that is not an object, and every validation error of
        :func:`parse_plan` (lone surrogates such as ``"\\ud800"`` in a text included). Nothing
        else escapes.
    """
    name = os.fspath(path)
    try:
        return loads_plan(_read_plan_bytes(name), source=name)
    except PlanError:
        raise
    except Exception as exc:
        raise _fail(name, f"could not read the plan ({type(exc).__name__})") from exc


# ----------------------------------------------------------------------------------------------
# save

def save_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write a plan atomically.

    The JSON goes to a temporary file in the same directory, which is flushed and fsynced, then
    renamed over ``path`` with ``os.replace`` (atomic on POSIX and Windows), and the directory is
    fsynced so the rename survives a power cut. A reader or a crash sees the old complete file or
    the new complete file. A crash can leave a stray ``.<name>.*.tmp`` beside it, never a partial
    plan under ``path``. An existing file's permission bits are kept.

    Parameters
    ----------
    plan : Plan
        The plan (already valid by construction).
    path : str or path-like
        Destination.
    """
    atomic_write_bytes(path, dumps_plan(plan).encode("utf-8"))

