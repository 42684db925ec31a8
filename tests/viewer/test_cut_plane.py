"""A cut plane that removes whole structures still gives the browser a scene it can read."""

from __future__ import annotations

from injectmap.viewer.scene import Scene
from injectmap.viewer.scene_canvas import SceneCanvas, unpack_meshes


def test_axial_cut_through_the_face_keeps_every_actor_serialisable(face_model) -> None:
    scene = Scene(face_model, window_size=(200, 150))
    try:
        forehead = "frontalis_left" if "frontalis_left" in scene.group_of else next(iter(scene.group_of))
        scene.highlight(forehead)
        scene.set_cut("axial", -1000.0)  # below the face: every group mesh (and the highlight) cut away
        emptied = [g for g, a in scene.actors.items()
                   if a.GetVisibility() and a.mapper.GetInput().n_cells == 0]
        assert emptied and len(emptied) == sum(a.GetVisibility() for a in scene.actors.values())
        assert all(scene.actors[g].mapper.GetInput().GetPoints() is not None for g in emptied)
        assert scene.highlight_actor.mapper.GetInput().GetPoints() is not None
        canvas = SceneCanvas(width=200, height=150)
        canvas.publish(scene.plotter.renderer.actors)  # what the browser gets: nothing drawn, nothing broken
        drawn = [a for a in canvas.scene["actors"] if a["visible"]]
        assert drawn == []
        assert canvas.get_root() is not None
        assert unpack_meshes(canvas.meshes)["meshes"] == {} if canvas.meshes else True
    finally:
        scene.close()
