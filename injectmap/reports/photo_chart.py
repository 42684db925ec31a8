"""The face chart on the patient's own photo: the plan's points and the danger zones projected with the
camera the photo fit recovered (``*.face.json``'s ``cameras``).

The 3D plan is analysed on the fitted face (``anatomy.model`` built from the face file); each point's
entry is projected onto the photo, a marker coloured by its worst finding (danger, caution, none) with
its id and units beside it in dark text on a white halo. The danger zones are the corridors of the
arteries, nerves and the parotid duct (their mean course widened by the published positional spread,
``anatomy/data/spread/variability.yaml``, and their own radius): each course is carried to the skin
above it (the nearest point of the fitted skin) and drawn as a translucent band where that skin is seen
by the camera (facing it, and not hidden by the nose, a cheek or the brow: a depth buffer of the fitted
skin's points).

This draws pixels: a plan's ids reach the image as glyphs, never as markup. The HTML around it escapes.

The app draws the same photo again whenever the plan's analysis changes: what depends only on the photo, its
camera and the face (the depth buffer, the bands, the photo with the bands drawn) is kept in memory between
charts (``reports/chart_cache.py``: bounded, by value, never on disk); ``cache=False`` computes everything
again, and the chart is the same to the byte.

What a photo can tell: the fit moves the skin surface and the landmarks; the depths and the courses of
the vessels and nerves stay population anatomy placed relative to them (``CAVEAT``).

Example
-------
>>> img = chart_on_photo(photo, camera, model, result)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.fit.camera import Camera
from injectmap.anatomy.fit.facefile import CAVEAT
from injectmap.anatomy.fit.photo import placement_text, scale_text, scale_warnings, settings
from injectmap.anatomy.variability import load_variability
from injectmap.planning.results import OK_COLOUR, PlanResult, Severity
from injectmap.reports.pdf_fonts import FAMILY

__all__ = ["CAVEAT", "ZONE_KINDS", "PhotoChart", "PhotoMark", "ZoneBand", "chart_layout", "chart_on_photo",
           "severity_colour"]

#: the structures whose corridors are drawn as danger zones
ZONE_KINDS = ("artery", "nerve", "duct")
#: a zone band's opacity (0..255)
ZONE_ALPHA = 60
#: the opacity of the mean course's line drawn along the band's middle
COURSE_ALPHA = 210
#: the step along a course at which it is carried to the skin (mm)
ZONE_STEP_MM = 1.5
#: a skin point faces the camera when the cosine of its normal with the direction to the camera exceeds this
FACING_COS = 0.08


def severity_colour(worst: Severity | None) -> str:
    """The marker colour of a point: danger red, caution orange, else (info or none) green, as the scene."""
    if worst is not None and worst > Severity.INFO:
        return worst.colour
    return OK_COLOUR


@dataclass(frozen=True)
class PhotoMark:
    """One point of the plan on the photo."""

    id: str
    units: float
    worst: str  #: "danger", "caution" or "ok"
    colour: str
    entry_px: tuple[float, float]
    visible: bool  #: inside the photo and on the skin the camera sees

    @property
    def text(self) -> str:
        return f"{self.id} {self.units:g} U"


@dataclass(frozen=True)
class ZoneBand:
    """The visible runs of one structure's corridor on the photo."""

    structure: str
    kind: str
    colour: str
    half_width_mm: float
    runs: tuple[tuple[tuple[float, float], ...], ...]  #: polylines in pixels
    widths_px: tuple[tuple[float, ...], ...]  #: the band's width (px) at each vertex of each run


