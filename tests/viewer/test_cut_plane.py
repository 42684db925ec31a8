"""A cut plane that removes whole structures still gives the browser a scene it can read."""

from __future__ import annotations

from viewer.scene import Scene
from viewer.vtk_pane import SceneVTK


def test_axial_cut_through_the_face_keeps_every_actor_serialisable(face_model) -> None:
    scene = Scene(face_model, window_size=(200, 150))
    try:
        scene.set_cut("axial", 0.0)  # the forehead structures lie wholly above: cut away entirely
        emptied = [aid for aid, a in scene.actors.items()
                   if a.GetVisibility() and a.mapper.GetInput().n_cells == 0]
        assert emptied, "expected some structure to be cut away completely"
        assert all(scene.actors[aid].mapper.GetInput().GetPoints() is not None for aid in emptied)
        pane = SceneVTK(scene.plotter.ren_win, width=200, height=150)
        root = pane.get_root()  # serialises the scene as Panel sends it to vtk.js
        assert root is not None
    finally:
        scene.close()
