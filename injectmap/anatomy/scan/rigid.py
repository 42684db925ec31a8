"""Rigid alignment of a face scan to the template (scan millimetres -> frame millimetres).

Two starts: landmarks (template points and their scan positions, by least squares: Kabsch), or the
scan's own geometry: its principal axes give eight candidate orientations (the thinnest axis is
the depth, either way round; the two others up or sideways, either sign), each placed so the
scan's most anterior point sits on the template's nose tip (pronasale) and refined by trimmed
point-to-plane ICP; the candidate with the smallest trimmed residual wins. The scan is matched
onto the whole template, so a scan that stops at the ears or the hairline still finds its place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class RigidResult:
    """``matrix`` (4, 4) maps scan mm to frame mm; ``residual_mm`` the trimmed RMS point-to-plane
    distance after ICP; ``method`` how the start was found."""

    matrix: np.ndarray
    residual_mm: float
    method: str


def kabsch(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The rigid 4x4 transform minimising sum w |R src + t - dst|^2 (no reflection, no scale)."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    h = (src - cs).T @ ((dst - cd) * w[:, None])
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = cd - r @ cs
    return m


def robust_kabsch(src: np.ndarray, dst: np.ndarray, keep: float = 0.7, rounds: int = 4) -> np.ndarray:
    """:func:`kabsch` refitted on the ``keep`` share of the pairs that agree best (``rounds`` times), so
    that a few wrong pairs (a landmark whose ray passed through a hole) do not tilt it."""
    m = kabsch(src, dst)
    for _ in range(rounds - 1):
        d = np.linalg.norm(apply(m, src) - dst, axis=1)
        use = d <= np.quantile(d, keep)
        if use.sum() < 3:
            break
        m = kabsch(src[use], dst[use])
    return m


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def icp_point_to_plane(src: np.ndarray, ref_pts: np.ndarray, ref_nrm: np.ndarray, init: np.ndarray,
                       iterations: int = 30, keep: float = 0.8, tree: cKDTree | None = None,
                       tol_mm: float = 1e-3) -> tuple[np.ndarray, float]:
    """Trimmed point-to-plane ICP of ``src`` (n, 3) onto oriented reference points.

    Each iteration keeps the ``keep`` share of the closest pairs, solves the linearised
    point-to-plane problem (small rotation) and composes it onto the transform.
    Returns the transform (4, 4) and the trimmed RMS distance (mm).
    """
    tree = cKDTree(ref_pts) if tree is None else tree
    m = init.copy()
    rms = np.inf
    for _ in range(iterations):
        p = apply(m, src)
        d, j = tree.query(p, workers=-1)
        cut = np.quantile(d, keep)
        sel = d <= cut
        p, q, n = p[sel], ref_pts[j[sel]], ref_nrm[j[sel]]
        r = np.einsum("ij,ij->i", p - q, n)
        a = np.hstack([np.cross(p, n), n])
        x, *_ = np.linalg.lstsq(a, -r, rcond=None)
        step = np.eye(4)
        step[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix()
        step[:3, 3] = x[3:]
        m = step @ m
        new = float(np.sqrt(np.mean(r**2)))
        if abs(rms - new) < tol_mm and np.linalg.norm(x) < 1e-4:
            rms = new
            break
        rms = new
    p = apply(m, src)
    d, j = tree.query(p, workers=-1)
    cut = np.quantile(d, keep)
    sel = d <= cut
    r = np.einsum("ij,ij->i", p[sel] - ref_pts[j[sel]], ref_nrm[j[sel]])
    return m, float(np.sqrt(np.mean(r**2)))


def candidate_starts(scan_pts: np.ndarray, nose_tip_mm: np.ndarray) -> list[np.ndarray]:
    """Eight starting transforms from the scan's principal axes (see the module's note)."""
    c = scan_pts.mean(axis=0)
    _, _, vt = np.linalg.svd(scan_pts - c, full_matrices=False)
    a1, a2, depth = vt  # largest, middle, smallest variance
    out = []
    for z in (depth, -depth):
        for up in (a1, -a1, a2, -a2):
            x = np.cross(up, z)
            r = np.vstack([x, up, z])  # rows: scan directions that become frame x, y, z
            if np.linalg.det(r) < 0:
                continue
            tip = scan_pts[np.argmax(scan_pts @ z)]
            m = np.eye(4)
            m[:3, :3] = r
            m[:3, 3] = nose_tip_mm - r @ tip
            out.append(m)
    return out


def align_geometric(scan_pts: np.ndarray, ref_pts: np.ndarray, ref_nrm: np.ndarray,
                    nose_tip_mm: np.ndarray, sample: int = 3000, seed: int = 0) -> RigidResult:
    """Rigid alignment from the scan's geometry alone (no landmarks)."""
    rng = np.random.default_rng(seed)
    src = scan_pts[rng.choice(len(scan_pts), size=min(sample, len(scan_pts)), replace=False)]
    tree = cKDTree(ref_pts)
    best: tuple[float, np.ndarray] | None = None
    for m0 in candidate_starts(scan_pts, nose_tip_mm):
        m, rms = icp_point_to_plane(src[:1000], ref_pts, ref_nrm, m0, iterations=15, keep=0.7, tree=tree)
        if best is None or rms < best[0]:
            best = (rms, m)
    assert best is not None
    m, rms = icp_point_to_plane(src, ref_pts, ref_nrm, best[1], iterations=40, keep=0.85, tree=tree)
    return RigidResult(matrix=m, residual_mm=rms, method="geometric: principal axes, nose tip, ICP")


def align_landmarks(scan_pts: np.ndarray, ref_pts: np.ndarray, ref_nrm: np.ndarray,
                    template_lm: np.ndarray, scan_lm: np.ndarray, sample: int = 3000,
                    seed: int = 0, start: np.ndarray | None = None) -> RigidResult:
    """Rigid alignment started from landmark pairs (template (k, 3), scan (k, 3), k >= 3), or from
    ``start`` (4, 4) when given (a start the caller made from its own pairs), refined by ICP."""
    if start is None and len(template_lm) < 3:
        raise ValueError("a landmark start needs at least three landmarks")
    m0 = kabsch(scan_lm, template_lm) if start is None else start
    rng = np.random.default_rng(seed)
    src = scan_pts[rng.choice(len(scan_pts), size=min(sample, len(scan_pts)), replace=False)]
    m, rms = icp_point_to_plane(src, ref_pts, ref_nrm, m0, iterations=40, keep=0.85)
    return RigidResult(matrix=m, residual_mm=rms, method=f"landmarks ({len(template_lm)}), then ICP")
