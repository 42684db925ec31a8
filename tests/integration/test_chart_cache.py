"""What the chart on the photo keeps between charts (reports/chart_cache.py): the kept depth buffer, zone bands
and photo with the bands drawn give the chart the uncached code draws, to the byte, for two cameras and two
faces; a different camera, face, zones flag or photo is never given another's entry; the cache stays bounded,
is safe across threads, and forgets a patient's face.

The cameras are portraits of each face as the synthetic patients' (``anatomy.fit.synthetic.make_patient``:
``Camera.portrait`` 650 mm away, a 50 mm lens), in the built face's frame; the photo is a generated picture of
the camera's size rather than a render (12 s): what is compared is the same either way, the chart drawn on it.
"""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from injectmap.anatomy.fit.camera import Camera
from injectmap.reports import chart_cache
from injectmap.reports.photo_chart import chart_layout, chart_on_photo, draw_chart

pytestmark = pytest.mark.slow

SIZE = (360, 480)  # small photos: the drawing is most of a chart's time


@pytest.fixture(autouse=True)
def empty_cache() -> Any:
    chart_cache.clear()
    yield
    chart_cache.clear()


def _analysed(model: Any, n: int = 40) -> Any:
    from injectmap.planning.bench import _plan, _points
    from injectmap.planning.check import check_plan
    from injectmap.planning.plan import parse_plan

    return check_plan(parse_plan(_plan(model, _points(model, n))), model)


def _camera(model: Any, yaw_deg: float, size: tuple[int, int] = SIZE) -> Camera:
    return Camera.portrait(np.asarray(model.skin.points), size[0], size[1], 650.0, 50.0, yaw_deg, 4.0)


