"""Per-point and per-plan analysis against the face model: placement, tip location, target reach,
neighbours in reach, named safety rules, dose totals. Pure: no rendering, no web.

Conventions: mm in the CONTRACTS frame; ``distance_mm`` of a sphere finding is from the sphere's
surface to the structure (negative: the sphere reaches into it by that much); of a needle finding,
from the tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from injectmap.anatomy.ids import BONE_LANDMARKS, side_of
from injectmap.anatomy.variability import load_variability
from injectmap.planning.datafiles import load_model
from injectmap.planning.diffusion import plane_adjusted, point_radius
from injectmap.planning.doses import dose_group_of
from injectmap.planning.plan import MAX_DEPTH_MM, Plan, PlanIssue, Point
from injectmap.planning.results import CorridorResult, Finding, PointResult, Totals
from injectmap.planning.rules import PlanContext, PointContext, is_orbit, plan_rules, point_rules, thresholds
from injectmap.planning.sides import point_side


class PlacementError(ValueError):
    """A point cannot be placed on this model: its entry lies too far from the skin, or its needle
    leaves the body (tip or shaft outside the skin, tip through the bone, an explicit tip beyond the
    depth limit).

    Attributes
    ----------
    point_id : str
        The point.
    key : str
        The plan key that places it wrong (``entry_mm``, ``tip_mm``, ``direction``, ``angle_deg``,
        ``depth_mm``).
    message : str
        What is wrong, with the numbers.
    """

    def __init__(self, point_id: str, key: str, message: str) -> None:
        self.point_id, self.key, self.message = point_id, key, message
        super().__init__(f"point {point_id!r}, {key}: {message}")


class PlacementLimits(BaseModel):
    """planning/data/placement.yaml: where a placed needle may be (mm)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    max_tip_outside_skin_mm: PositiveFloat
    max_tip_beyond_bone_mm: PositiveFloat
    path_step_mm: PositiveFloat
    source: str = Field(min_length=20)


def placement_limits() -> PlacementLimits:
    """The placement limits, read and checked once."""
    return load_model("placement.yaml", PlacementLimits)


@dataclass
class Placed:
    entry_mm: np.ndarray
    tip_mm: np.ndarray
    depth_mm: float
    normal: np.ndarray


def _lm(model, name: str) -> np.ndarray:
    return np.asarray(model.landmarks[name], dtype=float)


def entry_of(model, point: Point) -> np.ndarray:
    """The skin entry of a point: landmark plus offsets, or ``entry_mm``, snapped to the skin."""
    pl = point.placement
    if pl.entry_mm is not None:
        raw = np.asarray(pl.entry_mm, dtype=float)
        snapped, _ = model.skin_point(raw)
        limit = thresholds().analysis.max_entry_from_skin_mm
        if np.linalg.norm(snapped - raw) > limit:
            raise PlacementError(point.id, "entry_mm", f"the entry is {np.linalg.norm(snapped - raw):.1f} mm "
                                 f"from the skin (at most {limit:g} mm)")
        return snapped
    assert pl.landmark is not None  # parse_plan guarantees a landmark or entry_mm
    p = _lm(model, pl.landmark).copy()
    s = side_of(pl.landmark)
    sign = -1.0 if s == "right" else 1.0
    p[1] += pl.superior_mm or 0.0
    p[2] += pl.anterior_mm or 0.0
    if pl.lateral_mm:
        p[0] += sign * pl.lateral_mm
    if pl.left_mm:
        p[0] += pl.left_mm
    q, _ = model.skin_point(p)  # CONTRACTS: the skin point nearest to the moved landmark
    return q


def _direction(model, point: Point, entry: np.ndarray, n: np.ndarray) -> np.ndarray:
    if point.direction is not None:
        d = np.asarray(point.direction, dtype=float)
        return d / np.linalg.norm(d)
    if point.angle_deg is not None and point.toward:
        toward = _lm(model, point.toward) - entry
        inward = -n
        t = toward - (toward @ inward) * inward
        if np.linalg.norm(t) < 1e-9:
            return inward
        t /= np.linalg.norm(t)
        a = np.radians(point.angle_deg)
        return np.cos(a) * inward + np.sin(a) * t
    return -n


