"""The chart on the photo's part of ``injectmap bench --charts N``: ``chart_on_photo`` timed N times, with a
naive baseline and the app's repeated chart of the same photo in the same run.

- the photo: the average head (the default face, no shape target) rendered off-screen as a portrait
  (:func:`injectmap.anatomy.fit.synthetic.make_patient` with seed 0) with its known camera, moved into the
  built face's frame as a face file stores it; the face: the default face from the cache; the plan: the
  analysis bench's 100 points (2 U, 3 mm deep, random skin points of the face), analysed once;
- chart: :func:`injectmap.reports.photo_chart.chart_on_photo` (zones and labels) from nothing
  (``cache=False``): one depth buffer of the fitted skin per chart, every course carried to the skin and
  tested against it as arrays;
- naive: the same chart with what the photo sees decided point by point, the obvious way: a ray from each
  point to the camera's centre cast against the skin (a VTK cell locator, built per chart as the depth
  buffer is), one call per point. The two are checked to see the same points (``chart_seen_agreement``);
- repeat: the app's case, the same photo, camera and face charted again as the plan's analysis changes (two
  analyses in turn: the plan, and the plan without its first point), with what the photo, camera and face
  give kept (``reports/chart_cache.py``: the depth buffer, the bands, the photo with the bands drawn) and
  warm; and the same with the picture not kept (``repeat_unkept_picture``: the buffer and bands kept, the
  bands drawn again), to show what keeping the picture is worth. The repeated chart is checked to be the
  chart from nothing, to the byte (``chart_repeat_identical``).

Medians only; nothing passes or fails on time (the machines are shared).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from injectmap.anatomy.fit.camera import Camera
from injectmap.reports import photo_chart as pc


class _RayVisibility:
    """What the camera sees, point by point: faces the camera, inside the photo, and no skin between the
    camera's centre and the point moved toward it by the depth buffer's own tolerance (2 mm and a buffer
    cell over the cosine, :class:`photo_chart._Visibility`), so both answer the same question."""

    def __init__(self, camera: Camera, skin: Any, px_per_mm: float) -> None:
        import vtk

        self.camera = camera
        cell = max(2, int(np.ceil(1.5 * px_per_mm)))
        self.cell_mm = cell / px_per_mm
        self.centre = -camera.r.T @ camera.t
        self.tree = vtk.vtkCellLocator()
        self.tree.SetDataSet(skin)
        self.tree.BuildLocator()
        self._pts, self._cells = vtk.vtkPoints(), vtk.vtkIdList()

    def seen(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        nrm = np.atleast_2d(np.asarray(normals, dtype=float))
        out = np.zeros(len(pts), dtype=bool)
        for i, (p, n) in enumerate(zip(pts, nrm, strict=True)):
            to_cam = self.centre - p
            to_cam /= np.linalg.norm(to_cam)
            cos = float(n @ to_cam)
            if cos <= pc.FACING_COS:
                continue
            x, y = self.camera.project(p[None, :])[0]
            if not (0 <= x < self.camera.width and 0 <= y < self.camera.height):
                continue
            tol = 2.0 + self.cell_mm / max(cos, 0.25)
            hit = self.tree.IntersectWithLine(tuple(p + to_cam * tol), tuple(self.centre), 1e-6, self._pts, self._cells)
            out[i] = not hit
        return out


def naive_layout(camera: Camera, model: Any, result: Any) -> pc.PhotoChart:
    """:func:`photo_chart.chart_layout` with the point-by-point ray casts of :class:`_RayVisibility`."""
    from injectmap.anatomy.variability import load_variability
    from injectmap.planning.results import Severity

    ppm = pc._px_per_mm(camera, model)
    vis = _RayVisibility(camera, model.skin, ppm)
    marks = []
    for p in result.points:
        entry = np.asarray(p.entry_mm, dtype=float)
        _, row = model.skin_tree.query(entry)
        x, y = camera.project(entry[None, :])[0]
        worst = p.worst
        sev = worst.value if worst is not None and worst > Severity.INFO else "ok"
        marks.append(pc.PhotoMark(p.id, float(p.units), sev, pc.severity_colour(worst), (float(x), float(y)),
                                  bool(vis.seen(entry[None, :], model.depth_normals[row][None, :])[0])))
    var = load_variability()
    bands = []
    for sid, s in model.structures.items():
        if s.kind not in pc.ZONE_KINDS or s.centreline is None:
            continue
        corridor = var.corridor_of(sid)
        half = (corridor.corridor_mm if corridor is not None else 0.0) + float(s.radius_mm or 0.0)
        band = pc._zone(model, sid, s, vis, camera, max(half, 1.0))
        if band is not None:
            bands.append(band)
    return pc.PhotoChart(camera.width, camera.height, tuple(marks), tuple(bands), ppm)


def _agreement(camera: Camera, model: Any) -> float:
    """The share of the zones' skin points that the depth buffer and the ray casts both see or both do not."""
    pts = []
    for s in model.structures.values():
        if s.kind in pc.ZONE_KINDS and s.centreline is not None:
            pts.append(pc._resample(np.asarray(s.centreline, dtype=float), pc.ZONE_STEP_MM))
    _, rows = model.skin_tree.query(np.vstack(pts))
    skin, nrm = model.depth_points_mm[rows], model.depth_normals[rows]
    ppm = pc._px_per_mm(camera, model)
    fast = pc._Visibility(camera, np.asarray(model.skin.points, dtype=float), ppm).seen(skin, nrm)
    slow = _RayVisibility(camera, model.skin, ppm).seen(skin, nrm)
    return float(np.mean(fast == slow))


