"""The course of treatment across visits: dose history, the previous treatment, the touch-up proposal, balance.

Pure functions on typed values (no database): the records layer builds :class:`VisitRecord` and
:class:`ReviewOutcome` from its rows and calls these.

- :func:`dose_history`: units by muscle and side at every visit, in the product's own units and in
  onabotulinumtoxinA-equivalent units, as a :class:`HistoryTable` a plot can draw
  (injectmap/reports/history.py).
- :func:`previous_treatment`: the points of the last treatment visit before a date, for the viewer to draw
  faintly under today's plan.
- :func:`propose_touch_up`: the touch-up from the two-week review's outcome, as a :class:`Plan` in the
  touch-up session (planning.sessions.touch_up_session) with a reason per point; the clinician edits it.
- :func:`balance`: units per area left against right over the initial visit and its touch-ups.

How the proposal is computed (numbers and sources in injectmap/clinic/data/touch_up.yaml and
injectmap/planning/data/dose_ranges.yaml; docs/course.md):

1. The visit completed is the last ``"initial"`` visit on or before the touch-up date; what it and the
   touch-ups already linked to it gave is counted per area and side (planning.totals: side from the point's
   position, area from its target).
2. An area and side reviewed with ``movement >= threshold`` (per area) asks for a fraction of the initial
   dose of that area and side, graded by the movement left. An area and side whose outcome lists side effects
   gets nothing (more toxin where a side effect shows is the clinician's call).
3. Balance: when one side (left or right) moves more than the other at review and was given less, it asks
   for at least the difference, so both sides end equal.
4. The request is shared over the initial visit's sites of that area and side (largest dose first; at least
   the muscle's smallest per-point dose at a site, at most its largest) and every share is cut to what the
   ranges still allow: the muscle's ``high`` (per side, or in total for a midline muscle) and the ``high`` of
   every area holding the target, counted over the initial visit, its earlier touch-ups and this proposal;
   and the 3-month maximum (max_total, 400 U) counted over every visit of the last 90 days. Doses are rounded
   down to the unit step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache

from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.planning.datafiles import load_model
from injectmap.planning.doses import DoseRange, area_dose_range, area_names, dose_range, max_total
from injectmap.planning.plan import POINT_ID_RE, Plan, Point, parse_plan, plan_to_dict
from injectmap.planning.products import product_info
from injectmap.planning.sessions import TOUCH_UP_DAYS, TOUCH_UP_SESSION, touch_up_session
from injectmap.planning.totals import PointDose, point_doses

__all__ = [
    "KINDS",
    "MOVEMENT_MAX",
    "SIDES",
    "AreaDecision",
    "BalanceRow",
    "HistoryRow",
    "HistoryTable",
    "HistoryVisit",
    "PreviousTreatment",
    "ReviewOutcome",
    "TouchUpFile",
    "TouchUpProposal",
    "TouchUpReason",
    "VisitRecord",
    "balance",
    "dose_history",
    "previous_treatment",
    "propose_touch_up",
    "touch_up_rules",
]

KINDS = ("initial", "review", "touch_up")
SIDES = ("left", "right", "midline")
MOVEMENT_MAX = 3
TREATMENT_KINDS = ("initial", "touch_up")
VisitId = int | str


# ----------------------------------------------------------------------------------------------
# the data file

class _Valued(DataModel):
    value: PositiveFloat
    source: str


class _Fractions(DataModel):
    values: dict[int, NonNegativeFloat]
    source: str

    @model_validator(mode="after")
    def _scale(self) -> _Fractions:
        if sorted(self.values) != list(range(MOVEMENT_MAX + 1)):
            raise ValueError(f"give a fraction for each movement 0..{MOVEMENT_MAX}")
        if self.values[0] != 0 or any(v > 1 for v in self.values.values()):
            raise ValueError("movement 0 asks for nothing and no fraction exceeds 1")
        ordered = [self.values[m] for m in range(MOVEMENT_MAX + 1)]
        if ordered != sorted(ordered):
            raise ValueError("fractions must not fall as the movement left grows")
        return self


class _AreaRule(DataModel):
    threshold: int = Field(ge=1, le=MOVEMENT_MAX)
    source: str


class _Review(DataModel):
    source: str


class TouchUpFile(DataModel):
    """injectmap/clinic/data/touch_up.yaml: thresholds per area, the dose fractions, rounding."""

    movement_scale: dict[int, str]
    review: _Review
    fraction_of_initial: _Fractions
    areas: dict[str, _AreaRule]
    unit_step: _Valued
    min_point_units: _Valued

    @model_validator(mode="after")
    def _every_area(self) -> TouchUpFile:
        known = set(area_names())
        if set(self.areas) != known:
            missing, unknown = sorted(known - set(self.areas)), sorted(set(self.areas) - known)
            raise ValueError(f"areas must be those of dose_ranges.yaml: missing {missing}, unknown {unknown}")
        if sorted(self.movement_scale) != list(range(MOVEMENT_MAX + 1)):
            raise ValueError(f"movement_scale must name 0..{MOVEMENT_MAX}")
        return self


@lru_cache(maxsize=1)
def touch_up_rules() -> TouchUpFile:
    """The touch-up data file, validated (cached)."""
    return load_model("touch_up.yaml", TouchUpFile, package="injectmap.clinic")


# ----------------------------------------------------------------------------------------------
# typed inputs

@dataclass(frozen=True)
class VisitRecord:
    """One visit of a patient's course.

    Attributes
    ----------
    date : datetime.date
        The visit's date.
    kind : str
        ``"initial"``, ``"review"`` or ``"touch_up"``.
    plan : Plan or None
        What was injected at the visit (every point of it counts as given then); None for a review with
        no injection.
    product : str or None
        The product used; when given it must be the plan's (convert a plan with
        planning.totals.switch_product first).
    completes_visit_id : int or str or None
        For a touch-up, the initial visit it completes.
    id : int or str or None
        The visit's id (the records' key).
    """

    date: date
    kind: str
    plan: Plan | None
    product: str | None = None
    completes_visit_id: VisitId | None = None
    id: VisitId | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.date, date):
            raise TypeError(f"a visit's date must be a datetime.date, got {type(self.date).__name__}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown visit kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.product is not None:
            product_info(self.product)  # UnknownProductError for a name not in products.yaml
            if self.plan is not None and self.plan.product.name != self.product:
                raise ValueError(f"the visit's product {self.product} is not its plan's ({self.plan.product.name}): "
                                 "convert the plan with planning.totals.switch_product")

    @property
    def points(self) -> tuple[Point, ...]:
        """The points given at the visit (none without a plan)."""
        return self.plan.points if self.plan is not None else ()


@dataclass(frozen=True)
class ReviewOutcome:
    """What the review found in one area on one side.

    Attributes
    ----------
    area : str
        An area of dose_ranges.yaml (planning.doses.area_names).
    side : str
        ``"left"``, ``"right"`` or ``"midline"``.
    movement : int
        Movement left, 0 (none) to 3 (full movement).
    side_effects : tuple of str
        Short descriptions (``"brow ptosis"``); empty for none.
    """

    area: str
    side: str
    movement: int
    side_effects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.area not in area_names():
            raise ValueError(f"unknown area {self.area!r}; known: {', '.join(area_names())}")
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {', '.join(SIDES)}, got {self.side!r}")
        if isinstance(self.movement, bool) or not isinstance(self.movement, int) or not (
                0 <= self.movement <= MOVEMENT_MAX):
            raise ValueError(f"movement must be an integer 0..{MOVEMENT_MAX}, got {self.movement!r}")
        object.__setattr__(self, "side_effects", tuple(self.side_effects))


# ----------------------------------------------------------------------------------------------
# history

@dataclass(frozen=True)
class HistoryVisit:
    """A visit on the history's time axis."""

    id: VisitId | None
    date: date
    kind: str


