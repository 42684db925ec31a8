"""The plan commands the CLI calls."""

from __future__ import annotations

import io
import json

from plan_examples import CONTRACT_EXAMPLE, fresh

from injectmap.planning.cli_plan import cmd_mirror, cmd_validate
from injectmap.planning.plan import load_plan

#: the CONTRACTS example with m1's entry on the skin over the right masseter of the default face
ON_THE_FACE = fresh(CONTRACT_EXAMPLE)
ON_THE_FACE["points"][2]["entry_mm"] = [-54.9, -59.9, -36.6]


def test_validate_ok(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(ON_THE_FACE))
    out = io.StringIO()
    assert cmd_validate(p, out=out) == 0
    assert out.getvalue() == f"{p}: ok (3 points)\n"


def test_validate_rejects_what_check_rejects(tmp_path):
    """The CONTRACTS example's m1 entry lies 29 mm from the default face's skin: ``check`` always rejected
    it, and ``validate`` (which said ok) now agrees, naming the point and the key."""
    p = tmp_path / "p.json"
    p.write_text(json.dumps(CONTRACT_EXAMPLE))
    out = io.StringIO()
    assert cmd_validate(p, out=out) == 2
    assert out.getvalue() == f"{p}: points[2] (id 'm1').entry_mm: the entry is 29.0 mm from the skin (at most 15 mm)\n"


def test_validate_bad_prints_one_error_per_line(tmp_path):
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][0]["units"] = -1
    obj["points"][1]["depth_mm"] = 55
    p = tmp_path / "p.json"
    p.write_text(json.dumps(obj))
    out = io.StringIO()
    assert cmd_validate(p, out=out) == 2
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{p}: points[0] (id 'g1').units: must be greater than 0 and at most 400, got -1",
        f"{p}: points[1] (id 'c1').depth_mm: must be between 0 and 40, got 55",
    ]


def test_validate_missing_file(tmp_path, capsys):
    assert cmd_validate(tmp_path / "none.json") == 2
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'none.json'}: no such file"


def test_mirror_in_place_and_to_out(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(CONTRACT_EXAMPLE))
    q = tmp_path / "q.json"
    out = io.StringIO()
    assert cmd_mirror(p, out=q, stream=out) == 0
    assert len(load_plan(q).points) == 5
    assert json.loads(p.read_text()) == CONTRACT_EXAMPLE
    assert cmd_mirror(p, side="left", stream=out) == 0
    assert [x.id for x in load_plan(p).points][-1] == "c1_mirror"


def test_mirror_bad(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("{")
    out = io.StringIO()
    assert cmd_mirror(p, stream=out) == 2
    assert "not valid JSON" in out.getvalue()
    p.write_text(json.dumps(CONTRACT_EXAMPLE))
    assert cmd_mirror(p, side="up", stream=out) == 2
    assert cmd_mirror(p, out=tmp_path / "no" / "dir.json", stream=out) == 3
