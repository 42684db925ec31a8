"""The face file keeps each photo's camera (key ``cameras``), in the built face's frame: stored, checked on
reading, and it projects a point exactly as the fit's camera did (the frame change included)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from injectmap.anatomy.fit import facefile
from injectmap.anatomy.fit.camera import FRONT, Camera, rodrigues, rotation

SHA = "ab" * 32


def _camera() -> Camera:
    r = FRONT @ rotation(12.0, -4.0, 2.0)
    return Camera(900.0, 640, 480, r, np.array([3.0, -20.0, 650.0]))


def _face_with_camera(origin: np.ndarray) -> facefile.FaceFile:
    face = facefile.make([("nose/nose-scale-vert-incr.target.gz", 0.3)], [{"kind": "photo", "role": "front",
                                                                         "sha256": SHA}], [1.0], {})
    return dataclasses.replace(face, cameras=(facefile.camera_entry(_camera(), "front", SHA, origin),))


def test_a_stored_camera_projects_the_built_frame_as_the_fit_projected_the_file_frame(tmp_path: Path) -> None:
    origin = np.array([0.4, 158.0, 9.5])  # the CONTRACTS origin in the base mesh's file frame
    path = tmp_path / "p.face.json"
    facefile.write(_face_with_camera(origin), path)
    back = facefile.read(path)
    cam = facefile.photo_camera(back, SHA)
    assert cam is not None and (cam.width, cam.height) == (640, 480) and cam.focal_px == pytest.approx(900.0)
    pts_file = np.array([[0.0, 150.0, 90.0], [30.0, 170.0, 80.0], [-45.0, 120.0, 40.0]])
    # a point of the built face is the file-frame point minus the origin
    assert np.allclose(cam.project(pts_file - origin), _camera().project(pts_file), atol=1e-4)
    assert facefile.photo_camera(back, "cd" * 32) is None
    raw = json.loads(path.read_text())
    assert raw["cameras"][0]["role"] == "front" and raw["cameras"][0]["frame"] == "contracts-midline"


def test_a_face_file_without_cameras_has_no_key_and_reads() -> None:
    face = facefile.make([], [], [1.0], {})
    assert "cameras" not in face.to_json() and face.cameras == ()
    back = facefile.parse(face.to_json(), "x", known=set(), base_sha256=face.base_mesh_sha256)
    assert back.cameras == ()


@pytest.mark.parametrize("change, message", [
    ({"rotation": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}, "not a rotation"),
    ({"rotation": [[2, 0, 0], [0, 1, 0], [0, 0, 1]]}, "not a rotation"),
    ({"translation_mm": [1, 2]}, "translation_mm"),
    ({"focal_px": -3}, "focal_px"),
    ({"width": 0}, "width"),
    ({"sha256": "not-a-hash"}, "sha256"),
    ({"frame": "file"}, "unknown frame"),
    ({"translation_mm": [1, 2, float("nan")]}, "translation_mm"),
])
def test_a_bad_camera_is_refused_with_the_reason(change: dict, message: str) -> None:
    raw = _face_with_camera(np.zeros(3)).to_json()
    raw["cameras"][0].update(change)
    with pytest.raises(facefile.FaceFileError, match=message):
        facefile.parse(json.loads(json.dumps(raw)), "x.face.json", known={"nose/nose-scale-vert-incr.target.gz"},
                       base_sha256=raw["base_mesh_sha256"])


@pytest.fixture(scope="module")
def patient7() -> dict[float, Any]:
    """Synthetic patient 7 photographed from the front and turned 45 degrees either way (by the turn)."""
    pytest.importorskip("mediapipe")
    from injectmap.anatomy.fit.synthetic import make_patient

    return {yaw: make_patient(7, yaw_deg=yaw) for yaw in (0.0, 45.0, -45.0)}


def test_an_obliques_far_side_does_not_pull_the_fit(patient7: dict[float, Any]) -> None:
    """On a photo turned 45 degrees the far cheek's landmarks lie on skin the camera does not see (Face Mesh
    guesses them): they weigh nothing, the near cheek's count fully, the nose tip counts in both; on a front
    pose both cheeks' outlines are grazing and weigh nothing."""
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.landmarks import detect
    from injectmap.anatomy.fit.photo import View, _initial_pose, _Model, _pose_step, _visibility

    model = _Model(face_basis())
    w = np.zeros(len(face_basis().names))
    right_cheek, left_cheek, nose_tip = 234, 454, 1
    for yaw, near, far in ((45.0, right_cheek, left_cheek), (-45.0, left_cheek, right_cheek)):
        s = patient7[yaw]
        view = View(detect(s.image, oblique=True), s.camera.focal_px)
        pose = _pose_step(view, model, w, _initial_pose(view, model, w))
        vis = _visibility(model, w, pose)
        assert vis[far] == 0.0 and vis[near] == 1.0 and vis[nose_tip] == 1.0
        assert 50 < int((vis == 0.0).sum()) < 150  # the far side, not the face
    s = patient7[0.0]
    view = View(detect(s.image), s.camera.focal_px)
    vis = _visibility(model, w, _pose_step(view, model, w, _initial_pose(view, model, w)))
    assert vis[right_cheek] == vis[left_cheek] == 0.0 and vis[nose_tip] == 1.0