@dataclass(frozen=True)
class HistoryRow:
    """Doses into one muscle on one side at one visit, in one product.

    ``units`` are the product's own; ``ona_units`` the onabotulinumtoxinA equivalent (comparable across
    products and visits).
    """

    visit: int
    date: date
    kind: str
    muscle: str
    side: str
    product: str
    units: float
    ona_units: float
    volume_ml: float
    points: int


@dataclass(frozen=True)
class HistoryTable:
    """Doses by muscle and side across visits.

    Attributes
    ----------
    visits : tuple of HistoryVisit
        Every visit in date order (reviews without injections included).
    rows : tuple of HistoryRow
        One per visit, muscle, side and product with a dose; ``visit`` indexes ``visits``.
    """

    visits: tuple[HistoryVisit, ...]
    rows: tuple[HistoryRow, ...]

    def keys(self) -> tuple[tuple[str, str], ...]:
        """The (muscle, side) pairs dosed at any visit, sorted."""
        order = {s: i for i, s in enumerate(SIDES)}
        return tuple(sorted({(r.muscle, r.side) for r in self.rows}, key=lambda k: (k[0], order[k[1]])))

    def series(self, ona: bool = True) -> dict[tuple[str, str], tuple[float, ...]]:
        """Units per (muscle, side), one value per visit (0 where nothing was given).

        ``ona=False`` adds each product's own units (meaningful only when the course used one product).
        """
        out = {k: [0.0] * len(self.visits) for k in self.keys()}
        for r in self.rows:
            out[(r.muscle, r.side)][r.visit] += r.ona_units if ona else r.units
        return {k: tuple(round(v, 6) for v in vals) for k, vals in out.items()}


