"""How to fix a point, derived from the finding it explains: a move in the patient's anatomical terms.

Each point finding of planning's analysis that asks for a change (caution or danger) gives a :class:`Fix`:
which way to move the point and how far, and the landmark or structure it moves away from (or toward). The
direction and the distance come from the finding itself:

- a finding about a structure (a field reaching it, a tip in its corridor, at the septum) carries
  ``closest_mm`` (the structure's point nearest the tip) and ``distance_mm`` (how far the field or the tip
  reaches into it): the fix moves the tip away from ``closest_mm`` by that much;
- a position rule (frontalis too low, the masseter safe zone, DAO and mentalis positions, platysma depth)
  carries its own measure against its threshold (rules.yaml): the fix moves along that rule's axis by the
  shortfall;
- a target the field does not reach: the fix moves toward the target's nearest point.

A 3D displacement is split into the part along the needle (deeper or shallower) and the part across it,
read on the frame's axes as up/down, medial/lateral and forward/back (CONTRACTS: +x the subject's left, +y
superior, +z anterior). Components smaller than :data:`KEEP_SHARE` of the largest are dropped and the rest
scaled so that the move still clears the finding; each is rounded up to whole millimetres after adding the
margin of ``training_hints.yaml``. A deeper or shallower move that would take a tip out of the muscle it is
already in (a masseter tip near the bone told to go deeper) is not proposed: the move keeps to the plane. Nor is a
deeper move for a point whose target does not lie under its entry (:func:`planning.analysis.depths_along`: the
needle's line never meets it): deeper there passes beside the muscle (at the mouth corner, through the buccinator
toward the mouth), so the point goes over the muscle first. A masseter point too shallow is told how much deeper
the muscle begins along its own needle.

:func:`resolve` turns the fixes of one point into one consistent move: per axis, the largest move asked for
in one direction. When two fixes ask for opposite directions on one axis, the stronger one wins (severity,
then a placement rule before a field before a corridor: a corridor is a population spread that a point may
leave on either side, a placement rule is where the site is taught to be) and the weaker says that it yields;
when both are equally strong the point cannot satisfy both by moving, and the conflict is reported with both
reasons instead of two contradicting hints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from injectmap.anatomy.ids import base_of, side_of
from injectmap.planning.analysis import depths_along
from injectmap.planning.results import Finding, PointResult, Severity
from injectmap.planning.rules import thresholds
from injectmap.planning.sides import side_of_x

__all__ = ["AXES", "KEEP_SHARE", "PLACEMENT_CODES", "Conflict", "Fix", "Move", "Resolution", "apply_move",
           "corridor_kind", "fix_for", "fix_toward", "lower_name", "resolve", "target_beneath", "without_axes"]

#: the placement rules (planning's position rules, the septum, the exercise's brow constraint): where a site is
#: taught to be; their fix comes before a field's or a corridor's when two ask opposite moves
PLACEMENT_CODES: frozenset[str] = frozenset({
    "frontalis_low", "brow_height", "lateral_orbit_margin", "rim_margin", "tip_at_septum", "tip_in_orbit",
    "masseter_above_safe_zone", "masseter_anterior_border", "masseter_below_border", "masseter_too_shallow",
    "dao_too_medial", "dao_too_high", "mentalis_too_high", "mentalis_too_lateral", "platysma_too_deep",
    # a tip in a muscle to spare instead of the point's target: the toxin goes into the wrong muscle
    "tip_in_spared_muscle"})
#: the anatomical axes of a move: (name, word for +, word for -)
AXES: tuple[tuple[str, str, str], ...] = (("up", "up", "down"), ("lateral", "lateral", "medial"),
                                          ("forward", "forward", "back"), ("deeper", "deeper", "shallower"))
#: a component smaller than this share of the largest is left out of a move (it would only blur the hint)
KEEP_SHARE = 0.35
#: the least share of a corridor's away-direction across the needle that still gives a direction in the plane
PLANE_MIN = 0.05
#: a move across the needle is lengthened at most this many times to follow a sloping skin
CALIBRATE_MAX = 2.0
#: a move never asks for a tip shallower than this (mm below the skin): an intradermal bleb is no injection
MIN_DEPTH_MM = 1.0


@dataclass(frozen=True)
class Move:
    """A move of one point in the patient's anatomical terms (mm): + up, + lateral, + forward, + deeper.

    ``midline``: the point is on the midline, where ``lateral`` means toward the patient's left (+x).
    """

    up: float = 0.0
    lateral: float = 0.0
    forward: float = 0.0
    deeper: float = 0.0
    midline: bool = False

    def signs(self) -> dict[str, int]:
        """Axis -> +1 or -1 for every axis the move uses."""
        return {a: (1 if getattr(self, a) > 0 else -1) for a, _, _ in AXES if getattr(self, a) != 0}

    def is_empty(self) -> bool:
        return not self.signs()

    def words(self) -> list[str]:
        """``["4 mm up", "2 mm back"]``."""
        out = []
        for a, plus, minus in AXES:
            v = getattr(self, a)
            if v == 0:
                continue
            word = plus if v > 0 else minus
            if a == "lateral" and self.midline:
                word = "toward the patient's left" if v > 0 else "toward the patient's right"
            out.append(f"{abs(v):g} mm {word}")
        return out

    def text(self) -> str:
        """``"move it 4 mm up and 2 mm back"`` (empty for no move)."""
        w = self.words()
        if not w:
            return ""
        return "move it " + (w[0] if len(w) == 1 else ", ".join(w[:-1]) + " and " + w[-1])

    def world(self, side_sign: float, needle: np.ndarray) -> np.ndarray:
        """The displacement of the tip in the frame (mm)."""
        v = np.array([self.lateral * side_sign, self.up, self.forward], dtype=float)
        return v + self.deeper * np.asarray(needle, dtype=float)


@dataclass(frozen=True)
class Fix:
    """The fix one finding asks of its point: a move (None when no move helps) and why, in words."""

    code: str
    structure: str
    severity: Severity
    move: Move | None
    reason: str  #: ``"away from the left supratrochlear artery's corridor (the vessel runs ...)"``
    alternative: str = ""  #: what to do when moving is not enough (a smaller dose, another site)
    #: the reason without its explanation (``"away from the corridor of the parotid (Stensen's) duct"``), for the
    #: sentence that says this fix comes first; empty: the reason up to its first bracket or colon
    goal: str = ""

    @property
    def short(self) -> str:
        return self.goal or self.reason.split(" (")[0].split(":")[0]

    @property
    def rank(self) -> tuple[int, int]:
        """Which fix comes first when two ask opposite moves: severity, then a placement rule (2) before a
        field or a target (1) before a corridor or a vessel's course (0)."""
        kind = 2 if self.code in PLACEMENT_CODES else 0 if self.code.endswith("_corridor") or self.code in (
            "tip_in_artery", "tip_in_nerve", "tip_in_duct") else 1
        return (self.severity.rank, kind)

    def text(self) -> str:
        if self.move is None or self.move.is_empty():
            return (self.alternative or self.reason).removeprefix("or ")
        return f"{self.move.text()}, {self.reason}" + (f"; {self.alternative}" if self.alternative else "")


