"""A server's session loads only what a session uses (issue 11's memory ceiling, docs/cache.md).

Three packages cost a server process much memory and are needed only for rare work: the whole ``vtk``
package (~100 MB; pyvista loads only the VTK modules it uses; Panel's VTK panes imported the rest whenever
Panel resolved an empty slot, see viewer/panes.py), trimesh with its graph and index packages (~60 MB, a
scan upload's work) and mediapipe (~70 MB, a photo fit's). Measured in a fresh interpreter: a test worker
has imported them all for other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import panel as pn
from injectmap.anatomy.model import load_model
from injectmap.viewer.app import create_app, demo_plan
model = load_model(0.5)
layout = create_app(model, demo_plan())
card = layout.app_expressions
card.day_slider.value = 30
nothing = pn.panel(None)
deferred = pn.panel(lambda: layout, defer_load=True)  # how the server serves a session
print(json.dumps({"loaded": sorted(m for m in ("vtk", "trimesh", "mediapipe") if m in sys.modules),
                  "day": card.day, "empty": [type(nothing).__name__, nothing.object]}))
"""


def test_a_session_leaves_vtk_trimesh_and_mediapipe_unloaded() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [], got
    # an empty slot is still an empty text pane, and Panel's day slider still works
    assert got["empty"] == ["Empty", None] and got["day"] == 30, got
