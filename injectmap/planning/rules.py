"""The named safety rules: each a unit with its name, its source (``injectmap/planning/data/rules.yaml``) and
its own tests (``tests/planning/test_rules.py``).

A point rule takes a :class:`PointContext` (the placed point, what contains its tip, the structures
within reach and their distances, the radii of effect) and returns findings; a plan rule takes a
:class:`PlanContext` (the plan, the per-point results and the dose per muscle group, side and
session). Rules only read the analysis; they never measure geometry themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from injectmap.anatomy.ids import base_of
from injectmap.anatomy.variability import load_variability
from injectmap.planning.datafiles import load_data
from injectmap.planning.doses import dose_range, max_total, range_words
from injectmap.planning.plan import DEFAULT_SESSION
from injectmap.planning.results import CorridorResult, Finding, PointResult, Severity
from injectmap.planning.sessions import is_touch_up

DANGER, CAUTION, INFO = Severity.DANGER, Severity.CAUTION, Severity.INFO


# -- rules.yaml -------------------------------------------------------------------------------------
class Section(BaseModel):
    """One entry of rules.yaml: a source (where each threshold comes from, project choices included), the
    citation its findings name (``cite``; ``cites`` for one code or one structure of the rule), and the thresholds
    its subclass declares (all required)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=20)
    cite: str = Field(min_length=15)
    cites: dict[str, str] = Field(default_factory=dict)

    def cite_for(self, code: str, structure: str | None = None) -> str:
        """The citation a finding names: its code's, else its structure's (base id), else the rule's."""
        return self.cites.get(code) or (self.cites.get(base_of(structure)) if structure else None) or self.cite


class AnalysisLimits(Section):
    """Not a rule (no finding): no citation."""

    cite: str = ""
    max_entry_from_skin_mm: PositiveFloat
    neighbour_margin_mm: PositiveFloat


class CorridorRule(Section):
    """Each corridor's radius and share are in anatomy/data/spread/variability.yaml; here, the facial motor branches
    whose corridor is context (info), not a caution."""

    motor_nerves: tuple[str, ...]


class SphereSpared(Section):
    likely_units: PositiveFloat
    major: tuple[str, ...] = Field(min_length=1)


class OrbitalSeptum(Section):
    septum_mm: PositiveFloat


class MinDistance(Section):
    min_mm: PositiveFloat


class LateralOrbitMargin(MinDistance):
    rim_from_canthus_mm: PositiveFloat
    region_medial_of_exocanthion_mm: PositiveFloat
    region_vertical_mm: PositiveFloat


class RimMargin(MinDistance):
    region_half_width_mm: PositiveFloat


class MasseterSafeZone(Section):
    behind_anterior_border_mm: PositiveFloat
    border_slab_mm: PositiveFloat
    below_gonion_mm: PositiveFloat


class DaoPosition(Section):
    medial_tolerance_mm: PositiveFloat
    min_below_cheilion_mm: PositiveFloat


class MentalisPosition(Section):
    max_lateral_mm: PositiveFloat
    min_below_sublabiale_mm: PositiveFloat


class PlatysmaDepth(Section):
    max_depth_mm: PositiveFloat


class Imbalance(Section):
    ratio: float = Field(gt=0.0, lt=1.0)
    gross_factor: float = Field(gt=1.0)


class DoseRangeRule(Section):
    danger_factor: float = Field(gt=1.0)


class RulesFile(BaseModel):
    """The whole of ``injectmap/planning/data/rules.yaml``: every rule's thresholds and source.

    Checked when read: a missing threshold or section, an unknown (misspelt) key or a non-positive
    distance is a :class:`RulesFileError` at load time.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    analysis: AnalysisLimits
    tip_in_structure: Section
    corridor: CorridorRule
    orbital_septum: OrbitalSeptum
    sphere_spared: SphereSpared
    frontalis_above_brow: MinDistance
    lateral_orbit_margin: LateralOrbitMargin
    rim_margin: RimMargin
    masseter_safe_zone: MasseterSafeZone
    dao_position: DaoPosition
    mentalis_position: MentalisPosition
    platysma_depth: PlatysmaDepth
    imbalance: Imbalance
    target: Section
    dose_range: DoseRangeRule
    total_dose: Section

    @classmethod
    def rule_names(cls) -> set[str]:
        """The sections that belong to a named rule (not ``version`` nor ``analysis``)."""
        return set(cls.model_fields) - {"version", "analysis"}

    def section(self, name: str) -> Section:
        """The section of rule ``name``."""
        if name not in self.rule_names():
            raise KeyError(name)
        return getattr(self, name)


class RulesFileError(ValueError):
    """rules.yaml does not match :class:`RulesFile` (the message lists every problem)."""


def parse_rules(data: Any, source: str = "rules.yaml") -> RulesFile:
    """Check parsed rules.yaml content against :class:`RulesFile`.

    Raises
    ------
    RulesFileError
        On a missing or unknown key or a bad value, naming each.
    """
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RulesFileError(f"{source}: {problems}") from None


@lru_cache(maxsize=1)
def thresholds() -> RulesFile:
    """Every rule's thresholds and source, read and checked once."""
    return parse_rules(load_data("rules.yaml"), "injectmap/planning/data/rules.yaml")


