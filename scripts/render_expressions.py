"""Render the expression previews of docs/expressions.md off-screen (EGL) into docs/images/expr-*.png.

Each image is a row of three panels of the default face seen from the front: the face at rest, the
expression before treatment, and the expression two weeks after the plan (the skin coloured by how far it
moved, mm, on one scale). Pairs: the glabellar template's frown, and a crow's feet point 2 cm too low
(its smile: the left side weakened). Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
.venv/bin/python scripts/render_expressions.py``.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injectmap.anatomy.model import load_model  # noqa: E402
from injectmap.planning.protocols import protocol_plan  # noqa: E402
from injectmap.teaching.expressions import expression_displacement, preview  # noqa: E402

OUT = ROOT / "docs" / "images"
PANEL = (420, 480)


def low_canthal_plan(drop_mm: float = 20.0) -> dict:
    """The crow's feet template's left middle point alone, ``drop_mm`` lower (tests/teaching use the same)."""
    plan = protocol_plan("lateral_canthal_three_point")
    p = copy.deepcopy(next(q for q in plan["points"] if q["id"] == "canthal_mid_left"))
    p["id"], p["at"]["superior_mm"] = "canthal_low_left", -drop_mm
    plan["points"] = [p]
    return plan


def _panel(pl: pv.Plotter, model, disp: np.ndarray | None, title: str, focus: np.ndarray, clim: float,
           points: list[np.ndarray]) -> None:
    skin = model.skin.copy()
    if disp is not None:
        skin.points = np.asarray(skin.points) + disp
        skin.point_data["moved (mm)"] = np.linalg.norm(disp, axis=1)
        pl.add_mesh(skin, scalars="moved (mm)", cmap="magma_r", clim=(0.0, clim), smooth_shading=True,
                    scalar_bar_args={"title": "moved (mm)", "vertical": False, "position_x": 0.2, "position_y": 0.02,
                                     "width": 0.6, "height": 0.06, "color": "black"})
    else:
        pl.add_mesh(skin, color="#e0b497", smooth_shading=True)
    for eye in model.eyes.values():
        pl.add_mesh(eye, color="#f4f1ea", smooth_shading=True)
    for p in points:
        pl.add_mesh(pv.Sphere(radius=1.6, center=p), color="#1f77b4")
    pl.add_text(title, font_size=9, color="black", position="upper_edge")
    pl.camera.focal_point = focus
    pl.camera.position = focus + np.array([0.0, 0.0, 420.0])
    pl.camera.up = (0.0, 1.0, 0.0)
    pl.camera.view_angle = 22.0


def render_pair(model, plan: dict, expression: str, name: str, titles: tuple[str, str, str, str],
                focus: np.ndarray) -> Path:
    res = preview(model, plan, 14)
    before = expression_displacement(model, None, expression)
    after = expression_displacement(model, res, expression)
    clim = float(np.percentile(np.linalg.norm(before, axis=1), 99.9))
    tips = []
    from injectmap.planning.analysis import place
    from injectmap.planning.plan import parse_plan

    parsed = parse_plan(plan)
    for p in parsed.points:
        tips.append(place(model, p).entry_mm)
    pl = pv.Plotter(off_screen=True, window_size=(PANEL[0] * 4, PANEL[1]), shape=(1, 4), border=False)
    pl.set_background("white")
    for k, (disp, title) in enumerate(zip((None, before, after), titles[:3], strict=True)):
        pl.subplot(0, k)
        _panel(pl, model, disp, title, focus, clim, tips if k == 2 else [])
    # the fourth panel: the face in the treated expression, coloured by the movement the plan takes away
    pl.subplot(0, 3)
    skin = model.skin.copy()
    skin.points = np.asarray(skin.points) + after
    lost = np.linalg.norm(before, axis=1) - np.linalg.norm(after, axis=1)
    skin.point_data["movement lost (mm)"] = lost
    pl.add_mesh(skin, scalars="movement lost (mm)", cmap="Blues", clim=(0.0, max(float(lost.max()), 0.5)),
                smooth_shading=True, scalar_bar_args={"title": "movement lost (mm)", "vertical": False,
                                                      "position_x": 0.2, "position_y": 0.02, "width": 0.6,
                                                      "height": 0.06, "color": "black"})
    for eye in model.eyes.values():
        pl.add_mesh(eye, color="#f4f1ea", smooth_shading=True)
    pl.add_text(titles[3], font_size=9, color="black", position="upper_edge")
    pl.camera.focal_point = focus
    pl.camera.position = focus + np.array([0.0, 0.0, 420.0])
    pl.camera.up = (0.0, 1.0, 0.0)
    pl.camera.view_angle = 22.0
    pl.link_views()
    path = OUT / f"expr-{name}.png"
    pl.screenshot(str(path))
    pl.close()
    s = res.strengths[expression]
    print(f"{path.relative_to(ROOT)}: {expression} strength left {s['left'].mid:.2f}, right {s['right'].mid:.2f}")
    for k, m in res.measures.items():
        print(f"  {k}: left {m.left:.2f} right {m.right:.2f} (untreated {m.untreated_left:.2f} / {m.untreated_right:.2f})")
    return path


def main() -> None:
    pv.OFF_SCREEN = True
    model = load_model()
    OUT.mkdir(parents=True, exist_ok=True)
    render_pair(model, protocol_plan("glabella_five_point"), "frown", "frown-glabella",
                ("at rest", "frown, before", "frown, day 14: glabellar 5 points", "frown: movement lost"),
                np.array([0.0, 5.0, 0.0]))
    render_pair(model, low_canthal_plan(), "smile", "smile-low-canthal",
                ("at rest", "smile, before", "smile, day 14: point 2 cm low", "smile: movement lost"),
                np.array([0.0, -25.0, 0.0]))


if __name__ == "__main__":
    main()
