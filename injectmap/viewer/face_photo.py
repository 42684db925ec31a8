"""The patient's own face from a front photo (and up to two obliques), for the app's Face card: fit, draw the
fit, accept, discard.

:func:`fit_photos` reads the uploaded photos (``reports.photo_io``: JPEG or PNG, EXIF orientation applied),
finds their Face Mesh landmarks (refusing a photo the fit cannot use: ``anatomy.fit.landmarks.FitRefused``),
takes the one facing the camera as the front photo and the others as obliques, fits the base head's shape
targets to the front photo's landmarks and poses each oblique against that face (``anatomy.fit.photo``: the
obliques' landmarks, read less exactly on a turned face, do not move the shape), as ``injectmap face fit --photo
FRONT --photo LEFT --photo RIGHT`` does. It is slow (seconds to tens of seconds on a shared machine), so the
Face card runs it in a worker thread of :func:`fit_executor`.

The photos are patient data: the session keeps only the face's part of the front photo, scaled down
(:data:`CROP_SIDE`, never logged, never written; the obliques are not kept at all), and a face
accepted from it is written owner-only (0600, folder 0700) in the logged-in user's own faces folder
(:func:`user_faces_dir`: ``$INJECTMAP_FACES_DIR`` or ``faces`` in the platform's user data folder, one
subfolder per login named by a hash of the login, as the autosaves and the records' faces), so one user
never reads another's faces.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from injectmap.anatomy.fit import facefile
from injectmap.anatomy.fit.facefile import FaceFile
from injectmap.anatomy.fit.photo import FitResult

#: the longer side of the fit's picture in the card (pixels); the photo itself is never sent larger
PREVIEW_SIDE = 720
#: the longer side of the face's part of the photo kept in the session (pixels): the photo itself is not
#: kept, only the face with the widest margin a picture uses (:data:`CROP_MARGIN`), at most this large
#: (1024 x 1024 RGB is 3 MB however large the upload)
CROP_SIDE = 1024
#: the margin around the landmarks' box that the kept face crop covers (the fit's picture uses 0.3, the
#: chart 0.35 of the box's size)
CROP_MARGIN = 0.35
_EXECUTOR_LOCK = threading.Lock()
_executors: dict[str, ThreadPoolExecutor] = {}


def fit_executor(lane: str = "photo") -> ThreadPoolExecutor:
    """The process's fit thread of a lane, shared by sessions: a fit uses a core for seconds, so two sessions'
    fits queue rather than halve each other's speed (and the analysis threads stay free). Photos (their fits
    and charts) and 3D scans (minutes on a loaded machine) have a thread each, so one user's scan never holds
    up another's photo."""
    with _EXECUTOR_LOCK:
        if lane not in _executors:
            _executors[lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"injectmap-{lane}-fit")
        return _executors[lane]


def faces_dir() -> Path:
    """The faces folder (``clinic.config.faces_folder``: ``$INJECTMAP_FACES_DIR``, else ``faces/`` in the
    platform's user data folder), shared with the patient records."""
    from injectmap.clinic.config import faces_folder

    return faces_folder()


def user_faces_dir(user: str | None) -> Path:
    """A login's own faces folder (``clinic.config.user_faces_dir``: a subfolder named by a hash of the
    login); without logins the user is "local", as in the patient records, so a visit's face written back
    by the Patient card and a face accepted here share one folder."""
    from injectmap.clinic.config import user_faces_dir as records_user_faces_dir

    return records_user_faces_dir(faces_dir(), user or "local")


def face_path_allowed(path: str | Path, user: str | None) -> bool:
    """Whether a session may read the face file a plan names: with logins, only from the login's own faces
    folder (a plan file is user input: it must not reach another login's face, or probe the server's files);
    without logins (the loopback's single user) any path, as ``injectmap check`` reads it."""
    if user is None:
        return True
    try:
        return Path(path).resolve().parent == user_faces_dir(user).resolve()
    except (OSError, RuntimeError, ValueError):
        return False


