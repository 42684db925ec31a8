"""The vectorised array export gives vtk.js the same bytes as Panel's element-wise one."""

from __future__ import annotations

import numpy as np
import pyvista as pv
from panel.pane.vtk.synchronizable_serializer import SynchronizationContext
from vtkmodules.util.numpy_support import numpy_to_vtk

from viewer.vtk_pane import array_bytes


def test_same_bytes_as_panel() -> None:
    ctx = SynchronizationContext(id_root="t")
    mesh = pv.Sphere()
    ids = numpy_to_vtk(np.array([3, 0, 1, 2, 5, 70000], dtype=np.int64), deep=True, array_type=12)
    for arr in (ids, mesh.GetPoints().GetData()):
        ctx.cacheDataArray("k", {"array": arr, "mTime": arr.GetMTime(), "ts": 0})
        assert array_bytes(arr) == ctx.getCachedDataArray("k", binary=True)
