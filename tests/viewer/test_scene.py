"""The scene off-screen: it renders, one actor per layer group, highlight, points, cut plane, views, export."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from injectmap.planning.results import Finding
from injectmap.viewer.scene import PointGlyph, Scene, layer_group, worst_severity


@pytest.fixture
def scene(face_model):
    s = Scene(face_model, window_size=(400, 300))
    yield s
    s.close()


def _not_blank(img: np.ndarray) -> bool:
    bg = np.median(img.reshape(-1, img.shape[-1]), axis=0)
    return bool((np.abs(img.astype(float) - bg).sum(axis=-1) > 30).mean() > 0.05)


def test_each_layer_group_is_one_actor_coloured_per_structure(scene, face_model) -> None:
    groups = {layer_group(s) for s in face_model.structures.values()} - {None}
    for sid, s in face_model.structures.items():
        group = layer_group(s)
        if group is None:
            continue
        assert scene.group_of[sid] == group and scene.actor(sid) is scene.actor(group)
        colours = scene.structure_colours(group)[sid]
        expected = [int(s.colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert len(colours) == scene.meshes[sid].n_cells
        assert (colours == expected).all(), sid
    for group in groups:
        actor = scene.actor(group)
        mesh = pv.wrap(actor.mapper.GetInputDataObject(0, 0))  # as serialised, hidden or not
        assert mesh.n_cells == sum(scene.meshes[a].n_cells for a in scene.layer_actor_ids(group))
        assert mesh.cell_data["rgb"].dtype == np.uint8
    # one actor per group (+ skin, eyes), the highlight and the point actors: not one per structure
    structure_actors = [a for a in scene.plotter.renderer.GetActors() if a not in scene._point_actors.values()]
    assert len(structure_actors) == len(groups) + 3
    assert {"skin", "eyes"} <= set(scene.actors)
    assert scene.is_visible("eye_left") and scene.is_visible("skin")
    assert not any(scene.is_visible(a) for a in scene.layer_actor_ids("fat"))


def test_hidden_groups_send_no_actor_until_shown(face_model) -> None:
    scene = Scene(face_model, window_size=(200, 150))
    try:
        assert "fat" not in scene.actors and "bone" not in scene.actors
        scene.set_layer("bone", visible=True)
        assert scene.is_visible("bone") and "fat" not in scene.actors
    finally:
        scene.close()


def test_a_click_picks_the_skin_when_shown_else_any_shown_layer(scene) -> None:
    pickable = lambda: {g for g, a in scene.actors.items() if a.GetPickable()}  # noqa: E731
    assert pickable() == {"skin"} and not scene.highlight_actor.GetPickable()
    assert all(not a.GetPickable() for a in scene._point_actors.values())
    scene.set_layer("skin", visible=False)
    assert "skin" not in pickable() and {"muscles", "eyes"} <= pickable()
    assert scene.highlight_actor.GetPickable()
    scene.set_layer("skin", visible=True)
    assert pickable() == {"skin"}


def test_one_structure_hidden_or_at_its_own_opacity(scene, face_model) -> None:
    muscles = scene.actor("muscles")
    full = muscles.mapper.GetInput().n_cells
    sid = "frontalis_left"
    n = scene.meshes[sid].n_cells
    a, b = scene.group_meshes["muscles"].cells[sid]
    full_rgb = np.asarray(scene.group_meshes["muscles"].mesh.cell_data["rgb"])
    scene.set_structure_display({sid: {"visible": False}, "no_such_structure": {"visible": False}})
    drawn = pv.wrap(muscles.mapper.GetInput())
    assert drawn.n_cells == full - n and not scene.is_visible(sid) and scene.is_visible("frontalis_right")
    assert np.array_equal(np.asarray(drawn.cell_data["rgb"]), np.delete(full_rgb, np.s_[a:b], axis=0))
    assert "no_such_structure" not in scene.structure_display
    # at its own opacity: out of the group's actor, in an actor of its own, clipped like the rest
    scene.set_structure_display({sid: {"opacity": 0.3}})
    assert muscles.mapper.GetInput().n_cells == full - n
    own = scene._own_actors[sid]
    assert own.prop.opacity == pytest.approx(0.3) and scene.is_visible(sid)
    assert own.mapper.GetInput().n_cells == n
    scene.set_cut("sagittal", 0.0)  # keeps x < 0: the left frontalis (x > 0) is cut away
    assert own.mapper.GetInput().n_cells == 0
    scene.set_cut("none", 0.0)
    scene.set_layer("muscles", visible=False)  # a structure follows its layer's visibility
    assert not own.GetVisibility()
    scene.set_layer("muscles", visible=True)
    scene.set_structure_display({})
    assert sid not in scene._own_actors and muscles.mapper.GetInput().n_cells == full


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
    assert scene.actors["bone"].prop.opacity == 0.5
    assert all(scene.is_visible(a) for a in scene.layer_actor_ids("bone"))


def test_points_coloured_by_worst_finding(scene, face_model) -> None:
    g = np.asarray(face_model.landmarks["glabella"])
    glyphs = [PointGlyph("a", tuple(g), tuple(g - [0, 0, 3]), 8.0, 12.0, "danger"),
              PointGlyph("b", tuple(g + [20, 30, 0]), tuple(g + [20, 30, -3]), 6.0, 9.0, "ok")]
    scene.set_points(glyphs, selected="b")
    vis = {k: bool(a.GetVisibility()) for k, a in scene._point_actors.items()}
    assert vis["tip_danger"] and vis["inner_danger"] and vis["outer_danger"]
    assert vis["tip_ok"] and vis["selected"] and not vis["tip_caution"]
    assert worst_severity([Finding.make("info", "i", ""), Finding.make("caution", "c", "")]) == "caution"
    assert worst_severity([]) == "ok"


def test_cut_plane_clips_meshes(scene) -> None:
    full = pv.wrap(scene.actors["skin"].mapper.GetInput()).GetNumberOfCells()
    scene.set_cut("sagittal", 0.0)
    half = pv.wrap(scene.actors["skin"].mapper.GetInput())
    assert 0 < half.GetNumberOfCells() < full
    assert half.GetBounds()[1] <= 0.5  # keeps x < 0
    scene.set_cut("none", 0.0)
    assert pv.wrap(scene.actors["skin"].mapper.GetInput()).GetNumberOfCells() == full


def test_views_and_highlight(scene, face_model) -> None:
    cam = scene.set_view("left")
    assert cam["position"][0] > cam["focalPoint"][0] + 100  # looking from the subject's left
    sid = next(s for s in face_model.structures if layer_group(face_model.structures[s]) == "nerves")
    scene.set_layer("nerves", visible=False)
    scene.highlight(sid, [0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert scene.is_visible(sid) and scene._point_actors["closest"].GetVisibility()
    assert not scene.is_visible("nerves")  # only the highlighted structure, not its hidden group
    other = next(a for a in scene.layer_actor_ids("nerves") if a != sid)
    assert not scene.is_visible(other)
    scene.highlight("")
    assert not scene.is_visible(sid)


def test_highlight_actor_draws_only_the_structure_opaque_in_its_colour(scene, face_model) -> None:
    sid = "masseter_superficial_left"
    scene.set_layer("muscles", opacity=0.3)
    scene.highlight(sid)
    hl = scene.highlight_actor
    assert hl.GetVisibility() and hl.prop.opacity == 1.0
    assert pv.wrap(hl.mapper.GetInput()).n_cells == scene.meshes[sid].n_cells
    expected = np.array([int(face_model.structures[sid].colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    np.testing.assert_allclose(hl.prop.color.float_rgb, expected, atol=0.01)
    assert scene.actors["muscles"].prop.opacity == 0.3  # the group keeps its opacity
    scene.set_cut("sagittal", 0.0)  # the left masseter (x > 0) is cut away with its group
    assert pv.wrap(hl.mapper.GetInput()).n_cells == 0
    scene.set_cut("none", 0.0)
    assert pv.wrap(hl.mapper.GetInput()).n_cells == scene.meshes[sid].n_cells
    scene.highlight("no_such_structure")
    assert scene.highlighted == "" and not hl.GetVisibility()


def test_cut_plane_clips_group_meshes_and_keeps_colours(scene) -> None:
    muscles = scene.actors["muscles"]
    full = pv.wrap(muscles.mapper.GetInput()).n_cells
    scene.set_cut("sagittal", 0.0)
    half = pv.wrap(muscles.mapper.GetInput())
    assert 0 < half.n_cells < full and half.bounds[1] <= 0.5
    colours = {tuple(c) for c in np.asarray(half.cell_data["rgb"])}
    assert colours <= {tuple(c) for cs in scene.structure_colours("muscles").values() for c in cs}
    assert len(colours) > 1
    scene.set_cut("none", 0.0)
    assert pv.wrap(scene.actors["muscles"].mapper.GetInput()).n_cells == full


def test_landmarks_and_export(scene, tmp_path) -> None:
    scene.show_landmarks(True)
    # one merged actor of markers, one per landmark; their names are labels over the canvas (viewer.labels)
    (dots,) = scene._landmark_actors
    assert dots.GetVisibility()
    one = pv.Sphere(radius=0.9, theta_resolution=8, phi_resolution=8).n_cells
    assert pv.wrap(dots.mapper.GetInput()).n_cells == one * len(scene.model.landmarks)
    scene.show_landmarks(False)
    assert not dots.GetVisibility()
    scene.show_landmarks(True)
    out = tmp_path / "scene.gltf"
    scene.export_gltf(str(out))
    assert out.stat().st_size > 10_000
