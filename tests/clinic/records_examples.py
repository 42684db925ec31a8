"""A plan and two tiny image files shared by the records tests."""

from __future__ import annotations

from typing import Any

PLAN: dict[str, Any] = {
    "format": "injectmap-plan",
    "version": 1,
    "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
    "patient": "Ms Example",
    "points": [
        {"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3},
        {"id": "c1", "units": 4.5, "target": "orbicularis_oculi_left",
         "at": {"landmark": "exocanthion_left", "lateral_mm": 10, "superior_mm": 5}, "depth_mm": 2, "lot": "C1234A"},
        {"id": "m1", "units": 10, "target": "masseter_superficial_right",
         "entry_mm": [-52.0, -70.5, 20.1], "depth_mm": 10},
    ],
}

JPEG = bytes.fromhex("ffd8ffe000104a46494600") + b"\x00" * 100 + b"\xff\xd9"
PNG = bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 64