@dataclass(frozen=True)
class PhotoChart:
    """What :func:`chart_on_photo` draws, in the photo's pixels."""

    width: int
    height: int
    marks: tuple[PhotoMark, ...]
    zones: tuple[ZoneBand, ...]
    px_per_mm: float  #: at the face (its median depth)

    def face_box(self, margin: float = 0.35) -> tuple[int, int, int, int]:
        """A box (x0, y0, x1, y1) around the seen marks and zones, widened by ``margin`` of its size and
        clipped to the photo: the part of the photo a page enlarges."""
        pts = [m.entry_px for m in self.marks if m.visible] + [p for z in self.zones for r in z.runs for p in r]
        if not pts:
            return 0, 0, self.width, self.height
        a = np.asarray(pts)
        lo, hi = a.min(axis=0), a.max(axis=0)
        pad = margin * max(hi - lo) + 20
        x0, y0 = max(0, int(lo[0] - pad)), max(0, int(lo[1] - pad))
        return x0, y0, min(self.width, int(np.ceil(hi[0] + pad))), min(self.height, int(np.ceil(hi[1] + pad)))

    def transformed(self, x0: float, y0: float, scale: float, width: int, height: int) -> PhotoChart:
        """The same chart on a crop of the photo from (x0, y0), enlarged ``scale`` times to width x height."""
        def f(p: tuple[float, float]) -> tuple[float, float]:
            return (p[0] - x0) * scale, (p[1] - y0) * scale

        marks = tuple(PhotoMark(m.id, m.units, m.worst, m.colour, f(m.entry_px),
                                m.visible and 0 <= f(m.entry_px)[0] < width and 0 <= f(m.entry_px)[1] < height)
                      for m in self.marks)
        zones = tuple(ZoneBand(z.structure, z.kind, z.colour, z.half_width_mm, tuple(tuple(f(p) for p in r) for r in z.runs),
                               tuple(tuple(w * scale for w in ws) for ws in z.widths_px)) for z in self.zones)
        return PhotoChart(width, height, marks, zones, self.px_per_mm * scale)

    @property
    def hidden(self) -> tuple[str, ...]:
        """The ids of points the photo does not show (turned away, hidden or outside it)."""
        return tuple(m.id for m in self.marks if not m.visible)


