"""The template of the scan fit: the base head's skin above the neck, in the CONTRACTS frame.

The template is the coarse hm08 skin (about 4,300 vertices) of a face variant, kept on the base
mesh's own vertex numbering (``base_ids``), so a fit's offsets apply to the base mesh and every
vertex-id landmark and shape target keeps its meaning. The frame is the one of
:func:`injectmap.anatomy.head.build_head`: millimetres, +x the subject's left, +y superior, +z
anterior, origin between the endocanthions (the medial ends of the lash helpers), on the head's midline
(:func:`injectmap.anatomy.basehead.frame_origin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from injectmap.anatomy.basehead import apply_targets, frame_origin, read_base_obj, sex_targets


@dataclass(frozen=True)
class Template:
    """The skin of one face variant above the neck joint.

    Attributes
    ----------
    vertices_mm : (n, 3) float
        Template vertices in the frame.
    faces : (m, 3) int
        Triangles on ``vertices_mm``.
    base_ids : (n,) int
        The base-mesh vertex of each template vertex.
    base_vertices_mm : (19158, 3) float
        Every base-mesh vertex (helpers included) in the same frame.
    neck_y_mm : float
        Height of the neck joint in the frame (the crop).
    """

    vertices_mm: np.ndarray
    faces: np.ndarray
    base_ids: np.ndarray
    base_vertices_mm: np.ndarray
    neck_y_mm: float


def framed_base(targets: list | tuple = ()) -> np.ndarray:
    """Every base-mesh vertex after ``targets`` ((target, weight[, side]) entries), in the frame."""
    verts = apply_targets(read_base_obj().vertices_mm, list(targets))
    return verts - frame_origin(verts)


def default_targets() -> list:
    """The targets of the default face (sex 0.5, average masseter and brows)."""
    from injectmap.anatomy.fields import load_geometry
    from injectmap.anatomy.model import _extra_targets
    from injectmap.anatomy.params import FaceParams

    return sex_targets(0.5) + _extra_targets(FaceParams(), load_geometry())


@lru_cache(maxsize=1)
def _crop() -> tuple[np.ndarray, np.ndarray]:
    """The base ids and local triangles of the skin above the neck joint (on the default face; the
    crop is kept for every variant so that all templates share one numbering)."""
    obj = read_base_obj()
    verts = framed_base(default_targets())
    neck_y = verts[np.unique(obj.groups["joint-neck"])].mean(axis=0)[1]
    tris = obj.groups["body"]
    tris = tris[(verts[tris][:, :, 1] > neck_y).all(axis=1)]
    ids, local = np.unique(tris, return_inverse=True)
    local = local.reshape(-1, 3)
    n = len(ids)
    e = np.vstack([local[:, [0, 1]], local[:, [1, 2]], local[:, [2, 0]]])
    adj = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, lab = connected_components(adj, directed=False)
    big = np.argmax(np.bincount(lab))
    keep_tri = lab[local[:, 0]] == big
    tris = tris[keep_tri]
    ids, local = np.unique(tris, return_inverse=True)
    return ids, local.reshape(-1, 3)


def make_template(targets: list | tuple | None = None) -> Template:
    """The template for a face made of ``targets`` (default: the default face's)."""
    obj = read_base_obj()
    base = framed_base(default_targets() if targets is None else targets)
    ids, faces = _crop()
    neck_y = float(base[np.unique(obj.groups["joint-neck"])].mean(axis=0)[1])
    return Template(vertices_mm=base[ids], faces=faces, base_ids=ids, base_vertices_mm=base,
                    neck_y_mm=neck_y)


@lru_cache(maxsize=1)
def default_template() -> Template:
    return make_template()


def barycentric_on(template_vertices: np.ndarray, faces: np.ndarray,
                   points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest triangle and barycentric coordinates of each point on a surface.

    Returns ``(triangle (k,) int, barycentric (k, 3) float)``; evaluate on any vertices of the same
    numbering with :func:`at_barycentric`.
    """
    import trimesh

    mesh = trimesh.Trimesh(template_vertices, faces, process=False)
    closest, _, tri = trimesh.proximity.closest_point(mesh, np.asarray(points_mm, dtype=float).reshape(-1, 3))
    bary = trimesh.triangles.points_to_barycentric(mesh.triangles[tri], closest)
    return np.asarray(tri), np.asarray(bary)


def at_barycentric(vertices: np.ndarray, faces: np.ndarray, tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Points (k, 3) at triangle ``tri`` with barycentric ``bary`` on ``vertices``."""
    return np.einsum("kj,kjd->kd", bary, vertices[faces[tri]])