def _ordered(visits: Iterable[VisitRecord]) -> list[VisitRecord]:
    """Visits by date; visits of one date keep their given order."""
    return sorted(visits, key=lambda v: v.date)


def dose_history(visits: Iterable[VisitRecord]) -> HistoryTable:
    """Doses by muscle (the target's dose group) and side at every visit.

    Parameters
    ----------
    visits : iterable of VisitRecord
        The patient's visits, in any order.

    Returns
    -------
    HistoryTable
    """
    vs = _ordered(visits)
    rows = []
    for i, v in enumerate(vs):
        if v.plan is None:
            continue
        acc: dict[tuple[str, str, str], list[PointDose]] = {}
        for d in point_doses(v.plan):
            acc.setdefault((d.muscle, d.side, d.product), []).append(d)
        for (muscle, side, prod), ds in sorted(acc.items()):
            rows.append(HistoryRow(visit=i, date=v.date, kind=v.kind, muscle=muscle, side=side, product=prod,
                                   units=round(sum(d.units for d in ds), 6),
                                   ona_units=round(sum(d.ona_units for d in ds), 6),
                                   volume_ml=round(sum(d.volume_ml for d in ds), 6), points=len(ds)))
    return HistoryTable(visits=tuple(HistoryVisit(v.id, v.date, v.kind) for v in vs), rows=tuple(rows))


# ----------------------------------------------------------------------------------------------
# the previous treatment

@dataclass(frozen=True)
class PreviousTreatment:
    """The last treatment visit: what the viewer draws faintly under today's plan."""

    visit_id: VisitId | None
    date: date
    kind: str
    plan: Plan

    @property
    def points(self) -> tuple[Point, ...]:
        """The points given at that visit."""
        return self.plan.points


def previous_treatment(visits: Iterable[VisitRecord], before: date | None = None) -> PreviousTreatment | None:
    """The last visit before ``before`` (all visits when None) at which points were given.

    Parameters
    ----------
    visits : iterable of VisitRecord
        The patient's visits.
    before : datetime.date, optional
        Today's date: visits on or after it are not "previous".

    Returns
    -------
    PreviousTreatment or None
        None when no earlier visit gave any point.
    """
    last = None
    for v in _ordered(visits):
        if v.points and (before is None or v.date < before):
            last = v
    if last is None or last.plan is None:
        return None
    return PreviousTreatment(visit_id=last.id, date=last.date, kind=last.kind, plan=last.plan)