class _Sees(Protocol):
    """What a course is tested against: which skin points (with their normals) the photo shows."""

    def seen(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray: ...


class _Visibility:
    """A depth buffer of the fitted skin's points in the photo: a point is seen when no skin lies in front
    of it along its pixel (within a tolerance that grows with the buffer's cell and the surface's slope)."""

    def __init__(self, camera: Camera, skin_points: np.ndarray, px_per_mm: float) -> None:
        from scipy.ndimage import minimum_filter

        self.camera = camera
        self.cell = max(2, int(np.ceil(1.5 * px_per_mm)))  # about 1.5 mm: the refined skin's spacing is ~1 mm
        self.cell_mm = self.cell / px_per_mm
        gh, gw = -(-camera.height // self.cell), -(-camera.width // self.cell)
        z = np.full((gh, gw), np.inf)
        depth = camera.to_camera(skin_points)[:, 2]
        px = camera.project(skin_points)
        ix, iy = np.floor(px[:, 0] / self.cell).astype(int), np.floor(px[:, 1] / self.cell).astype(int)
        ok = (depth > 0) & (ix >= 0) & (iy >= 0) & (ix < gw) & (iy < gh)
        np.minimum.at(z, (iy[ok], ix[ok]), depth[ok])
        # an empty cell between skin points takes its neighbours' nearest depth (never a farther one)
        self.z = np.where(np.isfinite(z), z, minimum_filter(z, size=3, mode="nearest"))
        self.z.flags.writeable = False  # kept for the next chart of this photo (chart_cache): read only

    def seen(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        cam_centre = -self.camera.r.T @ self.camera.t
        to_cam = cam_centre - pts
        to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
        cos = np.einsum("ij,ij->i", np.atleast_2d(normals), to_cam)
        depth = self.camera.to_camera(pts)[:, 2]
        px = self.camera.project(pts)
        gh, gw = self.z.shape
        ix, iy = np.floor(px[:, 0] / self.cell).astype(int), np.floor(px[:, 1] / self.cell).astype(int)
        inside = (px[:, 0] >= 0) & (px[:, 1] >= 0) & (px[:, 0] < self.camera.width) & (px[:, 1] < self.camera.height)
        zbuf = np.full(len(pts), -np.inf)
        zbuf[inside] = self.z[iy[inside], ix[inside]]
        tol = 2.0 + self.cell_mm / np.maximum(cos, 0.25)
        return inside & (cos > FACING_COS) & (depth <= zbuf + tol)


def _px_per_mm(camera: Camera, model: Any) -> float:
    face = np.asarray(model.depth_points_mm)
    face = face[face[:, 2] > np.percentile(face[:, 2], 70)]
    return float(camera.focal_px / np.median(camera.to_camera(face)[:, 2]))


def _resample(line: np.ndarray, step: float) -> np.ndarray:
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return line[:1]
    t = np.linspace(0.0, s[-1], max(2, int(np.ceil(s[-1] / step)) + 1))
    return np.column_stack([np.interp(t, s, line[:, k]) for k in range(3)])


def _zone(model: Any, sid: str, s: Any, vis: _Sees, camera: Camera, half_width: float) -> ZoneBand | None:
    line = np.asarray(s.centreline, dtype=float)
    if line.ndim != 2 or len(line) < 2:
        return None
    pts = _resample(line, ZONE_STEP_MM)
    _, rows = model.skin_tree.query(pts)
    skin, normals = model.depth_points_mm[rows], model.depth_normals[rows]
    seen = vis.seen(skin, normals)
    # the nearest skin points step between the sealed skin's points: smooth them along the course
    if len(skin) >= 5:
        k = np.ones(5) / 5.0
        pad = np.vstack([skin[:1], skin[:1], skin, skin[-1:], skin[-1:]])
        skin = np.column_stack([np.convolve(pad[:, j], k, mode="valid") for j in range(3)])
    px = camera.project(skin)
    depth = camera.to_camera(skin)[:, 2]
    runs, widths = [], []
    start = None
    for i in range(len(pts) + 1):
        on = i < len(pts) and bool(seen[i])
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i - start >= 2:
                runs.append(tuple((float(x), float(y)) for x, y in px[start:i]))
                widths.append(tuple(float(2 * half_width * camera.focal_px / d) for d in depth[start:i]))
            start = None
    if not runs:
        return None
    return ZoneBand(sid, str(s.kind), str(s.colour), half_width, tuple(runs), tuple(widths))


def _seeing(camera: Camera, model: Any, cache: bool) -> tuple[float, _Visibility]:
    """The pixels per mm at the face and the depth buffer of the fitted skin in the photo (kept per face and
    camera: ``reports/chart_cache.py``)."""
    from injectmap.reports import chart_cache

    def compute() -> tuple[float, _Visibility]:
        ppm = _px_per_mm(camera, model)
        return ppm, _Visibility(camera, np.asarray(model.skin.points, dtype=float), ppm)

    face = chart_cache.face_key(model) if cache else None
    key = None if face is None else ("seeing", face, chart_cache.camera_key(camera))
    return chart_cache.GEOMETRY.get_or_compute(key, compute)


def _zone_widths(model: Any) -> tuple[tuple[str, float], ...]:
    """Each drawn structure and its band's half-width (mm): its corridor (the published spread) and radius."""
    var = load_variability()
    out = []
    for sid, s in model.structures.items():
        if s.kind not in ZONE_KINDS or s.centreline is None:
            continue
        corridor = var.corridor_of(sid)
        half = (corridor.corridor_mm if corridor is not None else 0.0) + float(s.radius_mm or 0.0)
        out.append((sid, max(half, 1.0)))
    return tuple(out)


def _bands(camera: Camera, model: Any, vis: _Sees, cache: bool) -> tuple[ZoneBand, ...]:
    """The zone bands of every artery, nerve and the duct (kept per face, camera and half-widths)."""
    from injectmap.reports import chart_cache

    widths = _zone_widths(model)

    def compute() -> tuple[ZoneBand, ...]:
        bands = (_zone(model, sid, model.structures[sid], vis, camera, half) for sid, half in widths)
        return tuple(b for b in bands if b is not None)

    face = chart_cache.face_key(model) if cache else None
    key = None if face is None else ("bands", face, chart_cache.camera_key(camera), widths)
    return chart_cache.GEOMETRY.get_or_compute(key, compute)


def chart_layout(camera: Camera, model: Any, result: PlanResult, *, zones: bool = True,
                 cache: bool = True) -> PhotoChart:
    """Where the chart's marks and zone bands fall on the photo of ``camera`` (no drawing).

    ``model`` is the built fitted face (the frame the camera maps, :func:`facefile.photo_camera`),
    ``result`` the plan's analysis on it (``planning.check.check_plan``). With ``cache`` (the default), the
    depth buffer and the zone bands of this face and camera are kept for the next chart
    (``reports/chart_cache.py``); the layout is the same either way.
    """
    ppm, vis = _seeing(camera, model, cache)
    marks = []
    if result.points:  # every entry at once: where it falls, and whether the photo sees the skin there
        entries = np.array([np.asarray(p.entry_mm, dtype=float) for p in result.points]).reshape(-1, 3)
        _, rows = model.skin_tree.query(entries)
        px = camera.project(entries)
        seen = vis.seen(entries, np.asarray(model.depth_normals[rows], dtype=float))
        for p, (x, y), on in zip(result.points, px, seen, strict=True):
            worst = p.worst
            sev = worst.value if worst is not None and worst > Severity.INFO else "ok"
            marks.append(PhotoMark(p.id, float(p.units), sev, severity_colour(worst), (float(x), float(y)), bool(on)))
    bands = _bands(camera, model, vis, cache) if zones else ()
    return PhotoChart(camera.width, camera.height, tuple(marks), bands, ppm)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _draw_zones(img: Any, layout: PhotoChart) -> Any:
    from PIL import Image, ImageDraw

    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    # each band on its own layer, so that its overlapping segments do not darken; then composited
    for band in layout.zones:
        layer = Image.new("L", img.size, 0)
        d = ImageDraw.Draw(layer)
        for run, widths in zip(band.runs, band.widths_px, strict=True):
            for a, b, w in zip(run[:-1], run[1:], widths[:-1], strict=True):
                d.line([a, b], fill=255, width=max(1, round(w)))
            for (x, y), w in zip(run, widths, strict=True):  # round joints
                r = w / 2
                d.ellipse([x - r, y - r, x + r, y + r], fill=255)
        # the mean course itself: a thin line over the band
        course = max(2, round(0.5 * layout.px_per_mm))
        for run in band.runs:
            d.line(list(run), fill=COURSE_ALPHA, width=course, joint="curve")
        colour = Image.new("RGBA", img.size, (*_rgb(band.colour), 0))
        colour.putalpha(layer.point(lambda v: v if v == COURSE_ALPHA else (ZONE_ALPHA if v else 0)))
        over = Image.alpha_composite(over, colour)
    return Image.alpha_composite(img.convert("RGBA"), over).convert("RGB")


def _place(box: tuple[float, float, float, float], taken: list[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return not any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken)


def _draw_marks(img: Any, layout: PhotoChart, labels: bool) -> Any:
    from PIL import ImageDraw

    from injectmap.reports.figures import _font

    d = ImageDraw.Draw(img)
    short = min(layout.width, layout.height)
    r = max(3.0, short / 130)
    font_px = max(10, round(short / 48))
    font = _font(font_px, bold=True)
    halo = max(2, font_px // 6)
    seen = [m for m in layout.marks if m.visible]
    taken = [(m.entry_px[0] - r, m.entry_px[1] - r, m.entry_px[0] + r, m.entry_px[1] + r) for m in seen]
    for m in seen:
        x, y = m.entry_px
        d.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], fill=(255, 255, 255))
        d.ellipse([x - r, y - r, x + r, y + r], fill=_rgb(m.colour), outline=(20, 20, 20), width=1)
    if not labels:
        return img
    for m in seen:
        x, y = m.entry_px
        w = d.textlength(m.text, font=font) + 2 * halo
        h = font_px + 2 * halo
        options = []
        for k in (1.0, 2.2, 3.6, 5.2):  # beside the marker first, then farther out with a leader line
            gap = k * (r + halo + 1)
            options += [(x + gap, y - h / 2), (x - gap - w, y - h / 2), (x - w / 2, y - gap - h * k),
                         (x - w / 2, y + gap + h * (k - 1)), (x + gap, y - h * k), (x + gap, y + h * (k - 1)),
                         (x - gap - w, y - h * k), (x - gap - w, y + h * (k - 1))]
        inside = [o for o in options if 0 <= o[0] and o[0] + w <= layout.width and 0 <= o[1] and o[1] + h <= layout.height]
        pick = next((o for o in inside if _place((o[0], o[1], o[0] + w, o[1] + h), taken)), (inside or options)[0])
        taken.append((pick[0], pick[1], pick[0] + w, pick[1] + h))
        cx = min(max(x, pick[0]), pick[0] + w)
        cy = min(max(y, pick[1]), pick[1] + h)
        if np.hypot(cx - x, cy - y) > 2.5 * r + halo:
            d.line([(x, y), (cx, cy)], fill=(255, 255, 255), width=3)
            d.line([(x, y), (cx, cy)], fill=(17, 17, 17), width=1)
            d.ellipse([x - r, y - r, x + r, y + r], fill=_rgb(m.colour), outline=(20, 20, 20), width=1)
        d.text((pick[0] + halo, pick[1] + halo), m.text, font=font, fill=(17, 17, 17),
               stroke_width=halo, stroke_fill=(255, 255, 255))
    return img


def _zones_key(pixels: np.ndarray, layout: PhotoChart) -> str:
    """The SHA-256 of what :func:`_draw_zones` draws from: the photo's pixels, every band's every coordinate
    and width, the course's width (from the px/mm) and the opacities. The bands are hashed as their pickle
    (17 times faster than their repr): equal pickles are equal bands; equal bands built with other sharing
    of their strings could pickle otherwise, which only draws them again."""
    import hashlib
    import pickle

    from injectmap.reports.chart_cache import pixels_sha256

    h = hashlib.sha256(pixels_sha256(pixels).encode())
    h.update(pickle.dumps((ZONE_ALPHA, COURSE_ALPHA, layout.width, layout.height, layout.px_per_mm, layout.zones),
                          protocol=5))
    return h.hexdigest()


def draw_chart(photo: np.ndarray, layout: PhotoChart, *, labels: bool = True, cache: bool = True) -> np.ndarray:
    """Draw a computed :class:`PhotoChart` on the photo (RGB, same size).

    With ``cache`` (the default), the photo with the zones drawn is kept in memory for the next chart of the
    same photo and bands (a few, keyed by the SHA-256 of the pixels and the bands: ``reports/chart_cache.py``);
    the picture is the same either way."""
    from PIL import Image

    from injectmap.reports.chart_cache import IMAGES

    pixels = np.ascontiguousarray(photo[..., :3], dtype=np.uint8)
    img = Image.fromarray(pixels, "RGB")
    if layout.zones:
        if cache:
            key = _zones_key(pixels, layout)
            generation = IMAGES.generation  # a photo forgotten while drawing: its picture is not kept
            kept = IMAGES.get(key)
            if kept is None:
                img = _draw_zones(img, layout)
                IMAGES.put(key, (img.size, img.tobytes()), generation)
            else:
                img = Image.frombytes("RGB", kept[0], kept[1])
        else:
            img = _draw_zones(img, layout)
    img = _draw_marks(img, layout, labels)
    return np.asarray(img, dtype=np.uint8)


def enlarged_chart(photo: np.ndarray, layout: PhotoChart, *, labels: bool = True, size: int = 900) -> np.ndarray:
    """The chart on the part of the photo around the face (:meth:`PhotoChart.face_box`), enlarged so its
    longer side is ``size`` px (never shrunk): a page's picture of a photo where the face is small."""
    from PIL import Image

    x0, y0, x1, y1 = layout.face_box()
    scale = max(1.0, size / max(x1 - x0, y1 - y0))
    w, h = round((x1 - x0) * scale), round((y1 - y0) * scale)
    crop = Image.fromarray(np.ascontiguousarray(photo[y0:y1, x0:x1, :3], dtype=np.uint8), "RGB")
    big = np.asarray(crop.resize((w, h), Image.Resampling.LANCZOS))
    return draw_chart(big, layout.transformed(x0, y0, scale, w, h), labels=labels)


def chart_on_photo(photo: np.ndarray, camera: Camera, model: Any, result: PlanResult, *, zones: bool = True,
                   labels: bool = True, cache: bool = True) -> np.ndarray:
    """The plan charted on the patient's photo: an (h, w, 3) uint8 RGB image of the photo's size.

    Parameters
    ----------
    photo : (h, w, 3) uint8
        The photo the face was fitted to (the camera's width and height).
    camera : Camera
        That photo's camera in the built face's frame (:func:`facefile.photo_camera`).
    model : FaceModel
        The built fitted face.
    result : PlanResult
        The plan's analysis on ``model``.
    zones : bool
        Draw the arteries', nerves' and duct's corridors where the photo sees the skin above them.
    labels : bool
        Write each point's id and units beside its marker.
    cache : bool
        Keep what this photo, camera and face give (the depth buffer, the bands, the photo with the bands
        drawn) in memory for the next chart of the same photo (``reports/chart_cache.py``): the picture is
        the same, to the byte, as without.
    """
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] < 3:
        raise ValueError("the photo must be an (h, w, 3) RGB image")
    if (photo.shape[1], photo.shape[0]) != (camera.width, camera.height):
        raise ValueError(f"the photo is {photo.shape[1]}x{photo.shape[0]} px, its camera "
                         f"{camera.width}x{camera.height}: not the photo the face was fitted to")
    return draw_chart(photo, chart_layout(camera, model, result, zones=zones, cache=cache), labels=labels,
                      cache=cache)


def legend(layout: PhotoChart) -> Sequence[tuple[str, str]]:
    """(colour, words) of what the chart shows, for the page around it."""
    out = [(Severity.DANGER.colour, "point with a danger finding"), (Severity.CAUTION.colour, "point with a caution"),
           (OK_COLOUR, "point without a caution or danger")]
    kinds = {"artery": "arteries' corridors", "nerve": "nerves' corridors", "duct": "the parotid duct's corridor"}
    seen: dict[str, str] = {}
    for z in layout.zones:
        seen.setdefault(z.kind, z.colour)
    out += [(c, kinds[k]) for k, c in seen.items() if k in kinds]
    return out


# -- the report's first page ------------------------------------------------------------------------
class PhotoChartError(UserFacing, ValueError):
    """A photo that cannot be charted for this plan (the message says why)."""


@dataclass(frozen=True)
class PhotoInput:
    """A photo read for charting: its pixels, the camera its face file keeps for it, and the face file."""

    image: np.ndarray
    camera: Camera
    face: Any  #: anatomy.fit.facefile.FaceFile
    role: str


def read_rgb(path: Any) -> np.ndarray:
    """A photo file as (h, w, 3) uint8 RGB, its EXIF orientation applied (as the fit read it): the one photo
    reader (``photo_io.read_photo``, with its formats and pixel limit)."""
    from injectmap.reports.photo_io import read_photo

    return read_photo(path).rgb


def photo_input(photo_path: Any, face_path: Any) -> PhotoInput:
    """Read a photo for the face file ``face_path``: its SHA-256 must be one of the face's sources with a
    kept camera, else :class:`PhotoChartError` (never the photo's path or name in the message: it may
    name the patient)."""
    from pathlib import Path

    from injectmap.anatomy.basehead import file_sha256
    from injectmap.anatomy.fit import facefile

    try:
        face = facefile.read(Path(face_path))
    except FileNotFoundError:
        raise PhotoChartError(f"the face file {Path(face_path).name!r} was not found") from None
    try:
        sha = file_sha256(Path(photo_path))
    except OSError as exc:
        raise PhotoChartError(f"the photo cannot be read ({exc.strerror or type(exc).__name__})") from None
    if sha not in {s.get("sha256") for s in face.sources}:
        raise PhotoChartError("the photo is not one the face was fitted to (its SHA-256 matches none of the face "
                              "file's sources): chart only on the photo the face was fitted to, or fit this photo "
                              "with injectmap face fit")
    camera = facefile.photo_camera(face, sha)
    if camera is None:
        raise PhotoChartError("the face file keeps no camera for this photo (written before cameras were kept): "
                              "fit the photo again with injectmap face fit")
    from injectmap.reports.photo_io import PhotoError

    try:
        image = read_rgb(Path(photo_path))
    except PhotoError as exc:
        raise PhotoChartError(f"the photo cannot be used: {exc}") from None
    except OSError as exc:
        raise PhotoChartError(f"the photo cannot be read ({exc.strerror or type(exc).__name__})") from None
    if (image.shape[1], image.shape[0]) != (camera.width, camera.height):
        raise PhotoChartError("the photo's size differs from the one the face was fitted to")
    role = next((str(c.get("role", "")) for c in face.cameras if c["sha256"] == sha), "")
    return PhotoInput(image, camera, face, role)


def write_private_png(path: Any, image: np.ndarray) -> None:
    """Write the chart (a patient's photo) as a PNG, owner-only (0600), atomically."""
    import io

    from PIL import Image

    from injectmap.anatomy.fileio import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue(), mode=0o600)


@dataclass(frozen=True)
class PhotoPage:
    """The report's first page: the chart on the photo, the fit's residuals and what a photo can tell."""

    png: bytes
    role: str
    residuals_mm: dict[str, float]
    scale: dict[str, float]
    legend: tuple[tuple[str, str], ...]
    hidden: tuple[str, ...]

    title = "The plan on the patient's photo"

    @property
    def residual_text(self) -> str:
        r = self.residuals_mm
        if not r:
            return "The face file records no residuals."
        text = (f"Fit to this photo: the face's landmarks lie a median {r.get('median', 0):.1f} mm from the photo's "
                f"(90th percentile {r.get('p90', 0):.1f} mm, largest {r.get('max', 0):.1f} mm, measured at the face).")
        if self.scale:
            text += " " + scale_text(self.scale)
            text += "".join(f" Check: {w}." for w in scale_warnings(self.scale))
        return text

    @property
    def caveat_lines(self) -> tuple[str, ...]:
        lines = [
            "What a photo can tell: the skin surface and the landmarks (brows, eyes, nose, mouth, the outline). "
            "The fit moved the face's surface to them; the points are drawn where their entry lies on that fitted "
            "surface.",
            "What a photo cannot tell: depth, the layers under the skin, and where this patient's arteries, nerves "
            "and duct run. The bands drawn are population anatomy: each structure's mean course widened by its "
            "published spread (about two people in three lie inside), placed relative to the fitted surface. "
            "They are not seen in this patient.",
            (f"The absolute size rests on the patient's measured interpupillary distance (a measurement's spread "
             f"about {settings()['interpupillary_distance_mm']['measurement_sd']:g} mm)" if "ipd_mm" in self.scale else
             "The absolute size rests on one population number (the iris diameter, SD about 3.6 %)")
            + "; an expression "
            "in the photo (a smile) is fitted as shape.",
            CAVEAT,
            placement_text(),
        ]
        if self.hidden:
            lines.append("Not on this photo (on skin turned away or hidden from the camera): "
                         + ", ".join(self.hidden) + ".")
        return tuple(lines)


def photo_page(photo: PhotoInput, model: Any, result: PlanResult, *, zones: bool = True, size: int = 900) -> PhotoPage:
    """The first page's content: the chart enlarged around the face, with the face file's numbers."""
    import io

    from PIL import Image

    layout = chart_layout(photo.camera, model, result, zones=zones)
    img = enlarged_chart(photo.image, layout, size=size)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    res = {k: float(v) for k, v in photo.face.residuals_mm.items() if k in ("median", "p90", "max")}
    sc = photo.face.scale
    # a face file's numbers, as far as they are numbers (an edited or damaged file's others are left out)
    scale = {k: float(v) for k, v in sc.items()
             if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)}
    return PhotoPage(buf.getvalue(), photo.role, res, scale, tuple(legend(layout)), layout.hidden)


