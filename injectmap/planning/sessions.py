"""Treatment sessions of a plan, and differences between sessions and between plans.

Convention: every point belongs to a session, ``"initial"`` unless it says otherwise. The review
about two weeks after the initial treatment, when small adjustments are made (effect peaks at about
2 weeks; ANATOMY-FACTS "Timeline"), is the session ``"touch_up"``: :func:`touch_up_session`
builds it with the date 14 days after the initial one. Any other id (``"visit_3"``,
``"2026-03"``...) is allowed if the plan declares it in ``sessions``.

Differences:

- :func:`diff_plans` matches points by id: a point in both with any field different is
  ``changed`` (units, placement, depth, tip, direction, angle, target, product, volume, session).
- :func:`diff_sessions` compares two sessions of one plan. Point ids are unique in a plan, so
  points are matched by placement (same landmark and offsets, or same entry): a matched pair whose
  units, depth or target differ is ``changed``; the rest are ``added`` (only in b) or ``removed``
  (only in a). For "initial vs touch-up", ``added`` are the touch-up's new points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from injectmap.planning.plan import DEFAULT_SESSION, Plan, Point, Session, parse_plan, plan_to_dict

__all__ = [
    "DEFAULT_SESSION",
    "TOUCH_UP_DAYS",
    "TOUCH_UP_SESSION",
    "FieldChange",
    "PlanDiff",
    "PointChange",
    "add_session",
    "diff_plans",
    "diff_sessions",
    "is_touch_up",
    "points_in_session",
    "session_ids",
    "touch_up_session",
    "units_by_session",
]

TOUCH_UP_SESSION = "touch_up"
TOUCH_UP_DAYS = 14

_COMPARED = ("units", "placement", "depth_mm", "tip_mm", "direction", "angle_deg", "toward",
             "target", "product", "volume_ml", "session")


def session_ids(plan: Plan) -> list[str]:
    """Session ids in order: ``"initial"`` first, then the declared ones."""
    out = [DEFAULT_SESSION]
    for s in plan.sessions or ():
        if s.id not in out:
            out.append(s.id)
    return out


def points_in_session(plan: Plan, session_id: str = DEFAULT_SESSION) -> tuple[Point, ...]:
    """The points of one session, in plan order."""
    return tuple(p for p in plan.points if p.session_id == session_id)


def units_by_session(plan: Plan) -> dict[str, float]:
    """Total units per session, in each point's own product units (no conversion)."""
    out = {s: 0.0 for s in session_ids(plan)}
    for p in plan.points:
        out[p.session_id] = out.get(p.session_id, 0.0) + float(p.units)
    return out


def touch_up_session(initial_date: str | date | None = None, label: str = "Two-week touch-up") -> Session:
    """The conventional touch-up session, dated 14 days after ``initial_date`` when given.

    Parameters
    ----------
    initial_date : str (YYYY-MM-DD) or datetime.date, optional
        Date of the initial session.
    label : str, optional
        Display label.
    """
    d = None
    if initial_date is not None:
        start = date.fromisoformat(initial_date) if isinstance(initial_date, str) else initial_date
        d = (start + timedelta(days=TOUCH_UP_DAYS)).isoformat()
    return Session(id=TOUCH_UP_SESSION, date=d, label=label)


def is_touch_up(plan: Plan, session_id: str) -> bool:
    """Whether a session of ``plan`` is a touch-up: the conventional ``"touch_up"``, or a declared session whose
    id or label says so (``"touchup_2"``, "Touch-up at two weeks"). ``"initial"`` never is.

    >>> p = parse_plan({"format": "injectmap-plan", "version": 1, "product": {"name": "onabotulinumtoxinA",
    ...     "units_per_vial": 100, "diluent_ml": 2.5}, "points": [], "sessions": [{"id": "visit_2",
    ...     "label": "Touch-up at two weeks"}, {"id": "visit_3", "label": "Three months"}]})
    >>> [is_touch_up(p, s) for s in ("initial", "touch_up", "visit_2", "visit_3")]
    [False, True, True, False]
    """
    if session_id == TOUCH_UP_SESSION:
        return True
    if session_id == DEFAULT_SESSION:
        return False
    for s in plan.sessions or ():
        if s.id == session_id:
            words = f"{s.id} {s.label or ''}".casefold()
            return "touchup" in "".join(ch for ch in words if ch.isalnum())
    return False


