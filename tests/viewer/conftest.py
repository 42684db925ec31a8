"""Settings of the viewer tests (the face model is the session fixture ``face_model`` of tests/conftest.py)."""

from __future__ import annotations

import pyvista as pv

pv.OFF_SCREEN = True