def bench_scene() -> tuple[np.ndarray, Camera, Any, Any]:
    """The photo, its camera in the built face's frame, the default face and the 100-point plan's analysis."""
    from injectmap.anatomy.fit.photo import contract_origin
    from injectmap.anatomy.fit.synthetic import make_patient
    from injectmap.anatomy.model import load_model
    from injectmap.planning.bench import _plan, _points
    from injectmap.planning.check import check_plan
    from injectmap.planning.plan import parse_plan

    s = make_patient(0)
    origin = contract_origin(np.zeros(len(s.weights)))
    cam = Camera(s.camera.focal_px, s.camera.width, s.camera.height, s.camera.r, s.camera.t + s.camera.r @ origin)
    model = load_model()
    result = check_plan(parse_plan(_plan(model, _points(model, 100))), model)
    return s.image, cam, model, result


def _timed(fn: Any) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def run_chart_bench(charts: int = 5) -> dict[str, Any]:
    """``charts`` charts and as many naive and repeated ones, alternating (after one untimed run of each:
    fonts, data files, the skin's cells, the kept buffer, bands and picture), and the layouts alone (where
    the two differ; the drawing is shared)."""
    import dataclasses

    from injectmap.reports import chart_cache

    photo, cam, model, result = bench_scene()
    # the app's redraws: the analysis changes, the photo, camera and face do not
    results = [result, dataclasses.replace(result, points=result.points[1:])]
    chart_cache.clear()
    pc.chart_on_photo(photo, cam, model, result, cache=False)
    pc.draw_chart(photo, naive_layout(cam, model, result), cache=False)
    for r in results:
        pc.chart_on_photo(photo, cam, model, r)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in (
        "chart", "naive", "layout", "layout_naive", "repeat", "repeat_layout", "repeat_unkept_picture")}
    for i in range(charts):
        again = results[i % 2]
        runs["chart"].append(_timed(lambda: pc.chart_on_photo(photo, cam, model, result, cache=False)))
        runs["naive"].append(_timed(lambda: pc.draw_chart(photo, naive_layout(cam, model, result), cache=False)))
        runs["repeat"].append(_timed(lambda r=again: pc.chart_on_photo(photo, cam, model, r)))
        runs["layout"].append(_timed(lambda: pc.chart_layout(cam, model, result, cache=False)))
        runs["layout_naive"].append(_timed(lambda: naive_layout(cam, model, result)))
        runs["repeat_layout"].append(_timed(lambda r=again: pc.chart_layout(cam, model, r)))
        runs["repeat_unkept_picture"].append(_timed(
            lambda r=again: pc.draw_chart(photo, pc.chart_layout(cam, model, r), cache=False)))

    def med(key: str, k: int) -> float:
        return round(statistics.median(r[k] for r in runs[key]) * 1000, 1)

    fast_layout, slow_layout = pc.chart_layout(cam, model, result, cache=False), naive_layout(cam, model, result)
    identical = all(np.array_equal(pc.chart_on_photo(photo, cam, model, r),
                                   pc.chart_on_photo(photo, cam, model, r, cache=False)) for r in results)
    kept = chart_cache.info()
    return {
        "chart_runs": charts,
        "chart_ms_median": med("chart", 0),
        "chart_cpu_ms_median": med("chart", 1),
        "chart_naive_ms_median": med("naive", 0),
        "chart_naive_cpu_ms_median": med("naive", 1),
        "chart_speedup_vs_naive_cpu": round(med("naive", 1) / max(med("chart", 1), 0.1), 2),
        "chart_layout_cpu_ms_median": med("layout", 1),
        "chart_layout_naive_cpu_ms_median": med("layout_naive", 1),
        "chart_repeat_ms_median": med("repeat", 0),
        "chart_repeat_cpu_ms_median": med("repeat", 1),
        "chart_repeat_layout_ms_median": med("repeat_layout", 0),
        "chart_repeat_layout_cpu_ms_median": med("repeat_layout", 1),
        "chart_repeat_unkept_picture_ms_median": med("repeat_unkept_picture", 0),
        "chart_repeat_unkept_picture_cpu_ms_median": med("repeat_unkept_picture", 1),
        "chart_repeat_speedup_vs_chart_cpu": round(med("chart", 1) / max(med("repeat", 1), 0.1), 2),
        "chart_repeat_identical": identical,
        "chart_repeat_cache_hits": kept["geometry_hits"] + kept["image_hits"],
        "chart_repeat_cache_misses": kept["geometry_misses"] + kept["image_misses"],
        "chart_marks_seen": sum(m.visible for m in fast_layout.marks),
        "chart_marks_seen_naive": sum(m.visible for m in slow_layout.marks),
        "chart_zones": len(fast_layout.zones),
        "chart_zones_naive": len(slow_layout.zones),
        "chart_seen_agreement": round(_agreement(cam, model), 4),
        "chart_load_average_1min": round(os.getloadavg()[0], 2),
    }
