"""Measure how far a front photo's fit places the key arteries and the foramina on synthetic patients, and print
each patient's row of docs/face-fit.md (the twelve patients) and the summary kept in
``injectmap/anatomy/fit/data/photo_fit.yaml`` (``placement_on_synthetic_patients``).

Each patient costs two whole face builds (cached) and a fit, about a minute on two cores. Run:
``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python scripts/photo_placement.py 1 2 3 ... 12``; with
``--gaze-at-camera --ipd-error-mm 0`` the size comes from each patient's measured interpupillary distance.
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def main(seeds: list[int], ipd_error_mm: float | None = None, gaze_at_camera: bool = False) -> int:
    from injectmap.anatomy.fit.photo import settings
    from injectmap.anatomy.fit.synthetic import FORAMINA, KEY_VESSELS, patient_iris_mm, placement_errors

    mean = settings()["iris_diameter_mm"]["mean"]
    sides = ("left", "right")
    vessels, foramina, whole = [], [], []
    for seed in seeds:
        e = placement_errors(seed, ipd_error_mm, gaze_at_camera)
        v = {f"{n}_{s}": e[f"{n}_{s}"] for n in KEY_VESSELS for s in sides}
        f = {f"{n}_{s}": e[f"{n}_{s}"] for n in FORAMINA for s in sides}
        vessels += v.values()
        foramina += f.values()
        wv, wf = max(v, key=v.get), max(f, key=f.get)
        whole.append(max(v[wv], f[wf]) <= 3.0)
        print(f"| {seed} ({(patient_iris_mm(seed) / mean - 1) * 100:+.1f} %) | {e['skin']:.2f} | "
              f"{v[wv]:.2f} ({wv}) | {f[wf]:.2f} ({wf}) |", flush=True)
    va, fa = np.array(vessels), np.array(foramina)
    print(f"key arteries: median {np.median(va):.2f} mm, {100 * (va <= 3).mean():.0f} % within 3 mm, worst "
          f"{va.max():.2f}; foramina: median {np.median(fa):.2f} mm, {100 * (fa <= 3).mean():.0f} % within 3 mm, "
          f"worst {fa.max():.2f}; every one within 3 mm on {sum(whole)} of {len(seeds)} patients")
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seeds", nargs="*", type=int, help="the synthetic patients (default 1-12)")
    ap.add_argument("--ipd-error-mm", type=float, default=None,
                    help="take the size from each patient's interpupillary distance measured this far off (0: exact)")
    ap.add_argument("--gaze-at-camera", action="store_true", help="the photos' eyes look at the camera")
    a = ap.parse_args()
    sys.exit(main(a.seeds or list(range(1, 13)), a.ipd_error_mm, a.gaze_at_camera))
