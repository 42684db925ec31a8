"""Typed results of the analysis: :class:`Severity`, :class:`Finding`, :class:`PointResult`, :class:`PlanResult`.

The rules return :class:`Finding`, :func:`~injectmap.planning.analysis.analyse_point` a :class:`PointResult`,
:func:`~injectmap.planning.check.check_plan` a :class:`PlanResult`. They are frozen: a result is read, never
edited. Each has ``to_dict()``, the exact CONTRACTS JSON shape (key order, rounding and which optional keys
are present), used at the edges only (the command line, files, the browser). Everything else reads the
attributes and compares severities with :class:`Severity`'s order (info < caution < danger).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DISCLAIMER", "LAYER_WORDS", "OK_COLOUR", "CorridorResult", "Finding", "PlanResult", "PointResult", "Severity",
           "Totals", "worst_of"]

#: shown under the scene and in every report
DISCLAIMER = ("Population-average anatomy and a heuristic diffusion model: a planning and teaching aid, "
              "never a patient-specific safe distance.")
#: display colour of a point with no caution or danger finding
OK_COLOUR = "#2ca02c"

#: a tip's ``layer`` in words, where it lies in no structure (``tip_in`` null); analysis.tip_layer's names
LAYER_WORDS = {
    "outside": "no tissue: outside the skin",
    "skin": "the skin",
    "subcutaneous_fat": "the subcutaneous fat",
    "smas": "the SMAS, in no muscle",
    "deep": "the deep layer under the SMAS, in no muscle",
    "bone": "the bone (at or past its surface)",
}

_RANK = {"info": 1, "caution": 2, "danger": 3}
_COLOUR = {"info": "#4a90d9", "caution": "#ff9f1c", "danger": "#d62728"}


class Severity(str, enum.Enum):
    """How serious a finding is, ordered ``INFO < CAUTION < DANGER``.

    A ``str`` enum: its value is the CONTRACTS word (``"danger"``), so it compares equal to that word and
    serialises as it; ``<``, ``max`` and ``sorted`` use the clinical order, not the alphabet (also against
    a plain word: ``Severity.INFO < "caution"``).
    """

    INFO = "info"
    CAUTION = "caution"
    DANGER = "danger"

    @property
    def rank(self) -> int:
        """1 (info), 2 (caution) or 3 (danger)."""
        return _RANK[self.value]

    @property
    def label(self) -> str:
        """The word shown to a user: ``"Danger"``."""
        return self.value.capitalize()

    @property
    def colour(self) -> str:
        """The display colour (hex), the same in the scene, the tables and the reports."""
        return _COLOUR[self.value]

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """The severity named ``value`` (``"danger"``, ``"Danger"``, or a :class:`Severity`).

        Raises
        ------
        ValueError
            When ``value`` names no severity.
        """
        if isinstance(value, Severity):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown severity {value!r} (one of: info, caution, danger)") from None

    def __str__(self) -> str:
        return self.value

    def _cmp(self, other: object) -> int | None:
        # a plain word is compared by its rank too (never alphabetically, as str would; an unknown word raises)
        if isinstance(other, str):
            return self.rank - Severity.parse(other).rank
        return None

    def __lt__(self, other: object) -> bool:
        c = self._cmp(other)
        if c is None:
            return NotImplemented
        return c < 0

    def __le__(self, other: object) -> bool:
        c = self._cmp(other)
        if c is None:
            return NotImplemented
        return c <= 0

    def __gt__(self, other: object) -> bool:
        c = self._cmp(other)
        if c is None:
            return NotImplemented
        return c > 0

    def __ge__(self, other: object) -> bool:
        c = self._cmp(other)
        if c is None:
            return NotImplemented
        return c >= 0

    __hash__ = str.__hash__


def _r(x: Any, nd: int) -> float:
    return round(float(x), nd)


@dataclass(frozen=True)
class Finding:
    """One warning about a point or the plan (CONTRACTS ``findings[]``).

    Build it with :meth:`make`, which rounds as the JSON does (``distance_mm`` and ``closest_mm`` to
    0.01 mm); ``rule`` names the rule that made it and ``source`` the published work(s) its rule comes from
    (a key added to CONTRACTS: ``source``; the message ends with the same words, ``Source: ...``).
    """

    severity: Severity
    code: str
    message: str
    structure: str | None = None
    distance_mm: float | None = None
    closest_mm: tuple[float, ...] | None = None
    rule: str = ""
    source: str = ""

    @classmethod
    def make(cls, severity: Severity | str, code: str, message: str, structure: str | None = None,
             distance: float | None = None, closest: Iterable[float] | None = None, rule: str = "",
             source: str = "") -> Finding:
        """A finding with its numbers rounded as in the CONTRACTS JSON."""
        return cls(Severity.parse(severity), code, message, structure,
                   None if distance is None else _r(distance, 2),
                   None if closest is None else tuple(_r(x, 2) for x in closest), rule, source)

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACTS JSON object (optional keys only when set)."""
        f: dict[str, Any] = {"severity": self.severity.value, "code": self.code}
        if self.structure is not None:
            f["structure"] = self.structure
        if self.distance_mm is not None:
            f["distance_mm"] = self.distance_mm
        if self.closest_mm is not None:
            f["closest_mm"] = list(self.closest_mm)
        f["message"] = self.message
        if self.rule:
            f["rule"] = self.rule
        if self.source:
            f["source"] = self.source
        return f

    to_json = to_dict

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        """The finding of a CONTRACTS JSON object (the inverse of :meth:`to_dict`)."""
        c = d.get("closest_mm")
        return cls(Severity.parse(d["severity"]), str(d["code"]), str(d.get("message", "")), d.get("structure"),
                   None if d.get("distance_mm") is None else float(d["distance_mm"]),
                   None if c is None else tuple(float(x) for x in c), str(d.get("rule", "")),
                   str(d.get("source", "")))


