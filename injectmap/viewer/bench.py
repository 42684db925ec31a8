"""The viewer's part of ``injectmap bench``: one click on the server, against naive baselines timed
in the same run.

- click: a session app built in-process (no browser), placing points on the face through the same
  handler a click in the browser calls: snap to the skin, plan edit, analysis of the point, tables,
  glyphs and the scene update, as one patch (medians over the clicks);
- scene update: what a click sends the browser's canvas (the new point meshes) against re-sending
  every mesh of the scene, as Panel's synchronised VTK pane did on each change;
- glyphs of a 100-point plan: unit templates placed with numpy against a VTK source per sphere,
  needle and ring merged with ``pyvista.merge``, as the scene made them before;
- a frame of the Expressions card's day slider: the preview of the plan (every expression, one day, the
  face's precomputation kept, the plan's preview not), the displayed skin's points for "all" and the
  canvas update (the skin's points alone), against re-sending every mesh of the scene with the moved
  skin as a whole mesh. Target: ``bench.preview_ms`` of teaching/data/expressions.yaml (200 ms).

Medians and ratios only: these machines are shared and noisy.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def _naive_glyph_meshes(glyphs: list[Any]) -> list[Any]:
    """The glyph meshes made one VTK source each (the baseline)."""
    import pyvista as pv

    from injectmap.viewer.scene import NEEDLE_OUTSIDE_MM, TIP_RADIUS_MM

    parts: dict[str, list[Any]] = {"tip": [], "inner": [], "outer": []}
    for g in glyphs:
        entry, tip = np.asarray(g.entry_mm, float), np.asarray(g.tip_mm, float)
        axis = (entry - tip) / (np.linalg.norm(entry - tip) or 1.0)
        hub = entry + axis * NEEDLE_OUTSIDE_MM
        parts["tip"].append(pv.Sphere(radius=TIP_RADIUS_MM, center=tip, theta_resolution=12, phi_resolution=12))
        parts["tip"].append(pv.Tube(pointa=tip, pointb=hub, radius=0.25, n_sides=8))
        parts["inner"].append(pv.Sphere(radius=g.inner_mm, center=tip, theta_resolution=24, phi_resolution=16))
        parts["outer"].append(pv.Sphere(radius=g.outer_mm, center=tip, theta_resolution=24, phi_resolution=16))
    return [pv.merge(p) for p in parts.values() if p]


def _skin_points(model: Any, n: int, seed: int = 5) -> np.ndarray:
    """Skin points of the forehead and cheeks (front of the face, between the brows and the jaw)."""
    rng = np.random.default_rng(seed)
    pts = np.asarray(model.depth_points_mm)
    front = np.nonzero((pts[:, 2] > 0.0) & (pts[:, 1] > -40.0) & (pts[:, 1] < 70.0))[0]
    return pts[rng.choice(front, size=n, replace=False)]


def _expression_frames(app: Any, frames: int) -> dict[str, Any]:
    """Frames of the Expressions card's day slider (see the module's docstring)."""
    from injectmap.teaching.expressions import expression_data
    from injectmap.teaching.expressions_bench import bench_plan
    from injectmap.viewer.expressions_panel import DAYS
    from injectmap.viewer.scene_canvas import MeshArrays, pack_meshes

    if frames <= 0:
        return {}
    card, view, state = app.app_expressions, app.app_scene, app.app_state
    state.load_plan(bench_plan(), undoable=False)
    card.param.update(expression="all", day=DAYS[0])
    card._layout.collapsed = False  # opens the card: the first frame builds what is kept per face
    t_frame, cpu, sent, kinds, t_full, full_bytes = [], [], [], [], [], []
    for k in range(frames):
        card.frames()._previews.clear()  # the plan's preview is computed for every frame
        t0, c0 = time.perf_counter(), time.process_time()
        card.day = DAYS[(k + 1) % len(DAYS)]  # stop by stop: the first pass moves to skins not sent yet
        t_frame.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if k < len(DAYS) - 1:
            sent.append(view.canvas.last_update_bytes)
        kinds.append(view.canvas.last_update_kind)
        # the baseline: every mesh of the scene packed and sent again, the skin a whole new mesh
        t0 = time.perf_counter()
        meshes = dict(view.canvas._current)
        skin = MeshArrays(view.scene.actors["skin"].mapper.GetInput(), normals=True)
        meshes[skin.hash] = skin
        full_bytes.append(len(pack_meshes(0, meshes, [])))
        t_full.append(time.perf_counter() - t0)
    card._layout.collapsed = True
    med = statistics.median
    target = expression_data().bench.preview_ms.value
    return {
        "viewer_expression_frame_ms_median": round(med(t_frame) * 1000, 1),
        "viewer_expression_frame_ms_max": round(max(t_frame) * 1000, 1),
        "viewer_expression_frame_over_target": round(med(t_frame) * 1000 / target, 3),
        # the process's CPU time: on a shared machine the wall time waits for other processes
        "viewer_expression_frame_cpu_ms_median": round(med(cpu) * 1000, 1),
        # frames to a day not shown before (a day shown again sends the skin's hash alone)
        "viewer_expression_frame_mb_median": round(med(sent) / 1e6, 3),
        "viewer_expression_frames_as_points": sum(1 for k in kinds if k == "points"),
        "viewer_expression_full_scene_mb": round(med(full_bytes) / 1e6, 2),
        "viewer_expression_full_scene_pack_ms_median": round(med(t_full) * 1000, 1),
        "viewer_expression_bytes_ratio_vs_full": round(med(full_bytes) / max(med(sent), 1), 1),
        "viewer_expression_frames": frames,
    }


def run_viewer_bench(clicks: int = 20, expression_frames: int = 14) -> dict[str, Any]:
    import os

    import pyvista as pv

    from injectmap.viewer.app import create_app, get_model
    from injectmap.viewer.scene import PointGlyph, Scene
    from injectmap.viewer.scene_canvas import pack_meshes

    pv.OFF_SCREEN = True
    os.environ.setdefault("INJECTMAP_AUTOSAVE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "injectmap",
                                                                 "bench-autosave"))
    model = get_model()
    app = create_app(model)
    state, view = app.app_state, app.app_scene
    state.placing = True
    t_click, sent, full_ms, full_bytes = [], [], [], []
    for xyz in _skin_points(model, clicks):
        t0 = time.perf_counter()
        view.place_at(xyz)
        t_click.append(time.perf_counter() - t0)
        sent.append(view.canvas.last_update_bytes)
        # the baseline: every mesh the scene draws, packed and sent again
        t0 = time.perf_counter()
        blob = pack_meshes(0, dict(view.canvas._current), [])
        full_ms.append(time.perf_counter() - t0)
        full_bytes.append(len(blob))
    # glyphs of a 100-point plan
    tips = _skin_points(model, 100, seed=9)
    glyphs = [PointGlyph(f"p{i}", tuple(p), tuple(p - np.array([0.0, 0.0, 3.0])), 4.0, 9.0, "ok")
              for i, p in enumerate(tips)]
    scene = Scene(model, window_size=(200, 150))
    t_new, t_old = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        scene.set_points(glyphs)
        t_new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _naive_glyph_meshes(glyphs)
        t_old.append(time.perf_counter() - t0)
    scene.close()
    med = statistics.median
    frame = _expression_frames(app, frames=expression_frames)
    return {**frame,
        "viewer_click_ms_median": round(med(t_click) * 1000, 1),
        "viewer_click_ms_max": round(max(t_click) * 1000, 1),
        "viewer_click_update_mb_median": round(med(sent) / 1e6, 3),
        "viewer_full_scene_mb": round(med(full_bytes) / 1e6, 2),
        "viewer_full_scene_pack_ms_median": round(med(full_ms) * 1000, 1),
        "viewer_update_bytes_ratio_vs_full": round(med(full_bytes) / max(med(sent), 1), 1),
        "viewer_glyphs100_ms_median": round(med(t_new) * 1000, 1),
        "viewer_glyphs100_vtk_sources_ms_median": round(med(t_old) * 1000, 1),
        "viewer_glyphs_ratio_vs_vtk_sources": round(med(t_old) / med(t_new), 1),
        "viewer_clicks": clicks,
    }
