"""Face landmarks in a photo: MediaPipe Face Mesh with refined iris (478 points), and the checks
that refuse a photo the fit cannot use (no face, several faces, turned too far, too small, too dark,
eyes closed), each with a message that says what to do.

The Face Mesh model is the one inside the ``mediapipe==0.10.14`` wheel
(``mediapipe/modules/face_landmark/face_landmark.tflite`` and the face detector beside it): nothing
is downloaded. ``mediapipe`` is an optional dependency (``pip install injectmap[fit]``); without it
:func:`detect` raises :class:`FitRefused` saying how to install it.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from injectmap.anatomy.errors import UserFacing

#: the landmarks Face Mesh gives with refined iris: 468 face points and 2 x 5 iris points
N_LANDMARKS = 478
#: the iris landmarks (centre, then four on the limbus): the subject's left eye is on the image's right
IRIS_RIGHT = (468, 469, 470, 471, 472)  # the subject's right eye (image left)
IRIS_LEFT = (473, 474, 475, 476, 477)
#: lid landmarks (upper, lower) and eye corners (medial, lateral) of each eye (subject's side)
LIDS = {"right": (159, 145, 133, 33), "left": (386, 374, 362, 263)}
#: the refusal thresholds (what a fit needs; see docs/face-fit.md)
MIN_IRIS_PX = 6.0  # an iris narrower than this (a face under ~150 px wide) gives no scale (1 px is 17 %)
MIN_FACE_MEAN = 40.0  # the mean grey (0-255) of the face below this is too dark
MAX_YAW_DEG = 25.0  # a front photo turned further than this (degrees); an oblique is turned about 45
MAX_OBLIQUE_YAW_DEG = 60.0
#: left-right pairs of Face Mesh points (cheek outline at four heights, jaw, outer eye corners) whose 3D
#: difference gives the head's turn
YAW_PAIRS = ((234, 454), (127, 356), (93, 323), (132, 361), (58, 288), (33, 263))
MIN_EYE_OPENING = 0.12  # lid gap / eye width below this: eyes closed


class FitRefused(UserFacing, ValueError):
    """A photo the fit cannot use; the message says why and what to do."""


@dataclass(frozen=True)
class Landmarks:
    """The landmarks of one face in one photo.

    Attributes
    ----------
    pixels : (478, 2) float
        Each landmark's position in pixels (x right, y down).
    depth : (478,) float
        Face Mesh's relative depth (pixels, smaller is nearer the camera), for the rough pose only.
    width, height : int
        The photo's size.
    """

    pixels: np.ndarray
    depth: np.ndarray
    width: int
    height: int
    #: the iris diameters (subject's right, left) measured on the image's limbus edges, where found
    iris_edges_px: tuple[float | None, float | None] = (None, None)

    def iris_diameter_px(self, side: str) -> float:
        """The iris's horizontal diameter in pixels: the limbus edges found in the image where they are
        clear (:func:`limbus_diameter`), else Face Mesh's limbus points across it."""
        edge = self.iris_edges_px[1 if side == "left" else 0]
        if edge is not None:
            return edge
        ids = IRIS_LEFT if side == "left" else IRIS_RIGHT
        p = self.pixels[list(ids)]
        return float(np.linalg.norm(p[1] - p[3]))  # the vertical pair reaches under the lids

    def eye_opening(self, side: str) -> float:
        """The lid gap over the eye's width (0 closed, about 0.3 open)."""
        up, lo, med, lat = LIDS[side]
        p = self.pixels
        return float(np.linalg.norm(p[up] - p[lo])) / max(float(np.linalg.norm(p[med] - p[lat])), 1e-6)

    def yaw_deg(self) -> float:
        """The head's turn in degrees (positive: the face turns toward its own left, i.e. the image's
        right), from Face Mesh's 3D points: the angle of the line from the face's right side to its left
        (summed over :data:`YAW_PAIRS`) out of the image plane. Measured on synthetic photos turned 0-60
        degrees: within 2 degrees up to 20, 3 at 30, reading 37-41 at 45 and 51-56 at 60 (the camera's
        perspective). (The nose tip's offset from the cheeks' midpoint, used before, read 1.7 times the
        turn and 90 degrees from 40 on, so a 45-degree oblique was refused.)"""
        p = np.c_[self.pixels, self.depth]
        v = sum((p[b] - p[a] for a, b in YAW_PAIRS), start=np.zeros(3))
        return float(np.degrees(np.arctan2(v[2], v[0])))


