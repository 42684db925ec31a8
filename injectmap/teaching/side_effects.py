"""The side effects you can see: which expression a plan changes where it should not, why, and by how many mm.

Each side effect of ``injectmap/teaching/data/side_effects.yaml`` (with its mechanism and sources) is
decided on one day from the expression model (:mod:`injectmap.teaching.expressions`: the weakening of
each muscle, part and side, and the measures in mm) and, where the cause is a placement, from where the
plan's points are:

- ``smile_weakened``: a field reaches the zygomaticus major or minor on a side (the smile's corner
  excursion in mm per side, and the asymmetry);
- ``low_lateral_canthal``: a crow's feet point more than ``below_canthus_mm`` below the lateral canthus
  whose field reaches that side's zygomaticus (the same measure; its points are left out of
  ``smile_weakened``, which keeps the other causes);
- ``brow_ptosis``: a frontalis point less than ``row_within_mm`` above the brow weakens the lower band
  that holds the brow up: the brow at rest is lower (mm per side);
- ``spock_brow``: the medial frontalis weakened and the lateral part left working: the brow peak loses
  its lift in the brow raise, the tail keeps it;
- ``lower_lip_drop``: a field reaches the depressor labii inferioris (the lower lip's travel in AU16).

A point "reaches" a muscle when its possible (outer) field, shortened across fascial planes as the
analysis does, holds one of the muscle's volume samples; the effect itself is the model's mid weakening,
at least ``min_weakening`` on the day. Nothing is decided before the onset or after the wear-off: the
weakening is zero there.

Example
-------
>>> sorted(side_effect_data().effects)[:2]
['brow_ptosis', 'low_lateral_canthal']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import base_of, side_of
from injectmap.planning.analysis import place
from injectmap.planning.datafiles import load_model
from injectmap.planning.plan import Plan, parse_plan
from injectmap.planning.rules import brow_height_mm
from injectmap.teaching.expressions import (
    SIDES,
    Band,
    Measure,
    Preview,
    _point_fields,
    _unit_strength,
    face_precomputed,
    preview,
    unit_deltas,
)
from injectmap.teaching.timeline import session_start

__all__ = [
    "LOWER_LIP_MEASURE", "SideEffect", "SideEffectsFile", "annotate_check", "effect_measures", "effects_for_finding",
    "side_effect_data", "side_effects",
]


# -- the data file ------------------------------------------------------------------------------------------
class _Value(DataModel):
    value: PositiveFloat
    low: PositiveFloat | None = None
    high: PositiveFloat | None = None
    source: str = Field(min_length=10)
    confidence: str = ""


class _Effect(DataModel):
    detector: Literal["muscle_reached", "low_canthal", "low_row", "medial_only"]
    title: str = Field(min_length=3)
    plain: str = Field(min_length=10)
    mechanism: str = Field(min_length=10)
    muscles: tuple[str, ...] = Field(min_length=1)
    measure: str
    also_measures: tuple[str, ...] = ()
    finding_codes: tuple[str, ...] = ()
    sources: tuple[str, ...] = Field(min_length=1)
    targets: tuple[str, ...] = ()
    below_canthus_mm: _Value | None = None
    row_within_mm: _Value | None = None
    spared_part: str | None = None
    spared_ratio: _Value | None = None
    min_medial_weakening: _Value | None = None


class _LowerLip(DataModel):
    unit: str
    source: str = Field(min_length=10)


class SideEffectsFile(DataModel):
    """teaching/data/side_effects.yaml: the visible side effects, their thresholds and sources."""

    version: Literal[1]
    min_weakening: _Value
    min_change_mm: _Value
    effects: dict[str, _Effect] = Field(min_length=1)
    lower_lip: _LowerLip


@lru_cache(maxsize=1)
def side_effect_data() -> SideEffectsFile:
    """The side-effects data file, read and checked once."""
    return load_model("side_effects.yaml", SideEffectsFile, package="injectmap.teaching")


# -- results ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SideEffect:
    """One visible side effect on one side, on one day.

    Attributes
    ----------
    id : str
        The effect's key in the data file (``brow_ptosis``).
    side : str
        ``"left"`` or ``"right"`` (the subject's).
    day : float
        Days after the initial session.
    points : tuple of str
        The plan's point ids that cause it (their field reaches the muscle; for a placement effect, the
        points placed wrong).
    structures : tuple of str
        The structure ids concerned on that side (a part counts as its muscle).
    weakening : Band
        The largest weakening of the effect's muscles on that side, on the day.
    measure : str
        The main measure's name; ``measures`` holds it and the others, per side, in mm.
    measures : dict of str to Measure
    """

    id: str
    side: str
    day: float
    points: tuple[str, ...]
    structures: tuple[str, ...]
    weakening: Band
    measure: str
    measures: dict[str, Measure]

    @property
    def info(self) -> Any:
        """The data file's record (title, plain words, mechanism, sources)."""
        return side_effect_data().effects[self.id]

    @property
    def change_mm(self) -> float:
        """The main measure on the effect's side minus its untreated value (mm; negative: less)."""
        m = self.measures[self.measure]
        return (m.left - m.untreated_left) if self.side == "left" else (m.right - m.untreated_right)

    @property
    def asymmetry_mm(self) -> float:
        """|left - right| of the main measure on the day."""
        return self.measures[self.measure].asymmetry_mm

    def summary(self) -> str:
        """One line in words: the title, the side and the measured change."""
        m = self.measure.removesuffix("_mm").replace("_", " ")
        return (f"{self.info.title} ({self.side}): {m} {self.change_mm:+.1f} mm on that side, "
                f"left/right asymmetry {self.asymmetry_mm:.1f} mm, day {self.day:g}")

    def as_dict(self) -> dict[str, Any]:
        """The JSON object (``injectmap check --expressions``, ``expressions.side_effects[]``)."""
        info = self.info
        return {"id": self.id, "side": self.side, "title": info.title, "points": list(self.points),
                "structures": list(self.structures), "weakening": self.weakening.as_dict(),
                "measure": self.measure, "change_mm": round(self.change_mm, 2),
                "asymmetry_mm": round(self.asymmetry_mm, 2),
                "measures": {k: m.as_dict() for k, m in self.measures.items()},
                "mechanism": info.mechanism, "plain": info.plain, "sources": list(info.sources)}

    def link(self) -> dict[str, Any]:
        """The short form a finding carries under its ``expression`` key."""
        return {"id": self.id, "side": self.side, "title": self.info.title, "measure": self.measure,
                "change_mm": round(self.change_mm, 2), "asymmetry_mm": round(self.asymmetry_mm, 2)}


