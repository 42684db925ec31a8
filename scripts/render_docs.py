"""Render the default face model off-screen into docs/ (1200x1200 PNGs).

Sets: skin on (semi-opaque over the muscles), skin off (muscles, gland, vessels, nerves), muscles
only, and vessels/duct/nerves over faded muscles; each from the front, three-quarter and lateral
(subject's left). Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python
scripts/render_docs.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injectmap.anatomy.model import load_model  # noqa: E402

DOCS = ROOT / "docs"
SIZE = (1200, 1200)
LINES = {"artery", "duct", "nerve"}

# camera directions (from the focus towards the camera) in the model frame (+x left, +y up, +z front)
VIEWS = {
    "front": np.array([0.0, 0.0, 1.0]),
    "three_quarter": np.array([np.sin(np.radians(45)), 0.0, np.cos(np.radians(45))]),
    "lateral": np.array([1.0, 0.0, 0.0]),
}


def _add(pl: pv.Plotter, model, kinds: set[str], opacity: dict[str, float]) -> None:
    for sid, s in model.structures.items():
        if s.kind not in kinds or sid.startswith("orbit_"):
            continue
        pl.add_mesh(s.mesh, color=s.colour, opacity=opacity.get(s.kind, 1.0), smooth_shading=True)
    for eye in model.eyes.values():
        pl.add_mesh(eye, color="#f4f1ea", smooth_shading=True)


def render_set(model, name: str, kinds: set[str], opacity: dict[str, float], skin: float | None) -> list[Path]:
    out = []
    focus = np.asarray(model.skin.center)
    radius = float(np.linalg.norm(np.ptp(np.asarray(model.skin.points), axis=0))) * 1.25
    for view, d in VIEWS.items():
        pl = pv.Plotter(off_screen=True, window_size=SIZE)
        pl.set_background("white")
        _add(pl, model, kinds, opacity)
        if skin is not None:
            pl.add_mesh(model.skin, color="#d9a27e", opacity=skin, smooth_shading=True)
        pl.camera.focal_point = focus
        pl.camera.position = focus + radius * d
        pl.camera.up = (0.0, 1.0, 0.0)
        pl.camera.view_angle = 30.0
        path = DOCS / f"anatomy-{name}-{view}.png"
        pl.screenshot(str(path))
        pl.close()
        out.append(path)
    return out


def main() -> None:
    model = load_model()
    DOCS.mkdir(exist_ok=True)
    paths = []
    paths += render_set(model, "skin", {"muscle", "gland"}, {}, skin=0.35)
    paths += render_set(model, "noskin", {"muscle", "gland"} | LINES, {}, skin=None)
    paths += render_set(model, "muscles", {"muscle"}, {}, skin=None)
    paths += render_set(model, "vessels", {"muscle", "gland"} | LINES, {"muscle": 0.35, "gland": 0.35}, skin=None)
    for p in paths:
        print(p.relative_to(ROOT))


if __name__ == "__main__":
    main()