def _needle_key(point: Point) -> tuple[str, str]:
    """The key that sets where the needle goes, and how the plan gave it (for a message)."""
    if point.tip_mm is not None:
        return "tip_mm", "the tip given by tip_mm"
    if point.direction is not None:
        return "direction", f"along direction {list(point.direction)} to depth {point.depth_mm:g} mm"
    if point.angle_deg is not None:
        return "angle_deg", (f"at {point.angle_deg:g} degrees toward {point.toward} to depth "
                             f"{point.depth_mm:g} mm")
    return "depth_mm", f"along the inward skin normal to depth {point.depth_mm:g} mm"


def check_needle(model, point: Point, placed: Placed) -> None:
    """Raise :class:`PlacementError` when the needle leaves the body (limits in placement.yaml).

    The tip and the shaft (sampled every ``path_step_mm`` from the entry) must lie inside the skin,
    the tip no deeper than the bone under it (plus ``max_tip_beyond_bone_mm``) unless it lies in a
    modelled soft structure (the orbit's contents, a muscle: no bone there), and an explicit
    ``tip_mm`` no farther from the entry than the depth limit (``MAX_DEPTH_MM``).
    """
    lim = placement_limits()
    key, how = _needle_key(point)
    if point.tip_mm is not None and placed.depth_mm > MAX_DEPTH_MM:
        raise PlacementError(point.id, key, f"the tip is {placed.depth_mm:.1f} mm from the skin entry "
                             f"(at most {MAX_DEPTH_MM:g} mm, as for depth_mm)")
    n_steps = max(1, int(np.ceil(placed.depth_mm / lim.path_step_mm)))
    along = np.linspace(0.0, 1.0, n_steps + 1)[1:]
    path = placed.entry_mm + along[:, None] * (placed.tip_mm - placed.entry_mm)
    depth, rows = model.depth_below_skin(path)
    tip_depth = float(depth[-1])
    if tip_depth < -lim.max_tip_outside_skin_mm:
        raise PlacementError(point.id, key, f"the needle's tip is {-tip_depth:.1f} mm outside the skin ({how}); "
                             "a tip must lie inside the body")
    out = np.nonzero(depth < -lim.max_tip_outside_skin_mm)[0]
    if out.size:
        raise PlacementError(point.id, key, f"the needle leaves the body {along[out[0]] * placed.depth_mm:.1f} mm "
                             f"along its path and comes back in ({how}); its shaft must stay inside the skin")
    bone = float(model.layer_bone_mm[int(rows[-1])])
    if tip_depth > bone + lim.max_tip_beyond_bone_mm and not _in_soft_tissue(model, placed.tip_mm):
        raise PlacementError(point.id, key, f"the tip is {tip_depth:.1f} mm below the skin, "
                             f"{tip_depth - bone:.1f} mm beyond the bone there ({bone:.1f} mm deep on this face; "
                             f"at most {lim.max_tip_beyond_bone_mm:g} mm past it): a needle stops at the bone")


#: the layers every point lies in; a tip inside any other structure is in soft tissue, not in bone
_PLAIN_LAYERS = frozenset({"skin", "subcutaneous_fat", "smas", "bone"})


def _in_soft_tissue(model, tip: np.ndarray) -> bool:
    """True when the tip lies in a modelled soft structure (a muscle, a vessel, the orbit's contents...):
    there the layered depth to the bone does not apply (the orbit, for one, has no bone in front)."""
    return any(s not in _PLAIN_LAYERS for s in model.index.containing(tip))


