"""The pure planning modules import no GUI, web or plotting package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = [f"injectmap.planning.{m}" for m in ("products", "diffusion", "doses", "plan", "mirroring", "sessions",
                                                "schema", "cli_plan")]


def test_no_gui_imports():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
          "('panel', 'param', 'bokeh', 'pyvista', 'vtk', 'matplotlib'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.stdout.strip() == ""
