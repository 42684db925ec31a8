"""Scoring a scan fit against a synthetic patient's truth (tests, the bench and the docs share it).

Landmarks, foramina and vessel centrelines of the default face are attached to the template skin
(triangle, barycentric coordinates, height along the normal: :class:`SurfacePoints`) and carried
both onto the patient's true skin and onto the fitted skin; the distance between the two is the
fit's error at that point, measured in the scan's own space (the truth moved by the scan's pose,
then by the fit's rigid transform), so it includes the alignment's error. Deep points (foramina,
vessels) are carried with the surface they hang under: this measures how well the fit places them
through the skin, not the anatomy pipeline's own rules.
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

    @property
    def landmark_median_mm(self) -> float:
        return float(np.median([v for k, v in self.landmark_mm.items() if self.landmark_covered[k]]))

    @property
    def landmark_median_all_mm(self) -> float:
        return float(np.median(list(self.landmark_mm.values())))

    @property
    def foramina_mm(self) -> dict[str, float]:
        return {k: v for k, v in self.landmark_mm.items() if k.rsplit("_", 1)[0] in FORAMINA}


def score(fit: ScanFit, scan: SyntheticScan) -> Score:
    """Compare ``fit`` with the truth of ``scan`` (see the module's note)."""
    t = fit.template
    out = {}
    for sp in (template_landmarks(), vessel_points()):
        truth = apply(fit.rigid, scan.truth_in_scan_mm(patient_points(scan.patient, sp)))
        fitted = sp.on(fit.fitted_vertices_mm, t.faces)
        tmpl = sp.on(t.vertices_mm, t.faces)
        w = fit.weight[t.faces[sp.tri]].min(axis=1)
        out[id(sp)] = (np.linalg.norm(truth - fitted, axis=1), np.linalg.norm(truth - tmpl, axis=1), w > 0.999)
    lm = template_landmarks()
    e, e0, cov = out[id(lm)]
    vp = vessel_points()
    ve, ve0, vcov = out[id(vp)]
    return Score(landmark_mm=dict(zip(lm.names, e.tolist(), strict=True)),
                 landmark_template_mm=dict(zip(lm.names, e0.tolist(), strict=True)),
                 vessel_names=vp.names, vessel_mm=ve, vessel_template_mm=ve0, vessel_covered=vcov,
                 landmark_covered=dict(zip(lm.names, cov.tolist(), strict=True)))