# ----------------------------------------------------------------------------------------------
# balance

@dataclass(frozen=True)
class BalanceRow:
    """Units of one area on each side over an initial visit and its touch-ups (ona-equivalent units).

    ``difference`` is left minus right; ``weaker`` the side given less (None when equal).
    """

    area: str
    left: float
    right: float
    midline: float
    difference: float
    weaker: str | None


def _area_side_units(doses: Iterable[PointDose]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for d in doses:
        for a in d.areas:
            out[(a, d.side)] = out.get((a, d.side), 0.0) + d.ona_units
    return out


def _balance_rows(doses: Sequence[PointDose]) -> tuple[BalanceRow, ...]:
    by = _area_side_units(doses)
    rows = []
    for a in area_names():
        left, right, mid = (round(by.get((a, s), 0.0), 6) for s in SIDES)
        if left == right == mid == 0:
            continue
        diff = round(left - right, 6)
        rows.append(BalanceRow(area=a, left=left, right=right, midline=mid, difference=diff,
                               weaker=None if diff == 0 else ("right" if diff > 0 else "left")))
    return tuple(rows)


def _doses_of(visits: Iterable[VisitRecord]) -> list[PointDose]:
    return [d for v in visits if v.plan is not None for d in point_doses(v.plan)]


def balance(initial: VisitRecord, touch_ups: Iterable[VisitRecord] = ()) -> tuple[BalanceRow, ...]:
    """Units per area, left against right, over an initial visit and the touch-ups that complete it.

    Parameters
    ----------
    initial : VisitRecord
        The initial visit.
    touch_ups : iterable of VisitRecord
        Its touch-ups (or a proposal's plan wrapped in a VisitRecord).

    Returns
    -------
    tuple of BalanceRow
        One per area given any dose, in dose_ranges.yaml order.
    """
    return _balance_rows(_doses_of([initial, *touch_ups]))


# ----------------------------------------------------------------------------------------------
# the touch-up proposal

@dataclass(frozen=True)
class TouchUpReason:
    """Why one proposed point is there and how its dose was reached.

    Attributes
    ----------
    point_id, site_id : str
        The proposed point and the initial visit's point whose site it reuses.
    area, side : str
        The area and side reviewed.
    movement : int
        Movement left at review.
    basis : str
        ``"movement"`` (a fraction of the initial dose) or ``"balance"`` (matching the other side).
    units, ona_units : float
        The proposed dose (product units, and onabotulinumtoxinA-equivalent).
    limited_by : tuple of str
        The limits that cut the dose (``"muscle range"``, ``"area range"``, ``"3-month maximum"``,
        ``"per-point range"``); empty when none did.
    text : str
        One sentence for the clinician.
    """

    point_id: str
    site_id: str
    area: str
    side: str
    movement: int
    basis: str
    units: float
    ona_units: float
    limited_by: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class AreaDecision:
    """The decision for one reviewed area and side, proposed or not, with the reason.

    Units are onabotulinumtoxinA-equivalent; ``limited_by`` names the limits that cut the request (at any of
    its sites, see :class:`TouchUpReason`); the text gives the product's own units.
    """

    area: str
    side: str
    movement: int
    threshold: int
    initial_ona_units: float
    requested_ona_units: float
    proposed_ona_units: float
    limited_by: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class TouchUpProposal:
    """A touch-up plan for the clinician to edit, with its reasons.

    Attributes
    ----------
    plan : Plan
        The proposed points, every one in the touch-up session (dated the touch-up date), at the initial
        visit's sites, in the initial plan's product.
    completes_visit_id : int or str or None
        The initial visit completed.
    date : datetime.date
        The touch-up date.
    reasons : tuple of TouchUpReason
        One per proposed point.
    decisions : tuple of AreaDecision
        One per review outcome.
    balance_before, balance_after : tuple of BalanceRow
        Left/right per area over the initial visit and its touch-ups, without and with this proposal.
    window_ona_units : float
        What every visit of the last ``window_days`` gave (ona-equivalent), before this proposal.
    max_units : float
        The 3-month maximum.
    window_days : int
        Its period.
    """

    plan: Plan
    completes_visit_id: VisitId | None
    date: date
    reasons: tuple[TouchUpReason, ...]
    decisions: tuple[AreaDecision, ...]
    balance_before: tuple[BalanceRow, ...]
    balance_after: tuple[BalanceRow, ...]
    window_ona_units: float
    max_units: float
    window_days: int

    @property
    def empty(self) -> bool:
        """True when nothing is proposed."""
        return not self.plan.points

    @property
    def ona_units(self) -> float:
        """Total proposed, onabotulinumtoxinA-equivalent."""
        return round(sum(r.ona_units for r in self.reasons), 6)


def _in_area(area: str, side: str | None) -> Callable[[PointDose], bool]:
    """A test for the points of one area (on one side, or any side for None)."""
    return lambda d: area in d.areas and (side is None or d.side == side)


@dataclass
class _Budget:
    """What the ranges still allow while points are proposed (ona-equivalent units)."""

    given: list[PointDose]
    window_left: float
    proposed: list[PointDose] = field(default_factory=list)

    def _sum(self, pred: Callable[[PointDose], bool]) -> float:
        return sum(d.ona_units for d in self.given + self.proposed if pred(d))

    def room(self, site: PointDose) -> tuple[float, str]:
        """The most that may still go to this site's muscle and areas, and the tightest limit's name."""
        limits: list[tuple[float, str]] = [(self.window_left - sum(d.ona_units for d in self.proposed),
                                            "3-month maximum")]
        rng = _range_of(site)
        if rng is not None:
            limits.append((rng.high_units - self._sum(lambda d: d.muscle == site.muscle and (
                rng.per == "total" or d.side == site.side)), "muscle range"))
        for a in site.areas:
            ar = area_dose_range(a)
            limits.append((ar.high_units - self._sum(_in_area(a, None if ar.per == "total" else site.side)),
                           "area range"))
        value, name = min(limits, key=lambda t: t[0])
        return max(0.0, value), name


def _range_of(dose: PointDose) -> DoseRange | None:
    return dose_range(dose.target) if dose.target else None


def _r(x: float) -> float:
    return round(x, 6) + 0.0


def _floor_step(units: float, step: float) -> float:
    return round(math.floor(units / step + 1e-9) * step, 6)


def _per_point(rng: DoseRange | None) -> tuple[float, float]:
    lo = touch_up_rules().min_point_units.value
    if rng is not None and rng.per_point_units is not None:
        return max(lo, rng.per_point_units[0]), rng.per_point_units[1]
    return lo, math.inf


@dataclass(frozen=True)
class _Request:
    outcome: ReviewOutcome
    threshold: int
    initial_ona: float
    ona: float
    basis: str
    why: str


def _requests(outcomes: Sequence[ReviewOutcome], initial: dict[tuple[str, str], float],
              given: dict[tuple[str, str], float], upo: float) -> list[_Request]:
    """What each outcome asks for, before the limits (ona-equivalent units; the texts in the product's)."""
    rules = touch_up_rules()
    moved = {(o.area, o.side): o.movement for o in outcomes}
    out = []
    for o in outcomes:
        thr = rules.areas[o.area].threshold
        init = initial.get((o.area, o.side), 0.0)
        frac = rules.fraction_of_initial.values[o.movement] if o.movement >= thr else 0.0
        want, basis = frac * init, "movement"
        why = (f"movement {o.movement} of {MOVEMENT_MAX} (threshold {thr}): {frac:.0%} of the initial "
               f"{init * upo:g} U = {_r(frac * init * upo):g} U"
               if o.movement >= thr else f"movement {o.movement} of {MOVEMENT_MAX} is below the threshold {thr}")
        other = {"left": "right", "right": "left"}.get(o.side)
        if other is not None and (o.area, other) in moved and moved[(o.area, other)] < o.movement:
            gap = given.get((o.area, other), 0.0) - given.get((o.area, o.side), 0.0)
            if gap > want:
                want, basis = gap, "balance"
                why = (f"moves more than the {other} side ({o.movement} vs {moved[(o.area, other)]}) and was "
                       f"given {_r(gap * upo):g} U less: the difference, to match it")
        if o.side_effects:
            want, why = 0.0, "side effects reported (" + "; ".join(o.side_effects) + "): no top-up proposed"
        out.append(_Request(o, thr, init, max(0.0, want), basis, why))
    return out


def _unique_id(base: str, taken: set[str]) -> str:
    pid = base[:60] + "_tu"
    n = 2
    while pid in taken:
        pid = f"{base[:58]}_tu{n}"
        n += 1
    assert POINT_ID_RE.match(pid)
    taken.add(pid)
    return pid


@dataclass
class _Allocation:
    points: list[Point] = field(default_factory=list)
    reasons: list[TouchUpReason] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)  # of the request being shared
    product: str = ""  # the touch-up's product (the initial plan's)


