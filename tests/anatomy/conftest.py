"""Fixtures of the face-cache tests."""

from __future__ import annotations

import pytest

from injectmap.anatomy import model as model_mod
from injectmap.anatomy.model import FaceRegistry
from injectmap.anatomy.params import FaceParams


@pytest.fixture
def fake_builds(model, monkeypatch: pytest.MonkeyPatch) -> list[FaceParams]:
    """Replaces the (slow, ~30-60 s) builder by one returning the genuine default face and lists the
    builds asked for; the test gets a registry of loaded faces of its own."""
    calls: list[FaceParams] = []

    def fake_build(params):
        calls.append(params)
        return model

    monkeypatch.setattr(model_mod, "build_model", fake_build)
    monkeypatch.setattr(model_mod, "FACES", FaceRegistry())
    return calls
