"""Panel's synchronised VTK pane that sends the browser only the arrays it does not have yet.

Panel's synchronised pane re-sends every data array of the scene on each update: its pane asks the
browser for the arrays it already holds (``arrays_processed``), but the vtk.js side never fills that
list in, so a click that only moves a diffusion sphere sent the whole face again (about 7 MB).
vtk.js keeps each array it fetched in its synchronizer context, keyed by the array's hash, and drops
it only after about 100 synchronisations without use. :class:`SceneVTK` therefore remembers, per
browser model, which hashes it sent, and leaves out of an update those the browser surely has:

- only hashes used by the current scene are remembered (a hash that leaves the scene, e.g. a mesh
  replaced by its clipped version, is sent again when it comes back: well inside vtk.js's window);
- a hash sent by an update counts as delivered once a later update followed and two seconds passed
  (one sent with the page's document: after the two seconds), because the browser debounces scene
  updates: an update superseded within a few milliseconds is never built, and its new arrays must
  travel again with the next one.

It also converts 64-bit id arrays (the cell connectivity of every mesh) to the 32-bit values vtk.js
reads with numpy instead of Panel's element-wise loop (seconds per update for a face), and skips
the off-screen render Panel does before serialising (the scene description is the same without it,
and it cost about 0.2 s per update).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from panel.pane.vtk.vtk import VTKRenderWindowSynchronized
from vtkmodules.util.numpy_support import vtk_to_numpy

log = logging.getLogger("injectmap.viewer")

#: VTK data types that Panel sends as 32-bit integers: vtkIdType, long long, unsigned long long
_ID_TYPES = {12: np.uint32, 16: np.int32, 17: np.uint32}
#: a sent array counts as held by the browser after this many later synchronisations and seconds
DELIVERED_AFTER_SYNCS = 2
DELIVERED_AFTER_S = 2.0


def array_bytes(array: Any) -> bytes:
    """The bytes vtk.js receives for a VTK data array (negative ids become -1, as in Panel)."""
    dtype = _ID_TYPES.get(array.GetDataType())
    if dtype is None:
        return memoryview(array).tobytes()
    values = vtk_to_numpy(array).astype(np.int64).ravel()
    values[values < 0] = -1
    if dtype is np.uint32:
        return (values & 0xFFFFFFFF).astype(np.uint32).tobytes()
    return values.astype(np.int32).tobytes()


def drop_unused_colour_maps(node: Any) -> None:
    """Remove the colour map of every mapper that does not colour by scalars (in place).

    Each mapper carries a 256-node colour transfer function even when its actor has a plain colour:
    for a face of about 100 actors that is 2.3 of the scene description's 2.6 MB, sent and compared on
    every update. vtk.js makes a default map when a mapper needs one.
    """
    stack = [node]
    while stack:
        n = stack.pop()
        deps = n.get("dependencies")
        if not isinstance(deps, list):
            continue
        props = n.get("properties") or {}
        if "scalarVisibility" in props and not props["scalarVisibility"]:
            dropped = {d.get("id") for d in deps if d.get("type") in _COLOUR_MAPS}
            if dropped:
                n["dependencies"] = deps = [d for d in deps if d.get("id") not in dropped]
                n["calls"] = [c for c in n.get("calls", []) if c[0] != "setLookupTable"]
        stack.extend(d for d in deps if isinstance(d, dict))


_COLOUR_MAPS = {"vtkColorTransferFunction", "vtkLookupTable"}


class SentArrays:
    """What one browser model received: hash -> (index of the update that first sent it, time)."""

    def __init__(self) -> None:
        self.count = 0  # updates sent after the document
        self.first: dict[str, tuple[int, float]] = {}

    def held(self, now: float) -> set[str]:
        """Hashes the browser surely holds: sent with the document, or by an update that a later one
        followed, at least two seconds ago (and used by every scene since)."""
        return {h for h, (i, t) in self.first.items()
                if self.count - i >= DELIVERED_AFTER_SYNCS and now - t >= DELIVERED_AFTER_S}

    def record(self, in_scene: set[str], now: float, document: bool = False) -> None:
        """After the document (``document=True``) or an update: keep the hashes of the scene, note the new ones."""
        index = -DELIVERED_AFTER_SYNCS if document else self.count
        self.first = {h: self.first.get(h, (index, now)) for h in in_scene}
        if not document:
            self.count += 1


class SceneVTK(VTKRenderWindowSynchronized):
    """``pn.pane.VTK`` for a render window that sends only new arrays, exported with numpy."""

    def __init__(self, object: Any = None, **params: Any) -> None:
        super().__init__(object, **params)
        self._sent: dict[str, SentArrays] = {}
        self.last_update_bytes = 0
        self._in_scene: set[str] = set()

    def _get_model(self, doc: Any, root: Any = None, parent: Any = None, comm: Any = None) -> Any:
        model = super()._get_model(doc, root, parent, comm)
        sent = SentArrays()
        sent.record(self._in_scene, time.monotonic(), document=True)
        self._sent[model.id] = sent
        return model

    def _cleanup(self, root: Any = None) -> None:
        if root is not None:
            for ref, (model, _parent) in list(self._models.items()):
                if ref == root.ref["id"]:
                    self._sent.pop(model.id, None)
        super()._cleanup(root)

    def _update(self, ref: str, model: Any) -> None:
        context = self._contexts[model.id]
        sent = self._sent.setdefault(model.id, SentArrays())
        now = time.monotonic()
        scene, arrays, annotations = self._serialize_ren_win(self.object, context, exclude_arrays=sent.held(now))
        in_scene = self._in_scene
        sent.record(in_scene, now)
        context.checkForArraysToRelease()
        self.last_update_bytes = sum(len(b) for b in arrays.values())
        log.info("scene update: %d of %d arrays sent, %.2f MB", len(arrays), len(in_scene),
                 self.last_update_bytes / 1e6)
        model.update(arrays=arrays, scene=scene, annotations=annotations)

    def _serialize_ren_win(self, ren_win: Any, context: Any, binary: bool = False, compression: bool = True,
                           exclude_arrays: Any = None) -> tuple[dict, dict, list]:
        import panel.pane.vtk.synchronizable_serializer as rws

        t0 = time.perf_counter()
        exclude = set(exclude_arrays or [])
        ren_win.OffScreenRenderingOn()
        stamp = time.time()
        scene = rws.serializeInstance(None, ren_win, context.getReferenceId(ren_win), context, 0)
        scene["properties"]["numberOfLayers"] = 2  # vtk.js keeps the second layer for its widgets
        drop_unused_colour_maps(scene)
        # the serialiser stamps every array the scene uses (older cache entries are not in the scene)
        in_scene = {h for h, entry in context.dataArrayCache.items() if entry["ts"] >= stamp}
        self._in_scene = in_scene
        arrays = {name: array_bytes(entry["array"]) for name, entry in context.dataArrayCache.items()
                  if name not in exclude and name in in_scene}
        log.info("scene serialised in %.0f ms: %d new arrays, %.1f MB", (time.perf_counter() - t0) * 1000,
                 len(arrays), sum(len(b) for b in arrays.values()) / 1e6)
        return scene, arrays, context.getAnnotations()
