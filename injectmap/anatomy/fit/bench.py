"""The photo fit's part of ``injectmap bench --fits N``: N fits of a photo, timed, with a naive
baseline in the same run.

- fit: the astronaut portrait (scikit-image's, public domain) when scikit-image is installed, else a
  synthetic patient: Face Mesh's landmarks and the fit (poses and the CC0 weights), per run;
- naive: the same fit once, with the shape step solved by scipy's general bounded least squares
  (``lsq_linear``, trust-region) instead of the exact bounded solve on the normal equations' Cholesky factor.

Medians only; nothing passes or fails on time (the machines are shared).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def bench_photo() -> tuple[np.ndarray, str]:
    try:
        from skimage import data

        return np.asarray(data.astronaut()), "astronaut"
    except ImportError:
        from injectmap.anatomy.fit.synthetic import make_patient

        return make_patient(11).image, "synthetic"


def run_fit_bench(fits: int = 3) -> dict[str, Any]:
    from injectmap.anatomy.fit.basis import face_basis
    from injectmap.anatomy.fit.camera import Camera
    from injectmap.anatomy.fit.landmarks import detect
    from injectmap.anatomy.fit.photo import View, fit_views, settings

    img, name = bench_photo()
    face_basis()  # read once per process, as a server would
    detect(img)  # the interpreter's first start of Face Mesh is not a fit's
    f35 = float(settings()["default_focal_35mm"]["value"])
    times, landmark_times = [], []
    for _ in range(fits):
        t0 = time.perf_counter()
        lm = detect(img)
        t1 = time.perf_counter()
        fit_views([View(lm, Camera.focal_from_35mm(f35, lm.width, lm.height))])
        times.append(time.perf_counter() - t0)
        landmark_times.append(t1 - t0)
    t0 = time.perf_counter()
    fit_views([View(lm, Camera.focal_from_35mm(f35, lm.width, lm.height))], naive=True)
    naive = time.perf_counter() - t0 + statistics.median(landmark_times)
    fit_s = statistics.median(times)
    return {
        "fit_photo": name,
        "fit_runs": fits,
        "fit_s_median": round(fit_s, 2),
        "fit_landmarks_s_median": round(statistics.median(landmark_times), 2),
        "fit_naive_s": round(naive, 2),
        "fit_speedup_vs_naive": round(naive / fit_s, 2) if fit_s > 0 else None,
    }
