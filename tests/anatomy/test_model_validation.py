"""Validate the default face model against PUBLISHED anatomy, not against its own output.

Known disagreements are marked ``xfail(strict=True)`` with the measured value in the reason, so
they stay visible and the mark must be removed once the model is fixed.
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

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


# ---------------------------------------------------------------------- inside the closed skin
@pytest.fixture(scope="module")
def outside_body_share(model) -> dict[str, float]:
    """Per structure, the share of its mesh vertices outside the body: outside the closed skin mesh
    and outside both eyeballs. The base head's skin turns inward into pockets (eye sockets, nose,
    mouth) that lie below the sealed skin used for depths, so the depth test above cannot see them."""
    ids = _INSIDE_IDS
    pts = [_pts(model, s) for s in ids]
    allp = np.vstack(pts)
    inside = pv.PolyData(allp).select_interior_points(model.skin, check_surface=False)["selected_points"]
    inside = np.asarray(inside).astype(bool)
    for eye in model.eyes.values():
        e = np.asarray(eye.points)
        c = e.mean(axis=0)
        inside |= np.linalg.norm(allp - c, axis=1) <= np.linalg.norm(e - c, axis=1).max()
    out, k = {}, 0
    for sid, p in zip(ids, pts, strict=True):
        out[sid] = float(np.mean(~inside[k:k + len(p)]))
        k += len(p)
    return out


@pytest.mark.parametrize("sid", _INSIDE_IDS)
def test_structure_inside_closed_skin(outside_body_share, sid):
    """Before the builder cut every structure to the body, 31% of levator palpebrae and 70% of
    buccinator lay in the eye-socket and mouth pockets (and up to 27% of 14 other structures); now at most
    a few vertices in a thousand (the orbit where it meets the eyeball, which is not quite a sphere)."""
    assert outside_body_share[sid] <= 0.005, f"{outside_body_share[sid]:.2%} of its vertices lie outside the skin"


# ---------------------------------------------------------------------------- anthropometry
# ft-ft measured 90.7 mm (the base head's narrow forehead) until geometry.yaml `shape` widened it
ANTHRO_XFAIL: dict[str, str] = {}


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


# ------------------------------------------- the frontal branch of the superficial temporal artery
_FSTA = "frontal_branch_superficial_temporal_artery_{}"


def _course_in_layers(model, side: str):
    """The branch's centreline, its depth below the skin and the fat's and the SMAS layer's floors there."""
    c = np.asarray(model.structures[_FSTA.format(side)].centreline, dtype=float)
    depth, rows = model.depth_below_skin(c)
    return c, depth, np.asarray(model.layer_fat_mm)[rows], np.asarray(model.layer_smas_mm)[rows]


def _frontalis_entry(model, side: str) -> int:
    """Index of the first centreline point inside the frontalis (where the branch reaches the muscle)."""
    c = np.asarray(model.structures[_FSTA.format(side)].centreline, dtype=float)
    inside = np.nonzero(model.index.field_at(f"frontalis_{side}", c) < 0)[0]
    assert inside.size, "the branch never reaches the frontalis"
    return int(inside[0])


@pytest.mark.parametrize("side", SIDES)
def test_sta_frontal_branch_divides_where_lee_measured(model, side):
    """Lee et al., Surg Radiol Anat 2015 (64 hemifaces): the frontal branch leaves the trunk 36.9 [SD 14.2] mm above
    and 17.2 [SD 8.2] mm anterior to the tragion."""
    c = model.structures[_FSTA.format(side)].centreline
    up, forward = c[0][1] - model.landmarks[f"tragion_{side}"][1], c[0][2] - model.landmarks[f"tragion_{side}"][2]
    assert abs(up - 36.9) <= 3.0 and abs(forward - 17.2) <= 3.0, (up, forward)


@pytest.mark.parametrize("side", SIDES)
def test_sta_frontal_branch_reaches_the_frontalis_above_the_brow(model, side):
    """Lee et al. 2015: it reaches the lateral border of the frontalis 14.8 [SD 7.7] mm above the top of the brow and
    15.8 [SD 9.1] mm from the lateral canthus. Measured here where the course first enters the frontalis volume:
    its height above the brow peak within 3 mm of the mean, its distance across the face from the lateral canthus
    (in the horizontal plane) within one SD."""
    c = model.structures[_FSTA.format(side)].centreline
    p = c[_frontalis_entry(model, side)]
    height = p[1] - model.landmarks[f"brow_peak_{side}"][1]
    exo = model.landmarks[f"exocanthion_{side}"]
    across = float(np.hypot(p[0] - exo[0], p[2] - exo[2]))
    assert abs(height - 14.8) <= 3.0, height
    assert abs(across - 15.8) <= 9.1, across


