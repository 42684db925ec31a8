"""Scalar fields over the head: tissue depth below the skin, the skin chart, and the layer depths
interpolated from the forensic tissue-depth tables. Pure numpy/scipy.

Sign convention: depth is positive below (inside) the skin, negative outside, in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from injectmap.anatomy.datamodel import validate_data
from injectmap.anatomy.geometry_file import GeometryFile
from injectmap.anatomy.head import Head
from injectmap.anatomy.metadata import load_tissue_depth
from injectmap.anatomy.yamlio import safe_load

DATA = Path(__file__).parent / "data"


def load_geometry() -> dict[str, Any]:
    """geometry.yaml as a dict, after checking it against its model (anatomy.geometry_file).

    Raises
    ------
    injectmap.anatomy.datamodel.DataFileError
        For a wrong, missing or unknown key, with its key path.
    """
    with open(DATA / "geometry.yaml", encoding="utf-8") as fh:
        geo = safe_load(fh)
    validate_data(geo, GeometryFile, "anatomy/data/geometry.yaml")
    return geo


def chart_uv(points_mm: np.ndarray, geo: dict[str, Any]) -> np.ndarray:
    """Cylindrical chart of skin points: u = arc length around a vertical axis behind the face
    (positive toward the subject's left), v = height. Shape (n, 2), mm."""
    p = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    zc = float(geo["chart"]["axis_z_mm"])
    r = float(geo["chart"]["radius_mm"])
    return np.column_stack([r * np.arctan2(p[:, 0], p[:, 2] - zc), p[:, 1]])


def _side_sign(side: str) -> float:
    return -1.0 if side == "right" else 1.0


@dataclass
class LayerDepths:
    """Depths (mm below the skin) of the layer boundaries at each sealed-skin point."""

    skin_mm: np.ndarray
    fat_mm: np.ndarray
    smas_mm: np.ndarray
    bone_mm: np.ndarray


def resolve_anchor(spec: dict[str, Any], side: str, landmarks: dict[str, np.ndarray]) -> np.ndarray:
    """A landmark (of ``side`` when bilateral) moved by ``offset`` [lateral, superior, anterior]."""
    s = _side_sign(spec.get("side", side))
    name = spec["at"]
    side_name = spec.get("side", side)
    lm = landmarks.get(name)
    if lm is None:
        lm = landmarks[f"{name}_{side_name}"]
    off = spec.get("offset", [0.0, 0.0, 0.0])
    return np.asarray(lm, dtype=float) + np.array([s * off[0], off[1], off[2]], dtype=float)


class SkinProjector:
    """Projects anchor points onto the sealed skin from the front, the side, or to the nearest point."""

    def __init__(self, head: Head):
        self.head = head
        self.pts = head.depth_points_mm
        self.nrm = head.depth_normals
        self.tree = head.depth_tree

    def project(self, p: np.ndarray, how: str) -> int:
        """Index of the skin point for anchor ``p``."""
        if how == "nearest":
            return int(self.tree.query(p)[1])
        if how == "front":
            axes, keep = (0, 1), 2
        elif how == "side":
            axes, keep = (1, 2), 0
        else:
            raise ValueError(f"unknown projection {how!r} (front, side, nearest, none)")
        cand = self.tree.query_ball_point(p, 40.0)
        cand = np.asarray(cand, dtype=int)
        q = self.pts[cand]
        near = (np.abs(q[:, axes[0]] - p[axes[0]]) < 1.5) & (np.abs(q[:, axes[1]] - p[axes[1]]) < 1.5)
        if keep == 0:
            near &= np.sign(q[:, 0]) == np.sign(p[0] if p[0] != 0 else 1.0)
            outward = np.abs(q[:, 0])
        else:
            outward = q[:, 2]
        if not near.any():
            return int(self.tree.query(p)[1])
        sel = cand[near]
        return int(sel[np.argmax(outward[near])])

    def point_at_depth(self, spec: dict[str, Any], side: str, landmarks: dict[str, np.ndarray]) -> np.ndarray:
        p = resolve_anchor(spec, side, landmarks)
        how = spec.get("project", "nearest")
        if how == "none":
            return p
        i = self.project(p, how)
        return self.pts[i] - self.nrm[i] * float(spec.get("depth_mm", 0.0))


def layer_depths(
    head: Head, landmarks: dict[str, np.ndarray], geo: dict[str, Any], sex: float
) -> LayerDepths:
    """Interpolate the skin-to-bone depth over the sealed skin (Gaussian-weighted control points),
    then derive the fat and SMAS boundaries from it (see geometry.yaml ``layers``)."""
    lay = geo["layers"]
    table = load_tissue_depth()
    proj = SkinProjector(head)
    ctrl_p, ctrl_d = [], []
    for spec in lay["bone_depth"]:
        sides = ("left", "right") if spec.get("side") == "both" else ("midline",)
        for sd in sides:
            s2 = dict(spec)
            s2.pop("side", None)
            anchor = resolve_anchor(s2, "left" if sd == "midline" else sd, landmarks)
            i = proj.project(anchor, "nearest")
            if "table" in spec:
                entry = table.landmarks[spec["table"]]
                d = (1.0 - sex) * entry.female + sex * entry.male
            else:
                d = float(spec["depth_mm"])
            ctrl_p.append(proj.pts[i])
            ctrl_d.append(d)
    cp = np.asarray(ctrl_p)
    cd = np.asarray(ctrl_d)
    sigma = float(lay["kernel_sigma_mm"]["value"])
    default = float(lay["default_bone_depth_mm"]["value"])
    pts = head.depth_points_mm
    d2 = ((pts[:, None, :] - cp[None, :, :]) ** 2).sum(-1)
    w = np.exp(-0.5 * d2 / sigma**2)
    w_far = np.exp(-0.5 * 2.5**2)  # the default counts as a control point 2.5 sigma away
    bone = (w @ cd + w_far * default) / (w.sum(axis=1) + w_far)
    skin = np.full(len(pts), float(lay["skin_thickness_mm"]["value"]))
    frac = lay["fat_fraction"]
    fat = np.maximum(
        skin + float(frac["min_mm"]) * 0.5, np.maximum(float(frac["min_mm"]), frac["value"] * bone)
    )
    fat = np.minimum(fat, bone - 1.5)
    smas = np.minimum(fat + float(lay["smas_thickness_mm"]["value"]), bone - 0.5)
    return LayerDepths(skin_mm=skin, fat_mm=fat, smas_mm=smas, bone_mm=bone)