# -- the detectors --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Point:
    id: str
    target: str | None
    entry: np.ndarray
    reach: frozenset[str]  # weakening keys whose samples the point's possible field holds


def _key(name: str, side: str) -> str:
    """Weakening key of a muscle or part on a side (``zygomaticus_major_left``, ``frontalis.lower_left``)."""
    return f"{name}_{side}"


def _structure(name: str, side: str) -> str:
    return f"{name.split('.')[0]}_{side}"


def _points(model: Any, plan: Plan, day: float) -> list[_Point]:
    """The points whose session has started by ``day``, each with the keys its possible field reaches."""
    pre = face_precomputed(model)
    started = [p for p in plan.points if session_start(plan, p.session_id) is not None]
    fields = _point_fields(model, plan, pre.muscle_ids)
    out = []
    for p, f in zip(started, fields, strict=True):
        if f.start_day > day:
            continue
        d = np.linalg.norm(pre.samples - f.tip, axis=1)
        inside = d <= f.radii[2] * f.factor[pre.sample_muscle]
        reach = frozenset(k for k, rows in pre.rows.items() if len(rows) and bool(inside[rows].any()))
        out.append(_Point(p.id, p.target, np.asarray(place(model, p).entry_mm, dtype=float), reach))
    return out


#: the measure the side effects add to the expression model's (the lower lip's travel in its depressor unit, AU16)
LOWER_LIP_MEASURE = "lower_lip_excursion_mm"


