"""The scan fit (issue 13, the scan path): loading and units, the rigid start, the coverage blend, the
landmarks found on an off-screen render of the scan, and its validation on synthetic patients with a
known truth (random CC0 shape targets on the base head, scanned partially: cut in front of the ears,
at the hairline and below the chin, with holes, remeshed, noisy, in an arbitrary pose, in
millimetres and in metres, with the synthetic skin's colours)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import trimesh

from injectmap.anatomy.fit.landmarks import mediapipe_version
from injectmap.anatomy.scan import ScanError, decide_units, fit_scan, load_scan
from injectmap.anatomy.scan.fit import BROWS, ScanFit, coverage_weight
from injectmap.anatomy.scan.renderlm import NoFaceInRender, render_landmarks
from injectmap.anatomy.scan.rigid import apply, kabsch
from injectmap.anatomy.scan.synthetic import SyntheticScan, patient_points, random_patient, scan_of, write_scan
from injectmap.anatomy.scan.template import default_template
from injectmap.anatomy.scan.validation import Score, score


# -- fast: units, files, rigid, blend ---------------------------------------------------------------
@pytest.mark.parametrize(("extent", "units"), [(0.19, "m"), (0.25, "m"), (0.14, "m"), (190.0, "mm"), (245.0, "mm")])
def test_units_follow_the_size_of_a_face(extent: float, units: str) -> None:
    u, why = decide_units(extent)
    assert u == units
    assert "mm" in why


@pytest.mark.parametrize("extent", [0.01, 2.0, 19.0, 5000.0])
def test_a_size_no_unit_makes_a_face_is_refused(extent: float) -> None:
    with pytest.raises(ScanError, match="give the units"):
        decide_units(extent)


def test_given_units_are_checked_against_the_size() -> None:
    assert decide_units(0.2, "m")[0] == "m"
    with pytest.raises(ScanError, match="check the units"):
        decide_units(200.0, "m")


def _sphere_cap(radius: float) -> trimesh.Trimesh:
    s = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    return s.submesh([np.flatnonzero(s.triangles_center[:, 2] > 0)], append=True)


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl", "glb"])
def test_every_scan_format_loads_in_millimetres(tmp_path, fmt: str) -> None:
    path = tmp_path / f"cap.{fmt}"
    _sphere_cap(0.1).export(path)  # 0.2 m across
    scan = load_scan(path)
    assert scan.units == "m" and scan.scale_to_mm == 1000.0
    assert np.ptp(scan.mesh.vertices, axis=0).max() == pytest.approx(200.0, rel=0.01)


def test_unreadable_and_empty_scans_are_refused(tmp_path) -> None:
    bad = tmp_path / "x.ply"
    bad.write_bytes(b"not a mesh")
    with pytest.raises(ScanError):
        load_scan(bad)
    with pytest.raises(ScanError, match="not a scan file"):
        load_scan(tmp_path / "face.jpg")
    tiny = trimesh.creation.box(extents=(150, 150, 150))
    with pytest.raises(ScanError, match="triangles"):
        load_scan(tiny)


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb"])
def test_a_scans_colours_survive_loading(tmp_path, fmt: str) -> None:
    """Vertex colours (a textured scan's) reach the fit, per vertex, through every format that carries
    them; a scan without colours has none (it is rendered shaded)."""
    cap = _sphere_cap(100.0)
    rgb = np.zeros((len(cap.vertices), 4), dtype=np.uint8)
    rgb[:, 0] = np.where(cap.vertices[:, 0] > 0, 200, 40)  # two halves, red and dark
    rgb[:, 3] = 255
    cap.visual.vertex_colors = rgb
    cap.export(tmp_path / f"cap.{fmt}")
    scan = load_scan(tmp_path / f"cap.{fmt}")
    assert scan.colours is not None and scan.colours.shape == (len(scan.mesh.vertices), 3)
    right = np.asarray(scan.mesh.vertices)[:, 0] > 1.0
    left = np.asarray(scan.mesh.vertices)[:, 0] < -1.0
    assert np.all(scan.colours[right, 0] == 200) and np.all(scan.colours[left, 0] == 40)
    _sphere_cap(100.0).export(tmp_path / f"plain.{fmt}")
    assert load_scan(tmp_path / f"plain.{fmt}").colours is None


@pytest.mark.parametrize("fmt", ["glb", "obj"])
def test_a_textured_scans_texture_is_sampled_at_its_vertices(tmp_path, fmt: str) -> None:
    from PIL import Image

    cap = _sphere_cap(100.0)
    uv = np.c_[cap.vertices[:, 0] / 200 + 0.5, cap.vertices[:, 1] / 200 + 0.5]
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[:, :32], img[:, 32:] = (40, 40, 40), (200, 30, 30)  # the image's left half is the cap's -x
    cap.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(img))
    cap.export(tmp_path / f"cap.{fmt}")
    scan = load_scan(tmp_path / f"cap.{fmt}")
    assert scan.colours is not None
    x = np.asarray(scan.mesh.vertices)[:, 0]
    assert np.all(scan.colours[x > 5.0, 0] == 200) and np.all(scan.colours[x < -5.0, 0] == 40)


def test_a_texture_over_the_limit_is_not_decoded(tmp_path, monkeypatch) -> None:
    """A texture larger than MAX_TEXTURE_PIXELS is left out (no colours) rather than decoded whole."""
    from PIL import Image

    import injectmap.anatomy.scan.loading as loading

    cap = _sphere_cap(100.0)
    uv = np.c_[cap.vertices[:, 0] / 200 + 0.5, cap.vertices[:, 1] / 200 + 0.5]
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[:, 32:] = (200, 30, 30)
    cap.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(img))
    cap.export(tmp_path / "cap.glb")
    assert load_scan(tmp_path / "cap.glb").colours is not None
    monkeypatch.setattr(loading, "MAX_TEXTURE_PIXELS", 64 * 63)
    assert load_scan(tmp_path / "cap.glb").colours is None


def test_a_scene_that_instances_one_mesh_many_times_is_refused_before_it_is_merged(tmp_path, monkeypatch) -> None:
    """A small GLB that places one mesh on many nodes would expand in memory when merged: its instanced
    triangles are counted from the scene graph first and refused past MAX_SCAN_FACES, from a file and
    from an upload's bytes (the Face card's reader)."""
    import injectmap.anatomy.scan.loading as loading
    from injectmap.viewer.face_scan import read_scan_bytes

    part = trimesh.creation.icosphere(2)  # 320 triangles
    scene = trimesh.Scene()
    for i in range(40):
        scene.add_geometry(part, geom_name="part", transform=trimesh.transformations.translation_matrix([i * 3.0, 0, 0]))
    data = scene.export(file_type="glb")
    (tmp_path / "many.glb").write_bytes(data)
    assert len(read_scan_bytes(data, "many.glb").faces) == 40 * 320  # under the limit: merged, every instance
    monkeypatch.setattr(loading, "MAX_SCAN_FACES", 39 * 320)
    with pytest.raises(ScanError, match="more than 12,480 triangles"):
        read_scan_bytes(data, "many.glb")
    with pytest.raises(ScanError, match="many.glb: holds more than"):
        load_scan(tmp_path / "many.glb")


def test_a_box_shows_the_landmarker_no_face() -> None:
    pytest.importorskip("mediapipe")
    box = trimesh.creation.box(extents=(150.0, 200.0, 120.0)).subdivide().subdivide()
    with pytest.raises(NoFaceInRender, match="no face"):
        render_landmarks(box, np.eye(4), default_template())


def test_kabsch_recovers_a_rigid_motion() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(10, 3)) * 50
    m = trimesh.transformations.random_rotation_matrix(rng.random(3))
    m[:3, 3] = [10.0, -20.0, 300.0]
    assert np.allclose(kabsch(a, apply(m, a)), m, atol=1e-9)


def test_coverage_weight_falls_smoothly_to_zero() -> None:
    t = default_template()
    matched = t.vertices_mm[:, 2] > 0.0  # the front of the face
    w = coverage_weight(t.vertices_mm, t.faces, matched, 20.0)
    assert np.all(w[matched] == 1.0)
    assert np.all((w >= 0) & (w <= 1))
    assert np.all(w[t.vertices_mm[:, 2] < -40.0] == 0.0)  # far behind the band
    band = (w > 0) & (w < 1)
    assert band.sum() > 50
    # no step at the border of the coverage: along every edge the weight changes at most at the
    # smoothstep's steepest slope (1.5 / blend) times the edge's length
    e = t.faces[:, [0, 1]]
    length = np.linalg.norm(t.vertices_mm[e[:, 0]] - t.vertices_mm[e[:, 1]], axis=1)
    assert np.all(np.abs(w[e[:, 0]] - w[e[:, 1]]) <= 1.5 * length / 20.0 + 1e-9)


def test_a_vessel_slid_along_itself_keeps_its_course_but_not_its_points() -> None:
    """The course score counts where a vessel runs, not where along it a point lies: an artery rising up
    the forehead, slid 3 mm along itself, is 3 mm off point by point but on its course except at its
    ends; moved 2 mm sideways it is 2 mm off by both; and each vessel is scored against itself only."""
    from injectmap.anatomy.scan.validation import course_distance

    up = np.c_[np.zeros(31), np.linspace(0.0, 60.0, 31), np.zeros(31)]  # 2 mm apart, 60 mm long
    other = up + [30.0, 0.0, 0.0]
    names = ("a",) * 31 + ("b",) * 31
    truth = np.vstack([up, other])
    slid = np.vstack([up + [0.0, 3.0, 0.0], other])
    assert np.allclose(np.linalg.norm(slid - truth, axis=1)[:31], 3.0)
    c = course_distance(slid, truth, names)
    assert np.allclose(c[2:29], 0.0) and c[:31].max() == pytest.approx(3.0)  # the ends: 3 mm past each other
    assert np.all(c[31:] == 0.0)  # "b" untouched, though "a" passes within 30 mm
    side = np.vstack([up + [2.0, 0.0, 0.0], other])
    assert np.allclose(course_distance(side, truth, names)[:31], 2.0)


# -- slow: synthetic patients ---------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    seed: int
    units: str
    fmt: str
    picked_landmarks: bool


CASES = (
    Case("metres-ply-geometric", 1, "m", "ply", False),
    Case("mm-obj-geometric", 2, "mm", "obj", False),
    Case("mm-glb-picked-landmarks", 3, "mm", "glb", True),
    # two more patients, whose landmark medians (1.14 and 1.06 mm) and lower faces (3.8 and 3.7 mm) were
    # over the targets before the shape stage (also among the eight its settings were chosen on;
    # patients never looked at while choosing them: docs/scan-fit.md)
    Case("mm-ply-patient-4", 4, "mm", "ply", False),
    Case("metres-obj-patient-8", 8, "m", "obj", False),
)
PICKED = ("pronasale", "nasion", "subnasale", "pogonion", "endocanthion_left", "endocanthion_right",
          "exocanthion_left", "exocanthion_right", "cheilion_left", "cheilion_right")


@dataclass(frozen=True)
class Outcome:
    case: Case
    scan: SyntheticScan
    fit: ScanFit
    score: Score


class Outcomes:
    """The synthetic patients' scans and fits, each made on first use (so each test's set-up makes
    at most one: a fit is ~10 s of CPU, but minutes of wall time on a loaded machine)."""

    def __init__(self, folder) -> None:
        self.folder = folder
        self.done: dict[str, Outcome] = {}

    def __getitem__(self, name: str) -> Outcome:
        if name not in self.done:
            self.done[name] = _make(next(c for c in CASES if c.name == name), self.folder)
        return self.done[name]

    def items(self):
        return [(c.name, self[c.name]) for c in CASES]


def _make(c: Case, folder) -> Outcome:
    from injectmap.anatomy.scan.fit import template_landmarks

    scan = scan_of(random_patient(c.seed), c.seed, units=c.units)
    path = write_scan(scan, folder, c.name, c.fmt)
    picked = None
    if c.picked_landmarks:  # a user's clicks: the true points with 1 mm of picking error
        lm = template_landmarks()
        truth = scan.truth_in_scan_mm(patient_points(scan.patient, lm))
        rng = np.random.default_rng(c.seed)
        s = 0.001 if c.units == "m" else 1.0
        picked = {k: (truth[lm.names.index(k)] + rng.normal(0.0, 1.0 / np.sqrt(3), 3)) * s for k in PICKED}
    fit = fit_scan(path, landmarks=picked)
    o = Outcome(c, scan, fit, score(fit, scan))
    sc = o.score
    print(f"\n{c.name}: fit {fit.seconds['total']:.1f} s {({k: round(v, 1) for k, v in fit.seconds.items()})}, "
          f"landmarks median {sc.landmark_median_all_mm:.2f} mm "
          f"(template {np.median(list(sc.landmark_template_mm.values())):.2f}), "
          f"residual {fit.residual_median_mm:.2f}/{fit.residual_p90_mm:.2f} mm, coverage {fit.coverage:.2f}, "
          f"foramina {({k: round(v, 2) for k, v in sc.foramina_mm.items()})}, "
          f"vessels p95 {({k: round(v, 2) for k, v in {**_vessel_p95(sc, False), **_vessel_p95(sc, True)}.items()})}, "
          f"forehead courses p95 {({k: round(v, 2) for k, v in _vessel_p95(sc, True, course=True).items()})}")
    return o


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> Outcomes:
    return Outcomes(tmp_path_factory.mktemp("scans"))


names = [c.name for c in CASES]


@pytest.mark.parametrize("name", names)
@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_units_are_detected_and_reported(outcomes, name: str) -> None:
    o = outcomes[name]
    assert o.fit.units == o.case.units
    assert o.fit.scale_to_mm == (1000.0 if o.case.units == "m" else 1.0)
    assert o.fit.units_reason


@pytest.mark.parametrize("name", names)
@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_the_fit_recovers_the_landmarks_within_1mm_median(outcomes, name: str) -> None:
    s = outcomes[name].score
    assert s.landmark_median_all_mm <= 1.0, s.landmark_mm
    # and it is the fit that does it: the template alone is far off
    assert np.median(list(s.landmark_template_mm.values())) > 2 * s.landmark_median_all_mm


#: the forehead's vessels and foramen: a smooth forehead's vertical stretch is barely seen by its shape
FOREHEAD = ("supraorbital_artery", "supratrochlear_artery", "frontal_branch_superficial_temporal_artery",
            "supraorbital_notch")


def _vessel_p95(s: Score, forehead: bool, course: bool = False, template: bool = False) -> dict[str, float]:
    """Per artery (both sides), the 95th percentile of its scanned points' errors: point by point or by
    course, of the fit or of the template alone."""
    names = np.array([n.rsplit("_", 1)[0] for n in s.vessel_names])
    err = {(False, False): s.vessel_mm, (False, True): s.vessel_template_mm,
           (True, False): s.vessel_course_mm, (True, True): s.vessel_course_template_mm}[(course, template)]
    out = {}
    for n in sorted(set(names)):
        m = (names == n) & s.vessel_covered
        if m.any() and (n in FOREHEAD) == forehead:
            out[n] = float(np.percentile(err[m], 95))
    return out


@pytest.mark.parametrize("name", names)
@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_mid_and_lower_face_foramina_and_vessels_within_3mm(outcomes, name: str) -> None:
    s = outcomes[name].score
    foramina = {k: e for k, e in s.foramina_mm.items() if k.rsplit("_", 1)[0] not in FOREHEAD}
    assert len(foramina) == 4
    assert max(foramina.values()) <= 3.0, foramina
    assert s.vessel_covered.mean() > 0.6  # most of the danger-zone arteries lie under the scanned face
    p95 = _vessel_p95(s, forehead=False)
    assert len(p95) == 5 and max(p95.values()) <= 3.0, p95


def _forehead_worst(s: Score, course: bool) -> float:
    """The worst forehead artery's 95th percentile (course or point by point) or notch, mm."""
    return max([*_vessel_p95(s, forehead=True, course=course).values(),
                *(e for k, e in s.foramina_mm.items() if k.rsplit("_", 1)[0] in FOREHEAD)])


