"""Fit the base head's CC0 shape targets to the Face Mesh landmarks of one or more photos.

The model: each landmark is a fixed barycentric point of the base mesh
(:mod:`~injectmap.anatomy.fit.correspondence`), so its 3D position is linear in the target weights
``w`` (0..1 each). Each photo has a pinhole camera (focal length from EXIF or the 50 mm-equivalent
default, principal point at the centre) and its own head pose; the weights are shared by the photos.
The fit alternates two steps until they agree:

- **pose** (per photo): rotation and translation by nonlinear least squares on the reprojection
  error in pixels, plus the scale prior: the camera depth of the irises equals
  ``focal_px x 11.71 mm / iris_px`` (the iris diameter's published mean; its SD, 0.42 mm, is the
  prior's width, so the size of the face is set by the iris, not guessed from the image alone);
- **shape**: with the poses fixed, the perspective projection ``f X/Z`` is linear in ``w`` once both
  sides are multiplied by ``Z`` (divided by the current ``Z`` to keep pixel units), so the weights
  come from one bounded, ridge-regularised linear least squares, solved exactly
  (:func:`~injectmap.anatomy.fit.solve.bounded_solve`).

Obliques (left and right photos) add their landmarks with their own pose and so constrain depth.
Residuals are reported per landmark in mm (the pixel residual times depth over focal length), and
the fitted intercanthal width is checked against the population's (Farkas) as a cross-check of the
iris scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from injectmap.anatomy.fit.basis import Basis, face_basis
from injectmap.anatomy.fit.camera import FRONT, Camera, rodrigues, rotation_vector
from injectmap.anatomy.fit.correspondence import N_FACE, table
from injectmap.anatomy.fit.landmarks import IRIS_LEFT, IRIS_RIGHT, Landmarks
from injectmap.anatomy.fit.solve import bounded_solve
from injectmap.anatomy.typed_text import typed_decimal
from injectmap.anatomy.yamlio import safe_load

SETTINGS = Path(__file__).parent / "data" / "photo_fit.yaml"
#: a front photo and at most two obliques (the command line's ``--photo`` and the Face card's upload)
MAX_PHOTOS = 3
#: Face Mesh's inner eye corners (endocanthion) of the subject's right and left eye
ENDOCANTHION = (133, 362)
#: the iris plane lies this far in front of the eyeball's centre (mm)
IRIS_PLANE_MM = 13.0


@lru_cache(maxsize=1)
def settings() -> dict:
    """``data/photo_fit.yaml``: the iris and intercanthal numbers with their sources, the defaults."""
    return dict(safe_load(SETTINGS.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class View:
    """One photo's landmarks and focal length (pixels)."""

    landmarks: Landmarks
    focal_px: float


@dataclass
class FitResult:
    """A fitted face.

    Attributes
    ----------
    weights : (k,) float
        The target weights (the basis's order).
    targets : list of (str, float)
        The same as the builder's ``(target, weight)`` list (non-zero weights only).
    cameras : list of Camera
        Each photo's recovered camera (the world frame is the base mesh's file frame).
    residuals_mm : list of (468,) float
        Each photo's per-landmark reprojection residual, in mm at the face.
    scale : dict
        The iris-based distance and the intercanthal cross-check.
    landmark_weights : list of (468,) float
        How much each landmark of each photo counted in its pose: an oblique's far side, which its camera does
        not see, counts nothing (:func:`_visibility`).
    """

    weights: np.ndarray
    targets: list[tuple[str, float]]
    cameras: list[Camera]
    residuals_mm: list[np.ndarray]
    scale: dict[str, float] = field(default_factory=dict)
    landmark_weights: list[np.ndarray] = field(default_factory=list)

    def seen_residuals_mm(self, view: int) -> np.ndarray:
        """A photo's residuals of the landmarks its camera sees (all, when the weights are not known)."""
        r = np.asarray(self.residuals_mm[view], dtype=float)
        if view >= len(self.landmark_weights):
            return r
        return r[np.asarray(self.landmark_weights[view]) > 0]

    @property
    def median_residual_mm(self) -> float:
        return float(np.median(np.concatenate(self.residuals_mm)))


