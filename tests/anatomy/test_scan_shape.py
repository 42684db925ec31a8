"""The scan fit's shape stage (injectmap/anatomy/scan/shape.py): the face targets fitted to a surface
place a smooth region's skin where the targets put it, which the surface alone cannot tell."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from injectmap.anatomy.scan.nonrigid import ScanSurface
from injectmap.anatomy.scan.rigid import kabsch
from injectmap.anatomy.scan.shape import fit_shape
from injectmap.anatomy.scan.synthetic import random_patient
from injectmap.anatomy.scan.template import default_template


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
