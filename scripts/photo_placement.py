"""Measure how far a front photo's fit places the key arteries and the foramina on synthetic patients, and print
each patient's row of docs/face-fit.md (the twelve patients) and the summary kept in
``injectmap/anatomy/fit/data/photo_fit.yaml`` (``placement_on_synthetic_patients``).

Each patient costs two whole face builds (cached) and a fit, about a minute on two cores. Run:
``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python scripts/photo_placement.py 1 2 3 ... 12``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def main(seeds: list[int]) -> int:
    from injectmap.anatomy.fit.photo import settings
    from injectmap.anatomy.fit.synthetic import FORAMINA, KEY_VESSELS, patient_iris_mm, placement_errors

    mean = settings()["iris_diameter_mm"]["mean"]
    sides = ("left", "right")
    vessels, foramina, whole = [], [], []
    for seed in seeds:
        e = placement_errors(seed)
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
    sys.exit(main([int(a) for a in sys.argv[1:]] or list(range(1, 13))))