def worst_of(findings: Iterable[Finding]) -> Severity | None:
    """The most severe of ``findings`` (None when there is none)."""
    return max((f.severity for f in findings), default=None)


Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class CorridorResult:
    """Where a point lies against one structure's corridor (the region around its mean course where it runs
    in ``share`` of people; injectmap/anatomy/data/spread/variability.yaml).

    ``distance_mm`` is from the needle tip to the mean course (the centreline; for a foramen, its landmark);
    ``corridor_mm`` the corridor's radius (the published spread plus the structure's own radius). The tip is
    inside when ``distance_mm <= corridor_mm``; a field is inside when its sphere reaches into the corridor.
    ``foramen`` names the foramen landmark when the corridor is a foramen's (``structure`` is then its nerve).

    Where the sources give the tissue plane(s) the structure runs in at the tip's height (``plane``, their names
    joined by " or "), the corridor's cross-section is its lateral spread times the depth band of those planes:
    ``lateral_mm`` is the tip's distance from the mean course in the plane of the skin, ``tip_depth_mm`` the
    tip's depth below the skin, ``plane_mm`` the bands ``[[shallow, deep], ...]`` (widened by the structure's
    radius), and the tip is inside when ``lateral_mm <= corridor_mm`` and its depth lies in a band.
    """

    structure: str
    kind: str
    distance_mm: float
    corridor_mm: float
    share: float
    tip_inside: bool
    likely_field_inside: bool
    possible_field_inside: bool
    foramen: str | None = None
    plane: str | None = None
    lateral_mm: float | None = None
    tip_depth_mm: float | None = None
    plane_mm: tuple[tuple[float, float], ...] = ()

    @classmethod
    def make(cls, structure: str, kind: str, distance_mm: float, corridor_mm: float, share: float,
             r_likely: float, r_possible: float, foramen: str | None = None,
             planes: tuple[str, float, float, tuple[tuple[float, float], ...]] | None = None) -> CorridorResult:
        """The corridor entry of a tip ``distance_mm`` from the mean course, with the likely and possible
        field radii (rounded as the JSON: 0.01 mm). ``planes``: ``(names, lateral_mm, tip_depth_mm, bands)``
        where the structure's tissue planes at the tip's height are known; the tip is then inside when it lies
        within the lateral spread and in a band."""
        d = float(distance_mm)
        if planes is None:
            return cls(structure, kind, _r(d, 2), _r(corridor_mm, 2), _r(share, 3), d <= corridor_mm,
                       d - r_likely <= corridor_mm, d - r_possible <= corridor_mm, foramen)
        names, lateral, depth, bands = planes
        inside = lateral <= corridor_mm and any(lo <= depth <= hi for lo, hi in bands)
        return cls(structure, kind, _r(d, 2), _r(corridor_mm, 2), _r(share, 3), inside,
                   d - r_likely <= corridor_mm, d - r_possible <= corridor_mm, foramen, names, _r(lateral, 2),
                   _r(depth, 2), tuple((_r(lo, 2), _r(hi, 2)) for lo, hi in bands))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"structure": self.structure, "kind": self.kind}
        if self.foramen is not None:
            out["foramen"] = self.foramen
        out.update({"distance_mm": self.distance_mm, "corridor_mm": self.corridor_mm, "share": self.share,
                    "tip_inside": self.tip_inside, "likely_field_inside": self.likely_field_inside,
                    "possible_field_inside": self.possible_field_inside})
        if self.plane is not None:
            out.update({"plane": self.plane, "lateral_mm": self.lateral_mm, "tip_depth_mm": self.tip_depth_mm,
                        "plane_mm": [list(b) for b in self.plane_mm]})
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CorridorResult:
        return cls(str(d["structure"]), str(d["kind"]), float(d["distance_mm"]), float(d["corridor_mm"]),
                   float(d["share"]), bool(d["tip_inside"]), bool(d["likely_field_inside"]),
                   bool(d["possible_field_inside"]), d.get("foramen"), d.get("plane"),
                   None if d.get("lateral_mm") is None else float(d["lateral_mm"]),
                   None if d.get("tip_depth_mm") is None else float(d["tip_depth_mm"]),
                   tuple((float(a), float(b)) for a, b in d.get("plane_mm", [])))