class _Model:
    """The landmarks' 3D points as a linear function of the weights."""

    def __init__(self, basis: Basis) -> None:
        t = table()
        row = np.full(int(basis.vertex_ids.max()) + 1, -1)
        row[basis.vertex_ids] = np.arange(len(basis.vertex_ids))
        rows = row[t["vertex_ids"]]
        bary = t["bary"]
        self.p0 = np.einsum("jb,jbc->jc", bary, basis.mean_mm[rows])  # (468, 3)
        self.d = np.einsum("jb,kjbc->kjc", bary, basis.deltas_mm[:, rows])  # (k, 468, 3)
        self.weight = np.where(t["contour"], 0.3, 1.0)
        from injectmap.anatomy.basehead import read_base_obj

        obj = read_base_obj()
        self.eye_rows = []
        for s in ("r", "l"):  # the subject's right eye first, as IRIS_RIGHT
            ids = np.unique(obj.groups[f"helper-{s}-eye"])
            self.eye_rows.append(row[ids])
        self.basis = basis
        # each landmark's skin normal on the average head (the head's skin triangles' vertex normals)
        import trimesh

        tri = row[obj.groups["body"]]
        tri = tri[(tri >= 0).all(axis=1)]
        vn = trimesh.Trimesh(basis.mean_mm, tri, process=False).vertex_normals
        n = np.einsum("jb,jbc->jc", bary, vn[rows])
        self.normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)

    def points(self, w: np.ndarray) -> np.ndarray:
        return self.p0 + np.tensordot(w, self.d, axes=1)

    def eye_centres(self, w: np.ndarray) -> np.ndarray:
        """The two eyeballs' centres (right, left) in the world."""
        return np.array([(self.basis.mean_mm[rows] + np.tensordot(w, self.basis.deltas_mm[:, rows], axes=1)).mean(axis=0)
                         for rows in self.eye_rows])

    def iris_points(self, w: np.ndarray) -> np.ndarray:
        """The two iris centres (right, left) in the world: the eyeballs' centres moved forward."""
        return self.eye_centres(w) + np.array([0.0, 0.0, IRIS_PLANE_MM])

    @staticmethod
    def pupils_at(eyes: np.ndarray, camera_world: np.ndarray, ipd_mm: float | None = None) -> np.ndarray:
        """The two pupils (right, left) of eyes centred at ``eyes`` (:meth:`eye_centres`) as a photo shows them: each
        eye looking at the camera (at ``camera_world``), its pupil :data:`IRIS_PLANE_MM` in front of its centre. With
        ``ipd_mm`` the eyes' centres are first set that far apart about their midpoint: a measured (distance)
        interpupillary distance is the pupils' separation with the eyes looking far ahead, parallel, which is their
        centres' separation."""
        if ipd_mm is not None:
            mid, half = eyes.mean(axis=0), 0.5 * (eyes[1] - eyes[0])
            half *= 0.5 * ipd_mm / max(float(np.linalg.norm(half)), 1e-9)
            eyes = np.array([mid - half, mid + half])
        gaze = np.asarray(camera_world, dtype=float) - eyes
        return eyes + IRIS_PLANE_MM * gaze / np.linalg.norm(gaze, axis=1, keepdims=True)


#: obliques' landmarks weighted by how much of their skin the camera sees (:func:`_visibility`)
OBLIQUE_VISIBILITY = True
#: an oblique's landmark counts fully where the skin faces the camera at least this much (cosine) ...
VISIBLE_COS = 0.4
#: ... and not at all at or below this (turned away, or grazing: Face Mesh's guess, not the photo's)
HIDDEN_COS = 0.1