@dataclass
class PointContext:
    """What a point rule may read about one analysed point."""

    model: Any
    plan: Any
    point: Any
    entry: np.ndarray
    tip: np.ndarray
    depth_mm: float
    inside: list[str]
    near: dict[str, Any]
    r_nom: float
    r_in: float
    r_out: float
    corridors: list[CorridorResult] = field(default_factory=list)
    #: the share of the likely and of the possible field inside a structure, where already measured for many
    #: points at once (planning.analysis.analyse_points); measured by the rule otherwise
    fractions: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: the structures near the tip with their exact distances from the tip (``near`` lengthens a distance across a
    #: fascial plane by what the plane takes from the field: a field's distance, not the tip's); empty: as ``near``
    tip_near: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str | None:
        return self.point.target

    @property
    def target_base(self) -> str:
        return base_of(self.point.target) if self.point.target else ""

    @property
    def side(self) -> str:
        return "left" if self.entry[0] >= 0 else "right"

    def lm(self, name: str) -> np.ndarray:
        return np.asarray(self.model.landmarks[name], dtype=float)

    def distance(self, sid: str, default: float | None = 0.0) -> float | None:
        return self.near[sid].distance_mm if sid in self.near else default

    def closest(self, sid: str, default: np.ndarray | None = None) -> np.ndarray | None:
        return self.near[sid].closest_mm if sid in self.near else default


@dataclass
class PlanContext:
    """What a plan rule may read: the plan, its point results, and ona-equivalent units by
    (dose group, side, session); and where a plan rule puts a finding on a point (``point_findings``)."""

    model: Any
    plan: Any
    points: list[PointResult]
    group_side: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: each targeted point's (dose group, side, session) key in ``group_side``, its ona-equivalent units and target
    point_doses: dict[str, tuple[tuple[str, str, str], float, str]] = field(default_factory=dict)
    #: findings a plan rule puts on a point, by point id: the point whose dose makes its muscle's overdose shows it
    point_findings: dict[str, list[Finding]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    scope: str  # "point" or "plan"
    fn: Callable[[Any], list[Finding]]

    @property
    def source(self) -> str:
        return thresholds().section(self.name).source

    def __call__(self, ctx: Any) -> list[Finding]:
        return self.fn(ctx)


RULES: dict[str, Rule] = {}


def _rule(name: str, scope: str = "point"):
    def deco(fn: Callable[[Any], list[Finding]]) -> Callable[[Any], list[Finding]]:
        if name not in RulesFile.rule_names():
            raise KeyError(f"rule {name!r} has no entry (thresholds and source) in injectmap/planning/data/rules.yaml")
        RULES[name] = Rule(name, scope, fn)
        return fn

    return deco


def point_rules() -> list[Rule]:
    return [r for r in RULES.values() if r.scope == "point"]


def plan_rules() -> list[Rule]:
    return [r for r in RULES.values() if r.scope == "plan"]


def finding(severity: Severity, code: str, message: str, structure: str | None = None,
            distance: float | None = None, closest: np.ndarray | None = None, rule: str = "",
            source: str | None = None) -> Finding:
    """One finding in the CONTRACTS shape, plus the name of the rule that made it and its source: ``source`` where
    the caller knows it (a corridor's spread, a muscle's dose range), else the rule's citation in rules.yaml
    (:meth:`Section.cite_for`). The message ends with ``Source: ...`` (once: a corridor's message has it already)."""
    src = source if source is not None else (thresholds().section(rule).cite_for(code, structure) if rule else "")
    if src and "Source:" not in message:
        message = f"{sentence(message)} Source: {sentence(src)}"
    return Finding.make(severity, code, message, structure, distance, closest, rule, src)


def brow_height_mm(model: Any, entry: np.ndarray) -> float:
    """Height of a forehead entry above the brow line (head, peak and tail) at the same x."""
    s = "left" if entry[0] >= 0 else "right"
    xs, ys = [], []
    for n in ("brow_medial", "brow_peak", "brow_lateral"):
        p = np.asarray(model.landmarks[f"{n}_{s}"], dtype=float)
        xs.append(abs(p[0]))
        ys.append(p[1])
    order = np.argsort(xs)
    y_brow = np.interp(abs(entry[0]), np.asarray(xs)[order], np.asarray(ys)[order])
    return float(entry[1] - y_brow)


def is_orbital(structure: Any) -> bool:
    """Behind the orbital septum: the orbit's contents or levator palpebrae (its ``layer`` is ``orbit``)."""
    return bool(structure.layer == "orbit")


def is_orbit(structure: Any) -> bool:
    """The orbital contents themselves (the ``orbit`` layer structure, not a muscle in it)."""
    return bool(structure.layer == "orbit" and structure.kind == "layer")


def is_the_target(c: PointContext, sid: str, structure: Any) -> bool:
    """``sid`` is the point's target and a muscle outside the orbit: the only structure a rule may pass
    over because the point aims at it. An artery, nerve, duct, gland, layer or orbital structure is never
    passed over, whatever the target says (the plan file refuses such targets as well)."""
    return sid == c.target and structure.kind == "muscle" and not is_orbital(structure)


# -- point rules ------------------------------------------------------------------------------------
@_rule("tip_in_structure")
def tip_in_structure(c: PointContext) -> list[Finding]:
    """The needle tip inside a vessel, nerve, the duct, the orbit, the gland or a muscle to spare.

    Inside the orbit: danger (toxin behind the septum: ptosis, diplopia). On the mean course of a vessel,
    nerve or the duct: caution, because for a toxin point the consequence is a bruise, a transient
    neuropraxia or a duct injury, and the course itself varies between people (docs/severity.md)."""
    out = []
    for s in c.inside:
        st = c.model.structures[s]
        if is_the_target(c, s, st):
            continue
        args = (s, c.distance(s), c.closest(s, c.tip), "tip_in_structure")
        if st.kind in ("artery", "nerve", "duct"):
            what = {"artery": "an intravascular injection and a haematoma", "nerve": "needle trauma to the nerve",
                    "duct": "injury to the parotid duct"}[st.kind]
            out.append(finding(CAUTION, f"tip_in_{st.kind}",
                               f"The needle tip lies on the mean course of {st.name} (where it runs in the average "
                               f"person): risk of {what}. {st.weakened}", *args))
        elif is_orbital(st):
            out.append(finding(DANGER, "tip_in_orbit",
                               f"The needle tip lies behind the orbital septum in {st.name}: {st.weakened}", *args))
        elif st.kind == "gland":
            out.append(finding(CAUTION, "tip_in_gland",
                               f"The needle tip lies in {st.name}, not in a muscle: {st.weakened}", *args))
        elif st.kind == "muscle" and st.spare and c.target is not None:
            out.append(finding(CAUTION, "tip_in_spared_muscle",
                               f"The needle tip lies in {st.name} instead of the target: {st.weakened}", *args))
    return out


@_rule("corridor")
def corridor(c: PointContext) -> list[Finding]:
    """The needle tip inside the corridor of a vessel, nerve, the duct or a foramen: the region around its
    mean course where it runs in most people (anatomy/data/spread/variability.yaml). Caution: a bruise or a
    transient neuropraxia is plausible; a facial motor branch's corridor is context (info). One finding per
    point and severity, for the corridor the tip lies deepest in; it names the others (a neurovascular bundle
    is one hazard, not two). A tip on a mean course itself is ``tip_in_structure``'s."""
    motor_nerves = thresholds().corridor.motor_nerves
    groups: dict[Severity, list[CorridorResult]] = {CAUTION: [], INFO: []}
    for cr in c.corridors:  # nearest to the corridor's axis (relative to its radius) first
        if not cr.tip_inside or (cr.foramen is None and cr.structure in c.inside):
            continue
        groups[INFO if cr.foramen is None and base_of(cr.structure) in motor_nerves else CAUTION].append(cr)
    out = []
    for sev, crs in groups.items():
        if crs:
            out.append(_corridor_finding(c, sev, crs[0], crs[1:]))
    return out


def _corridor_finding(c: PointContext, sev: Severity, cr: CorridorResult, others: list[CorridorResult]) -> Finding:
    st = c.model.structures[cr.structure]
    also = ""
    if others:
        names = sorted({(f"the {o.foramen.replace('_', ' ')}" if o.foramen else c.model.structures[o.structure].name)
                        for o in others})
        also = f" It is also inside the corridor of {', '.join(names)}."
    if sev is INFO:
        tail = ("needle injury to a facial motor branch is not reported with toxin needles; what matters here is "
                "the muscles it supplies.")
    else:
        tail = sentence(str(st.weakened))
    src = _corridor_source(cr)
    if cr.foramen is not None:
        where = cr.foramen.replace("_", " ").removesuffix(" left").removesuffix(" right")
        return finding(sev, "tip_in_foramen_corridor",
                       f"The needle tip is {cr.distance_mm:.1f} mm from the {where}, where {st.name} leaves the bone: "
                       f"inside the {cr.corridor_mm:.1f} mm within which the foramen lies in about {cr.share:.0%} of "
                       f"people (needle trauma to the nerve): {tail}{also} Source: {sentence(src)}", cr.structure,
                       cr.distance_mm - cr.corridor_mm, c.lm(cr.foramen), "corridor", src)
    plane = ""
    if cr.plane is not None:
        bands = " or ".join(f"{lo:.1f}-{hi:.1f} mm" for lo, hi in cr.plane_mm)
        plane = (f", {cr.lateral_mm:.1f} mm from it across the face and {cr.tip_depth_mm:.1f} mm deep, in the plane "
                 f"it runs in here ({cr.plane}: {bands} below the skin)")
    return finding(sev, f"tip_in_{cr.kind}_corridor",
                   f"The needle tip is {cr.distance_mm:.1f} mm from the mean course of {st.name}{plane}: inside its "
                   f"corridor ({cr.corridor_mm:.1f} mm, where it runs in about {cr.share:.0%} of people): {tail}{also} "
                   f"Source: {sentence(src)}", cr.structure, cr.distance_mm - cr.corridor_mm,
                   c.closest(cr.structure), "corridor", src)


def sentence(text: str) -> str:
    """``text`` closed by a full stop where it ends without one: the data's texts (a structure's ``weakened``, a
    source) are clauses, and a message that goes on after one needs the stop ("a bruising risk. It is also ...").

    >>> sentence("mainly a bruising risk"), sentence("a landmark."), sentence("")
    ('mainly a bruising risk.', 'a landmark.', '')
    """
    t = text.rstrip()
    return t if not t or t[-1] in ".!?" else t + "."


def _corridor_source(cr: CorridorResult) -> str:
    """The source of a corridor's spread (and of its planes), from anatomy/data/spread/variability.yaml."""
    var = load_variability()
    if cr.foramen is not None:
        return var.foramina[base_of(cr.foramen)].source
    cor = var.corridor_of(cr.structure)
    if cor is None:
        return "anatomy/data/spread/variability.yaml"
    planes = [p.source for p in cor.planes if cr.plane is not None and p.name in cr.plane.split(" or ")]
    return join_sources(cor.source, *planes)


#: a citation's id: a DOI (which may hold balanced brackets, ``10.1016/S0140-6736(20)30183-5``, and ends before the
#: bracket that closes the citation, ``(doi 10.1/x)``), a PMC or a PubMed id
_CITATION_ID = re.compile(r"\b(?:doi\s+(10\.(?:[^\s()]|\([^\s()]*\))+)|(PMC\d+)|PubMed\s+(\d+))", re.IGNORECASE)
_NOTE_TAG = re.compile(r"\s*\(VAR [^)]*\)\s*$")


def _citations(source: str) -> list[str]:
    """A source text cut into its citations at the ``"; "`` outside brackets."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(source):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and source.startswith("; ", i):
            out.append(source[start:i])
            start = i + 2
    out.append(source[start:])
    return [c.strip() for c in out if c.strip()]


def _citation_key(citation: str) -> str:
    """What makes two citations the same work: its DOI (whole, brackets included), PMC or PubMed id, else its text
    without the project's note tag (``(VAR 7)``).

    >>> _citation_key("Huang C et al. 2020 (doi 10.1016/S0140-6736(20)30183-5) (VAR 7)")
    '10.1016/s0140-6736(20)30183-5'
    """
    m = _CITATION_ID.search(citation)
    if m:
        return next(g for g in m.groups() if g).lower()
    return _NOTE_TAG.sub("", citation).casefold()


def join_sources(*sources: str) -> str:
    """The sources of one finding joined with ``"; "``, each work cited once: the corridor's spread and the
    planes at the tip may cite the same paper (the frontal branch's galea plane and its perforator's plane both
    cite Jo et al. 2012), in words that differ (a volume, the project's note tag).

    >>> join_sources("A et al. 2012 (doi 10.1/x); B 2020", "A et al. 2012;23(6) (doi 10.1/x) (VAR 7)", "B 2020")
    'A et al. 2012 (doi 10.1/x); B 2020'
    """
    seen: set[str] = set()
    out = []
    for src in sources:
        for c in _citations(src):
            key = _citation_key(c)
            if key not in seen:
                seen.add(key)
                out.append(c)
    return "; ".join(out)


def _spared_severity(major: bool, likely: bool, plausible: bool) -> Severity:
    """Consequence x likelihood (docs/severity.md): a major effect (ptosis, diplopia, a lopsided smile or
    lip) that is likely is a danger, plausible a caution; a minor one likely a caution; anything less, info."""
    if likely:
        return DANGER if major else CAUTION
    return CAUTION if major and plausible else INFO


@_rule("sphere_spared")
def sphere_spared(c: PointContext) -> list[Finding]:
    """The field of effect reaching a structure to spare, graded by consequence and likelihood.

    The dose a field puts into a structure is the share of the field's volume inside it times the point's
    (onabotulinumtoxinA-equivalent) dose. Likely: the likely (nominal) field puts at least ``likely_units``
    into it. Plausible: the possible (outer) field does. Less than that: the field only touches it (info).
    Major consequence: the structures listed in rules.yaml ``sphere_spared.major`` and the orbit."""
    t = thresholds().sphere_spared
    units = float(c.plan.ona_units_of(c.point))
    out = []
    for s, nb in c.near.items():
        st = c.model.structures[s]
        if is_the_target(c, s, st) or s in c.inside or not st.spare or st.kind not in ("muscle", "layer", "gland"):
            continue
        d_nom, d_out = nb.distance_mm - c.r_nom, nb.distance_mm - c.r_out
        if d_out >= 0:
            continue
        major = base_of(s) in t.major or is_orbit(st)
        frac, frac_out = _field_fractions(c, s, d_nom < 0)
        dose, dose_out = frac * units, frac_out * units
        sev = _spared_severity(major, dose >= t.likely_units, dose_out >= t.likely_units)
        if d_nom < 0:
            out.append(finding(sev, "sphere_near_structure",
                               f"The likely field of effect ({c.r_nom:.0f} mm) reaches {st.name} ({_share_words(frac)} "
                               f"of the field, {_units_words(dose)}; the possible field {_units_words(dose_out)}): "
                               f"{st.weakened}",
                               s, d_nom, nb.closest_mm, "sphere_spared"))
        else:
            out.append(finding(sev, "sphere_may_reach_structure",
                               f"The outer, possible field of effect ({c.r_out:.0f} mm) may reach {st.name} "
                               f"({_units_words(dose_out)}): {st.weakened}", s, d_out, nb.closest_mm, "sphere_spared"))
    return out


def _field_fractions(c: PointContext, sid: str, likely_too: bool) -> tuple[float, float]:
    """The share of the likely field (0 unless ``likely_too``) and of the possible field inside ``sid``: the
    index's sphere fractions, both fields' samples measured in one call when both are needed."""
    known = c.fractions.get(sid)
    if known is not None and not (likely_too and np.isnan(known[0])):
        return (known[0] if likely_too else 0.0), known[1]
    idx = c.model.index
    if not likely_too:
        return 0.0, float(idx.sphere_fractions(c.tip, c.r_out, [sid])[sid])
    tip = np.asarray(c.tip, dtype=float)
    n = len(idx.ball)
    inside = idx.field_at(sid, np.concatenate([tip + idx.ball * c.r_nom, tip + idx.ball * c.r_out])) < 0
    return float(np.mean(inside[:n])), float(np.mean(inside[n:]))


@_rule("orbital_septum")
def orbital_septum(c: PointContext) -> list[Finding]:
    """The needle tip within a few millimetres of the orbital contents: at the septum."""
    lim = thresholds().orbital_septum.septum_mm
    out = []
    for s, nb in c.near.items():
        st = c.model.structures[s]
        if is_orbital(st) and s not in c.inside and nb.distance_mm < lim:
            out.append(finding(DANGER, "tip_at_septum",
                               f"The needle tip is {nb.distance_mm:.1f} mm from {st.name}, at the orbital septum: "
                               f"{st.weakened}", s, nb.distance_mm, nb.closest_mm, "orbital_septum"))
    return out


@_rule("frontalis_above_brow")
def frontalis_above_brow(c: PointContext) -> list[Finding]:
    """Frontalis points well above the brow (brow ptosis below that)."""
    fr = f"frontalis_{c.side}"
    in_frontalis = fr in c.near and c.near[fr].distance_mm < c.r_nom
    if not (c.target_base == "frontalis"
            or (not c.target and in_frontalis and c.entry[1] > c.lm(f"brow_peak_{c.side}")[1])):
        return []
    h = brow_height_mm(c.model, c.entry)
    lim = thresholds().frontalis_above_brow.min_mm
    if h >= lim:
        return []
    return [finding(CAUTION, "frontalis_low", f"This frontalis point is {h:.0f} mm above the brow (keep at least "
                    f"{lim:.0f} mm): weakening the lowest frontalis fibres drops the brow (brow ptosis) and makes "
                    "it feel heavy.", fr, h - lim, None, "frontalis_above_brow")]


def _side_words(mm: float, positive: str, negative: str, level: str) -> str:
    """A signed distance in words: ``"4 mm above"``, ``"2 mm below"``, ``"level with"`` (never "-1 mm
    above" nor "0 mm above")."""
    if abs(mm) < 0.5:
        return level
    return f"{abs(mm):.0f} mm {positive if mm > 0 else negative}"


def _mm(mm: float) -> str:
    """A distance as the Findings table shows it: one decimal of the JSON's 0.01 mm (``"10.2"``)."""
    return f"{abs(round(float(mm), 2)):.1f}"


def _level_words(mm: float, positive: str, negative: str) -> str:
    """A signed height in words to one decimal: ``"6.3 mm below"``, ``"1.5 mm above"``, ``"level with"``."""
    if abs(mm) < 0.05:
        return "level with"
    return f"{_mm(mm)} mm {positive if mm > 0 else negative}"


def _share_words(frac: float) -> str:
    """A share of the field in words: ``"12%"``, ``"less than 1%"`` (never "0%" of a field that reaches it)."""
    return f"{frac:.0%}" if frac >= 0.005 else "less than 1%"


def _units_words(units: float) -> str:
    """A dose in words: ``"about 1.2 U"``, ``"under 0.1 U"`` (never "about 0.0 U")."""
    return f"about {units:.1f} U" if units >= 0.05 else "under 0.1 U"


@_rule("lateral_orbit_margin")
def lateral_orbit_margin(c: PointContext) -> list[Finding]:
    """Lateral canthal points kept off the lateral orbital rim: about 1 cm or more from the lateral canthus."""
    t = thresholds().lateral_orbit_margin
    ex = c.lm(f"exocanthion_{c.side}")
    if not (abs(c.entry[0]) > abs(ex[0]) - t.region_medial_of_exocanthion_mm
            and abs(c.entry[1] - ex[1]) < t.region_vertical_mm):
        return []
    # straight-line distance from the lateral canthus, the landmark the sources measure from (around the
    # curve of the temple it is within a millimetre of the distance along the skin at these ranges)
    from_canthus = float(np.linalg.norm(c.entry - ex))
    lim = t.min_mm
    if from_canthus >= lim:
        return []
    rim_gap = from_canthus - t.rim_from_canthus_mm
    where = (f"about {rim_gap:.0f} mm outside the lateral orbital rim" if rim_gap >= 0.5
             else "at or inside the lateral orbital rim")
    return [finding(CAUTION, "lateral_orbit_margin", f"This point is {from_canthus:.0f} mm from the lateral canthus "
                    f"({where}); crow's feet points sit at least {lim:.0f} mm from the canthus, off the rim: toxin "
                    "can spread into the orbit (lateral rectus: double vision) or the lower lid (lid laxity, festoons).",
                    f"orbit_{c.side}", from_canthus - lim, ex, "lateral_orbit_margin")]


@_rule("rim_margin")
def rim_margin(c: PointContext) -> list[Finding]:
    """Glabellar and lateral corrugator points at least 1 cm above the supraorbital rim."""
    t = thresholds().rim_margin
    rim = c.lm(f"orbital_rim_superior_{c.side}")
    concerned = c.target_base in ("corrugator_supercilii", "procerus") or (
        not c.target and abs(c.entry[0]) < abs(rim[0]) + t.region_half_width_mm)
    if not concerned or abs(c.entry[0]) <= abs(rim[0]) - t.region_half_width_mm:
        return []
    above = c.entry[1] - rim[1]
    lim = t.min_mm
    if above >= lim:
        return []
    return [finding(CAUTION, "rim_margin", f"This point is {_side_words(above, 'above', 'below', 'level with')} "
                    "the supraorbital rim at the "
                    f"mid-pupillary line (keep at least {lim:.0f} mm): toxin can pass the septum to levator palpebrae "
                    "superioris and drop the lid (ptosis).", f"levator_palpebrae_superioris_{c.side}", above - lim,
                    rim, "rim_margin")]


@_rule("masseter_safe_zone")
def masseter_safe_zone(c: PointContext) -> list[Finding]:
    """Masseter points below the tragus-mouth corner line, 1 cm behind the anterior border, above the
    mandibular border, and deep enough to pass risorius."""
    if c.target_base not in ("masseter_superficial", "masseter_deep"):
        return []
    t = thresholds().masseter_safe_zone
    s, e, out = c.side, c.entry, []
    tr, ch, go = c.lm(f"tragion_{s}"), c.lm(f"cheilion_{s}"), c.lm(f"gonion_{s}")
    y_line = tr[1] + (e[2] - tr[2]) / (ch[2] - tr[2]) * (ch[1] - tr[1])
    if e[1] > y_line:
        out.append(finding(CAUTION, "masseter_above_safe_zone", f"This masseter point is {_mm(e[1] - y_line)} mm "
                           "above the line from the tragus to the mouth corner: the parotid gland and duct, the "
                           "transverse facial artery and the zygomatic and buccal nerve branches lie there.",
                           f"parotid_duct_{s}", y_line - e[1], None, "masseter_safe_zone"))
    border = masseter_anterior_border(c.model, s, float(e[1]), t.border_slab_mm)
    lim = t.behind_anterior_border_mm
    if border is not None and border[2] - e[2] < lim:
        behind = float(border[2] - e[2])
        where = _side_words(behind, "behind", "in front of", "at")
        out.append(finding(CAUTION, "masseter_anterior_border", f"This point is {where} the anterior border of the "
                           f"masseter, {_mm(lim - behind)} mm short of the {lim:.0f} mm a masseter point keeps behind "
                           "it: the facial artery and vein, risorius and the buccal fat lie there (bruise, a narrow or "
                           "lopsided smile).",
                           f"masseter_superficial_{s}", behind - lim, border, "masseter_safe_zone"))
    if e[1] < go[1] - t.below_gonion_mm:
        out.append(finding(CAUTION, "masseter_below_border", f"This point is {_mm(go[1] - e[1])} mm below the angle "
                           "of the mandible (the gonion), below the mandibular border: there is no masseter there, only "
                           "the platysma, the marginal mandibular nerve and the submandibular gland.",
                           f"facial_nerve_marginal_mandibular_branch_{s}", float(e[1] - go[1]), None,
                           "masseter_safe_zone"))
    ms = f"masseter_superficial_{s}"
    tip_near = c.tip_near or c.near  # the tip's own distance, not the field's across the masseteric fascia
    if ms in tip_near and tip_near[ms].distance_mm > 0:
        nb = tip_near[ms]
        tip_depth = c.model.depth_below_skin(c.tip[None])[0][0]
        muscle_depth = c.model.depth_below_skin(nb.closest_mm[None])[0][0]
        if tip_depth < muscle_depth:
            out.append(finding(CAUTION, "masseter_too_shallow", f"The tip is {_mm(nb.distance_mm)} mm "
                               "superficial to the masseter (short of the muscle): a shallow injection reaches risorius "
                               "(a narrow, lopsided smile); go deep, near the bone.",
                               f"risorius_{s}", nb.distance_mm, nb.closest_mm, "masseter_safe_zone"))
    return out


def masseter_anterior_border(model: Any, side: str, y: float, slab_mm: float) -> np.ndarray | None:
    """The most anterior point of the superficial masseter within ``slab_mm`` of height ``y`` (the muscle's
    own anterior border at that height); None when the muscle does not reach that height."""
    mesh = model.structures[f"masseter_superficial_{side}"].mesh
    pts = np.asarray(mesh.points, dtype=float)
    band = pts[np.abs(pts[:, 1] - y) <= slab_mm]
    if len(band) == 0:
        return None
    return np.asarray(band[np.argmax(band[:, 2])], dtype=float)


@_rule("dao_position")
def dao_position(c: PointContext) -> list[Finding]:
    """DAO points low and lateral: not medial to the mouth corner, not close to it."""
    if c.target_base != "depressor_anguli_oris":
        return []
    t = thresholds().dao_position
    ch, out = c.lm(f"cheilion_{c.side}"), []
    if abs(c.entry[0]) < abs(ch[0]) - t.medial_tolerance_mm:
        out.append(finding(CAUTION, "dao_too_medial", f"This DAO point is {_mm(abs(ch[0]) - abs(c.entry[0]))} mm "
                           "medial to the mouth corner's vertical (more than the "
                           f"{t.medial_tolerance_mm:g} mm a marked point may stray): it reaches depressor labii "
                           "inferioris (an uneven lower lip and smile).",
                           f"depressor_labii_inferioris_{c.side}", float(abs(c.entry[0]) - abs(ch[0])), None,
                           "dao_position"))
    if c.entry[1] > ch[1] - t.min_below_cheilion_mm:
        out.append(finding(CAUTION, "dao_too_high", f"This DAO point is {_level_words(c.entry[1] - ch[1], 'above', 'below')}"
                           f" the mouth corner (keep at least {t.min_below_cheilion_mm:g} mm below it): keep low, near "
                           "the mandible, away from the orbicularis oris and the lip.", f"depressor_anguli_oris_{c.side}",
                           float(c.entry[1] - ch[1]), None, "dao_position"))
    return out


@_rule("mentalis_position")
def mentalis_position(c: PointContext) -> list[Finding]:
    """Mentalis points low on the chin and near the midline."""
    if c.target_base != "mentalis":
        return []
    t = thresholds().mentalis_position
    sl, out = c.lm("sublabiale"), []
    if c.entry[1] > sl[1] - t.min_below_sublabiale_mm:
        out.append(finding(CAUTION, "mentalis_too_high", "This mentalis point is high on the chin, "
                           f"{_level_words(c.entry[1] - sl[1], 'above', 'below')} the labiomental fold (the sublabiale; "
                           f"keep at least {t.min_below_sublabiale_mm:g} mm below it): toxin spreads to the lower lip "
                           "(orbicularis oris, depressor labii): lip incompetence, drooling.",
                           "orbicularis_oris", float(c.entry[1] - sl[1]), None, "mentalis_position"))
    lim = t.max_lateral_mm
    if abs(c.entry[0]) > lim:
        out.append(finding(CAUTION, "mentalis_too_lateral", f"This mentalis point is {_mm(abs(c.entry[0]))} mm from "
                           f"the midline (at most {lim:g} mm): it reaches depressor labii inferioris and the mental "
                           "nerve region.",
                           f"depressor_labii_inferioris_{c.side}", float(abs(c.entry[0])), None, "mentalis_position"))
    return out


@_rule("platysma_depth")
def platysma_depth(c: PointContext) -> list[Finding]:
    """Platysma points superficial."""
    lim = thresholds().platysma_depth.max_depth_mm
    if c.target_base != "platysma" or c.depth_mm <= lim:
        return []
    return [finding(DANGER, "platysma_too_deep", f"This platysma point is {c.depth_mm:g} mm deep, "
                    f"{_mm(c.depth_mm - lim)} mm beyond the {lim:g} mm limit: platysma is superficial; deeper toxin "
                    "reaches the neck muscles (dysphagia, neck weakness).", c.target,
                    float(c.depth_mm - lim), None, "platysma_depth")]


@_rule("target")
def target_reached(c: PointContext) -> list[Finding]:
    """The intended target within the likely field of effect."""
    if c.target is None or c.target in c.inside:
        return []
    nb = c.near.get(c.target)
    if nb is not None and nb.distance_mm < c.r_nom:
        return []
    return [finding(CAUTION, "target_not_reached", f"The field of effect ({c.r_nom:.0f} mm) does not reach the "
                    f"intended target {c.model.structures[c.target].name}: check the position and depth.", c.target,
                    nb.distance_mm - c.r_nom if nb else None, nb.closest_mm if nb else None, "target")]


# -- plan rules -------------------------------------------------------------------------------------
@_rule("dose_range", scope="plan")
def dose_range_rule(c: PlanContext) -> list[Finding]:
    """Dose per muscle group, side and session against the typical range. Above it, the points whose doses take
    the group over (:func:`dose_makers`) carry the finding too (``point_dose_above_range``, the same severity), so
    that a point's worst says what its dose does."""
    factor = thresholds().dose_range.danger_factor
    out = []
    for (g, sd, ses), u in sorted(c.group_side.items()):
        rng = dose_range(g)
        if rng is None:
            continue
        where = g.replace("_", " ") + ("" if sd == "midline" else f" ({sd})")
        sid = g if sd == "midline" else f"{g}_{sd}"
        usual = f"{range_words(rng.typical_low_units, rng.typical_high_units)}, at most {rng.high_units:g} U"
        if u > rng.high_units:
            danger = u > factor * rng.high_units
            sev = DANGER if danger else CAUTION
            why = (f"above the usual range ({usual}){f', more than {_times(factor)} its maximum' if danger else ''}: "
                   f"too much weakens it more than intended{_overdose_words(c.model, rng.structures, sd)}.")
            out.append(finding(sev, "dose_above_range", f"{u:g} U into {where} in session '{ses}' is {why}", sid,
                               rule="dose_range", source=rng.source))
            limit = factor * rng.high_units if danger else rng.high_units
            doses = [(pid, pu) for pid, (key, pu, _) in c.point_doses.items() if key == (g, sd, ses)]
            makers = dose_makers(doses, u, limit)
            for pid in makers:
                pu = dict(doses)[pid]
                others = [m for m in makers if m != pid]
                left = u - sum(dict(doses)[m] for m in makers)
                part = (f"This point's {pu:g} U, with {_and(others)}'s, makes the {u:g} U into {where} in session "
                        f"'{ses}' ({left:g} U without them)" if others else
                        f"This point's {pu:g} U is part of the {u:g} U into {where} in session '{ses}' ({left:g} U "
                        "without it)")
                c.point_findings.setdefault(pid, []).append(
                    finding(sev, "point_dose_above_range", f"{part}: {why}", c.point_doses[pid][2], rule="dose_range",
                            source=rng.source))
        elif u < rng.low_units:
            out.append(finding(INFO, "dose_below_range", f"{u:g} U into {where} is below the usual range "
                               f"({range_words(rng.typical_low_units, rng.typical_high_units)}): the effect may be weak or "
                               "short.", sid, rule="dose_range", source=rng.source))
    return out


def dose_makers(doses: list[tuple[str, float]], total: float, limit: float) -> list[str]:
    """The points whose doses take ``total`` over ``limit``: the largest doses, until what the others give is at
    most the limit, and every point with the same dose as the last one taken (no point is picked over its equal).

    >>> dose_makers([("top", 400), ("a", 6), ("b", 6), ("c", 6)], 418, 80)
    ['top']
    >>> dose_makers([("m0", 25), ("m1", 25), ("m2", 25), ("m3", 25)], 100, 80)
    ['m0', 'm1', 'm2', 'm3']
    >>> dose_makers([("a", 30), ("b", 20), ("c", 10)], 60, 40)
    ['a']
    """
    out: list[str] = []
    left, last = total, None
    for pid, u in sorted(doses, key=lambda d: -d[1]):
        if left <= limit and u != last:
            break
        out.append(pid)
        left -= u
        last = u
    return out


def _times(factor: float) -> str:
    """``"twice"`` or ``"3 times"``."""
    return "twice" if factor == 2 else f"{factor:g} times"


def _and(ids: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _overdose_words(model: Any, members: tuple[str, ...], side: str) -> str:
    """What too much does to this muscle group, from its own structure's ``weakened`` (anatomy/data/structures.yaml;
    a group's first member speaks for it: the superficial masseter for the masseter), as ``" (...)"``; nothing
    when the face has no such structure. Each muscle its own: a corrugator dose once ended "(for the masseter:
    chewing fatigue)"."""
    for base in members[:1]:
        st = model.structures.get(base if side == "midline" else f"{base}_{side}") or model.structures.get(base)
        if st is not None and st.weakened:
            return f" ({str(st.weakened).rstrip('.')})"
    return ""


@_rule("total_dose", scope="plan")
def total_dose(c: PlanContext) -> list[Finding]:
    """The plan's total against the labelled maximum over its period."""
    mt = max_total()
    units = sum(float(c.plan.ona_units_of(p)) for p in c.plan.points)
    if units <= mt.units:
        return []
    return [finding(DANGER, "total_dose_above_max", f"The plan totals {units:g} U: above the {mt.units:g} U maximum "
                    f"in {mt.days} days.", rule="total_dose", source=mt.source)]


@_rule("imbalance", scope="plan")
def imbalance(c: PlanContext) -> list[Finding]:
    """Left/right dose of the same muscle group in the same session, graded by consequence and likelihood
    (:func:`imbalance_severity`): more than a quarter apart is context (info), a gross difference a caution or a
    danger.

    A touch-up (planning.sessions.is_touch_up) is often one-sided by design: it tops up the side that still moves
    at the two-week review. Its balance is the one over the initial session and the touch-up together, where the
    plan holds both (no finding when the touch-up evens the initial out); a touch-up without its initial session
    in the plan keeps its finding, worded for a touch-up, and stays info. The initial session's own imbalance is
    always reported."""
    ratio = thresholds().imbalance.ratio
    pairs: dict[tuple[str, str], dict[str, float]] = {}
    for (g, sd, ses), u in c.group_side.items():
        if sd in ("left", "right"):
            pairs.setdefault((g, ses), {})[sd] = u

    def uneven(lu: float, ru: float) -> bool:
        return max(lu, ru) > 0 and abs(lu - ru) > ratio * max(lu, ru)

    out = []
    for (g, ses), d in sorted(pairs.items()):
        lu, ru = d.get("left", 0.0), d.get("right", 0.0)
        if not uneven(lu, ru):
            continue
        name = g.replace("_", " ")
        if not is_touch_up(c.plan, ses):
            sev = imbalance_severity(g, lu, ru)
            msg = f"{name}: {lu:g} U left and {ru:g} U right in session '{ses}'{_imbalance_words(g, lu, ru, sev)}"
        elif (g, DEFAULT_SESSION) in pairs:
            first = pairs[(g, DEFAULT_SESSION)]
            il, ir = first.get("left", 0.0), first.get("right", 0.0)
            if not uneven(il + lu, ir + ru):
                continue  # the one-sided touch-up evens out the initial session
            sev = imbalance_severity(g, il + lu, ir + ru)
            msg = (f"{name}: {il + lu:g} U left and {ir + ru:g} U right over the initial session and the touch-up "
                   f"'{ses}' together (the touch-up: {lu:g} U left, {ru:g} U right)"
                   f"{_imbalance_words(g, il + lu, ir + ru, sev)}")
        else:
            sev = INFO
            msg = (f"{name}: {lu:g} U left and {ru:g} U right in the touch-up session '{ses}'. A touch-up is often "
                   "one-sided by design (it tops up the side that still moves at the review); this plan does not "
                   "hold the initial session, so check the balance over both visits.")
        out.append(finding(sev, "left_right_imbalance", msg, g, rule="imbalance"))
    return out


def imbalance_severity(group: str, left: float, right: float) -> Severity:
    """How serious uneven sides are (docs/severity.md). The consequence is major: an uneven face (a lopsided smile,
    lip, brow or jaw) for the months the toxin acts. Likely, a danger: the sides are further apart than the dose
    rule's danger line (``dose_range.danger_factor`` times the muscle's usual maximum per side), more than any
    correction of an asymmetry uses. Plausible, a caution: one side gets a dose that acts (at least the muscle's low
    end) and at least ``imbalance.gross_factor`` times the other's. Otherwise context (info): small differences, an
    asymmetry corrected by intent, a muscle with no range per side."""
    rng = dose_range(group)
    if rng is None or rng.per != "side":
        return INFO
    heavy, light = max(left, right), min(left, right)
    if heavy - light > thresholds().dose_range.danger_factor * rng.high_units:
        return DANGER
    if heavy >= thresholds().imbalance.gross_factor * light and heavy >= rng.low_units:
        return CAUTION
    return INFO


def _imbalance_words(group: str, left: float, right: float, sev: Severity) -> str:
    """What uneven sides mean, by their severity (:func:`imbalance_severity`)."""
    if sev is DANGER:
        rng = dose_range(group)
        high = rng.high_units if rng is not None else 0.0
        return (f": {abs(left - right):g} U apart, more than {_times(thresholds().dose_range.danger_factor)} the "
                f"usual maximum of one side ({high:g} U) and more than a correction of an asymmetry uses: the result "
                "will be uneven.")
    tail = ". Unless this corrects an asymmetry, uneven dosing gives an uneven result."
    if sev is CAUTION:
        if min(left, right) == 0:
            return f": one side only, with a dose that acts{tail}"
        return (f": one side gets at least {_times(thresholds().imbalance.gross_factor)} the other's dose, a dose "
                f"that acts{tail}")
    return tail
