"""The plan file's declarative model (pydantic v2): the one validator of a plan, and its JSON Schema.

:class:`PlanFile` describes the JSON of a plan, version 1 (CONTRACTS.md "Plan file"). Each field's
type carries its rule (range, id, length) and the message it gives; a record's cross-field rules
(``at`` or ``entry_mm``, ``depth_mm`` or ``tip_mm``, ...) are declared in its ``_cross`` method and
in its JSON Schema (``json_schema_extra``). Validation collects every error (pydantic does) and
:func:`validation_issues` turns each error's ``loc`` into the plan's message style,
``points[2] (id 'c1').depth_mm: must be between 0 and 40, got 55``.

planning.plan builds its frozen dataclasses from a validated :class:`PlanFile`; planning.schema
publishes :func:`plan_json_schema`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

from injectmap.anatomy.ids import MIDLINE_LANDMARKS, landmark_ids, side_of, structure_ids
from injectmap.anatomy.params import SHAPE_KEYS
from injectmap.planning.doses import dosed_muscles, treatable_targets
from injectmap.planning.products import product_info, product_names, suggest_product

__all__ = [
    "AT_KEYS",
    "FORMAT",
    "MAX_ANGLE_DEG",
    "MAX_COORD_MM",
    "MAX_DEPTH_MM",
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
    "PlanFile",
    "PointFile",
    "plan_json_schema",
    "show",
    "fmt",
    "validation_issues",
]

FORMAT = "injectmap-plan"
VERSION = 1
MAX_DEPTH_MM = 40.0
MAX_UNITS = 400.0
MAX_VOLUME_ML = 5.0
MAX_OFFSET_MM = 100.0
MAX_COORD_MM = 500.0
MAX_ANGLE_DEG = 89.0
MAX_POINTS = 5000
MAX_SESSIONS = 100
MAX_TEXT = 2000
MAX_UNKNOWN_KEYS = 20
MAX_SHAPE_PARAMS = 200
UNIT_TOLERANCE = 1e-3

POINT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SESSION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
AT_KEYS = ("landmark", "superior_mm", "anterior_mm", "lateral_mm", "left_mm")

Loc = tuple[str | int, ...]


# ----------------------------------------------------------------------------------------------
# messages

def json_type(value: object) -> str:
    """The JSON type name of a decoded value (``"number"``, ``"object"``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def show(value: object) -> str:
    """A short, safe description of a value for a message (never recursive, never huge)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 64:
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        s = value if len(value) <= 40 else value[:37] + "..."
        return repr(s)
    t = json_type(value)
    return f"an {t}" if t in ("object", "array") else t


def fmt(x: float) -> str:
    """A bound for a message: ``40`` rather than ``40.0``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _key_name(k: object) -> str:
    if isinstance(k, str) and _PLAIN_KEY_RE.match(k):
        return k
    s = k if isinstance(k, str) else show(k)
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("plan", "{message}", {"message": message})


def _raise_at(errors: Iterable[tuple[Loc, str]], data: object, title: str = "plan") -> None:
    details = [InitErrorDetails(type=_error(msg), loc=loc, input=data) for loc, msg in errors]
    if details:
        raise ValidationError.from_exception_data(title, details)


# ----------------------------------------------------------------------------------------------
# field types: each validates with the plan's messages and keeps the value as the file gave it

def _check_number(value: Any, lo: float, hi: float, lo_open: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = f"{json_type(value)} " if json_type(value) in ("string", "boolean") else ""
        raise _error(f"must be a number, got {kind}{show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(f"must be a finite number, got {show(value)}")
    if (value <= lo if lo_open else value < lo) or value > hi:
        rng = f"greater than {fmt(lo)} and at most {fmt(hi)}" if lo_open else f"between {fmt(lo)} and {fmt(hi)}"
        raise _error(f"must be {rng}, got {show(value)}")
    return value


def number(lo: float, hi: float, lo_open: bool = False) -> Any:
    """A finite JSON number in [lo, hi] (or (lo, hi]); ints stay ints."""
    bound = Field(gt=lo, le=hi) if lo_open else Field(ge=lo, le=hi)
    return Annotated[float, bound, WrapValidator(lambda v, _h: _check_number(v, lo, hi, lo_open))]


def _check_vec3(value: Any, limit: float) -> tuple[Any, Any, Any]:
    if not isinstance(value, (list, tuple)):
        raise _error(f"must be an array of 3 numbers [x, y, z], got {show(value)}")
    if len(value) != 3:
        raise _error(f"must be an array of 3 numbers [x, y, z], got {len(value)} items")
    errors: list[tuple[Loc, str]] = []
    for i, v in enumerate(value):
        try:
            _check_number(v, -limit, limit, False)
        except PydanticCustomError as exc:
            errors.append(((i,), exc.message()))
    _raise_at(errors, value)
    return (value[0], value[1], value[2])


def vec3(limit: float) -> Any:
    """Three numbers [x, y, z], each in [-limit, limit]."""
    item = Annotated[float, Field(ge=-limit, le=limit)]
    return Annotated[list[item], Field(min_length=3, max_length=3),  # type: ignore[valid-type]
                     WrapValidator(lambda v, _h: _check_vec3(v, limit))]


def _check_text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise _error(f"must be a string, got {show(value)}")
    if len(value) > limit:
        raise _error(f"must be at most {limit} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _error(f"not valid Unicode text (a lone surrogate at character {exc.start})") from None
    return value


def text(limit: int = MAX_TEXT, *extra: Any) -> Any:
    """A string of at most ``limit`` characters, valid Unicode."""
    parts = (str, Field(max_length=limit), *extra, WrapValidator(lambda v, _h: _check_text(v, limit)))
    return Annotated[parts]  # type: ignore[valid-type]


@lru_cache(maxsize=1)
def _landmarks() -> frozenset[str]:
    return frozenset(landmark_ids())


@lru_cache(maxsize=1)
def _structures() -> frozenset[str]:
    return frozenset(structure_ids())


def _check_landmark(value: Any, _handler: Any) -> str:
    s = _check_text(value, 200)
    if s not in _landmarks():
        raise _error(f"unknown landmark id {show(s)}")
    return s


def _check_structure(value: Any, _handler: Any) -> str:
    s = _check_text(value, 200)
    if s not in _structures():
        hint = " (that is a landmark id; `target` needs a structure id)" if s in _landmarks() else ""
        raise _error(f"unknown structure id {show(s)}{hint}")
    return s


def _check_target(value: Any, handler: Any) -> str:
    """A target is a muscle being treated: one with a dose range (planning/data/dose_ranges.yaml).

    An artery, a nerve, the duct, the gland, a layer or an orbit is never a target: the findings about
    the structure the tip lies in must never depend on what the point aims at.
    """
    s = _check_structure(value, handler)
    if s not in treatable_targets():
        treated = ", ".join(sorted(set(dosed_muscles())))
        raise _error(f"{show(s)} is not a muscle that is treated; a target is one of: {treated} "
                     "(with _left or _right where the muscle has sides)")
    return s


def _check_point_id(value: Any, _handler: Any) -> str:
    if not isinstance(value, str):
        raise _error(f"must be a string, got {show(value)}")
    if not POINT_ID_RE.match(value):
        raise _error("must be 1-64 characters of letters, digits, '_', '.', '-' "
                     f"starting with a letter or digit, got {show(value)}")
    return value


def _check_session_id(value: Any, _handler: Any) -> str:
    s = _check_text(value, 64)
    if not SESSION_ID_RE.match(s):
        raise _error(f"must be a lower-case id (letters, digits, '_', '-'), got {show(s)}")
    return s


def _check_date(value: Any, _handler: Any) -> str:
    s = _check_text(value, 10)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            raise ValueError
        date.fromisoformat(s)
    except ValueError:
        raise _error(f"must be a date YYYY-MM-DD, got {show(s)}") from None
    return s


def _target_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = list(treatable_targets())


Landmark = Annotated[str, Field(json_schema_extra={"x-def": "landmark"}), WrapValidator(_check_landmark)]
TargetId = Annotated[str, Field(json_schema_extra=_target_enum), WrapValidator(_check_target)]
PointId = Annotated[str, Field(pattern=POINT_ID_RE.pattern), WrapValidator(_check_point_id)]
SessionId = Annotated[str, Field(json_schema_extra={"x-def": "session_id"}), WrapValidator(_check_session_id)]
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), WrapValidator(_check_date)]


def _array(what: str, limit: int) -> Callable[[Any, Any], Any]:
    def check(value: Any, handler: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _error(f"must be an array of {what}, got {show(value)}")
        if len(value) > limit:
            raise _error(f"at most {limit} {what}, got {len(value)}")
        return handler(list(value))
    return check


# ----------------------------------------------------------------------------------------------
# records

_ABSENT: Any = None  # the default of an optional key: absent from the file (a null in the file is an error)


class _Record(BaseModel):
    """A JSON object of the plan: unknown keys, missing keys and cross-field rules give plan messages."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @classmethod
    def _cross(cls, obj: Mapping[str, Any], failed: set[str]) -> list[tuple[Loc, str]]:
        """Rules between keys; ``failed`` holds the keys whose own value was rejected."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _validate(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise _error(f"must be an object, got {show(data)}")
        errors: list[InitErrorDetails] = []
        result = None
        try:
            result = handler(dict(data))
        except ValidationError as exc:
            errors = cls._restyle(exc, data)
        failed = {str(e["loc"][0]) for e in errors if e["loc"]}
        errors += [InitErrorDetails(type=_error(msg), loc=loc, input=data) for loc, msg in cls._cross(data, failed)]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return result

    @classmethod
    def _restyle(cls, exc: ValidationError, data: Mapping[str, Any]) -> list[InitErrorDetails]:
        allowed = ", ".join(sorted(cls.model_fields))
        out: list[InitErrorDetails] = []
        unknown = 0
        for e in exc.errors():
            loc = tuple(e["loc"])
            if e["type"] == "extra_forbidden" and len(loc) == 1:
                unknown += 1
                if unknown <= MAX_UNKNOWN_KEYS:
                    out.append(InitErrorDetails(type=_error(f"unknown key (allowed: {allowed})"),
                                                loc=(_key_name(loc[0]),), input=e["input"]))
                continue
            msg = "is required" if e["type"] == "missing" else e["msg"]
            out.append(InitErrorDetails(type=_error(msg), loc=loc, input=e.get("input")))
        if unknown > MAX_UNKNOWN_KEYS:
            out.append(InitErrorDetails(type=_error(f"{unknown - MAX_UNKNOWN_KEYS} more unknown keys"),
                                        loc=(), input=data))
        return out


class ProductFile(_Record):
    """``{name, units_per_vial, diluent_ml}``: the product and its reconstitution."""

    name: text(200, Field(json_schema_extra=lambda s: s.update(enum=product_names())))  # type: ignore[valid-type]
    units_per_vial: number(0, 10000, lo_open=True)  # type: ignore[valid-type]
    diluent_ml: Annotated[float, Field(gt=0, le=10), WrapValidator(lambda v, _h: _check_number(v, 0, math.inf, True))]

    @classmethod
    def _cross(cls, obj: Mapping[str, Any], failed: set[str]) -> list[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        name: Any = obj.get("name")
        info = product_info(name) if "name" not in failed and name in product_names() else None
        if "name" in obj and "name" not in failed and info is None:
            hint = suggest_product(name)
            extra = f" (did you mean {hint!r}?)" if hint else ""
            out.append((("name",), f"unknown product {show(name)}{extra}; known products: " + ", ".join(product_names())))
        upv: Any = obj.get("units_per_vial")
        if info is not None and "units_per_vial" in obj and "units_per_vial" not in failed \
                and float(upv) not in info.vial_units:
            sizes = ", ".join(fmt(v) for v in info.vial_units)
            out.append((("units_per_vial",), f"{info.name} comes in vials of {sizes} U, got {show(upv)}"))
        if "diluent_ml" in obj and "diluent_ml" not in failed:
            lo, hi = info.diluent_ml_range if info is not None else (0.0, 10.0)
            try:
                _check_number(obj["diluent_ml"], lo, hi, lo == 0.0)
            except PydanticCustomError as exc:
                out.append((("diluent_ml",), exc.message()))
        return out


_OFFSET = number(-MAX_OFFSET_MM, MAX_OFFSET_MM)


class AtFile(_Record):
    """A landmark and optional offsets in the frame's axes (mm)."""

    model_config = ConfigDict(json_schema_extra={
        "if": {"required": ["landmark"], "properties": {"landmark": {"enum": list(MIDLINE_LANDMARKS)}}},
        "then": {"not": {"required": ["lateral_mm"]}},
    })

    landmark: Landmark
    superior_mm: _OFFSET = _ABSENT  # type: ignore[valid-type]
    anterior_mm: _OFFSET = _ABSENT  # type: ignore[valid-type]
    lateral_mm: _OFFSET = _ABSENT  # type: ignore[valid-type]
    left_mm: _OFFSET = _ABSENT  # type: ignore[valid-type]

    @classmethod
    def _cross(cls, obj: Mapping[str, Any], failed: set[str]) -> list[tuple[Loc, str]]:
        lm: Any = obj.get("landmark")
        if "landmark" in obj and "landmark" not in failed and "lateral_mm" in obj and side_of(lm) == "midline":
            return [(("lateral_mm",), f"not allowed on the midline landmark {lm!r} (use left_mm)")]
        return []


def _check_direction(value: Any, _handler: Any) -> tuple[Any, Any, Any]:
    v = _check_vec3(value, 2.0)
    norm = math.sqrt(sum(float(x) * float(x) for x in v))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        raise _error(f"must be a unit vector (length 1 +/- {UNIT_TOLERANCE}), got length {norm:.6g}")
    return v


_POINT_RULES: Any = [
    {"oneOf": [{"required": ["at"]}, {"required": ["entry_mm"]}]},
    {"oneOf": [{"required": ["depth_mm"]}, {"required": ["tip_mm"]}]},
    {"if": {"required": ["tip_mm"]},
     "then": {"not": {"anyOf": [{"required": ["direction"]}, {"required": ["angle_deg"]}]}}},
    {"if": {"required": ["direction"]}, "then": {"not": {"required": ["angle_deg"]}}},
    {"if": {"required": ["angle_deg"]}, "then": {"required": ["toward"]}},
    {"if": {"required": ["toward"]}, "then": {"required": ["angle_deg"]}},
]


class PointFile(_Record):
    """One injection point as the file gives it (CONTRACTS "Plan file")."""

    model_config = ConfigDict(json_schema_extra={"allOf": _POINT_RULES})

    id: PointId
    units: number(0, MAX_UNITS, lo_open=True)  # type: ignore[valid-type]
    target: TargetId = _ABSENT
    at: AtFile = _ABSENT
    entry_mm: vec3(MAX_COORD_MM) = _ABSENT  # type: ignore[valid-type]
    depth_mm: number(0, MAX_DEPTH_MM) = _ABSENT  # type: ignore[valid-type]
    tip_mm: vec3(MAX_COORD_MM) = _ABSENT  # type: ignore[valid-type]
    direction: Annotated[list[float], Field(min_length=3, max_length=3), WrapValidator(_check_direction)] = _ABSENT
    angle_deg: number(0, MAX_ANGLE_DEG) = _ABSENT  # type: ignore[valid-type]
    toward: Landmark = _ABSENT
    product: ProductFile = _ABSENT
    volume_ml: number(0, MAX_VOLUME_ML, lo_open=True) = _ABSENT  # type: ignore[valid-type]
    session: SessionId = _ABSENT
    lot: text(100) = _ABSENT  # type: ignore[valid-type]
    deviation: text(MAX_TEXT) = _ABSENT  # type: ignore[valid-type]
    note: text(MAX_TEXT) = _ABSENT  # type: ignore[valid-type]

    @classmethod
    def _cross(cls, obj: Mapping[str, Any], failed: set[str]) -> list[tuple[Loc, str]]:
        has = {k for k in ("at", "entry_mm", "depth_mm", "tip_mm", "direction", "angle_deg", "toward") if k in obj}
        rules: list[tuple[bool, str, str]] = [
            ({"at", "entry_mm"} <= has, "at", "give either `at` or `entry_mm`, not both"),
            (not has & {"at", "entry_mm"}, "at", "is required (or `entry_mm`): the point has no placement"),
            ({"depth_mm", "tip_mm"} <= has, "tip_mm", "give either `depth_mm` or `tip_mm`, not both"),
            (not has & {"depth_mm", "tip_mm"}, "depth_mm", "is required (or `tip_mm`)"),
            ({"direction", "tip_mm"} <= has, "direction", "not allowed with `tip_mm` (the tip fixes the direction)"),
            ({"angle_deg", "direction"} <= has, "angle_deg", "not allowed with `direction`"),
            ({"angle_deg", "tip_mm"} <= has, "angle_deg", "not allowed with `tip_mm`"),
            ("angle_deg" in has and "toward" not in has, "toward",
             "is required with `angle_deg` (the landmark the needle tilts toward)"),
            ("toward" in has and "angle_deg" not in has, "toward", "only allowed with `angle_deg`"),
        ]
        return [((key,), msg) for broken, key, msg in rules if broken]


class SessionFile(_Record):
    """A treatment visit: id, optional ISO date and label."""

    id: SessionId
    date: IsoDate = _ABSENT
    label: text(200) = _ABSENT  # type: ignore[valid-type]


def _check_sex(value: Any, _handler: Any) -> Any:
    if isinstance(value, str):
        if value in ("female", "male"):
            return value
        raise _error(f"must be 'female', 'male' or a number from 0 (female) to 1 (male), got {show(value)}")
    return _check_number(value, 0.0, 1.0, False)


def _check_shape(value: Any, _handler: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(f"must be an object, got {show(value)}")
    errors: list[tuple[Loc, str]] = []
    for k, v in list(value.items())[:MAX_SHAPE_PARAMS]:
        if not isinstance(k, str) or not (0 < len(k) <= 64):
            errors.append(((), f"parameter names must be 1-64 characters, got {_key_name(k)}"))
            continue
        try:
            _check_text(k, 64)
        except PydanticCustomError as exc:
            errors.append(((), f"parameter name {_key_name(k)}: {exc.message()}"))
            continue
        if k not in SHAPE_KEYS:  # the face builder knows only these (anatomy.params)
            errors.append(((k,), f"unknown shape parameter; known: {', '.join(SHAPE_KEYS)}"))
            continue
        try:
            _check_number(v, -1.0, 1.0, False)
        except PydanticCustomError as exc:
            errors.append(((k,), exc.message()))
    if len(value) > MAX_SHAPE_PARAMS:
        errors.append(((), f"at most {MAX_SHAPE_PARAMS} parameters, got {len(value)}"))
    _raise_at(errors, value)
    return dict(value)


class ModelFile(_Record):
    """The face variant a plan was made on (all optional)."""

    name: text(200) = _ABSENT  # type: ignore[valid-type]
    #: a fitted face (``injectmap face fit``): the path of its ``*.face.json``
    face: text(500) = _ABSENT  # type: ignore[valid-type]
    sex: Annotated[Literal["female", "male"] | Annotated[float, Field(ge=0, le=1)],
                   WrapValidator(_check_sex)] = _ABSENT
    shape: Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[float, Field(ge=-1, le=1)]],
                     Field(max_length=MAX_SHAPE_PARAMS), WrapValidator(_check_shape)] = _ABSENT


def _check_format(value: Any, _handler: Any) -> str:
    if value != FORMAT or not isinstance(value, str):
        raise _error(f"must be {FORMAT!r}, got {show(value)}")
    return value


def _check_version(value: Any, _handler: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value != VERSION:
        raise _error(f"must be the integer {VERSION} (this program reads version {VERSION}), got {show(value)}")
    return value


class PlanFile(_Record):
    """A plan file, version 1: the JSON object CONTRACTS.md describes."""

    model_config = ConfigDict(title="injectmap plan, version 1")

    format: Annotated[Literal["injectmap-plan"], WrapValidator(_check_format)]
    version: Annotated[Literal[1], WrapValidator(_check_version)]
    product: ProductFile
    points: Annotated[list[PointFile], Field(max_length=MAX_POINTS), WrapValidator(_array("points", MAX_POINTS))]
    sessions: Annotated[list[SessionFile], Field(max_length=MAX_SESSIONS),
                        WrapValidator(_array("sessions", MAX_SESSIONS))] = _ABSENT
    patient: text(MAX_TEXT) = _ABSENT  # type: ignore[valid-type]
    model: ModelFile = _ABSENT

    _DEFAULT_SESSION: ClassVar[str] = "initial"

    @classmethod
    def _cross(cls, obj: Mapping[str, Any], failed: set[str]) -> list[tuple[Loc, str]]:
        points = obj.get("points")
        if not isinstance(points, (list, tuple)) or len(points) > MAX_POINTS:
            return cls._session_ids(obj)
        out = cls._session_ids(obj)
        seen: dict[str, int] = {}
        for i, p in enumerate(points):
            pid = p.get("id") if isinstance(p, Mapping) else None
            if not isinstance(pid, str) or not POINT_ID_RE.match(pid):
                continue
            if pid in seen:
                out.append((("points", i, "id"), f"duplicate point id {pid!r} (also points[{seen[pid]}])"))
            else:
                seen[pid] = i
        if "sessions" not in obj or "sessions" not in failed and not any(loc[0] == "sessions" for loc, _ in out):
            out += cls._undeclared_sessions(obj, points)
        return out

    @staticmethod
    def _session_ids(obj: Mapping[str, Any]) -> list[tuple[Loc, str]]:
        sessions = obj.get("sessions")
        if not isinstance(sessions, (list, tuple)) or len(sessions) > MAX_SESSIONS:
            return []
        seen: set[str] = set()
        out: list[tuple[Loc, str]] = []
        for i, s in enumerate(sessions):
            sid = s.get("id") if isinstance(s, Mapping) else None
            if isinstance(sid, str) and SESSION_ID_RE.match(sid):
                if sid in seen:
                    out.append((("sessions", i, "id"), f"duplicate session id {sid!r}"))
                seen.add(sid)
        return out

    @classmethod
    def _undeclared_sessions(cls, obj: Mapping[str, Any], points: Iterable[Any]) -> list[tuple[Loc, str]]:
        declared = {s["id"] for s in obj.get("sessions") or ()}
        where = "in `sessions`" if "sessions" in obj else "(the plan has no `sessions` list)"
        out: list[tuple[Loc, str]] = []
        for i, p in enumerate(points):
            sid = p.get("session") if isinstance(p, Mapping) else None
            if isinstance(sid, str) and SESSION_ID_RE.match(sid) and sid != cls._DEFAULT_SESSION and sid not in declared:
                out.append((("points", i, "session"), f"session {sid!r} is not declared {where}; only "
                            f"{cls._DEFAULT_SESSION!r} needs no declaration"))
        return out


# ----------------------------------------------------------------------------------------------
# errors -> plan issues

def _join(parts: Iterable[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


IssueTuple = tuple[str, str, int | None, str | None, str | None]


def validation_issues(exc: ValidationError, obj: Mapping[str, Any]) -> list[IssueTuple]:
    """Each pydantic error as ``(path, message, point_index, point_id, key)`` in the plan's style.

    A point's errors are prefixed ``points[i] (id 'x')`` (the id only when it is valid), a session's
    ``sessions[i]``, the product's and model's ``product``, ``model``; the key is the rest of the loc.
    """
    out: list[IssueTuple] = []
    points = obj.get("points")
    for e in exc.errors():
        loc = tuple(e["loc"])
        msg = e["ctx"]["message"] if e.get("ctx") and "message" in e["ctx"] else e["msg"]
        index: int | None = None
        pid: str | None = None
        if len(loc) >= 2 and loc[0] in ("points", "sessions") and isinstance(loc[1], int):
            prefix, rest = f"{loc[0]}[{loc[1]}]", loc[2:]
            if loc[0] == "points":
                index = loc[1]
                raw = points[index] if isinstance(points, (list, tuple)) else None
                rid = raw.get("id") if isinstance(raw, Mapping) else None
                if isinstance(rid, str) and POINT_ID_RE.match(rid):
                    pid = rid
                    prefix += f" (id {rid!r})"
        elif len(loc) >= 1 and loc[0] in ("product", "model"):
            prefix, rest = str(loc[0]), loc[1:]
        else:
            prefix, rest = "", loc
        key = _join(rest)
        if prefix and key:
            path = prefix + key if key.startswith("[") else f"{prefix}.{key}"
        else:
            path = prefix or key
        out.append((path, msg, index, pid, key or None))
    return out


# ----------------------------------------------------------------------------------------------
# JSON Schema

class _PlanSchemaGenerator(GenerateJsonSchema):
    """Draft 2020-12 from the models: optional keys are absent (never null), no defaults listed."""

    def nullable_schema(self, schema: CoreSchema) -> JsonSchemaValue:  # type: ignore[override]
        return self.generate_inner(schema["schema"])  # type: ignore[typeddict-item]

    def default_schema(self, schema: CoreSchema) -> JsonSchemaValue:  # type: ignore[override]
        return self.generate_inner(schema["schema"])  # type: ignore[typeddict-item]

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


_DEF_NAMES = {"ProductFile": "product", "AtFile": "at", "PointFile": "point", "SessionFile": "session",
              "ModelFile": "model"}


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`PlanFile`, with the landmark and session-id definitions it refers to."""
    raw = PlanFile.model_json_schema(schema_generator=_PlanSchemaGenerator, mode="validation")
    title = raw.get("title")
    schema = _strip_titles(raw)
    defs = {_DEF_NAMES.get(k, k): v for k, v in schema.pop("$defs", {}).items()}
    for d in (schema, *defs.values()):
        d.pop("description", None)
    defs["landmark"] = {"enum": sorted(landmark_ids())}
    defs["session_id"] = {"type": "string", "pattern": SESSION_ID_RE.pattern}
    text_ = _rename_refs(schema, defs)
    return {"title": title, **text_}


def _rename_refs(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Refs to the short definition names; a field marked ``x-def`` becomes a ref to that definition."""
    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            if "x-def" in node:
                return {"$ref": "#/$defs/" + node["x-def"]}
            out = {k: fix(v) for k, v in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref[len("#/$defs/"):]
                out["$ref"] = "#/$defs/" + _DEF_NAMES.get(name, name)
            return out
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node
    return {**fix(schema), "$defs": fix(defs)}