def _visibility(model: _Model, w: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """How much each landmark of a turned view shows (0-1): the cosine between its skin normal (the average
    head's, turned by the view's pose) and its line of sight to the camera, ramped from :data:`HIDDEN_COS` to
    :data:`VISIBLE_COS`. On an oblique the far side's points lie on skin the camera does not see; Face Mesh
    places them from its own model of a face."""
    r = rodrigues(pose[:3])
    pc = model.points(w) @ r.T + pose[3:]
    sight = -pc / np.maximum(np.linalg.norm(pc, axis=1, keepdims=True), 1e-12)
    cos = np.einsum("jc,jc->j", model.normals @ r.T, sight)
    return np.clip((cos - HIDDEN_COS) / (VISIBLE_COS - HIDDEN_COS), 0.0, 1.0)


def pupil_separation_px(landmarks: Landmarks) -> float:
    """The distance between the photo's two pupils (Face Mesh's iris centres), in pixels."""
    return float(np.linalg.norm(landmarks.pixels[IRIS_RIGHT[0]] - landmarks.pixels[IRIS_LEFT[0]]))


def checked_ipd(ipd_mm: float | str | None) -> float | None:
    """A measured interpupillary distance (mm) the fit may take its size from, or None (also for empty text); text
    is read with a decimal point or a decimal comma ("62,5", anatomy.typed_text); one outside the adult range
    (``data/photo_fit.yaml``) is refused: a monocular PD, half the binocular one, typed by mistake would shrink the
    whole face by half. A near PD (about 3 mm, 5 %, narrower) lies inside the range and is neither refused nor
    flagged: the field asks for the distance PD.

    Raises
    ------
    anatomy.fit.landmarks.FitRefused
        Not a number, or outside the range.
    """
    from injectmap.anatomy.fit.landmarks import FitRefused

    if isinstance(ipd_mm, str):
        try:  # up to 3 digits, a decimal point or comma and up to 2 decimals (float() alone takes "6_2", "1e2", "nan")
            ipd_mm = typed_decimal(ipd_mm, 2)
        except ValueError:
            ipd_mm = float("nan")
    if ipd_mm is None:
        return None
    lo, hi = settings()["interpupillary_distance_mm"]["range"]
    try:
        v = float(ipd_mm)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v):
        raise FitRefused("the interpupillary distance is not a number of millimetres")
    if not lo <= v <= hi:
        raise FitRefused(f"an interpupillary distance of {v:g} mm is outside the adult range ({lo:g}-{hi:g} mm): give "
                         "the distance PD between the two pupils' centres in mm (a monocular PD is half of it)")
    return v


def _iris_depth(view: View) -> float:
    iris = settings()["iris_diameter_mm"]["mean"]
    edges = [e for e in view.landmarks.iris_edges_px if e is not None]
    if edges:
        # a lid or a reflection can only hide part of an iris: the wider of the two is the less hidden
        px = max(edges)
    else:
        px = 0.5 * (view.landmarks.iris_diameter_px("left") + view.landmarks.iris_diameter_px("right"))
    return float(view.focal_px * iris / px)


def _initial_pose(view: View, model: _Model, w: np.ndarray) -> np.ndarray:
    """Rotation vector and translation: facing the camera, at the iris's depth, over the eyes."""
    lm = view.landmarks
    z = _iris_depth(view)
    r = FRONT
    eyes_px = 0.5 * (lm.pixels[IRIS_RIGHT[0]] + lm.pixels[IRIS_LEFT[0]])
    centre = np.array([lm.width / 2, lm.height / 2])
    ray = np.array([*(eyes_px - centre) / view.focal_px, 1.0])
    t = z * ray - r @ model.iris_points(w).mean(axis=0)
    return np.concatenate([rotation_vector(r), t])


def _camera(view: View, pose: np.ndarray) -> Camera:
    lm = view.landmarks
    return Camera(view.focal_px, lm.width, lm.height, rodrigues(pose[:3]), pose[3:].copy())


