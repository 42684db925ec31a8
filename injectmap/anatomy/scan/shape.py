"""The scan fit's shape stage: the base head's CC0 face targets fitted to the scan before the
non-rigid registration.

The non-rigid registration (:func:`injectmap.anatomy.scan.nonrigid.nricp`) moves each template vertex
onto the scan, kept smooth by a stiffness term; where the scan's surface says little about where along
it a vertex belongs (a smooth forehead: its height is hardly in its shape), the stiffness keeps the
template's layout. The shape stage first explains the scan with the same targets the photo fit uses
(:func:`injectmap.anatomy.fit.basis.face_basis`: forehead height and slope, brow position, nose,
mouth, cheeks, chin, the head's proportions), by a bounded, ridge-regularised least squares on the
scan's surface (point to plane) and on the landmarks that pull the fit, alternating with the closest
points. A target moves the skin as a face changes (a taller forehead moves the hairline, the brows
stay), so the registration then starts from a face whose layout follows the targets and only has the
detail left to add.

What it cannot do: a face far outside the targets' span is explained as well as they can, and the
registration takes over from there; the targets' weights are a prior, not a measurement of the
patient's anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

from injectmap.anatomy.fit.solve import bounded_solve
from injectmap.anatomy.scan.nonrigid import ScanSurface, vertex_normals
from injectmap.anatomy.scan.template import Template

#: closest-point passes of the shape stage
ITERATIONS = 8
#: the ridge on the targets' weights, in mm^2 of point-to-plane residual per unit weight squared
#: (measured 10, 30, 100 and 300 on eight synthetic patients: docs/scan-fit.md)
RIDGE = 100.0
#: targets that turn or move the whole head: a pose, which the stage's own rigid correction takes
POSE_TARGETS = ("head-angle-", "head-trans-")
#: the ridge starts this many times higher and falls to RIDGE over the passes (coarse to fine: the
#: first closest points are the template's, far from the face's own)
RIDGE_START = 30.0
#: a target's ridge is divided by the share of its displacement (squared) on vertices the scan matched,
#: down to this share (at most 20 times the ridge)
MIN_SEEN = 0.05
#: a small ridge on the rigid correction (mm^2 per radian^2 and per mm^2): only a scan that pins no
#: turn feels it
RIGID_DAMPING = 1.0
#: a template vertex further than this from its closest scan point, or facing away from it, is left out
MAX_MATCH_MM = 8.0
MIN_COS = 0.6


@dataclass(frozen=True)
class ShapeFit:
    """The shape stage's result: the template's vertices (frame of the aligned scan), the targets'
    weights (names from the face basis), the rigid correction it made (4x4, applied after), how many
    template vertices matched the scan in the pass that gave them, and the ridge used."""

    vertices_mm: np.ndarray
    names: tuple[str, ...]
    weights: np.ndarray
    rigid: np.ndarray
    matched: int
    ridge: float


@lru_cache(maxsize=1)
def _deltas(base_ids_key: bytes) -> tuple[tuple[str, ...], np.ndarray]:
    from injectmap.anatomy.fit.basis import face_basis

    base_ids = np.frombuffer(base_ids_key, dtype=np.int64)
    b = face_basis()
    cols = [i for i, n in enumerate(b.names) if not n.rsplit("/", 1)[-1].startswith(POSE_TARGETS)]
    row = np.full(int(max(b.vertex_ids.max(), base_ids.max())) + 1, -1, dtype=np.int64)
    row[b.vertex_ids] = np.arange(len(b.vertex_ids))
    r = row[base_ids]
    d = np.zeros((len(cols), len(base_ids), 3))
    d[:, r >= 0] = b.deltas_mm[cols][:, r[r >= 0]]
    d.setflags(write=False)  # shared by every fit of the process
    return tuple(b.names[i] for i in cols), d


def template_deltas(t: Template) -> tuple[tuple[str, ...], np.ndarray]:
    """The face basis's targets on the template's vertices: (names, deltas (k, n, 3) mm)."""
    return _deltas(np.ascontiguousarray(t.base_ids, dtype=np.int64).tobytes())


def fit_shape(t: Template, scan: ScanSurface,
              landmarks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
              landmark_weight: np.ndarray | float = 1.0, iterations: int = ITERATIONS,
              ridge: float | None = None) -> ShapeFit:
    """Fit the targets' weights and a small rigid correction to the scan (already aligned rigidly).

    ``landmarks``: (template vertices (k, 3), barycentric (k, 3), targets (k, 3)) as for
    :func:`~injectmap.anatomy.scan.nonrigid.nricp`, each pulling with ``landmark_weight`` (1: as one
    vertex's match to the scan)."""
    ridge = RIDGE if ridge is None else ridge
    names, d = template_deltas(t)
    k = len(names)
    v0 = np.asarray(t.vertices_mm, dtype=float)
    rot = np.eye(3)
    trans = np.zeros(3)
    w = np.zeros(k)
    lm_w = None
    if landmarks is not None:
        corners, bary, target = (np.asarray(a) for a in landmarks)
        lm_w = np.broadcast_to(np.asarray(landmark_weight, dtype=float), (len(corners),))
    matched = 0
    good: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None
    energy = np.einsum("knd,knd->k", d, d)
    for it in range(iterations):
        shaped = v0 + np.tensordot(w, d, axes=1)
        cur = shaped @ rot.T + trans
        nrm = vertex_normals(cur, t.faces)
        dist, j = scan.tree.query(cur, workers=-1)
        ok = (dist < MAX_MATCH_MM) & (np.einsum("ij,ij->i", nrm, scan.normals[j]) > MIN_COS) & ~scan.border[j]
        if ok.sum() < 100:  # the last step lost the scan: keep the state before it
            if good is not None:
                rot, trans, w, matched = good
            break
        matched = int(ok.sum())
        good = (rot, trans, w, matched)
        idx = np.flatnonzero(ok)
        sn = scan.normals[j[idx]]
        q = cur[idx]
        dsel = d[:, idx]
        drot = dsel @ rot.T  # (k, m, 3): the targets turned with the head
        base = v0[idx] @ rot.T + trans
        a = np.empty((len(idx), 6 + k))
        a[:, :3] = np.cross(q, sn)
        a[:, 3:6] = sn
        a[:, 6:] = np.einsum("kmd,md->mk", drot, sn)
        b = np.einsum("md,md->m", scan.points[j[idx]] - base, sn)
        h = a.T @ a
        g = a.T @ b
        if lm_w is not None:
            lq = np.einsum("lj,ljd->ld", bary, cur[corners])
            lbase = np.einsum("lj,ljd->ld", bary, v0[corners] @ rot.T + trans)
            turned = np.einsum("kljd,ed->klje", d[:, corners], rot)
            ld = np.einsum("lj,klje->kle", bary, turned)
            for ax in range(3):
                e = np.zeros(3)
                e[ax] = 1.0
                al = np.empty((len(corners), 6 + k))
                al[:, :3] = np.cross(lq, e)
                al[:, 3:6] = e
                al[:, 6:] = ld[:, :, ax].T
                bl = target[:, ax] - lbase[:, ax]
                h += al.T @ (al * lm_w[:, None])
                g += al.T @ (bl * lm_w)
        # a target the scan shows little of (its displacement mostly where no vertex matched: the ears,
        # the back of the head) is held harder: the scan cannot say how much of it the face has
        seen = np.einsum("kmd,kmd->k", dsel, dsel) / np.maximum(energy, 1e-12)
        held = 1.0 / np.clip(seen, MIN_SEEN, 1.0)
        h[:6, :6] += RIGID_DAMPING * np.eye(6)  # a nearly flat scan leaves a turn unconstrained
        h[6:, 6:] += np.diag(ridge * RIDGE_START ** max(0.0, 1.0 - it / max(1, iterations - 3)) * held)

        x = bounded_solve(h, g, np.r_[np.zeros(6, dtype=bool), np.ones(k, dtype=bool)])
        step = Rotation.from_rotvec(x[:3]).as_matrix()
        rot, trans = step @ rot, step @ trans + x[3:6]
        w = x[6:]
    shaped = v0 + np.tensordot(w, d, axes=1)
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, trans
    return ShapeFit(vertices_mm=shaped @ rot.T + trans, names=names, weights=w, rigid=out, matched=matched,
                    ridge=ridge)
