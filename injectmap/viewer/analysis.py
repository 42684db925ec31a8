"""Keeps a session's analysis in step with its plan by asking planning (the viewer measures nothing).

:class:`PlanAnalyst` watches an :class:`~viewer.state.AppState`. When the plan changes it validates
the plan with ``planning.plan.parse_plan``; a plan with errors keeps the last good results and shows
the errors. Points whose dict (and the plan's product) did not change keep their cached analysis;
the others are analysed again with ``planning.analysis.analyse_point`` (the same entry as in the
``injectmap check`` JSON). Plan-level findings and totals come from ``planning.analysis.plan_findings``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import param

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.results import Finding, PointResult, Totals
from injectmap.viewer.scene import PointGlyph, worst_severity
from injectmap.viewer.state import AppState


def _key(point: Mapping[str, Any], product: Mapping[str, Any]) -> str:
    return json.dumps([point, product], sort_keys=True)


class PlanAnalyst(param.Parameterized):
    """The analysis of one session's plan, refreshed on every plan change."""

    results = param.Dict(default={}, doc="Point id -> planning's analysis of that point (a PointResult).")
    plan_findings = param.List(default=[], doc="Plan-level findings (dose totals, imbalance), as Finding.")
    totals = param.ClassSelector(class_=Totals, default=Totals(), doc="Units by structure, side and session.")
    errors = param.List(default=[], doc="Problems of the current plan (it is not evaluated).")
    last_ms = param.Number(default=0.0, doc="Duration of the last analysis, ms.")

    def __init__(self, state: AppState, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.model = model
        self._cache: dict[str, tuple[str, PointResult]] = {}
        state.param.watch(self._on_plan, ["points", "product"])
        self.refresh()

    def _on_plan(self, *_: Any) -> None:
        self.refresh()

    def set_model(self, model: Any) -> None:
        """Analyse on another face: every point is analysed again."""
        self.model = model
        self._cache.clear()
        self.refresh()

    def refresh(self) -> None:
        """Validate the plan and analyse the points that changed (planning does the analysis)."""
        from injectmap.planning.analysis import PlacementError, analyse_point, plan_findings

        t0 = time.perf_counter()
        plan_dict = self.state.plan_dict()
        try:
            plan = parse_plan(plan_dict)
        except PlanError as exc:
            self.errors = [str(e) for e in exc.errors]
            self.state.message = "The plan has errors: " + "; ".join(self.errors[:3])
            return
        product = plan_dict["product"]
        errors: list[str] = []
        for pd, point in zip(plan_dict["points"], plan.points, strict=True):
            key = _key(pd, product)
            if self._cache.get(point.id, ("",))[0] == key:
                continue
            try:
                self._cache[point.id] = (key, analyse_point(self.model, plan, point))
            except PlacementError as exc:
                errors.append(str(exc))
                self._cache.pop(point.id, None)
        ids = [p.id for p in plan.points]
        for stale in set(self._cache) - set(ids):
            del self._cache[stale]
        entries = [self._cache[i][1] for i in ids if i in self._cache]
        totals, findings = (Totals(), []) if errors else plan_findings(self.model, plan, entries)
        with param.parameterized.batch_call_watchers(self):
            self.errors = errors
            self.results = {i: self._cache[i][1] for i in ids if i in self._cache}
            self.plan_findings = list(findings)
            self.totals = totals
            self.last_ms = (time.perf_counter() - t0) * 1000.0
        if errors:
            self.state.message = "Some points could not be placed: " + "; ".join(errors[:3])

    # ------------------------------------------------------------------ views of the results
    def glyphs(self) -> list[PointGlyph]:
        """What the scene draws for each analysed point (radii from injectmap.planning's diffusion model)."""
        out = []
        for pid in self.state.point_ids():
            r = self.results.get(pid)
            if r is None:
                continue
            out.append(PointGlyph(id=pid, entry_mm=r.entry_mm, tip_mm=r.tip_mm, inner_mm=r.radius_inner_mm,
                                  outer_mm=r.radius_outer_mm, severity=worst_severity(r.findings)))
        return out

    def finding_rows(self) -> list[dict[str, Any]]:
        """Every finding as a table row, worst first, plan-level ones last."""
        rows = []
        for pid in self.state.point_ids():
            r = self.results.get(pid)
            rows += [(f, _row(pid, f)) for f in (r.findings if r is not None else ())]
        rows.sort(key=lambda fr: (-fr[0].severity.rank,
                                  fr[1]["distance_mm"] if fr[1]["distance_mm"] is not None else 1e9))
        return [row for _, row in rows] + [_row("", f) for f in self.plan_findings]


def _row(point_id: str, f: Finding) -> dict[str, Any]:
    """A findings-table row (the browser's edge: plain values)."""
    d = f.distance_mm
    return {"point": point_id, "severity": f.severity.value, "code": f.code, "structure": f.structure or "",
            "distance_mm": None if d is None else round(d, 1), "message": f.message}
