"""Fixtures for the anatomy tests: the default model, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model():
    """The default (sex 0.5) face model; built into meshes/default the first time (~40 s)."""
    from injectmap.anatomy.model import load_model

    return load_model()
