"""The published JSON Schema agrees with the code and with the parser."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from plan_examples import CONTRACT_EXAMPLE, FULL, fresh, reference_plans

from injectmap.anatomy.ids import landmark_ids, structure_ids
from injectmap.planning.doses import treatable_targets
from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.schema import build_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "plan.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_published_schema_is_current():
    assert (ROOT / "docs" / "plan.schema.json").read_text() == schema_text()


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _objects(node):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for v in node.values():
            yield from _objects(v)
    elif isinstance(node, list):
        for v in node:
            yield from _objects(v)


def test_additional_properties_false_on_every_record():
    for obj in _objects(build_schema()):
        if "properties" in obj:
            assert obj.get("additionalProperties") is False, obj.get("required")


def test_enums_match_ids():
    assert set(SCHEMA["$defs"]["landmark"]["enum"]) == set(landmark_ids())
    point = SCHEMA["$defs"]["point"]["properties"]
    assert set(point["target"]["enum"]) == set(treatable_targets()) < set(structure_ids())
    assert "orbit_left" not in point["target"]["enum"] and "facial_artery_left" not in point["target"]["enum"]


@pytest.mark.parametrize("obj", [CONTRACT_EXAMPLE, FULL, *reference_plans()])
def test_valid_plans_pass_schema(obj):
    VALIDATOR.validate(obj)
    parse_plan(obj)


MUTATIONS = [
    lambda o: o.update(version=2),
    lambda o: o.update(extra=1),
    lambda o: o["points"][0].update(units=-1),
    lambda o: o["points"][0].update(units=True),
    lambda o: o["points"][0].update(depth_mm=41),
    lambda o: o["points"][0].update(tip_mm=[0, 0, 0]),
    lambda o: o["points"][0].pop("depth_mm"),
    lambda o: o["points"][0]["at"].update(lateral_mm=2),
    lambda o: o["points"][0]["at"].update(landmark="chin"),
    lambda o: o["points"][0].update(target="glabella"),
    lambda o: o["points"][2].update(entry_mm=[1, 2]),
    lambda o: o["points"][1].update(angle_deg=10),
    lambda o: o["product"].update(name="botox"),
    lambda o: o["points"][1].update(session="Touch"),
    lambda o: o.update(model={"sex": 3}),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_schema_and_parser_reject_the_same_structural_errors(mutate):
    obj = fresh(CONTRACT_EXAMPLE)
    mutate(obj)
    assert list(VALIDATOR.iter_errors(obj))
    with pytest.raises(PlanError):
        parse_plan(obj)
