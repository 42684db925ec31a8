"""``plan mirror`` blames the output, not the input, when the mirrored plan would be too large; before,
it printed ``<input>: points: at most 5000 points, got 5200`` as if the (valid) input file were wrong."""

from __future__ import annotations

import io
import json

from injectmap.planning.cli_plan import cmd_mirror
from injectmap.planning.plan import MAX_POINTS, load_plan


def _lateral_plan(n: int, note: str = "") -> dict:
    pt = {"units": 1, "target": "frontalis_left", "at": {"landmark": "brow_peak_left"}, "depth_mm": 2}
    if note:
        pt["note"] = note
    return {"format": "injectmap-plan", "version": 1,
            "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
            "points": [{**pt, "id": f"p{i}", "at": {"landmark": "brow_peak_left", "superior_mm": i % 50}}
                       for i in range(n)]}


def test_too_many_points_after_mirroring_names_the_output(tmp_path):
    src, dest = tmp_path / "in.json", tmp_path / "out.json"
    n = MAX_POINTS // 2 + 100
    src.write_text(json.dumps(_lateral_plan(n)))
    assert len(load_plan(src).points) == n  # the input is valid
    out = io.StringIO()
    assert cmd_mirror(src, out=dest, stream=out) == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith(f"{dest}: not written: the mirrored plan ({src} with its mirrored points added)")
    assert f"at most {MAX_POINTS} points, got {2 * n}" in line
    assert not dest.exists()


def test_too_many_bytes_after_mirroring_names_the_output(tmp_path):
    """An input under the 5 MB limit whose mirror image would be over it: refused, the input said fine."""
    src = tmp_path / "in.json"
    src.write_text(json.dumps(_lateral_plan(1500, note="n" * 1900)))
    assert src.stat().st_size < 5 * 1024 * 1024 and len(load_plan(src).points) == 1500
    before = src.read_bytes()
    out = io.StringIO()
    assert cmd_mirror(src, stream=out) == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith(f"{src}: not written: the mirrored plan would be") and f"{src} itself is fine" in line
    assert src.read_bytes() == before
