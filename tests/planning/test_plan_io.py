"""load_plan / save_plan: file-level errors, round trip identity, atomic write details."""

from __future__ import annotations

import json
import os
import stat

import pytest
from plan_examples import CONTRACT_EXAMPLE, FULL, fresh, reference_plans

from injectmap.planning.plan import (
    MAX_FILE_BYTES,
    PlanError,
    dumps_plan,
    load_plan,
    loads_plan,
    parse_plan,
    plan_to_dict,
    save_plan,
)


def load_error(path) -> str:
    with pytest.raises(PlanError) as e:
        load_plan(path)
    assert len(e.value.errors) >= 1
    return str(e.value.errors[0])


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "nope.json").endswith("nope.json: no such file")


def test_directory(tmp_path):
    assert "is a directory" in load_error(tmp_path)


def test_not_utf8(tmp_path):
    p = tmp_path / "p.json"
    p.write_bytes(b'{"format": "injectmap-plan", "patient": "\xff\xfe"}')
    assert "not UTF-8" in load_error(p)


@pytest.mark.parametrize("cut", [1, 10, 50, 200])
def test_truncated_json_gives_line_and_column(tmp_path, cut):
    text = json.dumps(FULL, indent=2)
    p = tmp_path / "p.json"
    p.write_text(text[:cut])
    msg = load_error(p)
    assert "not valid JSON" in msg and "line" in msg and "column" in msg


def test_invalid_json_position(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('{\n  "format": "injectmap-plan",\n  "version": 1,,\n}')
    assert "line 3 column 16" in load_error(p)


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_rejected(tmp_path, const):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(fresh(CONTRACT_EXAMPLE)).replace('"units": 4', f'"units": {const}', 1))
    assert const.lstrip("-") in load_error(p)


def test_overflowing_float_is_rejected(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(fresh(CONTRACT_EXAMPLE)).replace('"units": 4', '"units": 1e999', 1))
    assert "points[0] (id 'g1').units: must be a finite number" in load_error(p)


def test_huge_integer_literal(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(fresh(CONTRACT_EXAMPLE)).replace('"units": 4', '"units": ' + "9" * 10000, 1))
    load_error(p)


@pytest.mark.parametrize("depth", [65, 1000, 10_000, 200_000])
def test_deep_nesting(tmp_path, depth):
    p = tmp_path / "p.json"
    p.write_text('{"format": "injectmap-plan", "note": ' + "[" * depth + "]" * depth + "}")
    assert "nested deeper" in load_error(p)
    p.write_text("[" * depth)  # unterminated as well
    load_error(p)


def test_deep_nesting_python_object():
    obj = fresh(CONTRACT_EXAMPLE)
    deep: list = []
    cur = deep
    for _ in range(100_000):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    obj["points"][0]["note"] = deep
    obj["patient"] = {"a": deep}
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    assert {i.path for i in e.value.errors} == {"points[0] (id 'g1').note", "patient"}


def test_file_too_large_is_rejected_before_parsing(tmp_path, monkeypatch):
    p = tmp_path / "big.json"
    with open(p, "wb") as f:
        f.write(b"{" + b" " * (MAX_FILE_BYTES + 10) + b"}")

    def boom(*a, **k):
        raise AssertionError("must not parse a file over the limit")

    monkeypatch.setattr(json, "loads", boom)
    assert "larger than 5 MB" in load_error(p)


@pytest.mark.parametrize("text", ["[]", "null", "3", '"plan"', "true"])
def test_top_level_non_object(tmp_path, text):
    p = tmp_path / "p.json"
    p.write_text(text)
    assert "must be a JSON object" in load_error(p)


def test_empty_file(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("")
    assert "not valid JSON" in load_error(p)


def test_bom_accepted(tmp_path):
    p = tmp_path / "p.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(CONTRACT_EXAMPLE).encode())
    assert len(load_plan(p).points) == 3


def test_validation_errors_come_through_load(tmp_path):
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][1]["depth_mm"] = 55
    p = tmp_path / "p.json"
    p.write_text(json.dumps(obj))
    assert load_error(p) == "points[1] (id 'c1').depth_mm: must be between 0 and 40, got 55"


@pytest.mark.parametrize("obj", [CONTRACT_EXAMPLE, FULL, *reference_plans()])
def test_round_trip_identity(tmp_path, obj):
    p1, p2 = tmp_path / "a.json", tmp_path / "b.json"
    p1.write_text(json.dumps(obj))
    plan = load_plan(p1)
    assert plan_to_dict(plan) == obj
    save_plan(plan, p2)
    again = load_plan(p2)
    assert again == plan
    assert plan_to_dict(again) == obj
    text = p2.read_text(encoding="utf-8")
    save_plan(again, p1)
    assert p1.read_text(encoding="utf-8") == text  # byte-stable


