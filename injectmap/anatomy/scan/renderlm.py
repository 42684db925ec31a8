"""Landmarks of a scan from an off-screen render: the photo fit's landmarker on a picture of the scan.

The scan, turned to face the camera by a first alignment (its geometry's), is rendered off-screen
(VTK, EGL) by a known pinhole camera: with its colours where it has them (vertex colours, or a
texture sampled at the vertices), shaded grey otherwise. MediaPipe Face Mesh, the photo fit's
landmarker (:mod:`injectmap.anatomy.fit.landmarks`), finds the face's 468 points in the picture, and
each is lifted to 3D by casting its pixel's ray through the known camera onto the scan: the first
hit is the landmark on the scan's surface. Each Face Mesh point is a fixed point of the base head
(the photo fit's measured table, ``data/facemesh_correspondence.npz``: three base-mesh vertices and
barycentric weights), so every hit is a pair (template point, scan point): the pairs start the rigid
alignment and pull the non-rigid fit.

What is dropped: the face's outline (the table's ``contour`` points slide with the view), rays that
miss the scan, and hits on the scan's border (a hole's rim, where the ray may pass behind). A render
with no face (no face-like surface, or one turned away) raises :class:`NoFaceInRender` with the
landmarker's reason, and the fit falls back to the geometry alone, saying why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import trimesh

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.fit.camera import Camera
from injectmap.anatomy.scan.rigid import apply
from injectmap.anatomy.scan.template import Template

#: the render's size and camera: the synthetic photos' (the table was measured on those)
WIDTH, HEIGHT, DISTANCE_MM, FOCAL_35MM = 720, 960, 650.0, 50.0
BACKGROUND = (90, 96, 104)
#: a hit this close (mm) to the scan's border is not used
BORDER_MM = 2.0


class NoFaceInRender(UserFacing, ValueError):
    """The render of the scan shows no face the landmarker accepts; the message says why."""


@dataclass(frozen=True)
class RenderLandmarks:
    """Face Mesh landmarks found on a render of the scan, lifted onto the scan.

    Attributes
    ----------
    ids : (k,) int
        Face Mesh landmark numbers (0..467) kept.
    scan_mm : (k, 3) float
        Each landmark on the scan's surface: the scan's own axes, millimetres.
    vertices : (k, 3) int
        The template vertices (local numbering) of each landmark's point of the base head.
    bary : (k, 3) float
        Its barycentric weights on those vertices.
    textured : bool
        Whether the render carried the scan's colours (else shaded grey).
    camera : Camera
        The render's camera (the frame of the first alignment).
    image : (h, w, 3) uint8
        The render.
    seconds : float
        Time of the render, the landmarker and the rays.
    """

    ids: np.ndarray
    scan_mm: np.ndarray
    vertices: np.ndarray
    bary: np.ndarray
    textured: bool
    camera: Camera
    image: np.ndarray
    seconds: float

    def template_points(self, vertices_mm: np.ndarray) -> np.ndarray:
        """The landmarks' points (k, 3) on template vertices of the same numbering."""
        return np.einsum("kj,kjd->kd", self.bary, vertices_mm[self.vertices])


def front_camera(template: Template) -> Camera:
    """The render's camera: the synthetic photos' portrait camera on the template's face, from the front."""
    return Camera.portrait(template.vertices_mm, WIDTH, HEIGHT, DISTANCE_MM, FOCAL_35MM)