def page_html(page: PhotoPage) -> str:
    """The first page as an HTML section (every text escaped; the picture inlined)."""
    import base64
    import html

    e = html.escape
    legend_html = "".join(f'<li><span class="swatch" style="background:{e(c)}"></span>{e(t)}</li>' for c, t in page.legend)
    caveat = "".join(f"<li>{e(line)}</li>" for line in page.caveat_lines)
    src = base64.b64encode(page.png).decode()
    return (f'<section id="photo-chart" class="photo-chart"><h2>{e(page.title)}</h2>'
            f'<figure><img class="picture" alt="{e(page.title)}" src="data:image/png;base64,{src}">'
            f"<figcaption>The {e(page.role or 'front')} photo, enlarged around the face. Dots: each point's entry, "
            "coloured by its worst finding, with its id and units.</figcaption></figure>"
            f'<ul class="legend">{legend_html}</ul>'
            f'<p class="residuals">{e(page.residual_text)}</p>'
            f'<ul class="caveat">{caveat}</ul></section>')


def _caption(page: PhotoPage) -> str:
    return (f"The {page.role or 'front'} photo, enlarged around the face. Dots: each point's entry, coloured by its "
            "worst finding, with its id and units.")


def _text_height(pdf: Any, page: PhotoPage, width: float, to_pdf: Any) -> float:
    """The height (mm) of what :func:`pdf_page` writes below the picture, measured with the fonts it uses: the
    caption, the legend's rows (at most three), the residuals and the caveat."""
    def height(style: str, size: float, line_h: float, text: str) -> float:
        pdf.set_font(FAMILY, style, size)
        return float(pdf.multi_cell(width, line_h, to_pdf(text), dry_run=True, output="HEIGHT"))

    h = 1 + height("I", 8, 4, _caption(page))
    h += 4.6 * 3 + 6 + height("B", 9, 4.6, page.residual_text)
    return h + sum(height("", 8.5, 4.2, line) for line in page.caveat_lines)


