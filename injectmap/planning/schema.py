"""JSON Schema (draft 2020-12) of the plan file, version 1; published as docs/plan.schema.json.

The schema checks the structure: keys, types, ranges, id enums, the either/or rules. A few checks
need code and are done only by :func:`planning.plan.parse_plan`: a unit-length ``direction``,
``units_per_vial`` among the product's vial sizes, ``diluent_ml`` in the product's range, unique
point and session ids, declared sessions, real calendar dates, and the distance of ``entry_mm``
from the skin (which needs the face). Regenerate the published file with
``python -m planning.schema > docs/plan.schema.json``; a test keeps them equal.
"""

from __future__ import annotations

import json
from typing import Any

from injectmap.anatomy.ids import MIDLINE_LANDMARKS, landmark_ids, structure_ids
from injectmap.planning import plan as P
from injectmap.planning.products import product_names

__all__ = ["SCHEMA_ID", "build_schema", "schema_text"]

SCHEMA_ID = "https://injectmap.example/schemas/plan-v1.schema.json"


def _num(lo: float, hi: float, lo_open: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "number", "maximum": hi}
    d["exclusiveMinimum" if lo_open else "minimum"] = lo
    return d


def _vec3(limit: float) -> dict[str, Any]:
    return {"type": "array", "items": _num(-limit, limit), "minItems": 3, "maxItems": 3}


def build_schema() -> dict[str, Any]:
    """The schema as a dict (ids and products from injectmap.anatomy.ids and products.yaml)."""
    landmarks = sorted(landmark_ids())
    product = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "units_per_vial", "diluent_ml"],
        "properties": {
            "name": {"enum": product_names()},
            "units_per_vial": _num(0, 10000, lo_open=True),
            "diluent_ml": _num(0, 10, lo_open=True),
        },
    }
    at = {
        "type": "object",
        "additionalProperties": False,
        "required": ["landmark"],
        "properties": {
            "landmark": {"$ref": "#/$defs/landmark"},
            "superior_mm": _num(-P.MAX_OFFSET_MM, P.MAX_OFFSET_MM),
            "anterior_mm": _num(-P.MAX_OFFSET_MM, P.MAX_OFFSET_MM),
            "lateral_mm": _num(-P.MAX_OFFSET_MM, P.MAX_OFFSET_MM),
            "left_mm": _num(-P.MAX_OFFSET_MM, P.MAX_OFFSET_MM),
        },
        "if": {"required": ["landmark"], "properties": {"landmark": {"enum": list(MIDLINE_LANDMARKS)}}},
        "then": {"not": {"required": ["lateral_mm"]}},
    }
    point = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "units"],
        "properties": {
            "id": {"type": "string", "pattern": P.POINT_ID_RE.pattern},
            "units": _num(0, P.MAX_UNITS, lo_open=True),
            "target": {"enum": sorted(structure_ids())},
            "at": at,
            "entry_mm": _vec3(P.MAX_COORD_MM),
            "depth_mm": _num(0, P.MAX_DEPTH_MM),
            "tip_mm": _vec3(P.MAX_COORD_MM),
            "direction": _vec3(2.0),
            "angle_deg": _num(0, P.MAX_ANGLE_DEG),
            "toward": {"$ref": "#/$defs/landmark"},
            "product": {"$ref": "#/$defs/product"},
            "volume_ml": _num(0, P.MAX_VOLUME_ML, lo_open=True),
            "session": {"$ref": "#/$defs/session_id"},
            "lot": {"type": "string", "maxLength": 100},
            "deviation": {"type": "string", "maxLength": P.MAX_TEXT},
            "note": {"type": "string", "maxLength": P.MAX_TEXT},
        },
        "allOf": [
            {"oneOf": [{"required": ["at"]}, {"required": ["entry_mm"]}]},
            {"oneOf": [{"required": ["depth_mm"]}, {"required": ["tip_mm"]}]},
            {"if": {"required": ["tip_mm"]},
             "then": {"not": {"anyOf": [{"required": ["direction"]}, {"required": ["angle_deg"]}]}}},
            {"if": {"required": ["direction"]}, "then": {"not": {"required": ["angle_deg"]}}},
            {"if": {"required": ["angle_deg"]}, "then": {"required": ["toward"]}},
            {"if": {"required": ["toward"]}, "then": {"required": ["angle_deg"]}},
        ],
    }
    session = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {
            "id": {"$ref": "#/$defs/session_id"},
            "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "label": {"type": "string", "maxLength": 200},
        },
    }
    model = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "sex": {"oneOf": [{"enum": ["female", "male"]}, _num(0, 1)]},
            "shape": {
                "type": "object",
                "maxProperties": 200,
                "propertyNames": {"minLength": 1, "maxLength": 64},
                "additionalProperties": _num(-1, 1),
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "injectmap plan, version 1",
        "description": (
            "An injection plan for botulinum toxin (CONTRACTS.md, 'Plan file'). Millimetres; +x the "
            "subject's left, +y superior, +z anterior. Checks that need code (unit direction, vial sizes, "
            "unique ids, declared sessions, entry distance from the skin) are done by the program."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "version", "product", "points"],
        "properties": {
            "format": {"const": P.FORMAT},
            "version": {"const": P.VERSION, "type": "integer"},
            "product": {"$ref": "#/$defs/product"},
            "points": {"type": "array", "items": {"$ref": "#/$defs/point"}, "maxItems": P.MAX_POINTS},
            "sessions": {"type": "array", "items": {"$ref": "#/$defs/session"},
                         "maxItems": P.MAX_SESSIONS},
            "patient": {"type": "string", "maxLength": P.MAX_TEXT},
            "model": model,
        },
        "$defs": {
            "landmark": {"enum": landmarks},
            "session_id": {"type": "string", "pattern": P.SESSION_ID_RE.pattern},
            "product": product,
            "point": point,
            "session": session,
        },
    }


def schema_text() -> str:
    """The schema as published: 2-space JSON with a final newline."""
    return json.dumps(build_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
