"""Left/right mirroring of plan points.

The CONTRACTS frame puts the origin between the endocanthia, on the head's midline, with +x toward the subject's
left, so the face is mirror-symmetric about the plane x = 0 TO FIRST ORDER only: real faces (and
the model's shape variants) are not exactly symmetric. Mirroring here is therefore a planning
convenience, not a statement that the other side's anatomy is the same; ``injectmap check``
evaluates each mirrored point on its own side of the model.

What a mirrored copy changes:

- landmark ids and ``toward`` via ``anatomy.ids.mirror_id`` (``exocanthion_left`` ->
  ``exocanthion_right``); the target too (``orbicularis_oculi_left`` -> ``..._right``);
- ``left_mm`` is negated; ``lateral_mm``, ``superior_mm``, ``anterior_mm`` are kept (``lateral_mm``
  is already relative to the landmark's side);
- the x component of ``entry_mm``, ``tip_mm`` and ``direction`` is negated;
- an id naming its side (``dao_left``) names the other side (``dao_right``, or ``dao_right_mirror`` if taken);
  any other id gets the suffix ``_mirror`` (then ``_mirror2``, ``_mirror3``... if taken);
- everything else (units, depth, angle, product, volume, session, lot, note, deviation) is copied.

Midline points are not duplicated: a point is on the midline by its position alone (its target aside),
as :func:`injectmap.planning.sides.plan_point_side` decides with the band of ``planning/data/sides.yaml``
(a midline landmark with ``|left_mm| <= 3``, or ``|entry x| <= 3`` mm). A copy is also skipped when the
plan held a point at its site (:func:`same_site`: in the same session with the same product, the same landmark
and offsets or an entry within :data:`SAME_SITE_MM`, at a depth or a tip within :data:`SAME_SITE_MM`), whatever its
dose: mirroring a symmetric plan, or mirroring twice, changes nothing, and a side whose dose was edited is not given
a second point on top of its own (:func:`site_taken_by` names it, so the app can say so).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from injectmap.anatomy.ids import mirror_id, side_of
from injectmap.planning.plan import POINT_ID_RE, Plan, Point, PointPlacement, Vec3, parse_plan, plan_to_dict
from injectmap.planning.sides import plan_point_side

__all__ = ["MIRROR_SUFFIX", "SAME_SITE_MM", "mirror_plan", "mirror_point", "point_side", "same_site", "site_taken_by"]

MIRROR_SUFFIX = "_mirror"
#: two points closer than this at the skin and in depth are at one site (mm): a mirrored copy is not added there
SAME_SITE_MM = 1.0


def point_side(point: Point) -> str:
    """``"left"``, ``"right"`` or ``"midline"`` from the point's placement (not its target): the position
    rule of :mod:`injectmap.planning.sides`."""
    return plan_point_side(point, by_target=False)


def _neg(x: float) -> float:
    return -x if x != 0 else x


def _flip(v: Vec3 | None) -> Vec3 | None:
    return None if v is None else (_neg(v[0]), v[1], v[2])


def _mirror_placement(pl: PointPlacement) -> PointPlacement:
    if pl.landmark is not None:
        return replace(pl, landmark=mirror_id(pl.landmark),
                       left_mm=None if pl.left_mm is None else _neg(pl.left_mm))
    return replace(pl, entry_mm=_flip(pl.entry_mm))


def mirror_point(point: Point, new_id: str) -> Point:
    """The point's mirror image on the other side, with id ``new_id``."""
    return replace(
        point,
        id=new_id,
        placement=_mirror_placement(point.placement),
        tip_mm=_flip(point.tip_mm),
        direction=_flip(point.direction),
        toward=None if point.toward is None else mirror_id(point.toward),
        target=None if point.target is None else mirror_id(point.target),
    )


def _new_id(base: str, taken: set[str]) -> str:
    """The copy's id: an id naming its side (``dao_left``) names the other (``dao_right``, or ``dao_right_mirror``
    when that is taken: a right-side point never carries "left"); any other id takes the suffix."""
    if side_of(base) in ("left", "right"):
        other = mirror_id(base)
        if other not in taken and POINT_ID_RE.match(other):
            return other
        base = other
    for n in range(1, 10000):
        suffix = MIRROR_SUFFIX + ("" if n == 1 else str(n))
        cand = base[: 64 - len(suffix)] + suffix
        if cand not in taken and POINT_ID_RE.match(cand):
            return cand
    raise ValueError(f"no free mirrored id for {base!r}")