def pdf_page(pdf: Any, page: PhotoPage, width: float, to_pdf: Any) -> None:
    """Draw the first page on the current page of an fpdf2 document (text as PDF text, searchable; ``to_pdf``:
    the document's filter for every string, :class:`reports.pdf_fonts.PdfText`)."""
    import io

    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(width, 7, to_pdf(page.title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    y0 = pdf.get_y()
    # the text below fits the page, unless it is long (many points hidden from the photo): then it runs on
    room = max(pdf.h - pdf.b_margin - y0 - _text_height(pdf, page, width, to_pdf) - 2, 90.0)
    from PIL import Image

    with Image.open(io.BytesIO(page.png)) as im:
        w_px, h_px = im.size
    w = min(width, room * w_px / h_px)
    pdf.image(io.BytesIO(page.png), x=pdf.l_margin + (width - w) / 2, y=y0, w=w)
    pdf.set_xy(pdf.l_margin, y0 + w * h_px / w_px + 1)
    pdf.set_font(FAMILY, "I", 8)
    pdf.multi_cell(width, 4, to_pdf(_caption(page)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 8)
    for colour, text in page.legend:
        h = colour.lstrip("#")
        pdf.set_fill_color(int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
        x, y = pdf.get_x(), pdf.get_y()
        pdf.rect(x, y + 0.8, 3, 3, style="F")
        pdf.set_x(x + 4.5)
        pdf.cell(pdf.get_string_width(to_pdf(text)) + 6, 4.6, to_pdf(text))
        if pdf.get_x() > pdf.l_margin + width - 50:
            pdf.ln(4.6)
    pdf.ln(6)
    pdf.set_font(FAMILY, "B", 9)
    pdf.multi_cell(width, 4.6, to_pdf(page.residual_text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 8.5)
    for line in page.caveat_lines:
        pdf.multi_cell(width, 4.2, to_pdf(line), new_x="LMARGIN", new_y="NEXT")