def _photo(size: tuple[int, int] = SIZE, seed: int = 0) -> np.ndarray:
    """A skin-toned gradient with some grain, (h, w, 3) uint8."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([200 - 60 * yy / h, 160 - 40 * xx / w, 130 + 30 * (xx + yy) / (w + h)], axis=2)
    grain = np.random.default_rng(seed).integers(-12, 13, size=(h, w, 3))
    return np.clip(base + grain, 0, 255).astype(np.uint8)


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def default_face(model: Any) -> dict[str, Any]:
    return {"model": model, "result": _analysed(model), "cameras": [_camera(model, 0.0), _camera(model, 25.0)]}


@pytest.fixture(scope="module")
def male_face() -> dict[str, Any]:
    from injectmap.anatomy.model import load_model

    m = load_model(sex=1.0)
    return {"model": m, "result": _analysed(m), "cameras": [_camera(m, 0.0), _camera(m, 25.0)]}


def _uncached(face: dict[str, Any], cam: Camera, photo: np.ndarray, zones: bool = True) -> tuple[Any, bytes]:
    lay = chart_layout(cam, face["model"], face["result"], zones=zones, cache=False)
    return lay, _png(draw_chart(photo, lay, cache=False))


@pytest.mark.variants
def test_the_kept_chart_is_the_uncached_one_for_two_cameras_and_two_faces(default_face: dict[str, Any],
                                                                          male_face: dict[str, Any]) -> None:
    photo = _photo()
    cases = [(face, cam) for face in (default_face, male_face) for cam in face["cameras"]]
    truth = [_uncached(face, cam, photo) for face, cam in cases]
    assert chart_cache.info()["geometry"] == chart_cache.info()["images"] == 0, "cache=False keeps nothing"
    assert len({png for _, png in truth}) == 4 and all(lay.zones and lay.marks for lay, _ in truth)
    for rnd in range(2):  # the first round fills the cache, the second is served from it, all four kept side by side
        for (face, cam), (lay0, png0) in zip(cases, truth, strict=True):
            lay = chart_layout(cam, face["model"], face["result"])
            assert lay == lay0  # every mark and band, every coordinate and width, exactly
            assert [m.entry_px for m in lay.marks] == [m.entry_px for m in lay0.marks]
            assert [z.runs for z in lay.zones] == [z.runs for z in lay0.zones]
            assert _png(draw_chart(photo, lay)) == png0
            assert _png(chart_on_photo(photo, cam, face["model"], face["result"])) == png0
        info = chart_cache.info()
        if rnd == 0:
            assert info["geometry_misses"] == 8 and info["image_misses"] == 4  # (seeing, bands) x 4; 4 pictures
        else:
            assert info["geometry_misses"] == 8 and info["geometry_hits"] == 8 + 16
    # the pictures: the last MAX_IMAGES (3) of the 4 are kept (four photos in turn through three places: each drawn
    # again in the second round, then given back to chart_on_photo)
    assert chart_cache.info()["images"] == chart_cache.MAX_IMAGES


def test_a_different_camera_face_zones_flag_or_photo_is_never_given_anothers_entry(default_face: dict[str, Any]) -> None:
    model, result = default_face["model"], default_face["result"]
    cam, photo = default_face["cameras"][0], _photo()
    chart_layout(cam, model, result)
    draw_chart(photo, chart_layout(cam, model, result))
    # each of the camera's parameters changed alone: another key, and the layout that camera gives
    others = [Camera(cam.focal_px * (1 + 1e-9), cam.width, cam.height, cam.r, cam.t),
              Camera(cam.focal_px, cam.width + 2, cam.height, cam.r, cam.t),
              Camera(cam.focal_px, cam.width, cam.height - 2, cam.r, cam.t),
              Camera(cam.focal_px, cam.width, cam.height, cam.r @ _yaw(1.0), cam.t),
              Camera(cam.focal_px, cam.width, cam.height, cam.r, cam.t + np.array([1.0, 0.0, 0.0]))]
    keys = {chart_cache.camera_key(c) for c in [cam, *others]}
    assert len(keys) == 6
    assert chart_cache.camera_key(Camera(cam.focal_px, cam.width, cam.height, cam.r.copy(), cam.t.copy())) in keys
    for other in others:
        misses = chart_cache.info()["geometry_misses"]
        assert chart_layout(other, model, result) == chart_layout(other, model, result, cache=False)
        assert chart_cache.info()["geometry_misses"] == misses + 2
    # the zones flag: no bands without it (though they are kept), the kept bands with it
    bare = chart_layout(cam, model, result, zones=False)
    assert bare.zones == () and bare == chart_layout(cam, model, result, zones=False, cache=False)
    assert chart_layout(cam, model, result) == chart_layout(cam, model, result, cache=False)
    # a face of the same name built from other inputs, or another name with the same inputs: other keys
    face = chart_cache.face_key(model)
    assert face == (model.name, model.sha256)
    assert chart_cache.face_key(SimpleNamespace(name=model.name, sha256="0" * 64)) != face
    assert chart_cache.face_key(SimpleNamespace(name="sex1.00", sha256=model.sha256)) != face
    assert chart_cache.face_key(SimpleNamespace()) is None and chart_cache.face_key(SimpleNamespace(name="x")) is None
    # a photo one pixel different: its own picture
    lay = chart_layout(cam, model, result)
    changed = photo.copy()
    changed[10, 10] ^= 1
    hits = chart_cache.info()["image_hits"]
    assert _png(draw_chart(changed, lay)) == _png(draw_chart(changed, lay, cache=False))
    assert chart_cache.info()["image_hits"] == hits


@pytest.mark.variants
def test_another_face_with_the_same_camera_is_not_given_the_first_faces_entry(default_face: dict[str, Any],
                                                                             male_face: dict[str, Any]) -> None:
    cam, photo = default_face["cameras"][0], _photo()
    draw_chart(photo, chart_layout(cam, default_face["model"], default_face["result"]))
    m, r = male_face["model"], male_face["result"]
    lay = chart_layout(cam, m, r)
    assert lay == chart_layout(cam, m, r, cache=False)
    assert lay != chart_layout(cam, default_face["model"], r, cache=False)
    assert _png(draw_chart(photo, lay)) == _png(draw_chart(photo, lay, cache=False))


def _yaw(deg: float) -> np.ndarray:
    from injectmap.anatomy.fit.camera import rotation

    return rotation(yaw_deg=deg)


def test_the_cache_stays_bounded(default_face: dict[str, Any]) -> None:
    lru: chart_cache.BoundedLRU[int] = chart_cache.BoundedLRU(3)
    for i in range(10):
        lru.put(i, i)
        assert len(lru) <= 3
    assert lru.get(9) == 9 and lru.get(0) is None
    lru.get(7)
    lru.put(10, 10)  # 8 was the least recently used
    assert lru.get(8) is None and lru.get(7) == 7
    with pytest.raises(ValueError):
        chart_cache.BoundedLRU(0)
    model, result = default_face["model"], default_face["result"]
    cam = default_face["cameras"][0]
    for k in range(chart_cache.MAX_GEOMETRY + 3):
        c = Camera(cam.focal_px, cam.width, cam.height, cam.r @ _yaw(0.5 * k), cam.t)
        chart_layout(c, model, result, zones=k % 2 == 0)
        assert len(chart_cache.GEOMETRY) <= chart_cache.MAX_GEOMETRY
    lay = chart_layout(cam, model, result)
    for seed in range(chart_cache.MAX_IMAGES + 2):
        draw_chart(_photo(seed=seed), lay)
        assert len(chart_cache.IMAGES) <= chart_cache.MAX_IMAGES
    assert chart_cache.info()["images"] == chart_cache.MAX_IMAGES
    chart_cache.clear()
    assert chart_cache.info() == {"geometry": 0, "geometry_hits": 0, "geometry_misses": 0, "images": 0,
                                  "image_hits": 0, "image_misses": 0}


def test_charts_drawn_on_several_threads_at_once_are_the_uncached_ones(default_face: dict[str, Any]) -> None:
    model, result, photo = default_face["model"], default_face["result"], _photo()
    truth = {i: _uncached(default_face, cam, photo)[1] for i, cam in enumerate(default_face["cameras"])}
    got: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(2):
                cam = default_face["cameras"][i % 2]
                got.append((i % 2, _png(chart_on_photo(photo, cam, model, result))))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 8
    assert all(png == truth[i] for i, png in got)


def test_forgetting_a_patients_face_drops_its_entries_and_every_kept_picture(default_face: dict[str, Any]) -> None:
    model, result, cam = default_face["model"], default_face["result"], default_face["cameras"][0]
    draw_chart(_photo(), chart_layout(cam, model, result))
    fitted = SimpleNamespace(name="default-fit-0123456789abcdef", sha256="f" * 64)
    chart_cache.GEOMETRY.put(("seeing", chart_cache.face_key(fitted), chart_cache.camera_key(cam)), (1.0, None))
    assert chart_cache.info()["geometry"] == 3 and chart_cache.info()["images"] == 1
    assert chart_cache.kept_faces() == {model.name, fitted.name}
    with pytest.raises(ValueError):
        chart_cache.forget_face("not a face id")
    assert chart_cache.forget_face("0123456789abcdef" + "0" * 48) == 2  # its entry and the picture
    info = chart_cache.info()
    assert info["geometry"] == 2 and info["images"] == 0  # the default face's entries stay
    assert chart_cache.kept_faces() == {model.name}
    assert chart_cache.forget_face("fedcba9876543210") == 0
    # a photo deleted: every kept picture goes (their keys do not say whose photo), the faces' entries stay
    draw_chart(_photo(), chart_layout(cam, model, result))
    assert chart_cache.forget_pictures() == 1 and chart_cache.info()["images"] == 0
    assert chart_cache.info()["geometry"] == 2


def _while_forgetting(forget: Any, compute: Any) -> tuple[list[Any], threading.Thread]:
    """Start ``compute`` (it blocks on the returned event) in a thread, run ``forget`` while it blocks."""
    started, go = threading.Event(), threading.Event()
    out: list[Any] = []

    def blocked() -> Any:
        started.set()
        assert go.wait(10)
        return "computed"

    t = threading.Thread(target=lambda: out.append(compute(blocked)))
    t.start()
    assert started.wait(10)
    forget()
    go.set()
    t.join(10)
    return out, t


@pytest.mark.parametrize("forget", ["forget_face", "forget_pictures", "clear", "discard_nothing"])
def test_a_value_computed_across_a_forget_is_returned_but_not_kept(forget: str) -> None:
    """A chart drawn while a patient's face or photo is forgotten (another thread deletes the patient) must not
    put its entry back: the caller gets its value, the cache stays without it."""
    fitted = SimpleNamespace(name="default-fit-0123456789abcdef", sha256="f" * 64)
    key = ("seeing", chart_cache.face_key(fitted), ("camera",))
    forgets = {"forget_face": lambda: chart_cache.forget_face("0123456789abcdef"),
               "forget_pictures": chart_cache.forget_pictures, "clear": chart_cache.clear,
               "discard_nothing": lambda: chart_cache.GEOMETRY.discard(lambda _k: True)}
    lru = chart_cache.IMAGES if forget == "forget_pictures" else chart_cache.GEOMETRY
    out, _t = _while_forgetting(forgets[forget], lambda compute: lru.get_or_compute(key, compute))
    assert out == ["computed"]  # the caller has its chart
    assert lru.get(key) is None and fitted.name not in chart_cache.kept_faces()
    assert lru.get_or_compute(key, lambda: "again") == "again" and lru.get(key) == "again"  # kept from then on
    assert lru.put("k", "v", lru.generation - 1) is False and lru.get("k") is None  # a stale put is refused


def test_a_picture_drawn_across_a_forget_is_not_kept(default_face: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``draw_chart`` keeps the photo with the zones drawn: one drawn while the photos are forgotten is not kept."""
    from injectmap.reports import photo_chart

    model, result, cam = default_face["model"], default_face["result"], default_face["cameras"][0]
    layout, photo = chart_layout(cam, model, result), _photo()
    truth = _png(draw_chart(photo, layout, cache=False))
    real = photo_chart._draw_zones
    hold: list[Any] = []

    def drawing(img: Any, lay: Any) -> Any:
        hold[0]()  # blocks until the photos were forgotten
        return real(img, lay)

    monkeypatch.setattr(photo_chart, "_draw_zones", drawing)

    def compute(blocked: Any) -> bytes:
        hold.append(blocked)
        return _png(draw_chart(photo, layout))

    out, _t = _while_forgetting(chart_cache.forget_pictures, compute)
    assert out == [truth] and chart_cache.info()["images"] == 0
