"""The Expressions card without a browser: the numbers, the skin it moves, and what a slider frame sends.

A frame of the day slider must reach the browser as the skin's new points alone (issue 14): the
canvas's update is one blob whose only mesh is the skin's float32 points, derived from the mesh the
skin drew before, with no new scene.
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from injectmap.planning.protocols import protocol_plan
from injectmap.viewer.app import create_app
from injectmap.viewer.expressions_panel import DAYS, EXPRESSIONS, ExpressionFrames, numbers_html
from injectmap.viewer.scene import Scene, vertex_normals, with_points
from injectmap.viewer.scene_canvas import SceneCanvas, expand_mesh, unpack_meshes


@pytest.fixture(scope="module")
def app(face_model):
    layout = create_app(face_model)
    yield layout
    layout.app_scene.close()


def _open(app, **choice):
    card = app.app_expressions
    card._layout.collapsed = True
    card.param.update(**choice)
    card._layout.collapsed = False  # opening the card computes the choice (at once: no server here)
    return card


def _changes(canvas: SceneCanvas) -> tuple[list[str], object]:
    seen: list[str] = []
    watcher = canvas.param.watch(lambda *events: seen.extend(e.name for e in events),
                                 ["scene", "meshes", "camera", "labels"])
    return seen, watcher


def test_a_slider_frame_sends_only_the_skin_points(app) -> None:
    card = _open(app, expression="frown", day=0)
    canvas = app.app_scene.canvas
    rest = app.app_scene.scene.rest_skin_points
    assert card.last_frame is not None
    # day 0: the face frowns as before treatment; the next day of the slider moves the skin only
    seen, watcher = _changes(canvas)
    card.day_slider.value = 14
    canvas.param.unwatch(watcher)
    assert card.day == 14 and card.last_frame.result.day == 14
    assert seen == ["meshes"], seen  # no scene, no camera, no labels: the blob alone
    assert canvas.last_update_kind == "points"
    blob = unpack_meshes(canvas.meshes)
    assert blob["drop"] == []
    (h, arrays), = blob["meshes"].items()
    assert set(arrays) == {"points"} and arrays["points"].size == rest.size  # float32 points, nothing else
    skin = next(a for a in canvas.scene["actors"] if a["id"] == "group_skin")
    assert blob["actors"] == {"group_skin": h} and skin["mesh"] == h
    assert blob["derived"][h] in canvas._held  # built on a mesh the browser holds
    assert canvas.last_update_bytes < rest.size * 4 + 1000
    # the points are those of the scene's skin, which the exports draw
    assert np.allclose(arrays["points"].reshape(-1, 3), app.app_scene.scene.skin_points, atol=1e-4)


def test_the_numbers_show_the_frown_weakened_and_the_smile_untouched(app) -> None:
    card = _open(app, expression="frown", day=14)
    res = card.last_frame.result
    for side in ("left", "right"):
        assert res.strengths["frown"][side].mid < 0.7  # the demo plan treats the glabella
        assert res.strengths["smile"][side].mid == pytest.approx(1.0)
    text = card.numbers.object
    assert 'data-expression="frown"' in text and "population heuristic" in text
    assert 'data-measure="brow_height_rest_mm"' in text and 'data-measure="smile_corner_excursion_mm"' in text
    assert f"{res.strengths['frown']['left'].mid:.2f}" in text
    # day 0: nothing moves yet
    card.day_slider.value = 0
    assert card.last_frame.result.strengths["frown"]["left"].mid == pytest.approx(1.0)


def test_an_asymmetric_plan_gives_an_asymmetric_face(face_model) -> None:
    scene = Scene(face_model, window_size=(200, 150))
    try:
        frames = ExpressionFrames(face_model, scene.rest_skin_points)
        plan = protocol_plan("glabella_five_point")
        plan["points"] = [p for p in plan["points"] if not p["id"].endswith("right") and "right" not in
                          str(p.get("target", ""))]
        frame = frames.frame(plan, 14, "frown", performing=True, after=True, side_by_side=True)
        s = frame.result.strengths["frown"]
        assert s["left"].mid < s["right"].mid - 0.1
        assert frame.before is not None
        moved = np.linalg.norm(frame.before - frame.main, axis=1)  # the movement the plan takes away
        x = scene.rest_skin_points[:, 0]
        assert moved[x > 5].sum() > 2 * moved[x < -5].sum()  # +x is the subject's left
    finally:
        scene.close()


def test_before_after_and_side_by_side(app) -> None:
    card = _open(app, expression="smile", day=14, compare="before", side_by_side=False)
    view = app.app_scene
    before = view.scene.skin_points.copy()
    card.compare = "after"
    assert not np.allclose(view.scene.skin_points, view.scene.rest_skin_points)  # smiling
    lower = view.scene.rest_skin_points[:, 1] < -20.0  # below the nose (the brows drop a little at rest)
    assert np.allclose(before[lower], view.scene.skin_points[lower], atol=1e-6)  # the smile is left alone
    assert not np.allclose(before, view.scene.skin_points, atol=1e-3)  # the forehead rows lower the brows
    card.expression = "raise brows"
    raised_after = view.scene.skin_points.copy()
    card.compare = "before"
    assert np.abs(view.scene.skin_points - raised_after).max() > 1.0  # the forehead rows weaken the raise
    card.side_by_side = True
    assert view.beside.visible and view.beside.objects == [card.before_canvas]
    assert card.compare == "before"
    assert np.allclose(view.scene.skin_points, raised_after)  # the 3D view: the day; beside it: before
    drawn = {a["id"]: a["mesh"] for a in card.before_canvas.scene["actors"]}
    main = {a["id"]: a["mesh"] for a in view.canvas.scene["actors"]}
    assert drawn["group_skin"] != main["group_skin"]
    assert {k: v for k, v in drawn.items() if k != "group_skin"} == {k: v for k, v in main.items() if k != "group_skin"}
    # one camera: the user turns one canvas, the other follows (and the echo ends there)
    cam = {"position": [300.0, 10.0, 200.0], "focalPoint": [0.0, 0.0, 0.0], "viewUp": [0.0, 1.0, 0.0]}
    card.before_canvas._handle_msg({"camera": cam})
    assert view.canvas.camera["position"] == cam["position"]
    n = view.canvas.camera["n"]
    view.canvas._handle_msg({"camera": cam})  # the echo
    assert view.canvas.camera["n"] == n
    # closing the card brings the face back to rest and the user's skin opacity
    card.side_by_side = False
    card._layout.collapsed = True
    assert view.scene.skin_points is None and not view.beside.visible
    assert app.app_state.layer_opacity["skin"] == pytest.approx(0.35)


def test_every_choice_has_its_expression_and_the_days_are_the_issues() -> None:
    from injectmap.teaching.expressions import expression_names

    assert set(EXPRESSIONS.values()) == {*expression_names(), "all"}
    assert DAYS == (0, 3, 7, 14, 30, 90, 120)


def test_the_numbers_are_escaped_text(app) -> None:
    card = _open(app, expression="all", day=30)
    text = numbers_html(card.last_frame.result, "all")
    assert text.count('class="expr-strength"') == len(EXPRESSIONS) - 1
    assert "<script" not in text


def test_points_with_normals_match_the_browsers_rule() -> None:
    mesh = pv.Sphere(theta_resolution=12, phi_resolution=10).compute_normals()
    moved = with_points(mesh, np.asarray(mesh.points) * np.array([1.0, 2.0, 1.0]))
    tris = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    assert np.allclose(moved.point_data["Normals"], vertex_normals(np.asarray(moved.points), tris))
    assert np.array_equal(np.asarray(moved.faces), np.asarray(mesh.faces))
    # the mesh itself is not touched
    assert np.allclose(mesh.points, pv.Sphere(theta_resolution=12, phi_resolution=10).points)
    got = expand_mesh({"points": np.asarray(moved.points, np.float32).ravel(), "tris16": tris.ravel().astype(np.uint16)})
    assert got["points"].shape == (mesh.n_points, 3)
