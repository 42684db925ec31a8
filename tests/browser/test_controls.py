"""The scene and plan controls in a real browser: cut plane, camera views, nudge, exports, face."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_support import AppPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DEMO_PLAN = Path(__file__).resolve().parents[2] / "injectmap" / "viewer" / "demo_plan.json"
WAIT_MS = 60_000


def _canvas_image(app: AppPage) -> np.ndarray:
    """The scene canvas as an RGB array (Panel rebuilds the canvas on scene updates: retry)."""
    from PIL import Image

    last: Exception | None = None
    for _ in range(50):
        try:
            app.canvas().wait_for(state="visible", timeout=WAIT_MS)
            png = app.canvas().screenshot(timeout=10_000)
            return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
        except Exception as exc:  # noqa: BLE001 - a canvas replaced mid-screenshot: take it again
            last = exc
            app.page.wait_for_timeout(200)
    raise AssertionError(f"no screenshot of the scene: {last}")


def _settled(app: AppPage) -> np.ndarray:
    """The canvas once two screenshots a moment apart agree (vtk.js has drawn the scene)."""
    img = _canvas_image(app)
    for _ in range(60):
        app.page.wait_for_timeout(250)
        nxt = _canvas_image(app)
        if np.abs(nxt - img).mean() < 0.5:
            return nxt
        img = nxt
    return img


def _wait_for_change(app: AppPage, before: np.ndarray, what: str, threshold: float = 2.0) -> np.ndarray:
    for _ in range(300):
        after = _canvas_image(app)
        if np.abs(after - before).mean() > threshold:
            return after
        app.page.wait_for_timeout(200)
    raise AssertionError(f"{what} did not change the rendered scene")


def _changed(value: int) -> re.Pattern[str]:
    """A counter on the canvas's container once it is no longer ``value`` (it only grows; the page's
    elements are in shadow roots, which a locator reaches and ``document.querySelector`` does not)."""
    return re.compile(rf"^(?!{value}$)\d+$")


def _not_blank(img: np.ndarray) -> bool:
    """More than a background: 5 % of the pixels differ from the most common colour."""
    bg = np.median(img.reshape(-1, 3), axis=0)
    return bool((np.abs(img - bg).sum(axis=2) > 30).mean() > 0.05)


def _slider(app: AppPage, label: str):
    """The slider widget whose title starts with ``label``."""
    return app.page.locator(".bk-panel-models-widgets-FloatSlider, .bk-Slider, .bk-slider").filter(
        has_text=re.compile("^" + re.escape(label))).first


def _drag_slider(app: AppPage, label: str, fraction: float) -> None:
    """Drag the slider's handle to ``fraction`` (0 left end .. 1 right end) of its track."""
    page = app.page
    slider = _slider(app, label)
    slider.wait_for(state="visible", timeout=WAIT_MS)
    slider.scroll_into_view_if_needed()
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-base, .noUi-target").first
    hb, tb = handle.bounding_box(), track.bounding_box()
    assert hb is not None and tb is not None
    x0, y0 = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    x1 = tb["x"] + fraction * tb["width"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, y0, steps=5)
    page.mouse.move(x1, y0, steps=5)
    page.mouse.up()


def _download(app: AppPage, button: str, tmp_path: Path) -> bytes:
    page = app.page
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name=button).click()
    path = tmp_path / (dl.value.suggested_filename or button)
    dl.value.save_as(path)
    return path.read_bytes()


def _errors(app: AppPage) -> list[str]:
    return [e for e in app.errors if "favicon" not in e]


def test_cut_plane_axial_and_slider_change_the_picture(app_page: AppPage) -> None:
    page = app_page.page
    start = _settled(app_page)
    page.get_by_role("button", name="axial", exact=True).click()
    cut = _wait_for_change(app_page, start, "choosing the axial cut")
    cut = _settled(app_page)
    _drag_slider(app_page, "Cut position", 0.3)  # from 0 mm down to about -44 mm
    _wait_for_change(app_page, cut, "moving the cut plane")
    assert not _errors(app_page)


def test_camera_views_change_the_picture(app_page: AppPage) -> None:
    page = app_page.page
    front = _settled(app_page)
    page.get_by_role("button", name="Left", exact=True).click()
    left = _wait_for_change(app_page, front, "the Left view", threshold=4.0)
    left = _settled(app_page)
    page.get_by_role("button", name="Front", exact=True).click()
    back = _wait_for_change(app_page, left, "the Front view", threshold=4.0)
    assert np.abs(back - left).mean() > 4.0
    assert not _errors(app_page)