def _pose_step(view: View, model: _Model, w: np.ndarray, pose: np.ndarray,
               weight: np.ndarray | None = None, iris_prior: bool = True, ipd_mm: float | None = None) -> np.ndarray:
    """The camera's pose that best projects the face's landmarks onto the photo's; with ``iris_prior`` (the front
    photo's) the face's size is held near where the photo puts it: the irises' depth where their size in the photo
    puts it, or, with a measured ``ipd_mm``, the depth at which pupils that far apart, looking at the camera, are
    as far apart as the photo's. An oblique has none: its iris is foreshortened across the turn, and the face's
    size is already the front photo's."""
    pts = model.points(w)
    iris = model.iris_points(w)
    uv = view.landmarks.pixels[:N_FACE]
    z_iris = _iris_depth(view)
    if ipd_mm is None:
        s = settings()["iris_diameter_mm"]
        rel_sd = s["sd"] / s["mean"]
        prior_weight = float(settings()["iris_prior_landmarks"]["value"])
    else:
        s = settings()["interpupillary_distance_mm"]
        rel_sd = float(s["measurement_sd"]) / ipd_mm
        prior_weight = float(s["prior_landmarks"])
    sep_px = pupil_separation_px(view.landmarks)
    eyes = model.eye_centres(w)
    sw = np.sqrt(model.weight if weight is None else weight)

    def res(p: np.ndarray) -> np.ndarray:
        cam = _camera(view, p)
        r = ((cam.project(pts) - uv) * sw[:, None]).ravel()
        if not iris_prior:
            return r
        if ipd_mm is None:
            rel = cam.to_camera(iris)[:, 2].mean() / z_iris - 1.0
        else:  # the pupils' separation in the photo: a relative error in it is one in the face's distance
            q = cam.project(model.pupils_at(eyes, cam.r.T @ -cam.t, ipd_mm))
            rel = sep_px / max(float(np.linalg.norm(q[0] - q[1])), 1e-9) - 1.0
        # the scale prior, in pixel units: one SD of the size's spread weighs as this many landmarks of 1 px
        return np.concatenate([r, [np.sqrt(prior_weight) * rel / rel_sd]])

    return least_squares(res, pose, method="lm", x_scale="jac").x


