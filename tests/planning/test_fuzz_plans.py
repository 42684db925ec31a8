"""Hostile and malformed plans: nothing but PlanError escapes, and errors name point and key.

About 1,500 generated plans in all (see the max_examples of each test), plus fixed cases for
10,000-level nesting and files over the size limit.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_examples import CONTRACT_EXAMPLE, FULL, fresh

from injectmap.planning.analysis import placement_issues
from injectmap.planning.cli_plan import cmd_validate
from injectmap.planning.plan import MAX_FILE_BYTES, Plan, PlanError, load_plan, loads_plan, parse_plan

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10 ** 20, max_value=10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324, -0.0]),
    st.sampled_from(["NaN", "Infinity", "-inf", "1e999", "4", "", " ", "glabella", "procerus",
                     "exocanthion_left", "onabotulinumtoxinA", "\u0000", "\ud7ff", "💉", "a" * 5000]),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=12), inner, max_size=5),
    ),
    max_leaves=25,
)
UNICODE_KEYS = st.text(min_size=1, max_size=40).filter(lambda k: k not in FULL and k not in FULL["points"][0])


def _check_issue_locations(exc: PlanError, obj: object) -> None:
    assert exc.errors
    for issue in exc.errors:
        text = str(issue)
        assert isinstance(issue.message, str) and issue.message
        assert len(text) < 3000
        if issue.path.startswith("points["):
            # names the point (index, and the id when it has a valid one) ...
            assert issue.point_index is not None
            assert text.startswith(f"points[{issue.point_index}]")
            if issue.point_id is not None:
                assert f"(id {issue.point_id!r})" in text
            # ... and the key, unless the point itself is not an object
            if issue.key is not None:
                assert issue.path.endswith(issue.key)
            else:
                assert "must be an object" in issue.message
        if issue.point_index is not None:
            assert issue.path.startswith(f"points[{issue.point_index}]")


def _parse_only_plan_error(obj: object) -> Plan | None:
    try:
        return parse_plan(obj)
    except PlanError as exc:
        _check_issue_locations(exc, obj)
        return None


def _paths(node, prefix=()):
    """Every (path, value) inside a plan dict."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p, _ in _paths(FULL) if p]


def _set(obj, path, value):
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value


def _delete(obj, path):
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    del cur[path[-1]]


@FUZZ
@given(JSON_VALUES)
def test_arbitrary_json_values(value):
    assert _parse_only_plan_error(value) is None or isinstance(value, dict)


@FUZZ
@given(st.sampled_from(PATHS), JSON_VALUES)
def test_mutated_valid_plan(path, value):
    obj = fresh()
    _set(obj, path, value)
    _parse_only_plan_error(obj)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["delete", "nan", "bool", "str", "huge"])),
                min_size=1, max_size=6))
def test_several_mutations_all_reported(mutations):
    obj = fresh()
    for path, how in mutations:
        try:
            if how == "delete":
                _delete(obj, path)
            else:
                _set(obj, path, {"nan": math.nan, "bool": True, "str": "x", "huge": 10 ** 500}[how])
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed the parent
    _parse_only_plan_error(obj)


@FUZZ
@given(st.integers(0, len(FULL["points"]) - 1), UNICODE_KEYS, JSON_VALUES,
       st.sampled_from(["point", "at", "plan", "product"]))
def test_random_unicode_keys_are_named(i, key, value, where):
    obj = fresh()
    target = {"point": obj["points"][i], "at": obj["points"][0]["at"], "plan": obj,
              "product": obj["product"]}[where]
    if key in target:
        return
    target[key] = value
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    _check_issue_locations(e.value, obj)
    assert any("unknown key" in x.message for x in e.value.errors)
    if where == "point":
        assert any(x.point_index == i and "unknown key" in x.message for x in e.value.errors)


@FUZZ
@given(st.integers(0, 10_000), st.sampled_from([FULL, CONTRACT_EXAMPLE]), st.booleans())
def test_truncated_json_text(cut, plan, indent):
    text = json.dumps(plan, indent=2 if indent else None, ensure_ascii=False)
    cut = cut % len(text)
    try:
        loads_plan(text[:cut])
    except PlanError as exc:
        assert exc.errors
        # truncated text is bad JSON (a cut can never yield a complete object)
        assert "not valid JSON" in str(exc.errors[0]) or "JSON object" in str(exc.errors[0])
    else:  # pragma: no cover
        pytest.fail("a truncated plan was accepted")


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.builds(lambda s, c: json.dumps(FULL)[:s] + c + json.dumps(FULL)[s:],
                           st.integers(0, 2000), st.text(max_size=5))))