@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_forehead_notches_and_artery_courses_within_3mm(outcomes) -> None:
    """Where the forehead's arteries run (each fitted centreline point to the true course and back, the
    95th percentile over the scanned part) and the supraorbital notches, on every patient. Measured (the
    worst artery per patient): 0.75, 0.87, 1.29, 2.07 and 1.71 mm; the template alone 8.43, 2.91, 8.57,
    4.57 and 3.05 mm."""
    worst = {name: round(_forehead_worst(o.score, course=True), 2) for name, o in outcomes.items()}
    assert max(worst.values()) <= 3.0, worst
    # and the fit does it: over the five, the template's own courses are far worse
    template = [max(_vessel_p95(o.score, forehead=True, course=True, template=True).values())
                for _, o in outcomes.items()]
    assert np.mean(list(worst.values())) < 0.5 * np.mean(template), (worst, template)


@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
@pytest.mark.xfail(strict=True, reason=(
    "point by point (which also counts a slide along the vessel) the forehead's arteries' worst 95th "
    "percentiles are 1.67, 2.37, 2.07, 3.30 and 3.45 mm over the five patients (patient 4's frontal branch, "
    "patient 8's supraorbital), while their courses are within 2.1 mm: above the brows a smooth forehead's "
    "vertical stretch shows neither in the shape nor in the colours, so where along its course a point of "
    "the artery lies is known to 3.5 mm, where the artery runs to 2.1 mm (docs/scan-fit.md)"))