def _allocate(req: _Request, sites: list[tuple[Point, PointDose]], budget: _Budget, upo: float,
              out: _Allocation, taken: set[str]) -> float:
    """Share one request over its sites within the limits; returns the ona units proposed."""
    step = touch_up_rules().unit_step.value
    lo, hi = _per_point(_range_of(sites[0][1]))
    want_u = req.ona * upo
    raised = req.basis == "movement" and want_u < lo * upo
    if raised:  # less than one point's smallest dose: one point of that dose (a balance gap is not raised)
        want_u = lo * upo
    n = min(len(sites), max(1, math.floor(want_u / (lo * upo) + 1e-9), math.ceil(want_u / (hi * upo) - 1e-9)))
    share = want_u / n
    total = 0.0
    for site, dose in sites[:n]:
        lo, hi = _per_point(_range_of(dose))
        room, limit = budget.room(dose)
        u = min(share, room * upo, hi * upo)
        limited = tuple(x for x, hit in ((limit, room * upo < share), ("per-point range", hi * upo < share))
                        if hit)
        u = _floor_step(u, step)
        out.limits += [x for x in limited if x not in out.limits]
        if u < lo * upo - 1e-9:
            continue
        pid = _unique_id(site.id, taken)
        point = replace(site, id=pid, units=u, session=TOUCH_UP_SESSION, volume_ml=None, product=None, lot=None,
                        deviation=None, note=None)
        ona = u / upo
        budget.proposed.append(replace(dose, point_id=pid, product=out.product, units=u, ona_units=ona,
                                       session=TOUCH_UP_SESSION))
        out.points.append(point)
        out.reasons.append(TouchUpReason(
            point_id=pid, site_id=site.id, area=req.outcome.area, side=req.outcome.side,
            movement=req.outcome.movement, basis=req.basis, units=u, ona_units=round(ona, 6), limited_by=limited,
            text=f"{req.outcome.area.replace('_', ' ')} {req.outcome.side}: {req.why}"
                 + (f", raised to the muscle's smallest dose at a point ({_r(lo * upo):g} U)" if raised else "")
                 + f"; {u:g} U at the site of "
                 f"{site.id}" + (f" (cut by the {', '.join(limited)})" if limited else "") + "."))
        total += ona
    return total


