"""The Face card's sliders step as the faces are quantised (``anatomy/data/face_cache.yaml``): the sex
slider moved in 0.1 steps while faces are built every 0.25, so 0.4 and 0.6 showed the default face."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy.params import SHAPE_KEYS, FaceParams, face_cache_settings
from injectmap.viewer.face_panel import FacePanel, slider_step
from injectmap.viewer.state import AppState


def test_each_slider_steps_as_its_parameter_is_quantised(face_model) -> None:
    panel = FacePanel(AppState(snap=face_model.skin_point), face_model, lambda _m: None)
    steps = face_cache_settings().steps
    by_class = {s.css_classes[0]: s for s in panel.sliders}
    for key in ("sex", *SHAPE_KEYS):
        slider = by_class[f"face-{key.replace('_', '-')}"]
        assert slider.step == steps[key].step == slider_step(key), key
        # every position of the slider is a face of its own: already on the grid, and distinct
        lo, hi = slider.start, slider.end
        positions = np.round(np.arange(lo, hi + slider.step / 2, slider.step), 6)
        faces = [FaceParams(**{key: float(v)}) for v in positions]
        assert all(f.is_quantised for f in faces), key
        assert len({f.quantised() for f in faces}) == len(positions), key
    assert by_class["face-sex"].step == pytest.approx(0.25)  # the file's step today (was 0.1)


def test_the_slider_step_follows_the_data_file(monkeypatch: pytest.MonkeyPatch) -> None:
    real = face_cache_settings()
    changed = real.model_copy(update={"steps": {**real.steps, "sex": real.steps["sex"].model_copy(update={"step": 0.5})}})
    monkeypatch.setattr("injectmap.viewer.face_panel.face_cache_settings", lambda: changed)
    assert slider_step("sex") == 0.5 and slider_step("masseter") == real.steps["masseter"].step