def test_random_text_and_bytes(data):
    try:
        loads_plan(data)
    except PlanError as exc:
        assert exc.errors and all(str(e) for e in exc.errors)


@settings(max_examples=60, deadline=None)
@given(st.integers(1_000, 10_000), st.sampled_from(["[", "{\"a\":"]), st.booleans())
def test_deep_nesting_text(depth, opener, closed):
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + ("0" if opener != "[" else "") + (closer * depth if closed else "")
    text = '{"format": "injectmap-plan", "version": 1, "note": ' + inner + "}"
    with pytest.raises(PlanError):
        loads_plan(text)


@settings(max_examples=40, deadline=None)
@given(st.integers(1_000, 10_000))
def test_deep_nesting_objects(depth):
    deep: dict = {}
    cur = deep
    for _ in range(depth):
        cur["k"] = {}
        cur = cur["k"]
    obj = fresh()
    obj["points"][1]["note"] = deep
    obj["model"]["shape"] = deep
    obj["points"][2]["at"] = deep
    with pytest.raises(PlanError) as e:
        parse_plan(obj)
    _check_issue_locations(e.value, obj)


HOSTILE_FILES = st.one_of(
    st.builds(lambda path, v: ("mutate", path, v), st.sampled_from([p for p in PATHS if p[0] == "points"]),
              st.sampled_from([None, True, "x", [], {}, -1, 1e999, 10 ** 400])),
    st.builds(lambda n: ("truncate", n, None), st.integers(1, 3000)),
    st.builds(lambda t: ("text", t, None), st.text(max_size=100)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=HOSTILE_FILES)
def test_cmd_validate_on_hostile_files_returns_2(model, case):
    kind, a, b = case
    if kind == "mutate":
        obj = fresh()
        _set(obj, a, b)
        text = json.dumps(obj, allow_nan=True)  # 1e999 is written as the literal Infinity
    elif kind == "truncate":
        full = json.dumps(FULL, indent=2)
        text = full[: a % len(full)]
    else:
        text = a
    fd, path = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        out = io.StringIO()
        rc = cmd_validate(path, out=out, model=model)  # validate checks the placement on a face, as check does
        if kind == "mutate":
            try:
                valid = not placement_issues(model, parse_plan(json.loads(text)))
            except (PlanError, ValueError):
                valid = False
            assert rc == (0 if valid else 2)
        else:
            assert rc == 2
        lines = out.getvalue().splitlines()
        assert lines and all(line.startswith(path + ": ") for line in lines)
        if rc == 2 and kind == "mutate" and len(a) > 1 and b != 1e999:
            # the error names the mutated point (by index, and by id when it still has one)
            assert any(line.startswith(f"{path}: points[{a[1]}]") for line in lines), lines
    finally:
        os.unlink(path)


@pytest.mark.parametrize("depth", [10_000])
def test_ten_thousand_levels_through_the_cli(tmp_path, depth):
    p = tmp_path / "deep.json"
    p.write_text("[" * depth + "]" * depth)
    assert cmd_validate(p, out=io.StringIO()) == 2
    p.write_text('{"points": [' + "{\"a\":" * depth + "1" + "}" * depth + "]}")
    out = io.StringIO()
    assert cmd_validate(p, out=out) == 2
    assert "nested deeper" in out.getvalue()


def test_very_large_files(tmp_path):
    big = tmp_path / "big.json"
    obj = fresh()
    obj["patient"] = "x" * (MAX_FILE_BYTES + 1)
    big.write_text(json.dumps(obj))
    out = io.StringIO()
    assert cmd_validate(big, out=out) == 2
    assert "larger than 5 MB" in out.getvalue()
    # just under the limit: read and parsed, then rejected for the field's length
    obj["patient"] = "x" * (MAX_FILE_BYTES - 2000)
    big.write_text(json.dumps(obj))
    with pytest.raises(PlanError) as e:
        load_plan(big)
    assert [x.path for x in e.value.errors] == ["patient"]
    # many points: over the point limit
    obj = fresh(CONTRACT_EXAMPLE)
    obj["points"] = [copy.deepcopy(obj["points"][0]) | {"id": f"p{i}"} for i in range(6000)]
    big.write_text(json.dumps(obj))
    with pytest.raises(PlanError) as e:
        load_plan(big)
    assert "at most 5000 points" in str(e.value)
