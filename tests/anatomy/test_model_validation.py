"""Validate the default face model against PUBLISHED anatomy, not against its own output.

Known disagreements are marked ``xfail(strict=True)`` with the measured value in the reason, so
they stay visible and the mark must be removed once the model is fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy.ids import landmark_ids, structure_ids
from injectmap.anatomy.metadata import load_anthropometry

pytestmark = pytest.mark.slow

SIDES = ("left", "right")
EXCLUDED_LAYERS = {"skin", "subcutaneous_fat", "smas", "bone"}


def _xf(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points ``p`` (n, k) to the segment ``a``-``b``."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _pts(model, sid: str) -> np.ndarray:
    return np.asarray(model.structures[sid].mesh.points, dtype=float)


# ----------------------------------------------------------------------------------- contracts
def test_every_contract_structure_exists(model):
    missing = [s for s in structure_ids() if s not in model.structures]
    assert not missing, missing
    wrong = {s: model.structures[s].kind for s, k in structure_ids().items() if model.structures[s].kind != k}
    assert not wrong, wrong


def test_every_contract_landmark_exists(model):
    missing = [lm for lm in landmark_ids() if lm not in model.landmarks]
    assert not missing, missing
    for lm in landmark_ids():
        p = np.asarray(model.landmarks[lm])
        assert p.shape == (3,) and np.all(np.isfinite(p)), lm


# ----------------------------------------------------------------------------- closed meshes
# every volume is meshed by marching cubes on a field padded outside its grid: no exceptions
OPEN_MESHES: dict[str, int] = {}
CLOSED_KINDS = {"muscle", "gland", "duct", "artery", "nerve"}
_CLOSED_IDS = sorted(s for s, k in structure_ids().items() if k in CLOSED_KINDS) + ["orbit_left", "orbit_right"]


@pytest.mark.parametrize(
    "sid",
    [
        pytest.param(s, marks=_xf(f"mesh has {OPEN_MESHES[s]} open edges")) if s in OPEN_MESHES else s
        for s in _CLOSED_IDS
    ],
)
def test_mesh_closed_with_positive_volume(model, sid):
    mesh = model.structures[sid].mesh
    assert mesh.n_points > 0
    assert mesh.n_open_edges == 0
    assert mesh.volume > 0


# --------------------------------------------------------------------------- inside the skin
# measured fraction of mesh points with depth > -1 mm
OUTSIDE_SKIN: dict[str, float] = {}
_INSIDE_IDS = sorted(s for s in structure_ids() if s not in EXCLUDED_LAYERS)


@pytest.mark.parametrize(
    "sid",
    [
        pytest.param(s, marks=_xf(f"only {OUTSIDE_SKIN[s]:.1%} of its points are inside the skin"))
        if s in OUTSIDE_SKIN else s
        for s in _INSIDE_IDS
    ],
)
def test_structure_inside_skin(model, sid):
    depth, _ = model.depth_below_skin(_pts(model, sid))
    assert np.mean(depth > -1.0) >= 0.99


# ---------------------------------------------------------------------------- anthropometry
ANTHRO_XFAIL = {
    "ft_ft": "minimum frontal width (ft-ft) measures 90.7 mm vs 110.0 +/- 3x5.2 mm: the base head's forehead is narrow",
}


def _anthro_params():
    out = []
    for key, _ms in sorted(load_anthropometry().items()):
        if key in ANTHRO_XFAIL:
            out.append(pytest.param(key, marks=_xf(ANTHRO_XFAIL[key])))
        else:
            out.append(key)
    return out


@pytest.mark.parametrize("key", _anthro_params())
def test_anthropometry_within_3sd(model, key):
    ms = load_anthropometry()[key]
    a, b = ms.landmarks
    if a not in model.landmarks or b not in model.landmarks:
        pytest.skip(f"landmark {a} or {b} not in the model")
    d = float(np.linalg.norm(model.landmarks[a] - model.landmarks[b]))
    mean = 0.5 * (ms.male_mean + ms.female_mean)
    sd = 0.5 * (ms.male_sd + ms.female_sd)
    assert mean - 3 * sd <= d <= mean + 3 * sd, f"{ms.name}: {d:.1f} mm vs {mean:.1f} +/- 3x{sd:.1f}"


# -------------------------------------------------------------------------- vessels and duct
@pytest.mark.parametrize("side", SIDES)
def test_parotid_duct_follows_tragion_cheilion_line(model, side):
    """Stringer 2012: the duct runs along the middle third of the tragus-cheilion line."""
    c = model.structures[f"parotid_duct_{side}"].centreline
    on = c[model.index.field_at(f"masseter_superficial_{side}", c) < 3.0]
    assert len(on) >= 5, "duct does not cross the masseter"
    t, ch = model.landmarks[f"tragion_{side}"], model.landmarks[f"cheilion_{side}"]
    d = _seg_dist(on, t + 0.25 * (ch - t), t + 0.75 * (ch - t))
    assert d.max() <= 15.0, d.max()


@pytest.mark.parametrize("side", SIDES)
def test_facial_artery_crosses_mandible_at_anterior_masseter(model, side):
    fa = model.structures[f"facial_artery_{side}"].centreline
    low = fa[np.argmin(fa[:, 1])]
    mp = _pts(model, f"masseter_superficial_{side}")
    near = mp[np.abs(mp[:, 1] - low[1]) < 5.0]
    assert len(near), "no masseter at the height where the artery crosses the mandible"
    assert abs(low[2] - near[:, 2].max()) <= 10.0, (low, near[:, 2].max())


@pytest.mark.parametrize("side", SIDES)
def test_facial_artery_lateral_to_cheilion(model, side):
    fa = model.structures[f"facial_artery_{side}"].centreline
    ch = model.landmarks[f"cheilion_{side}"]
    band = fa[np.abs(fa[:, 1] - ch[1]) < 5.0]
    assert len(band), "artery never reaches the height of the mouth corner"
    lateral = np.abs(band[:, 0]) - abs(ch[0])
    assert np.any((lateral >= 5.0) & (lateral <= 20.0)), lateral


@pytest.mark.parametrize("side", SIDES)
def test_supratrochlear_artery_at_glabella_height(model, side):
    st = model.structures[f"supratrochlear_artery_{side}"].centreline
    p = st[np.argmin(np.abs(st[:, 1] - model.landmarks["glabella"][1]))]
    assert 10.0 <= abs(p[0]) <= 22.0, p


@pytest.mark.parametrize("side", SIDES)
def test_supraorbital_notch_distance_from_midline(model, side):
    """Barker 2013: 16-39 mm from the midline."""
    x = abs(model.landmarks[f"supraorbital_notch_{side}"][0])
    assert 16.0 <= x <= 39.0, x


# ------------------------------------------------------------------------------------ nerves
@pytest.mark.parametrize("side", SIDES)
def test_frontal_branch_follows_pitanguy_line(model, side):
    """Pitanguy 1966: 0.5 cm below the tragus to 1.5 cm above the lateral brow."""
    n = model.structures[f"facial_nerve_temporal_branch_{side}"].centreline
    a = model.landmarks[f"tragion_{side}"] + np.array([0.0, -5.0, 0.0])
    b = model.landmarks[f"brow_lateral_{side}"] + np.array([0.0, 15.0, 0.0])
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(n, axis=0), axis=1))]
    s /= s[-1]
    mid = n[(s >= 0.25) & (s <= 0.75)]
    assert _seg_dist(mid, a, b).max() <= 10.0


# ----------------------------------------------------------------------------------- muscles
@pytest.mark.parametrize("side", SIDES)
def test_levator_palpebrae_behind_septum_in_orbit(model, side):
    pts = _pts(model, f"levator_palpebrae_superioris_{side}")
    skin, _ = model.skin_point(model.landmarks[f"pupil_{side}"])
    assert pts[:, 2].max() < skin[2] - 3.0
    f = model.index.field_at(f"orbit_{side}", pts)
    # the aponeurosis reaches forward into the lid, beyond the orbital volume: most, not all
    assert np.mean(f < 0.5) >= 0.9 and f.max() < 3.0


@pytest.mark.parametrize("side", SIDES)
def test_masseter_total_thickness(model, side):
    sup, deep = f"masseter_superficial_{side}", f"masseter_deep_{side}"
    q, normal = model.skin_point(_pts(model, sup).mean(axis=0))
    step = 0.1
    ray = q[None, :] - np.arange(0.0, 40.0, step)[:, None] * normal[None, :]
    inside = (model.index.field_at(sup, ray) < 0) | (model.index.field_at(deep, ray) < 0)
    thickness = inside.sum() * step
    assert 8.0 <= thickness <= 16.0, thickness


@pytest.mark.parametrize(
    "side",
    SIDES,
)
def test_corrugator_medial_end(model, side):
    x = np.abs(_pts(model, f"corrugator_supercilii_{side}")[:, 0])
    assert 4.0 <= x.min() <= 15.0, x.min()


@pytest.mark.parametrize("side", SIDES)
def test_corrugator_lateral_extent(model, side):
    x = np.abs(_pts(model, f"corrugator_supercilii_{side}")[:, 0])
    assert 35.0 <= x.max() <= 50.0, x.max()


@pytest.mark.parametrize("side", SIDES)
def test_corrugator_depth(model, side):
    d, _ = model.depth_below_skin(_pts(model, f"corrugator_supercilii_{side}"))
    assert 4.0 <= d.mean() <= 8.0, d.mean()


def test_procerus_depth(model):
    d, _ = model.depth_below_skin(_pts(model, "procerus"))
    assert 2.0 <= d.mean() <= 5.0, d.mean()
