"""The Corridors layer: each vessel's, nerve's, the duct's and each foramen's corridor (its mean course and
published spread) drawn as a translucent tube, hidden until the user turns it on, never picked."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from injectmap.anatomy.variability import load_variability
from injectmap.viewer.scene import CORRIDOR_COLOURS, Scene, corridor_meshes
from injectmap.viewer.state import DEFAULT_VISIBLE, LAYER_GROUPS, LAYER_LABELS


@pytest.fixture
def scene(face_model):
    s = Scene(face_model, window_size=(300, 200))
    yield s
    s.close()


def test_every_artery_nerve_duct_and_foramen_has_a_corridor_of_its_radius(face_model) -> None:
    meshes = corridor_meshes(face_model)
    var = load_variability()
    for sid, s in face_model.structures.items():
        if s.kind not in ("artery", "nerve", "duct"):
            continue
        mesh, kind = meshes[f"corridor_{sid}"]
        assert kind == s.kind and mesh.n_cells > 0
        # the tube's surface lies at the corridor's radius from the mean course (within the tube's facets)
        line = np.asarray(s.centreline, float)
        d = np.min(np.linalg.norm(mesh.points[:, None, :] - line[None, :, :], axis=2), axis=1)
        r = var.corridor_of(sid).corridor_mm + float(s.radius_mm or 0.0)
        assert np.median(d) == pytest.approx(r, rel=0.25), sid
    for base in ("supraorbital_notch", "infraorbital_foramen", "mental_foramen"):
        for side in ("left", "right"):
            assert meshes[f"corridor_{base}_{side}"][1] == "foramen"


def test_the_corridor_layer_is_a_hidden_toggle_with_geometry(scene) -> None:
    assert "corridors" in LAYER_GROUPS and LAYER_LABELS["corridors"] and DEFAULT_VISIBLE["corridors"] is False
    assert "corridors" not in scene.actors  # hidden: nothing sent until shown
    scene.set_layer("corridors", visible=True)
    actor = scene.actors["corridors"]
    mesh = pv.wrap(actor.mapper.GetInputDataObject(0, 0))
    assert mesh.n_cells > 1000 and scene.is_visible("corridors")
    assert actor.prop.opacity < 0.5  # translucent zones over the anatomy
    rgb = {tuple(c) for c in np.asarray(mesh.cell_data["rgb"])}
    assert tuple(int(CORRIDOR_COLOURS["artery"][i:i + 2], 16) for i in (1, 3, 5)) in rgb
    assert tuple(int(CORRIDOR_COLOURS["nerve"][i:i + 2], 16) for i in (1, 3, 5)) in rgb
    assert not actor.GetPickable()
    scene.set_layer("corridors", visible=False)
    assert not scene.is_visible("corridors")