@dataclass(frozen=True)
class Conflict:
    """Two fixes of one point asking for opposite moves on one axis."""

    axis: str
    a: Fix
    b: Fix

    def text(self) -> str:
        plus, minus = next((p, m) for ax, p, m in AXES if ax == self.axis)
        va, vb = getattr(self.a.move, self.axis), getattr(self.b.move, self.axis)
        wa, wb = (plus if va > 0 else minus), (plus if vb > 0 else minus)
        return (f"this point cannot satisfy both by moving: {self.a.reason} needs it {abs(va):g} mm {wa}, "
                f"{self.b.reason} needs it {abs(vb):g} mm {wb}. Use a smaller dose (a smaller field) or place "
                "the point at another site of the muscle")


# ------------------------------------------------------------------------------------------ geometry
def _needle(model: Any, out: PointResult) -> np.ndarray:
    """Unit vector from the entry to the tip (the inward skin normal for a point at depth 0)."""
    e, t = np.asarray(out.entry_mm, dtype=float), np.asarray(out.tip_mm, dtype=float)
    d = t - e
    n = float(np.linalg.norm(d))
    if n > 1e-6:
        return d / n
    _, normal = model.skin_point(e)
    return -np.asarray(normal, dtype=float)


def _frame(model: Any, out: PointResult) -> tuple[float, bool, np.ndarray]:
    x = float(out.entry_mm[0])
    midline = side_of_x(x) == "midline"  # there a move goes "toward the patient's left/right", not medial/lateral
    side_sign = 1.0 if (midline or x >= 0) else -1.0
    return side_sign, midline, _needle(model, out)


