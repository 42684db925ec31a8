"""Published protocols as templates: the file, the plans they make, and the main calibration of
severity: each template, on the default face and on every face-parameter extreme, raises no danger,
every point reaches its target, and a caution appears only where the template lists it as expected,
with the source that warns about that site."""

from __future__ import annotations

import json

import pytest

from injectmap.planning.check import check_plan
from injectmap.planning.datafiles import load_data
from injectmap.planning.plan import parse_plan
from injectmap.planning.protocols import (
    ProtocolsFile,
    UnknownProtocolError,
    expanded_points,
    get_protocol,
    protocol_names,
    protocol_plan,
    protocol_table,
)
from injectmap.planning.results import Severity

#: the patterns issue 10 names, each one template at least
REQUIRED = ("glabella_five_point", "forehead_lines_with_glabella", "lateral_canthal_three_point", "bunny_lines",
            "dao_single_point", "mentalis_paired", "masseter_three_point", "platysma_jawline")

#: the face-parameter extremes (FaceParams keywords); brow_right is the mirror of brow_left
EXTREMES: tuple[dict[str, float], ...] = (
    {"sex": 0.0}, {"sex": 1.0}, {"masseter": -1.0}, {"masseter": 1.0}, {"brow_left": 1.0}, {"brow_left": -1.0},
)

def _base(sid: str | None) -> str:
    if sid is None:
        return ""
    for suffix in ("_left", "_right"):
        if sid.endswith(suffix):
            return sid[: -len(suffix)]
    return sid


def calibration_problems(model, name: str) -> tuple[list[str], list[str]]:
    """Check one template on one face: every danger, plan-level caution, unreached target or caution the
    template does not list with a source that warns about that site."""
    plan = protocol_plan(name)
    res = check_plan(plan, model)
    expected = {e.plan_point["id"]: {(x.code, x.structure) for x in e.expected} for e in expanded_points(name)}
    # a site's warning names a structure, on either side (the field of a point near the midline crosses it)
    problems = []
    for f in res.findings:
        if f.severity >= Severity.CAUTION:
            problems.append(f"{name}: plan finding {f.severity.value} {f.code}: {f.message}")
    for p in res.points:
        if p.target is not None and not p.target_reached:
            problems.append(f"{name}/{p.id}: target {p.target} not reached")
        for f in p.findings:
            if f.severity == Severity.DANGER:
                problems.append(f"{name}/{p.id}: danger {f.code} {f.structure}")
            elif f.severity == Severity.CAUTION and (f.code, _base(f.structure)) not in expected[p.id]:
                problems.append(f"{name}/{p.id}: unexpected caution {f.code} {f.structure} ({f.distance_mm})")
    return problems


# -- the file and the plans -------------------------------------------------------------------------------
def test_required_templates_exist_with_sources():
    names = protocol_names()
    for n in REQUIRED:
        assert n in names
        p = get_protocol(n)
        assert p.sources and p.note
        for e in expanded_points(n):
            t = e.template
            assert t.source and t.site and t.confidence
            lo, hi = t.units_range
            assert lo <= e.plan_point["units"] <= hi
            for x in e.expected:
                assert x.source, (n, e.plan_point["id"])


def test_every_template_is_a_valid_plan_with_unique_ids():
    for n in protocol_names():
        plan = protocol_plan(n)
        ids = [p["id"] for p in plan["points"]]
        assert len(ids) == len(set(ids)), n
        parsed = parse_plan(json.loads(json.dumps(plan)))
        assert len(parsed.points) == len(ids)


def test_bilateral_points_mirror():
    plan = protocol_plan("mentalis_paired")
    left, right = plan["points"]
    assert left["target"] == "mentalis_left" and right["target"] == "mentalis_right"
    assert left["at"]["left_mm"] == -right["at"]["left_mm"] > 0
    canthal = {p["id"]: p for p in protocol_plan("lateral_canthal_three_point")["points"]}
    assert canthal["canthal_mid_right"]["at"]["landmark"] == "exocanthion_right"


def test_label_totals():
    """The label's totals: glabella 20 U, forehead with glabella 40 U, crow's feet 24 U (PROTOCOLS.md)."""
    def total(n):
        return sum(p["units"] for p in protocol_plan(n)["points"])

    assert total("glabella_five_point") == 20
    assert total("forehead_lines_with_glabella") == 40
    assert total("lateral_canthal_three_point") == 24


def test_unknown_protocol_lists_the_names():
    with pytest.raises(UnknownProtocolError, match="glabella_five_point"):
        get_protocol("no_such_pattern")


def test_table_names_points_and_sources():
    text = protocol_table("masseter_three_point")
    assert "masseter_top_left" in text and "ASJ:" in text and "total 48 U" in text


def test_file_model_refuses_unknown_source_code():
    data = load_data("protocols.yaml")
    data["protocols"]["bunny_lines"]["sources"].append("NOPE")
    with pytest.raises(ValueError, match="NOPE"):
        ProtocolsFile.model_validate(data)


def test_file_model_refuses_units_outside_range():
    data = load_data("protocols.yaml")
    data["protocols"]["bunny_lines"]["points"][0]["units"] = 9
    with pytest.raises(ValueError, match="units_range"):
        ProtocolsFile.model_validate(data)


# -- the calibration --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", protocol_names())
def test_template_on_the_default_face(model, name):
    problems = calibration_problems(model, name)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.variants
@pytest.mark.parametrize("face", EXTREMES, ids=lambda f: ",".join(f"{k}{v:+g}" for k, v in f.items()))
def test_templates_on_the_face_extremes(face):
    from injectmap.anatomy.model import load_model

    m = load_model(**face)
    problems = []
    for n in protocol_names():
        problems += calibration_problems(m, n)
    assert not problems, "\n".join(problems)
