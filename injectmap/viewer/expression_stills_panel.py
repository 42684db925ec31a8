"""The walkthrough's before / two weeks / three months stills of the expression the plan treats.

A button in the patient walkthrough ("Show the expected change") renders the three stills
(:func:`reports.stills.expression_stills`, off-screen, about a second each) in the documents' worker
thread, off the server's event loop, and shows them side by side with their captions and the change in
plain words (:func:`teaching.education.expression_change`). A change of plan clears them (they would no
longer be the plan's). Without a served document (tests, notebooks) the work runs at once.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import panel as pn

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.teaching.education import expression_change
from injectmap.viewer.report_panel import report_executor
from injectmap.viewer.text import error_words, log_unexpected, plain

log = logging.getLogger("injectmap.viewer")
#: the stills' width on the page (px): three fit beside each other in the walkthrough's column at 1366x768
STILL_WIDTH = 130


class ExpressionStillsView(pn.viewable.Viewer):
    """"Show the expected change" and the three stills with their captions."""

    def __init__(self, state: Any, analyst: Any, doc: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst = state, analyst
        doc = doc if doc is not None else pn.state.curdoc
        self._doc = doc if doc is not None and getattr(doc, "session_context", None) is not None else None
        self.button = pn.widgets.Button(label="Show the expected change", width=220,
                                        css_classes=["education-stills-button"])
        self.button.on_click(lambda _e: self.make())
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["education-stills-status"])
        self.stills = pn.Row(sizing_mode="stretch_width", css_classes=["education-stills"])
        self._generation = 0
        self._layout = pn.Column(pn.pane.Markdown("#### Your expression, before and after"), self.button,
                                 self.status, self.stills, sizing_mode="stretch_width")
        state.param.watch(self._clear, ["points", "product"])

    def _clear(self, *_: Any) -> None:
        self._generation += 1
        self.stills.objects = []
        self.status.object = ""
        self.button.disabled = False

    def make(self) -> None:
        """Render the stills of the current plan (off the event loop when served)."""
        try:
            plan = parse_plan(self.state.plan_dict())
        except PlanError as exc:
            self.status.object = plain("Not shown: " + "; ".join(str(e) for e in exc.errors[:3]))
            return
        self._generation += 1
        gen, model = self._generation, self.analyst.model
        self.button.disabled = True
        self.status.object = "Drawing the expression before and after..."
        if self._doc is None:
            self._finish(gen, *self._run(model, plan))
            return
        report_executor().submit(self._background, model, plan, gen)

    def _run(self, model: Any, plan: Any) -> tuple[list[Any], Any, str]:
        from injectmap.reports.stills import expression_stills

        try:
            change = expression_change(model, plan)
            stills = expression_stills(model, plan, change.expression) if change is not None else []
            return stills, change, ""
        except Exception as exc:  # said to the user in words for them (never an internal fault's text); goes on
            log_unexpected(log, "the expression stills", exc)
            return [], None, error_words(exc)

    def _background(self, model: Any, plan: Any, gen: int) -> None:
        stills, change, error = self._run(model, plan)
        if self._doc is not None:
            self._doc.add_next_tick_callback(functools.partial(self._finish, gen, stills, change, error))

    def _finish(self, gen: int, stills: list[Any], change: Any, error: str) -> None:
        if gen != self._generation:
            return
        self.button.disabled = False
        if error:
            self.status.object = plain(f"The pictures could not be made: {error}")
            return
        if change is None or not stills:
            self.status.object = "This plan does not change an expression the model shows."
            return
        self.status.object = plain(change.text())
        self.stills.objects = [
            pn.Column(pn.pane.PNG(s.png, width=STILL_WIDTH, css_classes=["education-still"]),
                      pn.pane.Markdown(plain(s.caption), css_classes=["education-still-caption"]),
                      width=STILL_WIDTH + 10)
            for s in stills]

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