def _initial_of(visits: Sequence[VisitRecord], on: date, initial_id: VisitId | None) -> VisitRecord:
    if initial_id is not None:
        for v in visits:
            if v.id == initial_id:
                return v
        raise ValueError(f"no visit with id {initial_id!r}")
    initials = [v for v in _ordered(visits) if v.kind == "initial" and v.date <= on]
    if not initials:
        raise ValueError("no initial visit on or before the touch-up date: nothing to complete")
    return initials[-1]


def _decision(req: _Request, proposed: float, sites: bool, upo: float, limits: tuple[str, ...]) -> AreaDecision:
    o = req.outcome
    if req.ona <= 0:
        text = req.why
    elif not sites:
        text = f"{req.why}, but the initial visit has no site in this area on this side: add points by hand"
    elif proposed <= 0:
        text = f"{req.why}, but the ranges leave no room (or less than one point's smallest dose): nothing proposed"
    else:
        text = f"{req.why}: {_r(proposed * upo):g} U proposed" + (f" (cut by the {', '.join(limits)})" if limits else "")
    return AreaDecision(area=o.area, side=o.side, movement=o.movement, threshold=req.threshold,
                        initial_ona_units=round(req.initial_ona, 6), requested_ona_units=round(req.ona, 6),
                        proposed_ona_units=round(proposed, 6), limited_by=limits, text=text)