@pytest.mark.parametrize("side", SIDES)
def test_sta_frontal_branch_runs_in_the_temporoparietal_fascia_and_galea(model, side):
    """Sigrist et al., Diagnostics 2024 (ultrasound): the superficial temporal artery runs within the superficial
    temporal fascia, which the galea continues over the forehead: from the division to the frontalis and on over
    it, the course lies in the model's SMAS layer (0.3 mm of spline slack), never in the fat above it or deep to
    it, until its perforating branch turns up through the frontalis (Jo et al. 2012)."""
    c, depth, fat, smas = _course_in_layers(model, side)
    upto = _frontalis_entry(model, side)
    assert np.all(depth[: upto + 1] >= fat[: upto + 1] - 0.3), (depth[: upto + 1] - fat[: upto + 1]).min()
    assert np.all(depth[: upto + 1] <= smas[: upto + 1] + 0.3), (depth[: upto + 1] - smas[: upto + 1]).max()
    # the part in the galea reaches on over the frontalis, well beyond its lateral border
    in_galea = depth >= fat - 0.3
    leaves = int(np.argmin(in_galea[upto:])) + upto if not in_galea[upto:].all() else len(c) - 1
    assert np.linalg.norm(c[leaves] - c[upto]) >= 15.0


@pytest.mark.parametrize("side", SIDES)
def test_sta_frontal_branch_perforates_to_the_fat_where_jo_found_it(model, side):
    """Jo et al., J Craniofac Surg 2012: the perforating frontal artery pierces the frontalis into the skin, 83% within
    8.9 mm of a point at 89.8% of the midline-to-lateral-canthus width and 79.1% of the rim-to-hairline height. The
    course leaves the SMAS layer for the fat within that circle (frontal plane) and ends in the fat."""
    c, depth, fat, _ = _course_in_layers(model, side)
    upto = _frontalis_entry(model, side)
    shallow = np.nonzero(depth[upto:] < fat[upto:] - 0.1)[0]
    assert shallow.size, "the course never reaches the subcutaneous fat"
    p = c[upto + int(shallow[0])]
    rim = model.landmarks[f"orbital_rim_superior_{side}"]
    centre_x = 0.898 * abs(model.landmarks[f"exocanthion_{side}"][0])
    centre_y = rim[1] + 0.791 * (model.landmarks["trichion"][1] - rim[1])
    assert np.hypot(abs(p[0]) - centre_x, p[1] - centre_y) <= 8.9, (p, centre_x, centre_y)
    assert depth[-1] < fat[-1]


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


# ------------------------------------------------------------- temporalis, parotid, sheet edges
@pytest.mark.parametrize("side", SIDES)
def test_temporalis_fan_converges_under_the_arch_onto_the_coronoid(model, side):
    """Gray's Anatomy: a fan from the temporal fossa whose fibres converge to a tendon passing deep
    to the zygomatic arch onto the coronoid process (below the arch, medial to it, deep to the
    masseter). Measured before the fan: nothing below the arch, 43 mm wide 5 mm above the zygion."""
    pts = _pts(model, f"temporalis_{side}")
    zy = model.landmarks[f"zygion_{side}"]

    def front_to_back(y: float) -> float:
        band = pts[np.abs(pts[:, 1] - y) < 1.5]
        return float(np.ptp(band[:, 2])) if len(band) else 0.0

    widest = max(front_to_back(y) for y in np.arange(zy[1] + 15.0, pts[:, 1].max(), 2.0))
    assert front_to_back(zy[1] + 3.0) <= 0.4 * widest, (front_to_back(zy[1] + 3.0), widest)
    below = pts[pts[:, 1] < zy[1] - 8.0]
    assert len(below) > 50, "no tendon below the arch"
    assert np.abs(below[:, 0]).max() < abs(zy[0]) - 8.0, "the tendon must pass medial to (deep to) the arch"
    depth, _ = model.depth_below_skin(below)
    masseter_depth, _ = model.depth_below_skin(_pts(model, f"masseter_superficial_{side}"))
    assert np.median(depth) > np.median(masseter_depth), "the coronoid insertion lies deep to the masseter"


