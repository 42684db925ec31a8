"""The vectorised array export gives vtk.js the same bytes as Panel's element-wise one."""

from __future__ import annotations

import json

import numpy as np
import pyvista as pv
from panel.pane.vtk.synchronizable_serializer import SynchronizationContext
from vtkmodules.util.numpy_support import numpy_to_vtk

from viewer.vtk_pane import SentArrays, array_bytes, drop_unused_colour_maps


def test_same_bytes_as_panel() -> None:
    ctx = SynchronizationContext(id_root="t")
    mesh = pv.Sphere()
    ids = numpy_to_vtk(np.array([3, 0, 1, 2, 5, 70000], dtype=np.int64), deep=True, array_type=12)
    for arr in (ids, mesh.GetPoints().GetData()):
        ctx.cacheDataArray("k", {"array": arr, "mTime": arr.GetMTime(), "ts": 0})
        assert array_bytes(arr) == ctx.getCachedDataArray("k", binary=True)


def test_sent_arrays_are_left_out_only_when_surely_held() -> None:
    sent = SentArrays()
    sent.record({"a", "b"}, now=0.0, document=True)
    assert sent.held(1.0) == set()  # too soon
    assert sent.held(2.5) == {"a", "b"}
    sent.record({"a", "b", "c"}, now=3.0)  # update 1 sends c
    assert sent.held(6.0) == {"a", "b"}  # c: no later update yet (the browser may have skipped update 1)
    sent.record({"a", "c"}, now=6.0)  # update 2 sends c again; b left the scene
    assert sent.held(6.5) == {"a", "c"}
    sent.record({"a", "b", "c"}, now=9.0)  # b came back: sent again
    assert "b" not in sent.held(20.0)


def test_colour_maps_of_plain_coloured_mappers_are_dropped() -> None:
    ctf = {"id": "lut", "type": "vtkColorTransferFunction", "properties": {"nodes": [[0, 1, 1, 1, 0.5, 0]] * 256}}
    data = {"id": "pd", "type": "vtkPolyData", "properties": {}}

    def mapper(i: str, scalars: bool) -> dict:
        return {"id": i, "type": "vtkDataSetMapper", "properties": {"scalarVisibility": int(scalars)},
                "dependencies": [dict(data), dict(ctf)],
                "calls": [["setInputData", ["pd", 0]], ["setLookupTable", ["lut"]]]}

    scene = {"id": "rw", "dependencies": [{"id": "a1", "type": "vtkActor", "dependencies": [mapper("m1", False)]},
                                          {"id": "a2", "type": "vtkActor", "dependencies": [mapper("m2", True)]}]}
    drop_unused_colour_maps(scene)
    text = json.dumps(scene)
    assert text.count("vtkColorTransferFunction") == 1 and text.count("setLookupTable") == 1
    plain = scene["dependencies"][0]["dependencies"][0]
    assert [d["type"] for d in plain["dependencies"]] == ["vtkPolyData"]
    assert plain["calls"] == [["setInputData", ["pd", 0]]]
