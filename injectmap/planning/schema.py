"""JSON Schema (draft 2020-12) of the plan file, version 1, generated from the pydantic model.

The schema is :class:`injectmap.planning.planfile.PlanFile`'s own (keys, types, ranges, id enums,
and the either/or rules each record declares), with the draft, ``$id`` and description added. A
few checks need code and are done only by :func:`injectmap.planning.plan.parse_plan`: a unit-length
``direction``, ``units_per_vial`` among the product's vial sizes, ``diluent_ml`` in the product's
range, unique point and session ids, declared sessions, real calendar dates, and the distance of
``entry_mm`` from the skin (which needs the face). Regenerate the published file with
``python -m injectmap.planning.schema > docs/plan.schema.json``; a test keeps them equal.
"""

from __future__ import annotations

import json
from typing import Any

from injectmap.planning.planfile import plan_json_schema

__all__ = ["SCHEMA_ID", "build_schema", "schema_text"]

SCHEMA_ID = "https://injectmap.example/schemas/plan-v1.schema.json"


def build_schema() -> dict[str, Any]:
    """The schema as a dict (ids from injectmap.anatomy.ids, products from products.yaml)."""
    generated = plan_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": generated.pop("title"),
        "description": (
            "An injection plan for botulinum toxin (CONTRACTS.md, 'Plan file'). Millimetres; +x the "
            "subject's left, +y superior, +z anterior. Checks that need code (unit direction, vial sizes, "
            "unique ids, declared sessions, entry distance from the skin) are done by the program."
        ),
        **generated,
    }


def schema_text() -> str:
    """The schema as published: 2-space JSON with a final newline."""
    return json.dumps(build_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