def effect_measures(res: Preview) -> dict[str, Measure]:
    """The preview's measures and the side effects' own (:data:`LOWER_LIP_MEASURE`), per side, in mm."""
    return {**res.measures, LOWER_LIP_MEASURE: _lower_lip_measure(res)}


def _lower_lip_measure(res: Preview) -> Measure:
    """How far (mm) the lower lip travels in the lower-lip depressor unit, per side, on the day and untreated."""
    unit = side_effect_data().lower_lip.unit
    vals = []
    for side in SIDES:
        ud = unit_deltas()[(unit, side)]
        full = float(np.linalg.norm(ud.delta_mm, axis=1).max())
        vals.append((full * _unit_strength(res.weakening, unit, side).mid, full))
    return Measure(vals[0][0], vals[1][0], vals[0][1], vals[1][1])


def _strongest(weak: Mapping[str, Band], keys: Iterable[str]) -> Band:
    bands = [weak[k] for k in keys if k in weak]
    return max(bands, key=lambda b: b.mid) if bands else Band(0.0, 0.0, 0.0)


def _low_canthal_ids(model: Any, eff: Any, pts: Sequence[_Point], side: str) -> list[str]:
    """Crow's feet points on ``side`` placed more than ``below_canthus_mm`` below the lateral canthus."""
    ex = np.asarray(model.landmarks[f"exocanthion_{side}"], dtype=float)
    limit = eff.below_canthus_mm.value
    out = []
    for p in pts:
        aimed = p.target is not None and base_of(p.target) in eff.targets and side_of(p.target) == side
        beside = p.target is None and np.sign(p.entry[0]) == (1.0 if side == "left" else -1.0) \
            and abs(p.entry[0]) >= abs(ex[0])
        if (aimed or beside) and ex[1] - p.entry[1] > limit:
            out.append(p.id)
    return out


def side_effects(model: Any, plan: Plan | Mapping[str, Any], day: float,
                 result: Preview | None = None) -> list[SideEffect]:
    """Every visible side effect of ``plan`` on ``day`` after the initial session, per side.

    Parameters
    ----------
    model : FaceModel
        The face the plan is placed on.
    plan : Plan or dict
    day : float
        Days after the initial session (>= 0).
    result : Preview, optional
        The expression preview of this plan on this day, if already computed.

    Returns
    -------
    list of SideEffect
        In the data file's order, left before right.

    Raises
    ------
    ValueError
        For a day that is not a finite number >= 0.
    injectmap.planning.analysis.PlacementError
        When a point cannot be placed on this face.
    """
    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    res = result if result is not None else preview(model, plan, day)
    data = side_effect_data()
    least, least_mm = data.min_weakening.value, data.min_change_mm.value
    pts = _points(model, plan, day) if plan.points else []
    measures = effect_measures(res)
    weak = res.weakening
    low_canthal = {s: _low_canthal_ids(model, data.effects["low_lateral_canthal"], pts, s) for s in SIDES} \
        if "low_lateral_canthal" in data.effects else {s: [] for s in SIDES}
    out: list[SideEffect] = []
    for eid, eff in data.effects.items():
        for side in SIDES:
            keys = [_key(m, side) for m in eff.muscles]
            band = _strongest(weak, keys)
            if band.mid < least:
                continue
            causes = [p for p in pts if p.reach & set(keys)]
            if eff.targets and eff.detector != "low_canthal":  # the points aimed at these muscles (or at none)
                causes = [p for p in causes if p.target is None or base_of(p.target) in eff.targets]
            if eff.detector == "low_canthal":
                causes = [p for p in causes if p.id in low_canthal[side]]
            elif eff.detector == "muscle_reached" and "low_lateral_canthal" in data.effects \
                    and set(eff.muscles) == set(data.effects["low_lateral_canthal"].muscles):
                causes = [p for p in causes if p.id not in low_canthal[side]]
            elif eff.detector == "low_row":
                assert eff.row_within_mm is not None
                causes = [p for p in causes if brow_height_mm(model, p.entry) < eff.row_within_mm.value]
            elif eff.detector == "medial_only":
                assert eff.spared_part is not None and eff.spared_ratio is not None
                assert eff.min_medial_weakening is not None
                spared = weak.get(_key(eff.spared_part, side), Band(0.0, 0.0, 0.0))
                if band.mid < eff.min_medial_weakening.value or spared.mid >= eff.spared_ratio.value * band.mid:
                    continue
            if not causes:
                continue
            chosen = {k: measures[k] for k in (eff.measure, *eff.also_measures)}
            se = SideEffect(eid, side, float(day), tuple(p.id for p in causes),
                            tuple(dict.fromkeys(_structure(m, side) for m in eff.muscles)), band, eff.measure, chosen)
            if abs(se.change_mm) < least_mm:
                continue
            out.append(se)
    return out


