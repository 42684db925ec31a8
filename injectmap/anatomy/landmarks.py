"""Landmarks on the head, found by the rules in ``data/landmarks.yaml``.

Every rule is geometric (profile extrema, lid margins, cornea apex, silhouettes) or a base-mesh
vertex id, so landmarks follow the face when its shape changes (sex and the other CC0 targets).
Bilateral landmarks are computed on the left (+x) and mirrored by the same rule on the right.
Bone landmarks (the foramina) sit at the bone depth of the tissue-thickness field below their skin
point; they are added by :func:`add_bone_landmarks` once that field exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from injectmap.anatomy.head import Head
from injectmap.anatomy.ids import BILATERAL_LANDMARKS, BONE_LANDMARKS
from injectmap.anatomy.yamlio import safe_load

DATA = Path(__file__).parent / "data"


def load_rules() -> dict[str, dict[str, Any]]:
    with open(DATA / "landmarks.yaml", encoding="utf-8") as fh:
        return safe_load(fh)


@lru_cache(maxsize=1)
def _base_tree() -> tuple[cKDTree, np.ndarray]:
    from injectmap.anatomy.basehead import read_base_obj

    v = read_base_obj().vertices_mm
    return cKDTree(v), v


def mirror_vertex(vid: int) -> int:
    """The base-mesh vertex mirrored across the midline (the nearest to its mirror image)."""
    tree, v = _base_tree()
    p = v[vid] * np.array([-1.0, 1.0, 1.0])
    return int(tree.query(p)[1])


def mesh_point(head: Head, vertices: Sequence[int], weights: Sequence[float], mirrored: bool) -> np.ndarray:
    """A point of the base mesh on ``head`` (mm): barycentric ``weights`` on ``vertices`` (hm08 numbering, given
    for the left side; ``mirrored``: the right side's mirrored vertices). It moves with the mesh (sex and shape
    targets, a scan fit's offsets)."""
    vids = [mirror_vertex(int(v)) if mirrored else int(v) for v in vertices]
    w = np.asarray(weights, dtype=float)
    return (w / w.sum()) @ head.base_vertices_mm[vids]


class _Finder:
    def __init__(self, head: Head):
        self.head = head
        skin = head.skin
        cav = np.asarray(skin.point_data["cavity"]).astype(bool)
        self.pts = np.asarray(skin.points)[~cav]
        self.nrm = np.asarray(skin.point_normals)[~cav]
        self.tree = cKDTree(self.pts)
        # the outer midline profile: slice at x = 0, keep the most anterior point per 0.5 mm of height
        sl = skin.slice(normal="x", origin=(0.0, 0.0, 0.0))
        p = np.asarray(sl.points)
        p = p[p[:, 2] > -60.0]
        bins = np.floor(p[:, 1] / 1.0).astype(int)
        order = np.lexsort((-p[:, 2], bins))
        first = np.unique(bins[order], return_index=True)[1]
        prof = p[order][first]
        prof = prof[np.argsort(prof[:, 1])]
        # drop bins whose most anterior point lies far behind both neighbours (a missed crossing)
        z = prof[:, 2]
        ok = np.ones(len(prof), dtype=bool)
        ok[1:-1] = ~((z[1:-1] < z[:-2] - 6.0) & (z[1:-1] < z[2:] - 6.0))
        self.profile = prof[ok]
        self.found: dict[str, np.ndarray] = {}

    def snap(self, p: np.ndarray) -> np.ndarray:
        return self.pts[self.tree.query(p)[1]]

    # -- midline profile -------------------------------------------------------------------
    def _prof_between(self, y0: float, y1: float) -> np.ndarray:
        lo, hi = min(y0, y1), max(y0, y1)
        p = self.profile
        sel = p[(p[:, 1] >= lo) & (p[:, 1] <= hi)]
        if len(sel) == 0:
            raise ValueError(f"no midline profile between y={lo:.1f} and y={hi:.1f}")
        return sel

    def profile_max_z(self) -> np.ndarray:
        p = self.profile[self.profile[:, 1] > -120]
        return p[np.argmax(p[:, 2])]

    def _prof_nearest(self, y: float, within: float = 3.0) -> np.ndarray:
        """The profile point nearest to height ``y``. The slice's points lie a row of the mesh apart, about
        2 mm on the forehead: a face whose midline crosses the rows between vertices (the frame's x = 0, the
        head's midline, off the base mesh's) can have none within 1 mm of a given height."""
        p = self.profile
        i = int(np.argmin(np.abs(p[:, 1] - y)))
        if abs(p[i, 1] - y) > within:
            raise ValueError(f"no midline profile within {within:g} mm of y={y:.1f}")
        return p[i]

    def profile_min_z_between_eyes(self) -> np.ndarray:
        sel = self._prof_between(-10.0, 15.0)
        return sel[np.argmin(sel[:, 2])]

    def _below(self, r: dict) -> np.ndarray:
        base = self.found[r["of"]]
        return self._prof_between(base[1] - r["range_mm"][1], base[1] - r["range_mm"][0])

    def profile_min_z_below(self, r: dict) -> np.ndarray:
        sel = self._below(r)
        return sel[np.argmin(sel[:, 2])]

    def profile_max_z_below(self, r: dict) -> np.ndarray:
        sel = self._below(r)
        return sel[np.argmax(sel[:, 2])]

    def profile_extreme_below(self, r: dict) -> np.ndarray:
        base = self.found[r["of"]]
        d = np.asarray(r["direction"], dtype=float)
        d /= np.linalg.norm(d)
        p = self.profile[(self.profile[:, 1] < base[1]) & (self.profile[:, 2] > base[2] - 45.0)]
        return p[np.argmax(p @ d)]

    def between_brows(self) -> np.ndarray:
        y = 0.5 * (self.found["brow_medial_left"][1] + self.found["brow_medial_right"][1])
        return self._prof_nearest(y)

    def facial_thirds(self) -> np.ndarray:
        g, sn = self.found["glabella"], self.found["subnasale"]
        y = g[1] + (g[1] - sn[1])
        return self._prof_nearest(y)

    # -- eyes ------------------------------------------------------------------------------
    def _lashes(self, s: float) -> np.ndarray:
        from injectmap.anatomy.basehead import read_base_obj

        obj = read_base_obj()
        side = "l" if s > 0 else "r"
        idx = np.unique(np.concatenate([obj.groups[f"helper-{side}-eyelashes-1"],
                                        obj.groups[f"helper-{side}-eyelashes-2"]]))
        return self.head.base_vertices_mm[idx]

    def lid_margin_medial(self, s: float) -> np.ndarray:
        lash = self._lashes(s)
        return lash[np.argmin(np.abs(lash[:, 0]))]

    def lid_margin_lateral(self, s: float) -> np.ndarray:
        lash = self._lashes(s)
        return lash[np.argmax(np.abs(lash[:, 0]))]

    def cornea_apex(self, s: float) -> np.ndarray:
        eye = self.head.eyes["left" if s > 0 else "right"]
        p = np.asarray(eye.points)
        return p[np.argmax(p[:, 2])]

    # -- offsets from landmarks (offset_mm: [lateral, superior]) ----------------------------
    def _offset(self, r: dict, s: float, lateral: float, superior: float) -> np.ndarray:
        base = self.found[f"{r['of']}_{'left' if s > 0 else 'right'}"]
        target = base + np.array([s * lateral, superior, 0.0])
        # project onto the skin along z (from the front), keeping x and y; the skin may lie well
        # behind the landmark's plane where the face curves back (the temple)
        p = self.pts
        near = p[(np.abs(p[:, 0] - target[0]) < 1.5) & (np.abs(p[:, 1] - target[1]) < 1.5) & (p[:, 2] > -60.0)]
        if len(near) == 0:
            return self.snap(target)
        return near[np.argmax(near[:, 2])]

    def above_landmark(self, r: dict, s: float) -> np.ndarray:
        return self._offset(r, s, r["offset_mm"][0], r["offset_mm"][1])

    below_landmark = above_landmark
    lateral_of_landmark = above_landmark

    # -- nose, mouth, ear, jaw ---------------------------------------------------------------
    def mouth_corner(self, s: float) -> np.ndarray:
        """The left mouth corner's hm08 vertex, or its mirror vertex on the right: each side's own corner (a
        mirrored position is the other side's on an asymmetric mouth)."""
        return self.snap(self.head.base_vertices_mm[10374 if s > 0 else mirror_vertex(10374)])

    def vertex(self, r: dict, s: float) -> np.ndarray:
        """A base-mesh vertex (hm08 numbering) given for the left side; on the right, the vertex at the
        mirrored position of the undeformed base mesh, so one-sided shape targets are followed."""
        vid = int(r["vertex"])
        if s < 0:
            vid = mirror_vertex(vid)
        return self.snap(self.head.base_vertices_mm[vid])

    def max_x_in_band(self, r: dict, s: float) -> np.ndarray:
        sd = "left" if s > 0 else "right"
        a, b = self.found[f"{r['band'][0]}_{sd}"], self.found[f"{r['band'][1]}_{sd}"]
        y0, y1 = a[1] + r["y_offset_mm"][0], a[1] + r["y_offset_mm"][1]
        p = self.pts
        sel = (p[:, 1] > y0) & (p[:, 1] < y1) & (p[:, 2] > b[2] + 10.0) & (s * p[:, 0] > 0)
        cand = p[sel]
        return cand[np.argmax(s * cand[:, 0])]

    def base_point(self, r: dict, s: float) -> np.ndarray:
        """A point of the base mesh (hm08 numbering; barycentric ``weights`` on ``vertices``) given for
        the left side; on the right, the mirrored vertices. It moves with the mesh (sex and shape
        targets, a scan fit's offsets) and is snapped to the skin."""
        return self.snap(mesh_point(self.head, r["vertices"], r["weights"], mirrored=s < 0))

    def temporal_crest(self, r: dict, s: float) -> np.ndarray:
        """Frontotemporale on the skin: at a set fraction of the glabella-trichion height, the first
        point (going outward from the midline) where the forehead turns to face sideways, i.e. the
        outward normal's lateral component exceeds ``normal_x``: the temporal crest."""
        g, tr = self.found["glabella"], self.found["trichion"]
        y = g[1] + float(r["height_fraction"]) * (tr[1] - g[1])
        band = (np.abs(self.pts[:, 1] - y) < 0.7) & (s * self.pts[:, 0] > 0) & (self.pts[:, 2] > -60.0)
        q, n = self.pts[band], self.nrm[band]
        order = np.argsort(s * q[:, 0])
        turned = np.nonzero(s * n[order, 0] > float(r["normal_x"]))[0]
        return q[order][turned[0]]

ORDER = ("pronasale", "nasion", "subnasale", "labrale_superius", "stomion", "labrale_inferius",
         "sublabiale", "pogonion", "menton", "endocanthion", "exocanthion", "pupil", "brow_medial",
         "brow_peak", "brow_lateral", "orbital_rim_superior", "orbital_rim_lateral", "orbitale", "alare",
         "cheilion", "tragion", "otobasion_inferius", "zygion", "gonion", "glabella", "trichion",
         "frontotemporale")
NO_ARGS = ("facial_thirds", "profile_max_z", "profile_min_z_between_eyes", "between_brows")
WITH_RULE = ("above_landmark", "below_landmark", "lateral_of_landmark", "vertex", "base_point", "max_x_in_band",
             "temporal_crest")


def find_landmarks(head: Head) -> dict[str, np.ndarray]:
    """Every skin landmark of CONTRACTS (the bone ones come from :func:`add_bone_landmarks`)."""
    rules = load_rules()
    f = _Finder(head)
    bilateral = set(BILATERAL_LANDMARKS)
    for name in ORDER:
        r = rules[name]
        fn = getattr(f, r["rule"])
        if name not in bilateral:
            f.found[name] = np.asarray(fn() if r["rule"] in NO_ARGS else fn(r), dtype=float)
            continue
        for sd, s in (("left", 1.0), ("right", -1.0)):
            f.found[f"{name}_{sd}"] = np.asarray(fn(r, s) if r["rule"] in WITH_RULE else fn(s),
                                                 dtype=float)
    return dict(f.found)


def add_bone_landmarks(landmarks: dict[str, np.ndarray], bone_depth_at, skin_normal_at,
                       skin_front_at=None) -> None:
    """Place the foramina on the bone below their skin points.

    Parameters
    ----------
    bone_depth_at : callable, (n, 3) skin points -> (n,) bone depth in mm
    skin_normal_at : callable, (n, 3) skin points -> (n, 3) outward unit normals
    skin_front_at : callable, (3,) point -> (3,) the skin point seen from the front (same x, y), optional
        A landmark moved sideways or down from its skin landmark (``lateral_from_midline_mm``,
        ``superior_mm``) is first put back on the skin with it: the face curves back away from the
        midline, and a point left in front of the skin would be read against the wrong skin point.
    """
    rules = load_rules()
    for name in BONE_LANDMARKS:
        r = rules[name]
        for sd, s in (("left", 1.0), ("right", -1.0)):
            base = landmarks[f"{r['of']}_{sd}"].copy()
            if "lateral_from_midline_mm" in r:
                base[0] = s * float(r["lateral_from_midline_mm"])
            base[1] += float(r.get("superior_mm", 0.0))
            if skin_front_at is None or ("lateral_from_midline_mm" not in r and "superior_mm" not in r):
                landmarks[f"{name}_{sd}"] = _on_bone(base, bone_depth_at, skin_normal_at)
                continue
            # the published distance from the midline is the foramen's own, on the bone: the skin point
            # is moved sideways until the bone point below it lies at that distance
            want = base.copy()
            horizontal = r.get("inward") == "horizontal"
            for _ in range(4):
                base = np.asarray(skin_front_at(base), dtype=float)
                bone = _on_bone(base, bone_depth_at, skin_normal_at, horizontal)
                if "lateral_from_midline_mm" not in r:
                    break
                base[0] += want[0] - bone[0]
            if "lateral_from_midline_mm" in r:
                bone[0] = want[0]  # the front projection snaps to skin points ~1 mm apart
            landmarks[f"{name}_{sd}"] = bone


def _on_bone(skin_pt: np.ndarray, bone_depth_at, skin_normal_at, horizontal: bool = False) -> np.ndarray:
    """The point at the bone depth below a skin point, along its inward normal (or, ``horizontal``,
    the normal's horizontal part: the height stays that of the skin point)."""
    depth = float(bone_depth_at(skin_pt[None, :])[0])
    n = np.array(skin_normal_at(skin_pt[None, :])[0], dtype=float)
    if horizontal:
        n[1] = 0.0
        n /= max(float(np.linalg.norm(n)), 1e-9)
    return skin_pt - n * depth
