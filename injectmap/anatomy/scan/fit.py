"""Fitting the layered face's skin to a 3D scan of the patient.

:func:`fit_scan` reads the scan, decides its units, aligns it rigidly to the template (from given
landmarks or from its geometry), registers the template skin onto it non-rigidly, and keeps the
template wherever the scan has no data: each template vertex's displacement is weighted by a
coverage weight that is 1 where the scan matched it and falls smoothly to 0 over
``blend_mm`` of surface distance beyond (a scan that stops at the ears, the hairline or around a
hole leaves the rest of the head as the population template). The result is typed
(:class:`ScanFit`): offsets for every base-mesh vertex, so the anatomy pipeline can build on the
fitted skin with the base numbering unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from injectmap.anatomy.basehead import read_base_obj
from injectmap.anatomy.scan.loading import Units, load_scan
from injectmap.anatomy.scan.nonrigid import DEFAULT_STEPS, ScanSurface, nricp
from injectmap.anatomy.scan.renderlm import NoFaceInRender, RenderLandmarks, render_landmarks
from injectmap.anatomy.scan.rigid import align_geometric, align_landmarks, apply, kabsch, robust_kabsch
from injectmap.anatomy.scan.shape import ShapeFit, fit_shape
from injectmap.anatomy.scan.template import Template, default_template

#: the template's surface sampled this densely (points per mm^2) for the rigid alignment
REF_DENSITY = 0.35
#: Face Mesh's brow landmarks (upper and lower edge of each brow): the render's landmarks that pull
#: the non-rigid fit. The brows are seen in the scan's colours, not in its shape; elsewhere (eyes,
#: nose, mouth) the shape places the fit better than Face Mesh's one to two millimetres, and its
#: forehead points (measured: 1-4 mm off) pulled the smooth forehead no closer (docs/scan-fit.md)
BROWS = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
#: how hard each render landmark pulls (1: as much as one template vertex's match to the scan;
#: measured 1, 3 and 5 on the synthetic patients: docs/scan-fit.md)
RENDER_PULL = 3.0
#: the stiffness below which the render's landmarks stop pulling (they set the stiff steps' shape)
RENDER_UNTIL = 3.0
#: a render landmark further than this from its template point after the rigid alignment is dropped
RENDER_OUTLIER_MM = 25.0
#: the render's start is kept when its ICP residual is at most this much above the geometry's (mm)
RENDER_WORSE_MM = 0.5


@dataclass(frozen=True)
class SurfacePoints:
    """Points attached to a surface: triangle, barycentric coordinates and height along the
    triangle's normal (mm, positive outward); they follow the surface when its vertices move."""

    names: tuple[str, ...]
    tri: np.ndarray
    bary: np.ndarray
    height_mm: np.ndarray

    def on(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """The points (k, 3) on a surface of the same numbering."""
        t = vertices[faces[self.tri]]
        base = np.einsum("kj,kjd->kd", self.bary, t)
        n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return base + n * self.height_mm[:, None]


def attach(points_mm: np.ndarray, vertices: np.ndarray, faces: np.ndarray,
           names: tuple[str, ...] = ()) -> SurfacePoints:
    """Attach points (k, 3) to the nearest place of a surface (see :class:`SurfacePoints`)."""
    pts = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    closest, _, tri = trimesh.proximity.closest_point(mesh, pts)
    bary = trimesh.triangles.points_to_barycentric(mesh.triangles[tri], closest)
    fn = mesh.face_normals[tri]
    h = np.einsum("ij,ij->i", pts - closest, fn)
    return SurfacePoints(names=tuple(names), tri=np.asarray(tri), bary=np.asarray(bary), height_mm=h)


@lru_cache(maxsize=1)
def template_landmarks() -> SurfacePoints:
    """The default face's landmarks (skin and bone), attached to the default template."""
    from injectmap.anatomy.model import load_model

    lm = load_model().landmarks
    t = default_template()
    names = tuple(sorted(lm))
    return attach(np.array([lm[k] for k in names]), t.vertices_mm, t.faces, names)


def face_region(t: Template) -> np.ndarray:
    """Template vertices of the face: between the menton and the trichion (5 mm margins), in front
    of the tragions (the plane through both), where a face scan is expected to reach."""
    lm = template_landmarks()
    p = dict(zip(lm.names, lm.on(t.vertices_mm, t.faces), strict=True))
    v = t.vertices_mm
    z_ear = 0.5 * (p["tragion_left"][2] + p["tragion_right"][2])
    return (v[:, 1] > p["menton"][1] - 5.0) & (v[:, 1] < p["trichion"][1] + 5.0) & (v[:, 2] > z_ear)


@dataclass(frozen=True)
class ScanFit:
    """The result of a scan fit (millimetres; the frame of CONTRACTS unless said).

    Attributes
    ----------
    offsets_mm : (19158, 3) float
        Displacement of every base-mesh vertex from the template face (the default face unless
        another template was given): the skin's from the fit, each helper's (eyes, lashes, teeth)
        from the skin around it, zero below the neck.
    fitted_vertices_mm : (n, 3) float
        The template skin after the fit (``template.vertices_mm + offsets_mm[template.base_ids]``).
    rigid : (4, 4) float
        Scan millimetres to the frame (apply after ``scale_to_mm``).
    units, units_reason, scale_to_mm
        The scan's units and how they were decided.
    alignment : str
        How the rigid start was found (given landmarks, the render's landmarks, or the geometry;
        with the reason when the render's were not used).
    residual_median_mm, residual_p90_mm : float
        Distance from the scan's points to the fitted skin.
    landmark_residuals_mm : dict[str, float]
        For landmarks given with the scan: fitted landmark to given position.
    coverage : float
        Share of the template's face region the scan covers (0..1).
    weight : (n,) float
        Per template vertex, how much of the fit it takes (1 covered, 0 template).
    landmarks_mm : dict[str, (3,) float]
        The default face's landmarks carried onto the fitted skin.
    seconds : dict[str, float]
        Time of each stage.
    """

    offsets_mm: np.ndarray
    fitted_vertices_mm: np.ndarray
    template: Template
    rigid: np.ndarray
    units: str
    units_reason: str
    scale_to_mm: float
    alignment: str
    residual_median_mm: float
    residual_p90_mm: float
    landmark_residuals_mm: dict[str, float]
    coverage: float
    weight: np.ndarray
    landmarks_mm: dict[str, np.ndarray]
    source: str
    seconds: dict[str, float] = field(default_factory=dict)
    #: the landmarks found on the off-screen render (None: not tried, or no face; ``alignment`` says)
    render: RenderLandmarks | None = None
    #: the Face Mesh numbers of the render landmarks that pulled the non-rigid fit
    render_pulls: tuple[int, ...] = ()
    #: the shape stage's targets and weights (None: not used)
    shape: ShapeFit | None = None

    def scan_to_frame(self, points: np.ndarray) -> np.ndarray:
        """Scan coordinates (its own units) to the frame."""
        return apply(self.rigid, np.asarray(points, dtype=float) * self.scale_to_mm)


def _reference(t: Template) -> tuple[np.ndarray, np.ndarray]:
    mesh = trimesh.Trimesh(t.vertices_mm, t.faces, process=False)
    count = int(mesh.area * REF_DENSITY)
    pts, fi = trimesh.sample.sample_surface_even(mesh, count, seed=0)
    return np.asarray(pts), np.asarray(mesh.face_normals[fi])


def _edge_graph(vertices: np.ndarray, faces: np.ndarray) -> sparse.csr_matrix:
    e = np.unique(np.sort(np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)
    length = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1)
    n = len(vertices)
    return sparse.coo_matrix((length, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()


def coverage_weight(vertices: np.ndarray, faces: np.ndarray, matched: np.ndarray, blend_mm: float) -> np.ndarray:
    """1 on matched vertices, falling smoothly (smoothstep of the surface distance) to 0 at
    ``blend_mm`` from them. Lone matched vertices (a match through a small gap) count as matched."""
    if not matched.any():
        return np.zeros(len(vertices))
    g = _edge_graph(vertices, faces)
    dist = dijkstra(g, directed=False, indices=np.flatnonzero(matched), min_only=True, limit=blend_mm)
    s = np.clip(1.0 - dist / blend_mm, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def base_offsets(t: Template, skin_offsets: np.ndarray, k: int = 6) -> np.ndarray:
    """Offsets of every base-mesh vertex: the skin's as given, a helper's (above the neck) by
    inverse-distance weighting of the ``k`` nearest skin vertices, zero below the neck."""
    out = np.zeros_like(t.base_vertices_mm)
    out[t.base_ids] = skin_offsets
    other = np.ones(len(out), dtype=bool)
    other[t.base_ids] = False
    other &= t.base_vertices_mm[:, 1] > t.neck_y_mm
    # the body group's own vertices below the crop stay put
    body = np.zeros(len(out), dtype=bool)
    body[np.unique(read_base_obj().groups["body"])] = True
    other &= ~body
    if other.any():
        d, j = cKDTree(t.vertices_mm).query(t.base_vertices_mm[other], k=k)
        w = 1.0 / np.maximum(d, 0.5) ** 2
        w /= w.sum(axis=1, keepdims=True)
        out[other] = np.einsum("ik,ikd->id", w, skin_offsets[j])
    return out


def shape_alignment(fitted: np.ndarray, template: np.ndarray, matched: np.ndarray,
                    keep: float = 0.7, rounds: int = 4) -> np.ndarray:
    """The rigid transform (4x4) that lays the fitted skin best onto the template over the vertices
    the scan matched: a least-squares fit, then trimmed ones (the ``keep`` share nearest the template),
    so that a local difference of shape (a larger nose, a longer chin) does not tilt the face.

    The fit's rigid start aligns the scan to the template with an error of a few degrees, which the
    non-rigid step absorbs as a deformation; without this the built face would carry that pose (the
    frame's axes are the template's, its origin between the endocanthions on the head's midline: the face's own
    anatomy)."""
    idx = np.flatnonzero(matched)
    if len(idx) < 10:
        return np.eye(4)
    m = kabsch(fitted[idx], template[idx])
    for _ in range(rounds - 1):
        d = np.linalg.norm(apply(m, fitted[idx]) - template[idx], axis=1)
        use = idx[d <= np.quantile(d, keep)]
        m = kabsch(fitted[use], template[use])
    return m


def _render_or_reason(mesh: trimesh.Trimesh, matrix: np.ndarray, template: Template,
                      colours: np.ndarray | None) -> tuple[RenderLandmarks | None, str]:
    """The render's landmarks (rendered facing the camera by the alignment so far), or None and why not to
    add to the alignment's description. The render is a help: a render or landmarker that fails leaves the
    geometry's start."""
    try:
        return render_landmarks(mesh, matrix, template, colours), ""
    except NoFaceInRender as exc:
        return None, f"; render landmarks not used: {exc}"
    except Exception as exc:  # noqa: BLE001 - no EGL, a broken model: the geometric start stands
        return None, f"; render landmarks not used: the render or the landmarker failed ({type(exc).__name__})"


def fit_scan(path_or_mesh: str | Path | trimesh.Trimesh, units: Units = "auto", *,
             landmarks: Mapping[str, np.ndarray] | None = None, template: Template | None = None,
             blend_mm: float = 20.0, steps: tuple[tuple[float, int], ...] = DEFAULT_STEPS,
             seed: int = 0, use_render: bool = True, use_shape: bool = True) -> ScanFit:
    """Fit the template skin to a scan.

    Parameters
    ----------
    path_or_mesh : path to an OBJ, PLY, STL or GLB file, or a ``trimesh.Trimesh``
    units : "auto", "m" or "mm"
        The scan's units; "auto" decides from its size (:mod:`.loading`).
    landmarks : {landmark id: (3,) float}, optional
        Positions of CONTRACTS landmarks on the scan, in the scan's units and axes (picked by a
        user or a landmarker). Three or more start the rigid alignment; all of them also pull the
        non-rigid fit. Without them the alignment comes from the render's landmarks, or else from
        the scan's geometry.
    template : the face to fit from (default: the default face)
    blend_mm : surface distance over which the fit fades into the template beyond the scan's data
    use_render : bool
        Find landmarks on an off-screen render of the scan (:mod:`.renderlm`; needs mediapipe): they
        start the rigid alignment (unless landmarks are given) and the brows' pull the non-rigid fit.
    use_shape : bool
        Fit the face targets to the scan first (:mod:`.shape`), so the registration starts from a face
        laid out as the targets move it.

    Raises
    ------
    injectmap.anatomy.scan.loading.ScanError
        Unreadable file, not face-sized in any unit, too few triangles.
    KeyError
        A landmark id that the face does not have.
    """
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    scan = load_scan(path_or_mesh, units)
    t = default_template() if template is None else template
    lm_all = template_landmarks()
    times["load"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    ref_pts, ref_nrm = _reference(t)
    scan_pts = np.asarray(scan.mesh.vertices)
    lm_pos = dict(zip(lm_all.names, lm_all.on(t.vertices_mm, t.faces), strict=True))
    given: dict[str, np.ndarray] = {}
    if landmarks:
        for k, p in landmarks.items():
            if k not in lm_pos:
                raise KeyError(f"unknown landmark {k!r}")
            given[k] = np.asarray(p, dtype=float).reshape(3) * scan.scale_to_mm
    if len(given) >= 3:
        names = sorted(given)
        rig = align_landmarks(scan_pts, ref_pts, ref_nrm, np.array([lm_pos[k] for k in names]),
                              np.array([given[k] for k in names]), seed=seed)
    else:
        rig = align_geometric(scan_pts, ref_pts, ref_nrm, lm_pos["pronasale"], seed=seed)
    times["rigid"] = time.perf_counter() - t1
    render: RenderLandmarks | None = None
    method = rig.method
    if use_render:
        t_r = time.perf_counter()
        render, why = _render_or_reason(scan.mesh, rig.matrix, t, scan.colours)
        method += why
        if render is not None and len(given) < 3:
            tmpl_pts = render.template_points(t.vertices_mm)
            by_render = align_landmarks(scan_pts, ref_pts, ref_nrm, tmpl_pts, render.scan_mm, seed=seed,
                                        start=robust_kabsch(render.scan_mm, tmpl_pts))
            if by_render.residual_mm <= rig.residual_mm + RENDER_WORSE_MM:
                rig = by_render
                method = (f"render landmarks ({len(render.ids)} Face Mesh points on a "
                          f"{'textured' if render.textured else 'shaded'} render), then ICP")
            else:  # a face the landmarker misplaced: the geometry's start fits the scan better
                method += (f"; render landmarks not used: their start fits the scan worse "
                           f"({by_render.residual_mm:.2f} mm against {rig.residual_mm:.2f} mm)")
                render = None
        elif render is not None:
            method += f"; render landmarks found ({len(render.ids)}), the given ones start the alignment"
        times["render_landmarks"] = time.perf_counter() - t_r
    moved = scan.mesh.copy()
    moved.apply_transform(rig.matrix)

    t2 = time.perf_counter()
    surf = ScanSurface(moved)
    surf.oriented_like(ref_nrm, cKDTree(ref_pts))
    corners, bary, target, pull, until = [], [], [], [], []
    if given:
        names = sorted(given)
        idx = [lm_all.names.index(k) for k in names]
        corners.append(t.faces[lm_all.tri[idx]])
        bary.append(lm_all.bary[idx])
        target.append(apply(rig.matrix, np.array([given[k] for k in names])))
        pull.append(np.ones(len(names)))
        until.append(np.zeros(len(names)))
    pulls: tuple[int, ...] = ()
    if render is not None:
        on_scan = apply(rig.matrix, render.scan_mm)
        off = np.linalg.norm(on_scan - render.template_points(t.vertices_mm), axis=1)
        use = np.isin(render.ids, BROWS) & (off <= RENDER_OUTLIER_MM)
        pulls = tuple(int(i) for i in render.ids[use])
        corners.append(render.vertices[use])
        bary.append(render.bary[use])
        target.append(on_scan[use])
        pull.append(np.full(int(use.sum()), RENDER_PULL))
        until.append(np.full(int(use.sum()), RENDER_UNTIL))
    lm_arg = (np.vstack(corners), np.vstack(bary), np.vstack(target)) if corners else None
    weights = np.concatenate(pull) if pull else 1.0
    start = t.vertices_mm
    shaped: ShapeFit | None = None
    if use_shape:
        t_s = time.perf_counter()
        shaped = fit_shape(t, surf, lm_arg, weights)
        start = shaped.vertices_mm
        times["shape"] = time.perf_counter() - t_s
    res = nricp(start, t.faces, surf, steps=steps, landmarks=lm_arg,
                landmark_weight=weights, landmark_until=np.concatenate(until) if until else None)
    # the pose left in the fit (the rigid start's error, a few degrees) is not the patient's shape
    pose_fix = shape_alignment(res.vertices_mm, t.vertices_mm, res.matched)
    fitted_all = apply(pose_fix, res.vertices_mm)
    rigid = pose_fix @ rig.matrix
    moved.apply_transform(pose_fix)
    times["nonrigid"] = time.perf_counter() - t2 - times.get("shape", 0.0)

    t3 = time.perf_counter()
    w = coverage_weight(t.vertices_mm, t.faces, res.matched, blend_mm)
    skin_off = (fitted_all - t.vertices_mm) * w[:, None]
    fitted = t.vertices_mm + skin_off
    region = face_region(t)
    coverage = float(res.matched[region].mean()) if region.any() else 0.0
    fmesh = trimesh.Trimesh(fitted, t.faces, process=False)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(moved.vertices), size=min(5000, len(moved.vertices)), replace=False)
    _, dist, _ = trimesh.proximity.closest_point(fmesh, np.asarray(moved.vertices)[pick])
    fitted_lm = dict(zip(lm_all.names, lm_all.on(fitted, t.faces), strict=True))
    lm_res = {k: float(np.linalg.norm(fitted_lm[k] - apply(rigid, p[None])[0])) for k, p in given.items()}
    times["residuals"] = time.perf_counter() - t3
    times["total"] = time.perf_counter() - t0
    return ScanFit(
        offsets_mm=base_offsets(t, skin_off), fitted_vertices_mm=fitted, template=t, rigid=rigid,
        units=scan.units, units_reason=scan.units_reason, scale_to_mm=scan.scale_to_mm,
        alignment=method, residual_median_mm=float(np.median(dist)),
        residual_p90_mm=float(np.percentile(dist, 90)), landmark_residuals_mm=lm_res,
        coverage=coverage, weight=w, landmarks_mm=fitted_lm, source=scan.source, seconds=times,
        render=render, render_pulls=pulls, shape=shaped,
    )
