"""The Report card: the clinician's chart and the patient handout of the current plan, as PDF downloads.

The clinician, visit date, which visit it is (first or touch-up), lot, expiry, dilution and notes are typed here
(or filled by the Patient card when a visit is opened) (a :class:`reports.chart.ChartContext`;
the plan file keeps the patient, the sessions and each point's lot and note). "Report" and "Handout"
make the PDF in a worker thread, off the server's event loop (a chart renders three views: seconds), and
show each stage; the finished PDF is then offered by a download button. Without a served document
(tests, notebooks) the work runs at once in the caller's thread. The PDF stays in the session's memory
only (patient data: never written to disk, never logged).
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import panel as pn

from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.sessions import DEFAULT_SESSION, TOUCH_UP_SESSION
from injectmap.reports.chart import ChartContext
from injectmap.viewer.text import error_words, log_unexpected, plain

log = logging.getLogger("injectmap.viewer")
#: the Visit choice: which of the plan's sessions the chart and handout are of (reports.chart.ChartContext.session)
VISIT_SESSIONS = {"As the plan dates it": "", "First visit": DEFAULT_SESSION, "Touch-up": TOUCH_UP_SESSION}
_LOCK = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def report_executor() -> ThreadPoolExecutor:
    """One thread for the process's documents (each renders off-screen; two at once would share the cores)."""
    global _executor
    with _LOCK:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="injectmap-report")
        return _executor


