"""Panel's synchronised VTK pane with a vectorised array export.

Panel sends vtk.js each new data array of the scene. Its serializer converts 64-bit id arrays (the
cell connectivity of every mesh) to 32-bit values one element at a time in Python, which costs
seconds for a face of a few hundred thousand triangles, on the first frame and on every change that
brings new arrays. :class:`SceneVTK` does the same conversion with numpy; everything else (the scene
description, the hashing, what the browser already has) is Panel's own.
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


class SceneVTK(VTKRenderWindowSynchronized):
    """``pn.pane.VTK`` for a render window, with a fast export of new data arrays."""

    def _serialize_ren_win(self, ren_win: Any, context: Any, binary: bool = False, compression: bool = True,
                           exclude_arrays: Any = None) -> tuple[dict, dict, list]:
        import panel.pane.vtk.synchronizable_serializer as rws

        t0 = time.perf_counter()
        exclude = set(exclude_arrays or [])
        ren_win.OffScreenRenderingOn()
        ren_win.Modified()
        ren_win.Render()
        scene = rws.serializeInstance(None, ren_win, context.getReferenceId(ren_win), context, 0)
        scene["properties"]["numberOfLayers"] = 2  # vtk.js keeps the second layer for its widgets
        arrays = {name: array_bytes(entry["array"]) for name, entry in context.dataArrayCache.items()
                  if name not in exclude}
        log.info("scene serialised in %.0f ms: %d new arrays, %.1f MB", (time.perf_counter() - t0) * 1000,
                 len(arrays), sum(len(b) for b in arrays.values()) / 1e6)
        return scene, arrays, context.getAnnotations()
