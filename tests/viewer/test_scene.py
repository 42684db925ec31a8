"""The scene off-screen: it renders, layers toggle their actors, points, cut plane, views, export."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.scene import PointGlyph, Scene, layer_group, worst_severity


@pytest.fixture
def scene(face_model):
    s = Scene(face_model, window_size=(400, 300))
    yield s
    s.close()


def _not_blank(img: np.ndarray) -> bool:
    bg = np.median(img.reshape(-1, img.shape[-1]), axis=0)
    return bool((np.abs(img.astype(float) - bg).sum(axis=-1) > 30).mean() > 0.05)


def test_every_drawn_structure_has_its_own_coloured_actor(scene, face_model) -> None:
    for sid, s in face_model.structures.items():
        if layer_group(s) is None:
            continue
        actor = scene.actor(sid)
        expected = np.array([int(s.colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        np.testing.assert_allclose(actor.prop.color.float_rgb, expected, atol=0.01)
    assert {"skin", "eye_left", "eye_right"} <= set(scene.actors)
    assert not any(scene.is_visible(a) for a in scene.layer_actor_ids("fat"))


def test_renders_and_layers_toggle(scene) -> None:
    img = scene.screenshot()
    assert _not_blank(img)
    assert scene.is_visible("skin")
    scene.set_layer("skin", visible=False)
    assert not scene.is_visible("skin")
    img2 = scene.screenshot()
    assert np.abs(img2.astype(float) - img).mean() > 1.0
    muscles = scene.layer_actor_ids("muscles")
    assert muscles and all(scene.is_visible(a) for a in muscles)
    scene.set_layer("muscles", visible=False)
    assert not any(scene.is_visible(a) for a in muscles)
    scene.set_layer("bone", visible=True, opacity=0.5)
    assert all(scene.actors[a].prop.opacity == 0.5 for a in scene.layer_actor_ids("bone"))


def test_points_coloured_by_worst_finding(scene, face_model) -> None:
    g = np.asarray(face_model.landmarks["glabella"])
    glyphs = [PointGlyph("a", tuple(g), tuple(g - [0, 0, 3]), 8.0, 12.0, "danger"),
              PointGlyph("b", tuple(g + [20, 30, 0]), tuple(g + [20, 30, -3]), 6.0, 9.0, "ok")]
    scene.set_points(glyphs, selected="b")
    vis = {k: bool(a.GetVisibility()) for k, a in scene._point_actors.items()}
    assert vis["tip_danger"] and vis["inner_danger"] and vis["outer_danger"]
    assert vis["tip_ok"] and vis["selected"] and not vis["tip_caution"]
    assert worst_severity([{"severity": "info"}, {"severity": "caution"}]) == "caution"
    assert worst_severity([]) == "ok"


def test_cut_plane_clips_meshes(scene) -> None:
    full = scene.actors["skin"].mapper.GetInput().GetNumberOfCells()
    scene.set_cut("sagittal", 0.0)
    half = scene.actors["skin"].mapper.GetInput()
    assert 0 < half.GetNumberOfCells() < full
    assert half.GetBounds()[1] <= 0.5  # keeps x < 0
    scene.set_cut("none", 0.0)
    assert scene.actors["skin"].mapper.GetInput().GetNumberOfCells() == full


def test_views_and_highlight(scene, face_model) -> None:
    cam = scene.set_view("left")
    assert cam["position"][0] > cam["focalPoint"][0] + 100  # looking from the subject's left
    sid = next(s for s in face_model.structures if layer_group(face_model.structures[s]) == "nerves")
    scene.set_layer("nerves", visible=False)
    scene.highlight(sid, [0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert scene.is_visible(sid) and scene._point_actors["closest"].GetVisibility()
    scene.highlight("")
    assert not scene.is_visible(sid)


def test_landmarks_and_export(scene, tmp_path) -> None:
    scene.show_landmarks(True)
    assert len(scene._landmark_actors) == 2
    out = tmp_path / "scene.gltf"
    scene.export_gltf(str(out))
    assert out.stat().st_size > 10_000