def test_float_formatting_round_trips(tmp_path):
    obj = fresh(CONTRACT_EXAMPLE)
    values = [0.1, 1 / 3, 2.675, 1e-7, 39.99999999999999, 12.3456789012345678, 5e-324]
    obj["points"][2]["entry_mm"] = values[:3]
    obj["points"][0]["depth_mm"] = values[3]
    obj["points"][1]["depth_mm"] = values[4]
    obj["points"][2]["depth_mm"] = values[5]
    p = tmp_path / "p.json"
    save_plan(parse_plan(obj), p)
    back = plan_to_dict(load_plan(p))
    assert back == obj
    assert back["points"][2]["entry_mm"] == values[:3]
    # ints stay ints, floats stay floats
    assert isinstance(back["version"], int) and isinstance(back["points"][0]["units"], int)
    assert "4.0" not in dumps_plan(parse_plan(fresh(CONTRACT_EXAMPLE))).split('"units": ')[1][:4]


def test_unicode_kept(tmp_path):
    plan = parse_plan(fresh())
    p = tmp_path / "ü.json"
    save_plan(plan, p)
    assert "ünïcode" in p.read_text(encoding="utf-8")
    assert load_plan(p) == plan


def test_save_keeps_mode_and_leaves_no_temp(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("{}")
    os.chmod(p, 0o640)
    save_plan(parse_plan(fresh()), p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["p.json"]


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "p.json"
    save_plan(parse_plan(fresh(CONTRACT_EXAMPLE)), p)
    old = p.read_bytes()

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        save_plan(parse_plan(fresh()), p)
    assert p.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["p.json"]


def test_loads_plan_bytes_and_text():
    text = json.dumps(CONTRACT_EXAMPLE)
    assert loads_plan(text) == loads_plan(text.encode())


# hardening: ambiguous keys, broken Unicode, paths that are not files


def test_duplicate_key_in_a_point_is_rejected(tmp_path):
    text = json.dumps(CONTRACT_EXAMPLE).replace('"units": 4,', '"units": 4, "units": 400,', 1)
    assert text.count('"units"') == 4
    p = tmp_path / "p.json"
    p.write_text(text)
    msg = load_error(p)
    assert "duplicate key 'units'" in msg and "id 'g1'" in msg


def test_duplicate_key_at_top_level_is_rejected():
    text = json.dumps(CONTRACT_EXAMPLE)[:-1] + ', "version": 1}'
    with pytest.raises(PlanError) as e:
        loads_plan(text)
    assert [str(i) for i in e.value.errors] == [
        "<plan>: duplicate key 'version': a JSON object may give a key only once (which value was meant?)"]


@pytest.mark.parametrize("key", ["note", "lot", "deviation"])
def test_lone_surrogate_in_a_text_is_rejected(tmp_path, key):
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"][1][key] = "bad \ud800 text"
    p = tmp_path / "p.json"
    p.write_text(json.dumps(obj))  # ASCII JSON with the escape "\ud800"
    assert "\\ud800" in p.read_text()
    msg = load_error(p)
    assert msg.startswith(f"points[1] (id 'c1').{key}: ") and "surrogate" in msg


def test_lone_surrogate_in_patient_and_model_name():
    obj = fresh(FULL)
    obj["patient"] = "\udfff"
    obj["model"]["name"] = "x\ud800"
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    assert {i.path for i in e.value.errors} == {"patient", "model.name"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_rejected_without_blocking(tmp_path):
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    assert "is not a regular file" in load_error(fifo)


def test_device_is_rejected():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    assert "is not a regular file" in load_error("/dev/zero")


def test_duplicate_key_and_other_errors_are_all_listed():
    text = json.dumps(CONTRACT_EXAMPLE).replace('"units": 4,', '"units": 4, "units": 400,', 1)
    text = text.replace('"depth_mm": 2', '"depth_mm": 55', 1)
    with pytest.raises(PlanError) as e:
        loads_plan(text)
    msgs = [str(i) for i in e.value.errors]
    assert len(msgs) == 2, msgs
    assert "duplicate key 'units'" in msgs[0]
    assert msgs[1] == "points[1] (id 'c1').depth_mm: must be between 0 and 40, got 55"


def test_lone_surrogate_in_a_shape_parameter_name():
    obj = fresh(FULL)
    obj["model"]["shape"]["jaw\ud800"] = 0.5
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    (issue,) = e.value.errors
    assert issue.path == "model.shape" and "surrogate" in issue.message
