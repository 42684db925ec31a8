"""The scene canvas protocol: what Python sends the browser's vtk.js view, and when.

The browser decodes the same blob layout as :func:`viewer.scene_canvas.unpack_meshes`; these tests
check that a mesh travels once, that the arrays describe the mesh exactly, and that a new page gets
every mesh of the scene again.
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from injectmap.viewer.scene import PointGlyph, Scene
from injectmap.viewer.scene_canvas import (
    HELD_SPARE,
    PRESSES_KEPT,
    MeshArrays,
    SceneCanvas,
    colour_runs,
    expand_mesh,
    pack_meshes,
    unpack_meshes,
)


def test_blob_round_trip_keeps_every_array_aligned_and_exact() -> None:
    sphere = pv.Sphere(theta_resolution=9, phi_resolution=7)
    sphere.cell_data["rgb"] = np.tile(np.array([200, 10, 3], np.uint8), (sphere.n_cells, 1))
    disc = pv.Disc(c_res=7)  # quads: sent as triangles
    a, b = MeshArrays(sphere, normals=True), MeshArrays(disc, normals=False)
    blob = pack_meshes(7, {a.hash: a, b.hash: b}, drop=["old"])
    out = unpack_meshes(blob)
    assert out["seq"] == 7 and out["drop"] == ["old"]
    assert "tris16" in out["meshes"][a.hash]  # few points: 16-bit ids
    got = expand_mesh(out["meshes"][a.hash])
    assert np.allclose(got["points"], sphere.points, atol=1e-5)
    assert np.array_equal(got["polys"].astype(np.int64), sphere.faces)
    assert got["rgb"].shape == (sphere.n_cells, 3) and (got["rgb"] == [200, 10, 3]).all()
    assert np.allclose(got["normals"], sphere.point_data["Normals"], atol=1e-6)
    polys = expand_mesh(out["meshes"][b.hash])["polys"].reshape(-1, 4)
    assert (polys[:, 0] == 3).all() and len(polys) == disc.triangulate().n_cells
    # offsets are multiples of four, so the browser can view them as Float32Array / Uint32Array
    header_end = 8 + int.from_bytes(blob[4:8], "little")
    assert header_end % 4 == 0
    with pytest.raises(ValueError, match="IMSH"):
        unpack_meshes(b"nope" + blob[4:])


def test_colour_runs_and_wide_ids_round_trip() -> None:
    rgb = np.array([[1, 2, 3]] * 4 + [[250, 0, 7]] * 2 + [[1, 2, 3]], np.uint8)
    runs = colour_runs(rgb)
    assert runs.tolist() == [4, 0x010203, 2, 0xFA0007, 1, 0x010203]
    big = pv.Plane(i_resolution=300, j_resolution=300).triangulate()  # 90,601 points: 32-bit ids
    big.cell_data["rgb"] = np.tile(rgb[:1], (big.n_cells, 1))
    arrays = MeshArrays(big, normals=False)
    assert "tris32" in arrays.arrays and arrays.arrays["rgbRuns"].size == 2
    got = expand_mesh(unpack_meshes(pack_meshes(1, {arrays.hash: arrays}, []))["meshes"][arrays.hash])
    assert np.array_equal(got["polys"].astype(np.int64), big.faces)
    assert (got["rgb"] == [1, 2, 3]).all() and len(got["rgb"]) == big.n_cells


def test_equal_meshes_share_a_hash_and_a_change_changes_it() -> None:
    s1, s2 = pv.Sphere(), pv.Sphere()
    assert MeshArrays(s1, True).hash == MeshArrays(s2, True).hash
    s2.points[0] += 0.5
    assert MeshArrays(s1, True).hash != MeshArrays(s2, True).hash


@pytest.fixture
def scene(face_model):
    s = Scene(face_model, window_size=(200, 150))
    yield s
    s.close()


def _glyph(face_model, dx: float) -> PointGlyph:
    entry = np.asarray(face_model.landmarks["glabella"], float) + np.array([dx, 20.0, 0.0])
    tip = entry - np.array([0.0, 0.0, 3.0])
    return PointGlyph("p", tuple(entry), tuple(tip), 4.0, 9.0, "caution")


def test_a_moved_point_sends_only_its_own_meshes(scene, face_model) -> None:
    canvas = SceneCanvas()
    canvas.publish(scene.plotter.renderer.actors)
    first = unpack_meshes(canvas.meshes)["meshes"]
    drawn = {a["mesh"] for a in canvas.scene["actors"] if a["visible"]}
    assert drawn == set(first)  # the first update carries exactly the visible meshes
    assert any(a["id"] == "group_skin" and a["smooth"] for a in canvas.scene["actors"] if a["visible"])
    scene.set_points([_glyph(face_model, 0.0)])
    canvas.publish(scene.plotter.renderer.actors)
    second = unpack_meshes(canvas.meshes)["meshes"]
    assert second and not set(second) & set(first)  # only the point's tip, needle and spheres
    assert canvas.last_update_bytes < 0.05 * sum(
        sum(arr.nbytes for arr in m.values()) for m in first.values())
    seq = canvas.scene["seq"]
    canvas.publish(scene.plotter.renderer.actors)  # nothing changed: no mesh travels, only the (same) description
    assert canvas.scene["seq"] == seq + 1 and canvas.last_update_bytes == 0
    colours = {a["id"]: a for a in canvas.scene["actors"]}
    assert colours["tip_caution"]["visible"] and not colours["tip_danger"]["visible"]


def test_a_hidden_layer_travels_once_and_a_new_page_gets_everything(scene) -> None:
    canvas = SceneCanvas()
    scene.set_layer("bone", visible=True)
    canvas.publish(scene.plotter.renderer.actors)
    bone = next(a["mesh"] for a in canvas.scene["actors"] if a["id"] == "group_bone")
    scene.set_layer("bone", visible=False)
    canvas.publish(scene.plotter.renderer.actors)
    assert next(a for a in canvas.scene["actors"] if a["id"] == "group_bone")["visible"] is False
    scene.set_layer("bone", visible=True)
    canvas.publish(scene.plotter.renderer.actors)
    assert canvas.last_update_bytes == 0  # the browser still holds the bone mesh
    assert next(a["mesh"] for a in canvas.scene["actors"] if a["id"] == "group_bone") == bone
    # a page opened now (a new Bokeh model) starts with an empty store: it gets every visible mesh
    canvas.get_root()
    blob = unpack_meshes(canvas.meshes)
    assert blob["seq"] == canvas.scene["seq"]
    assert {a["mesh"] for a in canvas.scene["actors"] if a["visible"]} <= set(blob["meshes"])


def test_meshes_out_of_the_scene_are_dropped_oldest_first(face_model, scene) -> None:
    canvas = SceneCanvas()
    dropped: list[str] = []
    for i in range(HELD_SPARE + 10):
        scene.set_points([_glyph(face_model, 0.1 * i)])
        canvas.publish(scene.plotter.renderer.actors)
        dropped += unpack_meshes(canvas.meshes)["drop"]
    assert dropped  # the browser is told which meshes to forget
    in_scene = {a["mesh"] for a in canvas.scene["actors"] if a["mesh"]}
    assert not set(dropped) & in_scene
    assert len(canvas._held) <= len(in_scene) + HELD_SPARE


def test_spare_meshes_are_bounded_in_bytes_too(scene, monkeypatch) -> None:
    import injectmap.viewer.scene_canvas as sc

    monkeypatch.setattr(sc, "HELD_SPARE_BYTES", 3_000_000)
    canvas = SceneCanvas()
    dropped: list[str] = []
    for pos in (-20.0, -10.0, 0.0, 10.0, 20.0):  # each cut position clips every shown layer again
        scene.set_cut("coronal", pos)
        canvas.publish(scene.plotter.renderer.actors)
        dropped += unpack_meshes(canvas.meshes)["drop"]
    in_scene = {a["mesh"] for a in canvas.scene["actors"] if a["mesh"]}
    spare = set(canvas._held) - in_scene
    assert dropped and sum(canvas._sizes[h] for h in spare) <= 3_000_000
    assert in_scene <= set(canvas._held)  # what is drawn is never dropped


def test_browser_messages_pick_and_camera_are_checked() -> None:
    canvas = SceneCanvas()
    picks: list[np.ndarray] = []
    cams: list[dict] = []
    drags: list[np.ndarray] = []
    canvas.on_pick, canvas.on_camera, canvas.on_drag = picks.append, cams.append, drags.append
    canvas._handle_msg({"drag": [4.0, 5.0, 6.0]})
    canvas._handle_msg({"drag": "far"})
    assert len(drags) == 1 and np.allclose(drags[0], [4, 5, 6])
    canvas._handle_msg({"pick": [1.0, 2.0, 3.0]})
    canvas._handle_msg({"pick": ["x"]})  # not a point: ignored
    canvas._handle_msg({"pick": [1.0, float("nan"), 3.0]})
    canvas._handle_msg({"camera": {"position": [0, 0, 300], "focalPoint": [0, 0, 0], "viewUp": [0, 1, 0]}})
    canvas._handle_msg({"camera": {"position": [0, 0]}})
    assert len(picks) == 1 and np.allclose(picks[0], [1, 2, 3])
    assert cams == [{"position": [0.0, 0.0, 300.0], "focalPoint": [0.0, 0.0, 0.0], "viewUp": [0.0, 1.0, 0.0]}]
    canvas.set_camera(cams[0])
    first = canvas.camera
    canvas.set_camera(cams[0])  # the same view again is still a change the browser sees
    assert canvas.camera != first and canvas.camera["position"] == [0.0, 0.0, 300.0]


def test_the_drag_handle_is_named_with_the_skin_point_it_stands_on(scene, face_model) -> None:
    canvas = SceneCanvas()
    g = _glyph(face_model, 0.0)
    scene.set_points([g], selected="p")
    canvas.publish(scene.plotter.renderer.actors, handle="selected", anchor_mm=g.entry_mm)
    handle = canvas.scene["handle"]
    assert handle["id"] == "selected" and np.allclose(handle["anchor"], g.entry_mm, atol=1e-3)
    drawn = {a["id"]: a for a in canvas.scene["actors"]}
    assert drawn["selected"]["visible"] and not drawn["selected"]["pickable"]  # clicks go to the skin
    canvas.publish(scene.plotter.renderer.actors)  # nothing selected: no handle
    assert "handle" not in canvas.scene


def test_a_press_picked_twice_places_once() -> None:
    """A pick message that arrives twice (the same press of the same page) is handled once."""
    canvas = SceneCanvas()
    picks: list[np.ndarray] = []
    canvas.on_pick = picks.append
    msg = {"pick": [1.0, 2.0, 3.0], "press": 1, "page": "a"}
    canvas._handle_msg(msg)
    canvas._handle_msg(dict(msg))
    assert len(picks) == 1
    canvas._handle_msg({**msg, "press": 2})  # the next press
    canvas._handle_msg({**msg, "page": "b"})  # press 1 of another page
    assert len(picks) == 3
    for n in range(3, 3 + PRESSES_KEPT + 10):  # the memory is bounded
        canvas._handle_msg({**msg, "press": n})
    assert len(canvas._presses) == PRESSES_KEPT
    canvas._handle_msg({**msg, "press": 3 + PRESSES_KEPT + 9})  # the newest is remembered
    assert len(picks) == 3 + PRESSES_KEPT + 10
