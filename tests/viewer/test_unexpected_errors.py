"""An unexpected exception's text never reaches the user, nor the log; an error raised for the user still does.

The Handout button once said "The handout could not be made: module 'injectmap.reports.chart' has no attribute
'visit_start_day'" (files changed under a running server). Any exception that is not raised on purpose for the
user (``anatomy.errors.UserFacing``) may quote the code, a plan, a patient or a file: the cards show a plain
sentence and log only the exception's type and where it was raised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import types
from typing import Any

import pytest

from injectmap.anatomy.params import FaceParams
from injectmap.planning.analysis import PlacementError
from injectmap.planning.plan import parse_plan
from injectmap.viewer import expression_stills_panel, report_render
from injectmap.viewer.analysis import PlanAnalyst, _Job
from injectmap.viewer.app import demo_plan
from injectmap.viewer.expressions_panel import ExpressionsPanel
from injectmap.viewer.face_panel import FacePanel
from injectmap.viewer.report_panel import ReportPanel
from injectmap.viewer.state import AppState
from injectmap.viewer.text import UNEXPECTED, error_words

#: what an internal fault's text may hold: code, a patient's name
SECRET = "module 'injectmap.reports.chart' has no attribute 'visit_start_day' (Ana Secret)"


def _raise(exc: BaseException) -> Any:
    def f(*_a: Any, **_k: Any) -> Any:
        raise exc
    return f


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def caplog() -> Any:
    """What the project's loggers write during the test, read from a handler on the ``injectmap`` logger itself:
    another test in the same worker may have configured logging (a library's ``fileConfig`` disables the loggers
    that exist), so the root logger's capture alone can miss them. Each ``injectmap`` logger is enabled and left to
    its parent's level for the test, then put back."""
    handler = _Records()
    top = logging.getLogger("injectmap")
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith("injectmap.")]
    loggers = [top, *(logging.getLogger(n) for n in names)]
    saved = [(lg, lg.disabled, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.disabled = False
        lg.propagate = True
        if lg is not top:
            lg.setLevel(logging.NOTSET)
    top.addHandler(handler)

    class _Capture:
        records = handler.records

        @staticmethod
        def set_level(level: int, logger: str = "") -> None:
            logging.getLogger(logger or None).setLevel(level)

    yield _Capture()
    top.removeHandler(handler)
    for lg, disabled, level, propagate in saved:
        lg.disabled, lg.propagate = disabled, propagate
        lg.setLevel(level)


def _quiet(caplog: Any) -> None:
    """Nothing logged quotes the exception's text; its type is there."""
    logged = "\n".join(r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "") for r in caplog.records)
    assert "visit_start_day" not in logged and "Ana Secret" not in logged, logged
    assert "AttributeError" in logged, logged


def test_error_words_show_only_errors_raised_for_the_user() -> None:
    assert error_words(AttributeError(SECRET)) == UNEXPECTED
    assert error_words(ValueError("invalid literal for int() with base 10: 'Ana'")) == UNEXPECTED
    placed = PlacementError("p1", "depth_mm", "the tip is 3.0 mm beyond the bone")
    assert error_words(placed) == str(placed)
    assert "error" in UNEXPECTED and "log" in UNEXPECTED and "_" not in UNEXPECTED


@pytest.fixture
def state(face_model) -> AppState:
    s = AppState(snap=face_model.skin_point)
    s.load_plan(demo_plan(), undoable=False)
    return s


def test_report_card_shows_a_plain_sentence_for_an_internal_fault(state, face_model, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="injectmap")
    card = ReportPanel(state, types.SimpleNamespace(model=face_model))
    monkeypatch.setattr(report_render, "render_document", _raise(AttributeError(SECRET)))
    card.make(handout=True)
    status = card.status.object
    assert status.startswith("The handout could not be made: ") and "visit" not in status and "Ana" not in status
    assert not card.handout.disabled and not card.handout_download.visible
    _quiet(caplog)
    # an error the code raises on purpose, with words for the user, is still shown
    monkeypatch.setattr(report_render, "render_document", _raise(report_render.DocumentError(
        "the plan cannot be analysed: point 'g1' cannot be placed")))
    card.make(handout=False)
    assert "the plan cannot be analysed" in card.status.object


def test_walkthrough_stills_show_a_plain_sentence(state, face_model, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="injectmap")
    view = expression_stills_panel.ExpressionStillsView(state, types.SimpleNamespace(model=face_model))
    monkeypatch.setattr(expression_stills_panel, "expression_change", _raise(AttributeError(SECRET)))
    view.make()
    assert view.status.object.startswith("The pictures could not be made: ")
    assert "visit" not in view.status.object and "Ana" not in view.status.object
    _quiet(caplog)


def test_expressions_card_shows_a_plain_sentence(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="injectmap")
    frames = types.SimpleNamespace(frame=_raise(AttributeError(SECRET)))
    out = ExpressionsPanel._compute(frames, ())  # type: ignore[arg-type]
    assert isinstance(out, str) and "visit" not in out and "Ana" not in out and UNEXPECTED in out
    _quiet(caplog)


def test_background_analysis_shows_a_plain_sentence(state, face_model, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="injectmap")
    analyst = PlanAnalyst(state, face_model)
    monkeypatch.setattr(analyst, "_run", _raise(AttributeError(SECRET)))
    plan_dict = state.plan_dict()
    job = _Job(0, face_model, parse_plan(plan_dict), plan_dict, {})
    analyst._background(job)
    assert job.errors and all("visit" not in e and "Ana" not in e for e in job.errors)
    assert job.errors[0].startswith("the analysis failed: ") and UNEXPECTED in job.errors[0]
    _quiet(caplog)


def test_face_card_shows_a_plain_sentence(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="injectmap")
    state = AppState(snap=lambda p: p)
    card = FacePanel(state, types.SimpleNamespace(params=FaceParams()), lambda _m: None,
                     loader=_raise(AttributeError(SECRET)), user="ana")
    # in a thread of its own: a browser test earlier in this worker may leave an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, card._switch_async(FaceParams(masseter=1.0), write_plan=False)).result()
    assert state.message.startswith("The face could not be loaded: ") and "visit" not in state.message
    assert not card.busy
    _quiet(caplog)