def test_forehead_artery_points_within_3mm(outcomes) -> None:
    worst = {name: round(_forehead_worst(o.score, course=False), 2) for name, o in outcomes.items()}
    assert max(worst.values()) <= 3.0, worst


@pytest.mark.parametrize("name", names)
@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_what_the_scan_lacks_stays_the_template(outcomes, name: str) -> None:
    o = outcomes[name]
    t = o.fit.template
    off = o.fit.offsets_mm[t.base_ids]
    lm = o.fit.landmarks_mm
    behind_ears = t.vertices_mm[:, 2] < 0.5 * (lm["tragion_left"][2] + lm["tragion_right"][2]) - 25.0
    assert np.abs(off[behind_ears]).max() == 0.0
    assert np.all(np.abs(off[o.fit.weight == 0.0]) == 0.0)
    # the scan ends in front of the ears: part of the face region is uncovered, most is covered
    assert 0.7 < o.fit.coverage < 1.0
    # helpers inside the head follow the skin around them: each eyeball moves as its lids do
    from injectmap.anatomy.basehead import read_base_obj

    groups = read_base_obj().groups
    for side in ("l", "r"):
        eye = np.unique(groups[f"helper-{side}-eye"])
        centre = t.base_vertices_mm[eye].mean(axis=0)
        near = np.linalg.norm(t.vertices_mm - centre, axis=1) < 20.0
        assert np.linalg.norm(o.fit.offsets_mm[eye].mean(axis=0) - off[near].mean(axis=0)) < 1.0