_LOCK = threading.Lock()


def mediapipe_version() -> str | None:
    """The installed mediapipe's version, or None."""
    try:
        from importlib.metadata import version

        return version("mediapipe")
    except Exception:  # noqa: BLE001 - not installed (or broken metadata): no version
        return None


def model_file() -> Path:
    """The Face Mesh model inside the installed mediapipe wheel (raises :class:`FitRefused` without it)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise FitRefused("the photo fit needs mediapipe 0.10.14: pip install 'injectmap[fit]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "modules" / "face_landmark" / "face_landmark.tflite"
    if not path.is_file():
        raise FitRefused(f"this mediapipe ({mediapipe_version()}) does not ship the Face Mesh model; "
                         "install mediapipe==0.10.14 (pip install 'injectmap[fit]')")
    return path


def detect(image: np.ndarray, *, oblique: bool = False) -> Landmarks:
    """The landmarks of the one face in ``image`` (h, w, 3) uint8 RGB, after the photo's checks.

    Raises
    ------
    FitRefused
        No face, several faces, a face turned too far (beyond 25 degrees for a front photo, 60 for
        an oblique), too small (an iris under 6 px), too dark, or eyes closed.
    """
    img = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
    if img.ndim != 3 or min(img.shape[:2]) < 32:
        raise FitRefused("the image is too small to hold a face (at least 32 x 32 pixels)")
    model_file()
    h, w = img.shape[:2]
    res = _run_face_mesh(img)
    faces = res.multi_face_landmarks or []
    if not faces:
        dark = float(img.mean()) < MIN_FACE_MEAN
        raise FitRefused("no face was found in the photo" + (" (it is too dark: light the face evenly)" if dark else
                         ": use a photo of one face, looking at the camera, the whole face in the frame"))
    if len(faces) > 1:
        raise FitRefused(f"{len(faces)} faces were found in the photo: use a photo of the patient alone")
    lm = faces[0].landmark
    if len(lm) != N_LANDMARKS:
        raise FitRefused(f"Face Mesh gave {len(lm)} landmarks, not {N_LANDMARKS} (refined iris missing)")
    arr = np.array([[q.x * w, q.y * h, q.z * w] for q in lm])
    out = Landmarks(pixels=arr[:, :2], depth=arr[:, 2], width=w, height=h)
    grey = img @ np.array([0.299, 0.587, 0.114])
    out = Landmarks(pixels=out.pixels, depth=out.depth, width=w, height=h, iris_edges_px=(
        limbus_diameter(grey, out, "right"), limbus_diameter(grey, out, "left")))
    _check(img, out, oblique)
    return out


def limbus_diameter(grey: np.ndarray, lm: Landmarks, side: str) -> float | None:
    """The iris's horizontal diameter from the image: the dark-to-light edges (iris to sclera) on a
    line through the iris centre, each within 0.6-1.5 of Face Mesh's radius, to a tenth of a pixel.
    None when an edge is weak (low contrast, a lid over the limbus): Face Mesh's points are used then.
    Face Mesh's iris points are a regression on a 64 x 64 eye crop; the edges are sharper (measured on
    synthetic patients: docs/face-fit.md)."""
    ids = IRIS_LEFT if side == "left" else IRIS_RIGHT
    p = lm.pixels[list(ids)]
    c = p[0]
    r0 = float(np.linalg.norm(p[1] - p[3])) / 2
    if r0 < 3:
        return None
    h, w = grey.shape
    y = int(round(c[1]))
    x0, x1 = int(np.floor(c[0] - 1.7 * r0)), int(np.ceil(c[0] + 1.7 * r0)) + 1
    if y < 2 or y > h - 3 or x0 < 1 or x1 > w - 1:
        return None
    prof = grey[y - 1:y + 2, x0:x1].mean(axis=0)
    k = np.exp(-0.5 * (np.arange(-3, 4) / 1.0) ** 2)
    prof = np.convolve(prof, k / k.sum(), mode="same")
    grad = np.gradient(prof)
    xs = np.arange(x0, x1, dtype=float)
    edges = []
    for sign, lo, hi in ((-1.0, c[0] - 1.5 * r0, c[0] - 0.6 * r0), (1.0, c[0] + 0.6 * r0, c[0] + 1.5 * r0)):
        sel = np.flatnonzero((xs >= lo) & (xs <= hi))[1:-1]
        if len(sel) < 3:
            return None
        g = sign * grad[sel]
        i = int(np.argmax(g))
        if g[i] < 4.0:  # under 4 grey levels a pixel: no clear limbus
            return None
        j = sel[i]
        a, b, cc = sign * grad[j - 1], sign * grad[j], sign * grad[j + 1]
        den = a - 2 * b + cc
        edges.append(xs[j] + (0.5 * (a - cc) / den if abs(den) > 1e-9 else 0.0))
    return float(edges[1] - edges[0])


def _run_face_mesh(img: np.ndarray):  # type: ignore[no-untyped-def]
    """Face Mesh on one image (static mode, refined iris, up to 3 faces so that several are seen)."""
    import mediapipe as mp

    with _LOCK, _quiet():
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=3, refine_landmarks=True,
                                             min_detection_confidence=0.5) as mesh:
            return mesh.process(img)


@contextlib.contextmanager
def _quiet():  # type: ignore[no-untyped-def]
    """Keep TensorFlow Lite's and glog's start-up lines off the terminal."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def _check(img: np.ndarray, lm: Landmarks, oblique: bool) -> None:
    """The refusals that need the landmarks: turned too far, too small, too dark, eyes closed."""
    yaw = lm.yaw_deg()
    limit = MAX_OBLIQUE_YAW_DEG if oblique else MAX_YAW_DEG
    if abs(yaw) > limit:
        raise FitRefused(f"the face is turned {abs(yaw):.0f} degrees (at most {limit:.0f} for "
                         + ("an oblique photo): take it turned about 45 degrees" if oblique else
                            "a front photo): take it facing the camera, or give it as an oblique with a front photo"))
    iris = max(lm.iris_diameter_px("left"), lm.iris_diameter_px("right"))
    if iris < MIN_IRIS_PX:
        raise FitRefused(f"the face is too small in the photo (iris {iris:.1f} px, at least {MIN_IRIS_PX:.0f}): "
                         "move closer or crop less")
    x0, y0 = np.maximum(lm.pixels.min(axis=0).astype(int), 0)
    x1, y1 = lm.pixels.max(axis=0).astype(int) + 1
    face = img[y0:y1, x0:x1]
    grey = float((face @ np.array([0.299, 0.587, 0.114])).mean()) if face.size else 0.0
    if grey < MIN_FACE_MEAN:
        raise FitRefused(f"the face is too dark (mean grey {grey:.0f} of 255, at least {MIN_FACE_MEAN:.0f}): "
                         "light the face evenly")
    opening = min(lm.eye_opening("left"), lm.eye_opening("right"))
    if opening < MIN_EYE_OPENING:
        raise FitRefused(f"the eyes are closed (lid gap {opening:.2f} of the eye's width, at least "
                         f"{MIN_EYE_OPENING:.2f}): the iris gives the scale, take the photo with the eyes open")
