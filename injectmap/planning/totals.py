"""Doses as clinicians count them: units, mL and vials per plan and per session, by area, muscle and side,
and the switch of a plan from one product to another.

Counting (docs/course.md):

- **units**: each point's dose in its own product's units, and in onabotulinumtoxinA-equivalent units
  (:func:`injectmap.planning.products.ona_equivalent_units`, the conventions of products.yaml) so that
  doses of different products can be added and compared with the ranges of dose_ranges.yaml.
- **mL**: a point's ``volume_ml`` when the plan gives one, else its units through
  :func:`injectmap.planning.products.volume_ml` with the product and dilution of the point (its own, or the
  plan's).
- **vials**: per product and vial size, units / units per vial (a fraction: how much of the stock is used)
  and the whole vials to open (the next integer up).
- **side**: the one rule of :mod:`injectmap.planning.sides`: a point aimed at a sided muscle is on its
  target's side; any other point is sided by its position with the midline band of sides.yaml (3 mm), so a
  point with no target at x = +38.9 mm is counted on the left. Callers that have placed the points on a
  face (``injectmap check``, the viewer) pass the entry x of each point; otherwise the placement stands
  for the position.
- **area**: the areas of dose_ranges.yaml whose muscles include the point's target (``glabella``,
  ``forehead``, ...). The areas overlap (``upper_face`` holds glabella, forehead and lateral canthal), so
  area rows are not to be added up. A point with no target, or a target in no area, counts in no area.
- **muscle**: the dose group of the target (:func:`injectmap.planning.doses.dose_group_of`: the two parts
  of the masseter are one muscle), or ``"untargeted"``.

Product switch (:func:`switch_product`): each point that uses the plan's product gets
``units x (new units per ona unit) / (old units per ona unit)`` from the equivalence table of products.yaml,
and the result carries a :class:`ConversionNote` with the ratio and its source. A ratio the table marks as
an estimate (daxibotulinumtoxinA, prabotulinumtoxinA: no equivalence trial) is not an established
equivalence: the switch refuses with :class:`ProductSwitchError` unless the caller passes
``accept_estimate=True`` after asking the clinician.

Examples
--------
>>> from injectmap.planning.plan import parse_plan
>>> plan = parse_plan({"format": "injectmap-plan", "version": 1,
...     "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
...     "points": [{"id": "a", "units": 4, "entry_mm": [38.9, 30, 60], "depth_mm": 2}]})
>>> t = dose_totals(plan)
>>> (t.units, t.volume_ml, t.vials[0].vials, t.vials[0].vials_to_open, t.by_side[0].side)
(4.0, 0.1, 0.04, 1, 'left')
>>> s = switch_product(plan, "abobotulinumtoxinA")
>>> (s.plan.points[0].units, s.note.ratio)
(10.0, 2.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.ids import base_of
from injectmap.planning.doses import area_dose_range, area_names, dose_group_of
from injectmap.planning.plan import Plan, Point, Product, parse_plan, plan_to_dict
from injectmap.planning.products import (
    UnknownProductError,
    ona_equivalent_units,
    product_info,
    volume_ml,
)
from injectmap.planning.sessions import session_ids
from injectmap.planning.sides import SIDES, plan_point_side

__all__ = [
    "UNTARGETED",
    "ConversionNote",
    "DoseTotals",
    "GroupTotal",
    "PointDose",
    "ProductSwitch",
    "ProductSwitchError",
    "VialCount",
    "areas_of",
    "dose_totals",
    "point_doses",
    "side_of_point",
    "session_totals",
    "summarize",
    "switch_product",
]

UNTARGETED = "untargeted"
SIDE_ORDER = SIDES
# Sums are rounded to this many decimals so that 0.1 + 0.2 mL reads 0.3 (far below any dose that matters).
_DECIMALS = 6
# Converted doses keep 0.01 U: finer than any syringe marking, so the conversion itself changes no dose.
_UNIT_DECIMALS = 2


# ----------------------------------------------------------------------------------------------
# typed results

@dataclass(frozen=True)
class PointDose:
    """One point as counted.

    Attributes
    ----------
    point_id, session : str
        The point and its session.
    product : str
        The product the units are in (the point's own or the plan's).
    units, ona_units : float
        Dose in the product's units and in onabotulinumtoxinA-equivalent units.
    volume_ml : float
        Injected volume.
    side : str
        ``"left"``, ``"right"`` or ``"midline"``, from the position.
    target : str or None
        The intended structure.
    muscle : str
        Dose group of the target, or ``"untargeted"``.
    areas : tuple of str
        The dose_ranges.yaml areas that hold the target (empty for none).
    """

    point_id: str
    session: str
    product: str
    units: float
    ona_units: float
    volume_ml: float
    side: str
    target: str | None
    muscle: str
    areas: tuple[str, ...]


@dataclass(frozen=True)
class GroupTotal:
    """Sum over the points of one group (an area, a muscle, or every point) on one side.

    ``units`` adds each point's own units; when ``products`` holds more than one name only ``ona_units`` is
    a meaningful sum.
    """

    name: str
    side: str
    units: float
    ona_units: float
    volume_ml: float
    points: int
    products: tuple[str, ...]


@dataclass(frozen=True)
class VialCount:
    """The stock used of one product and vial size.

    Attributes
    ----------
    product : str
        Product name.
    units_per_vial, diluent_ml : float
        The vial and its reconstitution.
    units, volume_ml : float
        Drawn from such vials.
    vials : float
        ``units / units_per_vial``.
    vials_to_open : int
        Whole vials needed (``ceil(vials)``; 0 when nothing is drawn).
    """

    product: str
    units_per_vial: float
    diluent_ml: float
    units: float
    volume_ml: float
    vials: float
    vials_to_open: int


@dataclass(frozen=True)
class DoseTotals:
    """Totals of a plan, one session of it, or any set of counted points.

    Attributes
    ----------
    session : str or None
        The session counted, None for every point.
    points : tuple of PointDose
        Each point as counted, in plan order.
    units, ona_units, volume_ml : float
        Sums (``units`` in each point's own units, see :class:`GroupTotal`).
    vials : tuple of VialCount
        One per product and vial size.
    by_side : tuple of GroupTotal
        Every point per side (name ``"all"``), left, right, midline.
    by_area : tuple of GroupTotal
        Per area and side, areas in dose_ranges.yaml order (overlapping: do not add them up).
    by_muscle : tuple of GroupTotal
        Per muscle (dose group) and side, sorted by muscle.
    """

    session: str | None
    points: tuple[PointDose, ...]
    units: float
    ona_units: float
    volume_ml: float
    vials: tuple[VialCount, ...]
    by_side: tuple[GroupTotal, ...]
    by_area: tuple[GroupTotal, ...]
    by_muscle: tuple[GroupTotal, ...]

    @property
    def products(self) -> tuple[str, ...]:
        """The products counted, sorted."""
        return tuple(sorted({p.product for p in self.points}))

    def area(self, name: str, side: str) -> GroupTotal | None:
        """The row of one area and side, None when no point counts there."""
        return next((g for g in self.by_area if g.name == name and g.side == side), None)

    def muscle(self, name: str, side: str) -> GroupTotal | None:
        """The row of one muscle and side, None when no point counts there."""
        return next((g for g in self.by_muscle if g.name == name and g.side == side), None)

    def side(self, side: str) -> GroupTotal | None:
        """Every point on one side, None when none is there."""
        return next((g for g in self.by_side if g.side == side), None)


# ----------------------------------------------------------------------------------------------
# counting

def side_of_point(point: Point, entry_x: float | None = None) -> str:
    """``"left"``, ``"right"`` or ``"midline"``: :func:`injectmap.planning.sides.plan_point_side`.

    Parameters
    ----------
    point : Point
        The point.
    entry_x : float, optional
        The x of the point's entry on the face (mm, +x the subject's left) when the caller has placed it;
        otherwise its placement stands for its position.
    """
    return plan_point_side(point, entry_x)


@lru_cache(maxsize=1)
def _area_members() -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((a, frozenset(area_dose_range(a).structures)) for a in area_names())


@lru_cache(maxsize=512)  # cached: a plan names few targets, and a large plan asks once per point
def areas_of(target: str | None) -> tuple[str, ...]:
    """The dose_ranges.yaml areas whose muscles include ``target`` (none for no target).

    >>> areas_of("corrugator_supercilii_left")
    ('glabella', 'upper_face')
    """
    if target is None:
        return ()
    base = base_of(target)
    return tuple(a for a, members in _area_members() if base in members)


def _point_dose(plan: Plan, p: Point, entry_x: float | None) -> PointDose:
    prod = plan.product_of(p)
    vol = float(p.volume_ml) if p.volume_ml is not None else volume_ml(
        float(p.units), prod.name, prod.units_per_vial, prod.diluent_ml)
    return PointDose(
        point_id=p.id, session=p.session_id, product=prod.name, units=float(p.units),
        ona_units=ona_equivalent_units(float(p.units), prod.name), volume_ml=vol,
        side=side_of_point(p, entry_x), target=p.target,
        muscle=dose_group_of(p.target) if p.target else UNTARGETED, areas=areas_of(p.target),
    )


def point_doses(plan: Plan, session: str | None = None,
                entry_x: Mapping[str, float] | None = None) -> tuple[PointDose, ...]:
    """Each point of a plan (or of one session) as counted.

    Parameters
    ----------
    plan : Plan
        The plan.
    session : str, optional
        Count only this session's points.
    entry_x : mapping of point id to float, optional
        Entry x of placed points (see :func:`side_of_point`).
    """
    xs = entry_x or {}
    return tuple(_point_dose(plan, p, xs.get(p.id)) for p in plan.points
                 if session is None or p.session_id == session)


def _r(x: float) -> float:
    return round(x, _DECIMALS) + 0.0


def _group(name: str, side: str, doses: list[PointDose]) -> GroupTotal:
    return GroupTotal(name=name, side=side, units=_r(sum(d.units for d in doses)),
                      ona_units=_r(sum(d.ona_units for d in doses)), volume_ml=_r(sum(d.volume_ml for d in doses)),
                      points=len(doses), products=tuple(sorted({d.product for d in doses})))


def _side_key(side: str) -> int:
    return SIDE_ORDER.index(side)


def _grouped(keyed: Iterable[tuple[str, PointDose]], order: Mapping[str, int] | None = None) -> tuple[GroupTotal, ...]:
    buckets: dict[tuple[str, str], list[PointDose]] = {}
    for name, d in keyed:
        buckets.setdefault((name, d.side), []).append(d)
    keys = sorted(buckets, key=lambda k: ((order or {}).get(k[0], 0), k[0], _side_key(k[1])))
    return tuple(_group(n, s, buckets[(n, s)]) for n, s in keys)


def _vials(doses: Iterable[PointDose], products: Mapping[str, Product]) -> tuple[VialCount, ...]:
    acc: dict[tuple[str, float, float], list[PointDose]] = {}
    for d in doses:
        prod = products[d.point_id]
        acc.setdefault((prod.name, prod.units_per_vial, prod.diluent_ml), []).append(d)
    out = []
    for (name, upv, dil), ds in sorted(acc.items()):
        units = _r(sum(d.units for d in ds))
        vials = _r(units / upv)
        out.append(VialCount(product=name, units_per_vial=upv, diluent_ml=dil, units=units,
                             volume_ml=_r(sum(d.volume_ml for d in ds)), vials=vials,
                             vials_to_open=math.ceil(vials - 1e-9) if units > 0 else 0))
    return tuple(out)


def summarize(doses: Iterable[PointDose], products: Mapping[str, Product],
              session: str | None = None) -> DoseTotals:
    """Totals of counted points (from one plan or several visits).

    Parameters
    ----------
    doses : iterable of PointDose
        The points.
    products : mapping of point id to Product
        The product and reconstitution of each point (for the vials).
    session : str, optional
        The session the points belong to, for the record.
    """
    ds = list(doses)
    area_order = {a: i for i, a in enumerate(area_names())}
    return DoseTotals(
        session=session, points=tuple(ds), units=_r(sum(d.units for d in ds)),
        ona_units=_r(sum(d.ona_units for d in ds)), volume_ml=_r(sum(d.volume_ml for d in ds)),
        vials=_vials(ds, products),
        by_side=_grouped(("all", d) for d in ds),
        by_area=_grouped(((a, d) for d in ds for a in d.areas), area_order),
        by_muscle=_grouped((d.muscle, d) for d in ds),
    )


def dose_totals(plan: Plan, session: str | None = None,
                entry_x: Mapping[str, float] | None = None) -> DoseTotals:
    """Units, mL and vials of a plan, or of one of its sessions, by area, muscle and side.

    Parameters
    ----------
    plan : Plan
        The plan.
    session : str, optional
        One session only (``"initial"``, ``"touch_up"``...); every point when omitted.
    entry_x : mapping of point id to float, optional
        Entry x of placed points (see :func:`side_of_point`).

    Returns
    -------
    DoseTotals
    """
    products = {p.id: plan.product_of(p) for p in plan.points}
    return summarize(point_doses(plan, session, entry_x), products, session)


def session_totals(plan: Plan, entry_x: Mapping[str, float] | None = None) -> dict[str, DoseTotals]:
    """:func:`dose_totals` of each session of the plan, ``"initial"`` first."""
    return {s: dose_totals(plan, s, entry_x) for s in session_ids(plan)}


# ----------------------------------------------------------------------------------------------
# product switch

class ProductSwitchError(UserFacing, ValueError):
    """A product switch that cannot be made without the clinician: the message says why."""


@dataclass(frozen=True)
class ConversionNote:
    """What a product switch did, to show the clinician.

    Attributes
    ----------
    from_product, to_product : str
        The products.
    ratio : float
        New units per old unit.
    estimate : bool
        True when a ratio used is the table's estimate (accepted by the caller).
    source : str
        The sources of the ratios (products.yaml).
    converted : tuple of str
        Ids of the points whose units were converted.
    kept : tuple of str
        Ids of the points with a product of their own (unchanged).
    volume_dropped : tuple of str
        Converted points whose written ``volume_ml`` no longer held and was removed (now computed).
    """

    from_product: str
    to_product: str
    ratio: float
    estimate: bool
    source: str
    converted: tuple[str, ...]
    kept: tuple[str, ...]
    volume_dropped: tuple[str, ...]

    @property
    def text(self) -> str:
        """The note in one paragraph."""
        if self.from_product == self.to_product:
            head = f"Same product ({self.to_product}): units unchanged"
        else:
            head = (f"Units converted from {self.from_product} to {self.to_product}: 1 U = {self.ratio:g} U"
                    f"{' (an estimate, accepted)' if self.estimate else ''}; source: {self.source}")
        parts = [head, f"{len(self.converted)} point(s) converted, rounded to 0.{'0' * (_UNIT_DECIMALS - 1)}1 U"]
        if self.kept:
            parts.append("kept with their own product: " + ", ".join(self.kept))
        if self.volume_dropped:
            parts.append("written volume removed (now computed from the new dilution): " + ", ".join(self.volume_dropped))
        return ". ".join(parts) + "."


@dataclass(frozen=True)
class ProductSwitch:
    """The converted plan and the note that says how."""

    plan: Plan
    note: ConversionNote


def _target_product(to: Product | str) -> Product:
    if isinstance(to, Product):
        return to
    info = product_info(to)
    return Product(name=info.name, units_per_vial=info.default_units_per_vial, diluent_ml=info.default_diluent_ml)


def _ratio(src: str, dst: str, accept_estimate: bool) -> tuple[float, bool, str]:
    """New units per old unit, whether an estimate was used, and the sources."""
    a, b = product_info(src), product_info(dst)
    if src == dst:
        return 1.0, False, "same product"
    estimates = [i for i in (a, b) if i.equivalence.estimate]
    if estimates and not accept_estimate:
        said = "; ".join(f"{i.name}: {i.equivalence.units_per_ona_unit:g} U per onabotulinumtoxinA unit is an "
                         f"estimate ({i.equivalence.source})" for i in estimates)
        raise ProductSwitchError(
            f"no established unit equivalence between {src} and {dst} ({said}). Ask the clinician: convert with "
            "the estimate, or enter the doses in the new product's units.")
    ratio = b.equivalence.units_per_ona_unit / a.equivalence.units_per_ona_unit
    source = "; ".join(f"{i.name}: {i.equivalence.source}" for i in (a, b) if i.name != "onabotulinumtoxinA"
                       or i.equivalence.units_per_ona_unit != 1.0) or "reference product"
    return ratio, bool(estimates), source


def switch_product(plan: Plan, to: Product | str, *, accept_estimate: bool = False) -> ProductSwitch:
    """The plan in another product, its units converted with the equivalence table of products.yaml.

    Parameters
    ----------
    plan : Plan
        The plan.
    to : Product or str
        The new product with its vial and dilution, or a product name (its label reconstitution).
    accept_estimate : bool, optional
        Convert even when a ratio is only the table's estimate (the clinician has agreed).

    Returns
    -------
    ProductSwitch
        The converted plan (points with a product of their own are unchanged) and the note.

    Raises
    ------
    ProductSwitchError
        For an unknown product, or a ratio that is an estimate without ``accept_estimate``.
    injectmap.planning.plan.PlanError
        When a converted dose falls outside the plan file's limits (e.g. above 400 U at one point).
    """
    try:
        new = _target_product(to)
        ratio, estimate, source = _ratio(plan.product.name, new.name, accept_estimate)
    except UnknownProductError as exc:
        raise ProductSwitchError(f"cannot switch the product: {exc}") from None
    points, converted, kept, dropped = [], [], [], []
    for p in plan.points:
        if p.product is not None:
            kept.append(p.id)
            points.append(p)
            continue
        converted.append(p.id)
        volume = p.volume_ml
        if volume is not None and (ratio != 1.0 or new != plan.product):
            dropped.append(p.id)
            volume = None
        points.append(replace(p, units=round(float(p.units) * ratio, _UNIT_DECIMALS), volume_ml=volume))
    out = parse_plan(plan_to_dict(replace(plan, product=new, points=tuple(points))))
    note = ConversionNote(from_product=plan.product.name, to_product=new.name, ratio=ratio, estimate=estimate,
                          source=source, converted=tuple(converted), kept=tuple(kept), volume_dropped=tuple(dropped))
    return ProductSwitch(plan=out, note=note)