@pytest.mark.parametrize("name", names)
@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_residuals_are_reported_and_small(outcomes, name: str) -> None:
    o = outcomes[name]
    assert 0.0 < o.fit.residual_median_mm < 0.5
    assert o.fit.residual_median_mm <= o.fit.residual_p90_mm < 2.0
    if o.case.picked_landmarks:
        assert set(o.fit.landmark_residuals_mm) == set(PICKED)
        # the picks carry 1 mm of error; the fit stays within that of them
        assert np.median(list(o.fit.landmark_residuals_mm.values())) < 1.5
        assert o.fit.alignment.startswith("landmarks")
    elif mediapipe_version() is not None:  # without given landmarks, the render's start the alignment
        assert o.fit.alignment.startswith("render landmarks") and "textured render" in o.fit.alignment
    else:
        assert o.fit.alignment.startswith("geometric") and "render landmarks not used" in o.fit.alignment


@pytest.mark.parametrize("name", names)
@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_the_render_landmarks_land_near_the_truth(outcomes, name: str) -> None:
    """Face Mesh on the textured render, each landmark cast onto the scan: within a few mm of the
    patient's true point (the photo fit's table carried onto the true skin), the brows too; the
    brows pull the fit."""
    pytest.importorskip("mediapipe")
    o = outcomes[name]
    r = o.fit.render
    assert r is not None and r.textured and len(r.ids) > 250
    truth = o.scan.truth_in_scan_mm(r.template_points(o.scan.patient.template.vertices_mm))
    e = np.linalg.norm(truth - r.scan_mm, axis=1)
    brows = np.isin(r.ids, BROWS)
    print(f"\n{name}: render landmarks {len(e)}, error median {np.median(e):.2f} mm, 75th percentile "
          f"{np.percentile(e, 75):.2f} mm; brows ({int(brows.sum())}) median {np.median(e[brows]):.2f} mm; "
          f"{r.seconds:.1f} s")
    assert np.median(e) <= 2.5 and np.percentile(e, 75) <= 4.0
    assert brows.sum() >= 12 and np.median(e[brows]) <= 2.5
    assert set(o.fit.render_pulls) <= set(BROWS) and len(o.fit.render_pulls) >= 12


