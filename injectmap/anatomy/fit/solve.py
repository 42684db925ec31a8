"""The exact bounded quadratic solve shared by the photo fit's shape step and the scan fit's shape stage.

Both fits end in the same problem: a quadratic in the CC0 targets' weights (each in 0..1) and, for the
scan, a few free unknowns (its small rigid correction), ridge-regularised so that it is positive
definite. The targets' columns are strongly correlated (``incr``/``decr`` pairs of one feature), which is
where a hand-written active-set loop that frees and pins several weights at once cycles and stops short
of the optimum; scipy's bounded-variable least squares on the Cholesky factor ends at it.
"""

from __future__ import annotations

import numpy as np


def bounded_solve(h: np.ndarray, g: np.ndarray, bounded: np.ndarray) -> np.ndarray:
    """argmin x'Hx - 2g'x with 0 <= x <= 1 where ``bounded`` (the others free), H positive definite.

    Solved exactly as the bounded least squares ``|L'x - L^-1 g|^2`` on H's Cholesky factor L (the same
    objective up to a constant) by scipy's bounded-variable least squares, which ends at the optimum
    (its conditions checked): on the k x k factor it takes milliseconds where BVLS on the stacked rows
    of the fit took tens of seconds."""
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import lsq_linear

    lower = cholesky(h, lower=True)
    rhs = solve_triangular(lower, g, lower=True)
    lo = np.where(bounded, 0.0, -np.inf)
    hi = np.where(bounded, 1.0, np.inf)
    res = lsq_linear(lower.T, rhs, bounds=(lo, hi), method="bvls", tol=1e-12, max_iter=10 * len(g))
    return np.where(bounded, np.clip(res.x, 0.0, 1.0), res.x)  # BVLS may step 1e-16 over a bound