def place(model, point: Point) -> Placed:
    """Where a point's needle enters and where its tip is; raises :class:`PlacementError` when the entry is
    too far from the skin or the needle leaves the body (:func:`check_needle`)."""
    entry = entry_of(model, point)
    _, n = model.skin_point(entry)
    n = n / np.linalg.norm(n)  # the skin mesh's normals are not all of unit length (10% under 0.95, 0.62 at least)
    if point.tip_mm is not None:
        tip = np.asarray(point.tip_mm, dtype=float)
        placed = Placed(entry, tip, float(np.linalg.norm(tip - entry)), n)
    else:
        depth = float(point.depth_mm or 0.0)
        placed = Placed(entry, entry + _direction(model, point, entry, n) * depth, depth, n)
    check_needle(model, point, placed)
    return placed


def placement_issues(model, plan: Plan) -> list[PlanIssue]:
    """Every point that cannot be placed on ``model``, as plan issues naming the point and the key.

    The one check of a plan against a face: ``injectmap check``, ``injectmap plan validate``, the app
    and the trainer all run it, so they agree on every plan.
    """
    return place_all(model, plan)[1]


def place_all(model, plan: Plan) -> tuple[list[Placed | None], list[PlanIssue]]:
    """Every point placed on ``model`` (None where it cannot be) and the plan issues of those that cannot
    (:func:`placement_issues`); ``injectmap check`` places each point once and analyses the placed needles."""
    placed: list[Placed | None] = []
    out: list[PlanIssue] = []
    for i, p in enumerate(plan.points):
        try:
            placed.append(place(model, p))
        except PlacementError as exc:
            placed.append(None)
            out.append(PlanIssue(path=f"points[{i}] (id {p.id!r}).{exc.key}", message=exc.message,
                                 point_index=i, point_id=p.id, key=exc.key))
    return placed, out


def tip_layer(model, tip: np.ndarray, inside: list[str]) -> str:
    kinds = {model.structures[s].kind for s in inside}
    if any(is_orbit(model.structures[s]) for s in inside):
        return "orbit"
    for k in ("artery", "nerve", "duct", "gland", "muscle"):
        if k in kinds:
            return k
    d, i = model.depth_below_skin(tip[None])
    d, i = float(d[0]), int(i[0])
    if d < 0:
        return "outside"
    if d < model.skin_thickness_mm:
        return "skin"
    if d < model.layer_fat_mm[i]:
        return "subcutaneous_fat"
    if d < model.layer_smas_mm[i]:
        return "smas"
    if d < model.layer_bone_mm[i]:
        return "deep"
    return "bone"


@dataclass
class _TipPlace:
    """Where a tip lies in the face's layers: its depth below the skin, the skin's outward normal over it, and
    the model's layer depths there (for the planes of a corridor)."""

    depth_mm: float
    normal: np.ndarray
    fat_mm: float
    smas_mm: float
    bone_mm: float

    @classmethod
    def of(cls, model, tip: np.ndarray) -> _TipPlace:
        d, rows = model.depth_below_skin(tip[None])
        i = int(rows[0])
        n = np.asarray(model.depth_normals[i], dtype=float)
        return cls(float(d[0]), n / np.linalg.norm(n), float(model.layer_fat_mm[i]), float(model.layer_smas_mm[i]),
                   float(model.layer_bone_mm[i]))

    def band(self, layer: str) -> tuple[float, float]:
        """The depth band of one of the model's layers at the tip."""
        return {"subcutaneous_fat": (0.0, self.fat_mm), "smas": (self.fat_mm, self.smas_mm),
                "deep": (self.smas_mm, self.bone_mm)}[layer]


