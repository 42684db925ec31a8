"""Which point of the base head each Face Mesh landmark is: a triangle of base-mesh vertices and
barycentric weights, so that a landmark's 3D point follows every shape target.

The table is measured, not drawn by hand: the average head is rendered off-screen
(:mod:`injectmap.anatomy.fit.synthetic`) from the front and turned 15 degrees each way, Face Mesh
runs on each render, and each landmark's pixel is cast back onto the mesh through the known camera.
The hits of the three views are averaged (the median point, snapped back to the surface), so Face
Mesh's own bias on this kind of image is part of the table and cancels in the fit. Landmarks whose
hit grazes the surface (the face's outline, which slides with the view) are flagged ``contour`` and
weigh less in the fit. ``python -m injectmap.anatomy.fit.correspondence`` rebuilds
``data/facemesh_correspondence.npz``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from injectmap.anatomy.fit.camera import Camera

TABLE = Path(__file__).parent / "data" / "facemesh_correspondence.npz"
#: the face landmarks (the iris points are used for the scale, not the shape)
N_FACE = 468
CALIBRATION_YAWS = (0.0, -15.0, 15.0)


def ray_mesh(origin: np.ndarray, dirs: np.ndarray, verts: np.ndarray,
             tris: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first hit of each ray on a triangle mesh (Moller-Trumbore, vectorised).

    Returns
    -------
    tri : (n,) int
        The triangle hit (-1: none).
    bary : (n, 3) float
        The barycentric weights of the hit in that triangle.
    dist : (n,) float
        The distance along the ray (inf: none).
    """
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    e1, e2 = b - a, c - a
    n = len(dirs)
    best_t = np.full(n, np.inf)
    best_tri = np.full(n, -1)
    best_uv = np.zeros((n, 2))
    for i, d in enumerate(dirs):
        p = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, p)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = origin - a
        u = np.einsum("ij,ij->i", s, p) * inv
        q = np.cross(s, e1)
        v = (q @ d) * inv
        t = np.einsum("ij,ij->i", e2, q) * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-6)
        if hit.any():
            j = np.flatnonzero(hit)[np.argmin(t[hit])]
            best_t[i], best_tri[i], best_uv[i] = t[j], j, (u[j], v[j])
    bary = np.column_stack([1 - best_uv.sum(axis=1), best_uv[:, 0], best_uv[:, 1]])
    return best_tri, bary, best_t


def calibrate() -> dict[str, np.ndarray]:
    """Measure the table on renders of the average head (about 10 s); see the module's doc."""
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.landmarks import detect
    from injectmap.anatomy.fit.synthetic import render, uv_mesh

    basis = face_basis()
    verts = basis.mean_mm
    uvm = uv_mesh()
    row = {int(v): i for i, v in enumerate(basis.vertex_ids)}
    tri_rows = np.vectorize(row.__getitem__)(uvm.vertex_ids[uvm.tris])  # (t, 3) basis rows
    hits = []
    grazing = []
    for yaw in CALIBRATION_YAWS:
        cam = Camera.portrait(verts, 720, 960, 650.0, 50.0, yaw_deg=yaw)
        lm = detect(render(verts, cam, "front", basis=basis))
        origin, dirs = cam.ray(lm.pixels[:N_FACE])
        tri, bary, _ = ray_mesh(origin, dirs, verts, tri_rows)
        pts = np.full((N_FACE, 3), np.nan)
        ok = tri >= 0
        pts[ok] = np.einsum("ij,ijk->ik", bary[ok], verts[tri_rows[tri[ok]]])
        a, b, c = (verts[tri_rows[np.maximum(tri, 0)]][:, k] for k in range(3))
        nrm = np.cross(b - a, c - a)
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        grazing.append(np.where(ok, np.abs(np.einsum("ij,ij->i", nrm, dirs)) < 0.35, True))
        hits.append(pts)
    stack = np.stack(hits)
    point = np.nanmedian(stack, axis=0)
    spread = np.nanmax(np.linalg.norm(stack - point, axis=2), axis=0)
    # snap each median point to the surface: the nearest triangle's closest point by its vertices
    centroids = verts[tri_rows].mean(axis=1)
    from scipy.spatial import cKDTree

    tree = cKDTree(centroids)
    out_tri = np.zeros((N_FACE, 3), dtype=np.int64)
    out_bary = np.zeros((N_FACE, 3))
    for j, p in enumerate(point):
        _, cand = tree.query(p, k=12)
        best = (np.inf, 0, np.zeros(3))
        for ti in cand:
            bc = _closest_bary(p, verts[tri_rows[ti]])
            d = float(np.linalg.norm(bc @ verts[tri_rows[ti]] - p))
            if d < best[0]:
                best = (d, ti, bc)
        out_tri[j] = tri_rows[best[1]]
        out_bary[j] = best[2]
    contour = np.stack(grazing).mean(axis=0) > 0.3
    return {"rows": out_tri, "bary": out_bary, "contour": contour, "spread_mm": spread,
            "vertex_ids": basis.vertex_ids[out_tri]}


def _closest_bary(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """The barycentric weights of the point of triangle ``tri`` (3, 3) closest to ``p`` (approximate:
    the plane's projection clipped to the triangle and renormalised)."""
    a, b, c = tri
    m = np.column_stack([b - a, c - a])
    uv, *_ = np.linalg.lstsq(m, p - a, rcond=None)
    bc = np.clip(np.array([1 - uv.sum(), uv[0], uv[1]]), 0, None)
    return bc / max(bc.sum(), 1e-12)


@lru_cache(maxsize=1)
def table() -> dict[str, np.ndarray]:
    """The shipped table: ``vertex_ids`` (468, 3) base-mesh vertices, ``bary`` (468, 3), ``contour`` (468,)."""
    with np.load(TABLE, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


if __name__ == "__main__":
    t = calibrate()
    np.savez_compressed(TABLE, vertex_ids=t["vertex_ids"], bary=t["bary"], contour=t["contour"],
                        spread_mm=t["spread_mm"])
    print(f"wrote {TABLE}: {int(t['contour'].sum())} contour landmarks, "
          f"median spread between views {float(np.nanmedian(t['spread_mm'])):.2f} mm")
