"""The exact bounded quadratic solve shared by the photo fit's shape step and the scan fit's shape stage.

Both fits end in the same problem: a quadratic in the CC0 targets' weights (each in 0..1) and, for the
scan, a few free unknowns (its small rigid correction), ridge-regularised so that it is positive
definite, so its optimum is unique and known by its conditions (the gradient zero where a weight is
inside its box, pointing out of the box where it sits on a bound). The targets' columns are strongly
correlated (``incr``/``decr`` pairs of one feature): an active-set loop that frees and pins several
weights at once is quick (a few ms) and often ends at the optimum, but on such columns it can cycle and
stop short; scipy's bounded-variable least squares on the Cholesky factor always ends at it, in about
0.3 s for the photo fit's 328 weights. So the loop's answer is kept only when it meets the optimum's
conditions, and BVLS solves the rest.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: how far from zero the optimum's conditions may be, relative to the size of the gradient's terms
KKT_TOL = 1e-9


def kkt_violation(h: np.ndarray, g: np.ndarray, x: np.ndarray, bounded: np.ndarray) -> float:
    """How far ``x`` is from the optimum of x'Hx - 2g'x on the box: the largest gradient component that
    still points into the box (zero at the optimum), relative to the size of the gradient's own terms
    (|g| and |H||x|), so that the answer does not depend on the problem's units."""
    grad = h @ x - g
    at_lo, at_hi = bounded & (x <= 0.0), bounded & (x >= 1.0)
    v = np.where(at_lo, np.minimum(grad, 0.0), np.where(at_hi, np.maximum(grad, 0.0), grad))
    scale = max(float(np.abs(g).max(initial=0.0)), float((np.abs(h) @ np.abs(x)).max(initial=0.0)),
                float(np.finfo(float).tiny))
    return float(np.abs(v).max(initial=0.0) / scale)


def _active_set(h: np.ndarray, g: np.ndarray, bounded: np.ndarray, iterations: int = 30) -> np.ndarray:
    """A quick guess: solve on the unpinned unknowns, pin the weights that leave the box to their bound,
    free the pinned ones whose gradient points back in; may cycle (then the caller's check rejects it)."""
    x = np.zeros(len(g))
    free = np.ones(len(g), dtype=bool)
    for _ in range(iterations):
        pinned = ~free
        x[free] = np.linalg.solve(h[np.ix_(free, free)], g[free] - h[np.ix_(free, pinned)] @ x[pinned])
        out = free & bounded & ((x < 0.0) | (x > 1.0))
        x = np.where(bounded, np.clip(x, 0.0, 1.0), x)
        grad = h @ x - g
        back = pinned & (((x <= 0.0) & (grad < 0.0)) | ((x >= 1.0) & (grad > 0.0)))
        if not out.any() and not back.any():
            break
        free = (free & ~out) | back
    return x


def bounded_solve(h: np.ndarray, g: np.ndarray, bounded: np.ndarray) -> np.ndarray:
    """argmin x'Hx - 2g'x with 0 <= x <= 1 where ``bounded`` (the others free), H positive definite.

    The active set's answer when it meets the optimum's conditions (:func:`kkt_violation`), else the
    bounded least squares ``|L'x - L^-1 g|^2`` on H's Cholesky factor L (the same objective up to a
    constant) solved by scipy's bounded-variable least squares, which ends at the optimum."""
    bounded = np.asarray(bounded, dtype=bool)
    guess = _active_set(h, g, bounded)
    if kkt_violation(h, g, guess, bounded) <= KKT_TOL:
        return guess
    return _bvls(h, g, bounded)


def _bvls(h: np.ndarray, g: np.ndarray, bounded: np.ndarray) -> np.ndarray:
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import lsq_linear

    lower = cholesky(h, lower=True)
    rhs = solve_triangular(lower, g, lower=True)
    lo = np.where(bounded, 0.0, -np.inf)
    hi = np.where(bounded, 1.0, np.inf)
    res = lsq_linear(lower.T, rhs, bounds=(lo, hi), method="bvls", tol=1e-12, max_iter=10 * len(g))
    if res.status == 0:  # its iterations ran out: the point is kept (within the box), and said
        log.warning("the bounded solve stopped after %d iterations, short of its optimum", 10 * len(g))
    return np.where(bounded, np.clip(res.x, 0.0, 1.0), res.x)  # BVLS may step 1e-16 over a bound