@dataclass(frozen=True)
class PhotoFit:
    """A fit of a front photo (and its obliques), kept in the session's memory until accepted or discarded.

    Attributes
    ----------
    display_name : str
        The file's name as the user gave it (user text: escaped wherever shown).
    crop : (h, w, 3) uint8
        The face's part of the upright photo (``crop_box``), scaled down so its longer side is at most
        :data:`CROP_SIDE`: the photo itself is not kept.
    crop_box : (x0, y0, x1, y1) int
        Where ``crop`` lies in the photo (photo pixels).
    photo_size : (w, h) int
        The upright photo's size (pixels).
    detected_px, fitted_px : (468, 2) float
        Face Mesh's landmarks in the photo, and the fitted face's landmarks projected by the fit's camera
        (photo pixels).
    result : FitResult
        The fit (weights, cameras and residuals of every photo, the front first; scale).
    face : FaceFile
        The face file's content (targets, the photos' SHA-256 with their roles and cameras, the front photo's
        residuals, scale, libraries).
    obliques : tuple of str
        The obliques' file names as the user gave them (user text), in the order of ``result``'s views after
        the front photo; empty for a front photo alone.
    """

    display_name: str
    crop: np.ndarray
    crop_box: tuple[int, int, int, int]
    photo_size: tuple[int, int]
    detected_px: np.ndarray
    fitted_px: np.ndarray
    result: FitResult
    face: FaceFile
    obliques: tuple[str, ...] = ()

    @property
    def residuals_mm(self) -> np.ndarray:
        """The front photo's residual per landmark (mm)."""
        return np.asarray(self.result.residuals_mm[0], dtype=float)

    @property
    def oblique_medians_mm(self) -> tuple[float, ...]:
        """Each oblique's median residual over the landmarks its camera sees (mm; the far side's, which Face Mesh
        guesses, count nothing in its pose and are left out)."""
        return tuple(float(np.median(self.result.seen_residuals_mm(i)))
                     for i in range(1, len(self.result.residuals_mm)))

    @property
    def median_mm(self) -> float:
        return float(np.median(self.residuals_mm))

    @property
    def p90_mm(self) -> float:
        return float(np.percentile(self.residuals_mm, 90))

    @property
    def sha256(self) -> str:
        return str(self.face.sources[0]["sha256"])

    def chart_camera(self):  # type: ignore[no-untyped-def]
        """The photo's camera in the built face's frame (``anatomy.fit.camera.Camera``): the one that
        projects the built fitted face (and the plan's points on it) onto this photo."""
        return facefile.photo_camera(self.face, self.sha256)


def fit_photos(photos: Sequence[tuple[bytes, str]], progress: Callable[[str], None] | None = None,
               ipd_mm: float | str | None = None) -> PhotoFit:
    """Fit the face to a front photo and up to two obliques, each given as (the bytes of a JPEG or PNG file, its
    name as the user gave it), in any order: the one facing the camera most is the front photo, whose landmarks
    the shape is fitted to (the fit's picture, chart and residuals are its); the others are obliques, each posed
    against the fitted face with residuals of its own (``anatomy.fit.photo.detect_views`` and ``fit_views``). The
    face's size comes from the patient's measured interpupillary distance ``ipd_mm`` where one is given, else from
    the iris.

    Raises
    ------
    reports.photo_io.PhotoError
        Not a JPEG or PNG photo (of several, the message names it).
    anatomy.fit.landmarks.FitRefused
        No face, several faces, turned too far, too small, too dark, eyes closed; of several photos, none facing
        the camera, two facing it or the same photo twice; more than three photos (the message says what to do);
        an interpupillary distance outside the adult range.
    """
    from injectmap.anatomy.fit.correspondence import N_FACE
    from injectmap.anatomy.fit.photo import checked_ipd, detect_views, fit_views, landmark_points
    from injectmap.reports.photo_io import PhotoError, read_photo

    ipd_mm = checked_ipd(ipd_mm)
    say = progress or (lambda _s: None)
    several = len(photos) > 1
    names = [name for _data, name in photos]
    sha = [hashlib.sha256(data).hexdigest() for data, _name in photos]
    say("Reading the photos..." if several else "Reading the photo...")
    read = []
    for data, name in photos:
        try:
            read.append(read_photo(bytes(data)))
        except PhotoError as exc:
            raise PhotoError(f"{name}: {exc}" if several else str(exc)) from None
    say("Finding the face's landmarks (Face Mesh)...")
    views, order = detect_views([p.rgb for p in read], names, [p.focal_35mm for p in read])
    front = order[0]
    photo = read[front]
    del read  # the obliques' pixels are not needed for the fit: only their landmarks
    say("Fitting the face's shape to the landmarks" + (" and posing the obliques..." if several else "..."))
    res = fit_views(views, ipd_mm=ipd_mm)
    sources = [{"kind": "photo", "role": "front" if i == front else "oblique", "sha256": sha[i]} for i in order]
    face = facefile.make(res.targets, sources, list(res.residuals_mm[0]), res.scale)
    # each photo's camera in the built face's frame: what charts the plan on the front photo again
    face = facefile.with_photo_cameras(face, res, sources)
    fitted = res.cameras[0].project(landmark_points(res.weights))
    detected, fitted = np.asarray(views[0].landmarks.pixels[:N_FACE]), np.asarray(fitted)
    h, w = photo.rgb.shape[:2]
    box = _box(detected, fitted, CROP_MARGIN, (w, h))
    return PhotoFit(display_name=names[front], crop=face_crop(photo.rgb, box), crop_box=box, photo_size=(w, h),
                    detected_px=detected, fitted_px=fitted, result=res, face=face,
                    obliques=tuple(names[i] for i in order[1:]))