def _round_up(x: float, margin: float) -> float:
    return float(math.copysign(math.ceil(abs(x) + margin - 1e-9), x)) if abs(x) > 1e-9 else 0.0


def _move_along(model: Any, out: PointResult, vec: np.ndarray, need_mm: float, margin: float,
                keep_in_target: bool = True, plane_only: bool = False) -> Move | None:
    """The move that carries the tip ``need_mm`` along ``vec`` (world), read on the anatomical axes.

    ``plane_only``: across the needle only (a corridor's spread is published in the plane of the face, not in
    depth)."""
    v = np.asarray(vec, dtype=float)
    nv = float(np.linalg.norm(v))
    if nv < 1e-6 or need_mm <= 0:
        return None
    u = v / nv
    side_sign, midline, needle = _frame(model, out)
    if plane_only:
        u = u - float(u @ needle) * needle
        if float(np.linalg.norm(u)) < PLANE_MIN:
            return None
        u = u / float(np.linalg.norm(u))
    for _ in range(2):
        deep = float(u @ needle)
        plane = u - deep * needle
        comps = {"lateral": float(plane[0]) * side_sign, "up": float(plane[1]), "forward": float(plane[2]),
                 "deeper": deep}
        top = max(abs(c) for c in comps.values())
        kept = {a: c for a, c in comps.items() if abs(c) >= KEEP_SHARE * top}
        k = Move(**kept, midline=midline).world(side_sign, needle)
        along = float(k @ u)
        if along < 1e-6:
            return None
        scale = need_mm / along
        mv = Move(**{a: _round_up(c * scale, margin) for a, c in kept.items()}, midline=midline)
        too_shallow = out.depth_mm + mv.deeper < MIN_DEPTH_MM and mv.deeper < 0
        beside = mv.deeper > 0 and not target_beneath(model, out)
        if not (too_shallow or beside
                or keep_in_target and mv.deeper and _leaves_target(model, out, mv, side_sign, needle)):
            return _calibrate(model, out, mv)
        # the tip would leave its muscle or the skin: keep to the plane across the needle
        u = plane
        if float(np.linalg.norm(u)) < 0.2:
            return None
        u = u / float(np.linalg.norm(u))
    return None


def _calibrate(model: Any, out: PointResult, mv: Move) -> Move:
    """``mv`` with its moves across the needle lengthened where the skin slopes away: an entry moved by plan
    offsets is put back on the nearest skin point (as planning places it), so 10 mm up on a forehead that leans
    back rises less than 10 mm. Each axis is lengthened until the entry, put back on the skin, has moved as far
    as asked (at most :data:`CALIBRATE_MAX` times)."""
    side_sign, midline, needle = _frame(model, out)
    e = np.asarray(out.entry_mm, dtype=float)
    want = {a: getattr(mv, a) for a in ("up", "lateral", "forward") if getattr(mv, a)}
    if not want:
        return mv
    cur = dict(want)
    for _ in range(3):
        trial = Move(**cur, midline=midline)
        got_v = np.asarray(model.skin_point(e + trial.world(side_sign, needle))[0]) - e
        got = {"up": float(got_v[1]), "lateral": float(got_v[0]) * side_sign, "forward": float(got_v[2])}
        short = {a: w for a, w in want.items() if got[a] * w > 0 and abs(got[a]) < abs(w) - 0.5}
        if not short:
            break
        for a, w in short.items():
            cur[a] = float(np.clip(cur[a] * abs(w) / abs(got[a]), -CALIBRATE_MAX * abs(w), CALIBRATE_MAX * abs(w)))
    return _with(mv, {a: _round_up(v, 0.0) for a, v in cur.items()})


