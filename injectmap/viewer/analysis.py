"""Keeps a session's analysis in step with its plan by asking planning (the viewer measures nothing).

:class:`PlanAnalyst` watches an :class:`~viewer.state.AppState`. When the plan changes it validates
the plan with ``planning.plan.parse_plan``; a plan with errors, or with more points than the server
analyses (``max_plan_points`` in ``server_limits.json``), keeps the last good results and shows why.
Points whose dict (and the plan's product) did not change keep their cached analysis; the others are
analysed again with ``planning.analysis.analyse_point`` (the same entry as in the ``injectmap check``
JSON). Plan-level findings and totals come from ``planning.analysis.plan_analysis``, with the findings the plan
rules put on a point (the point whose dose makes its muscle's overdose): the results shown are those.

In a served session (a Bokeh document is given) the analysis runs in a worker thread, off the server's
event loop, so one long analysis does not stall every other session: the worker reports its progress
(:attr:`PlanAnalyst.progress`) and hands its results back through the document's next-tick callback,
where they are set on the loop. A newer plan change, or the session's end, makes an older analysis
stop at its next point and its results are dropped. Without a document (tests, notebooks, the CLI's
bench) the analysis runs at once, in the caller's thread.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import param

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.results import Finding, PointResult, Totals
from injectmap.viewer.limits import int_limit, limit
from injectmap.viewer.scene import PointGlyph, worst_severity
from injectmap.viewer.state import AppState
from injectmap.viewer.text import error_words, log_unexpected

log = logging.getLogger("injectmap.viewer")
#: how the status line starts when the plan on screen does not validate
PLAN_ERRORS = "The plan has errors: "
_EXECUTOR_LOCK = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def analysis_executor() -> ThreadPoolExecutor:
    """The process's analysis threads (``analysis_threads`` in ``server_limits.json``), shared by sessions."""
    global _executor
    with _EXECUTOR_LOCK:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=int_limit("analysis_threads"),
                                           thread_name_prefix="injectmap-analysis")
        return _executor


def _key(point: Mapping[str, Any], product: Mapping[str, Any]) -> str:
    return json.dumps([point, product], sort_keys=True)


def too_many_points(n: int) -> str | None:
    """Why a plan of ``n`` points is not analysed (None when it is within the limit)."""
    most = int_limit("max_plan_points")
    if n <= most:
        return None
    return (f"the plan has {n:,} points; the app analyses at most {most:,} per plan (a full-face plan has "
            "under 100). Split the plan, or ask the administrator about INJECTMAP_MAX_PLAN_POINTS.")


@dataclass
class _Job:
    """One analysis: its inputs (taken on the loop) and, once run, its results."""

    generation: int
    model: Any
    plan: Any
    plan_dict: dict[str, Any]
    cache: dict[str, tuple[str, PointResult]]
    errors: list[str] = field(default_factory=list)
    #: point id -> why it cannot be placed (planning.analysis.PlacementError's message)
    point_errors: dict[str, str] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    findings: list[Finding] = field(default_factory=list)
    #: the point results with what the plan rules put on a point (None: not computed, the plan has errors)
    points: dict[str, PointResult] | None = None
    t0: float = field(default_factory=time.perf_counter)
    cancelled: bool = False


#: points analysed at once by the background analysis (planning.analysis.analyse_points) between two checks for a
#: newer plan
_CHUNK = 50


