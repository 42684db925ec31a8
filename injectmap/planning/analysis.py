"""Per-point and per-plan analysis against the face model: placement, tip location, target reach,
neighbours in reach, named safety rules, dose totals. Pure: no rendering, no web.

Conventions: mm in the CONTRACTS frame; ``distance_mm`` of a sphere finding is from the sphere's
surface to the structure (negative: the sphere reaches into it by that much); of a needle finding,
from the tip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.ids import BONE_LANDMARKS, side_of
from injectmap.anatomy.variability import load_variability
from injectmap.planning.datafiles import load_model
from injectmap.planning.diffusion import plane_adjusted, point_radius
from injectmap.planning.doses import dose_group_of
from injectmap.planning.plan import MAX_DEPTH_MM, Plan, PlanIssue, Point
from injectmap.planning.results import CorridorResult, Finding, PointResult, Totals
from injectmap.planning.rules import PlanContext, PointContext, is_orbit, plan_rules, point_rules, thresholds
from injectmap.planning.sides import point_side


class PlacementError(UserFacing, ValueError):
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
    raw = _entry_aim(model, point)
    snapped, _ = model.skin_point(raw)
    return _checked_entry(point, raw, snapped)


def _entry_aim(model, point: Point) -> np.ndarray:
    """Where the plan puts a point's entry before it is snapped to the skin: ``entry_mm``, or the landmark moved by
    the offsets (CONTRACTS: the entry is the skin point nearest to it)."""
    pl = point.placement
    if pl.entry_mm is not None:
        return np.asarray(pl.entry_mm, dtype=float)
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
    return p


def _checked_entry(point: Point, raw: np.ndarray, snapped: np.ndarray) -> np.ndarray:
    """The snapped entry; an ``entry_mm`` too far from the skin is a :class:`PlacementError`."""
    if point.placement.entry_mm is not None:
        limit = thresholds().analysis.max_entry_from_skin_mm
        if np.linalg.norm(snapped - raw) > limit:
            raise PlacementError(point.id, "entry_mm", f"the entry is {np.linalg.norm(snapped - raw):.1f} mm "
                                 f"from the skin (at most {limit:g} mm)")
    return snapped


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
    along, path = _needle_path(point, placed)
    depth, rows = model.depth_below_skin(path)
    _judge_needle(model, point, placed, along, depth, rows)


def _needle_path(point: Point, placed: Placed) -> tuple[np.ndarray, np.ndarray]:
    """The needle's samples (fractions along it, and the points) that :func:`check_needle` measures; an explicit
    tip beyond the depth limit is refused first."""
    lim = placement_limits()
    if point.tip_mm is not None and placed.depth_mm > MAX_DEPTH_MM:
        key, _ = _needle_key(point)
        raise PlacementError(point.id, key, f"the tip is {placed.depth_mm:.1f} mm from the skin entry "
                             f"(at most {MAX_DEPTH_MM:g} mm, as for depth_mm)")
    n_steps = max(1, int(np.ceil(placed.depth_mm / lim.path_step_mm)))
    along = np.linspace(0.0, 1.0, n_steps + 1)[1:]
    return along, placed.entry_mm + along[:, None] * (placed.tip_mm - placed.entry_mm)


def _judge_needle(model, point: Point, placed: Placed, along: np.ndarray, depth: np.ndarray, rows: np.ndarray) -> None:
    """:func:`check_needle`'s verdict on the measured depths of the needle's samples."""
    lim = placement_limits()
    key, how = _needle_key(point)
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
        # two depths: the plan's, along the needle, and the tip's below the skin straight in from the nearest skin
        # (where the skin curves away, as at the chin, the second is the smaller); the bone's is of the second kind
        raise PlacementError(point.id, key, f"the tip, {placed.depth_mm:.1f} mm along the needle, is {tip_depth:.1f} mm "
                             f"below the skin straight in from the nearest skin, {tip_depth - bone:.1f} mm beyond the "
                             f"bone there (the bone is {bone:.1f} mm below the skin there on this face; a tip may be "
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
    placed = _placed(model, point, entry, n)
    check_needle(model, point, placed)
    return placed


def _placed(model, point: Point, entry: np.ndarray, n: np.ndarray) -> Placed:
    n = n / np.linalg.norm(n)  # the skin mesh's normals are not all of unit length (10% under 0.95, 0.62 at least)
    if point.tip_mm is not None:
        tip = np.asarray(point.tip_mm, dtype=float)
        return Placed(entry, tip, float(np.linalg.norm(tip - entry)), n)
    depth = float(point.depth_mm or 0.0)
    return Placed(entry, entry + _direction(model, point, entry, n) * depth, depth, n)


def place_many(model, points: Sequence[Point]) -> tuple[list[Placed | None], list[PlacementError]]:
    """Every point placed as :func:`place` places it (the same entries, tips and errors), with the skin asked once
    for all entries, once for their normals and once for every sample of every needle.

    Returns
    -------
    (list of Placed or None, list of PlacementError)
        For each point its needle (None where it cannot be placed), and the errors of those that cannot, in order.
    """
    placed, errors = _place_many(model, points)
    return placed, [errors[i] for i in sorted(errors)]


def _place_many(model, points: Sequence[Point]) -> tuple[list[Placed | None], dict[int, PlacementError]]:
    """:func:`place_many` with each error keyed by the point's index."""
    points = list(points)
    if not points:
        return [], {}
    aims = np.asarray([_entry_aim(model, p) for p in points], dtype=float).reshape(-1, 3)
    _, rows = model.skin_tree.query(aims)
    placed: list[Placed | None] = [None] * len(points)
    errors: dict[int, PlacementError] = {}
    entries: dict[int, np.ndarray] = {}
    for i, p in enumerate(points):
        try:
            entries[i] = _checked_entry(p, aims[i], model.depth_points_mm[rows[i]].copy())
        except PlacementError as exc:
            errors[i] = exc
    ok = sorted(entries)
    if ok:
        _, nrows = model.skin_tree.query(np.asarray([entries[i] for i in ok]))
        for i, r in zip(ok, nrows, strict=True):
            placed[i] = _placed(model, points[i], entries[i], model.depth_normals[r].copy())
    paths = _needle_paths(points, placed, ok, errors)
    if paths:
        order = sorted(paths)
        depth, drows = model.depth_below_skin(np.concatenate([paths[i][1] for i in order]))
        sizes = np.asarray([len(paths[i][0]) for i in order])
        stops = np.cumsum(sizes)
        starts = stops - sizes
        # _judge_needle's three tests for every needle at once; only a needle that may fail one is judged in full
        # (the same tests, which raise the error with its message)
        lim = placement_limits()
        tip_depth = depth[stops - 1]
        shallowest = np.minimum.reduceat(depth, starts)
        bone = model.layer_bone_mm[drows[stops - 1]]
        doubt = ((tip_depth < -lim.max_tip_outside_skin_mm) | (shallowest < -lim.max_tip_outside_skin_mm)
                 | (tip_depth > bone + lim.max_tip_beyond_bone_mm))
        for j in np.nonzero(doubt)[0].tolist():
            i, start, stop = order[j], starts[j], stops[j]
            try:
                _judge_needle(model, points[i], placed[i], paths[i][0], depth[start:stop], drows[start:stop])  # type: ignore[arg-type]
            except PlacementError as exc:
                errors[i] = exc
    for i in errors:
        placed[i] = None
    return placed, errors


