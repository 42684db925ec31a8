"""One spatial index over the whole model, built once: the hot path of every analysis.

- Distances: one KD-tree over samples of every structure's surface (closed volumes: their mesh
  vertices; tubes: their centreline, with the radius subtracted). Per-structure minima come from one
  ball query and a grouped minimum, so a point is analysed against every structure at once.
- Containment and sphere overlap: each closed volume keeps its implicit field on a grid (negative
  inside); a tube contains a point when its centreline is nearer than its radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

#: structures that are layers of the whole head: not "neighbours" of a point
LAYER_IDS = ("skin", "subcutaneous_fat", "smas", "bone")


def unit_ball_samples(n: int = 700, seed: int = 7) -> np.ndarray:
    """Quasi-uniform points inside the unit ball (fixed, so answers are reproducible)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1.0, 1.0, size=(n * 3, 3))
    p = p[np.einsum("ij,ij->i", p, p) <= 1.0][:n]
    return p


@dataclass
class Neighbour:
    """A structure near a query point: surface distance (negative inside) and its closest point."""

    id: str
    distance_mm: float
    closest_mm: np.ndarray


class SpatialIndex:
    """Distance, containment and overlap queries over every non-layer structure of a model."""

    def __init__(self, model):
        self.model = model
        ids, pts, rad, lab = [], [], [], []
        self.volumes = {}
        self.tubes = {}
        for _k, (sid, s) in enumerate(x for x in model.structures.items() if x[0] not in LAYER_IDS):
            ids.append(sid)
            if s.centreline is not None:
                c = np.asarray(s.centreline)
                pts.append(c)
                rad.append(np.full(len(c), float(s.radius_mm)))
                self.tubes[sid] = (cKDTree(c), float(s.radius_mm))
            else:
                v = np.asarray(s.mesh.points)
                pts.append(v)
                rad.append(np.zeros(len(v)))
                self.volumes[sid] = s.volume
            lab.append(np.full(len(pts[-1]), len(ids) - 1))
        self.ids = ids
        self.points = np.vstack(pts)
        self.radius = np.concatenate(rad)
        self.label = np.concatenate(lab)
        self.max_radius = float(self.radius.max())
        self.tree = cKDTree(self.points)
        self.ball = unit_ball_samples()
        self._aabb = {sid: self._bounds(sid) for sid in ids}
        self._lo = np.array([self._aabb[s][0] for s in ids])
        self._hi = np.array([self._aabb[s][1] for s in ids])

    def _bounds(self, sid: str) -> tuple[np.ndarray, np.ndarray]:
        m = self.points[self.label == self.ids.index(sid)]
        r = self.radius[self.label == self.ids.index(sid)].max() if len(m) else 0.0
        return m.min(axis=0) - r, m.max(axis=0) + r

    # -- containment -------------------------------------------------------------------------
    def field_at(self, sid: str, points: np.ndarray) -> np.ndarray:
        """Implicit value (negative inside, ~mm) of structure ``sid`` at ``points`` (n, 3)."""
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        if sid in self.tubes:
            tree, r = self.tubes[sid]
            d, _ = tree.query(pts)
            return d - r
        vol = self.volumes[sid]
        g = vol.grid
        ijk = ((pts - g.origin) / g.spacing).T
        return map_coordinates(vol.values, ijk, order=1, mode="constant", cval=5.0)

    def containing(self, point: np.ndarray) -> list[str]:
        """Every structure whose volume contains ``point`` (3,)."""
        p = np.asarray(point, dtype=float)
        boxed = np.nonzero(np.all((p >= self._lo) & (p <= self._hi), axis=1))[0]
        return [self.ids[k] for k in boxed if self.field_at(self.ids[k], p[None])[0] < 0]

    # -- distances ------------------------------------------------------------------------------
    def neighbours(self, point: np.ndarray, reach_mm: float) -> dict[str, Neighbour]:
        """Every structure whose surface lies within ``reach_mm`` of ``point``: surface distance
        (negative when the point is inside) and the structure's closest point."""
        p = np.asarray(point, dtype=float)
        idx = np.asarray(self.tree.query_ball_point(p, reach_mm + self.max_radius), dtype=int)
        out: dict[str, Neighbour] = {}
        if len(idx) == 0:
            return out
        vec = self.points[idx] - p
        dc = np.linalg.norm(vec, axis=1)
        d = dc - self.radius[idx]
        lab = self.label[idx]
        order = np.lexsort((d, lab))
        first = np.unique(lab[order], return_index=True)[1]
        for j in order[first]:
            if d[j] > reach_mm:
                continue
            sid = self.ids[lab[j]]
            closest = self.points[idx[j]] - vec[j] / max(dc[j], 1e-9) * self.radius[idx[j]]
            dist = float(d[j])
            if sid in self.volumes and self.field_at(sid, p[None])[0] < 0:
                dist = -dist
            out[sid] = Neighbour(sid, dist, closest)
        return out

    def sphere_fractions(self, centre: np.ndarray, radius_mm: float, ids: list[str]) -> dict[str, float]:
        """Fraction of the sphere's volume inside each structure in ``ids``."""
        s = np.asarray(centre, dtype=float) + self.ball * radius_mm
        return {sid: float(np.mean(self.field_at(sid, s) < 0)) for sid in ids}
