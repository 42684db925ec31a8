"""The expression preview's part of ``injectmap bench``, against a naive baseline timed in the same run.

- preview: one plan (the forehead-with-glabella and crow's feet templates, 16 points), every named
  expression's strength per side and every measure on one day, and the skin displacement of every
  expression, with the face's precomputation (muscle volume samples, the units, the skin operator) done
  once beforehand (medians over ``repeats`` runs, days cycling through the app's slider);
- naive: the same with nothing kept between runs: the face's samples, the units read from the wheel
  and the skin operator rebuilt each time, as a preview that does not precompute would.

Medians and a ratio to the target (``preview_ms`` in teaching/data/expressions.yaml) only: these machines
are shared and noisy, nothing passes or fails on time.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from injectmap.anatomy.basehead import read_target
from injectmap.planning.protocols import protocol_plan
from injectmap.teaching import expressions as ex

#: the days of the app's slider (issue 14)
SLIDER_DAYS = (0, 3, 7, 14, 30, 90, 120)


def bench_plan() -> dict[str, Any]:
    """The forehead-with-glabella template and the crow's feet template as one plan."""
    plan = protocol_plan("forehead_lines_with_glabella")
    plan["points"] = plan["points"] + protocol_plan("lateral_canthal_three_point")["points"]
    return plan


def full_preview(model: Any, plan: Any, day: float) -> tuple[ex.Preview, dict[str, Any]]:
    """The preview and every expression's skin displacement on ``day``."""
    res = ex.preview(model, plan, day)
    return res, {e: ex.expression_displacement(model, res, e) for e in ex.expression_names()}


def _forget(model: Any) -> None:
    """Drop everything the preview keeps between runs (the naive baseline's starting point)."""
    model.derived.pop(ex._DERIVED_KEY, None)
    ex.unit_deltas.cache_clear()
    read_target.cache_clear()


def run_expressions_bench(model: Any = None, repeats: int = 14, naive_repeats: int = 3) -> dict[str, Any]:
    """Time the preview with the face precomputed against the naive preview.

    Returns
    -------
    dict
        ``expressions_preview_ms_median``, the naive median, their ratio, the one-off precomputation, and
        the median over the target.
    """
    if model is None:
        from injectmap.anatomy.model import load_model

        model = load_model()
    plan = bench_plan()
    _forget(model)
    t0 = time.perf_counter()
    full_preview(model, plan, 14)  # the first run builds what is kept per face
    first_ms = (time.perf_counter() - t0) * 1000
    t_fast, cpu_fast = [], []
    for k in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        full_preview(model, plan, SLIDER_DAYS[k % len(SLIDER_DAYS)])
        t_fast.append(time.perf_counter() - t0)
        cpu_fast.append(time.process_time() - c0)
    t_naive = []
    for k in range(naive_repeats):
        _forget(model)
        t0 = time.perf_counter()
        full_preview(model, plan, SLIDER_DAYS[k % len(SLIDER_DAYS)])
        t_naive.append(time.perf_counter() - t0)
    med_fast = statistics.median(t_fast) * 1000
    med_naive = statistics.median(t_naive) * 1000
    target = ex.expression_data().bench.preview_ms.value
    return {
        "expressions_preview_ms_median": round(med_fast, 1),
        "expressions_preview_ms_max": round(max(t_fast) * 1000, 1),
        # the process's own CPU time: on a shared machine, the wall time above waits for the other processes
        "expressions_preview_cpu_ms_median": round(statistics.median(cpu_fast) * 1000, 1),
        "expressions_first_preview_ms": round(first_ms, 1),
        "expressions_naive_ms_median": round(med_naive, 1),
        "expressions_ratio_vs_naive": round(med_naive / med_fast, 1),
        "expressions_preview_over_target": round(med_fast / target, 3),
        "expressions_plan_points": len(plan["points"]),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
