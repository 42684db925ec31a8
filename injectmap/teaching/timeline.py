"""Expected effect over time, by area, as bands (population ranges), from ``data/education.yaml``.

The effect is a fraction of the treatment's full effect (0: none, 1: full), against days after the
session. Three scenarios bound the band:

- ``early``: first change on the earliest onset day, full effect on the earliest peak day, wear-off
  at the latest end of the range (the upper edge of the band);
- ``typical``: the middle of each range;
- ``late``: latest onset, latest peak, earliest wear-off (the lower edge).

The sourced numbers are the onset days (typical 3-5, range 1-5), the peak (days 10-14) and the
wear-off (upper face 3-4 months, jaw 4-6 months). The shape between them is a drawing choice: a
smooth rise from half the onset day to the peak (so the change has just started on the onset day),
a plateau, and a smooth fall that starts ``decline_fraction`` of the way
from the peak to the wear-off day and reaches zero on that day.

Areas are grouped as ``upper_face``, ``mid_lower_face`` and ``jaw`` (masseter, temporalis). A
plan's touch-up session (:data:`planning.sessions.TOUCH_UP_SESSION`) starts its own band at day 14
(or at its date's distance from the initial session).

:func:`injectmap.reports.figures.timeline_figure` draws the bands with matplotlib (teaching and
planning import no plotting module).

Example
-------
>>> import numpy as np
>>> days = np.arange(0, 200)
>>> low, mid, high = effect_band("jaw", days)
>>> bool((low <= mid).all() and (mid <= high).all())
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from injectmap.anatomy.ids import base_of
from injectmap.planning.datafiles import load_data
from injectmap.planning.doses import region_of
from injectmap.planning.plan import Plan, parse_plan
from injectmap.planning.sessions import TOUCH_UP_DAYS, TOUCH_UP_SESSION

__all__ = [
    "GROUPS",
    "JAW_MUSCLES",
    "AreaCurve",
    "Scenario",
    "curve_title",
    "effect_band",
    "effect_curve",
    "group_of",
    "plan_curves",
    "session_start",
    "scenario",
    "timeline_data",
]

GROUPS = ("upper_face", "mid_lower_face", "jaw")
JAW_MUSCLES = ("masseter_superficial", "masseter_deep", "temporalis")
GROUP_COLOURS = {"upper_face": "#1f77b4", "mid_lower_face": "#9467bd", "jaw": "#d62728"}


@lru_cache(maxsize=1)
def _tl() -> dict[str, Any]:
    return load_data("education.yaml", "injectmap.teaching")["timeline"]


def timeline_data() -> dict[str, Any]:
    """The timeline section of the data file (a copy)."""
    return load_data("education.yaml", "injectmap.teaching")["timeline"]


def group_of(structure_id: str) -> str | None:
    """``"jaw"`` for masseter/temporalis, ``"upper_face"``, ``"mid_lower_face"``, or None (not a region)."""
    if base_of(structure_id) in JAW_MUSCLES:
        return "jaw"
    r = region_of(structure_id)
    if r is None:
        return None
    return "upper_face" if r == "upper_face" else "mid_lower_face"


@dataclass(frozen=True)
class Scenario:
    """Key days of one curve (days after the session)."""

    onset_day: float
    peak_day: float
    end_day: float
    decline_fraction: float

    @property
    def rise_start_day(self) -> float:
        return 0.5 * self.onset_day

    @property
    def decline_start_day(self) -> float:
        return self.peak_day + self.decline_fraction * (self.end_day - self.peak_day)


def scenario(group: str, which: str = "typical") -> Scenario:
    """The ``early``, ``typical`` or ``late`` scenario of an area group."""
    tl = _tl()
    if group not in tl["groups"]:
        raise KeyError(group)
    on_lo, on_hi = tl["onset_days"]["range"]
    on_typ = float(np.mean(tl["onset_days"]["typical"]))
    pk_lo, pk_hi = tl["peak_days"]["range"]
    end_lo, end_hi = tl["groups"][group]["wear_off_days"]
    frac = float(tl["decline_fraction"])
    if which == "early":
        return Scenario(float(on_lo), float(pk_lo), float(end_hi), frac)
    if which == "late":
        return Scenario(float(on_hi), float(pk_hi), float(end_lo), frac)
    if which == "typical":
        return Scenario(on_typ, (pk_lo + pk_hi) / 2.0, (end_lo + end_hi) / 2.0, frac)
    raise ValueError(f"unknown scenario {which!r}: early, typical or late")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def effect_curve(group: str, days: Sequence[float] | np.ndarray, which: str = "typical",
                 start_day: float = 0.0) -> np.ndarray:
    """Fraction of the full effect on each day, for a session given on ``start_day``.

    Parameters
    ----------
    group : str
        ``"upper_face"``, ``"mid_lower_face"`` or ``"jaw"``.
    days : (n,) float
        Days (after the initial session).
    which : str
        ``"early"``, ``"typical"`` or ``"late"``.
    start_day : float
        Day of the session that gives this effect (0 initial, 14 a two-week touch-up).

    Returns
    -------
    (n,) float
        In [0, 1]: 0 before the rise, rising to 1 on the peak day, 1 on the plateau, falling to 0
        on the wear-off day.
    """
    s = scenario(group, which)
    t = np.asarray(days, dtype=float) - float(start_day)
    rise = _smoothstep((t - s.rise_start_day) / (s.peak_day - s.rise_start_day))
    fall = 1.0 - _smoothstep((t - s.decline_start_day) / (s.end_day - s.decline_start_day))
    return np.where(t <= s.peak_day, rise, fall)


def effect_band(group: str, days: Sequence[float] | np.ndarray,
                start_day: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower edge, typical curve and upper edge of the band (pointwise min/max of the scenarios)."""
    curves = np.vstack([effect_curve(group, days, w, start_day) for w in ("early", "typical", "late")])
    return curves.min(axis=0), curves[1], curves.max(axis=0)