@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_an_untextured_scan_is_rendered_shaded_and_still_shows_a_face(outcomes) -> None:
    """The same scan without its colours (an STL, a shape-only scanner): the shaded render still gives
    landmarks near the truth (the brows are not seen there, so they are not required)."""
    pytest.importorskip("mediapipe")
    o = outcomes["mm-obj-geometric"]
    r = render_landmarks(trimesh.Trimesh(o.scan.mesh.vertices, o.scan.mesh.faces, process=False),
                         o.fit.rigid, o.fit.template, None)
    assert not r.textured and len(r.ids) > 250
    truth = o.scan.truth_in_scan_mm(r.template_points(o.scan.patient.template.vertices_mm))
    e = np.linalg.norm(truth - r.scan_mm, axis=1)
    print(f"\nshaded render: {len(e)} landmarks, error median {np.median(e):.2f} mm")
    assert np.median(e) <= 3.5


@pytest.mark.variants
@pytest.mark.xdist_group("scan_fit")
@pytest.mark.timeout(2700)
def test_a_surface_with_no_face_falls_back_to_the_geometry_with_the_reason() -> None:
    from injectmap.anatomy.scan.toface import alignment_record

    pytest.importorskip("mediapipe")
    fit = fit_scan(_sphere_cap(100.0), "mm")
    assert fit.render is None and fit.render_pulls == ()
    assert fit.alignment.startswith("geometric")
    assert "render landmarks not used: the landmarker found no face" in fit.alignment
    assert alignment_record(fit, True) == {"used": False, "reason": fit.alignment.split("not used: ")[1]}
    assert alignment_record(fit, False) == {"used": False, "reason": "turned off"}


