"""Plans shared by the plan tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

CONTRACT_EXAMPLE: dict[str, Any] = {
    "format": "injectmap-plan",
    "version": 1,
    "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
    "points": [
        {"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3},
        {"id": "c1", "units": 4, "target": "orbicularis_oculi_left",
         "at": {"landmark": "exocanthion_left", "lateral_mm": 10, "superior_mm": 5}, "depth_mm": 2},
        {"id": "m1", "units": 10, "target": "masseter_superficial_right",
         "entry_mm": [-52.0, -70.5, 20.1], "depth_mm": 10},
    ],
}

FULL: dict[str, Any] = {
    "format": "injectmap-plan",
    "version": 1,
    "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
    "patient": "Ms Example, 0.1 mL per point, ünïcode ok",
    "model": {"name": "default", "sex": 0.25, "shape": {"masseter": -0.3, "brow_left": 0.1}},
    "sessions": [
        {"id": "initial", "date": "2026-01-05", "label": "First visit"},
        {"id": "touch_up", "date": "2026-01-19"},
    ],
    "points": [
        {"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella", "left_mm": 0.0},
         "depth_mm": 3.5, "lot": "C1234A", "note": "midline"},
        {"id": "c1", "units": 4.5, "target": "corrugator_supercilii_left",
         "at": {"landmark": "brow_medial_left", "superior_mm": 5, "lateral_mm": -2.25},
         "depth_mm": 4, "angle_deg": 30, "toward": "brow_peak_left"},
        {"id": "o1", "units": 4, "target": "orbicularis_oculi_right",
         "at": {"landmark": "exocanthion_right", "lateral_mm": 15, "anterior_mm": -1.5},
         "depth_mm": 1.5, "direction": [0.6, 0.0, -0.8], "volume_ml": 0.05,
         "product": {"name": "incobotulinumtoxinA", "units_per_vial": 50, "diluent_ml": 1.25}},
        {"id": "m1", "units": 12, "target": "masseter_superficial_left",
         "entry_mm": [54.9, -59.9, -36.612345678], "tip_mm": [45.6, -57.5, -39.2],
         "deviation": "higher point for a high masseter"},
        {"id": "c1_tu", "units": 2, "target": "corrugator_supercilii_left",
         "at": {"landmark": "brow_medial_left", "superior_mm": 5, "lateral_mm": -2.25},
         "depth_mm": 4, "session": "touch_up"},
    ],
}


def fresh(plan: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of a plan dict (FULL by default)."""
    return copy.deepcopy(FULL if plan is None else plan)


def reference_plans() -> list[dict[str, Any]]:
    """Plans of the shared reference cases, when present."""
    root = Path("/work/shared/reference-cases")
    if not root.is_dir():
        return []
    return [json.loads(p.read_text())["plan"] for p in sorted(root.glob("*.json"))]
