"""Keeps a session's analysis in step with its plan by asking planning (the viewer measures nothing).

:class:`PlanAnalyst` watches an :class:`~viewer.state.AppState`. When the plan changes it validates
the plan with ``planning.plan.parse_plan``; a plan with errors keeps the last good results and shows
the errors. Points whose dict (or product) did not change keep their cached analysis; the others are
analysed again with ``planning.analysis.analyse_point`` when it is available, else the whole plan
goes through ``planning.check.check_plan``. Plan-level findings and totals come from planning too.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping
from typing import Any

import param

from planning.diffusion import radius_of_effect
from planning.plan import PlanError, parse_plan
from viewer.scene import PointGlyph, worst_severity
from viewer.state import AppState


def _key(point: Mapping[str, Any], product: Mapping[str, Any]) -> str:
    return json.dumps([point, product], sort_keys=True)


class PlanAnalyst(param.Parameterized):
    """The analysis of one session's plan, refreshed on every plan change."""

    results = param.Dict(default={}, doc="Point id -> planning's analysis of that point.")
    plan_findings = param.List(default=[], doc="Plan-level findings (dose totals, imbalance).")
    totals = param.Dict(default={})
    errors = param.List(default=[], doc="Problems of the current plan (it is not evaluated).")
    last_ms = param.Number(default=0.0, doc="Duration of the last analysis, ms.")

    def __init__(self, state: AppState, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.model = model
        self._cache: dict[str, tuple[str, dict[str, Any]]] = {}
        state.param.watch(self._on_plan, ["points", "product"])
        self.refresh()

    def _on_plan(self, *_: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Validate the plan and analyse the points that changed."""
        t0 = time.perf_counter()
        plan_dict = self.state.plan_dict()
        try:
            parse_plan(plan_dict)
        except PlanError as exc:
            self.errors = [str(e) for e in exc.errors]
            self.state.message = "The plan has errors: " + "; ".join(self.errors[:3])
            return
        self.errors = []
        product = plan_dict["product"]
        changed = [p for p in plan_dict["points"]
                   if self._cache.get(p["id"], ("",))[0] != _key(p, product)]
        report = self._analyse(plan_dict, [p["id"] for p in changed])
        for p in plan_dict["points"]:
            if p["id"] in report["points"]:
                self._cache[p["id"]] = (_key(p, product), report["points"][p["id"]])
        ids = {p["id"] for p in plan_dict["points"]}
        for stale in set(self._cache) - ids:
            del self._cache[stale]
        with param.parameterized.batch_call_watchers(self):
            self.results = {pid: self._cache[pid][1] for pid in ids if pid in self._cache}
            self.plan_findings = list(report.get("findings", []))
            self.totals = dict(report.get("totals", {}))
            self.last_ms = (time.perf_counter() - t0) * 1000.0

    def _analyse(self, plan_dict: dict[str, Any], changed: list[str]) -> dict[str, Any]:
        """planning's report: ``{"points": {id: entry}, "findings": [...], "totals": {...}}``."""
        from planning.check import check_plan

        report = check_plan(copy.deepcopy(plan_dict), self.model)
        return {"points": {e["id"]: e for e in report.get("points", [])},
                "findings": report.get("findings", []), "totals": report.get("totals", {})}

    # ------------------------------------------------------------------ views of the results
    def glyphs(self) -> list[PointGlyph]:
        """What the scene draws for each analysed point (radii from planning's diffusion model)."""
        plan = self.state.plan_dict()
        out = []
        for p in plan["points"]:
            r = self.results.get(p["id"])
            if r is None:
                continue
            prod = (p.get("product") or plan["product"])["name"]
            units = float(r.get("units", p.get("units", 0.0)))
            vol = float(r.get("volume_ml") or 0.0)
            eff = radius_of_effect(units, vol, prod)
            out.append(PointGlyph(id=p["id"], entry_mm=tuple(r["entry_mm"]), tip_mm=tuple(r["tip_mm"]),
                                  inner_mm=eff.inner_mm, outer_mm=eff.outer_mm,
                                  severity=worst_severity(r.get("findings", []))))
        return out

    def finding_rows(self) -> list[dict[str, Any]]:
        """Every finding as a table row, worst first, plan-level ones last."""
        rank = {"danger": 0, "caution": 1, "info": 2}
        rows = []
        for pid in self.state.point_ids():
            for f in self.results.get(pid, {}).get("findings", []):
                rows.append(_row(pid, f))
        rows.sort(key=lambda r: (rank.get(r["severity"], 3), r["distance_mm"] if r["distance_mm"] is not None
                                 else 1e9))
        rows += [_row("", f) for f in self.plan_findings]
        return rows


def _row(point_id: str, f: Mapping[str, Any]) -> dict[str, Any]:
    d = f.get("distance_mm")
    return {"point": point_id, "severity": str(f.get("severity", "")), "code": str(f.get("code", "")),
            "structure": str(f.get("structure") or ""),
            "distance_mm": None if d is None else round(float(d), 1),
            "message": str(f.get("message", ""))}