def test_a_render_that_fails_leaves_the_geometric_start_with_the_reason(monkeypatch) -> None:
    """The render's landmarks are a help: an off-screen render or landmarker that fails (no EGL, a broken
    model) leaves the fit on the geometry's alignment and says why, rather than failing the fit."""
    import injectmap.anatomy.scan.fit as fit_module

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("no display")

    monkeypatch.setattr(fit_module, "render_landmarks", broken)
    fit = fit_scan(_sphere_cap(100.0), "mm", steps=((50.0, 1),))
    assert fit.render is None and fit.alignment.startswith("geometric")
    assert "render landmarks not used: the render or the landmarker failed (RuntimeError)" in fit.alignment


@pytest.mark.variants
@pytest.mark.bench
@pytest.mark.xdist_group("scan_fit")
def test_the_scan_bench_times_a_fit_and_scores_it() -> None:
    """`injectmap bench --scan-fits N` (without its slow naive baseline here): a time, a CPU time, the
    ratio to the 20 s target and the landmark error of the fit it timed."""
    from injectmap.anatomy.scan.bench import run_scan_bench

    res = run_scan_bench(repeats=1, baseline=False, face_builds=0)  # the face's build: docs/face-fit.md
    assert res["scan_fit_runs"] == 1
    assert res["scan_fit_s_median"] > 0 and res["scan_fit_cpu_s_median"] > 0
    assert res["scan_fit_over_target"] == pytest.approx(res["scan_fit_s_median"] / 20.0, abs=0.01)
    assert 0 < res["scan_fit_landmark_median_mm"] < 2.0
    assert "scan_fit_naive_nricp_s" not in res and "scan_face_build_s_median" not in res
    if mediapipe_version() is not None:  # the render's landmarks: their own stage, inside the fit's time
        assert 0 < res["scan_fit_render_landmarks_s_median"] < res["scan_fit_s_median"]
        assert res["scan_fit_alignment"].startswith("render landmarks")
