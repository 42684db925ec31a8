"""The scan fit's shape stage (injectmap/anatomy/scan/shape.py): the face targets fitted to a surface
place a smooth region's skin where the targets put it, which the surface alone cannot tell."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from injectmap.anatomy.scan.nonrigid import ScanSurface
from injectmap.anatomy.scan.rigid import kabsch
from injectmap.anatomy.scan.shape import bounded_solve, fit_shape
from injectmap.anatomy.scan.synthetic import random_patient
from injectmap.anatomy.scan.template import default_template


def _kkt_violation(h: np.ndarray, g: np.ndarray, x: np.ndarray, bounded: np.ndarray) -> float:
    """How far x is from the optimum of x'Hx - 2g'x on the box: the gradient where it may still point."""
    grad = h @ x - g
    at_lo, at_hi = bounded & (x <= 1e-9), bounded & (x >= 1.0 - 1e-9)
    v = np.where(at_lo, np.minimum(grad, 0.0), np.where(at_hi, np.maximum(grad, 0.0), grad))
    return float(np.abs(v).max() / max(1.0, np.abs(g).max()))


def test_bounded_solve_reaches_the_optimum_with_the_pose_free() -> None:
    """Weights in their box, the free unknowns (the pose) unbounded, and the optimum itself: on random
    problems with nearly equal columns (the targets' incr/decr pairs) an active set that moves several
    weights at once cycled and stopped short (a 3-weight case returned [0.011, 1, 0] for [0, 1, 0.059])."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5))
    x_true = np.array([-3.0, 2.0, 0.4, 1.7, -0.5])  # two free, three weights (one over, one under)
    bounded = np.array([False, False, True, True, True])
    x = bounded_solve(a.T @ a, a.T @ (a @ x_true), bounded)
    assert np.all((x[bounded] >= 0.0) & (x[bounded] <= 1.0))
    assert x[3] == pytest.approx(1.0) and x[4] == pytest.approx(0.0, abs=1e-12) and x[0] < -1.0
    worst = 0.0
    for _ in range(200):
        k = int(rng.integers(3, 30))
        m = rng.normal(size=(3 * k, k))
        m[:, 1] = m[:, 0] + 0.05 * rng.normal(size=3 * k)
        h = m.T @ m + 1e-3 * np.eye(k)
        g = m.T @ (3.0 * rng.normal(size=3 * k))
        b = np.ones(k, dtype=bool)
        b[:2] = False
        x = bounded_solve(h, g, b)
        assert np.all((x[b] >= -1e-12) & (x[b] <= 1.0 + 1e-12))
        worst = max(worst, _kkt_violation(h, g, x, b))
    assert worst < 1e-6


def test_the_stage_finds_the_pose_it_was_given() -> None:
    """The template itself, turned 3 degrees and moved 2 mm, as the scan: the stage's rigid correction
    is that turn and shift (the linearised rotation's signs), the weights stay near zero."""
    from scipy.spatial.transform import Rotation

    t = default_template()
    turn = Rotation.from_rotvec(np.deg2rad(3.0) * np.array([0.6, 0.8, 0.0])).as_matrix()
    shift = np.array([2.0, -1.0, 1.5])
    moved = t.vertices_mm @ turn.T + shift
    res = fit_shape(t, ScanSurface(trimesh.Trimesh(moved, t.faces, process=False)))
    got = Rotation.from_matrix(res.rigid[:3, :3] @ turn.T).magnitude()
    assert np.rad2deg(got) < 0.2
    assert np.linalg.norm(res.rigid[:3, 3] - shift) < 0.5
    assert np.median(np.linalg.norm(res.vertices_mm - moved, axis=1)) < 0.2
    assert res.weights.max() < 0.1


def _laid_out(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each point's distance from its true place once the two are put in one pose (a scan's pose is
    the rigid alignment's to find; what is left is the face's shape and its layout on the surface)."""
    m = kabsch(points, truth)
    return np.linalg.norm(points @ m[:3, :3].T + m[:3, 3] - truth, axis=1)


@pytest.mark.parametrize("seed", [4, 8])
def test_the_targets_place_the_skin_where_the_surface_alone_cannot(seed: int) -> None:
    """A synthetic patient's own skin as the scan: the default template moved onto it by the shape
    stage puts each face vertex close to its true place (the template's layout was several mm off at
    its worst, much of it along the surface, which closest points cannot see)."""
    t = default_template()
    p = random_patient(seed).template
    scan = ScanSurface(trimesh.Trimesh(p.vertices_mm, p.faces, process=False))
    face = (t.vertices_mm[:, 2] > 0.0) & (np.abs(t.vertices_mm[:, 1]) < 80.0)
    before = _laid_out(t.vertices_mm[face], p.vertices_mm[face])
    res = fit_shape(t, scan)
    after = _laid_out(res.vertices_mm[face], p.vertices_mm[face])
    print(f"\nseed {seed}: vertex error median {np.median(before):.2f} -> {np.median(after):.2f} mm, "
          f"95th percentile {np.percentile(before, 95):.2f} -> {np.percentile(after, 95):.2f} mm, "
          f"{int(np.sum(res.weights > 0.01))} targets")
    assert np.median(after) < 0.35 * np.median(before)
    assert np.percentile(after, 95) < 0.5 * np.percentile(before, 95)
    assert np.all((res.weights >= 0.0) & (res.weights <= 1.0))
    leaf = [n.rsplit("/", 1)[-1] for n in res.names]
    assert not any(n.startswith(("head-angle-", "head-trans-")) for n in leaf)  # a pose is the rigid part's
    assert "forehead-trans-backward.target.gz" in leaf  # the forehead's own are kept
    assert res.matched > 0.5 * face.sum()
