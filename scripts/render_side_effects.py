"""Render the side-effect pictures of docs/expressions.md off-screen (EGL) into docs/images/expr-side-effect-*.png.

Each is a row of four panels of the default face from the front (as scripts/render_expressions.py draws
them): at rest, the expression before treatment, the expression two weeks after the plan, and the movement
the plan takes away. Cases (the tests in tests/teaching/test_side_effects.py use the same plans): one
frontalis point over the left medial brow only (the "Spock" brow: the raise loses its inner part, the tail
still lifts), and the left DAO template point 8 mm nearer the midline (its field reaches the depressor labii
inferioris: the lower lip on that side moves less). Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
.venv/bin/python scripts/render_side_effects.py``.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from render_expressions import render_pair  # noqa: E402

from injectmap.anatomy.model import load_model  # noqa: E402
from injectmap.planning.protocols import protocol_plan  # noqa: E402
from injectmap.teaching.side_effects import side_effects  # noqa: E402

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def medial_frontalis_plan() -> dict:
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "points": [{"id": "fm", "units": 4, "target": "frontalis_left", "depth_mm": 3,
                        "at": {"landmark": "brow_medial_left", "superior_mm": 30}}]}


def medial_dao_plan() -> dict:
    t = protocol_plan("dao_single_point")
    p = copy.deepcopy(next(q for q in t["points"] if q["id"] == "dao_left"))
    p["at"]["lateral_mm"] = float(p["at"].get("lateral_mm", 0.0)) - 8.0
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT, "points": [p]}


def main() -> None:
    model = load_model()
    cases = [
        (medial_frontalis_plan(), "brow_raise", "side-effect-spock",
         ("at rest", "brows raised, before", "raised, day 14: left medial forehead only", "raise: movement lost"),
         np.array([0.0, 20.0, 0.0])),
        (medial_dao_plan(), "mouth_corner_down", "side-effect-lower-lip",
         ("at rest", "mouth corners down, before", "day 14: DAO point 8 mm medial", "movement lost"),
         np.array([0.0, -35.0, 0.0])),
    ]
    for plan, expression, name, titles, focus in cases:
        render_pair(model, plan, expression, name, titles, focus)
        for e in side_effects(model, plan, 14):
            print("  ", e.summary())


if __name__ == "__main__":
    main()