def _shape_system(views: list[View], model: _Model, poses: list[np.ndarray],
                  weights: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The shape step's linear least squares ``|A w - b|^2`` (pixel units) with the poses fixed; ``weights``
    per view and landmark (default: the model's)."""
    rows_a, rows_b = [], []
    weights = weights or [model.weight] * len(views)
    for view, pose, lw in zip(views, poses, weights, strict=True):
        cam = _camera(view, pose)
        r, t, f = cam.r, cam.t, cam.focal_px
        uv = view.landmarks.pixels[:N_FACE] - cam.centre
        zc = cam.to_camera(model.p0)[:, 2]
        sw = np.sqrt(lw) / zc
        rd = model.d @ r.T  # (k, 468, 3): the deltas in the camera frame
        pc0 = model.p0 @ r.T + t
        for axis in (0, 1):
            a = (f * rd[:, :, axis] - uv[:, axis][None, :] * rd[:, :, 2]).T * sw[:, None]  # (468, k)
            b = -(f * pc0[:, axis] - uv[:, axis] * pc0[:, 2]) * sw
            rows_a.append(a)
            rows_b.append(b)
    return np.vstack(rows_a), np.concatenate(rows_b)


def _shape_step(views: list[View], model: _Model, poses: list[np.ndarray], ridge: float,
                naive: bool = False, weights: list[np.ndarray] | None = None) -> np.ndarray:
    """The weights minimising ``|A w - b|^2 + ridge |w|^2`` in 0..1 (:func:`_shape_system`)."""
    k = model.d.shape[0]
    a, b = _shape_system(views, model, poses, weights)
    if naive:  # the bench's baseline: scipy's general bounded solver on the stacked rows
        from scipy.optimize import lsq_linear

        aa = np.vstack([a, np.sqrt(ridge) * np.eye(k)])
        return lsq_linear(aa, np.concatenate([b, np.zeros(k)]), bounds=(0.0, 1.0), method="trf").x
    return bounded_solve(a.T @ a + ridge * np.eye(k), a.T @ b, np.ones(k, dtype=bool))


def fit_views(views: list[View], iterations: int = 4, ridge: float | None = None, naive: bool = False,
              ipd_mm: float | str | None = None) -> FitResult:
    """Fit the face to one or more photos' landmarks (the first is the front photo; the others, obliques, are
    posed against the fitted face and count in its shape as ``oblique_shape_weight`` says, measured: none);
    ``naive`` solves the shape step with scipy's general bounded least squares (the bench's baseline). The face's
    size comes from the iris (its population mean), or from the patient's measured interpupillary distance
    ``ipd_mm`` where one is given (:func:`checked_ipd`); the iris is then the cross-check.

    Raises
    ------
    anatomy.fit.landmarks.FitRefused
        ``ipd_mm`` outside the adult range.
    """
    if not views:
        raise ValueError("no photo to fit")
    ipd_mm = checked_ipd(ipd_mm)
    basis = face_basis()
    model = _Model(basis)
    ridge = float(settings()["ridge"]["value"] if ridge is None else ridge)
    # an oblique's landmarks in the shape step (data/photo_fit.yaml: 0, measured; its pose uses them all)
    oblique = float(settings()["oblique_shape_weight"]["value"])
    # the ridge is per landmark pixel squared: scale it with the landmark rows the shape step counts
    lam = ridge * N_FACE * (1.0 + oblique * (len(views) - 1))
    counted = len(views) if oblique > 0 else 1  # the photos whose landmarks the shape step reads
    w = np.zeros(len(basis.names))
    poses = [_initial_pose(v, model, w) for v in views]
    lws = [model.weight] * len(views)

    def seen() -> list[np.ndarray]:
        # the front photo's landmarks as they are (its outline already counts less); an oblique's by how
        # much of the skin under each the camera sees
        return [model.weight if i == 0 else model.weight * _visibility(model, w, p) for i, p in enumerate(poses)]

    turned = len(views) > 1 and OBLIQUE_VISIBILITY
    def posed() -> list[np.ndarray]:  # the front photo's iris gives the size; the obliques' are foreshortened
        return [_pose_step(v, model, w, p, lw, iris_prior=i == 0, ipd_mm=ipd_mm)
                for i, (v, p, lw) in enumerate(zip(views, poses, lws, strict=True))]

    for _ in range(iterations):
        poses = posed()
        if turned:  # what each oblique shows, from its pose, and the pose again with it
            lws = seen()
            poses = posed()
        w = _shape_step(views[:counted], model, poses[:counted], lam, naive,
                        [lws[0], *(oblique * lw for lw in lws[1:counted])])
    lws = seen() if turned else lws
    poses = posed()
    cams = [_camera(v, p) for v, p in zip(views, poses, strict=True)]
    pts = model.points(w)
    residuals = []
    for v, cam in zip(views, cams, strict=True):
        px = np.linalg.norm(cam.project(pts) - v.landmarks.pixels[:N_FACE], axis=1)
        residuals.append(px * cam.to_camera(pts)[:, 2] / cam.focal_px)
    icw = float(np.linalg.norm(pts[ENDOCANTHION[0]] - pts[ENDOCANTHION[1]]))
    ic = settings()["intercanthal_width_mm"]
    lm0 = views[0].landmarks
    edges = [e for e in lm0.iris_edges_px if e is not None]
    iris_px = max(edges) if edges else 0.5 * (lm0.iris_diameter_px("left") + lm0.iris_diameter_px("right"))
    scale = {
        "iris_px": round(iris_px, 2),
        "iris_from_edges": float(bool(edges)),
        "iris_depth_mm": round(_iris_depth(views[0]), 1),
        "intercanthal_mm": round(icw, 1),
        "intercanthal_z": round((icw - ic["mean"]) / ic["sd"], 2),
    }
    # the fitted camera's distance from the irises (iris_depth_mm is where the iris's mean alone would put it)
    depth = float(cams[0].to_camera(model.iris_points(w))[:, 2].mean())
    scale["camera_mm"] = round(depth, 1)
    if ipd_mm is not None:  # the size is the measured distance's; the iris it implies is the cross-check
        iris_s = settings()["iris_diameter_mm"]
        implied = iris_px * depth / cams[0].focal_px
        scale.update({"ipd_mm": round(ipd_mm, 1), "iris_mm": round(implied, 2),
                      "iris_z": round((implied - iris_s["mean"]) / iris_s["sd"], 2)})
    return FitResult(weights=w, targets=basis.targets(w), cameras=cams, residuals_mm=residuals, scale=scale,
                     landmark_weights=[np.asarray(lw, dtype=float) for lw in lws])


def interpupillary_mm(weights: np.ndarray) -> float:
    """The distance interpupillary distance (mm) of a face with these weights: its eyes' centres apart, the pupils'
    separation when the eyes look far ahead (what a PD rule or a pupillometer measures)."""
    eyes = _Model(face_basis()).eye_centres(np.asarray(weights, dtype=float))
    return float(np.linalg.norm(eyes[1] - eyes[0]))


def landmark_points(weights: np.ndarray) -> np.ndarray:
    """The 468 Face Mesh landmarks' 3D points (mm, the file's frame) of a face with these weights."""
    return _Model(face_basis()).points(np.asarray(weights, dtype=float))


def detect_views(images: list[np.ndarray], names: list[str], focal_35mm: list[float | None] | None = None,
                 default_focal_35mm: float | None = None, front_first: bool = False) -> tuple[list[View], list[int]]:
    """The photos' landmarks as the fit's views, the front photo first: ``(views, order)``, ``views[i]`` being the
    photo ``order[i]`` of ``images`` (each (h, w, 3) uint8 RGB; ``names`` name them in refusals).

    One photo is the front photo (turned at most 25 degrees). Of several (at most :data:`MAX_PHOTOS`), the front
    photo is the first with ``front_first`` (the command line's order), else the one facing the camera most; each
    other is an oblique, turned more than a front photo may be (and at most 60 degrees): a second photo facing the
    camera, or the same photo twice, is refused, as it adds nothing and may be another patient's.

    Raises
    ------
    anatomy.fit.landmarks.FitRefused
        A photo the fit cannot use (the message names it, of several), or photos that are not one front photo and
        obliques.
    """
    import hashlib

    from injectmap.anatomy.fit.landmarks import MAX_YAW_DEG, FitRefused, detect

    if not 1 <= len(images) <= MAX_PHOTOS:
        raise FitRefused(f"{len(images)} photos were given: give the front photo and at most two obliques")
    several = len(images) > 1
    seen: dict[str, str] = {}
    for img, name in zip(images, names, strict=True):
        digest = hashlib.sha256(np.ascontiguousarray(img).data).hexdigest()  # the pixels, not a copy of them
        if digest in seen:
            raise FitRefused(f"{seen[digest]} and {name} are the same photo: give the front photo and obliques "
                             "turned about 45 degrees")
        seen[digest] = name
    found = []
    for i, (img, name) in enumerate(zip(images, names, strict=True)):
        try:  # of several, each is read as an oblique may be; the front photo is then held to its own limit
            found.append(detect(img, oblique=several and not (front_first and i == 0)))
        except FitRefused as exc:
            raise FitRefused(f"{name}: {exc}" if several else str(exc)) from None
    turns = [abs(lm.yaw_deg()) for lm in found]
    order = list(range(len(found))) if front_first else sorted(range(len(found)), key=turns.__getitem__)
    front = order[0]
    if turns[front] > MAX_YAW_DEG:
        raise FitRefused(f"no photo faces the camera (the least turned, {names[front]}, is turned {turns[front]:.0f} "
                         f"degrees; at most {MAX_YAW_DEG:.0f} for the front photo)")
    for i in order[1:]:
        if turns[i] <= MAX_YAW_DEG:
            raise FitRefused(f"{names[front]} and {names[i]} both face the camera (turned {turns[front]:.0f} and "
                             f"{turns[i]:.0f} degrees): give one front photo, and obliques turned about 45 degrees")
    default = float(settings()["default_focal_35mm"]["value"] if default_focal_35mm is None else default_focal_35mm)
    focal_35mm = focal_35mm or [None] * len(images)
    views = [View(found[i], Camera.focal_from_35mm(focal_35mm[i] or default, found[i].width, found[i].height))
             for i in order]
    return views, order


def scale_text(scale: Mapping[str, float]) -> str:
    """Where a photo fit's size came from and its cross-checks (a face file's ``scale``), one sentence: shown by
    the command line, the Face card and the report's first page."""
    iris = settings()["iris_diameter_mm"]
    icw, icz = scale.get("intercanthal_mm"), scale.get("intercanthal_z")
    ic = (f"; the fitted intercanthal width is {float(icw):.1f} mm ({float(icz):+.1f} SD of the population's)"
          if icw is not None and icz is not None else "")
    ipd = scale.get("ipd_mm")
    if ipd is not None:
        sd = settings()["interpupillary_distance_mm"]["measurement_sd"]
        check = (f": the iris then measures {float(scale['iris_mm']):.1f} mm ({float(scale['iris_z']):+.1f} SD of the "
                 f"population's {iris['mean']:g} mm)" if "iris_mm" in scale and "iris_z" in scale else "")
        return (f"Size from the patient's measured interpupillary distance, {float(ipd):.1f} mm (a measurement's "
                f"spread about {sd:g} mm){check}{ic}.")
    return (f"Size from the iris (the population's {iris['mean']:g} mm, SD {iris['sd']:g} mm: about "
            f"{100 * iris['sd'] / iris['mean']:.1f} %; a measured interpupillary distance narrows it){ic}.")


def scale_warnings(scale: Mapping[str, float]) -> list[str]:
    """What in a photo fit's ``scale`` calls for a second look at its size (a face file's ``scale``)."""
    out = []
    z = scale.get("intercanthal_z")
    if z is not None and abs(float(z)) > 2.5:
        out.append("the intercanthal width is far from the population's: check the scale (a child, a wide-angle "
                   "lens close to the face, or an iris misread)")
    z = scale.get("iris_z") if "ipd_mm" in scale else None
    if z is not None and abs(float(z)) > 3.0:
        out.append(f"with the measured interpupillary distance the iris measures {float(z):+.1f} SD from the "
                   "population's (about 11 % off its mean): check the measurement (the distance PD between the two "
                   "pupils, in mm) and the photo")
    return out


def placement_text() -> str:
    """How far a front photo's fit placed the key arteries and the foramina from the truth's on synthetic
    patients (``data/photo_fit.yaml``, measured): shown beside the caveat wherever a fit is."""
    v = settings()["placement_on_synthetic_patients"]
    return (f"Measured on {v['patients']} synthetic faces with a known truth, a front photo's fit placed the key "
            f"arteries a median {v['vessels_median_mm']:g} mm from the truth's ({v['vessels_within_3mm_percent']:g} % "
            f"within 3 mm, the worst {v['vessels_worst_mm']:g} mm) and the foramina a median "
            f"{v['foramina_median_mm']:g} mm (the worst {v['foramina_worst_mm']:g} mm): read a distance to them "
            "with that much more spread.")


def contract_origin(weights: np.ndarray) -> np.ndarray:
    """The CONTRACTS frame's origin of a face with these weights, in the file's frame, as the builder
    (``anatomy.head.build_head``) places it: :func:`injectmap.anatomy.basehead.frame_origin`, between the
    endocanthia on the head's midline."""
    from injectmap.anatomy.basehead import frame_origin, read_base_obj

    basis = face_basis()
    full = read_base_obj().vertices_mm.copy()
    full[basis.vertex_ids] = basis.shape(np.asarray(weights, dtype=float))
    return frame_origin(full)