@pytest.mark.parametrize("side", SIDES)
def test_parotid_deep_lobe_behind_ramus_with_the_facial_nerve_between_lobes(model, side):
    """The deep lobe lies behind the ramus and medial to it; the facial nerve runs between the
    superficial and the deep lobe (anatomy texts). The ramus's lateral surface lies ~18 mm below the
    skin at mid-ramus (geometry.yaml bone_depth, De Greef et al. 2006). Before the deep lobe the
    gland ended 16 mm deep and the zygomatic and buccal branches ran inside it."""
    gid = f"parotid_gland_{side}"
    g = _pts(model, gid)
    depth, _ = model.depth_below_skin(g)
    deep, superficial = g[depth > 18.0], g[depth < 10.0]
    assert len(deep) > 100, "no gland medial to the ramus"
    masseter = _pts(model, f"masseter_superficial_{side}")
    assert deep[:, 2].mean() < masseter[:, 2].mean() - 10.0, "the deep lobe lies behind the ramus"
    assert np.abs(deep[:, 0]).mean() < np.abs(superficial[:, 0]).mean() - 5.0, "the deep lobe lies medial"
    sandwiched = 0
    for branch in ("temporal", "zygomatic", "buccal", "marginal_mandibular", "cervical"):
        c = model.structures[f"facial_nerve_{branch}_branch_{side}"].centreline
        assert (model.index.field_at(gid, c) >= 0).all(), f"the {branch} branch runs inside the gland"
        hits = 0
        for p in c[::3]:
            q, n = model.skin_point(p)
            d = float(np.dot(q - p, n))
            steps = np.arange(0.0, 40.0, 0.25)
            inside = model.index.field_at(gid, q[None, :] - steps[:, None] * n[None, :]) < 0
            above = inside[(steps > d - 8.0) & (steps < d - 0.5)].any()
            below = inside[(steps > d + 0.5) & (steps < d + 15.0)].any()
            hits += int(above and below)
        sandwiched += int(hits >= 2)
    assert sandwiched >= 2, f"only {sandwiched} facial nerve branches pass between the lobes"


def _thickness_edge_and_core(model, sid: str, taper_mm: float) -> tuple[float, float]:
    """Median thickness (along the skin normal) of a sheet near its outline (within 2 mm of the
    footprint's edge) and in its core (more than ``taper_mm`` + 2 mm inside)."""
    pts, nrm = model.depth_points_mm, model.depth_normals
    mesh = _pts(model, sid)
    sel = np.all((pts >= mesh.min(0) - 20.0) & (pts <= mesh.max(0) + 20.0), axis=1)
    p, n = pts[sel], nrm[sel]
    steps = np.arange(0.0, 35.0, 0.2)
    ray = p[:, None, :] - steps[None, :, None] * n[:, None, :]
    inside = (model.index.field_at(sid, ray.reshape(-1, 3)) < 0).reshape(len(p), len(steps))
    thick = inside.sum(axis=1) * 0.2
    foot = thick > 0
    if foot.sum() < 20 or (~foot).sum() == 0:
        return float("nan"), float("nan")
    from scipy.spatial import cKDTree

    dist_out, _ = cKDTree(p[~foot]).query(p[foot])
    t = thick[foot]
    return float(np.median(t[dist_out < 2.0])), float(np.median(t[dist_out > taper_mm + 2.0]))


@pytest.mark.parametrize("sid", ["orbicularis_oris", "temporalis_left", "masseter_superficial_left"])
def test_sheet_muscles_taper_to_their_edges(model, sid):
    """Flat muscles thin out to a fascial edge (geometry.yaml `sheets`, project choice): near the
    outline the sheet is clearly thinner than in its core. Measured before the taper (edge / core):
    orbicularis oris 0.68, temporalis 0.89, masseter 0.77; after: 0.54, 0.53, 0.23."""
    from injectmap.anatomy.fields import load_geometry

    taper = float(load_geometry()["sheets"]["taper_mm"])
    edge, core = _thickness_edge_and_core(model, sid, taper)
    assert edge <= 0.6 * core, (edge, core)


