"""Render docs/images/scan-fit.png off-screen (EGL) and print the numbers of docs/scan-fit.md.

One synthetic patient (seed 1: random CC0 targets on the base head), its partial, remeshed, noisy
scan in metres, and the fit: four panels seen from three-quarters, in the frame after the fit's
rigid alignment: the scan as received, the truth, the template before the fit coloured by its
distance to the truth at each vertex (the error of doing nothing), and the fit coloured the same way
(mm, one scale). Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python
scripts/render_scan_fit.py``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injectmap.anatomy.scan.fit import fit_scan  # noqa: E402
from injectmap.anatomy.scan.rigid import apply  # noqa: E402
from injectmap.anatomy.scan.synthetic import random_patient, scan_of, write_scan  # noqa: E402
from injectmap.anatomy.scan.validation import score  # noqa: E402

OUT = ROOT / "docs" / "images" / "scan-fit.png"


def _poly(v: np.ndarray, f: np.ndarray) -> pv.PolyData:
    return pv.PolyData(v, np.hstack([np.full((len(f), 1), 3), f]).ravel())


def main(seed: int = 1) -> None:
    scan = scan_of(random_patient(seed), seed, units="m")
    with tempfile.TemporaryDirectory() as tmp:
        fit = fit_scan(write_scan(scan, Path(tmp), "patient", "ply"))
    t = fit.template
    truth = apply(fit.rigid, scan.truth_in_scan_mm(scan.patient.template.vertices_mm))
    err_fit = np.linalg.norm(fit.fitted_vertices_mm - truth, axis=1)
    err_tmpl = np.linalg.norm(t.vertices_mm - truth, axis=1)
    scan_mesh = _poly(fit.scan_to_frame(np.asarray(scan.mesh.vertices)), np.asarray(scan.mesh.faces))
    panels = [
        ("the scan (metres, partial, noisy)", scan_mesh, None),
        ("the truth", _poly(truth, t.faces), None),
        ("template: error to the truth", _poly(t.vertices_mm, t.faces), err_tmpl),
        ("fit: error to the truth", _poly(fit.fitted_vertices_mm, t.faces), err_fit),
    ]
    pl = pv.Plotter(off_screen=True, shape=(1, 4), window_size=(1680, 560), border=False)
    for i, (title, mesh, err) in enumerate(panels):
        pl.subplot(0, i)
        if err is None:
            pl.add_mesh(mesh.compute_normals(), color="#e8c4a8", smooth_shading=True)
        else:
            mesh.point_data["error_mm"] = err
            pl.add_mesh(mesh.compute_normals(), scalars="error_mm", clim=(0, 6), cmap="viridis",
                        smooth_shading=True, scalar_bar_args={"title": "mm to the truth", "vertical": False,
                                                              "width": 0.8, "position_x": 0.1})
        pl.add_text(title, font_size=11)
        pl.camera_position = [(260.0, 60.0, 420.0), (0.0, -20.0, 0.0), (0.0, 1.0, 0.0)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pl.screenshot(str(OUT))
    pl.close()
    s = score(fit, scan)
    cov = s.vessel_covered
    print(json.dumps({
        "seconds": {k: round(v, 1) for k, v in fit.seconds.items()},
        "units": fit.units, "units_reason": fit.units_reason, "alignment": fit.alignment,
        "residual_median_mm": round(fit.residual_median_mm, 2), "residual_p90_mm": round(fit.residual_p90_mm, 2),
        "coverage": round(fit.coverage, 3),
        "landmark_median_mm": round(s.landmark_median_all_mm, 2),
        "landmark_median_template_mm": round(float(np.median(list(s.landmark_template_mm.values()))), 2),
        "foramina_mm": {k: round(v, 2) for k, v in s.foramina_mm.items()},
        "vessel_p95_covered_mm": round(float(np.percentile(s.vessel_mm[cov], 95)), 2),
    }, indent=1))


if __name__ == "__main__":
    main()