def render_scan(mesh_frame: trimesh.Trimesh, colours: np.ndarray | None, camera: Camera) -> np.ndarray:
    """The scan (already in the frame) seen by ``camera``: (h, w, 3) uint8."""
    import pyvista as pv

    faces = np.asarray(mesh_frame.faces)
    poly = pv.PolyData(np.asarray(mesh_frame.vertices), np.hstack([np.full((len(faces), 1), 3), faces]).ravel())
    poly = poly.compute_normals(split_vertices=False, auto_orient_normals=False, consistent_normals=False)
    pl = pv.Plotter(off_screen=True, window_size=[camera.width, camera.height], lighting="none")
    try:
        pl.set_background(tuple(c / 255 for c in BACKGROUND))  # type: ignore[arg-type]
        if colours is not None:
            poly.point_data["rgb"] = np.asarray(colours, dtype=np.uint8)
            pl.add_mesh(poly, scalars="rgb", rgb=True, smooth_shading=True, ambient=0.25, diffuse=0.8,
                        specular=0.08, specular_power=20)
        else:
            pl.add_mesh(poly, color=(0.82, 0.72, 0.66), smooth_shading=True, ambient=0.15, diffuse=0.85,
                        specular=0.1, specular_power=20)
        pos, focal, up = camera.vtk_view()
        pl.camera.position, pl.camera.focal_point, pl.camera.up = pos, focal, up
        pl.camera.view_angle = camera.view_angle_deg
        pl.camera.clipping_range = (10.0, 5000.0)
        target = np.asarray(focal)
        for direc, power in (((0.3, 0.4, 1.0), 0.9), ((0.0, 0.0, 1.0), 0.35)):
            pl.add_light(pv.Light(position=tuple(target + 1000 * np.asarray(direc)), focal_point=tuple(target),
                                  intensity=power, light_type="scene light"))
        img = pl.screenshot(return_img=True)
    finally:
        pl.close()
    return np.asarray(img)[..., :3].copy()


def _border_vertices(mesh: trimesh.Trimesh) -> np.ndarray:
    edges = np.sort(mesh.edges, axis=1)
    _, inv, cnt = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    return np.unique(edges[cnt[inv.ravel()] == 1])


def render_landmarks(scan_mm: trimesh.Trimesh, to_frame: np.ndarray, template: Template,
                     colours: np.ndarray | None = None) -> RenderLandmarks:
    """Face Mesh landmarks of a scan (millimetres, its own axes) from a frontal render.

    Parameters
    ----------
    to_frame : (4, 4)
        A first alignment of the scan to the frame (its geometry's), so the render sees the face
        from the front.
    colours : (n, 3) uint8, optional
        The scan's vertex colours (:func:`injectmap.anatomy.scan.loading.vertex_colours`); without them the render is shaded.

    Raises
    ------
    NoFaceInRender
        The landmarker finds no face (or refuses the one it finds), or too few landmarks land on the scan.
    """
    from scipy.spatial import cKDTree

    from injectmap.anatomy.fit.correspondence import N_FACE, table
    from injectmap.anatomy.fit.landmarks import FitRefused, _run_face_mesh, model_file

    t0 = time.perf_counter()
    try:
        model_file()
    except FitRefused as exc:
        raise NoFaceInRender(f"no landmarker: {exc}") from exc
    moved = trimesh.Trimesh(apply(to_frame, np.asarray(scan_mm.vertices, dtype=float)), np.asarray(scan_mm.faces),
                            process=False)
    cam = front_camera(template)
    img = render_scan(moved, colours, cam)
    res = _run_face_mesh(img)
    faces = res.multi_face_landmarks or []
    if not faces:
        raise NoFaceInRender("the landmarker found no face on a frontal render of the scan")
    if len(faces) > 1:
        raise NoFaceInRender(f"the landmarker found {len(faces)} faces on the render of the scan")
    px = np.array([[q.x * cam.width, q.y * cam.height] for q in faces[0].landmark])[:N_FACE]
    tab = table()
    keep = ~tab["contour"].astype(bool)
    origin, dirs = cam.ray(px[keep])
    ids = np.flatnonzero(keep)
    loc, ray_i, _ = moved.ray.intersects_location(np.repeat(origin[None], len(dirs), axis=0), dirs,
                                                  multiple_hits=False)
    hit = np.full((len(ids), 3), np.nan)
    hit[ray_i] = loc
    ok = np.isfinite(hit).all(axis=1)
    rim = _border_vertices(moved)
    if len(rim) and ok.any():
        d, _ = cKDTree(np.asarray(moved.vertices)[rim]).query(hit[ok])
        ok[np.flatnonzero(ok)[d < BORDER_MM]] = False
    if ok.sum() < 20:
        raise NoFaceInRender(f"only {int(ok.sum())} of the render's landmarks land on the scan")
    local = {int(b): i for i, b in enumerate(template.base_ids)}
    verts = np.vectorize(local.__getitem__)(tab["vertex_ids"][ids[ok]])
    inv = np.linalg.inv(to_frame)
    return RenderLandmarks(ids=ids[ok], scan_mm=apply(inv, hit[ok]), vertices=verts, bary=tab["bary"][ids[ok]],
                           textured=colours is not None, camera=cam, image=img,
                           seconds=time.perf_counter() - t0)