def test_nudge_moves_the_selected_point(app_page: AppPage, tmp_path: Path) -> None:
    page = app_page.page
    demo = {p["id"]: p for p in json.loads(DEMO_PLAN.read_text())["points"]}
    app_page.plan_rows().filter(has_text="g1").first.click()
    page.locator(".plan-table .tabulator-row.tabulator-selected").filter(has_text="g1").first.wait_for(
        timeout=WAIT_MS)
    page.get_by_text(re.compile(r"Point g1")).first.wait_for(timeout=WAIT_MS)
    page.get_by_role("button", name="Up", exact=True).click()
    # the nudge is an edit of the plan: Undo becomes possible, and the plan file has the new place
    expect(page.get_by_role("button", name="Undo", exact=True)).to_be_enabled(timeout=WAIT_MS)
    plan = json.loads(_download(app_page, "Download plan", tmp_path))
    g1 = next(p for p in plan["points"] if p["id"] == "g1")
    before = demo["g1"]["at"].get("superior_mm", 0.0)
    assert g1["at"]["landmark"] == demo["g1"]["at"]["landmark"]
    assert g1["at"].get("superior_mm", 0.0) == pytest.approx(before + 2.0)  # the step is 2 mm
    assert not _errors(app_page)


def test_exports_png_and_gltf(app_page: AppPage, tmp_path: Path) -> None:
    png = _download(app_page, "Screenshot (PNG)", tmp_path)
    assert len(png) > 1000 and png.startswith(b"\x89PNG\r\n\x1a\n")
    gltf = _download(app_page, "Scene (glTF)", tmp_path)
    assert len(gltf) > 1000
    if gltf.startswith(b"glTF"):  # binary glTF
        assert int.from_bytes(gltf[4:8], "little") == 2
    else:
        doc = json.loads(gltf)
        assert doc["asset"]["version"].startswith("2") and doc["meshes"]
    assert not _errors(app_page)


def test_face_card_applies_a_large_masseter(app_page: AppPage, tmp_path: Path) -> None:
    page = app_page.page
    card = page.locator(".face-panel")
    card.wait_for(state="visible", timeout=WAIT_MS)
    card.scroll_into_view_if_needed()
    _drag_slider(app_page, "Masseter size", 1.2)  # past the right end: +1
    page.get_by_role("button", name="Apply face").click()
    status = page.locator(".face-status")
    status.filter(has_text=re.compile(r"masseter \+1")).first.wait_for(timeout=180_000)
    expect(page.get_by_role("button", name="Apply face")).to_be_enabled(timeout=WAIT_MS)
    expect(page.locator(".face-busy")).to_be_hidden(timeout=WAIT_MS)
    plan = json.loads(_download(app_page, "Download plan", tmp_path))
    assert plan["model"]["shape"]["masseter"] == 1.0
    assert not _errors(app_page)


@pytest.fixture(scope="module")
def g1_drag() -> dict[str, Any]:
    """Canvas pixels of the demo point g1's needle hub (its drag handle) and of a forehead skin point,
    from the camera the app starts with."""
    import pyvista as pv

    from injectmap.viewer.app import create_app, get_model
    from injectmap.viewer.scene import NEEDLE_OUTSIDE_MM, Scene

    pv.OFF_SCREEN = True
    model = get_model()
    app = create_app(model)
    r = app.app_analyst.results["g1"]
    entry, tip = np.asarray(r.entry_mm, float), np.asarray(r.tip_mm, float)
    hub = entry + (entry - tip) / np.linalg.norm(entry - tip) * NEEDLE_OUTSIDE_MM
    target, _n = model.skin_point(np.asarray(model.landmarks["glabella"], float) + np.array([15.0, 18.0, 0.0]))
    cache: dict[tuple[int, int], tuple[tuple[float, float], tuple[float, float]]] = {}

    def pixels(box: dict[str, float]) -> tuple[tuple[float, float], tuple[float, float]]:
        """The hub's and the target's pixels in a canvas of this size (the view fills its column)."""
        size = (int(round(box["width"])), int(round(box["height"])))
        if size not in cache:
            scene = Scene(model, window_size=size)
            scene.set_view("front")
            (hx, hy), (tx, ty) = scene.to_display([hub, target])
            scene.close()
            cache[size] = ((float(hx), float(hy)), (float(tx), float(ty)))
        return cache[size]

    return {"pixels": pixels, "target_mm": [float(v) for v in target], "entry_mm": [float(v) for v in entry]}