def _planes_at(model, cor, sid: str, tip: np.ndarray, closest: np.ndarray, radius_mm: float, at: _TipPlace):
    """The tissue planes (variability.yaml ``planes``) a structure may run in at the tip's height, as
    ``(names, lateral_mm, tip_depth_mm, bands)`` for :meth:`CorridorResult.make`; None when none is known there
    (the corridor stays a round tube)."""
    side = side_of(sid)
    names, bands = [], []
    for pl in cor.planes:
        if pl.height is not None:
            lm = model.landmarks.get(f"{pl.height.landmark}_{side}")
            if lm is None or not pl.height.covers(float(tip[1] - lm[1])):
                continue
        lo, hi = pl.depth_mm if pl.depth_mm is not None else at.band(str(pl.layer))
        names.append(pl.name)
        bands.append((max(0.0, lo - radius_mm), hi + radius_mm))
    if not names:
        return None
    v = tip - closest
    lateral = float(np.linalg.norm(v - (v @ at.normal) * at.normal))
    return " or ".join(names), lateral, at.depth_mm, tuple(bands)


@dataclass(frozen=True)
class _CorridorTable:
    """Every artery, nerve and duct course of a face with its corridor, packed once per face: the segments of
    all the mean courses in one array (structure ``k`` owns rows ``starts[k]:starts[k + 1]``) and a bounding box
    per course, so that a tip is measured only against the courses within reach, each in one vectorised step
    over its segments (distance to the segments, not only to the vertices)."""

    sids: tuple[str, ...]
    kinds: tuple[str, ...]
    corridors: tuple[Any, ...]
    own_mm: np.ndarray
    radius_mm: np.ndarray
    starts: np.ndarray
    a: np.ndarray
    ab: np.ndarray
    abab: np.ndarray
    box_lo: np.ndarray
    box_hi: np.ndarray

    @classmethod
    def build(cls, model) -> _CorridorTable:
        var = load_variability()
        sids, kinds, cors, own, a, ab, starts = [], [], [], [], [], [], [0]
        for sid, st in model.structures.items():
            cor = var.corridor_of(sid) if st.kind in ("artery", "nerve", "duct") else None
            if cor is None or st.centreline is None or len(st.centreline) < 2:
                continue
            line = np.asarray(st.centreline, dtype=float)
            sids.append(sid)
            kinds.append(st.kind)
            cors.append(cor)
            own.append(float(st.radius_mm or 0.0))
            a.append(line[:-1])
            ab.append(line[1:] - line[:-1])
            starts.append(starts[-1] + len(line) - 1)
        own_mm = np.asarray(own, dtype=float)
        a_all = np.concatenate(a) if a else np.zeros((0, 3))
        ab_all = np.concatenate(ab) if ab else np.zeros((0, 3))
        lo = np.asarray([np.minimum(x, x + y).min(axis=0) for x, y in zip(a, ab, strict=True)]).reshape(-1, 3)
        hi = np.asarray([np.maximum(x, x + y).max(axis=0) for x, y in zip(a, ab, strict=True)]).reshape(-1, 3)
        return cls(tuple(sids), tuple(kinds), tuple(cors), own_mm,
                   np.asarray([c.corridor_mm for c in cors], dtype=float) + own_mm, np.asarray(starts),
                   a_all, ab_all, np.maximum(np.einsum("ij,ij->i", ab_all, ab_all), 1e-12), lo, hi)

    def candidates(self, tip: np.ndarray, reach_mm: float) -> np.ndarray:
        """The structures whose course's bounding box lies within ``reach_mm`` plus the corridor's radius of
        ``tip`` (a box is never farther than the course inside it: no structure in reach is left out)."""
        gap = np.maximum(np.maximum(self.box_lo - tip, tip - self.box_hi), 0.0)
        return np.nonzero(np.sqrt(np.einsum("ij,ij->i", gap, gap)) - reach_mm <= self.radius_mm)[0]

    def measure(self, tip: np.ndarray, k: int) -> tuple[float, np.ndarray]:
        """The distance from ``tip`` to structure ``k``'s mean course (its segments) and the closest point."""
        lo, hi = self.starts[k], self.starts[k + 1]
        a, ab = self.a[lo:hi], self.ab[lo:hi]
        t = np.clip(np.einsum("ij,ij->i", tip - a, ab) / self.abab[lo:hi], 0.0, 1.0)
        q = a + t[:, None] * ab
        d = np.linalg.norm(q - tip, axis=1)
        i = int(np.argmin(d))
        return float(d[i]), q[i]


