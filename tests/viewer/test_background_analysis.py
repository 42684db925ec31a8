"""A served session analyses off the event loop, within limits: the plan changes at once, the results
come back through the document's next-tick callback, a newer plan drops an older analysis, and plans
or uploads over the limits are refused with a message."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from injectmap.viewer import app as viewer_app
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.file_panel import FilePanel
from injectmap.viewer.limits import int_limit
from injectmap.viewer.state import AppState


class FakeDocument:
    """What the analyst needs of a Bokeh document: a thread-safe next-tick callback queue."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], Any]] = []
        self.threads: set[str] = set()
        self.delivered = threading.Event()

    def add_next_tick_callback(self, callback: Callable[[], Any]) -> None:
        self.threads.add(threading.current_thread().name)
        self.callbacks.append(callback)
        if getattr(callback, "func", None) is not None and callback.func.__name__ == "_apply":
            self.delivered.set()

    def run_ticks(self) -> None:
        """What the event loop does on its next ticks."""
        while self.callbacks:
            self.callbacks.pop(0)()


def _points(n: int, units: float = 4.0) -> list[dict[str, Any]]:
    return [{"id": f"p{i}", "units": units, "target": "frontalis_left",
             "at": {"landmark": "brow_peak_left", "superior_mm": 20 + (i % 10)}, "depth_mm": 2} for i in range(n)]


def test_a_served_plan_change_returns_at_once_and_its_results_come_back_on_the_loop(face_model) -> None:
    state = AppState(snap=face_model.skin_point)
    state.load_plan(viewer_app.demo_plan(), undoable=False)
    doc = FakeDocument()
    analyst = PlanAnalyst(state, face_model, doc=doc)
    assert "g1" in analyst.results  # the starting plan: analysed at once
    before = dict(analyst.results)
    state.update_point("g1", depth_mm=6)
    assert analyst.busy and analyst.progress.startswith("Analysing")
    assert analyst.results == before  # nothing set from the worker thread
    assert doc.delivered.wait(120)
    assert doc.threads and all(t.startswith("injectmap-analysis") for t in doc.threads)
    doc.run_ticks()
    assert not analyst.busy and analyst.progress == ""
    assert analyst.results["g1"] is not before["g1"] and analyst.results["c1_left"] is before["c1_left"]


def test_a_newer_plan_drops_the_older_analysis(face_model) -> None:
    state = AppState(snap=face_model.skin_point)
    state.load_plan(viewer_app.demo_plan(), undoable=False)
    doc = FakeDocument()
    analyst = PlanAnalyst(state, face_model, doc=doc)
    before = analyst.results["g1"]
    state.update_point("g1", depth_mm=6)
    assert doc.delivered.wait(120)
    older, doc.callbacks = doc.callbacks, []
    doc.delivered.clear()
    state.update_point("g1", depth_mm=5)  # before the loop took the first results
    for callback in older:  # the loop's next ticks: the older results arrive, and are dropped
        callback()
    assert analyst.results["g1"] is before and analyst.busy
    assert doc.delivered.wait(120)
    doc.run_ticks()
    assert abs(analyst.results["g1"].depth_mm - 5) < 0.5 and not analyst.busy


def test_a_plan_over_the_point_limit_is_not_analysed_and_says_why(face_model) -> None:
    state = AppState(snap=face_model.skin_point)
    state.load_plan(viewer_app.demo_plan(), undoable=False)
    analyst = PlanAnalyst(state, face_model)
    good = dict(analyst.results)
    most = int_limit("max_plan_points")
    state.load_plan({"product": dict(state.product), "points": _points(most + 1)})
    assert analyst.results == good  # the last good results stay
    assert analyst.errors and f"at most {most:,}" in analyst.errors[0]
    assert state.message.startswith("Not analysed")


def test_uploads_over_the_limits_are_refused_with_a_message(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    files = FilePanel(app.app_state, app.app_scene, "test-session")
    points_before = app.app_state.points
    files.upload.filename = "huge.json"
    files.upload.value = b" " * (50 * 1000 * 1000)  # a 50 MB file
    assert app.app_state.message == f"Not opened: huge.json is 50.0 MB; a plan file is at most " \
                                    f"{int_limit('max_upload_bytes') / 1e6:.1f} MB."
    most = int_limit("max_plan_points")
    files.upload.filename = "many.json"
    files.upload.value = json.dumps({"format": "injectmap-plan", "version": 1, "product": app.app_state.product,
                                     "points": _points(most + 1, units=1)}).encode()
    assert app.app_state.message.startswith(f"Not opened: the plan has {most + 1:,} points")
    assert app.app_state.points == points_before


def test_the_limits_can_be_raised_for_one_deployment(monkeypatch) -> None:
    monkeypatch.setenv("INJECTMAP_MAX_PLAN_POINTS", "5000")
    assert int_limit("max_plan_points") == 5000
    monkeypatch.setenv("INJECTMAP_MAX_PLAN_POINTS", "-3")
    try:
        int_limit("max_plan_points")
    except ValueError as exc:
        assert "INJECTMAP_MAX_PLAN_POINTS" in str(exc)
    else:
        raise AssertionError("a negative limit was accepted")


def test_the_app_analyses_a_whole_plan_at_once_with_the_per_point_results(face_model, monkeypatch) -> None:
    """A loaded plan is analysed in chunks by planning's batched path (analyse_points), and each point's result is
    the one the per-point path gives."""
    import injectmap.planning.analysis as analysis

    calls: list[int] = []
    batched = analysis.analyse_points

    def counting(model, plan, points=None, placed=None):
        calls.append(len(points or []))
        return batched(model, plan, points, placed)

    monkeypatch.setattr(analysis, "analyse_points", counting)
    state = AppState(snap=face_model.skin_point)
    plan = viewer_app.demo_plan()
    plan["points"] = _points(60)
    state.load_plan(plan, undoable=False)
    analyst = PlanAnalyst(state, face_model)  # no document: analysed at once
    assert calls == [50, 10] and not analyst.errors
    parsed = analyst.state.plan_dict()
    from injectmap.planning.plan import parse_plan

    p = parse_plan(parsed)
    for point in p.points[::7]:
        one = analysis.analyse_point(face_model, p, point)
        assert json.dumps(one.to_dict()) == json.dumps(analyst._cache[point.id][1].to_dict())
    # what is shown is those results with what the plan rules put on a point (an overdose on the point making it)
    _, _, shown = analysis.plan_analysis(face_model, p, [analyst._cache[q.id][1] for q in p.points])
    assert {r.id: r for r in shown} == analyst.results
