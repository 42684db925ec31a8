"""What the chart on the photo (``reports/photo_chart.py``) keeps between two charts of the same photo.

The app's Face card draws the plan on the patient's photo again whenever the plan's analysis changes: the
same photo, the same camera, the same face. What depends only on those is kept here, in memory, so that a
redraw computes only the marks:

- per (face, camera): the depth buffer of the fitted skin in the photo and the pixels per mm at the face
  (projecting the skin's 68,274 points: most of the layout's time);
- per (face, camera, the corridors' half-widths): the zone bands (each course carried to the skin, tested
  against the buffer and projected);
- per (the photo's pixels, the bands): the photo with the bands drawn on it (most of the drawing's time),
  onto which a chart's marks are then drawn.

The keys say everything the kept value is computed from, by value, never by ``id()`` of an object that can
be freed and its id reused: a face by its name and the SHA-256 of its build inputs (``FaceModel.name``,
``FaceModel.sha256``), a camera by every one of its parameters (focal length, image size, the rotation's
and the translation's bytes), a photo by the SHA-256 of its pixels and the bands by the SHA-256 of their
every coordinate. A value is therefore only ever given back to a caller whose own inputs compute it, and
the chart is the same, to the byte, as one computed without the cache (tests/integration/test_chart_cache.py).

Patient data: a kept photo with the bands drawn is the patient's photo. It is kept in memory only, never
written to disk and never logged; at most :data:`MAX_IMAGES` are kept (a 720x960 photo is about 2 MB), the
least recently used dropped first. A session cannot see another's photo through it: a kept picture is
found only by the SHA-256 of the photo's own pixels, i.e. by a caller that already holds that photo, and
what it gets is what its own photo and bands draw. :func:`clear` empties everything; :func:`forget_face`
drops what was kept of a fitted face and every kept picture where a patient's face goes (the Face card's
Discard, ``injectmap records patients delete`` in its own process), :func:`forget_pictures` every kept
picture where a patient's photo is deleted (the Patient card). Another process's deletion cannot reach an
app server's memory: there the pictures stay at most until three other charts are drawn or the server
stops. A chart being drawn while something is forgotten does not bring it back: every forget and clear moves
the cache's generation on, and a value computed under an older one is given to its caller but not kept
(:meth:`BoundedLRU.get_or_compute`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["MAX_GEOMETRY", "MAX_IMAGES", "BoundedLRU", "camera_key", "clear", "face_key", "forget_face",
           "forget_pictures", "info", "kept_faces", "pixels_sha256"]

#: (face, camera) depth buffers and (face, camera, widths) zone bands kept: a few hundred kB each. Project
#: choice: a session charts one photo at a time; a few sessions and a zones toggle fit
MAX_GEOMETRY = 8
#: photos with the zones drawn kept (about 2 MB each for a 720x960 photo; patient data: keep few)
MAX_IMAGES = 3

V = TypeVar("V")


class BoundedLRU(Generic[V]):
    """A thread-safe mapping that keeps at most ``maxsize`` entries, the least recently used dropped first.

    A value is computed outside the lock (two threads missing the same key both compute it; the values are
    the same); reads, writes and evictions are under it. :attr:`generation` moves on with every
    :meth:`discard` and :meth:`clear`: a value computed from before a forget (a patient's face or photo,
    deleted meanwhile) is not kept after it (``put(..., generation=...)``)."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._generation = 0

    @property
    def generation(self) -> int:
        """How many times entries were forgotten (:meth:`discard`, :meth:`clear`): read it before computing
        a value, give it to :meth:`put`."""
        with self._lock:
            return self._generation

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V, generation: int | None = None) -> bool:
        """Keep ``value`` under ``key``, unless ``generation`` (read before the value was computed) is not the
        cache's any more: something was forgotten meanwhile, and the value may be of it. Returns whether it
        was kept."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return False
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
            return True

    def get_or_compute(self, key: Hashable | None, compute: Callable[[], V]) -> V:
        """The value kept under ``key``, else ``compute()`` kept under it; ``key`` None: computed, not kept. A
        value whose computing overlapped a forget or a clear is returned but not kept (see :meth:`put`)."""
        if key is None:
            return compute()
        generation = self.generation  # before the lookup: a forget from here on keeps the result out
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value, generation)
        return value

    def discard(self, keep: Callable[[Hashable], bool]) -> int:
        """Drop the entries whose key ``keep`` rejects; returns how many were dropped."""
        with self._lock:
            self._generation += 1  # even when nothing is kept yet: it may be being computed
            gone = [k for k in self._items if not keep(k)]
            for k in gone:
                del self._items[k]
            return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


#: (face, camera[, widths]) -> the depth buffer and px/mm, or the zone bands
GEOMETRY: BoundedLRU[Any] = BoundedLRU(MAX_GEOMETRY)
#: the SHA-256 of (photo, bands) -> (size, RGB bytes) of the photo with the bands drawn
IMAGES: BoundedLRU[tuple[tuple[int, int], bytes]] = BoundedLRU(MAX_IMAGES)


def face_key(model: Any) -> tuple[str, str] | None:
    """A built face's identity: its name and the SHA-256 of what it was built from (None when the object
    has no such identity: then nothing of it is kept)."""
    name, sha = getattr(model, "name", None), getattr(model, "sha256", None)
    if not isinstance(name, str) or not isinstance(sha, str) or not name or not sha:
        return None
    return name, sha


def camera_key(camera: Any) -> tuple[Any, ...]:
    """Every parameter of a camera (``anatomy.fit.camera.Camera``), by value: the focal length, the image's
    size (the principal point is its centre), the rotation and the translation as float64 bytes."""
    r = np.ascontiguousarray(camera.r, dtype=np.float64)
    t = np.ascontiguousarray(camera.t, dtype=np.float64)
    return ("camera", float(camera.focal_px), int(camera.width), int(camera.height), r.shape, r.tobytes(),
            t.shape, t.tobytes())


def pixels_sha256(image: np.ndarray) -> str:
    """The SHA-256 of an image's pixels, its shape and its type."""
    a = np.ascontiguousarray(image)
    h = hashlib.sha256(f"{a.shape}{a.dtype.str}".encode())
    h.update(a.data)
    return h.hexdigest()