def _window_total(visits: Iterable[VisitRecord], on: date, days: int) -> float:
    """Ona-equivalent units of every visit from ``days`` days before ``on`` up to ``on`` (both included)."""
    start = on - timedelta(days=days)
    return sum(d.ona_units for d in _doses_of(v for v in visits if start <= v.date <= on))


def propose_touch_up(visits: Sequence[VisitRecord], outcomes: Sequence[ReviewOutcome], on: date | None = None,
                     initial_id: VisitId | None = None) -> TouchUpProposal:
    """The touch-up proposed from a review's outcome (see the module's description).

    Parameters
    ----------
    visits : sequence of VisitRecord
        The patient's visits (all of them: the 3-month maximum counts every visit of the last 90 days).
    outcomes : sequence of ReviewOutcome
        The review's findings; an area and side not listed is not touched.
    on : datetime.date, optional
        The touch-up date; 14 days after the initial visit when omitted.
    initial_id : int or str, optional
        The initial visit to complete; the last initial visit on or before ``on`` when omitted.

    Returns
    -------
    TouchUpProposal

    Raises
    ------
    ValueError
        When there is no initial visit to complete, or it has no plan.
    """
    first = _initial_of(visits, on or date.max, initial_id)
    on = on or first.date + timedelta(days=TOUCH_UP_DAYS)
    if first.plan is None:
        raise ValueError("the initial visit has no plan: nothing to complete")
    plan = first.plan
    earlier = [v for v in visits if v.kind == "touch_up" and first.id is not None
               and v.completes_visit_id == first.id and v.date <= on]
    course = _doses_of([first, *earlier])
    mt = max_total()
    window = _window_total(visits, on, mt.days)
    budget = _Budget(given=course, window_left=mt.units - window)
    initial_doses = point_doses(plan)
    upo = product_info(plan.product.name).equivalence.units_per_ona_unit
    out = _Allocation(product=plan.product.name)
    taken = {p.id for p in plan.points} | {p.id for v in earlier for p in v.points}
    decisions = []
    for req in _requests(outcomes, _area_side_units(initial_doses), _area_side_units(course), upo):
        sites = sorted(((p, d) for p, d in zip(plan.points, initial_doses, strict=True)
                        if req.outcome.area in d.areas and d.side == req.outcome.side),
                       key=lambda pd: -pd[1].ona_units)
        out.limits = []
        proposed = _allocate(req, sites, budget, upo, out, taken) if req.ona > 0 and sites else 0.0
        decisions.append(_decision(req, proposed, bool(sites), upo, tuple(out.limits)))
    session = replace(touch_up_session(first.date), date=on.isoformat())
    proposal = parse_plan(plan_to_dict(replace(plan, points=tuple(out.points), sessions=(session,))))
    after = VisitRecord(date=on, kind="touch_up", plan=proposal, completes_visit_id=first.id)
    return TouchUpProposal(
        plan=proposal, completes_visit_id=first.id, date=on, reasons=tuple(out.reasons), decisions=tuple(decisions),
        balance_before=balance(first, earlier), balance_after=balance(first, [*earlier, after]),
        window_ona_units=round(window, 6), max_units=mt.units, window_days=mt.days)

