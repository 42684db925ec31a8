"""The plan file (JSON, version 1; CONTRACTS.md "Plan file"): data model, validation, load, save.

- :func:`parse_plan` turns a decoded JSON object into a :class:`Plan`, or raises :class:`PlanError`
  listing EVERY problem found (a plan with one error is rejected whole). Each :class:`PlanIssue`
  names the point (index and id) and the key path, e.g.
  ``points[2] (id 'c1').depth_mm: must be between 0 and 40, got 55``.
- :func:`load_plan` reads a file (size checked before parsing, UTF-8, strict JSON with line and
  column in the message, NaN/Infinity and deep nesting rejected) and parses it: it raises nothing
  but :class:`PlanError`.
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
- ``model``: ``{name?: str, sex?: 0..1 or "female"/"male", shape?: {name: -1..1}}``.
- The check "an entry more than 15 mm from the skin" needs the face: :func:`check_entry_distances`
  takes a distance function from the anatomy side and returns issues in the same form.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from injectmap.anatomy.fileio import atomic_write_bytes
from injectmap.anatomy.ids import landmark_ids, side_of, structure_ids
from injectmap.planning.products import ona_equivalent_units, product_info, product_names, suggest_product

__all__ = [
    "DEFAULT_SESSION",
    "FORMAT",
    "MAX_ENTRY_DISTANCE_MM",
    "MAX_FILE_BYTES",
    "VERSION",
    "Model",
    "Plan",
    "PlanError",
    "PlanIssue",
    "Point",
    "PointPlacement",
    "Product",
    "Session",
    "check_entry_distances",
    "dumps_plan",
    "load_plan",
    "loads_plan",
    "parse_plan",
    "plan_to_dict",
    "save_plan",
]

FORMAT = "injectmap-plan"
VERSION = 1
DEFAULT_SESSION = "initial"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH_MM = 40.0
MAX_UNITS = 400.0
MAX_VOLUME_ML = 5.0
MAX_OFFSET_MM = 100.0
MAX_COORD_MM = 500.0
MAX_ANGLE_DEG = 89.0
MAX_ENTRY_DISTANCE_MM = 15.0
MAX_POINTS = 5000
MAX_SESSIONS = 100
MAX_TEXT = 2000
MAX_JSON_NESTING = 64
UNIT_TOLERANCE = 1e-3

POINT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
SESSION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
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


class PlanError(ValueError):
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
# validation helpers

@lru_cache(maxsize=1)
def _landmarks() -> frozenset[str]:
    return frozenset(landmark_ids())


@lru_cache(maxsize=1)
def _structures() -> frozenset[str]:
    return frozenset(structure_ids())


def _json_type(value: object) -> str:
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


def _show(value: object) -> str:
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
    return f"an {_json_type(value)}" if _json_type(value) in ("object", "array") else _json_type(value)


def _key(k: object) -> str:
    s = str(k) if isinstance(k, str) else _show(k)
    return repr(s if len(s) <= 40 else s[:37] + "...")


class _Collector:
    """Collects issues; knows the current point (index and id) for the messages."""

    def __init__(self) -> None:
        self.issues: list[PlanIssue] = []

    def add(self, where: _Where, key: str, message: str) -> None:
        self.issues.append(where.issue(key, message))


@dataclass(frozen=True)
class _Where:
    prefix: str = ""
    point_index: int | None = None
    point_id: str | None = None
    base_key: str = ""

    def issue(self, key: str, message: str) -> PlanIssue:
        full_key = ".".join(k for k in (self.base_key, key) if k).replace(".[", "[")
        if self.prefix and full_key:
            path = f"{self.prefix}.{full_key}" if not full_key.startswith("[") else self.prefix + full_key
        else:
            path = self.prefix or full_key
        return PlanIssue(path=path, message=message, point_index=self.point_index,
                         point_id=self.point_id, key=full_key or None)

    def sub(self, key: str) -> _Where:
        base = ".".join(k for k in (self.base_key, key) if k)
        return _Where(self.prefix, self.point_index, self.point_id, base)


def _number(c: _Collector, w: _Where, key: str, value: object, lo: float, hi: float, *,
            lo_open: bool = False, integer: bool = False) -> float | None:
    """Check a number in [lo, hi] (or (lo, hi] when lo_open); returns it unchanged, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        c.add(w, key, f"must be a number, got {_json_type(value)} {_show(value)}"
              if _json_type(value) in ("string", "boolean") else
              f"must be a number, got {_show(value)}")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        c.add(w, key, f"must be a finite number, got {_show(value)}")
        return None
    if integer and not isinstance(value, int):
        c.add(w, key, f"must be an integer, got {_show(value)}")
        return None
    lo_s = _fmt(lo)
    hi_s = _fmt(hi)
    if (value <= lo if lo_open else value < lo) or value > hi:
        rng = f"greater than {lo_s} and at most {hi_s}" if lo_open else f"between {lo_s} and {hi_s}"
        c.add(w, key, f"must be {rng}, got {_show(value)}")
        return None
    return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _vec3(c: _Collector, w: _Where, key: str, value: object, limit: float) -> Vec3 | None:
    if not isinstance(value, (list, tuple)):
        c.add(w, key, f"must be an array of 3 numbers [x, y, z], got {_show(value)}")
        return None
    if len(value) != 3:
        c.add(w, key, f"must be an array of 3 numbers [x, y, z], got {len(value)} items")
        return None
    out = []
    ok = True
    for i, v in enumerate(value):
        n = _number(c, w, f"{key}[{i}]", v, -limit, limit)
        ok = ok and n is not None
        out.append(n)
    return (out[0], out[1], out[2]) if ok else None  # type: ignore[return-value]