def target_beneath(model: Any, out: PointResult, target: str | None = None) -> bool:
    """Whether the point's target (or ``target``) lies under its entry, deeper than its tip, on the needle's line
    (planning's :func:`~injectmap.planning.analysis.depths_along`); True for a point with no target."""
    sid = target or out.target
    if not sid or sid not in model.structures:
        return True
    return any(deep_end > out.depth_mm for _, deep_end in depths_along(model, out.entry_mm, out.tip_mm, sid))


def _leaves_target(model: Any, out: PointResult, mv: Move, side_sign: float, needle: np.ndarray) -> bool:
    """A change of depth that would put the tip outside its target muscle: out of it when it is in it, or
    deeper past it when it is not (deeper than a muscle lies bone or the next layer, not safety)."""
    if not out.target or (out.tip_in != out.target and mv.deeper < 0):
        return False
    new_tip = np.asarray(out.tip_mm, dtype=float) + mv.world(side_sign, needle)
    return out.target not in model.index.containing(new_tip)


# ------------------------------------------------------------------------------------------ fixes
def lower_name(name: str) -> str:
    """A structure's name inside a sentence: its first letter small, the rest as written (``"parotid (Stensen's)
    duct"``; an acronym such as ``"SMAS"`` kept)."""
    return name if len(name) > 1 and name[1].isupper() else name[:1].lower() + name[1:]


def _name(model: Any, sid: str) -> str:
    s = model.structures.get(sid)
    return lower_name(s.name) if s is not None else sid.replace("_", " ")


def _axis_move(model: Any, out: PointResult, axis: str, mm: float, margin: float) -> Move:
    """A move along one anatomical axis (mm signed as :class:`Move`)."""
    _, midline, _ = _frame(model, out)
    return _calibrate(model, out, Move(**{axis: _round_up(mm, margin)}, midline=midline))


def _rule_move(model: Any, out: PointResult, f: Finding, margin: float) -> Move | None:  # noqa: C901
    """The move a position rule's finding asks for (its own measure against its threshold), or None."""
    t = thresholds()
    d = float(f.distance_mm) if f.distance_mm is not None else 0.0
    code = f.code
    if code in ("frontalis_low", "rim_margin"):
        return _axis_move(model, out, "up", -d, margin)
    if code == "masseter_above_safe_zone":
        return _axis_move(model, out, "up", d, margin)  # d = line - entry height (negative)
    if code == "masseter_anterior_border":
        return _axis_move(model, out, "forward", d, margin)  # d = behind - limit (negative): back
    if code == "masseter_below_border":
        return _axis_move(model, out, "up", -d - t.masseter_safe_zone.below_gonion_mm, margin)
    if code == "dao_too_medial":
        return _axis_move(model, out, "lateral", -d, margin)
    if code == "dao_too_high":
        return _axis_move(model, out, "up", -(d + t.dao_position.min_below_cheilion_mm), margin)
    if code == "mentalis_too_high":
        return _axis_move(model, out, "up", -(d + t.mentalis_position.min_below_sublabiale_mm), margin)
    if code == "mentalis_too_lateral":
        return _axis_move(model, out, "lateral", -(d - t.mentalis_position.max_lateral_mm), margin)
    if code == "platysma_too_deep":
        return _axis_move(model, out, "deeper", -d, margin)
    if code == "lateral_orbit_margin" and f.closest_mm is not None:
        away = np.asarray(out.entry_mm, dtype=float) - np.asarray(f.closest_mm, dtype=float)
        return _move_along(model, out, away, -d, margin)
    return None


