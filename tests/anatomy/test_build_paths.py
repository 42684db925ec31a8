"""The face builder's faster paths give the face its first way gave: the blocked polygon distance,
the sheets' skipped points, the layer surfaces' shared lookup and the structures built on threads."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy import build
from injectmap.anatomy.build import chaikin, polygon_sdf, polygon_sdf_per_edge
from injectmap.anatomy.model import BUILD_THREADS_ENV, build_model, build_threads


@pytest.mark.parametrize("m, passes", [(3, 0), (7, 2), (12, 3)])
def test_the_blocked_polygon_distance_is_the_per_edge_one(m: int, passes: int) -> None:
    rng = np.random.default_rng(m)
    poly = chaikin(rng.normal(size=(m, 2)) * 15.0, passes)
    poly = np.insert(poly, 1, poly[1], axis=0)  # a repeated vertex: an edge of length 0
    # more points than one block, some exactly on vertices and on an edge's middle
    uv = np.vstack([rng.normal(size=(2 * build.SDF_BLOCK + 37, 2)) * 20.0, poly[:5],
                    0.5 * (poly[2] + poly[3])[None]])
    fast, ref = polygon_sdf(uv, poly), polygon_sdf_per_edge(uv, poly)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-9)
    off = np.abs(ref) > 1e-9  # the same inside and outside (off the outline itself)
    assert np.array_equal(fast[off] < 0, ref[off] < 0)
    assert (ref < 0).any() and (ref > 0).any() and np.isclose(np.abs(ref).min(), 0.0, atol=1e-9)


def test_build_threads_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUILD_THREADS_ENV, "1")
    assert build_threads() == 1
    monkeypatch.setenv(BUILD_THREADS_ENV, "0")
    assert build_threads() == 1
    monkeypatch.setenv(BUILD_THREADS_ENV, "two")
    with pytest.raises(ValueError, match=BUILD_THREADS_ENV):
        build_threads()
    monkeypatch.delenv(BUILD_THREADS_ENV)
    assert 1 <= build_threads() <= 4


@pytest.mark.slow
@pytest.mark.variants
def test_a_fitted_face_built_on_two_threads_is_the_naive_build() -> None:
    """A fitted face (eight CC0 targets) built the fast way on two threads and the naive way on one:
    every array of the two faces is the same."""
    from injectmap.anatomy.params import FaceParams
    from injectmap.anatomy.scan.bench import face_difference
    from injectmap.anatomy.scan.synthetic import face_targets

    rng = np.random.default_rng(7)
    names = face_targets()
    fit = tuple((names[i], round(float(rng.uniform(0.2, 0.8)), 5)) for i in rng.choice(len(names), 8, replace=False))
    params = FaceParams(fit=fit)
    fast = build_model(params, threads=2)
    naive = build_model(params, naive=True)
    assert set(fast.build_stages_s) == {"head", "landmarks_and_layers", "body_field", "structures"}
    assert fast.structures.keys() == naive.structures.keys()
    assert face_difference(fast, naive) == 0.0
    # the comparison sees a change: one structure's volume moved by a hundredth of a mm
    naive.structures["buccinator_left"].volume.values[0, 0, 0] += 0.01  # type: ignore[union-attr]
    assert face_difference(fast, naive) == pytest.approx(0.01, abs=1e-6)
