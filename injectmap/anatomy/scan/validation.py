"""Scoring a scan fit against a synthetic patient's truth (tests, the bench and the docs share it).

Landmarks, foramina and vessel centrelines of the default face are attached to the template skin
(triangle, barycentric coordinates, height along the normal: :class:`SurfacePoints`) and carried
both onto the patient's true skin and onto the fitted skin; the distance between the two is the
fit's error at that point, measured in the scan's own space (the truth moved by the scan's pose,
then by the fit's rigid transform), so it includes the alignment's error. Deep points (foramina,
vessels) are carried with the surface they hang under: this measures how well the fit places them
through the skin, not the anatomy pipeline's own rules.

A vessel is scored twice. Point by point (``vessel_mm``): how far each centreline point of the fit is
from the same point of the truth, which also counts a slide *along* the vessel (on a smooth forehead
the fit can place the whole forehead's skin a few millimetres higher or lower and still lie on the
scan). And by its course (``vessel_course_mm``): how far the fitted vessel runs from where the true one
runs, each way (each fitted point to the true centreline and each true point to the fitted one, the
larger of the two): what a needle's distance to the vessel, and so a warning, depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from injectmap.anatomy.scan.fit import ScanFit, SurfacePoints, attach, template_landmarks
from injectmap.anatomy.scan.rigid import apply
from injectmap.anatomy.scan.synthetic import SyntheticScan, patient_points
from injectmap.anatomy.scan.template import default_template

#: the foramina (bone landmarks) scored
FORAMINA = ("supraorbital_notch", "infraorbital_foramen", "mental_foramen")
#: the vessels scored: the arteries of the injection danger zones
VESSELS = ("facial_artery", "angular_artery", "superior_labial_artery", "inferior_labial_artery",
           "supratrochlear_artery", "supraorbital_artery", "dorsal_nasal_artery",
           "frontal_branch_superficial_temporal_artery")


@lru_cache(maxsize=1)
def vessel_points() -> SurfacePoints:
    """Centreline points of the scored vessels (both sides) of the default face, attached."""
    from injectmap.anatomy.model import load_model

    m = load_model()
    names: list[str] = []
    pts = []
    for base in VESSELS:
        for side in ("left", "right"):
            c = m.structures[f"{base}_{side}"].centreline
            if c is None:
                continue
            c = np.asarray(c)[::2]
            names += [f"{base}_{side}"] * len(c)
            pts.append(c)
    t = default_template()
    return attach(np.vstack(pts), t.vertices_mm, t.faces, tuple(names))


@dataclass(frozen=True)
class Score:
    """Errors (mm) of a fit against its truth, per landmark and per vessel point, and the template's
    own errors (no fit) for comparison. ``vessel_covered`` marks vessel points whose skin the scan
    covered (fit weight 1)."""

    landmark_mm: dict[str, float]
    landmark_template_mm: dict[str, float]
    vessel_names: tuple[str, ...]
    vessel_mm: np.ndarray
    vessel_template_mm: np.ndarray
    vessel_covered: np.ndarray
    landmark_covered: dict[str, bool]
    vessel_course_mm: np.ndarray
    vessel_course_template_mm: np.ndarray

    @property
    def landmark_median_mm(self) -> float:
        return float(np.median([v for k, v in self.landmark_mm.items() if self.landmark_covered[k]]))

    @property
    def landmark_median_all_mm(self) -> float:
        return float(np.median(list(self.landmark_mm.values())))

    @property
    def foramina_mm(self) -> dict[str, float]:
        return {k: v for k, v in self.landmark_mm.items() if k.rsplit("_", 1)[0] in FORAMINA}


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Each point's distance (mm) to the polyline through ``line``'s points in order."""
    a, ab = line[:-1], np.diff(line, axis=0)
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)[None], 0.0, 1.0)
    return np.linalg.norm(ap - t[..., None] * ab[None], axis=-1).min(axis=1)


def course_distance(a: np.ndarray, b: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Per point, the larger of its distance in ``a`` to ``b``'s centreline and in ``b`` to ``a``'s, each
    vessel (a run of one name, in order along it) against itself."""
    names_arr = np.asarray(names)
    out = np.zeros(len(a))
    for n in dict.fromkeys(names):
        m = np.flatnonzero(names_arr == n)
        out[m] = np.maximum(distance_to_polyline(a[m], b[m]), distance_to_polyline(b[m], a[m]))
    return out


def score(fit: ScanFit, scan: SyntheticScan) -> Score:
    """Compare ``fit`` with the truth of ``scan`` (see the module's note)."""
    t = fit.template
    out = {}
    placed = {}
    for sp in (template_landmarks(), vessel_points()):
        truth = apply(fit.rigid, scan.truth_in_scan_mm(patient_points(scan.patient, sp)))
        fitted = sp.on(fit.fitted_vertices_mm, t.faces)
        tmpl = sp.on(t.vertices_mm, t.faces)
        w = fit.weight[t.faces[sp.tri]].min(axis=1)
        out[id(sp)] = (np.linalg.norm(truth - fitted, axis=1), np.linalg.norm(truth - tmpl, axis=1), w > 0.999)
        placed[id(sp)] = (truth, fitted, tmpl)
    lm = template_landmarks()
    e, e0, cov = out[id(lm)]
    vp = vessel_points()
    ve, ve0, vcov = out[id(vp)]
    truth, fitted, tmpl = placed[id(vp)]
    return Score(landmark_mm=dict(zip(lm.names, e.tolist(), strict=True)),
                 landmark_template_mm=dict(zip(lm.names, e0.tolist(), strict=True)),
                 vessel_names=vp.names, vessel_mm=ve, vessel_template_mm=ve0, vessel_covered=vcov,
                 landmark_covered=dict(zip(lm.names, cov.tolist(), strict=True)),
                 vessel_course_mm=course_distance(fitted, truth, vp.names),
                 vessel_course_template_mm=course_distance(tmpl, truth, vp.names))
