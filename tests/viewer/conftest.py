"""Fixtures of the viewer tests: the face model, loaded once per test run."""

from __future__ import annotations

import pytest
import pyvista as pv

pv.OFF_SCREEN = True


@pytest.fixture(scope="session")
def face_model():
    """The default face model (built on first use, then loaded from the mesh cache)."""
    model_mod = pytest.importorskip("injectmap.anatomy.model", reason="anatomy.model is not available")
    return model_mod.load_model()
