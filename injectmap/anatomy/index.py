"""One spatial index over the whole model, built once: the hot path of every analysis.

- Distances are exact: each structure's triangle mesh has its own bounding volume hierarchy (fcpw,
  "fastest closest points"), and a query measures the point to the nearest point on the nearest
  triangle, the same answer as ``trimesh.proximity.closest_point`` (to float32 rounding, about 1e-5 mm
  here). Tubes (vessels, nerves, the duct) are measured to their meshed wall, closed volumes to their
  marching-cubes surface. Structures whose box is out of reach are skipped before any query, and a
  structure's hierarchy is built the first time a query reaches it: a plan on the forehead never
  builds the jaw's (about 83 bytes per triangle, ~48 MB for every structure of a face; issue 11).
- Containment and sphere overlap: each closed volume keeps its implicit field on a grid (negative
  inside); a tube contains a point when its centreline is nearer than its radius. The sign of a
  distance (negative inside) comes from the same fields, so ``containing`` and ``neighbours`` agree.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import fcpw
import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

#: structures that are layers of the whole head: not "neighbours" of a point
LAYER_IDS = ("skin", "subcutaneous_fat", "smas", "bone")

#: a field value (~mm) this close to zero is left to scipy's interpolation (SpatialIndex.inside_many): far above the
#: few 1e-15 mm by which two double-precision trilinear sums of the same float32 corners can differ
_SIGN_GUARD = 1e-9


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


def surface_scene(mesh: Any) -> fcpw.scene_3D:
    """An exact closest-point structure (a bounding volume hierarchy) over a triangle mesh.

    Parameters
    ----------
    mesh : pyvista.PolyData
        A triangulated surface.

    Returns
    -------
    fcpw.scene_3D
        Answers closest-point queries to the mesh's triangles.
    """
    v = np.ascontiguousarray(np.asarray(mesh.points), dtype=np.float32)
    f = np.ascontiguousarray(np.asarray(mesh.faces).reshape(-1, 4)[:, 1:], dtype=np.int32)
    scene = fcpw.scene_3D()
    scene.set_object_count(1)
    scene.set_object_vertices(v, 0)
    scene.set_object_triangles(f, 0)
    # the longest-axis split builds in about half the time of the surface-area heuristic on these
    # meshes and answers as fast (measured with `injectmap bench`): project choice
    scene.build(fcpw.aggregate_type.bvh_longest_axis_center, True)
    return scene


class SpatialIndex:
    """Distance, containment and overlap queries over every non-layer structure of a model.

    Parameters
    ----------
    model : injectmap.anatomy.model.FaceModel
        The built face; its structures' meshes, fields and centrelines are read, never changed.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.ids = [sid for sid in model.structures if sid not in LAYER_IDS]
        self.volumes = {}
        self.tubes = {}
        self._scenes: dict[str, fcpw.scene_3D] = {}
        self._cells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = {}
        self._lock = threading.Lock()
        lo, hi = [], []
        for sid in self.ids:
            s = model.structures[sid]
            v = np.asarray(s.mesh.points, dtype=float)
            a, b = v.min(axis=0), v.max(axis=0)
            if s.centreline is not None:
                c = np.asarray(s.centreline, dtype=float)
                r = float(s.radius_mm)
                self.tubes[sid] = (cKDTree(c), r)
                a, b = np.minimum(a, c.min(axis=0) - r), np.maximum(b, c.max(axis=0) + r)
            else:
                self.volumes[sid] = s.volume
            lo.append(a)
            hi.append(b)
        self.ball = unit_ball_samples()
        self._lo = np.array(lo)
        self._hi = np.array(hi)
        self._aabb = {sid: (self._lo[k], self._hi[k]) for k, sid in enumerate(self.ids)}

    def built(self) -> list[str]:
        """The structures whose exact-distance hierarchy has been built so far (for tests and measures)."""
        with self._lock:
            return list(self._scenes)

    def _scene(self, sid: str) -> fcpw.scene_3D:
        """The exact-distance structure of ``sid``, built on first use (thread-safe; built once)."""
        scene = self._scenes.get(sid)
        if scene is None:
            with self._lock:
                scene = self._scenes.get(sid)
                if scene is None:
                    scene = self._scenes[sid] = surface_scene(self.model.structures[sid].mesh)
        return scene

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

    def inside_many(self, sid: str, points: np.ndarray) -> np.ndarray:
        """``field_at(sid, points) < 0``, the same answer for every point, computed faster for many points.

        A volume's field is interpolated trilinearly (scipy's ``map_coordinates`` of order 1): a weighted sum of the
        8 corners of the grid cell holding the point, with weights that are never negative. So where all 8 corners
        are negative the point is inside, where all 8 are positive it is outside, whatever the weights: the cell
        decides, read from a table of each cell's corner signs. Only the points in cells the surface crosses (or on
        the grid's edge, where the constant mode decides) are asked of :meth:`field_at` itself: the answer is always
        :meth:`field_at`'s, for a fraction of its cost (most of a field's samples lie in cells far from the surface).
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        if len(pts) == 0:
            return np.zeros(0, dtype=bool)
        if sid in self.tubes:
            return self._inside_tube(sid, pts)
        vol = self.volumes[sid]
        cells, strides, top, border_out = self._cell_signs(sid)
        ijk = (pts - vol.grid.origin) / vol.grid.spacing  # the grid coordinates, as field_at computes them
        cell = np.floor(ijk).astype(np.intp)  # the cell map_coordinates interpolates in
        wrap = cell.view(np.uintp)  # a negative index wraps to a huge one: one comparison per axis bounds it
        ok = (wrap[:, 0] <= top[0]) & (wrap[:, 1] <= top[1]) & (wrap[:, 2] <= top[2])
        flat = cell[:, 0] * strides[0] + cell[:, 1] * strides[1] + cell[:, 2]
        flat[~ok] = 0
        code = cells.take(flat)
        code[~ok] = 0
        out = code < 0
        crossed = np.nonzero((code == 0) & ok)[0]
        # off the grid's cells, map_coordinates reads only the constant (5 mm) and the grid's outermost nodes: when
        # those are all positive (the grid has a margin of outside around the structure), such a point is outside
        unsure = np.zeros(0, dtype=np.intp) if border_out else np.nonzero(~ok)[0]
        if len(crossed):
            # the surface's cells: the trilinear value itself (the same sum map_coordinates makes, up to rounding
            # in the last places); a value within _SIGN_GUARD of zero is left to field_at
            v = self._trilinear(sid, ijk[crossed], cell[crossed])
            out[crossed] = v < 0.0
            unsure = np.concatenate([unsure, crossed[np.abs(v) < _SIGN_GUARD]])
        if len(unsure):
            out[unsure] = self.field_at(sid, pts[unsure]) < 0
        return out

    def _inside_tube(self, sid: str, pts: np.ndarray) -> np.ndarray:
        """:meth:`inside_many` of a tube: its centreline's nearest vertex nearer than its radius, measured against
        every vertex with numpy (a KD-tree query costs more for the few points asked at once); a distance within
        ``_SIGN_GUARD`` of the radius is left to the KD-tree (field_at)."""
        tree, r = self.tubes[sid]
        c = tree.data
        if len(pts) * len(c) > 200_000:
            return self.field_at(sid, pts) < 0
        v = pts[:, None, :] - c[None]
        d = np.sqrt((v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1] + v[..., 2] * v[..., 2]).min(axis=1)) - r
        out = d < 0.0
        unsure = np.nonzero(np.abs(d) < _SIGN_GUARD)[0]
        if len(unsure):
            out[unsure] = self.field_at(sid, pts[unsure]) < 0
        return out

    def _trilinear(self, sid: str, ijk: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """A volume's field interpolated trilinearly at grid coordinates ``ijk`` (m, 3) in cells ``cell`` (whole
        cells of the grid)."""
        vals = np.asarray(self.volumes[sid].values)
        flat = vals.reshape(-1)
        sx, sy = vals.shape[1] * vals.shape[2], vals.shape[2]
        base = cell[:, 0] * sx + cell[:, 1] * sy + cell[:, 2]
        t = ijk - cell
        tx, ty, tz = t[:, 0], t[:, 1], t[:, 2]
        ux, uy, uz = 1.0 - tx, 1.0 - ty, 1.0 - tz

        def edge(off: int) -> np.ndarray:  # the field along z between two corners
            return flat.take(base + off) * uz + flat.take(base + off + 1) * tz

        return (edge(0) * uy + edge(sy) * ty) * ux + (edge(sx) * uy + edge(sx + sy) * ty) * tx

    def _cell_signs(self, sid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """For each cell of a volume's grid, -1 when its 8 corners are all negative, 1 when all positive, else 0
        (flat, int8: about 1 byte per voxel), the cell table's strides, the last cell index per axis, and whether
        every node on the grid's faces is positive (built once per structure)."""
        got = self._cells.get(sid)
        if got is None:
            v = np.asarray(self.volumes[sid].values)
            corners = [v[i:v.shape[0] - 1 + i, j:v.shape[1] - 1 + j, k:v.shape[2] - 1 + k]
                       for i in (0, 1) for j in (0, 1) for k in (0, 1)]
            neg = np.logical_and.reduce([c < 0 for c in corners])
            pos = np.logical_and.reduce([c > 0 for c in corners])
            table = (pos.astype(np.int8) - neg.astype(np.int8))
            n = np.asarray(table.shape)
            faces = [v[0], v[-1], v[:, 0], v[:, -1], v[:, :, 0], v[:, :, -1]]
            got = self._cells[sid] = (table.ravel(), np.asarray([n[1] * n[2], n[2], 1], dtype=np.intp),
                                      (n - 1).astype(np.uintp), bool(min(float(f.min()) for f in faces) > 0.0))
        return got

    def has_inside(self, sid: str) -> bool:
        """Whether ``sid`` has an inside the index can tell (a closed volume or a tube)."""
        return sid in self.volumes or sid in self.tubes

    def containing(self, point: np.ndarray) -> list[str]:
        """Every structure whose volume contains ``point`` (3,)."""
        p = np.asarray(point, dtype=float)
        boxed = np.nonzero(np.all((p >= self._lo) & (p <= self._hi), axis=1))[0]
        return [self.ids[k] for k in boxed if self.field_at(self.ids[k], p[None])[0] < 0]

    def containing_many(self, points: np.ndarray) -> list[list[str]]:
        """:meth:`containing` for many points at once: one field query per structure over every point in its box.

        Parameters
        ----------
        points : array_like, shape (n, 3)
            Query points, mm.

        Returns
        -------
        list of list of str
            For each point, the structures that contain it, in the order :meth:`containing` gives (the same answer).
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        inbox = np.all((pts[:, None, :] >= self._lo[None]) & (pts[:, None, :] <= self._hi[None]), axis=2)
        hit = np.zeros(inbox.shape, dtype=bool)
        for k in np.nonzero(inbox.any(axis=0))[0]:
            rows = np.nonzero(inbox[:, k])[0]
            hit[rows, k] = self.inside_many(self.ids[k], pts[rows])
        return [[self.ids[k] for k in np.nonzero(row)[0]] for row in hit]

    # -- distances ------------------------------------------------------------------------------
    def distances(self, sid: str, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact distance from each point to the triangles of structure ``sid``, and the closest points.

        Parameters
        ----------
        sid : str
            Any structure id of the model, the layers (skin, fat, SMAS, bone) included.
        points : array_like, shape (n, 3)
            Query points, mm.

        Returns
        -------
        distance_mm : numpy.ndarray, shape (n,)
            Distance to the surface, negative inside a closed volume or a tube (as :meth:`field_at`
            tells); layers have no inside here and their distances are never negative.
        closest_mm : numpy.ndarray, shape (n, 3)
            The nearest point on the surface.
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        its = fcpw.interaction_3D_list()
        q = np.asfortranarray(pts, dtype=np.float32)
        self._scene(sid).find_closest_points(q, np.full(len(pts), np.finfo(np.float32).max, np.float32), its)
        closest = np.array([np.asarray(i.p, dtype=float) for i in its]).reshape(-1, 3)
        d = np.linalg.norm(pts - closest, axis=1)
        if self.has_inside(sid):
            d = np.where(self.field_at(sid, pts) < 0, -d, d)
        return d, closest

    def neighbours(self, point: np.ndarray, reach_mm: float) -> dict[str, Neighbour]:
        """Every structure whose surface lies within ``reach_mm`` of ``point``: exact surface distance
        (negative when the point is inside) and the structure's closest point on its triangles."""
        p = np.asarray(point, dtype=float).reshape(3)
        gap = np.maximum(np.maximum(self._lo - p, p - self._hi), 0.0)
        gap2 = np.einsum("ij,ij->i", gap, gap)
        r2 = float(reach_mm) ** 2
        x = p.astype(np.float32)
        it = fcpw.interaction_3D()
        out: dict[str, Neighbour] = {}
        for k in np.nonzero(gap2 <= r2)[0]:
            sid = self.ids[k]
            if not self._scene(sid).find_closest_point(x, it, r2):
                continue
            closest = np.asarray(it.p, dtype=float)
            dist = float(np.linalg.norm(p - closest))
            if dist > reach_mm:  # float32 rounding at the edge of the reach
                continue
            if gap2[k] == 0.0 and self.field_at(sid, p[None])[0] < 0:  # only a point in the box can be inside
                dist = -dist
            out[sid] = Neighbour(sid, dist, closest)
        return out

    def neighbours_many(self, points: np.ndarray, reach_mm: Any) -> list[dict[str, Neighbour]]:
        """:meth:`neighbours` for many points at once, each with its own reach: one batched exact query per
        structure over every point whose reach meets its box, one field query per structure for the signs.

        Parameters
        ----------
        points : array_like, shape (n, 3)
            Query points, mm.
        reach_mm : float or sequence of float, length n
            The reach asked of each point.

        Returns
        -------
        list of dict
            For each point, what :meth:`neighbours` answers for it (the same structures, distances and closest
            points, in the same order).
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        reach = [float(r) for r in np.broadcast_to(np.asarray(reach_mm, dtype=float), (len(pts),))]
        # the boxes as neighbours() selects them, for every point at once; a box is never farther than the structure
        # in it, so the box test only narrows which structures are asked
        gap = np.maximum(np.maximum(self._lo[None] - pts[:, None], pts[:, None] - self._hi[None]), 0.0)
        gap2 = np.einsum("ij,ij->i", gap.reshape(-1, 3), gap.reshape(-1, 3)).reshape(len(pts), -1)
        asked = gap2 <= np.square(np.asarray(reach))[:, None]
        touching = gap2 == 0.0
        found: list[list[tuple[int, Neighbour]]] = [[] for _ in range(len(pts))]
        q32 = pts.astype(np.float32)
        it = fcpw.interaction_3D()
        # one exact query per point and structure, as neighbours() asks it: fcpw's batched query spends more (it
        # hands the points to worker threads) than it saves on the few points near each structure (about 9 here)
        for k in np.nonzero(asked.any(axis=0))[0].tolist():
            sid = self.ids[k]
            scene = self._scene(sid)
            hits: list[tuple[int, float, np.ndarray]] = []
            for i in np.nonzero(asked[:, k])[0].tolist():
                if not scene.find_closest_point(q32[i], it, reach[i] ** 2):
                    continue
                closest = np.asarray(it.p, dtype=float)
                v = pts[i] - closest
                dist = math.sqrt(float(v.dot(v)))  # numpy's norm of a vector, without its overhead: the same bits
                if dist > reach[i]:  # float32 rounding at the edge of the reach
                    continue
                hits.append((i, dist, closest))
            signed = [h for h in hits if touching[h[0], k]]  # only a point in the box can be inside
            inside = self.inside_many(sid, pts[[h[0] for h in signed]]) if signed else np.zeros(0, dtype=bool)
            flip = {h[0] for h, isin in zip(signed, inside, strict=True) if isin}
            for i, dist, closest in hits:
                found[i].append((k, Neighbour(sid, -dist if i in flip else dist, closest)))
        return [{nb.id: nb for _, nb in row} for row in found]

    def sphere_fractions(self, centre: np.ndarray, radius_mm: float, ids: list[str]) -> dict[str, float]:
        """Fraction of the sphere's volume inside each structure in ``ids``."""
        s = np.asarray(centre, dtype=float) + self.ball * radius_mm
        return {sid: float(np.mean(self.field_at(sid, s) < 0)) for sid in ids}

    def sphere_fractions_many(self, sid: str, centres: np.ndarray, radii_mm: np.ndarray) -> np.ndarray:
        """:meth:`sphere_fractions` of one structure for many spheres at once (one field query for all).

        Parameters
        ----------
        sid : str
            The structure.
        centres : array_like, shape (m, 3)
            The spheres' centres, mm.
        radii_mm : array_like, shape (m, k)
            ``k`` radii per centre.

        Returns
        -------
        numpy.ndarray, shape (m, k)
            The fraction of each sphere's volume inside ``sid``, as :meth:`sphere_fractions` gives it.
        """
        c = np.asarray(centres, dtype=float).reshape(-1, 3)
        r = np.asarray(radii_mm, dtype=float).reshape(len(c), -1)
        samples = c[:, None, None, :] + self.ball[None, None, :, :] * r[:, :, None, None]
        inside = self.inside_many(sid, samples.reshape(-1, 3))
        return inside.reshape(r.shape[0], r.shape[1], len(self.ball)).mean(axis=2)