# -- the findings of `check` ---------------------------------------------------------------------------------------
#: finding codes about a structure the field or tip reaches (planning/rules.py); the others are placements
_STRUCTURE_CODES = frozenset({"sphere_near_structure", "sphere_may_reach_structure", "tip_in_spared_muscle"})


def effects_for_finding(finding: Mapping[str, Any], point_id: str | None,
                        effects: Sequence[SideEffect]) -> list[SideEffect]:
    """The side effects a finding concerns: one of the effect's points, and its structure or code."""
    out = []
    for e in effects:
        if point_id is not None and point_id not in e.points:
            continue
        st = finding.get("structure")
        code = finding.get("code")
        if code not in e.info.finding_codes:
            continue
        # a finding about a structure concerns the effect when it names one of the effect's muscles; a
        # placement finding (frontalis_low, dao_too_medial) concerns it through its point alone
        if code in _STRUCTURE_CODES and st not in e.structures:
            continue
        out.append(e)
    return out


def annotate_check(doc: dict[str, Any], effects: Sequence[SideEffect], res: Preview) -> dict[str, Any]:
    """Add the expression links to a ``check`` JSON document (in place; returned for chaining).

    Every point finding that concerns a side effect gains an ``expression`` key (``{"day": .., "side_effects":
    [{id, side, title, measure, change_mm, asymmetry_mm}]}``); the document gains a top-level
    ``expressions`` section: the day, every side effect in full, and the preview's strengths and measures.
    Nothing already in the document changes.
    """
    day: float | int = int(res.day) if float(res.day).is_integer() else res.day
    for p in doc.get("points", []):
        for f in p.get("findings", []):
            linked = effects_for_finding(f, p.get("id"), effects)
            if linked:
                f["expression"] = {"day": day, "side_effects": [e.link() for e in linked]}
    prev = res.as_json()
    doc["expressions"] = {"day": day, "side_effects": [e.as_dict() for e in effects],
                          "strengths": prev["expressions"], "measures": prev["measures"]}
    return doc


# -- the stills of the walkthrough, the handout and the report ------------------------------------------------------
#: the days the stills show: before treatment, at the two-week review (the peak, teaching.timeline) and at
#: three months (the upper face wearing off)
STILL_DAYS: tuple[tuple[float, str], ...] = ((0.0, "before"), (14.0, "at two weeks"), (90.0, "at three months"))
#: an expression counts as treated when the plan takes at least this share of its movement on a side at
#: two weeks (project choice: a change of 5% is below what the preview's band can tell apart)
TREATED_LOSS = 0.05


def treated_expression(res: Preview) -> str | None:
    """The expression the plan treats most (the largest loss of strength on either side), or None."""
    best, loss = None, TREATED_LOSS
    for name, sides in res.strengths.items():
        worst = max(1.0 - b.mid for b in sides.values())
        if worst >= loss:
            best, loss = name, worst
    return best