@dataclass(frozen=True)
class AreaCurve:
    """One band to draw: an area group treated in one session."""

    group: str
    title: str
    session: str
    start_day: float
    structure_ids: tuple[str, ...]


def session_start(plan: Plan, session: str) -> float | None:
    """The day a session is given, counted from the initial one (day 0): from the two sessions' dates, else
    :data:`TOUCH_UP_DAYS` for the touch-up; None for another session without both dates."""
    if session == "initial":
        return 0.0
    dates = {s.id: s.date for s in plan.sessions or ()}
    d0, d1 = dates.get("initial"), dates.get(session)
    if d0 and d1:
        return float((date.fromisoformat(d1) - date.fromisoformat(d0)).days)
    if session == TOUCH_UP_SESSION:
        return float(TOUCH_UP_DAYS)
    return None


def curve_title(group: str, structure_ids: Sequence[str]) -> str:
    """What a band is of, in the patient's words: the walkthrough areas of its treated muscles in the walkthrough's
    order ("Corners of the mouth, chin and neck"; "Jaw" for the masseter alone, "Jaw and temple" with the
    temporalis), else the group's title (a muscle without an area in the walkthrough)."""
    from injectmap.teaching.education import area_of_muscle, education_data

    areas = [area_of_muscle(s) for s in structure_ids]
    if not areas or None in areas:
        return str(_tl()["groups"][group]["title"])
    info = education_data()["areas"]
    titles = [str(info[a]["title"]) for a in info if a in areas]
    words = [titles[0], *(t[:1].lower() + t[1:] for t in titles[1:])]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def plan_curves(plan: Plan | Mapping[str, Any]) -> list[AreaCurve]:
    """The bands of a plan: one per (session, area group) with a treated muscle.

    Sessions without a known start (no dates, not the touch-up) are left out.
    """
    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    found: dict[tuple[str, str], list[str]] = {}
    for p in plan.points:
        g = group_of(p.target) if p.target else None
        if g is None:
            continue
        ids = found.setdefault((p.session_id, g), [])
        if p.target not in ids:
            ids.append(str(p.target))
    out = []
    for (session, g), ids in found.items():
        start = session_start(plan, session)
        if start is None:
            continue
        out.append(AreaCurve(group=g, title=curve_title(g, ids), session=session, start_day=start,
                             structure_ids=tuple(ids)))
    out.sort(key=lambda c: (c.start_day, GROUPS.index(c.group)))
    return out