def clear() -> None:
    """Forget everything kept (the depth buffers, the bands and the pictures)."""
    GEOMETRY.clear()
    IMAGES.clear()


def forget_pictures() -> int:
    """Drop every kept picture (a patient's photo was deleted: a picture's key does not say whose photo it
    is); returns how many were dropped."""
    return IMAGES.discard(lambda _key: False)


def forget_face(face_id: str) -> int:
    """Drop what was kept of the fitted face ``face_id`` (``anatomy.fit.facefile.face_id``; a patient's face)
    and every kept picture (they are the patients' photos, and a picture's key does not say whose face it
    shows). Returns how many entries were dropped."""
    tag = str(face_id)[:16]
    if not re.fullmatch(r"[0-9a-f]{16}", tag):
        raise ValueError(f"not a face id: {face_id!r}")
    suffix = f"-fit-{tag}"

    def keep(key: Hashable) -> bool:
        face = key[1] if isinstance(key, tuple) and len(key) > 1 else None
        return not (isinstance(face, tuple) and face and str(face[0]).endswith(suffix))

    return GEOMETRY.discard(keep) + forget_pictures()


def kept_faces() -> set[str]:
    """The names of the faces something is kept of."""
    with GEOMETRY._lock:
        keys = list(GEOMETRY._items)
    return {str(k[1][0]) for k in keys if isinstance(k, tuple) and len(k) > 1 and isinstance(k[1], tuple)}


def info() -> dict[str, int]:
    """How many entries are kept, and the hits and misses since the last :func:`clear`."""
    return {"geometry": len(GEOMETRY), "geometry_hits": GEOMETRY.hits, "geometry_misses": GEOMETRY.misses,
            "images": len(IMAGES), "image_hits": IMAGES.hits, "image_misses": IMAGES.misses}
