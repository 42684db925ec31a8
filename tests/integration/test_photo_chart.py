"""The chart on the patient's photo (reports/photo_chart.py, ``injectmap face chart``, ``injectmap report
--photo``) on a real photograph nobody here made: the astronaut portrait in scikit-image (NASA, public
domain), fitted once for the run (tests/conftest.py), its face built, a small plan charted on it."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from photo_support import AstronautFit

pytest.importorskip("mediapipe")
skdata = pytest.importorskip("skimage.data")

pytestmark = [pytest.mark.variants, pytest.mark.xdist_group("photofit")]

#: a small plan on the upper face: the glabella, the corrugators (their heads lie in the supratrochlear
#: artery's corridor: a caution) and the frontalis
PLAN_POINTS = [
    {"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3},
    {"id": "c1_left", "units": 4, "target": "corrugator_supercilii_left",
     "at": {"landmark": "brow_medial_left", "superior_mm": 3}, "depth_mm": 4},
    {"id": "c1_right", "units": 4, "target": "corrugator_supercilii_right",
     "at": {"landmark": "brow_medial_right", "superior_mm": 3}, "depth_mm": 4},
    {"id": "f1_left", "units": 2, "target": "frontalis_left",
     "at": {"landmark": "brow_medial_left", "superior_mm": 30}, "depth_mm": 2},
    {"id": "f1_right", "units": 2, "target": "frontalis_right",
     "at": {"landmark": "brow_medial_right", "superior_mm": 30}, "depth_mm": 2},
]
#: CONTRACTS landmarks of the built face and the Face Mesh landmark that names the same point
FACEMESH_OF = {"endocanthion_right": 133, "endocanthion_left": 362, "exocanthion_right": 33, "exocanthion_left": 263,
               "cheilion_right": 61, "cheilion_left": 291, "pronasale": 1, "subnasale": 2, "labrale_superius": 0,
               "labrale_inferius": 17, "menton": 152, "nasion": 168, "glabella": 9}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "injectmap", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1500)


@pytest.fixture(scope="module")
def astro(astronaut_fit: AstronautFit, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The astronaut fitted by ``injectmap face fit`` (the run's one fit, tests/conftest.py), her face built,
    the plan analysed on it."""
    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.model import load_model
    from injectmap.anatomy.params import FaceParams
    from injectmap.planning.check import check_plan
    from injectmap.planning.plan import parse_plan

    assert astronaut_fit.returncode == 0, astronaut_fit.stderr
    d = tmp_path_factory.mktemp("astro")
    photo, face_path = astronaut_fit.photo, astronaut_fit.face_path
    raw_plan = {"format": "injectmap-plan", "version": 1,
                "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                "points": PLAN_POINTS, "model": {"face": str(face_path)}}
    plan_path = d / "plan.json"
    plan_path.write_text(json.dumps(raw_plan))
    face = facefile.read(face_path)
    model = load_model(params=FaceParams(fit=face.targets))
    result = check_plan(parse_plan(raw_plan), model, "plan")
    assert not result.errors
    return {"dir": d, "photo": photo, "face_path": face_path, "face": face, "plan": plan_path, "model": model,
            "result": result, "image": skdata.astronaut()}


@pytest.fixture(scope="module")
def camera(astro: dict[str, Any]) -> Any:
    from injectmap.anatomy.basehead import file_sha256
    from injectmap.anatomy.fit import facefile

    cam = facefile.photo_camera(astro["face"], file_sha256(astro["photo"]))
    assert cam is not None, "the fit keeps the front photo's camera"
    return cam


@pytest.fixture(scope="module")
def facemesh(astro: dict[str, Any]) -> np.ndarray:
    from injectmap.anatomy.fit.landmarks import detect

    return detect(astro["image"]).pixels


def _mm(camera: Any, points: np.ndarray, err_px: np.ndarray) -> np.ndarray:
    return err_px * camera.to_camera(points)[:, 2] / camera.focal_px


def test_the_face_file_keeps_the_front_photos_camera(astro: dict[str, Any]) -> None:
    raw = json.loads(astro["face_path"].read_text())
    (cam,) = raw["cameras"]
    assert cam["role"] == "front" and cam["sha256"] == raw["sources"][0]["sha256"]
    assert (cam["width"], cam["height"]) == (512, 512) and cam["focal_px"] > 0 and cam["frame"] == "contracts-midline"
    assert str(astro["photo"]) not in astro["face_path"].read_text()


def test_the_stored_camera_lays_the_fitted_faces_landmarks_on_the_photos(astro: dict[str, Any], camera: Any,
                                                                        facemesh: np.ndarray) -> None:
    """Face Mesh's 468 points of the fitted shape, in the built face's frame, land on the photo's as in
    the fit (the stored residual); the built face's own CONTRACTS landmarks land near their Face Mesh
    namesakes (median in mm at the face)."""
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.photo import contract_origin, landmark_points

    names = {n: i for i, n in enumerate(face_basis().names)}
    w = np.zeros(len(names))
    for n, x in astro["face"].targets:
        w[names[n]] = x
    pts = landmark_points(w) - contract_origin(w)
    err = np.linalg.norm(camera.project(pts) - facemesh[:468], axis=1)
    med_mm = float(np.median(_mm(camera, pts, err)))
    assert med_mm == pytest.approx(astro["face"].residuals_mm["median"], abs=0.05)
    assert float(np.median(err)) < 3.0  # px, on a 512 px portrait
    model = astro["model"]
    named = np.array([model.landmarks[k] for k in FACEMESH_OF])
    err = np.linalg.norm(camera.project(named) - facemesh[list(FACEMESH_OF.values())], axis=1)
    # measured 4.4 mm (she smiles: the mouth corners 10-12 mm; the basis has no expression)
    assert float(np.median(_mm(camera, named, err))) < 6.0


def test_the_points_lie_on_her_face_where_the_plan_puts_them(astro: dict[str, Any], camera: Any,
                                                            facemesh: np.ndarray) -> None:
    from scipy.spatial import Delaunay

    from injectmap.reports.photo_chart import chart_layout

    lay = chart_layout(camera, astro["model"], astro["result"], zones=False)
    marks = {m.id: m for m in lay.marks}
    assert set(marks) == {p["id"] for p in PLAN_POINTS} and not lay.hidden
    # within the fitted face's outline on the photo (the skin's front points, projected)
    skin = np.asarray(astro["model"].depth_points_mm)
    front = skin[(skin[:, 2] > -20.0) & (np.abs(skin[:, 0]) < 75.0) & (skin[:, 1] > -120.0) & (skin[:, 1] < 90.0)]
    outline = Delaunay(camera.project(front))
    assert (outline.find_simplex(np.array([m.entry_px for m in lay.marks])) >= 0).all()
    # the glabella between the inner eye corners, above them; frontalis above the corrugators, on its side
    g = marks["g1"].entry_px
    inner_r, inner_l = facemesh[133], facemesh[362]
    assert inner_r[0] < g[0] < inner_l[0] and g[1] < min(inner_r[1], inner_l[1])
    for side, sx in (("right", -1), ("left", 1)):
        c, f = marks[f"c1_{side}"].entry_px, marks[f"f1_{side}"].entry_px
        assert f[1] < c[1] < facemesh[133 if side == "right" else 362][1]
        assert sx * (c[0] - g[0]) > 0 and sx * (f[0] - g[0]) > 0  # the subject's right is the image's left


def test_each_marker_has_its_points_severity_colour(astro: dict[str, Any], camera: Any) -> None:
    from injectmap.reports.photo_chart import chart_layout, chart_on_photo, severity_colour

    img = chart_on_photo(astro["image"], camera, astro["model"], astro["result"], zones=False, labels=False)
    assert img.shape == astro["image"].shape and img.dtype == np.uint8
    lay = chart_layout(camera, astro["model"], astro["result"], zones=False)
    worst = {p.id: p.worst for p in astro["result"].points}
    seen = set()
    for m in lay.marks:
        x, y = (round(v) for v in m.entry_px)
        want = np.array([int(severity_colour(worst[m.id]).lstrip("#")[k:k + 2], 16) for k in (0, 2, 4)])
        assert np.abs(img[y, x].astype(int) - want).max() <= 2, (m.id, img[y, x], want)
        seen.add(m.worst)
    assert {"caution", "ok"} <= seen, "the plan has a caution (corrugator heads) and points without one"


def test_the_danger_zones_are_drawn_on_the_face_only(astro: dict[str, Any], camera: Any) -> None:
    from injectmap.reports.photo_chart import chart_layout, chart_on_photo

    lay = chart_layout(camera, astro["model"], astro["result"])
    kinds = {z.kind for z in lay.zones}
    assert kinds == {"artery", "nerve", "duct"}
    ids = {z.structure for z in lay.zones}
    assert {"supratrochlear_artery_left", "supratrochlear_artery_right", "facial_artery_left"} <= ids
    bare = chart_on_photo(astro["image"], camera, astro["model"], astro["result"], zones=False, labels=False)
    zoned = chart_on_photo(astro["image"], camera, astro["model"], astro["result"], zones=True, labels=False)
    changed = np.abs(zoned.astype(int) - bare.astype(int)).max(axis=2) > 3
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 2000
    x0, y0, x1, y1 = lay.face_box(margin=0.0)
    assert x0 - 15 <= xs.min() and xs.max() <= x1 + 15 and y0 - 15 <= ys.min() and ys.max() <= y1 + 15
    assert not changed[300:, :].any(), "nothing below the chin (her suit)"


def test_skin_turned_away_from_the_camera_is_not_seen(astro: dict[str, Any], camera: Any) -> None:
    from injectmap.reports.photo_chart import _px_per_mm, _Visibility

    model = astro["model"]
    vis = _Visibility(camera, np.asarray(model.skin.points, dtype=float), _px_per_mm(camera, model))
    pts, nrm = np.asarray(model.depth_points_mm), np.asarray(model.depth_normals)
    back = pts[:, 2] < np.percentile(pts[:, 2], 5)  # the back of the head
    assert not vis.seen(pts[back], nrm[back]).any()
    nose = int(np.argmax(pts[:, 2]))
    assert vis.seen(pts[nose:nose + 1], nrm[nose:nose + 1])[0]
    # a point just behind the nose tip, along the camera's ray, is hidden by it
    centre = -camera.r.T @ camera.t
    ray = pts[nose] - centre
    behind = pts[nose] + 25.0 * ray / np.linalg.norm(ray)
    assert not vis.seen(behind[None], nrm[nose:nose + 1])[0]


def test_face_chart_writes_an_owner_only_png_and_refuses_another_photo(astro: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "chart.png"
    r = _run("face", "chart", "--photo", str(astro["photo"]), "--face", str(astro["face_path"]),
             "--plan", str(astro["plan"]), "-o", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with Image.open(out) as im:
        assert im.size == (512, 512)
        chart = np.asarray(im.convert("RGB"))
    assert (chart != astro["image"]).any(axis=2).sum() > 2000
    other = tmp_path / "someone-else.png"
    Image.fromarray(astro["image"][:, ::-1].copy()).save(other)
    r = _run("face", "chart", "--photo", str(other), "--face", str(astro["face_path"]), "--plan", str(astro["plan"]),
             "-o", str(tmp_path / "x.png"), cwd=tmp_path)
    assert r.returncode == 2 and "not one the face was fitted to" in r.stderr
    assert "someone-else" not in r.stderr + r.stdout  # a photo's name may name the patient
    assert not (tmp_path / "x.png").exists()


def test_the_report_with_the_photo_has_the_chart_as_its_first_page(astro: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    r = _run("report", str(astro["plan"]), "--photo", str(astro["photo"]), "-o", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the patient's photo
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(out), "-"], capture_output=True,
                           text=True, check=True).stdout
    assert "The plan on the patient's photo" in first
    med = astro["face"].residuals_mm["median"]
    assert f"median {med:.1f} mm" in first
    assert "What a photo cannot tell" in first and "population anatomy" in first
    flat = " ".join(first.split())  # the layout wraps lines
    assert "synthetic faces with a known truth" in flat and "with that much more spread" in flat  # all on page 1
    images = subprocess.run(["pdfimages", "-f", "1", "-l", "1", "-list", str(out)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[2:]
    assert images, "the chart's picture is on the first page"
    second = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(out), "-"], capture_output=True, text=True,
                            check=True).stdout
    assert "The plan on the patient's photo" not in second


def test_the_report_refuses_a_photo_the_face_was_not_fitted_to(astro: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    other = tmp_path / "other.png"
    Image.fromarray(astro["image"][::2, ::2].copy()).save(other)
    r = _run("report", str(astro["plan"]), "--photo", str(other), "-o", str(tmp_path / "r.pdf"), cwd=tmp_path)
    assert r.returncode == 2 and "not one the face was fitted to" in r.stderr
    plain = tmp_path / "plain.json"
    raw = json.loads(astro["plan"].read_text())
    raw.pop("model")
    plain.write_text(json.dumps(raw))
    r = _run("report", str(plain), "--photo", str(astro["photo"]), "-o", str(tmp_path / "r.pdf"), cwd=tmp_path)
    assert r.returncode == 2 and "names no face file" in r.stderr
    assert not (tmp_path / "r.pdf").exists()


def test_the_html_page_escapes_what_the_face_file_says(astro: dict[str, Any], camera: Any) -> None:
    import dataclasses

    from injectmap.reports.photo_chart import PhotoInput, page_html, photo_page

    page = photo_page(PhotoInput(astro["image"], camera, astro["face"], "<script>alert(1)</script>"),
                      astro["model"], astro["result"], size=400)
    text = page_html(page)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert text.startswith('<section id="photo-chart"') and "data:image/png;base64," in text
    text = page_html(dataclasses.replace(page, hidden=("a<b",)))
    assert "a&lt;b" in text and "a<b" not in text
