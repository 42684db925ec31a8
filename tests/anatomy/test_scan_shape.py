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


def test_bounded_solve_keeps_the_weights_in_their_box_and_the_pose_free() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5))
    x_true = np.array([-3.0, 2.0, 0.4, 1.7, -0.5])  # two free, three weights (one over, one under)
    b = a @ x_true
    bounded = np.array([False, False, True, True, True])
    x = bounded_solve(a.T @ a, a.T @ b, bounded)
    assert np.all((x[bounded] >= 0.0) & (x[bounded] <= 1.0))
    assert x[3] == 1.0 and x[4] == 0.0
    # the free ones are the least squares given the bounded ones at their values (no box on them)
    rest = b - a[:, 2:] @ x[2:]
    assert np.allclose(x[:2], np.linalg.lstsq(a[:, :2], rest, rcond=None)[0], atol=1e-8)


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
    assert np.median(after) < 0.6 * np.median(before)
    assert np.percentile(after, 95) < 0.6 * np.percentile(before, 95)
    assert np.all((res.weights >= 0.0) & (res.weights <= 1.0))
    assert not any("head-angle-" in n or "head-trans-" in n for n in res.names)  # a pose is the rigid part's
    assert res.matched > 0.5 * face.sum()