def _vec(v: Iterable[float], nd: int) -> Vec3:
    x, y, z = (_r(c, nd) for c in v)
    return (x, y, z)


@dataclass(frozen=True)
class PointResult:
    """The analysis of one point (CONTRACTS ``points[]``), numbers rounded as in the JSON."""

    id: str
    entry_mm: Vec3
    tip_mm: Vec3
    depth_mm: float
    layer: str
    tip_in: str | None
    target: str | None
    target_hit: bool
    target_reached: bool
    target_overlap: float
    units: float
    volume_ml: float
    radius_mm: float
    radius_inner_mm: float
    radius_outer_mm: float
    session: str
    findings: tuple[Finding, ...] = ()
    #: the corridors of the vessels, nerves, duct and foramina near the point (a key added to CONTRACTS)
    corridors: tuple[CorridorResult, ...] = ()

    @classmethod
    def make(cls, *, id: str, entry_mm: Iterable[float], tip_mm: Iterable[float], depth_mm: float, layer: str,
             tip_in: str | None, target: str | None, target_hit: bool, target_reached: bool, target_overlap: float,
             units: float, volume_ml: float, radius_mm: float, radius_inner_mm: float, radius_outer_mm: float,
             session: str, findings: Iterable[Finding] = (),
             corridors: Iterable[CorridorResult] = ()) -> PointResult:
        """A point result with the CONTRACTS rounding (positions and depth to 0.001 mm, radii to 0.01 mm)."""
        return cls(id, _vec(entry_mm, 3), _vec(tip_mm, 3), _r(depth_mm, 3), layer, tip_in, target, bool(target_hit),
                   bool(target_reached), _r(target_overlap, 4), float(units), _r(volume_ml, 4), _r(radius_mm, 2),
                   _r(radius_inner_mm, 2), _r(radius_outer_mm, 2), session, tuple(findings), tuple(corridors))

    @property
    def worst(self) -> Severity | None:
        """The most severe finding's severity (None: no finding)."""
        return worst_of(self.findings)

    def tip_place(self, name: Mapping[str, str] | None = None) -> str:
        """Where the tip is, in words: the structure holding it (its display name from ``name`` where given),
        else its layer. A tip in no structure is a real place, not an unknown: the medial corrugator point of the
        glabellar template, 4 mm deep, lies under the orbicularis oculi and the SMAS and above the corrugator
        (5.4-6.6 mm deep, Lee et al. 2020), its field reaching the muscle.

        >>> r = PointResult.make(id="c", entry_mm=(0, 0, 0), tip_mm=(0, 0, -4), depth_mm=4, layer="deep", tip_in=None,
        ...     target=None, target_hit=False, target_reached=False, target_overlap=0, units=4, volume_ml=0.1,
        ...     radius_mm=11, radius_inner_mm=9, radius_outer_mm=14, session="initial")
        >>> r.tip_place()
        'the deep layer under the SMAS, in no muscle'
        """
        if self.tip_in:
            return (name or {}).get(self.tip_in, self.tip_in)
        return LAYER_WORDS.get(self.layer, f"the {self.layer.replace('_', ' ')} layer")

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACTS JSON object."""
        return {
            "id": self.id, "entry_mm": list(self.entry_mm), "tip_mm": list(self.tip_mm), "depth_mm": self.depth_mm,
            "layer": self.layer, "tip_in": self.tip_in, "target": self.target, "target_hit": self.target_hit,
            "target_reached": self.target_reached, "target_overlap": self.target_overlap, "units": self.units,
            "volume_ml": self.volume_ml, "radius_mm": self.radius_mm, "radius_inner_mm": self.radius_inner_mm,
            "radius_outer_mm": self.radius_outer_mm, "session": self.session,
            "findings": [f.to_dict() for f in self.findings],
            "corridors": [c.to_dict() for c in self.corridors],
        }

    to_json = to_dict

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PointResult:
        """The point result of a CONTRACTS JSON object (the inverse of :meth:`to_dict`)."""
        return cls(str(d["id"]), _vec(d["entry_mm"], 3), _vec(d["tip_mm"], 3),
                   float(d["depth_mm"]), str(d["layer"]), d.get("tip_in"), d.get("target"), bool(d["target_hit"]),
                   bool(d["target_reached"]), float(d["target_overlap"]), float(d["units"]), float(d["volume_ml"]),
                   float(d["radius_mm"]), float(d["radius_inner_mm"]), float(d["radius_outer_mm"]),
                   str(d["session"]), tuple(Finding.from_dict(f) for f in d.get("findings", [])),
                   tuple(CorridorResult.from_dict(c) for c in d.get("corridors", [])))


class FrozenMap(dict[str, float]):
    """A read-only dict (insertion order kept): a frozen result's totals. Unlike a mapping proxy it can be
    copied and pickled (the viewer's parameters deep-copy what they hold)."""

    def _readonly(self, *_: Any, **__: Any) -> None:
        raise TypeError("a result's totals are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __copy__(self) -> FrozenMap:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenMap:
        return self


def _frozen(m: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return FrozenMap(m or {})


@dataclass(frozen=True)
class Totals:
    """Units by structure, side and session (``by_session`` is absent from the JSON of a rejected plan)."""

    units: float = 0.0
    by_structure: Mapping[str, float] = field(default_factory=_frozen)
    by_side: Mapping[str, float] = field(default_factory=_frozen)
    by_session: Mapping[str, float] | None = None

    @classmethod
    def make(cls, units: float, by_structure: Mapping[str, float], by_side: Mapping[str, float],
             by_session: Mapping[str, float] | None) -> Totals:
        return cls(float(units), _frozen(by_structure), _frozen(by_side),
                   None if by_session is None else _frozen(by_session))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"units": self.units, "by_structure": dict(self.by_structure),
                               "by_side": dict(self.by_side)}
        if self.by_session is not None:
            out["by_session"] = dict(self.by_session)
        return out

    to_json = to_dict


@dataclass(frozen=True)
class PlanResult:
    """The whole plan's analysis (the ``injectmap check`` JSON).

    ``totals`` is None only after an internal failure (its JSON is then ``{}``). A plan with ``errors``
    has no points and no findings.
    """

    plan: str
    model_name: str
    model_sha256: str
    points: tuple[PointResult, ...] = ()
    totals: Totals | None = field(default_factory=Totals)
    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()

    @classmethod
    def rejected(cls, plan: str, model_name: str, model_sha256: str, errors: Iterable[str],
                 totals: Totals | None = None) -> PlanResult:
        """The result of a plan that is not evaluated (every error listed)."""
        return cls(plan, model_name, model_sha256, (), Totals() if totals is None else totals, (), tuple(errors))

    @classmethod
    def failed(cls, plan: str, error: str) -> PlanResult:
        """The result of an internal failure (exit status 3)."""
        return cls(plan, "default", "", (), None, (), (error,))

    def all_findings(self) -> list[Finding]:
        """Every point's findings, then the plan-level ones."""
        return [f for p in self.points for f in p.findings] + list(self.findings)

    @property
    def worst(self) -> Severity | None:
        return worst_of(self.all_findings())

    @property
    def exit_status(self) -> int:
        """2 with errors, 1 when a finding is danger, else 0 (CONTRACTS)."""
        if self.errors:
            return 2
        return 1 if self.worst is Severity.DANGER else 0

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACTS JSON object of ``injectmap check``."""
        return {
            "plan": self.plan, "model": {"name": self.model_name, "sha256": self.model_sha256},
            "points": [p.to_dict() for p in self.points],
            "totals": {} if self.totals is None else self.totals.to_dict(),
            "findings": [f.to_dict() for f in self.findings], "errors": list(self.errors),
        }

    to_json = to_dict

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlanResult:
        """The result of a CONTRACTS JSON object (the inverse of :meth:`to_dict`)."""
        t = d.get("totals") or None
        totals = None if t is None else Totals.make(t["units"], t["by_structure"], t["by_side"], t.get("by_session"))
        m = d.get("model", {})
        return cls(str(d.get("plan", "")), str(m.get("name", "")), str(m.get("sha256", "")),
                   tuple(PointResult.from_dict(p) for p in d.get("points", [])), totals,
                   tuple(Finding.from_dict(f) for f in d.get("findings", [])), tuple(d.get("errors", [])))
