"""``injectmap check``: the whole plan against the model, in the CONTRACTS JSON.

Exit status: 0 when no finding is danger, 1 when one is, 2 on a bad plan, 3 on an internal failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from injectmap.planning.analysis import PlacementError, analyse_point, plan_findings
from injectmap.planning.plan import PlanError, load_plan, parse_plan


def check_plan(plan_obj: Any, model, plan_name: str = "") -> dict[str, Any]:
    """Analyse a plan (dict or parsed Plan) on ``model``; never raises on a bad plan."""
    out: dict[str, Any] = {
        "plan": plan_name,
        "model": {"name": model.name, "sha256": model.sha256},
        "points": [],
        "totals": {"units": 0.0, "by_structure": {}, "by_side": {}},
        "findings": [],
        "errors": [],
    }
    try:
        plan = (
            plan_obj
            if hasattr(plan_obj, "points") and not isinstance(plan_obj, dict)
            else parse_plan(plan_obj)
        )
    except PlanError as exc:
        out["errors"] = [str(e) for e in exc.errors]
        return out
    errors = []
    pts = []
    for p in plan.points:
        try:
            pts.append(analyse_point(model, plan, p))
        except PlacementError as exc:
            errors.append(str(exc))
    if errors:
        out["errors"] = errors
        return out
    out["points"] = pts
    out["totals"], out["findings"] = plan_findings(model, plan, pts)
    return out


def exit_status(result: dict[str, Any]) -> int:
    if result["errors"]:
        return 2
    sev = [f["severity"] for p in result["points"] for f in p["findings"]] + [
        f["severity"] for f in result["findings"]
    ]
    return 1 if "danger" in sev else 0


def model_for_plan(plan) -> Any:
    """The face a plan asks for (its ``model``: sex and shape), built or loaded from the cache."""
    from injectmap.anatomy.model import load_model
    from injectmap.anatomy.params import FaceParams

    return load_model(params=FaceParams.from_plan_model(plan.model))


def check_file(path: str | Path, model=None) -> tuple[dict[str, Any], int]:
    """Check a plan file. ``model`` defaults to the face the plan names (default face if none)."""
    try:
        plan = load_plan(path)
    except PlanError as exc:
        res = {
            "plan": str(path),
            "model": {"name": getattr(model, "name", "default"), "sha256": getattr(model, "sha256", "")},
            "points": [],
            "totals": {"units": 0.0, "by_structure": {}, "by_side": {}},
            "findings": [],
            "errors": [str(e) for e in exc.errors],
        }
        return res, 2
    if model is None:
        from injectmap.anatomy.params import FaceParamsError

        try:
            model = model_for_plan(plan)
        except FaceParamsError as exc:
            res = {"plan": str(path), "model": {"name": "", "sha256": ""}, "points": [],
                   "totals": {"units": 0.0, "by_structure": {}, "by_side": {}}, "findings": [],
                   "errors": [f"model: {exc}"]}
            return res, 2
    res = check_plan(plan, model, str(path))
    return res, exit_status(res)


def format_table(result: dict[str, Any]) -> str:
    lines = [f"plan {result['plan']}  model {result['model']['name']}"]
    for e in result["errors"]:
        lines.append(f"ERROR {e}")
    for p in result["points"]:
        lines.append(
            f"{p['id']:>10}  {p['units']:5.1f} U  depth {p['depth_mm']:4.1f} mm  layer {p['layer']:<16} "
            f"tip in {p['tip_in'] or '-':<34} target {p['target'] or '-'} "
            f"hit={p['target_hit']} reached={p['target_reached']} r={p['radius_mm']} mm"
        )
        for f in p["findings"]:
            d = f" {f['distance_mm']:+.1f} mm" if "distance_mm" in f else ""
            lines.append(
                f"{'':12}{f['severity'].upper():8}{f['code']} {f.get('structure', '')}{d}: {f['message']}"
            )
    for f in result["findings"]:
        lines.append(f"PLAN {f['severity'].upper():8}{f['code']}: {f['message']}")
    return "\n".join(lines)


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1)