_TABLE_KEY = "planning.corridor_table"


def _corridor_table(model) -> _CorridorTable:
    """The face's packed corridor table, built on first use and kept with the face (``FaceModel.derived``)."""
    slot = getattr(model, "derived", None)
    if slot is None:
        return _CorridorTable.build(model)
    table = slot.get(_TABLE_KEY)
    if table is None:
        table = slot[_TABLE_KEY] = _CorridorTable.build(model)
    return table


def corridors_near(model, tip: np.ndarray, r_likely: float, r_possible: float) -> list[CorridorResult]:
    """The corridors (mean course and published spread, anatomy/data/spread/variability.yaml) of every artery,
    nerve, the duct and every foramen that the possible field reaches, nearest mean course first.

    Where the sources give a structure's tissue plane at the tip's height, the tip is inside its corridor only
    when it lies within the lateral spread and in the depth band of that plane (docs/severity.md)."""
    var = load_variability()
    table = _corridor_table(model)
    tip = np.asarray(tip, dtype=float)
    out: list[CorridorResult] = []
    at: _TipPlace | None = None
    for k in table.candidates(tip, r_possible):
        d, closest = table.measure(tip, int(k))
        if d - r_possible > table.radius_mm[k]:
            continue
        sid, cor, own = table.sids[k], table.corridors[k], float(table.own_mm[k])
        planes = None
        if cor.planes:
            at = at or _TipPlace.of(model, tip)
            planes = _planes_at(model, cor, sid, tip, closest, own, at)
        out.append(CorridorResult.make(sid, table.kinds[k], d, float(table.radius_mm[k]), cor.share, r_likely,
                                       r_possible, planes=planes))
    for base in BONE_LANDMARKS:
        fc = var.foramina[base]
        for side in ("left", "right"):
            lm, nerve = f"{base}_{side}", f"{fc.nerve}_{side}"
            if lm not in model.landmarks or nerve not in model.structures:
                continue
            d = float(np.linalg.norm(tip - _lm(model, lm)))
            if d - r_possible <= fc.corridor_mm:
                out.append(CorridorResult.make(nerve, "foramen", d, fc.corridor_mm, fc.share, r_likely, r_possible,
                                               foramen=lm))
    out.sort(key=lambda c: (c.distance_mm - c.corridor_mm, c.structure))
    return out


def analyse_point(model, plan: Plan, point: Point, placed: Placed | None = None) -> PointResult:
    """Analyse one point: the CONTRACTS ``points[]`` entry, its findings from every point rule. ``placed``: the
    point already placed on ``model`` (:func:`place_all`); placed here when not given."""
    placed = placed if placed is not None else place(model, point)
    tip = placed.tip_mm
    eff = point_radius(plan, point)
    idx = model.index
    inside = idx.containing(tip)
    target = point.target
    layer = tip_layer(model, tip, inside)
    # a structure across a fascial plane from the tip is reached by an attenuated field (docs/diffusion.md)
    near = plane_adjusted(idx.neighbours(tip, eff.outer_mm + thresholds().analysis.neighbour_margin_mm),
                          inside, layer, target, eff.nominal_mm)
    corridors = corridors_near(model, tip, eff.nominal_mm, eff.outer_mm)
    ctx = PointContext(model=model, plan=plan, point=point, entry=placed.entry_mm, tip=tip,
                       depth_mm=placed.depth_mm, inside=inside, near=near, r_nom=eff.nominal_mm,
                       r_in=eff.inner_mm, r_out=eff.outer_mm, corridors=corridors)
    # where the tip is: the target if it holds the tip, else the most consequential structure
    tip_in = None
    for pref in ("artery", "nerve", "duct", "orbit", "gland", "muscle"):
        for s in inside:
            orbital = is_orbit(model.structures[s])
            if (pref == "orbit" and orbital) or (model.structures[s].kind == pref and not orbital):
                tip_in = tip_in or s
    if target in inside:
        tip_in = target
    target_hit = bool(target is not None and target in inside)
    overlap, reached = 0.0, False
    if target is not None:
        nb = near.get(target)
        if target_hit or (nb is not None and nb.distance_mm < eff.nominal_mm):
            overlap = idx.sphere_fractions(tip, eff.nominal_mm, [target])[target]
            reached = overlap > 0.0 or target_hit
    findings: list[Finding] = []
    for rule in point_rules():
        findings += rule(ctx)
    findings.sort(key=lambda f: (-f.severity.rank, f.distance_mm if f.distance_mm is not None else 0.0))
    return PointResult.make(
        id=point.id, entry_mm=placed.entry_mm, tip_mm=tip, depth_mm=placed.depth_mm,
        layer=layer, tip_in=tip_in, target=target, target_hit=target_hit,
        target_reached=reached, target_overlap=overlap, units=point.units, volume_ml=plan.volume_ml_of(point),
        radius_mm=eff.nominal_mm, radius_inner_mm=eff.inner_mm, radius_outer_mm=eff.outer_mm,
        session=point.session_id, findings=findings, corridors=corridors,
    )


