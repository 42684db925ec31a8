"""``injectmap check``: the whole plan against the model, as a :class:`~injectmap.planning.results.PlanResult`
(its ``to_dict()`` is the CONTRACTS JSON).

Exit status: 0 when no finding is danger, 1 when one is, 2 on a bad plan, 3 on an internal failure.

A plan file is checked by one path, :func:`validate_file` (the file, the face it names, every point's
placement on that face), which ``injectmap plan validate`` runs too: the two agree on every plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from injectmap.anatomy.ids import base_of
from injectmap.planning.analysis import analyse_points, place_all, placement_issues, plan_analysis
from injectmap.planning.plan import Plan, PlanError, PlanIssue, load_plan, parse_plan
from injectmap.planning.results import PlanResult, PointResult, Severity

__all__ = ["FindingGroup", "check_file", "check_plan", "dumps", "exit_status", "format_table", "grouped_findings",
           "model_for_plan", "validate_file"]


def check_plan(plan_obj: Any, model, plan_name: str = "") -> PlanResult:
    """Analyse a plan (dict or parsed Plan) on ``model``; never raises on a bad plan."""
    name, sha = model.name, model.sha256
    try:
        plan = (
            plan_obj
            if hasattr(plan_obj, "points") and not isinstance(plan_obj, dict)
            else parse_plan(plan_obj)
        )
    except PlanError as exc:
        return PlanResult.rejected(plan_name, name, sha, [str(e) for e in exc.errors])
    placed, issues = place_all(model, plan)
    if issues:
        return PlanResult.rejected(plan_name, name, sha, [str(e) for e in issues])
    # every point at once: the spatial questions once per structure for the whole plan (planning.analysis)
    pts: list[PointResult] = analyse_points(model, plan, list(plan.points), [p for p in placed if p is not None])
    # the plan rules, with what they put on a point (the point whose dose makes its muscle's overdose)
    totals, findings, pts = plan_analysis(model, plan, pts)
    return PlanResult(plan_name, name, sha, tuple(pts), totals, tuple(findings), ())


def exit_status(result: PlanResult) -> int:
    """2 on errors, 1 when a finding is danger, else 0."""
    return result.exit_status


def model_for_plan(plan) -> Any:
    """The face a plan asks for (its ``model``: sex and shape), built or loaded from the cache."""
    from injectmap.anatomy.model import load_model
    from injectmap.anatomy.params import FaceParams

    return load_model(params=FaceParams.from_plan_model(plan.model))


def _plan_and_model(path: str | Path, model=None) -> tuple[Plan, Any]:
    """The plan file, read and validated, and the face to check it on (by default the one it names)."""
    plan = load_plan(path)
    if model is None:
        from injectmap.anatomy.params import FaceParamsError

        try:
            model = model_for_plan(plan)
        except FaceParamsError as exc:
            raise PlanError([PlanIssue("model", str(exc), key="model")]) from None
    return plan, model


def validate_file(path: str | Path, model=None) -> tuple[Plan, Any]:
    """Read a plan file and check it whole, as ``injectmap check`` does before it analyses anything: the
    file (planning.plan.load_plan), the face it names, and every point's placement on that face
    (planning.analysis.placement_issues).

    Parameters
    ----------
    path : str or Path
        The plan file.
    model : FaceModel, optional
        The face to place the points on; by default the one the plan names (built or loaded).

    Returns
    -------
    (Plan, FaceModel)

    Raises
    ------
    PlanError
        With every problem found, each naming the point and the key.
    """
    plan, model = _plan_and_model(path, model)
    issues = placement_issues(model, plan)
    if issues:
        raise PlanError(issues)
    return plan, model


def check_file(path: str | Path, model=None) -> tuple[PlanResult, int]:
    """Check a plan file. ``model`` defaults to the face the plan names (default face if none).

    The plan is rejected (exit status 2) for exactly what :func:`validate_file` rejects.
    """
    try:
        plan, model = _plan_and_model(path, model)
    except PlanError as exc:
        res = PlanResult.rejected(str(path), getattr(model, "name", "default"), getattr(model, "sha256", ""),
                                  [str(e) for e in exc.errors])
        return res, 2
    res = check_plan(plan, model, str(path))  # placement_issues first, as in validate_file
    return res, res.exit_status


def format_table(result: PlanResult) -> str:
    """The result as text, one line per point and per finding."""
    lines = [f"plan {result.plan}  model {result.model_name}"]
    for e in result.errors:
        lines.append(f"ERROR {e}")
    for p in result.points:
        lines.append(
            f"{p.id:>10}  {p.units:5.1f} U  depth {p.depth_mm:4.1f} mm  layer {p.layer:<16} "
            f"tip in {p.tip_in or '-':<34} target {p.target or '-'} "
            f"hit={p.target_hit} reached={p.target_reached} r={p.radius_mm} mm"
        )
        for f in p.findings:
            d = f" {f.distance_mm:+.1f} mm" if f.distance_mm is not None else ""
            lines.append(
                f"{'':12}{f.severity.value.upper():8}{f.code} {f.structure or ''}{d}: {f.message}"
            )
    for f in result.findings:
        lines.append(f"PLAN {f.severity.value.upper():8}{f.code}: {f.message}")
    groups = grouped_findings(result)
    if groups:
        lines.append("summary: each hazard once, with every point that raises it (caution and danger)")
        for g in groups:
            lines.append(f"{'':12}{g.severity.value.upper():8}{g.code} {g.structure}: {', '.join(g.points)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class FindingGroup:
    """One hazard of a plan's summary: a finding code and structure (both sides as one) and every point that
    raises it. Each point's own result keeps its own finding; this only shortens the summary."""

    severity: Severity
    code: str
    structure: str
    points: tuple[str, ...]


def grouped_findings(result: PlanResult, least: Severity = Severity.CAUTION) -> list[FindingGroup]:
    """The point findings of ``least`` severity or worse, grouped by severity, code and structure (its left and
    right counterparts together: a symmetric plan's pair of points at one site is one hazard), worst first."""
    groups: dict[tuple[Severity, str, str], list[str]] = {}
    for p in result.points:
        for f in p.findings:
            if f.severity >= least:
                key = (f.severity, f.code, base_of(f.structure) if f.structure else "")
                if p.id not in groups.setdefault(key, []):
                    groups[key].append(p.id)
    return [FindingGroup(sev, code, st, tuple(pts))
            for (sev, code, st), pts in sorted(groups.items(), key=lambda kv: (-kv[0][0].rank, kv[0][1], kv[0][2]))]


def dumps(result: PlanResult) -> str:
    """The CONTRACTS JSON text of a result."""
    return json.dumps(result.to_dict(), indent=1)