def test_orbicularis_oris_surrounds_the_mouth(model):
    """A sphincter in both lips, from below the nose to the mentolabial sulcus (geometry.yaml
    orbicularis_oris): cutting the muscles to the body must not drop the lower lip's part."""
    y = _pts(model, "orbicularis_oris")[:, 1]
    assert y.max() > model.landmarks["labrale_superius"][1] and y.min() < model.landmarks["labrale_inferius"][1]


def _outline_roughness(model, sid: str, mid_depth: float, pixel: float = 0.5, sigma: float = 2.0) -> float:
    """The sheet's footprint on the skin chart (the skin points with the sheet below them at
    ``mid_depth``) as a 0.5 mm image: its outline length over the length of the same outline
    smoothed at 2 mm. 1 for a smooth outline; a staircase or jagged rim makes it longer."""
    from scipy.ndimage import gaussian_filter

    from injectmap.anatomy.fields import chart_uv, load_geometry

    pts, nrm = model.depth_points_mm, model.depth_normals
    mesh = _pts(model, sid)
    sel = np.all((pts >= mesh.min(0) - 3.0) & (pts <= mesh.max(0) + 3.0), axis=1)
    inside = model.index.field_at(sid, pts[sel] - nrm[sel] * mid_depth) < 0
    uv = chart_uv(pts[sel], load_geometry())
    idx = np.floor((uv - uv.min(0)) / pixel).astype(int)
    img, cnt = np.zeros(idx.max(0) + 1), np.zeros(idx.max(0) + 1)
    np.add.at(img, tuple(idx.T), inside.astype(float))
    np.add.at(cnt, tuple(idx.T), 1.0)
    den = gaussian_filter(cnt, 1.0)
    foot = np.where(den > 1e-6, gaussian_filter(img, 1.0) / np.maximum(den, 1e-9), 0.0) > 0.5

    def length(b: np.ndarray) -> float:
        b = b.astype(int)
        return float(np.abs(np.diff(b, axis=0)).sum() + np.abs(np.diff(b, axis=1)).sum()) * pixel

    return length(foot) / length(gaussian_filter(foot.astype(float), sigma / pixel) > 0.5)


@pytest.mark.parametrize("side", SIDES)
def test_frontalis_outline_is_smooth(model, side):
    """Measured before the outline was read at each point's own chart position (not its nearest skin
    vertex's, ~2-4 mm apart on the forehead) and rounded: 2.01 (a staircase rim); after: 1.64."""
    from injectmap.anatomy.fields import load_geometry

    depth = float(np.mean(load_geometry()["muscles"]["frontalis"]["depth_mm"]))
    assert _outline_roughness(model, f"frontalis_{side}", depth) <= 1.8


def test_the_masseter_templates_tips_lie_in_the_masseter(model):
    """The masseter template's points (12 mm, perpendicular, below the tragus-cheilion line) reach into the
    masseter, as the published technique does (deep, near the bone), and the muscle there is 8-16 mm thick
    (Xie et al.: 10-14 mm; hypertrophy 12.9): the superficial part lies on the bone where the deep part is not.
    Before, it stopped 4 mm above the bone everywhere and every tip of the template lay in no muscle."""
    from injectmap.planning.analysis import place_all
    from injectmap.planning.plan import parse_plan
    from injectmap.planning.protocols import protocol_plan

    plan = parse_plan(protocol_plan("masseter_three_point"))
    placed_all, issues = place_all(model, plan)
    assert not issues
    for point, placed in zip(plan.points, placed_all, strict=True):
        assert placed is not None
        side = "left" if point.id.endswith("left") else "right"
        muscle = (f"masseter_superficial_{side}", f"masseter_deep_{side}")
        tip = np.asarray(placed.tip_mm, dtype=float)[None]
        assert min(float(model.index.field_at(m, tip)[0]) for m in muscle) < 0, point.id
        q, normal = model.skin_point(np.asarray(placed.entry_mm, dtype=float))
        ray = q[None, :] - np.arange(0.0, 40.0, 0.1)[:, None] * normal[None, :]
        inside = np.zeros(len(ray), dtype=bool)
        for m in muscle:
            inside |= model.index.field_at(m, ray) < 0
        assert 8.0 <= inside.sum() * 0.1 <= 16.0, (point.id, inside.sum() * 0.1)
