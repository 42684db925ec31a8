"""The injectmap web app (Panel + PyVista): one scene, plan and findings per browser session.

Run it with ``injectmap serve`` (:func:`viewer.server.serve`) or ``panel serve injectmap/viewer/app.py``.

The face model is loaded once per server process (:func:`~viewer.session.get_model`) and shared
read-only; each session gets its own :class:`~viewer.state.AppState`, :class:`~viewer.analysis.PlanAnalyst`
and :class:`~viewer.scene_view.SceneView` from :func:`create_app`, which composes the cards (one module
each: ``layers_panel``, ``structure_panel``, ``file_panel``, ``face_panel``, ``plan_panel``,
``findings_panel``, ``training_panel``, ``education_panel``). Handlers only gather input and call the
state (plan edits) or planning (analysis); the scene draws what planning returned.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import panel as pn
import param
from tornado.ioloop import IOLoop

from injectmap.anatomy.cache import release_memory
from injectmap.anatomy.model import let_go_unused_faces
from injectmap.planning.plan import parse_plan, plan_to_dict
from injectmap.planning.results import DISCLAIMER
from injectmap.viewer import panes  # noqa: F401 - registers the empty slot's pane before any layout
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.auth import login_name
from injectmap.viewer.education_panel import EducationPanel
from injectmap.viewer.expressions_panel import ExpressionsPanel
from injectmap.viewer.face_panel import FacePanel, plan_face
from injectmap.viewer.file_panel import AUTOSAVE_ENV, FilePanel, autosave_dir
from injectmap.viewer.findings_panel import FindingsPanel
from injectmap.viewer.layers_panel import LayerPanel
from injectmap.viewer.layout import (
    BELOW_VIEW_STYLE,
    BODY_STYLE,
    COLUMN_SHEETS,
    COLUMN_STYLE,
    PAGE_STYLE,
    PLAN_WIDTH,
    SIDE_WIDTH,
    fit_to_width,
    legend_card,
)
from injectmap.viewer.patient_panel import PatientPanel
from injectmap.viewer.plan_panel import PlanPanel
from injectmap.viewer.report_panel import ReportPanel
from injectmap.viewer.scene_view import SCENE_SIZE, SceneView
from injectmap.viewer.session import SessionLayout, get_model, release_session, start_warm_up, warm_up
from injectmap.viewer.state import MODES, AppState
from injectmap.viewer.structure_panel import StructurePanel
from injectmap.viewer.text import plain
from injectmap.viewer.training_panel import TrainingPanel

__all__ = ["AUTOSAVE_ENV", "DEMO_PLAN", "SCENE_SIZE", "FilePanel", "FindingsPanel", "LayerPanel", "PlanPanel",
           "SceneView", "SessionLayout", "StructurePanel", "autosave_dir", "create_app", "demo_plan", "get_model",
           "release_session", "start_warm_up", "warm_up"]

log = logging.getLogger("injectmap.viewer")
DEMO_PLAN = Path(__file__).with_name("demo_plan.json")
#: project choice: Bokeh discards a session right after its on_session_destroyed callbacks; a second
#: later nothing refers to it any more, and its memory can be given back (docs/cache.md)
SESSION_RELEASE_DELAY_S = 1.0


def demo_plan() -> dict[str, Any]:
    """The default plan of a new session: the demo glabellar and forehead pattern."""
    return plan_to_dict(parse_plan(json.loads(DEMO_PLAN.read_text(encoding="utf-8"))))


def create_app(model: Any = None, plan: dict[str, Any] | None = None) -> SessionLayout:
    """One session's app: its own state, analysis and scene over the shared read-only model.

    Parameters
    ----------
    model : FaceModel, optional
        The face (the process's default face when None).
    plan : dict, optional
        The starting plan (the demo plan when None).

    Returns
    -------
    SessionLayout
        The page, with the session's parts as ``app_state``, ``app_analyst``, ``app_scene``...
    """
    t0 = time.perf_counter()
    model = model if model is not None else get_model()
    state = AppState(snap=model.skin_point)
    state.load_plan(plan if plan is not None else demo_plan(), undoable=False,
                    source="" if plan is not None else "the demo plan")
    doc = pn.state.curdoc
    served = doc is not None and doc.session_context is not None
    analyst = PlanAnalyst(state, model, doc=doc if served else None)  # served: analyses off the event loop
    scene_view = SceneView(state, analyst, model)
    session_id = uuid.uuid4().hex[:12]
    mode = pn.widgets.RadioButtonGroup.from_param(state.param.mode, options=list(MODES), color="light")
    progress = pn.pane.Markdown("", css_classes=["analysis-progress"], visible=False, margin=(0, 10))
    analyst.param.watch(lambda e: setattr(progress, "object", plain(e.new)), ["progress"])
    analyst.param.watch(lambda e: setattr(progress, "visible", e.new), ["busy"])
    header = pn.Row(pn.pane.Markdown("## injectmap: botulinum toxin injection map", margin=(0, 10)), mode,
                    scene_view.place_toggle, progress, sizing_mode="stretch_width")
    disclaimer = pn.pane.Markdown(f"*{DISCLAIMER}*", sizing_mode="stretch_width")
    training = TrainingPanel(state, model)  # shows itself in training mode only
    fit_to_width(training)  # in the right column, beside the 3D view
    education = EducationPanel(state, analyst, scene_view)  # shows itself in patient education mode only
    plan_panel, structure_panel = PlanPanel(state, analyst, model), StructurePanel(state, analyst, model)
    plan_panel.batch = scene_view.batch
    findings = FindingsPanel(state, analyst)
    findings.batch = scene_view.batch

    def switch_model(new: Any) -> None:  # the face of the plan changed: every part uses the new one
        state.set_snap(new.skin_point)
        plan_panel.model = structure_panel.model = training.model = new
        scene_view.set_model(new)
        analyst.set_model(new)

    # an accepted face goes to this login's folder; the analysis is charted on the patient's photo
    face = FacePanel(state, model, switch_model, user=login_name(), analyst=analyst)
    if "model" in state.extra and face.may_read_face(state.extra["model"]):  # the starting plan names a face
        face.request(plan_face(state.extra["model"]), write_plan=False)
    files = FilePanel(state, scene_view, session_id)
    expressions = ExpressionsPanel(state, scene_view)  # what the plan does to the frown, the brows, the smile
    report = ReportPanel(state, analyst, doc)
    patient = PatientPanel(state, analyst, scene_view, report, doc if served else None,  # the clinic's records
                           user=login_name(), on_fit_photos=face.start_photos_fit,  # a visit's photos: the Face card
                           on_patient_shown=face.patient_shown,  # the open patient's distance; another's fits aside
                           on_patient_deleted=face.forget_patient,  # a deleted patient's photo fit is forgotten
                           on_plan_forgotten=files.recheck_restore,  # an autosave of theirs no longer offered
                           accepted_faces=face.faces_accepted_for)  # faces accepted for them, visit saved or not
    face.open_patient = patient.open_patient_id  # each accepted face remembers whose it is
    # clinician-only parts (the plan's controls, the findings, the Structure card with its ids, layers and depths
    # along a point's needle) step aside in patient education
    clinician = [pn.Column(plan_panel, sizing_mode="stretch_width"), pn.Column(findings, sizing_mode="stretch_width"),
                 pn.Column(structure_panel, margin=0)]
    _hidden_in_mode(clinician, state, "patient education")
    # three columns (docs/layout.md): the side cards, the 3D view with its findings, and the plan (or the
    # mode's text) beside the view; each side column scrolls on its own, so the page never scrolls sideways
    layout = SessionLayout(
        header,
        files.restore_offer,
        pn.Row(
            pn.Column(LayerPanel(state), expressions, clinician[2], files, patient, report, face, legend_card(),
                      width=SIDE_WIDTH, css_classes=["side-column"], styles=COLUMN_STYLE, stylesheets=COLUMN_SHEETS),
            pn.Column(scene_view, pn.Column(disclaimer, clinician[1], sizing_mode="stretch_width",
                                            css_classes=["below-view"], styles=BELOW_VIEW_STYLE),
                      sizing_mode="stretch_width", min_width=380, css_classes=["centre-column"], styles=COLUMN_STYLE,
                      stylesheets=COLUMN_SHEETS),
            pn.Column(_shown_from_mode(training, state, "training"),
                      _shown_from_mode(education, state, "patient education"), clinician[0],
                      width=PLAN_WIDTH, css_classes=["plan-column"], styles=COLUMN_STYLE, stylesheets=COLUMN_SHEETS),
            sizing_mode="stretch_width", styles=BODY_STYLE),
        sizing_mode="stretch_width", styles=PAGE_STYLE,
    )
    layout.app_state = state  # for tests and notebooks: the session's state and analysis
    layout.app_analyst = analyst
    layout.app_scene = scene_view
    layout.app_structure = structure_panel
    layout.app_training = training
    layout.app_education = education
    layout.app_face = face
    layout.app_plan = plan_panel
    layout.app_findings = findings
    layout.app_files = files
    layout.app_expressions = expressions
    layout.app_patient = patient
    layout.app_clinician = clinician  # the plan card's, the findings' and the Structure card's slots (hidden in
    # patient education)
    if doc is not None and served:

        def end_session(_ctx: Any) -> None:  # the page closed: stop its analysis, free what it held
            analyst.cancel()
            release_session(layout)
            let_go_unused_faces()  # variants no open session shows are freed (docs/cache.md)
            # the session is still referenced while Bokeh runs this callback: give the memory back once
            # it has been discarded, on the server's loop
            IOLoop.current().call_later(SESSION_RELEASE_DELAY_S, _released)

        doc.on_session_destroyed(end_session)
    log.info("session app built in %.0f ms", (time.perf_counter() - t0) * 1000.0)
    return layout


def _released() -> None:
    """After a session was discarded: its faces and objects give their memory back to the system."""
    release_memory()
    print("injectmap: session ended", flush=True)  # in the server's log (scripts/serve_memory.py waits for it)


def _hidden_in_mode(slots: list[pn.Column], state: AppState, mode: str) -> None:
    """Hide these slots while ``mode`` is on, show them again after."""

    def follow(*_: Any) -> None:
        for slot in slots:
            slot.visible = state.mode != mode

    state.param.watch(follow, ["mode"])
    follow()


def _shown_from_mode(panel: pn.viewable.Viewer, state: AppState, mode: str) -> pn.Column:
    """A slot that gets ``panel`` the first time ``mode`` is chosen: a page that never opens the
    mode does not build its (hidden) widgets in the browser; the panel shows and hides itself."""
    slot = pn.Column(panel) if state.mode == mode else pn.Column()

    def fill(event: param.parameterized.Event) -> None:
        if event.new == mode and not slot.objects:
            slot.objects = [panel]

    state.param.watch(fill, ["mode"])
    return slot


if __name__.startswith("bokeh"):
    # `panel serve viewer/app.py` runs this file as a new module per session: build the session from
    # the imported package so that the model and display caches are shared by the process
    from injectmap.viewer.server import session_page as _session_page
    from injectmap.viewer.session import start_warm_up as _start_warm_up

    _start_warm_up()  # once per process: this file runs again for every session
    _session_page().servable(title="injectmap")
