"""Render docs/images/scan-face.png off-screen (EGL): a 3D scan and the layered face built from it.

The synthetic patient of tests/anatomy/test_scanface_pipeline.py (seed 1, sex 0.5, eight random CC0
targets) is scanned (partial, remeshed, noisy, in metres), made into a face file as ``injectmap face
fit --scan`` does, and the face is built from the file like any plan's ``model.face``. Three panels
from three-quarters, in the frame: the scan as received (after the fit's rigid alignment), the
fitted face's skin, and its layers (muscles, arteries, nerves, parotid gland and duct) under a
translucent skin with the truth's arteries (built from the patient's own targets) as thin black
lines. Prints the face's id, the fit's numbers and the build time. Run:
``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python scripts/render_scan_face.py``.
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

from injectmap.anatomy.fit import facefile  # noqa: E402
from injectmap.anatomy.model import load_model  # noqa: E402
from injectmap.anatomy.params import FaceParams  # noqa: E402
from injectmap.anatomy.scan.synthetic import Patient, face_targets, scan_of, write_scan  # noqa: E402
from injectmap.anatomy.scan.template import default_targets, make_template  # noqa: E402
from injectmap.anatomy.scan.toface import face_from_scan  # noqa: E402

OUT = ROOT / "docs" / "images" / "scan-face.png"
CAMERA = [(250.0, 20.0, 330.0), (0.0, -30.0, -60.0), (0.0, 1.0, 0.0)]


def _patient(seed: int) -> tuple[list, Patient]:
    rng = np.random.default_rng(seed)
    names = face_targets()
    picks = [(names[i], round(float(rng.uniform(0.2, 0.8)), 5)) for i in rng.choice(len(names), 8, replace=False)]
    targets = default_targets() + picks
    return picks, Patient(targets=targets, template=make_template(targets))


def main(seed: int = 1) -> None:
    picks, patient = _patient(seed)
    scan = scan_of(patient, seed, units="m")
    with tempfile.TemporaryDirectory() as tmp:
        res = face_from_scan(write_scan(scan, Path(tmp), "patient", "ply"))
        path = Path(tmp) / "patient.face.json"
        facefile.write(res.face, path)
        size = path.stat().st_size
        fitted = load_model(params=FaceParams.from_plan_model({"face": str(path)}))
    truth = load_model(params=FaceParams(fit=tuple(picks)))
    fit = res.fit
    units = res.face.scan["units"]  # the fit was given the scan already in mm: its own record says mm
    in_mm = np.asarray(scan.mesh.vertices) * float(res.face.scan["scale_to_mm"])
    scan_mesh = pv.PolyData(fit.scan_to_frame(in_mm),
                            np.hstack([np.full((len(scan.mesh.faces), 1), 3), scan.mesh.faces]).ravel())

    pl = pv.Plotter(off_screen=True, shape=(1, 3), window_size=(1500, 600), border=False)
    pl.subplot(0, 0)
    pl.add_mesh(scan_mesh.compute_normals(), color="#b9c4cc", smooth_shading=True)
    pl.add_text(f"the scan (in {units}; {fit.coverage:.0%} of the face region)", font_size=11)
    pl.camera_position = CAMERA
    pl.subplot(0, 1)
    pl.add_mesh(fitted.skin, color="#e8c4a8", smooth_shading=True)
    pl.add_text("the face built from its face file", font_size=11)
    pl.camera_position = CAMERA
    pl.subplot(0, 2)
    pl.add_mesh(fitted.skin, color="#e8c4a8", opacity=0.18, smooth_shading=True)
    for sid, s in fitted.structures.items():
        if s.kind in ("muscle",):
            pl.add_mesh(s.mesh, color="#b5524a", opacity=0.35)
        elif s.kind in ("artery", "nerve", "gland", "duct"):
            colour = {"artery": "#d11f1f", "nerve": "#e0b000", "gland": "#7a9a3a", "duct": "#3a7ad1"}[s.kind]
            pl.add_mesh(s.mesh, color=colour)
        if s.kind == "artery" and truth.structures[sid].centreline is not None:
            pl.add_mesh(pv.lines_from_points(truth.structures[sid].centreline), color="black", line_width=1.5)
    pl.add_text("its layers (black: the truth's arteries)", font_size=11)
    pl.camera_position = CAMERA
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pl.screenshot(str(OUT))
    pl.close()
    print(json.dumps({
        "face_id": res.face.face_id[:16], "face_file_bytes": size, "units": units,
        "units_reason": res.face.scan["units_reason"], "alignment": fit.alignment, "coverage": round(fit.coverage, 3),
        "surface_median_p90_mm": [round(fit.residual_median_mm, 2), round(fit.residual_p90_mm, 2)],
        "landmark_residual_median_mm": round(float(np.median(list(res.per_landmark_mm.values()))), 2),
        "fit_seconds": {k: round(v, 1) for k, v in fit.seconds.items()},
        "fitted_build_seconds": round(fitted.build_seconds, 1),
        "kinds": sorted({s.kind for s in fitted.structures.values()}),
    }, indent=1))


if __name__ == "__main__":
    main()