def add_session(plan: Plan, session: Session) -> Plan:
    """A copy of the plan with one more declared session (validated; PlanError on a duplicate)."""
    sessions = tuple(plan.sessions or ()) + (session,)
    return parse_plan(plan_to_dict(replace(plan, sessions=sessions)))


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: its name and both values."""

    name: str
    before: Any
    after: Any


@dataclass(frozen=True)
class PointChange:
    """A point present in both sides of a comparison, with what differs."""

    before: Point
    after: Point
    fields: tuple[FieldChange, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the changed fields."""
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class PlanDiff:
    """Points added, removed and changed between a and b."""

    added: tuple[Point, ...]
    removed: tuple[Point, ...]
    changed: tuple[PointChange, ...]

    @property
    def empty(self) -> bool:
        """True when nothing differs."""
        return not (self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        """One human-readable line per difference."""
        out = [f"+ {p.id}: {p.units} U" + (f" -> {p.target}" if p.target else "") for p in self.added]
        out += [f"- {p.id}: {p.units} U" + (f" -> {p.target}" if p.target else "") for p in self.removed]
        for c in self.changed:
            parts = ", ".join(f"{f.name} {_short(f.before)} -> {_short(f.after)}" for f in c.fields)
            ident = c.before.id if c.before.id == c.after.id else f"{c.before.id} / {c.after.id}"
            out.append(f"~ {ident}: {parts}")
        return out


def _short(v: Any) -> str:
    if hasattr(v, "__dataclass_fields__"):
        items = [f"{k}={getattr(v, k)!r}" for k in v.__dataclass_fields__ if getattr(v, k) is not None]
        return "(" + ", ".join(items) + ")"
    return repr(v)


def _compare(a: Point, b: Point, names: tuple[str, ...]) -> tuple[FieldChange, ...]:
    out = []
    for n in names:
        va, vb = getattr(a, n), getattr(b, n)
        if n == "session":
            va, vb = a.session_id, b.session_id
        if va != vb:
            out.append(FieldChange(n, va, vb))
    return tuple(out)


def diff_plans(a: Plan, b: Plan) -> PlanDiff:
    """Points added, removed and changed from plan ``a`` to plan ``b``, matched by id."""
    ids_b = {p.id: p for p in b.points}
    ids_a = {p.id for p in a.points}
    changed = []
    removed = []
    for p in a.points:
        q = ids_b.get(p.id)
        if q is None:
            removed.append(p)
            continue
        f = _compare(p, q, _COMPARED)
        if f:
            changed.append(PointChange(p, q, f))
    added = tuple(q for q in b.points if q.id not in ids_a)
    return PlanDiff(added=added, removed=tuple(removed), changed=tuple(changed))


def diff_sessions(plan: Plan, a: str, b: str) -> PlanDiff:
    """Differences from session ``a`` to session ``b`` of one plan, matched by placement."""
    pa = list(points_in_session(plan, a))
    pb = list(points_in_session(plan, b))
    names = tuple(n for n in _COMPARED if n not in ("placement", "session"))
    unmatched_b = list(pb)
    changed = []
    removed = []
    for p in pa:
        match = next((q for q in unmatched_b if q.placement == p.placement), None)
        if match is None:
            removed.append(p)
            continue
        unmatched_b.remove(match)
        f = _compare(p, match, names)
        if f:
            changed.append(PointChange(p, match, f))
    return PlanDiff(added=tuple(unmatched_b), removed=tuple(removed), changed=tuple(changed))