def test_dragging_the_selected_point_moves_it_over_the_skin(app_page: AppPage, g1_drag, tmp_path: Path) -> None:
    page = app_page.page
    app_page.page.locator(".plan-table .tabulator-row.tabulator-selected").filter(has_text="g1").first.wait_for(
        timeout=WAIT_MS)  # the demo plan starts with g1 selected: its handle is drawn
    box = app_page.ready_canvas()
    (hx, hy), (tx, ty) = g1_drag["pixels"](box)
    pressed = app_page.press_canvas(hx, hy)
    assert pressed.get("dragging") == "1", f"the press at g1's needle hub did not take its handle: {pressed}"
    page.mouse.move(box["x"] + (hx + tx) / 2, box["y"] + (hy + ty) / 2, steps=4)
    page.mouse.move(box["x"] + tx, box["y"] + ty, steps=4)
    page.mouse.up()
    expect(page.get_by_role("button", name="Undo", exact=True)).to_be_enabled(timeout=WAIT_MS)
    plan = json.loads(_download(app_page, "Download plan", tmp_path))
    g1 = next(p for p in plan["points"] if p["id"] == "g1")
    # g1 now enters the skin where it was let go (a pixel is about 0.4 mm here), at the same depth
    assert "at" not in g1 and np.linalg.norm(np.subtract(g1["entry_mm"], g1_drag["target_mm"])) < 2.5
    assert np.linalg.norm(np.subtract(g1["entry_mm"], g1_drag["entry_mm"])) > 15.0
    assert g1["depth_mm"] == 3 and g1["units"] == 4
    assert not _errors(app_page)


def test_hiding_one_structure_and_showing_every_structure_again(app_page: AppPage) -> None:
    page = app_page.page
    # g1, selected at start, has its tip in the procerus: the structure card shows it with its controls
    page.get_by_text(re.compile(r"^Procerus$")).first.wait_for(timeout=WAIT_MS)
    start = _settled(app_page)
    page.locator(".structure-shown input[type=checkbox]").uncheck()
    hidden = _wait_for_change(app_page, start, "hiding the procerus", threshold=0.08)  # a small muscle
    hidden = _settled(app_page)
    page.get_by_role("button", name="Show every structure").click()
    back = _wait_for_change(app_page, hidden, "showing every structure again", threshold=0.08)
    back = _settled(app_page)
    assert np.abs(back - start).mean() < np.abs(hidden - start).mean() / 3  # the same picture again
    expect(page.locator(".structure-shown input[type=checkbox]")).to_be_checked()
    assert not _errors(app_page)


def test_png_export_shows_the_view_the_user_turned_to(app_page: AppPage, tmp_path: Path) -> None:
    from PIL import Image

    def png() -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(_download(app_page, "Screenshot (PNG)", tmp_path))).convert("RGB"),
                          dtype=float)

    page = app_page.page
    scene = app_page.scene()
    box = app_page.ready_canvas()
    sent = int(scene.get_attribute("data-camera-sent") or 0)  # cameras the canvas sent back so far
    # turn the head by dragging on the background beside it (not on a point's handle); every move turns
    # the camera, and each costs a few frames of about a second here (no GPU): two moves of 100 px
    y = box["height"] / 2
    pressed = app_page.drag_canvas([(60, y), (160, y), (260, y)])
    assert pressed.get("dragging") is None, f"the drag took a point's handle: {pressed}"
    # the canvas sends the camera back once the view is still (0.4 s after a move): wait for it
    app_page.wait_for_canvas(lambda s: int(s.get("cameraSent") or 0) > sent,
                             f"the drag did not turn the view (cameras sent before it: {sent})")
    turned = png()
    frames = int(scene.get_attribute("data-frames") or 0)
    page.get_by_role("button", name="Front", exact=True).click()  # the standard view again
    # the server took the view (its camera) and sent it to the canvas, which drew it
    expect(scene).to_have_attribute("data-frames", _changed(frames), timeout=WAIT_MS)
    front = png()
    assert _not_blank(turned) and _not_blank(front), "the exported PNG shows no head"
    assert front.shape == turned.shape and np.abs(turned - front).mean() > 1.0
    assert not _errors(app_page)