def plan_findings(model, plan: Plan, points_out: list[PointResult]) -> tuple[Totals, list[Finding]]:
    """Totals by structure, side and session, and the findings of every plan rule."""
    by_structure: dict[str, float] = {}
    by_side: dict[str, float] = {}
    by_session: dict[str, float] = {}
    total = 0.0
    group_side: dict[tuple[str, str, str], float] = {}
    for p, res in zip(plan.points, points_out, strict=True):
        total += float(p.units)
        key = p.target or res.tip_in or "unassigned"
        by_structure[key] = by_structure.get(key, 0.0) + float(p.units)
        sd = point_side(p.target, float(res.entry_mm[0]))  # the one side rule (planning.sides)
        by_side[sd] = by_side.get(sd, 0.0) + float(p.units)
        ses = res.session
        by_session[ses] = by_session.get(ses, 0.0) + float(p.units)
        if p.target:
            k = (dose_group_of(p.target), side_of(p.target), ses)
            group_side[k] = group_side.get(k, 0.0) + float(plan.ona_units_of(p))
    ctx = PlanContext(model=model, plan=plan, points=points_out, group_side=group_side)
    findings: list[Finding] = []
    for rule in plan_rules():
        findings += rule(ctx)
    totals = Totals.make(round(total, 3), by_structure, by_side, by_session)
    return totals, findings


def depths_along(model, entry_mm: Any, toward_mm: Any, structure_id: str, max_mm: float = 40.0,
                 step_mm: float = 0.1) -> list[tuple[float, float]]:
    """Where a structure lies along a needle's line: the depths below the skin entry (mm, along the
    line from ``entry_mm`` toward ``toward_mm``, e.g. the tip) at which the line is inside it, as
    ``[(from, to), ...]``, shallowest first; empty when the line misses it within ``max_mm``.

    A depth here is measured along the needle, as the plan's ``depth_mm`` is (at an angle it is
    longer than the perpendicular depth).
    """
    entry = np.asarray(entry_mm, dtype=float)
    d = np.asarray(toward_mm, dtype=float) - entry
    n = float(np.linalg.norm(d))
    if n < 1e-9:  # a point at depth 0: along the inward skin normal
        _, normal = model.skin_point(entry)
        d = -np.asarray(normal, dtype=float)
        n = float(np.linalg.norm(d))
    d = d / n
    t = np.arange(0.0, max_mm + step_mm / 2, step_mm)
    inside = model.index.field_at(structure_id, entry + t[:, None] * d) < 0
    if not inside.any():
        return []
    edges = np.diff(np.r_[0, inside.astype(np.int8), 0])
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1
    return [(round(float(t[a]), 1), round(float(t[b]), 1)) for a, b in zip(starts, stops, strict=True)]