def test_obliques_are_posed_against_the_front_photos_face_and_leave_its_shape(patient7: dict[float, Any]) -> None:
    """``oblique_shape_weight`` 0 (data/photo_fit.yaml: at full weight the obliques made the fit worse on most of
    14 synthetic patients, docs/face-fit.md): with two 45-degree obliques the shape is the front photo's fit; each
    oblique is posed against it, its camera turned the way it was photographed (Face Mesh reads a turned face some
    degrees short), with residuals of its own."""
    from injectmap.anatomy.fit.landmarks import detect
    from injectmap.anatomy.fit.photo import View, fit_views, settings

    assert settings()["oblique_shape_weight"]["value"] == 0.0
    views = [View(detect(patient7[y].image, oblique=y != 0.0), patient7[y].camera.focal_px) for y in (0.0, 45.0, -45.0)]
    alone, together = fit_views(views[:1]), fit_views(views)
    np.testing.assert_allclose(together.weights, alone.weights, atol=1e-5)  # the face file keeps 5 decimals
    assert len(together.cameras) == len(together.residuals_mm) == 3
    for i, yaw in ((1, 45.0), (2, -45.0)):
        rel = together.cameras[i].r @ together.cameras[0].r.T
        turn = np.degrees(np.arccos(np.clip((np.trace(rel) - 1) / 2, -1, 1)))
        truth = patient7[yaw].camera.r @ patient7[0.0].camera.r.T
        # the same way round as photographed (the relative rotation's axis), 30-50 degrees of the true 45
        axis, true_axis = _axis(rel), _axis(truth)
        assert 30.0 < turn < 50.0 and float(axis @ true_axis) > 0.9, (yaw, turn, axis, true_axis)
        assert 0.3 < float(np.median(together.residuals_mm[i])) < 4.0


def _axis(r: np.ndarray) -> np.ndarray:
    """The unit axis of a rotation matrix (not a half turn)."""
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return v / np.linalg.norm(v)


def test_an_obliques_pose_is_not_pulled_by_its_foreshortened_iris() -> None:
    """The average head's landmarks projected exactly by a camera turned 45 degrees, the iris read as a turned eye
    shows it (cos 45 of its width): posed against the true face, the oblique's camera is the true one; with the iris
    prior, which the front photo's pose has, the iris's 400 landmarks' worth would pull it about 3 % farther."""
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.correspondence import N_FACE
    from injectmap.anatomy.fit.landmarks import N_LANDMARKS, Landmarks
    from injectmap.anatomy.fit.photo import View, _initial_pose, _Model, _pose_step, settings

    model = _Model(face_basis())
    w = np.zeros(len(face_basis().names))
    pts = model.points(w)
    cam = Camera.portrait(face_basis().shape(w), 720, 960, 650.0, 50.0, 45.0, 0.0)
    pixels = np.zeros((N_LANDMARKS, 2))
    pixels[:N_FACE] = cam.project(pts)
    depth_true = float(cam.to_camera(model.iris_points(w))[:, 2].mean())
    iris_px = cam.focal_px * settings()["iris_diameter_mm"]["mean"] / depth_true * np.cos(np.radians(45.0))
    lm = Landmarks(pixels=pixels, depth=np.zeros(N_LANDMARKS), width=720, height=960, iris_edges_px=(iris_px, iris_px))
    view = View(lm, cam.focal_px)
    start = _initial_pose(view, model, w)

    def depth(iris_prior: bool) -> float:
        pose = start
        for _ in range(3):
            pose = _pose_step(view, model, w, pose, iris_prior=iris_prior)
        posed = Camera(cam.focal_px, 720, 960, rodrigues(pose[:3]), pose[3:])
        return float(posed.to_camera(model.iris_points(w))[:, 2].mean()) / depth_true - 1.0

    assert abs(depth(False)) < 0.002
    assert depth(True) > 0.01  # what the front photo's prior would do to a turned eye


def test_a_camera_written_with_the_origin_on_the_base_meshs_midline_is_moved_to_the_heads() -> None:
    """Until Dec 4 2026 a stored camera's frame (``"contracts"``) had the origin's x at the base mesh's midline; the
    builder now puts it on the head's midline, which a head-translation target moves (docs/face-fit.md). Read
    back, such a camera projects the face built now onto the same pixels; on a symmetric face nothing moves."""
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.photo import contract_origin

    sideways = [("head/head-trans-in.target.gz", 0.24), ("nose/nose-scale-vert-incr.target.gz", 0.3)]
    basis = face_basis()
    now = contract_origin(basis.weights(sideways))
    assert now[0] < -4.0  # the head lies 4.7 mm right of the base mesh's midline
    for targets, origin_now in ((sideways, now), ([("nose/nose-scale-vert-incr.target.gz", 0.3)], None)):
        if origin_now is None:
            origin_now = contract_origin(basis.weights(targets))
            assert origin_now[0] == 0.0
        before = origin_now * np.array([0.0, 1.0, 1.0])  # the origin as it was computed then
        face = facefile.make(targets, [{"kind": "photo", "role": "front", "sha256": SHA}], [1.0], {})
        raw = dataclasses.replace(face, cameras=(facefile.camera_entry(_camera(), "front", SHA, before),)).to_json()
        raw["cameras"][0]["frame"] = "contracts"
        back = facefile.parse(raw, "old.face.json", known={n for n, _ in targets}, base_sha256=face.base_mesh_sha256)
        cam = facefile.photo_camera(back, SHA)
        pts_file = np.array([[0.0, 150.0, 90.0], [30.0, 170.0, 80.0], [-45.0, 120.0, 40.0]])
        assert np.allclose(cam.project(pts_file - origin_now), _camera().project(pts_file), atol=1e-3)
        assert back.cameras[0]["frame"] == "contracts-midline"