class ReportPanel(pn.viewable.Viewer):
    """Report (the clinician's chart) and Handout (for the patient) buttons with their PDF downloads."""

    def __init__(self, state: Any, analyst: Any, doc: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst = state, analyst
        served = doc is not None and getattr(doc, "session_context", None) is not None
        self._doc = doc if served else None
        self.clinician = pn.widgets.TextInput(label="Clinician", placeholder="the clinician's name", width=250,
                                             max_length=200)
        self.visit_date = pn.widgets.TextInput(label="Visit date", placeholder="YYYY-MM-DD (empty: the plan's)",
                                              width=250, max_length=10)
        # what the visit is (the records' kind fills it): a first visit moved to the plan's touch-up day stays one
        self.session = pn.widgets.Select(label="Visit", options=dict(VISIT_SESSIONS), value="", width=250)
        self.lot = pn.widgets.TextInput(label="Lot", placeholder="the vial's lot", width=250, max_length=100)
        self.expiry = pn.widgets.TextInput(label="Expiry", placeholder="the vial's expiry", width=250, max_length=40)
        self.dilution = pn.widgets.TextInput(label="Dilution", placeholder="as prepared (empty: the plan's)",
                                             width=250, max_length=200)
        self.notes = pn.widgets.TextAreaInput(label="Notes", placeholder="notes of the visit", width=250, height=60,
                                              max_length=4000)
        self.report = pn.widgets.Button(label="Report", color="primary", width=120)
        self.handout = pn.widgets.Button(label="Handout", width=120)
        self.report.on_click(lambda _e: self.make(handout=False))
        self.handout.on_click(lambda _e: self.make(handout=True))
        self._pdf: dict[str, bytes] = {}
        self.report_download = pn.widgets.FileDownload(callback=functools.partial(self._bytes, "report"),
                                                       filename="chart.pdf", label="Download report (PDF)",
                                                       color="success", width=250, visible=False)
        self.handout_download = pn.widgets.FileDownload(callback=functools.partial(self._bytes, "handout"),
                                                        filename="handout.pdf", label="Download handout (PDF)",
                                                        color="success", width=250, visible=False)
        self.status = pn.pane.Markdown("", width=280, css_classes=["report-status"])
        self._generation = 0

    def _bytes(self, which: str) -> io.BytesIO:
        return io.BytesIO(self._pdf.get(which, b""))

    def context(self) -> ChartContext:
        """The typed values of the card (ValueError on a visit date that is not YYYY-MM-DD)."""
        def text(w: Any) -> str:
            return str(w.value or "").strip()

        return ChartContext(clinician=text(self.clinician), visit_date=text(self.visit_date),
                            session=text(self.session), lot=text(self.lot), expiry=text(self.expiry),
                            dilution=text(self.dilution), notes=str(self.notes.value or ""))

    def forget(self) -> None:
        """Forget the visit's details (the clinician stays: the user's) and the documents made, and drop one
        being made when it ends: a deleted patient's chart or handout is no longer offered."""
        self.forget_documents()
        for w in (self.visit_date, self.session, self.lot, self.expiry, self.dilution, self.notes):
            w.value = ""

    def forget_documents(self, why: str = "") -> None:
        """Withdraw the documents made and drop one being made when it ends (the visit's details stay): after the
        patient's name was corrected, a chart or handout printing the old one is no longer offered. ``why``: what
        the card's status then says (plain text)."""
        self._generation += 1
        self._busy(False)
        self._pdf.clear()
        self.report_download.visible = self.handout_download.visible = False
        self.status.object = plain(why)

    def _busy(self, on: bool) -> None:
        self.report.disabled = self.handout.disabled = on

    def make(self, handout: bool = False) -> None:
        """Make the report (or the handout) of the current plan; off the event loop when served."""
        which = "handout" if handout else "report"
        try:
            ctx = self.context()
            plan = parse_plan(self.state.plan_dict())
        except ValueError as exc:  # PlanError is a ValueError; a bad date too
            words = "; ".join(str(e) for e in exc.errors[:3]) if isinstance(exc, PlanError) else str(exc)
            self.status.object = plain(f"Not made: {words}")
            return
        self._generation += 1
        gen, model = self._generation, self.analyst.model
        name = self.state.plan_source()  # the chart's "Plan:" line: where the plan came from
        (self.handout_download if handout else self.report_download).visible = False
        self._busy(True)
        self.status.object = plain(f"Making the {which}...")
        if self._doc is None:
            self._finish(gen, which, *self._run(plan, model, ctx, handout, gen, name))
            return
        report_executor().submit(self._background, plan, model, ctx, handout, gen, name)

    def _run(self, plan: Any, model: Any, ctx: ChartContext, handout: bool, gen: int,
             name: str) -> tuple[bytes, str]:
        from injectmap.viewer.report_render import render_document

        def progress(message: str) -> None:
            if self._doc is not None:
                self._doc.add_next_tick_callback(functools.partial(self._progress, gen, message))

        try:
            return render_document(plan, model, ".pdf", name, ctx, handout, progress=progress), ""
        except Exception as exc:  # said to the user in words for them (never an internal fault's text); goes on
            log_unexpected(log, "the handout" if handout else "the report", exc)
            return b"", error_words(exc)

    def _background(self, plan: Any, model: Any, ctx: ChartContext, handout: bool, gen: int, name: str) -> None:
        pdf, error = self._run(plan, model, ctx, handout, gen, name)
        if self._doc is not None:
            self._doc.add_next_tick_callback(functools.partial(self._finish, gen, "handout" if handout else "report",
                                                               pdf, error))

    def _progress(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.status.object = plain(message)

    def _finish(self, gen: int, which: str, pdf: bytes, error: str) -> None:
        if gen != self._generation:
            return
        self._busy(False)
        if error:
            self.status.object = plain(f"The {which} could not be made: {error}")
            return
        self._pdf[which] = pdf
        dl = self.handout_download if which == "handout" else self.report_download
        dl.filename = f"{'handout' if which == 'handout' else 'chart'}-{_dt.date.today().isoformat()}.pdf"
        dl.visible = True
        self.status.object = plain(f"The {which} is ready ({len(pdf) / 1e6:.1f} MB): download it below.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(self.clinician, self.visit_date, self.session, self.lot, self.expiry, self.dilution, self.notes,
                       pn.Row(self.report, self.handout), self.status, self.report_download, self.handout_download,
                       title="Chart and handout", width=300)
