"""Non-rigid registration of the template skin onto a scan: optimal-step non-rigid ICP.

The method of Amberg, Romdhani and Vetter, "Optimal Step Nonrigid ICP Algorithms for Surface
Registration" (CVPR 2007), the one ``trimesh.registration.nricp_amberg`` implements: every template
vertex gets an affine transform (4 x 3); a stiffness term ties the transforms of neighbouring
vertices, a data term pulls each vertex to its closest scan point, and the stiffness is lowered
step by step. This module solves the same system with the data weights a partial scan needs (the
library's version keeps every match within a distance): a match counts only when

- it lies within ``max_match_mm`` of the vertex,
- the scan's normal there agrees with the template's (cosine above ``min_cos``), and
- it is not on the scan's border (a hole's rim, the cut at the ears or hairline): a vertex beyond
  the scan's end would otherwise be dragged onto its rim.

Vertices without a match follow their neighbours through the stiffness term only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

#: (stiffness, iterations) from stiff to supple; stiffness in units of the normalised template
DEFAULT_STEPS: tuple[tuple[float, int], ...] = ((50.0, 3), (20.0, 3), (8.0, 3), (3.0, 3), (1.5, 3), (0.8, 3))


@dataclass(frozen=True)
class NricpResult:
    """``vertices_mm`` (n, 3) the registered template; ``matched`` (n,) bool the vertices with a valid
    scan match at the end; ``distance_mm`` (n,) their distance to it (inf without one)."""

    vertices_mm: np.ndarray
    matched: np.ndarray
    distance_mm: np.ndarray
    iterations: int


class ScanSurface:
    """The scan as oriented points with their border flags, for closest-point queries."""

    def __init__(self, mesh: trimesh.Trimesh, border_mm: float = 1.5):
        self.points = np.asarray(mesh.vertices, dtype=float)
        self.normals = np.asarray(mesh.vertex_normals, dtype=float)
        self.tree = cKDTree(self.points)
        edges = np.sort(mesh.edges, axis=1)
        _, inv, cnt = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
        rim = np.unique(edges[cnt[inv.ravel()] == 1])
        self.border = np.zeros(len(self.points), dtype=bool)
        if len(rim):
            near = cKDTree(self.points[rim]).query(self.points, distance_upper_bound=border_mm)[0]
            self.border = np.isfinite(near)

    def oriented_like(self, normals_ref: np.ndarray, ref_tree: cKDTree) -> None:
        """Flip the scan's normals when most disagree with the nearest reference normals (a scan
        whose triangles wind the other way)."""
        _, j = ref_tree.query(self.points[:: max(1, len(self.points) // 4000)])
        agree = np.einsum("ij,ij->i", self.normals[:: max(1, len(self.points) // 4000)], normals_ref[j])
        if np.median(agree) < 0:
            self.normals = -self.normals


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    return np.asarray(trimesh.Trimesh(vertices, faces, process=False).vertex_normals)


def nricp(template_vertices_mm: np.ndarray, faces: np.ndarray, scan: ScanSurface,
          steps: tuple[tuple[float, int], ...] = DEFAULT_STEPS, max_match_mm: float = 8.0,
          min_cos: float = 0.6, gamma: float = 1.0,
          landmarks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
          landmark_weight: float | np.ndarray = 1.0, landmark_until: np.ndarray | None = None) -> NricpResult:
    """Register the template (n, 3) onto the scan (both in frame mm).

    Parameters
    ----------
    landmarks : (vertices (k, 3) int, bary (k, 3) float, target (k, 3) float), optional
        Template points (barycentric weights on three template vertices) that must land on given
        scan positions.
    landmark_weight : float or (k,) float
        How hard each landmark pulls (1: as much as one vertex's match to the scan).
    landmark_until : (k,) float, optional
        The stiffness below which each landmark stops pulling (0, the default: in every step): a
        landmark known to a few mm sets the stiff steps' large-scale shape and leaves the supple
        steps' detail to the scan.
    """
    v0 = np.asarray(template_vertices_mm, dtype=float)
    n = len(v0)
    centre = v0.mean(axis=0)
    scale = float(np.linalg.norm(np.ptp(v0, axis=0)))  # normalised: the template's diagonal is 1
    vn = (v0 - centre) / scale
    edges = np.unique(np.sort(np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)
    ne = len(edges)
    m = sparse.coo_matrix((np.r_[np.ones(ne), -np.ones(ne)], (np.r_[np.arange(ne), np.arange(ne)],
                                                              np.r_[edges[:, 0], edges[:, 1]])), shape=(ne, n))
    mg = sparse.kron(m, sparse.diags([1.0, 1.0, 1.0, gamma])).tocsr()
    stiff = (mg.T @ mg).tocsc()
    rows = np.repeat(np.arange(n), 4)
    cols = np.arange(4 * n)
    d = sparse.csr_matrix((np.c_[vn, np.ones(n)].ravel(), (rows, cols)), shape=(n, 4 * n))
    x = np.tile(np.vstack([np.eye(3), np.zeros((1, 3))]), (n, 1))
    lm_d = lm_u = None
    lm_w = lm_until = np.zeros(0)
    if landmarks is not None:
        corners, bary, target = landmarks
        k = len(corners)
        lr = np.repeat(np.arange(k), 3)
        lc = np.asarray(corners).ravel()
        sel = sparse.csr_matrix((np.asarray(bary).ravel(), (lr, lc)), shape=(k, n))
        lm_w = np.broadcast_to(np.asarray(landmark_weight, dtype=float), (k,))
        lm_until = np.zeros(k) if landmark_until is None else np.asarray(landmark_until, dtype=float)
        lm_d = sel @ d
        lm_u = (np.asarray(target) - centre) / scale
    total = 0
    cur = v0.copy()
    w = np.zeros(n)
    dist = np.full(n, np.inf)
    src_nrm_faces = faces
    for alpha, iters in steps:
        lm_a = lm_b = None
        if lm_d is not None and lm_u is not None:
            lw = sparse.diags(np.where(alpha >= lm_until, lm_w, 0.0))
            lm_a, lm_b = lm_d.T @ lw @ lm_d, lm_d.T @ (lw @ lm_u)
        for _ in range(iters):
            total += 1
            nrm = vertex_normals(cur, src_nrm_faces)
            dist, j = scan.tree.query(cur, workers=-1)
            cos = np.einsum("ij,ij->i", nrm, scan.normals[j])
            ok = (dist < max_match_mm) & (cos > min_cos) & ~scan.border[j]
            w = ok.astype(float)
            u = (scan.points[j] - centre) / scale
            wd = sparse.diags(w) @ d
            a = (alpha**2) * stiff + (wd.T @ wd)
            b = wd.T @ (u * w[:, None])
            if lm_a is not None and lm_b is not None:
                a = a + lm_a
                b = b + lm_b
            x = spsolve(a.tocsc(), b)
            cur = (d @ x) * scale + centre
    dist, j = scan.tree.query(cur, workers=-1)
    nrm = vertex_normals(cur, faces)
    cos = np.einsum("ij,ij->i", nrm, scan.normals[j])
    matched = (dist < 2.0) & (cos > min_cos) & ~scan.border[j]
    return NricpResult(vertices_mm=cur, matched=matched, distance_mm=np.where(matched, dist, np.inf),
                       iterations=total)
