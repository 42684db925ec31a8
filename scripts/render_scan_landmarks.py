"""Render docs/images/scan-render-landmarks.png off-screen (EGL): the scan fit's render landmarks.

The test's patient 3 (seed 3: random CC0 targets, large brow targets among them), its partial,
remeshed, noisy scan with the synthetic skin's colours, turned frontal by its geometric alignment and
rendered as the fit renders it; Face Mesh's landmarks kept by the fit (green), the brows that pull
the fit (magenta), and each landmark's true point on the patient's skin projected by the same camera
(white), so the distance between a dot and its white point is the landmark's error. Prints the
errors. Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python
scripts/render_scan_landmarks.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injectmap.anatomy.scan.fit import BROWS, _reference, template_landmarks  # noqa: E402
from injectmap.anatomy.scan.loading import load_scan  # noqa: E402
from injectmap.anatomy.scan.renderlm import render_landmarks  # noqa: E402
from injectmap.anatomy.scan.rigid import align_geometric, apply  # noqa: E402
from injectmap.anatomy.scan.synthetic import random_patient, scan_of  # noqa: E402
from injectmap.anatomy.scan.template import default_template  # noqa: E402

OUT = ROOT / "docs" / "images" / "scan-render-landmarks.png"


def main(seed: int = 3) -> None:
    synthetic = scan_of(random_patient(seed), seed, units="mm")
    scan = load_scan(synthetic.mesh)
    t = default_template()
    lm = template_landmarks()
    ref_pts, ref_nrm = _reference(t)
    nose = lm.on(t.vertices_mm, t.faces)[lm.names.index("pronasale")]
    rig = align_geometric(np.asarray(scan.mesh.vertices), ref_pts, ref_nrm, nose)
    r = render_landmarks(scan.mesh, rig.matrix, t, scan.colours)
    truth = synthetic.truth_in_scan_mm(r.template_points(synthetic.patient.template.vertices_mm))
    err = np.linalg.norm(truth - r.scan_mm, axis=1)
    img = np.ascontiguousarray(r.image)
    ys, xs = np.nonzero(np.abs(img.astype(int) - np.array([90, 96, 104])).sum(axis=2) > 12)  # the scan
    found = r.camera.project(apply(rig.matrix, r.scan_mm))
    true = r.camera.project(apply(rig.matrix, truth))
    brows = np.isin(r.ids, BROWS)
    for (a, b), brow in zip(zip(found, true, strict=True), brows, strict=True):
        cv2.circle(img, (int(b[0]), int(b[1])), 2, (255, 255, 255), -1)
        cv2.circle(img, (int(a[0]), int(a[1])), 2, (230, 40, 200) if brow else (40, 220, 40), -1)
    crop = img[max(ys.min() - 20, 0):ys.max() + 20, max(xs.min() - 20, 0):xs.max() + 20]
    cv2.imwrite(str(OUT), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(err)} landmarks, error median {np.median(err):.2f} mm, "
          f"75th percentile {np.percentile(err, 75):.2f} mm; brows ({int(brows.sum())}) median "
          f"{np.median(err[brows]):.2f} mm; {'textured' if r.textured else 'shaded'} render, {r.seconds:.1f} s")


if __name__ == "__main__":
    main()