class PlanAnalyst(param.Parameterized):
    """The analysis of one session's plan, refreshed on every plan change."""

    results = param.Dict(default={}, doc="Point id -> planning's analysis of that point (a PointResult).")
    plan_findings = param.List(default=[], doc="Plan-level findings (dose totals, imbalance), as Finding.")
    totals = param.ClassSelector(class_=Totals, default=Totals(), doc="Units by structure, side and session.")
    errors = param.List(default=[], doc="Problems of the current plan (it is not evaluated).")
    point_errors = param.Dict(default={}, doc=(
        "Point id -> why that point cannot be placed on the face (the tip through the bone...): the plan card "
        "shows it beside the point."))
    last_ms = param.Number(default=0.0, doc="Duration of the last analysis, ms.")
    busy = param.Boolean(default=False, doc="An analysis runs in the background.")
    progress = param.String(default="", doc="What the background analysis has done so far ('' when idle).")

    def __init__(self, state: AppState, model: Any, doc: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.model = model
        self._cache: dict[str, tuple[str, PointResult]] = {}
        self._generation = 0
        self._doc = None
        state.param.watch(self._on_plan, ["points", "product"])
        self.refresh()  # the starting plan: at once, so the first page shows its results
        self._doc = doc  # later changes: in the background when served

    def _on_plan(self, *_: Any) -> None:
        self.refresh()

    def set_model(self, model: Any) -> None:
        """Analyse on another face: every point is analysed again."""
        self.model = model
        self._cache.clear()
        self.refresh()

    def cancel(self) -> None:
        """Drop the analysis that runs (the session ended): it stops at its next point."""
        self._generation += 1

    def refresh(self) -> None:
        """Validate the plan and analyse the points that changed (planning does the analysis)."""
        plan_dict = self.state.plan_dict()
        try:
            plan = parse_plan(plan_dict)
        except PlanError as exc:
            self._generation += 1  # an analysis of an earlier plan that still runs would hide these errors
            self.errors = [str(e) for e in exc.errors]
            self.state.message = PLAN_ERRORS + "; ".join(self.errors[:3])
            self.busy, self.progress = False, ""
            return
        if self.state.message.startswith(PLAN_ERRORS):  # said of a plan that is no longer on screen
            self.state.message = "The plan's errors are corrected."
        self._generation += 1
        too_many = too_many_points(len(plan.points))
        if too_many:
            self.errors = [too_many]
            self.state.message = "Not analysed: " + too_many
            self.busy, self.progress = False, ""
            return
        job = _Job(self._generation, self.model, plan, plan_dict, dict(self._cache))
        if self._doc is None:
            self._run(job)
            self._apply(job)
            return
        todo = sum(1 for pd in plan_dict["points"] if job.cache.get(pd["id"], ("",))[0] != _key(pd, plan_dict["product"]))
        self.busy, self.progress = True, f"Analysing {todo:,} point(s)..."
        analysis_executor().submit(self._background, job)

    def _background(self, job: _Job) -> None:
        """Run ``job`` in a worker thread and hand it to the loop (never raises: errors become messages)."""
        try:
            self._run(job)
        except Exception as exc:  # shown to the user instead of a silent, endless "Analysing" (never a fault's text)
            log_unexpected(log, "the background analysis", exc)
            job.errors = [f"the analysis failed: {error_words(exc)}"]
        if not job.cancelled:
            self._schedule(functools.partial(self._apply, job))

    def _schedule(self, callback: Any) -> None:
        if self._doc is None:
            return
        try:
            self._doc.add_next_tick_callback(callback)
        except Exception:  # the session has ended meanwhile
            log.debug("analysis result not delivered: the session has ended")

    def _run(self, job: _Job) -> None:
        """Analyse the points of ``job`` that changed (thread-safe: touches only the job)."""
        from injectmap.planning.analysis import PlacementError, analyse_point, analyse_points, place_many, plan_analysis

        product = job.plan_dict["product"]
        n, shown = len(job.plan.points), time.perf_counter()
        interval = limit("progress_interval_s")
        changed = [(i, point, _key(pd, product)) for i, (pd, point)
                   in enumerate(zip(job.plan_dict["points"], job.plan.points, strict=True))
                   if job.cache.get(point.id, ("",))[0] != _key(pd, product)]
        # the changed points in chunks, each analysed at once (planning.analysis.analyse_points: the same results
        # as point by point); a chunk stays small enough to stop soon when a newer plan comes
        for start in range(0, len(changed), _CHUNK):
            chunk = changed[start:start + _CHUNK]
            if job.generation != self._generation:  # a newer plan, or the session ended
                job.cancelled = True
                return
            points = [point for _, point, _ in chunk]
            placed, errors = place_many(job.model, points)
            for exc in errors:
                job.errors.append(str(exc))
                job.point_errors[exc.point_id] = exc.message
                job.cache.pop(exc.point_id, None)
            ok = [(c, pl) for c, pl in zip(chunk, placed, strict=True) if pl is not None]
            try:
                results = analyse_points(job.model, job.plan, [c[1] for c, _ in ok], [pl for _, pl in ok])
            except PlacementError:  # not expected once placed; point by point then, as before
                results = [analyse_point(job.model, job.plan, c[1], pl) for c, pl in ok]
            for ((_, point, key), _), res in zip(ok, results, strict=True):
                job.cache[point.id] = (key, res)
            done = chunk[-1][0] + 1
            if self._doc is not None and time.perf_counter() - shown > interval:
                shown = time.perf_counter()
                self._schedule(functools.partial(self._set_progress, job.generation, done, n))
        ids = [p.id for p in job.plan.points]
        for stale in set(job.cache) - set(ids):
            del job.cache[stale]
        entries = [job.cache[i][1] for i in ids if i in job.cache]
        if not job.errors:
            job.totals, findings, points = plan_analysis(job.model, job.plan, entries)
            job.findings = list(findings)
            job.points = {p.id: p for p in points}

    def _set_progress(self, generation: int, done: int, n: int) -> None:
        if generation == self._generation and self.busy:
            self.progress = f"Analysing: {done:,} of {n:,} points..."

    def _apply(self, job: _Job) -> None:
        """Show the results of ``job`` (on the loop), unless a newer plan came meanwhile."""
        if job.generation != self._generation:
            return
        self._cache = job.cache
        ids = [p.id for p in job.plan.points]
        with param.parameterized.batch_call_watchers(self):
            self.point_errors = job.point_errors
            self.errors = job.errors
            # the cache keeps each point's own analysis; what is shown adds what the plan rules put on a point
            shown = job.points or {}
            self.results = {i: shown.get(i, self._cache[i][1]) for i in ids if i in self._cache}
            self.plan_findings = job.findings
            self.totals = job.totals
            self.last_ms = (time.perf_counter() - job.t0) * 1000.0
            self.busy, self.progress = False, ""
        if job.point_errors:  # the reason is shown beside the point, in the plan card
            unplaced = list(job.point_errors)
            listed = ", ".join(unplaced[:5]) + (f" and {len(unplaced) - 5} more" if len(unplaced) > 5 else "")
            self.state.message = (f"{'Points' if len(unplaced) > 1 else 'Point'} {listed} could not be placed: the "
                                  "Plan card says why beside each (select the point).")
        elif job.errors:
            self.state.message = "Some points could not be placed: " + "; ".join(job.errors[:3])

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
        """Every finding as a table row, the most severe first: a plan-level danger (an overdose, the plan's total)
        above every caution and info; within a severity the points' rows (nearest first) before the plan's, as in
        the report."""
        rows = []
        for pid in self.state.point_ids():
            r = self.results.get(pid)
            rows += [(f, _row(pid, f)) for f in (r.findings if r is not None else ())]
        rows += [(f, _row("", f)) for f in self.plan_findings]
        rows.sort(key=lambda fr: (-fr[0].severity.rank, fr[1]["point"] == "",
                                  fr[1]["distance_mm"] if fr[1]["distance_mm"] is not None else 1e9))
        return [row for _, row in rows]


def _row(point_id: str, f: Finding) -> dict[str, Any]:
    """A findings-table row (the browser's edge: plain values)."""
    d = f.distance_mm
    return {"point": point_id, "severity": f.severity.value, "code": f.code, "structure": f.structure or "",
            "distance_mm": None if d is None else round(d, 1), "message": f.message}
