"""``injectmap bench``: the analysis hot path against two naive baselines, timed in the same run.

- index: the model's spatial index (one KD-tree over every structure, implicit volumes).
- trimesh: ``trimesh.proximity.closest_point`` against every structure mesh, one by one.
- vtk: a ``vtkImplicitPolyDataDistance`` per structure, queried one by one.
All three answer "distance from the tip to every structure within reach" and must agree.
Reports medians and ratios (these machines are shared and noisy: no absolute pass/fail here).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from injectmap.anatomy.index import LAYER_IDS

#: the index measures to mesh vertices (marching cubes, spacing <= 0.7 mm) and tube centrelines;
#: the baselines to exact triangles: they agree to within this
AGREE_TOL_MM = 1.0


def _points(model, n: int, seed: int = 3) -> np.ndarray:
    """Tips 2-12 mm below random skin points of the face (z > -30 mm)."""
    rng = np.random.default_rng(seed)
    face = np.nonzero(model.depth_points_mm[:, 2] > -30.0)[0]
    pick = rng.choice(face, size=n, replace=False)
    depth = rng.uniform(2.0, 12.0, size=n)
    return model.depth_points_mm[pick] - model.depth_normals[pick] * depth[:, None]


def _index_query(model, p: np.ndarray, reach: float) -> dict[str, float]:
    return {k: v.distance_mm for k, v in model.index.neighbours(p, reach).items()}


class _Trimesh:
    def __init__(self, model):
        import trimesh

        self.meshes = {}
        for sid, s in model.structures.items():
            if sid in LAYER_IDS:
                continue
            f = s.mesh.faces.reshape(-1, 4)[:, 1:]
            self.meshes[sid] = (trimesh.Trimesh(np.asarray(s.mesh.points), f, process=False), s)

    def query(self, p: np.ndarray, reach: float) -> dict[str, float]:
        import trimesh

        out = {}
        for sid, (tm, _s) in self.meshes.items():
            _, d, _ = trimesh.proximity.closest_point(tm, p[None])
            if d[0] <= reach:
                out[sid] = float(d[0])
        return out


class _Vtk:
    def __init__(self, model):
        from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

        self.fns = {}
        for sid, s in model.structures.items():
            if sid in LAYER_IDS:
                continue
            f = vtkImplicitPolyDataDistance()
            f.SetInput(s.mesh)
            self.fns[sid] = f

    def query(self, p: np.ndarray, reach: float) -> dict[str, float]:
        out = {}
        for sid, f in self.fns.items():
            d = abs(f.EvaluateFunction(p.tolist()))
            if d <= reach:
                out[sid] = d
        return out


def _agree(a: dict[str, float], b: dict[str, float], reach: float, tol: float) -> bool:
    """Same structures (away from the reach boundary) at the same unsigned surface distance."""
    for sid in set(a) | set(b):
        da, db = abs(a.get(sid, np.inf)), abs(b.get(sid, np.inf))
        if min(da, db) < reach - tol and abs(da - db) > tol:
            return False
    return True


def run_bench(repeats: int = 200, baseline_points: int = 15, reach_mm: float = 14.0) -> dict[str, float]:
    from injectmap.anatomy.model import load_model
    from injectmap.planning.check import check_plan

    model = load_model()
    _ = model.index  # built once, outside the timings
    pts = _points(model, repeats)
    t_index = []
    for p in pts:
        t0 = time.perf_counter()
        _index_query(model, p, reach_mm)
        t_index.append(time.perf_counter() - t0)
    # the full per-point analysis on a 100-point plan
    plan: dict[str, Any] = {
        "format": "injectmap-plan",
        "version": 1,
        "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
        "points": [
            {
                "id": f"p{i}",
                "units": 2,
                "entry_mm": [round(float(x), 3) for x in model.depth_points_mm[model.skin_tree.query(q)[1]]],
                "depth_mm": 3,
            }
            for i, q in enumerate(pts[:100])
        ],
    }
    t0 = time.perf_counter()
    res = check_plan(plan, model)
    plan_ms = (time.perf_counter() - t0) * 1000
    assert not res.errors, res.errors
    tri, vt = _Trimesh(model), _Vtk(model)
    # the vessels and nerves are tubes in the index (centreline minus radius) and meshes for the
    # baselines: they agree to the tube's faceting, well under 0.3 mm
    t_tri, t_vtk, agree = [], [], True
    for p in pts[:baseline_points]:
        t0 = time.perf_counter()
        a = tri.query(p, reach_mm)
        t_tri.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = vt.query(p, reach_mm)
        t_vtk.append(time.perf_counter() - t0)
        c = _index_query(model, p, reach_mm)
        agree &= _agree(a, b, reach_mm, 0.3) and _agree(a, c, reach_mm, AGREE_TOL_MM)
    med = statistics.median
    return {
        "point_ms_median": round(med(t_index) * 1000, 3),
        "analysis_point_ms_median": round(plan_ms / len(plan["points"]), 3),
        "plan100_ms": round(plan_ms, 1),
        "trimesh_point_ms_median": round(med(t_tri) * 1000, 2),
        "vtk_point_ms_median": round(med(t_vtk) * 1000, 2),
        "ratio_vs_trimesh": round(med(t_tri) / med(t_index), 1),
        "ratio_vs_vtk": round(med(t_vtk) / med(t_index), 1),
        "answers_agree": bool(agree),
        "structures": len(model.index.ids),
        "points": repeats,
    }