def _masseter_depth_fix(model: Any, out: PointResult, f: Finding, hints: Mapping[str, Any]) -> Fix:
    """A masseter point too shallow: deeper to the middle of the muscle on its own needle (where the needle's line
    crosses it, :func:`planning.analysis.depths_along`; the reference answer's tips lie there too), clear of both of
    its surfaces; no move when the muscle does not lie under the entry at all."""
    muscle = f"masseter_superficial_{side_of(f.structure or '')}"
    reason = _reason(model, f, hints)[0]
    spans = [(a, b) for a, b in depths_along(model, out.entry_mm, out.tip_mm, muscle) if b > out.depth_mm]
    if not spans:
        return Fix(f.code, f.structure or "", f.severity, None, reason, str(hints["not_over_muscle"]))
    (a, b), margin = spans[0], float(hints["margin_mm"])
    move = _axis_move(model, out, "deeper", max((a + b) / 2, min(a + margin, b)) - out.depth_mm, 0.0)
    return Fix(f.code, f.structure or "", f.severity, move if not move.is_empty() else None, reason)


def _into_target_fix(model: Any, out: PointResult, f: Finding, hints: Mapping[str, Any]) -> Fix:
    """A tip in a muscle to spare instead of the point's target: toward the target until the tip is in it (its nearest
    part, from the point's ``target_not_reached`` finding), or deeper into it where it lies under the tip; not away
    from the spared muscle's nearest surface, which can be anywhere (in front of the masseter it is forward, toward
    the mouth)."""
    margin = float(hints["margin_mm"])
    reason, goal = str(hints["by_code"][f.code]), f"into {_name(model, out.target or '')}"
    tip = np.asarray(out.tip_mm, dtype=float)
    gap = next((g for g in out.findings if g.code == "target_not_reached" and g.closest_mm is not None), None)
    move = None
    if gap is not None:
        toward = np.asarray(gap.closest_mm, dtype=float) - tip
        move = _move_along(model, out, toward, float(np.linalg.norm(toward)), margin, keep_in_target=False)
    else:
        starts = [a for a, b in depths_along(model, out.entry_mm, out.tip_mm, out.target or "") if b > out.depth_mm]
        if starts:
            move = _axis_move(model, out, "deeper", max(starts[0] - out.depth_mm, 0.0), margin)
    if move is None or move.is_empty():
        return Fix(f.code, f.structure or "", f.severity, None, reason, str(hints["not_over_muscle"]), goal)
    return Fix(f.code, f.structure or "", f.severity, move, reason, "", goal)


def _need_away(out: PointResult, f: Finding) -> float:
    """How far the tip must go from ``closest_mm`` to clear the finding (mm)."""
    d = float(f.distance_mm) if f.distance_mm is not None else 0.0
    if f.code == "tip_at_septum":
        return thresholds().orbital_septum.septum_mm - d
    if f.code.startswith("tip_in_") and not f.code.endswith("_corridor"):
        cr = next((c for c in out.corridors if c.structure == f.structure), None)
        return (cr.corridor_mm - cr.distance_mm) if cr is not None else abs(d) + 1.0
    return -d  # a field or a tip reaching into the structure or its corridor by -d


def _away_vector(model: Any, out: PointResult, f: Finding) -> np.ndarray | None:
    tip = np.asarray(out.tip_mm, dtype=float)
    s = model.structures.get(f.structure or "")
    if f.code.endswith("_corridor") and not f.code.startswith("tip_in_foramen") and s is not None \
            and s.centreline is not None and len(s.centreline):  # a corridor is around the mean course
        c = np.asarray(s.centreline, dtype=float)
        return tip - c[int(np.argmin(np.linalg.norm(c - tip, axis=1)))]
    if f.closest_mm is not None:
        v = tip - np.asarray(f.closest_mm, dtype=float)
        if float(np.linalg.norm(v)) > 0.1:
            return v
    if s is not None and s.centreline is not None and len(s.centreline):
        c = np.asarray(s.centreline, dtype=float)
        v = tip - c[int(np.argmin(np.linalg.norm(c - tip, axis=1)))]
        if float(np.linalg.norm(v)) > 0.1:
            return v
    if f.code in ("tip_in_orbit", "tip_at_septum"):
        return -_needle(model, out)  # out of the orbit the way the needle came
    return None