def _landmark_site(p: PointPlacement) -> tuple[Any, ...]:
    """A landmark placement's site: the landmark and its offsets to 0.1 mm."""
    return (p.landmark, *(round(v or 0.0, 1) for v in (p.superior_mm, p.anterior_mm, p.lateral_mm, p.left_mm)))


def same_site(a: Point, b: Point) -> bool:
    """Whether two points are one injection: in the same session (the initial treatment and its touch-up may each
    inject a site) with the same product, entering at one site (the same landmark and offsets, to 0.1 mm, or entries
    within :data:`SAME_SITE_MM`) at one depth (within it; a point without a depth is at the default) or, placed by
    their tips, with tips within it."""
    if a.session != b.session or a.product != b.product:
        return False
    pa, pb = a.placement, b.placement
    if pa.kind != pb.kind:
        return False
    if pa.kind == "landmark":
        if _landmark_site(pa) != _landmark_site(pb):
            return False
    else:
        assert pa.entry_mm is not None and pb.entry_mm is not None
        if sum((x - y) ** 2 for x, y in zip(pa.entry_mm, pb.entry_mm, strict=True)) > SAME_SITE_MM ** 2:
            return False
    if (a.tip_mm is None) != (b.tip_mm is None):
        return False
    if a.tip_mm is not None and b.tip_mm is not None:
        return sum((x - y) ** 2 for x, y in zip(a.tip_mm, b.tip_mm, strict=True)) <= SAME_SITE_MM ** 2
    da, db = a.depth_mm, b.depth_mm
    return da == db or (da is not None and db is not None and abs(da - db) <= SAME_SITE_MM)


def site_taken_by(plan: Plan, point_id: str) -> str | None:
    """The id of the plan's point already at the mirror image of ``point_id``'s site (None: none, or a midline
    point)."""
    p = plan.point(point_id)
    if point_side(p) == "midline":
        return None
    m = mirror_point(p, p.id)
    return next((q.id for q in plan.points if q.id != point_id and same_site(m, q)), None)


def mirror_plan(plan: Plan, side: str | None = None, only: frozenset[str] | None = None) -> Plan:
    """Add the mirror image of lateral points to the other side.

    Parameters
    ----------
    plan : Plan
        A valid plan.
    side : {None, "left", "right"}, optional
        The side to copy FROM: ``"left"`` copies left points to the right; None copies every
        lateral point (each to the side it is not on).
    only : frozenset of str, optional
        Copy only these points (the others are still looked at: no copy lands on a site one of them takes).

    Returns
    -------
    Plan
        The original points, in order, followed by the mirrored copies (validated again).

    Raises
    ------
    ValueError
        For a ``side`` other than None, ``"left"``, ``"right"``.
    """
    if side not in (None, "left", "right"):
        raise ValueError(f"side must be 'left', 'right' or None, got {side!r}")
    taken = {p.id for p in plan.points}
    at_landmark: dict[tuple[Any, ...], list[Point]] = {}  # the plan's points by site (a plan may hold 1000s)
    for q in plan.points:
        if q.placement.kind == "landmark":
            at_landmark.setdefault(_landmark_site(q.placement), []).append(q)
    entered = [q for q in plan.points if q.placement.kind == "entry"]
    entries = np.array([q.placement.entry_mm for q in entered], dtype=float).reshape(-1, 3)
    copies: list[Point] = []
    for p in plan.points:
        s = point_side(p)
        if s == "midline" or (side is not None and s != side) or (only is not None and p.id not in only):
            continue
        m = mirror_point(p, p.id)
        if m.placement.kind == "landmark":
            near = at_landmark.get(_landmark_site(m.placement), [])
        else:
            d = np.linalg.norm(entries - np.asarray(m.placement.entry_mm, dtype=float), axis=1)
            near = [entered[i] for i in np.flatnonzero(d <= SAME_SITE_MM)]
        if any(same_site(m, q) for q in near):
            continue
        new_id = _new_id(p.id, taken)
        taken.add(new_id)
        copies.append(replace(m, id=new_id))
    return parse_plan(plan_to_dict(replace(plan, points=plan.points + tuple(copies))))