def face_crop(rgb: np.ndarray, box: tuple[int, int, int, int], side: int = CROP_SIDE) -> np.ndarray:
    """The part ``box`` of a photo as a new array (not a view of the photo), scaled down so its longer side
    is at most ``side``."""
    from PIL import Image

    x0, y0, x1, y1 = box
    part = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    s = min(1.0, side / max(x1 - x0, y1 - y0))
    if s >= 1.0:
        return part.copy()
    size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
    return np.asarray(Image.fromarray(part).resize(size, Image.Resampling.LANCZOS))


def _box(detected: np.ndarray, fitted: np.ndarray, margin: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    pts = np.vstack([detected, fitted])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * (hi - lo).max()
    w, h = size
    x0, y0 = (min(max(0, int(v)), lim - 1) for v, lim in zip(lo - pad, (w, h), strict=True))
    x1, y1 = min(w, int(np.ceil(hi[0] + pad))), min(h, int(np.ceil(hi[1] + pad)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def face_box(fit: PhotoFit, margin: float = 0.3) -> tuple[int, int, int, int]:
    """The face's part of the photo (x0, y0, x1, y1): the landmarks' box widened by ``margin`` of its size
    (within the kept crop: at most :data:`CROP_MARGIN`)."""
    x0, y0, x1, y1 = _box(fit.detected_px, fit.fitted_px, min(margin, CROP_MARGIN), fit.photo_size)
    c0, d0, c1, d1 = fit.crop_box
    x0, y0 = max(x0, c0), max(y0, d0)
    return x0, y0, max(min(x1, c1), x0 + 1), max(min(y1, d1), y0 + 1)


def _region(fit: PhotoFit, box: tuple[int, int, int, int], size: tuple[int, int]):  # type: ignore[no-untyped-def]
    """The part ``box`` of the photo (photo pixels, within the crop) as a PIL image of ``size``, read from
    the kept crop."""
    from PIL import Image

    c0, d0, c1, d1 = fit.crop_box
    s = fit.crop.shape[1] / (c1 - c0)
    x0, y0, x1, y1 = box
    src = ((x0 - c0) * s, (y0 - d0) * s, (x1 - c0) * s, (y1 - d0) * s)
    return Image.fromarray(np.ascontiguousarray(fit.crop)).resize(size, Image.Resampling.LANCZOS, box=src)


def fit_picture(fit: PhotoFit, side: int = PREVIEW_SIDE) -> np.ndarray:
    """The face's part of the photo (scaled so its longer side is ``side``, at most 4 times enlarged) with
    Face Mesh's landmarks (green dots) and the fitted face's landmarks as the fit's camera sees them
    (magenta dots), joined by a yellow line where they differ: the residuals made visible."""
    from PIL import ImageDraw

    x0, y0, x1, y1 = face_box(fit)
    s = min(4.0, side / max(x1 - x0, y1 - y0))
    im = _region(fit, (x0, y0, x1, y1), (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))))
    draw = ImageDraw.Draw(im)
    off = np.array([x0, y0], dtype=float)
    det, fitp = (fit.detected_px - off) * s, (fit.fitted_px - off) * s
    r = max(1.5, 2.0 * max(im.size) / 720)
    for a, b in zip(det, fitp, strict=True):
        if np.hypot(*(a - b)) > 1.5:
            draw.line([tuple(a), tuple(b)], fill=(255, 230, 0), width=1)
    for (x, y) in det:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(40, 220, 60))
    for (x, y) in fitp:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(230, 40, 200))
    return np.asarray(im)


def face_chart(fit: PhotoFit, layout, side: int = PREVIEW_SIDE) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The chart (``reports.photo_chart.PhotoChart``) drawn on the same part of the photo as
    :func:`fit_picture` (the face's box, the same scale), so the picture stays put as points change."""
    from injectmap.reports.photo_chart import draw_chart

    x0, y0, x1, y1 = face_box(fit, margin=CROP_MARGIN)
    s = min(4.0, side / max(x1 - x0, y1 - y0))
    w, h = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    big = np.asarray(_region(fit, (x0, y0, x1, y1), (w, h)))
    return draw_chart(big, layout.transformed(x0, y0, s, w, h))


def accept(fit: PhotoFit, user: str | None) -> Path:
    """Write the fit's face file owner-only in ``user``'s faces folder; return its path."""
    from injectmap.clinic.db import owner_only_folder

    folder = user_faces_dir(user)
    owner_only_folder(folder)
    # named by the whole face id, as the records name a visit's face: deleting the patient finds it
    path = folder / f"{fit.face.face_id}.face.json"
    facefile.write(fit.face, path)
    return path


def discard(path: Path | None, user: str | None) -> bool:
    """Remove an accepted face file, only from ``user``'s own faces folder; True when one was removed."""
    if path is None:
        return False
    path = Path(path)
    if path.parent.resolve() != user_faces_dir(user).resolve() or not path.name.endswith(".face.json"):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