def fix_for(model: Any, out: PointResult, f: Finding, hints: Mapping[str, Any]) -> Fix:
    """The fix one point finding asks for (see the module doc); ``hints`` is training_hints.yaml."""
    margin = float(hints["margin_mm"])
    sid = f.structure or ""
    if f.code == "point_dose_above_range":  # a dose, not a place: no move helps
        return Fix(f.code, sid, f.severity, None, str(hints["dose_on_point"]))
    if f.code == "masseter_too_shallow":
        return _masseter_depth_fix(model, out, f, hints)
    if f.code == "tip_in_spared_muscle" and out.target:
        return _into_target_fix(model, out, f, hints)
    reason, goal = _reason(model, f, hints)
    move = _rule_move(model, out, f, margin)
    if move is None:
        away = _away_vector(model, out, f)
        if away is not None:
            plane = f.code.endswith("_corridor") or f.code in ("tip_in_artery", "tip_in_nerve", "tip_in_duct")
            move = _move_along(model, out, away, _need_away(out, f), margin, plane_only=plane)
    alternative = ""
    if f.code in ("sphere_near_structure", "sphere_may_reach_structure"):
        alternative = str(hints["smaller_dose"])
    if move is None or move.is_empty():
        alternative = alternative or str(hints["default"])
    return Fix(f.code, sid, f.severity, move, reason, alternative, goal)


def fix_toward(model: Any, out: PointResult, f: Finding, hints: Mapping[str, Any]) -> Fix:
    """The fix for a target the field does not reach: toward the target's nearest point."""
    margin = float(hints["margin_mm"])
    sid = f.structure or ""
    move = None
    if f.closest_mm is not None and f.distance_mm is not None:
        toward = np.asarray(f.closest_mm, dtype=float) - np.asarray(out.tip_mm, dtype=float)
        move = _move_along(model, out, toward, float(f.distance_mm), margin, keep_in_target=False)
    reason = f"toward {_name(model, sid)} (its nearest part is {float(f.distance_mm or 0):.0f} mm beyond the field)"
    alternative = "" if move else str(hints["not_over_muscle"] if not target_beneath(model, out) else hints["default"])
    return Fix(f.code, sid, f.severity, move, reason, alternative, f"toward {_name(model, sid)}")


def corridor_kind(code: str) -> str:
    """``"duct"`` of ``"tip_in_duct_corridor"`` (empty for a code that is no corridor's)."""
    return code.removeprefix("tip_in_").removesuffix("_corridor") if code.endswith("_corridor") else ""


def _reason(model: Any, f: Finding, hints: Mapping[str, Any]) -> tuple[str, str]:
    """Why the move (the hint's words) and its goal alone (the words before the explanation)."""
    sid = f.structure or ""
    if f.code in hints["by_code"]:
        return str(hints["by_code"][f.code]), ""
    name = _name(model, sid)
    if f.code.endswith("_corridor"):
        goal = f"away from the corridor of the {name}"
        risk = hints["corridor_risk"].get(corridor_kind(f.code))
        return f"{goal} ({hints['corridor']}" + (f": a needle there risks {risk})" if risk else ")"), goal
    why = hints["by_structure"].get(base_of(sid)) if sid else None
    goal = f"away from the {name}"
    return goal + (f" ({why})" if why else ""), goal


@dataclass
class Resolution:
    """The fixes of one point put together: one move, the conflicts no move resolves, and the fixes that
    yield on an axis to a stronger one (``(fix, stronger, axis)``)."""

    move: Move | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    yields: list[tuple[Fix, Fix, str]] = field(default_factory=list)

    def blocked(self, fx: Fix) -> list[str]:
        """The axes on which ``fx`` does not move the point (a conflict or a stronger fix)."""
        return [c.axis for c in self.conflicts] + [ax for f, _, ax in self.yields if f is fx]