@lru_cache(maxsize=64)
def _along(n_steps: int) -> np.ndarray:
    """The fractions along a needle of its ``n_steps`` samples (:func:`_needle_path`), kept per count."""
    along = np.linspace(0.0, 1.0, n_steps + 1)[1:]
    along.flags.writeable = False
    return along


def _needle_paths(points: Sequence[Point], placed: list[Placed | None], ok: list[int],
                  errors: dict[int, PlacementError]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`_needle_path` of the points ``ok`` (an error goes to ``errors``), the needles with the same number of
    samples computed in one step (the same arithmetic, element by element)."""
    lim = placement_limits()
    groups: dict[int, list[int]] = {}
    for i in ok:
        point, pl = points[i], placed[i]
        assert pl is not None
        if point.tip_mm is not None and pl.depth_mm > MAX_DEPTH_MM:
            try:
                _needle_path(point, pl)
            except PlacementError as exc:
                errors[i] = exc
            continue
        groups.setdefault(max(1, int(np.ceil(pl.depth_mm / lim.path_step_mm))), []).append(i)
    paths: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for n_steps, rows in groups.items():
        along = _along(n_steps)
        entry = np.asarray([placed[i].entry_mm for i in rows])  # type: ignore[union-attr]
        tip = np.asarray([placed[i].tip_mm for i in rows])  # type: ignore[union-attr]
        path = entry[:, None, :] + along[None, :, None] * (tip - entry)[:, None, :]
        for j, i in enumerate(rows):
            paths[i] = (along, path[j])
    return paths


def placement_issues(model, plan: Plan) -> list[PlanIssue]:
    """Every point that cannot be placed on ``model``, as plan issues naming the point and the key.

    The one check of a plan against a face: ``injectmap check``, ``injectmap plan validate``, the app
    and the trainer all run it, so they agree on every plan.
    """
    return place_all(model, plan)[1]


def place_all(model, plan: Plan) -> tuple[list[Placed | None], list[PlanIssue]]:
    """Every point placed on ``model`` (None where it cannot be) and the plan issues of those that cannot
    (:func:`placement_issues`); ``injectmap check`` places each point once (:func:`place_many`) and analyses the
    placed needles."""
    placed, errors = _place_many(model, plan.points)
    out = [PlanIssue(path=f"points[{i}] (id {e.point_id!r}).{e.key}", message=e.message, point_index=i,
                     point_id=e.point_id, key=e.key) for i, e in sorted(errors.items())]
    return placed, out


def tip_layer(model, tip: np.ndarray, inside: list[str], at: tuple[float, int] | None = None) -> str:
    """The layer or kind of structure the tip lies in; ``at``: the tip's depth below the skin and its skin row when
    already measured (:func:`analyse_points`)."""
    kinds = {model.structures[s].kind for s in inside}
    if any(is_orbit(model.structures[s]) for s in inside):
        return "orbit"
    for k in ("artery", "nerve", "duct", "gland", "muscle"):
        if k in kinds:
            return k
    if at is None:
        d, i = model.depth_below_skin(tip[None])
        at = (float(d[0]), int(i[0]))
    d, i = at
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
        return cls.at(model, float(d[0]), int(rows[0]))

    @classmethod
    def at(cls, model, depth_mm: float, row: int) -> _TipPlace:
        """The place of a tip whose depth below the skin and nearest skin row are already known."""
        n = np.asarray(model.depth_normals[row], dtype=float)
        return cls(float(depth_mm), n / np.linalg.norm(n), float(model.layer_fat_mm[row]),
                   float(model.layer_smas_mm[row]), float(model.layer_bone_mm[row]))

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
    #: the foramina of the face (a bone landmark and its nerve, both sides where the face has them): the landmark,
    #: the nerve, the corridor and its share (variability.yaml ``foramina``), and the landmarks' positions (F, 3)
    foramina: tuple[tuple[str, str, float, float], ...]
    foramen_mm: np.ndarray

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
        foramina, at = [], []
        for base in BONE_LANDMARKS:
            fc = var.foramina[base]
            for side in ("left", "right"):
                lm, nerve = f"{base}_{side}", f"{fc.nerve}_{side}"
                if lm in model.landmarks and nerve in model.structures:
                    foramina.append((lm, nerve, fc.corridor_mm, fc.share))
                    at.append(_lm(model, lm))
        return cls(tuple(sids), tuple(kinds), tuple(cors), own_mm,
                   np.asarray([c.corridor_mm for c in cors], dtype=float) + own_mm, np.asarray(starts),
                   a_all, ab_all, np.maximum(np.einsum("ij,ij->i", ab_all, ab_all), 1e-12), lo, hi,
                   tuple(foramina), np.asarray(at, dtype=float).reshape(-1, 3))

    def candidates_many(self, tips: np.ndarray, reach_mm: np.ndarray) -> np.ndarray:
        """:meth:`candidates` of many tips, each with its own reach, as a (tips, courses) mask."""
        tips = np.asarray(tips, dtype=float).reshape(-1, 1, 3)
        gap = np.maximum(np.maximum(self.box_lo[None] - tips, tips - self.box_hi[None]), 0.0).reshape(-1, 3)
        dist = np.sqrt(np.einsum("ij,ij->i", gap, gap)).reshape(len(tips), -1)
        return dist - np.asarray(reach_mm, dtype=float)[:, None] <= self.radius_mm[None]

    def foramen_distances(self, tips: np.ndarray) -> np.ndarray:
        """The distance from each tip to each foramen (tips, F): ``np.linalg.norm(tip - landmark)`` of each pair,
        the same bits (numpy's norm of a 3-vector is the square root of its dot product, summed in this order)."""
        v = np.asarray(tips, dtype=float).reshape(-1, 1, 3) - self.foramen_mm[None]
        return np.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1] + v[..., 2] * v[..., 2])

    def candidates(self, tip: np.ndarray, reach_mm: float) -> np.ndarray:
        """The structures whose course's bounding box lies within ``reach_mm`` plus the corridor's radius of
        ``tip`` (a box is never farther than the course inside it: no structure in reach is left out)."""
        gap = np.maximum(np.maximum(self.box_lo - tip, tip - self.box_hi), 0.0)
        return np.nonzero(np.sqrt(np.einsum("ij,ij->i", gap, gap)) - reach_mm <= self.radius_mm)[0]

    def measure_many(self, tips: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`measure` of many tips against structure ``k`` at once: the distances (m,) and closest points
        (m, 3), each the same as :meth:`measure` gives for that tip."""
        lo, hi = self.starts[k], self.starts[k + 1]
        a, ab = self.a[lo:hi], self.ab[lo:hi]
        tips = np.asarray(tips, dtype=float).reshape(-1, 1, 3)
        t = np.clip(np.einsum("pij,ij->pi", tips - a, ab) / self.abab[lo:hi], 0.0, 1.0)
        q = a + t[:, :, None] * ab
        d = np.linalg.norm(q - tips, axis=2)
        i = np.argmin(d, axis=1)
        rows = np.arange(len(d))
        return d[rows, i], q[rows, i]

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


def corridors_near(model, tip: np.ndarray, r_likely: float, r_possible: float,
                   at: _TipPlace | tuple[float, int] | None = None,
                   measured: dict[int, tuple[float, np.ndarray]] | None = None,
                   foramen_mm: np.ndarray | None = None) -> list[CorridorResult]:
    """The corridors (mean course and published spread, anatomy/data/spread/variability.yaml) of every artery,
    nerve, the duct and every foramen that the possible field reaches, nearest mean course first.

    Where the sources give a structure's tissue plane at the tip's height, the tip is inside its corridor only
    when it lies within the lateral spread and in the depth band of that plane (docs/severity.md). ``at``: the
    tip's place in the layers (or its depth below the skin and skin row) when already measured; ``measured``: the
    distance and closest point of each course within reach (every candidate of :meth:`_CorridorTable.candidates`),
    by its row in the face's corridor table, and ``foramen_mm`` the tip's distance to each of the table's foramina,
    when already measured (:func:`analyse_points`)."""
    table = _corridor_table(model)
    tip = np.asarray(tip, dtype=float)
    out: list[CorridorResult] = []
    rows = sorted(measured) if measured is not None else table.candidates(tip, r_possible)
    for k in rows:
        d, closest = measured[int(k)] if measured is not None else table.measure(tip, int(k))
        if d - r_possible > table.radius_mm[k]:
            continue
        sid, cor, own = table.sids[k], table.corridors[k], float(table.own_mm[k])
        planes = None
        if cor.planes:
            if not isinstance(at, _TipPlace):
                at = _TipPlace.at(model, *at) if at is not None else _TipPlace.of(model, tip)
            planes = _planes_at(model, cor, sid, tip, closest, own, at)
        out.append(CorridorResult.make(sid, table.kinds[k], d, float(table.radius_mm[k]), cor.share, r_likely,
                                       r_possible, planes=planes))
    if foramen_mm is not None:
        for (lm, nerve, corridor, share), d in zip(table.foramina, foramen_mm.tolist(), strict=True):
            if d - r_possible <= corridor:
                out.append(CorridorResult.make(nerve, "foramen", d, corridor, share, r_likely, r_possible,
                                               foramen=lm))
        out.sort(key=lambda c: (c.distance_mm - c.corridor_mm, c.structure))
        return out
    var = load_variability()
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
    near = idx.neighbours(tip, eff.outer_mm + thresholds().analysis.neighbour_margin_mm)
    return _analysed(model, plan, point, placed, eff, inside, near, None)


def analyse_points(model, plan: Plan, points: list[Point] | None = None,
                   placed: list[Placed] | None = None) -> list[PointResult]:
    """Analyse many points at once: the same results as :func:`analyse_point` on each, byte for byte, with the
    spatial questions asked once per structure for every point instead of once per point per structure
    (containment, exact neighbours, the depth below the skin); the rules then run per point on those answers.

    Parameters
    ----------
    model : FaceModel
        The face.
    plan : Plan
        The plan the points belong to (product, dilution).
    points : list of Point, optional
        The points to analyse (default: every point of the plan).
    placed : list of Placed, optional
        Those points already placed (:func:`place_many`); placed here when not given.

    Raises
    ------
    PlacementError
        For the first point that cannot be placed (as :func:`analyse_point` would).
    """
    pts = list(plan.points) if points is None else list(points)
    if not pts:
        return []
    if placed is None:
        placed_or_none, issues = place_many(model, pts)
        if issues:
            raise issues[0]
        placed = [p for p in placed_or_none if p is not None]
    idx = model.index
    effs = [point_radius(plan, p) for p in pts]
    margin = thresholds().analysis.neighbour_margin_mm
    tips = np.asarray([pl.tip_mm for pl in placed], dtype=float).reshape(-1, 3)
    inside_all = idx.containing_many(tips)
    near_all = idx.neighbours_many(tips, [e.outer_mm + margin for e in effs])
    depth, rows = model.depth_below_skin(tips)
    fractions = _field_fractions_many(model, pts, tips, effs, inside_all, near_all)
    courses = _courses_many(model, tips, effs)
    foramina = _corridor_table(model).foramen_distances(tips)
    return [_analysed(model, plan, p, pl, e, ins, nb, (float(d), int(r)), fr, cs, fo)
            for p, pl, e, ins, nb, d, r, fr, cs, fo in zip(pts, placed, effs, inside_all, near_all, depth.tolist(),
                                                           rows.tolist(), fractions, courses, foramina, strict=True)]


def _courses_many(model, tips: np.ndarray, effs: list) -> list[dict[int, tuple[float, np.ndarray]]]:
    """For each tip, the distance to every vessel, nerve or duct course within its possible field's reach and the
    closest point (as corridors_near measures them), measured once per course for all the tips near it."""
    table = _corridor_table(model)
    wanted = table.candidates_many(tips, np.asarray([e.outer_mm for e in effs], dtype=float))
    out: list[dict[int, tuple[float, np.ndarray]]] = [{} for _ in range(len(tips))]
    for k in np.nonzero(wanted.any(axis=0))[0].tolist():
        rows = np.nonzero(wanted[:, k])[0]
        d, q = table.measure_many(tips[rows], k)
        for i, dist, closest in zip(rows.tolist(), d.tolist(), q, strict=True):
            out[i][k] = (dist, closest)
    return out


def _field_fractions_many(model, points: list[Point], tips: np.ndarray, effs: list, inside_all: list[list[str]],
                          near_all: list[dict]) -> list[dict[str, tuple[float, float]]]:
    """For each point, the share of its likely and of its possible field inside each structure the rule on spared
    structures (rules.sphere_spared) or the target's overlap will ask about, every point's field samples measured
    in one query per structure. The fields' planes (diffusion.plane_adjusted) only lengthen a distance, so the
    structures asked about are among those chosen here by the raw distances; the likely field's share is measured
    only where the likely field may reach (NaN elsewhere, never read)."""
    both: dict[str, list[int]] = {}
    outer: dict[str, list[int]] = {}
    for i, (p, ins, near) in enumerate(zip(points, inside_all, near_all, strict=True)):
        e = effs[i]
        for s, nb in near.items():
            st = model.structures[s]
            if s in ins or not st.spare or st.kind not in ("muscle", "layer", "gland") or nb.distance_mm >= e.outer_mm:
                continue
            (both if nb.distance_mm < e.nominal_mm else outer).setdefault(s, []).append(i)
        t = p.target
        if t is not None and t in model.index.volumes and (t in ins or (t in near and near[t].distance_mm < e.nominal_mm)):
            if i not in both.get(t, []):
                both.setdefault(t, []).append(i)
                if i in outer.get(t, []):
                    outer[t].remove(i)
    out: list[dict[str, tuple[float, float]]] = [{} for _ in points]
    idx = model.index
    for s, rows in both.items():
        radii = np.asarray([[effs[i].nominal_mm, effs[i].outer_mm] for i in rows], dtype=float)
        for i, (nom, possible) in zip(rows, idx.sphere_fractions_many(s, tips[rows], radii), strict=True):
            out[i][s] = (float(nom), float(possible))
    for s, rows in outer.items():
        radii = np.asarray([[effs[i].outer_mm] for i in rows], dtype=float)
        for i, (possible,) in zip(rows, idx.sphere_fractions_many(s, tips[rows], radii), strict=True):
            out[i][s] = (float("nan"), float(possible))
    return out


def _analysed(model, plan: Plan, point: Point, placed: Placed, eff, inside: list[str], neighbours: dict,
              at: tuple[float, int] | None, fractions: dict[str, tuple[float, float]] | None = None,
              courses: dict[int, tuple[float, np.ndarray]] | None = None,
              foramina: np.ndarray | None = None) -> PointResult:
    """The rest of a point's analysis once the spatial index has answered: what contains the tip (``inside``),
    the structures within reach (``neighbours``), when measured, the tip's depth and skin row (``at``) and the
    shares of its fields inside the structures near it (``fractions``)."""
    tip = placed.tip_mm
    idx = model.index
    target = point.target
    layer = tip_layer(model, tip, inside, at)
    # a structure across a fascial plane from the tip is reached by an attenuated field (docs/diffusion.md)
    near = plane_adjusted(neighbours, inside, layer, target, eff.nominal_mm)
    corridors = corridors_near(model, tip, eff.nominal_mm, eff.outer_mm, at, courses, foramina)
    ctx = PointContext(model=model, plan=plan, point=point, entry=placed.entry_mm, tip=tip,
                       depth_mm=placed.depth_mm, inside=inside, near=near, r_nom=eff.nominal_mm,
                       r_in=eff.inner_mm, r_out=eff.outer_mm, corridors=corridors, fractions=fractions or {},
                       tip_near=neighbours)
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
            known = (fractions or {}).get(target)
            overlap = known[0] if known is not None else idx.sphere_fractions(tip, eff.nominal_mm, [target])[target]
            reached = overlap > 0.0 or target_hit
    findings: list[Finding] = []
    for rule in point_rules():
        findings += rule(ctx)
    findings.sort(key=finding_order)
    return PointResult.make(
        id=point.id, entry_mm=placed.entry_mm, tip_mm=tip, depth_mm=placed.depth_mm,
        layer=layer, tip_in=tip_in, target=target, target_hit=target_hit,
        target_reached=reached, target_overlap=overlap, units=point.units, volume_ml=plan.volume_ml_of(point),
        radius_mm=eff.nominal_mm, radius_inner_mm=eff.inner_mm, radius_outer_mm=eff.outer_mm,
        session=point.session_id, findings=findings, corridors=corridors,
    )


def plan_findings(model, plan: Plan, points_out: list[PointResult]) -> tuple[Totals, list[Finding]]:
    """Totals by structure, side and session, and the findings of every plan rule (:func:`plan_analysis`'s first
    two)."""
    totals, findings, _ = plan_analysis(model, plan, points_out)
    return totals, findings


def plan_analysis(model, plan: Plan, points_out: list[PointResult]) -> tuple[Totals, list[Finding], list[PointResult]]:
    """Totals by structure, side and session, the findings of every plan rule, and the point results with what the
    plan rules put on a point (the point whose dose makes its muscle's overdose: ``point_dose_above_range``), each
    point's findings worst first."""
    by_structure: dict[str, float] = {}
    by_side: dict[str, float] = {}
    by_session: dict[str, float] = {}
    total = 0.0
    group_side: dict[tuple[str, str, str], float] = {}
    point_doses: dict[str, tuple[tuple[str, str, str], float, str]] = {}
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
            ona = float(plan.ona_units_of(p))
            group_side[k] = group_side.get(k, 0.0) + ona
            point_doses[p.id] = (k, ona, p.target)
    ctx = PlanContext(model=model, plan=plan, points=points_out, group_side=group_side, point_doses=point_doses)
    findings: list[Finding] = []
    for rule in plan_rules():
        findings += rule(ctx)
    totals = Totals.make(round(total, 3), by_structure, by_side, by_session)
    points = [res if res.id not in ctx.point_findings else
              replace(res, findings=tuple(sorted(res.findings + tuple(ctx.point_findings[res.id]), key=finding_order)))
              for res in points_out]
    return totals, findings, points


def finding_order(f: Finding) -> tuple[int, float]:
    """The order of a point's findings: worst first, then the nearest (the most negative distance) first."""
    return (-f.severity.rank, f.distance_mm if f.distance_mm is not None else 0.0)


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