def _text(c: _Collector, w: _Where, key: str, value: object, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(value, str):
        c.add(w, key, f"must be a string, got {_show(value)}")
        return None
    if len(value) > limit:
        c.add(w, key, f"must be at most {limit} characters, got {len(value)}")
        return None
    return value


def _object(c: _Collector, w: _Where, key: str, value: object) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        c.add(w, key, f"must be an object, got {_show(value)}")
        return None
    return value


def _unknown_keys(c: _Collector, w: _Where, obj: Mapping[str, Any], known: Iterable[str],
                  key: str = "") -> None:
    known_set = set(known)
    bad = [k for k in obj if k not in known_set]
    allowed = ", ".join(sorted(known_set))
    for k in bad[:20]:
        name = k if isinstance(k, str) and _PLAIN_KEY_RE.match(k) else _key(k)
        c.add(w, ".".join(x for x in (key, name) if x), f"unknown key (allowed: {allowed})")
    if len(bad) > 20:
        c.add(w, key, f"{len(bad) - 20} more unknown keys")


def _landmark(c: _Collector, w: _Where, key: str, value: object) -> str | None:
    s = _text(c, w, key, value, 200)
    if s is None:
        return None
    if s not in _landmarks():
        c.add(w, key, f"unknown landmark id {_show(s)}")
        return None
    return s


def _structure(c: _Collector, w: _Where, key: str, value: object) -> str | None:
    s = _text(c, w, key, value, 200)
    if s is None:
        return None
    if s not in _structures():
        hint = " (that is a landmark id; `target` needs a structure id)" if s in _landmarks() else ""
        c.add(w, key, f"unknown structure id {_show(s)}{hint}")
        return None
    return s


# ----------------------------------------------------------------------------------------------
# parse

PLAN_KEYS = ("format", "version", "product", "points", "sessions", "patient", "model")
PRODUCT_KEYS = ("name", "units_per_vial", "diluent_ml")
AT_KEYS = ("landmark", "superior_mm", "anterior_mm", "lateral_mm", "left_mm")
POINT_KEYS = ("id", "units", "target", "at", "entry_mm", "depth_mm", "tip_mm", "direction",
              "angle_deg", "toward", "product", "volume_ml", "session", "lot", "deviation", "note")
SESSION_KEYS = ("id", "date", "label")
MODEL_KEYS = ("name", "sex", "shape")


def _parse_product(c: _Collector, w: _Where, value: object) -> Product | None:
    obj = _object(c, w, "", value)
    if obj is None:
        return None
    _unknown_keys(c, w, obj, PRODUCT_KEYS)
    ok = True
    for k in PRODUCT_KEYS:
        if k not in obj:
            c.add(w, k, "is required")
            ok = False
    name = None
    info = None
    if "name" in obj:
        name = _text(c, w, "name", obj["name"], 200)
        if name is not None:
            if name in product_names():
                info = product_info(name)
            else:
                hint = suggest_product(name)
                extra = f" (did you mean {hint!r}?)" if hint else ""
                c.add(w, "name", f"unknown product {_show(name)}{extra}; known products: "
                      + ", ".join(product_names()))
                name = None
    upv = None
    if "units_per_vial" in obj:
        upv = _number(c, w, "units_per_vial", obj["units_per_vial"], 0, 10000, lo_open=True)
        if upv is not None and info is not None and float(upv) not in info.vial_units:
            sizes = ", ".join(_fmt(v) for v in info.vial_units)
            c.add(w, "units_per_vial", f"{info.name} comes in vials of {sizes} U, got {_show(upv)}")
            upv = None
    dil = None
    if "diluent_ml" in obj:
        lo, hi = info.diluent_ml_range if info is not None else (0.0, 10.0)
        dil = _number(c, w, "diluent_ml", obj["diluent_ml"], lo, hi, lo_open=(lo == 0.0))
    if not ok or name is None or upv is None or dil is None:
        return None
    return Product(name=name, units_per_vial=upv, diluent_ml=dil)


def _parse_at(c: _Collector, w: _Where, value: object) -> PointPlacement | None:
    obj = _object(c, w, "at", value)
    if obj is None:
        return None
    wa = w.sub("at")
    _unknown_keys(c, wa, obj, AT_KEYS)
    ok = True
    lm = None
    if "landmark" not in obj:
        c.add(wa, "landmark", "is required")
        ok = False
    else:
        lm = _landmark(c, wa, "landmark", obj["landmark"])
        ok = ok and lm is not None
    offs: dict[str, float | None] = {}
    for k in AT_KEYS[1:]:
        if k in obj:
            v = _number(c, wa, k, obj[k], -MAX_OFFSET_MM, MAX_OFFSET_MM)
            ok = ok and v is not None
            offs[k] = v
    if lm is not None and "lateral_mm" in obj and side_of(lm) == "midline":
        c.add(wa, "lateral_mm", f"not allowed on the midline landmark {lm!r} (use left_mm)")
        ok = False
    if not ok:
        return None
    return PointPlacement(landmark=lm, **offs)  # type: ignore[arg-type]  # offs holds only the float offsets


def _parse_point(c: _Collector, i: int, value: object, seen_ids: dict[str, int],
                 point_sessions: list[tuple[_Where, str]]) -> Point | None:
    pid = None
    if isinstance(value, Mapping) and isinstance(value.get("id"), str) and POINT_ID_RE.match(value["id"]):
        pid = value["id"]
    prefix = f"points[{i}]" + (f" (id {pid!r})" if pid else "")
    w = _Where(prefix=prefix, point_index=i, point_id=pid)
    obj = _object(c, w, "", value)
    if obj is None:
        return None
    _unknown_keys(c, w, obj, POINT_KEYS)
    ok = True

    # id
    if "id" not in obj:
        c.add(w, "id", "is required")
        ok = False
    elif pid is None:
        v = obj["id"]
        if isinstance(v, str):
            c.add(w, "id", f"must be 1-64 characters of letters, digits, '_', '.', '-' "
                  f"starting with a letter or digit, got {_show(v)}")
        else:
            c.add(w, "id", f"must be a string, got {_show(v)}")
        ok = False
    else:
        if pid in seen_ids:
            c.add(w, "id", f"duplicate point id {pid!r} (also points[{seen_ids[pid]}])")
            ok = False
        else:
            seen_ids[pid] = i

    # dose
    units = None
    if "units" not in obj:
        c.add(w, "units", "is required")
        ok = False
    else:
        units = _number(c, w, "units", obj["units"], 0, MAX_UNITS, lo_open=True)
        ok = ok and units is not None

    # placement
    placement = None
    has_at, has_entry = "at" in obj, "entry_mm" in obj
    if has_at and has_entry:
        c.add(w, "at", "give either `at` or `entry_mm`, not both")
        ok = False
    elif not has_at and not has_entry:
        c.add(w, "at", "is required (or `entry_mm`): the point has no placement")
        ok = False
    if has_at:
        placement = _parse_at(c, w, obj["at"])
    if has_entry:
        e = _vec3(c, w, "entry_mm", obj["entry_mm"], MAX_COORD_MM)
        placement = PointPlacement(entry_mm=e) if e is not None else None
    ok = ok and placement is not None

    # depth / tip / direction / angle
    depth = tip = direction = angle = None
    toward = None
    has_depth, has_tip = "depth_mm" in obj, "tip_mm" in obj
    if has_depth and has_tip:
        c.add(w, "tip_mm", "give either `depth_mm` or `tip_mm`, not both")
        ok = False
    elif not has_depth and not has_tip:
        c.add(w, "depth_mm", "is required (or `tip_mm`)")
        ok = False
    if has_depth:
        depth = _number(c, w, "depth_mm", obj["depth_mm"], 0, MAX_DEPTH_MM)
        ok = ok and depth is not None
    if has_tip:
        tip = _vec3(c, w, "tip_mm", obj["tip_mm"], MAX_COORD_MM)
        ok = ok and tip is not None
    if "direction" in obj:
        if has_tip:
            c.add(w, "direction", "not allowed with `tip_mm` (the tip fixes the direction)")
            ok = False
        direction = _vec3(c, w, "direction", obj["direction"], 2.0)
        if direction is not None:
            norm = math.sqrt(sum(float(x) * float(x) for x in direction))
            if abs(norm - 1.0) > UNIT_TOLERANCE:
                c.add(w, "direction", f"must be a unit vector (length 1 +/- {UNIT_TOLERANCE}), "
                      f"got length {norm:.6g}")
                direction = None
        ok = ok and direction is not None
    if "angle_deg" in obj:
        for other in ("direction", "tip_mm"):
            if other in obj:
                c.add(w, "angle_deg", f"not allowed with `{other}`")
                ok = False
        angle = _number(c, w, "angle_deg", obj["angle_deg"], 0, MAX_ANGLE_DEG)
        ok = ok and angle is not None
        if "toward" not in obj:
            c.add(w, "toward", "is required with `angle_deg` (the landmark the needle tilts toward)")
            ok = False
    if "toward" in obj:
        if "angle_deg" not in obj:
            c.add(w, "toward", "only allowed with `angle_deg`")
            ok = False
        toward = _landmark(c, w, "toward", obj["toward"])
        ok = ok and toward is not None

    # the rest
    target = None
    if "target" in obj:
        target = _structure(c, w, "target", obj["target"])
        ok = ok and target is not None
    product = None
    if "product" in obj:
        product = _parse_product(c, w.sub("product"), obj["product"])
        ok = ok and product is not None
    volume = None
    if "volume_ml" in obj:
        volume = _number(c, w, "volume_ml", obj["volume_ml"], 0, MAX_VOLUME_ML, lo_open=True)
        ok = ok and volume is not None
    session = None
    if "session" in obj:
        session = _text(c, w, "session", obj["session"], 64)
        if session is not None and not SESSION_ID_RE.match(session):
            c.add(w, "session", f"must be a lower-case id (letters, digits, '_', '-'), got {_show(session)}")
            session = None
        if session is not None:
            point_sessions.append((w, session))
        ok = ok and session is not None
    texts: dict[str, str | None] = {}
    for k, limit in (("lot", 100), ("deviation", MAX_TEXT), ("note", MAX_TEXT)):
        if k in obj:
            texts[k] = _text(c, w, k, obj[k], limit)
            ok = ok and texts[k] is not None
    if not ok:
        return None
    assert pid is not None and units is not None and placement is not None
    return Point(id=pid, units=units, placement=placement, depth_mm=depth, tip_mm=tip,
                 direction=direction, angle_deg=angle, toward=toward, target=target,
                 product=product, volume_ml=volume, session=session, **texts)


def _parse_sessions(c: _Collector, value: object) -> tuple[Session, ...] | None:
    w = _Where()
    if not isinstance(value, (list, tuple)):
        c.add(w, "sessions", f"must be an array of sessions, got {_show(value)}")
        return None
    if len(value) > MAX_SESSIONS:
        c.add(w, "sessions", f"at most {MAX_SESSIONS} sessions, got {len(value)}")
        return None
    out: list[Session] = []
    seen: set[str] = set()
    ok = True
    for i, s in enumerate(value):
        ws = _Where(prefix=f"sessions[{i}]")
        obj = _object(c, ws, "", s)
        if obj is None:
            ok = False
            continue
        _unknown_keys(c, ws, obj, SESSION_KEYS)
        sid = None
        if "id" not in obj:
            c.add(ws, "id", "is required")
        else:
            sid = _text(c, ws, "id", obj["id"], 64)
            if sid is not None and not SESSION_ID_RE.match(sid):
                c.add(ws, "id", f"must be a lower-case id (letters, digits, '_', '-'), got {_show(sid)}")
                sid = None
            elif sid is not None and sid in seen:
                c.add(ws, "id", f"duplicate session id {sid!r}")
                sid = None
        d = None
        if "date" in obj:
            d = _text(c, ws, "date", obj["date"], 10)
            if d is not None:
                try:
                    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", d):
                        raise ValueError
                    date.fromisoformat(d)
                except ValueError:
                    c.add(ws, "date", f"must be a date YYYY-MM-DD, got {_show(d)}")
                    d = None
        label = None
        if "label" in obj:
            label = _text(c, ws, "label", obj["label"], 200)
        bad = sid is None or ("date" in obj and d is None) or ("label" in obj and label is None)
        if bad:
            ok = False
            continue
        assert sid is not None
        seen.add(sid)
        out.append(Session(id=sid, date=d, label=label))
    return tuple(out) if ok else None


def _parse_model(c: _Collector, value: object) -> Model | None:
    w = _Where(prefix="model")
    obj = _object(c, w, "", value)
    if obj is None:
        return None
    _unknown_keys(c, w, obj, MODEL_KEYS)
    ok = True
    name: str | None = None
    sex: float | str | None = None
    shape = None
    if "name" in obj:
        name = _text(c, w, "name", obj["name"], 200)
        ok = ok and name is not None
    if "sex" in obj:
        v = obj["sex"]
        if isinstance(v, str):
            if v in ("female", "male"):
                sex = v
            else:
                c.add(w, "sex", "must be 'female', 'male' or a number from 0 (female) to 1 (male), "
                      f"got {_show(v)}")
        else:
            sex = _number(c, w, "sex", v, 0.0, 1.0)
        ok = ok and sex is not None
    if "shape" in obj:
        sobj = _object(c, w, "shape", obj["shape"])
        if sobj is None:
            ok = False
        else:
            items = []
            for k, v in list(sobj.items())[:200]:
                if not isinstance(k, str) or not (0 < len(k) <= 64):
                    c.add(w, "shape", f"parameter names must be 1-64 characters, got {_key(k)}")
                    ok = False
                    continue
                n = _number(c, w, f"shape.{k}", v, -1.0, 1.0)
                ok = ok and n is not None
                items.append((k, n))
            if len(sobj) > 200:
                c.add(w, "shape", f"at most 200 parameters, got {len(sobj)}")
                ok = False
            shape = tuple(items)
    if not ok:
        return None
    return Model(name=name, sex=sex, shape=shape)  # type: ignore[arg-type]


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
    try:
        return _parse_plan(obj)
    except PlanError:
        raise
    except RecursionError:
        raise PlanError([PlanIssue("", "the plan is nested too deeply")]) from None
    except Exception as exc:  # a bug here must still surface as a bad plan, with the cause
        raise PlanError([PlanIssue("", f"could not validate the plan ({type(exc).__name__})")]) from exc


def _parse_plan(obj: object) -> Plan:
    c = _Collector()
    w = _Where()
    if not isinstance(obj, Mapping):
        raise PlanError([PlanIssue("", f"a plan must be a JSON object, got {_show(obj)}")])
    _unknown_keys(c, w, obj, PLAN_KEYS)
    for k in ("format", "version", "product", "points"):
        if k not in obj:
            c.add(w, k, "is required")
    if "format" in obj and obj["format"] != FORMAT:
        c.add(w, "format", f"must be {FORMAT!r}, got {_show(obj['format'])}")
    if "version" in obj:
        v = obj["version"]
        if isinstance(v, bool) or not isinstance(v, int) or v != VERSION:
            c.add(w, "version", f"must be the integer {VERSION} (this program reads version {VERSION}), "
                  f"got {_show(v)}")
    product = _parse_product(c, _Where(prefix="product"), obj["product"]) if "product" in obj else None

    sessions = _parse_sessions(c, obj["sessions"]) if "sessions" in obj else None
    patient = _text(c, w, "patient", obj["patient"]) if "patient" in obj else None
    model = _parse_model(c, obj["model"]) if "model" in obj else None

    points: list[Point] = []
    point_sessions: list[tuple[_Where, str]] = []
    if "points" in obj:
        raw = obj["points"]
        if not isinstance(raw, (list, tuple)):
            c.add(w, "points", f"must be an array of points, got {_show(raw)}")
        elif len(raw) > MAX_POINTS:
            c.add(w, "points", f"at most {MAX_POINTS} points, got {len(raw)}")
        else:
            seen: dict[str, int] = {}
            for i, p in enumerate(raw):
                pt = _parse_point(c, i, p, seen, point_sessions)
                if pt is not None:
                    points.append(pt)

    declared = {s.id for s in sessions} if sessions is not None else set()
    if "sessions" not in obj or sessions is not None:
        for pw, sid in point_sessions:
            if sid != DEFAULT_SESSION and sid not in declared:
                where = "in `sessions`" if "sessions" in obj else "(the plan has no `sessions` list)"
                c.add(pw, "session", f"session {sid!r} is not declared {where}; only "
                      f"{DEFAULT_SESSION!r} needs no declaration")

    if c.issues:
        raise PlanError(c.issues)
    assert product is not None
    return Plan(product=product, points=tuple(points), sessions=sessions, patient=patient, model=model)


# ----------------------------------------------------------------------------------------------
# to dict / JSON

def _product_dict(p: Product) -> dict[str, Any]:
    return {"name": p.name, "units_per_vial": p.units_per_vial, "diluent_ml": p.diluent_ml}


def _point_dict(p: Point) -> dict[str, Any]:
    d: dict[str, Any] = {"id": p.id, "units": p.units}
    if p.target is not None:
        d["target"] = p.target
    pl = p.placement
    if pl.landmark is not None:
        at: dict[str, Any] = {"landmark": pl.landmark}
        for k in AT_KEYS[1:]:
            v = getattr(pl, k)
            if v is not None:
                at[k] = v
        d["at"] = at
    else:
        assert pl.entry_mm is not None
        d["entry_mm"] = list(pl.entry_mm)
    if p.depth_mm is not None:
        d["depth_mm"] = p.depth_mm
    if p.tip_mm is not None:
        d["tip_mm"] = list(p.tip_mm)
    if p.direction is not None:
        d["direction"] = list(p.direction)
    if p.angle_deg is not None:
        d["angle_deg"] = p.angle_deg
    if p.toward is not None:
        d["toward"] = p.toward
    if p.product is not None:
        d["product"] = _product_dict(p.product)
    for k in ("volume_ml", "session", "lot", "deviation", "note"):
        v = getattr(p, k)
        if v is not None:
            d[k] = v
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


def loads_plan(text: str | bytes, source: str = "<plan>") -> Plan:
    """Parse plan JSON text (see :func:`load_plan`); raises only :class:`PlanError`."""
    try:
        if isinstance(text, (bytes, bytearray)):
            if len(text) > MAX_FILE_BYTES:
                raise PlanError([PlanIssue("", f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB "
                                               f"({len(text)} bytes); not read")])
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                msg = f"{source}: not UTF-8 text (bad byte at offset {exc.start})"
                raise PlanError([PlanIssue("", msg)]) from None
        if len(text) > MAX_FILE_BYTES:
            msg = f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not read"
            raise PlanError([PlanIssue("", msg)])
        if text.startswith("\ufeff"):
            text = text[1:]
        if _nesting_depth_exceeds(text, MAX_JSON_NESTING):
            raise PlanError([PlanIssue("", f"{source}: JSON nested deeper than {MAX_JSON_NESTING} levels; "
                                           "not a plan")])
        try:
            obj = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise PlanError([PlanIssue("", f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} "
                                           f"column {exc.colno}")]) from None
        except RecursionError:
            raise PlanError([PlanIssue("", f"{source}: JSON nested too deeply")]) from None
        except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
            raise PlanError([PlanIssue("", f"{source}: not a valid plan number: {str(exc)[:200]}")]) from None
        return parse_plan(obj)
    except PlanError:
        raise
    except RecursionError:
        raise PlanError([PlanIssue("", f"{source}: JSON nested too deeply")]) from None
    except Exception as exc:
        raise PlanError([PlanIssue("", f"{source}: could not read the plan ({type(exc).__name__})")]) from exc


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
        For a missing or unreadable file, a file over 5 MB (checked before reading), text that is
        not UTF-8, invalid or truncated JSON (with line and column), NaN or Infinity, nesting
        deeper than 64 levels, a top level that is not an object, and every validation error of
        :func:`parse_plan`. Nothing else escapes.
    """
    name = os.fspath(path)
    try:
        p = Path(name)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise PlanError([PlanIssue("", f"{name}: no such file")]) from None
        except OSError as exc:
            raise PlanError([PlanIssue("", f"{name}: cannot read ({exc.strerror or exc})")]) from None
        if p.is_dir():
            raise PlanError([PlanIssue("", f"{name}: is a directory, not a plan file")])
        if st.st_size > MAX_FILE_BYTES:
            raise PlanError([PlanIssue("", f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB "
                                           f"({st.st_size} bytes); not read")])
        try:
            with open(p, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise PlanError([PlanIssue("", f"{name}: cannot read ({exc.strerror or exc})")]) from None
        return loads_plan(data, source=name)
    except PlanError:
        raise
    except Exception as exc:
        raise PlanError([PlanIssue("", f"{name}: could not read the plan ({type(exc).__name__})")]) from exc


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


# ----------------------------------------------------------------------------------------------
# geometry hook

def check_entry_distances(
    plan: Plan,
    distance_to_skin_mm: Callable[[Vec3], float],
    max_distance_mm: float = MAX_ENTRY_DISTANCE_MM,
) -> list[PlanIssue]:
    """Issues for ``entry_mm`` points farther than ``max_distance_mm`` from the skin.

    The plan file alone cannot tell where the skin is: the analysis side calls this with the
    face's distance function and, if the list is not empty, rejects the plan with
    ``PlanError(issues)`` like any other validation error.

    Parameters
    ----------
    plan : Plan
        A parsed plan.
    distance_to_skin_mm : callable
        ``(x, y, z) -> distance in mm`` from a point to the nearest skin point (unsigned).
    max_distance_mm : float, optional
        Limit, 15 mm by CONTRACTS.

    Returns
    -------
    list of PlanIssue
        One per offending point, naming the point and ``entry_mm``.
    """
    out: list[PlanIssue] = []
    for i, p in enumerate(plan.points):
        e = p.placement.entry_mm
        if e is None:
            continue
        d = float(distance_to_skin_mm(e))
        if not math.isfinite(d) or d > max_distance_mm:
            w = _Where(prefix=f"points[{i}] (id {p.id!r})", point_index=i, point_id=p.id)
            out.append(w.issue("entry_mm", f"is {d:.1f} mm from the skin; at most "
                                           f"{_fmt(max_distance_mm)} mm allowed"))
    return out