def resolve(fixes: Iterable[Fix]) -> Resolution:
    """One consistent move for a point's fixes.

    Fixes are taken strongest first (:attr:`Fix.rank`: severity, then a placement rule before a field before a
    corridor). Per axis the largest move in the accepted direction wins; a weaker fix asking the opposite
    direction yields on that axis; two caution or danger fixes of the same rank asking opposite directions are
    a :class:`Conflict`, and that axis is left out of the move.
    """
    todo = sorted((f for f in fixes if f.move is not None and not f.move.is_empty()), key=lambda f: f.rank,
                  reverse=True)
    res = Resolution()
    if not todo:
        return res
    accepted: dict[str, tuple[float, Fix]] = {}
    blocked: set[str] = set()
    for fx in todo:
        assert fx.move is not None
        for axis, sign in fx.move.signs().items():
            v = getattr(fx.move, axis)
            if axis in blocked:
                res.yields.append((fx, res.conflicts[[c.axis for c in res.conflicts].index(axis)].a, axis))
            elif axis not in accepted:
                accepted[axis] = (v, fx)
            elif (accepted[axis][0] > 0) == (sign > 0):
                if abs(v) > abs(accepted[axis][0]):
                    accepted[axis] = (v, accepted[axis][1])
            elif accepted[axis][1].rank == fx.rank and fx.severity >= Severity.CAUTION:
                res.conflicts.append(Conflict(axis, accepted[axis][1], fx))
                blocked.add(axis)
            else:
                res.yields.append((fx, accepted[axis][1], axis))
    midline = any(f.move is not None and f.move.midline for f in todo)
    mv = Move(**{a: v for a, (v, _) in accepted.items() if a not in blocked}, midline=midline)
    res.move = None if mv.is_empty() else mv
    return res


def _with(move: Move, values: Mapping[str, float]) -> Move:
    """``move`` with some axes set to new values."""
    v = {a: float(values.get(a, getattr(move, a))) for a, _, _ in AXES}
    return Move(up=v["up"], lateral=v["lateral"], forward=v["forward"], deeper=v["deeper"], midline=move.midline)


def without_axes(move: Move | None, axes: Iterable[str]) -> Move | None:
    """``move`` with the given axes set to 0 (None when nothing is left)."""
    if move is None:
        return None
    m = _with(move, {a: 0.0 for a in axes})
    return None if m.is_empty() else m


def _sided(landmark: str) -> bool:
    return landmark.endswith(("_left", "_right"))


def apply_move(point: Mapping[str, Any], out: PointResult, move: Move, model: Any) -> dict[str, Any]:
    """The plan point ``point`` (CONTRACTS) moved by ``move``: an ``at`` point keeps its landmark and gets its
    offsets changed, any other point gets an ``entry_mm``; ``depth_mm`` changes by ``move.deeper``."""
    p = {k: v for k, v in dict(point).items()}
    side_sign, _, needle = _frame(model, out)
    if "tip_mm" in p:  # an explicit tip: keep the needle's direction, give the depth
        p.pop("tip_mm")
        p["direction"] = [float(x) for x in needle]
        p["depth_mm"] = float(out.depth_mm)
    at = p.get("at")
    if isinstance(at, dict) and "landmark" in at:
        at = dict(at)
        at["superior_mm"] = float(at.get("superior_mm", 0.0)) + move.up
        at["anterior_mm"] = float(at.get("anterior_mm", 0.0)) + move.forward
        if move.lateral:
            if _sided(str(at["landmark"])) and not move.midline:
                at["lateral_mm"] = float(at.get("lateral_mm", 0.0)) + move.lateral
            else:
                at["left_mm"] = float(at.get("left_mm", 0.0)) + move.lateral * side_sign
        p["at"] = at
    else:
        e = np.asarray(out.entry_mm, dtype=float) + np.array([move.lateral * side_sign, move.up, move.forward])
        p.pop("at", None)
        p["entry_mm"] = [round(float(x), 2) for x in e]
    p["depth_mm"] = max(0.0, float(p.get("depth_mm", out.depth_mm)) + move.deeper)
    return p
