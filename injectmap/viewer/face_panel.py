"""The face of the plan: sex, masseter size and brow heights, switched per session.

:class:`FacePanel` gathers the face parameters (``anatomy.params.FaceParams``) and, on Apply, loads
that face (``anatomy.model.load_model``; a new variant is built once, about 12 s, then read from the
mesh cache), hands it to the session (``apply_model``: the app swaps the model of its scene, analysis
and panels, and every point is analysed again) and writes the face into the plan's ``model`` field,
so that a saved plan keeps its face. A plan loaded with a ``model`` switches the session to that face.
The default face is written as no ``model`` at all.

The patient's own face: a front photo uploaded in the card, with up to two obliques chosen with it (or a
visit's photos handed over by :meth:`FacePanel.start_photos_fit`), is fitted in a worker thread
(``viewer.face_photo``) with its progress shown; the card then shows the front photo with the landmarks found
and the fitted face's landmarks, the residuals (each oblique's median too) and what a photo cannot tell.
**Accept** writes the face file owner-only in the user's own faces folder, names it in the plan's
``model.face`` and switches the session to the fitted face;
**Discard** forgets the photo, removes the face file and goes back to the face without the fit. When the
Patient card deletes a patient's record, the card forgets every photo and scan it holds, their fits and a fit
still running (:meth:`FacePanel.forget_patient`): an upload names no patient, so whose they are cannot be told.

Faces are loaded once per process (:func:`load_face`, through ``anatomy.model.FACES``) and shared
read-only by every session. In a server session the load runs in a worker thread, so other sessions are
not held up while a face is built; the session shows a busy indicator until the switch is done.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from injectmap.anatomy.params import SHAPE_KEYS, FaceParams, FaceParamsError, face_cache_settings
from injectmap.viewer.state import AppState
from injectmap.viewer.text import error_words, log_unexpected, mm_text, plain

log = logging.getLogger("injectmap.viewer")
#: ``FacePanel.start_photos_fit``'s ipd_mm when none is given: the card's field decides
_FIELD: Any = object()


def load_face(params: FaceParams) -> Any:
    """The face model for ``params``, loaded (or built) once per process and shared read-only.

    The registry of loaded faces (``anatomy.model.FACES``) makes two sessions asking for the same new
    face wait for one build, while different faces load in parallel. The scene's display meshes are
    prepared here too (kept with the face, and freed with it), so the switch itself is quick.
    """
    from injectmap.anatomy.model import load_model
    from injectmap.viewer.scene import display_meshes

    model = load_model(params=params)
    display_meshes(model)
    return model


def plan_face(plan_model: Mapping[str, Any] | None) -> FaceParams:
    """The face a plan's ``model`` field names (the default face for none)."""
    return FaceParams.from_plan_model(dict(plan_model) if plan_model is not None else None)


def face_to_plan_model(params: FaceParams, face_file: Path | None = None) -> dict[str, Any] | None:
    """The plan's ``model`` field for a face (None for the default face); a fitted face names its face
    file (``face_file``) in ``model.face``."""
    if params.is_default and not (params.fit_id and face_file):
        return None
    out: dict[str, Any] = {"sex": params.sex, "shape": {k: getattr(params, k) for k in SHAPE_KEYS}}
    if params.fit_id and face_file is not None:
        out["face"] = str(face_file)
    return out


def slider_step(key: str) -> float:
    """A face slider's step: the step its parameter is rounded to (``anatomy/data/face_cache.yaml``), so that
    every position of the slider is a face that is built, and no two positions show the same face."""
    return face_cache_settings().steps[key].step


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


#: what a hidden picture pane holds (a pane that goes from no picture to one is rebuilt in the browser, and
#: Panel then names its stylesheets on its CDN, which the content security policy blocks)
_BLANK_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                           "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


def _on_session(doc: Any, callback: Callable[[], None]) -> None:
    """Run ``callback`` on the session's loop (from any thread) as Panel's own: with the session's document
    current, so panes it updates take the server's own static files (without it Panel names its CDN, which
    the content security policy blocks)."""
    from panel.io.state import set_curdoc

    def run() -> None:
        with set_curdoc(doc):
            callback()

    try:
        doc.add_next_tick_callback(run)
    except Exception:  # noqa: BLE001 - the session has ended meanwhile
        pass


def _model_params(model: Any) -> FaceParams:
    p = getattr(model, "params", None)
    return p if isinstance(p, FaceParams) else FaceParams()


class FacePanel(pn.viewable.Viewer):
    """Sliders for the face of the plan and an Apply button (with a busy state)."""

    sex = param.Number(default=0.5, bounds=(0.0, 1.0), doc="0 female .. 1 male.")
    masseter = param.Number(default=0.0, bounds=(-1.0, 1.0), doc="-1 small jaw .. +1 hypertrophy.")
    brow_left = param.Number(default=0.0, bounds=(-1.0, 1.0), doc="-1 low .. +1 high left brow.")
    brow_right = param.Number(default=0.0, bounds=(-1.0, 1.0), doc="-1 low .. +1 high right brow.")
    busy = param.Boolean(default=False, doc="A face is being loaded for this session.")
    current = param.ClassSelector(class_=FaceParams, default=FaceParams(), doc="The session's face.")
    photo_busy = param.Boolean(default=False, doc="A photo is being fitted for this session.")
    scan_busy = param.Boolean(default=False, doc="A 3D scan is being fitted for this session.")

    def __init__(self, state: AppState, model: Any, apply_model: Callable[[Any], None],
                 loader: Callable[[FaceParams], Any] = load_face, user: str | None = None, analyst: Any = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.state, self.model = state, model
        self._apply_model, self._loader = apply_model, loader
        self._wanted: FaceParams | None = None
        self.user = user  # the login whose faces folder an accepted face goes to (None: no logins)
        self.photo_fit: Any = None  # the fit of the last photo (viewer.face_photo.PhotoFit), in memory only
        self.face_file: Path | None = None  # the face file of the session's fitted face
        # the face files Accept wrote in this session: still listed when Undo leaves the fitted face (Redo or
        # Accept goes back to it, the file is where it was), and Discard removes them all
        self.accepted_files: list[Path] = []
        self.scan_fit: Any = None  # the fit of the last scan (viewer.face_scan.ScanResult), in memory only
        self.scan_files: list[Path] = []  # the face files Accept wrote for scans in this session
        #: the records' id of the patient open when Accept wrote each face file (by file name; None: no patient
        #: open), asked of ``open_patient`` (the Patient card's, set by the app): their deletion takes those faces
        self.open_patient: Callable[[], int | None] = lambda: None
        self._accepted_for: dict[str, int | None] = {}
        #: the patient open in the Patient card when the photo fit and the scan fit on show were started: another
        #: patient opened sets them aside (:meth:`patient_shown`)
        self._photo_for: int | None = None
        self._scan_for: int | None = None
        #: the patient the session's fitted face belongs to: the one open when it was accepted or when a plan (a
        #: visit's) brought it; None until a patient is open (the first one shown then takes it)
        self._face_owner: int | None = None
        self._scan_token = 0
        self._fit_token = 0
        self._pending: dict[str, Future[Any]] = {}  # per kind of job, the session's entry in the fit thread
        self._next_job: dict[str, Callable[[], None]] = {}  # per kind, the job that entry runs when it starts
        self._accepted_name = ""  # the file name of the accepted photo (user text)
        self.analyst = analyst  # the session's analysis (viewer.analysis.PlanAnalyst): the chart on the photo
        self._chart_token = 0
        self.sliders = [
            pn.widgets.FloatSlider.from_param(self.param[key], label=label, step=slider_step(key), width=260)
            for key, label in (("sex", "Sex (0 female, 1 male)"), ("masseter", "Masseter size (-1 small, +1 large)"),
                               ("brow_left", "Left brow height"), ("brow_right", "Right brow height"))
        ]
        for s, cls in zip(self.sliders, ("face-sex", "face-masseter", "face-brow-left", "face-brow-right"),
                          strict=True):
            s.css_classes = [cls]
        self.apply_button = pn.widgets.Button(label="Apply face", color="primary", width=120,
                                              css_classes=["face-apply"])
        self.apply_button.on_click(self._on_apply)
        self.spinner = pn.indicators.LoadingSpinner(value=True, size=24, visible=False,
                                                    css_classes=["face-busy"])
        self.status = pn.pane.Markdown("", width=270, css_classes=["face-status"])
        self._photo_widgets()
        self._scan_widgets()
        self.current = _model_params(model)
        self._show(self.current)
        self._on_busy()
        state.param.watch(self._on_plan_model, ["extra"])
        if analyst is not None:
            analyst.param.watch(lambda *_e: self.refresh_chart(), ["results", "busy"])  # batched: one event each

    # ------------------------------------------------------------------ views
    def _describe(self) -> str:
        """The card's status line (Markdown): the face shown, or that one is loading."""
        if self.busy:
            return "*Loading the face (a new one is built once, about 12 s)...*"
        face, rest = self._face_words()
        return f"Face: **{plain(face)}**{plain(rest)}."

    def _face_words(self) -> tuple[str, str]:
        """The face shown, in words (plain text: a file name in it is the user's): its name, and what follows."""
        c = self.current
        if c.fit_id:
            name = self._accepted_name if self.face_file is not None else ""
            source = "the photo" if c.offsets is None else "the 3D scan"
            return f"fitted to {source}{' ' + name if name else ''}", f" (face {c.fit_id[:8]})"
        if c.is_default:
            return "default", " (average)"
        parts = [f"sex {c.sex:g}"] + [f"{k.replace('_', ' ')} {getattr(c, k):+g}" for k in SHAPE_KEYS
                                     if getattr(c, k)]
        return ", ".join(parts), ""

    def _show(self, p: FaceParams) -> None:
        self.param.update(sex=p.sex, masseter=p.masseter, brow_left=p.brow_left, brow_right=p.brow_right)

    def chosen(self) -> FaceParams:
        """The face the sliders describe (FaceParamsError when out of range)."""
        return FaceParams(sex=self.sex, masseter=self.masseter, brow_left=self.brow_left,
                          brow_right=self.brow_right, fit=self.current.fit,
                          offsets=self.current.offsets)  # a fitted face (photo or scan) keeps its fit

    @param.depends("busy", "current", watch=True)
    def _on_busy(self) -> None:
        self.spinner.visible = self.busy
        self.apply_button.disabled = self.busy
        self.status.object = self._describe()

    # ------------------------------------------------------------------ switching
    def apply(self, face: FaceParams | None = None, *, write_plan: bool = True) -> None:
        """Switch this session to ``face`` (the sliders' face by default), synchronously."""
        face = self.chosen() if face is None else face
        self._switch(self._loader(face), face, write_plan)

    def _switch(self, model: Any, face: FaceParams, write_plan: bool) -> None:
        if model is not self.model:
            self.model = model
            self._apply_model(model)
        self.current = face
        self._show(face)
        if not face.fit_id:
            self.face_file, self._face_owner = None, None
        if write_plan:  # an edit of the plan: Undo switches back to the previous face
            self.state.set_plan_model(face_to_plan_model(face, self.face_file))
        # the status line is plain text (its pane escapes it), and the face is loaded: never the loading line, which
        # stayed there once the face had come
        face_text, rest = self._face_words()
        self.state.message = f"Face: {face_text}{rest}."

    async def _switch_async(self, face: FaceParams, write_plan: bool) -> None:
        """Load in a worker thread (other sessions go on), then switch on the session's loop."""
        self._wanted = face
        self.busy = True
        try:
            model = await asyncio.get_running_loop().run_in_executor(None, self._loader, face)
            if self._wanted == face:  # a later request wins
                self._switch(model, face, write_plan)
        except Exception as exc:  # noqa: BLE001 - shown to the user (never an internal fault's text); goes on
            log_unexpected(log, "loading a face", exc)
            self.state.message = f"The face could not be loaded: {error_words(exc)}"
        finally:
            if self._wanted == face:
                self._wanted = None
                self.busy = False

    def request(self, face: FaceParams, *, write_plan: bool = True) -> None:
        """Switch to a face: in the background in a server session, at once otherwise."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.apply(face, write_plan=write_plan)
            return
        self.busy = True
        pn.state.execute(functools.partial(self._switch_async, face, write_plan))

    def _on_apply(self, _e: Any = None) -> None:
        try:
            face = self.chosen()
        except FaceParamsError as exc:
            self.state.message = f"Not applied: {exc}"
            return
        self.request(face)

    def _on_plan_model(self, event: param.parameterized.Event) -> None:
        """A plan was loaded (or its model changed): show the face it names."""
        plan_model = event.new.get("model")
        if not self.may_read_face(plan_model):
            return
        try:
            face = plan_face(plan_model)
        except FaceParamsError as exc:
            self.state.message = f"The plan's face is not valid ({exc}); the face is unchanged."
            return
        if face.fit_id and isinstance(plan_model, Mapping) and plan_model.get("face"):
            self.face_file = Path(str(plan_model["face"]))
            if face.fit_id != self.current.fit_id:  # another fitted face: the patient's open now (a visit's plan)
                self._face_owner = self._patient_open()
        if face != (self._wanted or self.current):
            self.request(face, write_plan=False)

    def may_read_face(self, plan_model: Any) -> bool:
        """Whether the face file a plan's ``model.face`` names may be read by this session (with logins, only
        from the login's own faces folder); says why not, and the face stays unchanged."""
        from injectmap.viewer.face_photo import face_path_allowed

        face = plan_model.get("face") if isinstance(plan_model, Mapping) else None
        if not face or face_path_allowed(str(face), self.user):
            return True
        self.state.message = ("The plan names a face file outside your own faces folder; it is not read and the face "
                              "is unchanged (accept the photo's fit in the Face card, or open the visit it belongs to).")
        return False

    # ------------------------------------------------------------------ the patient's photo
    def _photo_widgets(self) -> None:
        self.photo_input = pn.widgets.FileInput(accept=".jpg,.jpeg,.png,image/jpeg,image/png", width=260,
                                                multiple=True, css_classes=["face-photo-upload"])
        self.photo_input.param.watch(self._on_photo_upload, "value")
        # a measured distance PD sets the face's size (else the iris's population mean: SD about 3.6 %)
        # text, read by the fit (anatomy.fit.photo.checked_ipd: 62.5 or 62,5; refused with the reason outside the
        # adult range): a number field's spinner would replace such a value silently, and shows NaN when emptied
        self.ipd_input = pn.widgets.TextInput(label="Measured interpupillary distance, mm (optional)", value="",
                                              width=260, max_length=20, placeholder="e.g. 63 (a distance PD)",
                                              css_classes=["face-photo-ipd"])
        self.ipd_input.param.watch(lambda _e: self._on_ipd_changed(), "value")
        self.photo_status = pn.pane.Markdown("Fit the face to the patient's front photo (JPEG or PNG): upload it "
                                             "here. Up to two obliques (the head turned about 45 degrees) may be "
                                             "chosen with it: each is checked against the fitted face. With the "
                                             "patient's measured interpupillary distance typed above first, the "
                                             "face's size is taken from it rather than from the iris.",
                                             width=270, css_classes=["face-photo-status"])
        self.photo_spinner = pn.indicators.LoadingSpinner(value=True, size=20, visible=False,
                                                          css_classes=["face-photo-busy"])
        self.photo_pane = pn.pane.PNG(_BLANK_PNG, width=270, visible=False, css_classes=["face-photo-fit"])
        self.photo_caveat = pn.pane.Markdown("", width=270, visible=False, css_classes=["face-photo-caveat"])
        self.accept_button = pn.widgets.Button(label="Accept this face", color="primary", width=130,
                                               disabled=True, css_classes=["face-photo-accept"])
        self.accept_button.on_click(self._on_accept)
        self.discard_button = pn.widgets.Button(label="Discard photo", width=120, disabled=True,
                                                css_classes=["face-photo-discard"])
        self.discard_button.on_click(self._on_discard)
        self.kept_note = pn.pane.Markdown("", width=270, visible=False, css_classes=["face-photo-kept"])
        self.chart_title = pn.pane.Markdown("**The plan on the photo**", width=270, visible=False,
                                            margin=(10, 10, 0, 10))
        self.chart_pane = pn.pane.PNG(_BLANK_PNG, width=270, visible=False, css_classes=["face-photo-chart"])
        self.zones_toggle = pn.widgets.Checkbox(name="Danger zones (arteries, nerves, duct)", value=True,
                                                visible=False, css_classes=["face-photo-zones"])
        self.zones_toggle.param.watch(lambda _e: self.refresh_chart(), "value")
        self.chart_note = pn.pane.Markdown("", width=270, visible=False, css_classes=["face-photo-chart-note"])

    @param.depends("photo_busy", "busy", "current", watch=True)
    def _on_photo_busy(self) -> None:
        self._photo_buttons()
        self.refresh_chart()

    def _photo_buttons(self) -> None:
        self.photo_spinner.visible = self.photo_busy
        self.accept_button.disabled = self.photo_busy or self.photo_fit is None or self._accepted()
        self.discard_button.disabled = self.photo_busy or (self.photo_fit is None and self.face_file is None
                                                           and not self.accepted_files)
        kept = [p for p in self.accepted_files if p.name != f"{self.current.fit_id}.face.json"]
        self.kept_note.visible = bool(kept) and not self.busy
        self.kept_note.object = (
            f"*The accepted face ({len(kept)} face file{'s' if len(kept) != 1 else ''}) is kept in your faces folder "
            "while the session shows another face: Redo or Accept switches back to it, Discard removes it.*"
            if kept else "")

    def _accepted(self) -> bool:
        return (self.photo_fit is not None and self.face_file is not None
                and self.current.fit_id == self.photo_fit.face.face_id)

    # ------------------------------------------------------------------ the fit thread
    def _served_doc(self) -> Any:
        """The session's document in a server session (jobs then run in the fit thread), else None."""
        doc = pn.state.curdoc
        return doc if doc is not None and doc.session_context is not None else None

    def _schedule(self, doc: Any, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the session's loop (from the fit thread)."""
        _on_session(doc, callback)

    def _submit(self, kind: str, job: Callable[[], None]) -> Future[Any]:
        """Run ``job`` in the process's fit thread (scans in their own), with at most one waiting entry of each ``kind`` per
        session: while the session's entry of that kind has not started, a new job takes the place of the
        one it would have run (a new photo replaces the waiting one), so the queue never grows with a
        session's uploads or chart redraws."""
        from injectmap.viewer.face_photo import fit_executor

        self._next_job[kind] = job
        fut = self._pending.get(kind)
        if fut is not None and not fut.running() and not fut.done():
            return fut  # the waiting entry runs the newest job when it starts

        def run() -> None:
            newest = self._next_job.pop(kind, None)
            if newest is not None:
                newest()

        fut = fit_executor("scan" if kind == "scan" else "photo").submit(run)
        self._pending[kind] = fut
        return fut

    # ------------------------------------------------------------------ the photo's fit
    def _on_photo_upload(self, event: param.parameterized.Event) -> None:
        if not event.new:
            return
        # one file, or several chosen together (the widget takes several: a front photo and obliques)
        datas = event.new if isinstance(event.new, list) else [event.new]
        raw_names = self.photo_input.filename
        names = raw_names if isinstance(raw_names, list) else [raw_names]
        photos = [(d, (names[i] if i < len(names) else None) or "photo") for i, d in enumerate(datas)]
        # the upload is read once: the widget lets go of the files' bytes (here and in the browser)
        self.photo_input.param.update(value=None, filename=None, mime_type=None)
        self.photo_input.clear()
        self.start_photos_fit(photos)

    def start_photo_fit(self, data: bytes, display_name: str) -> None:
        """Fit the face to one front photo (the bytes of a JPEG or PNG file; ``display_name`` is user text): a visit's
        photo handed over by the Patient card. See :meth:`start_photos_fit`."""
        self.start_photos_fit([(data, display_name)])

    def _patient_open(self) -> int | None:
        """The patient open in the Patient card (None: none, or not known)."""
        try:
            return self.open_patient()
        except Exception as exc:  # noqa: BLE001 - whose it is stays unknown
            log.warning("the open patient was not known: %s", type(exc).__name__)
            return None

    def patient_shown(self, patient_id: int | None, ipd_mm: float | None) -> None:
        """The Patient card shows this patient (None: none open) and their measured interpupillary distance (None:
        none). The distance goes into the card's field, so an upload here takes that patient's size and never a
        previous patient's. A photo or scan fit, and the session's fitted face, belong to the patient open when they
        were made, accepted or brought by a visit's plan (one made with no patient open, to the first patient shown
        after it): another patient's fit is set aside (its picture, and Accept with it), and another patient's face
        stops being the session's face at once (the plan loses it, then the default face comes back), so the open
        patient's plan never carries another patient's face."""
        self.ipd_input.value = mm_text(ipd_mm)
        if patient_id is None:
            return  # none open (after a deletion, forget_patient has done the rest)
        if self.photo_fit is not None or self.photo_busy or "fit" in self._next_job:
            if self._photo_for is None:
                self._photo_for = patient_id
            elif self._photo_for != patient_id:
                self._set_aside_photo()
        if self.scan_fit is not None or self.scan_busy or "scan" in self._next_job:
            if self._scan_for is None:
                self._scan_for = patient_id
            elif self._scan_for != patient_id:
                self._set_aside_scan()
        if self.current.fit_id or self.face_file is not None:
            if self._face_owner is None:
                self._face_owner = patient_id
            elif self._face_owner != patient_id:
                self._set_aside_face()

    def _set_aside_face(self) -> None:
        self.face_file, self._face_owner = None, None
        self.state.message = ("The face fitted to another patient's photo or scan was set aside: the default face is "
                              "shown.")
        self.state.set_plan_model(None)  # at once: the plan the Patient card gives the next patient has no face of theirs
        if self.current.fit_id and self._wanted is None:
            self.request(FaceParams(), write_plan=False)

    def _set_aside_photo(self) -> None:
        self._drop_photo_fit()
        self.photo_status.object = ("The photo fitted while another patient was open was set aside: it is not this "
                                    "patient's. Upload this patient's front photo to fit their face.")

    def _set_aside_scan(self) -> None:
        self._drop_scan_fit()
        self.scan_status.object = ("The scan fitted while another patient was open was set aside: it is not this "
                                   "patient's. Upload this patient's 3D scan to fit their face.")

    def _drop_photo_fit(self) -> None:
        """Let go of the photo's fit: a fit running now is dropped when it ends (_fit_done), a waiting one (and a
        chart on the photo waiting in the fit thread) never starts and lets go of the photo's bytes; what the charts
        on the photo kept in memory goes (after the tokens: no job of this card keeps it again); the picture, the
        caveat and the chart are hidden, Accept disabled."""
        from injectmap.reports import chart_cache

        self._fit_token += 1
        self._chart_token += 1
        for kind in ("fit", "chart"):
            self._next_job.pop(kind, None)
        if self.photo_fit is not None:
            chart_cache.forget_face(self.photo_fit.face.face_id)
        self._photo_for = None
        self.photo_input.clear()
        self.photo_busy = False
        self._show_fit(None)

    def _drop_scan_fit(self) -> None:
        """Let go of the scan's fit, as :meth:`_drop_photo_fit` does of the photo's."""
        self._scan_token += 1
        self._next_job.pop("scan", None)
        self._scan_for = None
        self.scan_input.clear()
        self.scan_busy = False
        self._show_scan(None)

    def _on_ipd_changed(self) -> None:
        """A fit on show whose size is not the field's distance says so (the photo must be uploaded again: the card
        keeps only a crop of it)."""
        # only while the status shows the fit's own words (a refusal or a note of the card's stays)
        if self.photo_fit is not None and not self.photo_busy and str(self.photo_status.object).startswith("Fitted to "):
            self.photo_status.object = self._fit_status(self.photo_fit)

    def _ipd_note(self, fit: Any) -> str:
        from injectmap.anatomy.fit.landmarks import FitRefused
        from injectmap.anatomy.fit.photo import checked_ipd

        try:
            typed = checked_ipd(self.ipd_input.value)
        except FitRefused:
            typed = float("nan")
        used = fit.face.scale.get("ipd_mm")
        if typed == used or (typed is not None and used is not None and abs(typed - float(used)) < 0.05):
            return ""
        return (" **The interpupillary distance in the field is not the one this fit used: upload the photo again to "
                "fit with it.**")

    def start_photos_fit(self, photos: list[tuple[bytes, str]], ipd_mm: float | None | object = _FIELD) -> None:
        """Fit the face to a front photo and up to two obliques (each the bytes of a JPEG or PNG file and its name,
        user text, shown escaped): in the fit thread in a server session, at once otherwise. The card shows the
        progress, then the fit with its picture (drawn in the fit thread too) or the reason the photos were
        refused. Photos given while others are waiting or being fitted replace them. The measured interpupillary
        distance sets the face's size: ``ipd_mm`` where it is given (the Patient card gives its patient's, None for
        none; the card's field then shows it), else the one in the card's field when the fit starts, if any."""
        from injectmap.anatomy.fit.photo import MAX_PHOTOS
        from injectmap.clinic.records import photo_display_name
        from injectmap.viewer.limits import int_limit

        # no control or bidi characters shown
        photos = [(data, photo_display_name(name) or "photo") for data, name in photos]
        display_name = ", ".join(name for _data, name in photos)
        if not photos:
            return
        if len(photos) > MAX_PHOTOS:
            self._refused(display_name, f"{len(photos)} photos were chosen; give the front photo and at most two "
                                        "obliques")
            return
        most = int_limit("max_photo_bytes")
        for data, name in photos:
            if len(data) > most:
                self._refused(name, f"the file is {_size(len(data))}; a photo is at most {_size(most)} "
                                    "(a JPEG of the face is enough)")
                return
        if ipd_mm is not _FIELD:
            self.ipd_input.value = mm_text(ipd_mm)  # type: ignore[arg-type]
        ipd = self.ipd_input.value
        self._photo_for = self.open_patient()
        self._fit_token += 1
        token = self._fit_token
        self.photo_busy = True  # the last fit stays shown until this one succeeds
        self._progress(token, display_name, "Starting...")
        doc = self._served_doc()
        if doc is None:
            out = self._fit_job(photos, lambda t: self._progress(token, display_name, t), ipd)
            self._fit_done(token, display_name, *out)
            return

        def job() -> None:
            if token != self._fit_token:
                return  # later photos (or Discard) replaced these before they started
            out = self._fit_job(
                photos, lambda t: self._schedule(doc, functools.partial(self._progress, token, display_name, t)), ipd)
            self._schedule(doc, functools.partial(self._fit_done, token, display_name, *out))

        self._submit("fit", job)

    @staticmethod
    def _fit_job(photos: list[tuple[bytes, str]], progress: Callable[[str], None],
                 ipd_mm: float | str | None = None) -> tuple[Any, bytes, str]:
        """Run the fit (with the measured interpupillary distance ``ipd_mm``, if given) and draw its picture (any
        thread); return (the fit, its picture as PNG, "") or (None, b"", why it was refused)."""
        from injectmap.anatomy.fit.landmarks import FitRefused
        from injectmap.reports.photo_io import PhotoError, png_bytes
        from injectmap.viewer.face_photo import fit_photos, fit_picture

        try:
            fit = fit_photos(photos, progress, ipd_mm=ipd_mm)
            progress("Drawing the fit's picture...")
            return fit, png_bytes(fit_picture(fit)), ""
        except (FitRefused, PhotoError) as exc:
            return None, b"", str(exc)
        except Exception as exc:  # noqa: BLE001 - shown to the user; the photo itself is never logged
            log.error("photo fit failed: %s", type(exc).__name__)
            return None, b"", f"the fit failed ({type(exc).__name__})"

    def _progress(self, token: int, display_name: str, text: str) -> None:
        if token == self._fit_token and self.photo_busy:
            self.photo_status.object = f"*{plain(display_name)}: {plain(text)}*"

    def _refused(self, display_name: str, why: str) -> None:
        self.photo_status.object = f"**Photo refused** ({plain(display_name)}): {plain(why)}."
        # the reason may name the patient's files: it stays in this card, which forgets it with the patient
        self.state.message = "Photo refused: the Face card says why."

    def _fit_done(self, token: int, display_name: str, fit: Any, picture: bytes, error: str) -> None:
        if token != self._fit_token:
            return  # a later photo replaced this one
        self.photo_busy = False
        if fit is None:
            self._refused(display_name, error)
        else:
            self._show_fit(fit, picture)
        self._photo_buttons()

    def _show_fit(self, fit: Any, picture: bytes = b"") -> None:
        """Show a fit (its picture: the photo with the landmarks, drawn in the fit thread; the residuals,
        the caveat), or nothing for None."""
        from injectmap.anatomy.fit.facefile import CAVEAT
        from injectmap.anatomy.fit.photo import placement_text

        self.photo_fit = fit
        if fit is None:
            self.photo_pane.object, self.photo_pane.visible, self.photo_caveat.visible = _BLANK_PNG, False, False
            self._on_photo_busy()
            return
        self.photo_pane.object = picture or _BLANK_PNG
        self.photo_pane.visible = bool(picture)
        self.photo_status.object = self._fit_status(fit)
        self.photo_caveat.object = f"*{plain(CAVEAT)} {plain(placement_text())}*"
        self.photo_caveat.visible = True
        self._on_photo_busy()

    def _fit_status(self, fit: Any) -> str:
        """The card's words on a fit: the photos, the residuals, where the size came from, the checks."""
        from injectmap.anatomy.fit.photo import scale_text, scale_warnings

        sc = fit.face.scale
        warn = "".join(f" **Check:** {plain(w)}." for w in scale_warnings(sc))
        # the obliques are posed against the front photo's fit (anatomy.fit.photo: they do not move its shape)
        checks = [f"**{plain(name)}** (median {med:.1f} mm)"
                  for name, med in zip(fit.obliques, fit.oblique_medians_mm, strict=True)]
        obliques = (f", checked on the oblique{'s' if len(checks) > 1 else ''} {' and '.join(checks)}"
                    if checks else "")
        return (f"Fitted to **{plain(fit.display_name)}**{obliques}: the front photo's residuals per landmark median "
                f"**{fit.median_mm:.1f} mm**, 90th percentile **{fit.p90_mm:.1f} mm** ({len(fit.residuals_mm)} "
                f"landmarks). {plain(scale_text(sc))}{warn}{self._ipd_note(fit)} Green: the photo's landmarks; "
                "magenta: the fitted face's.")

    def _write_accepted(self, fit: Any, status: Any, written: list[Path]) -> Path | None:
        """Write an accepted fit's face file (owner-only, the login's folder), remember it among ``written`` (the
        files this card's Accept wrote, the only ones Discard removes) and as the session's face file; on a write
        error say so in ``status`` and return None."""
        from injectmap.viewer.face_photo import accept

        try:
            path = accept(fit, self.user)
        except OSError as exc:
            status.object = f"**Not accepted**: the face file could not be written ({plain(exc.strerror)})."
            return None
        self.face_file, self._accepted_name = path, fit.display_name
        self._accepted_for[path.name] = self._face_owner = self._patient_open()
        from injectmap.viewer.file_panel import autosave_dir
        from injectmap.viewer.session import unforget

        unforget(autosave_dir(), faces=[path.name])  # accepted again after a patient's deletion: it autosaves again
        if path not in written:
            written.append(path)
        return path

    def _on_accept(self, _e: Any = None) -> None:
        self.accept_photo_fit()

    def accept_photo_fit(self) -> Path | None:
        """Write the fitted face's file owner-only in the user's faces folder, name it in the plan and
        switch the session to it (built off the event loop); return the file's path."""
        fit = self.photo_fit
        if fit is None and not self.photo_busy:  # a stale click (e.g. after a patient's deletion): say why
            self.photo_status.object = "Nothing to accept: no photo is fitted. Upload a front photo to fit the face."
            return None
        if fit is None or self.photo_busy:
            return None
        path = self._write_accepted(fit, self.photo_status, self.accepted_files)
        if path is None:
            return None
        face = FaceParams(fit=fit.face.targets)
        self.accept_button.disabled = True
        self.discard_button.disabled = False
        self.state.message = "Switching to the face fitted to the photo; every point is analysed again."
        self.request(face)
        return path

    def _on_discard(self, _e: Any = None) -> None:
        self.discard_photo()

    def discard_photo(self) -> None:
        """Forget the photo and its fit, remove the accepted face file, and go back to the face without
        the fit when the session showed it."""
        from injectmap.viewer.face_photo import discard

        removed = False
        # only the files this card's photo Accept wrote: never a plan's or a visit's face file, nor a scan's
        mine = list(dict.fromkeys(self.accepted_files))
        showing_mine = self.face_file is not None and self.face_file in mine
        for path in mine:
            removed = discard(path, self.user) or removed
        if showing_mine:
            self.face_file = None
        self.accepted_files = []
        self._drop_photo_fit()  # after the list: Discard is disabled with nothing left to remove
        was_fitted = showing_mine
        self.photo_status.object = ("The photo was discarded" + (" and its face file removed" if removed else "")
                                    + ". Upload another front photo to fit again.")
        if was_fitted:
            self.request(FaceParams(sex=self.sex, masseter=self.masseter, brow_left=self.brow_left,
                                    brow_right=self.brow_right))

    # ------------------------------------------------------------------ the patient's 3D scan
    def _scan_widgets(self) -> None:
        from injectmap.viewer.face_scan import SCAN_UPLOAD_SUFFIXES

        self.scan_input = pn.widgets.FileInput(accept=",".join(SCAN_UPLOAD_SUFFIXES), width=260,
                                               css_classes=["face-scan-upload"])
        self.scan_input.param.watch(self._on_scan_upload, "value")
        self.scan_units = pn.widgets.RadioButtonGroup(options=["auto", "m", "mm"], value="auto", width=200,
                                                      css_classes=["face-scan-units"])
        self.scan_units_note = pn.pane.Markdown("", width=270, css_classes=["face-scan-units-note"])
        self.scan_units_box = pn.Column(self.scan_units_note, self.scan_units, visible=False)
        self.scan_status = pn.pane.Markdown("Or fit the face to a 3D scan of the patient: upload it here.",
                                            width=270, css_classes=["face-scan-status"])
        self.scan_spinner = pn.indicators.LoadingSpinner(value=True, size=20, visible=False,
                                                         css_classes=["face-scan-busy"])
        self.scan_caveat = pn.pane.Markdown("", width=270, visible=False, css_classes=["face-scan-caveat"])
        self.scan_accept = pn.widgets.Button(label="Accept this face", color="primary", width=130, disabled=True,
                                             css_classes=["face-scan-accept"])
        self.scan_accept.on_click(self._on_scan_accept)
        self.scan_discard = pn.widgets.Button(label="Discard scan", width=120, disabled=True,
                                              css_classes=["face-scan-discard"])
        self.scan_discard.on_click(lambda _e: self.discard_scan())

    @param.depends("scan_busy", "busy", "current", watch=True)
    def _scan_buttons(self) -> None:
        fit = self.scan_fit
        self.scan_spinner.visible = self.scan_busy
        shown = fit is not None and self.current.fit_id == fit.face.face_id and self.face_file is not None
        self.scan_accept.disabled = self.scan_busy or self.busy or fit is None or shown
        self.scan_discard.disabled = self.scan_busy or (fit is None and not self.scan_files)

    def _on_scan_upload(self, event: param.parameterized.Event) -> None:
        if not event.new:
            return
        data, name = event.new, self.scan_input.filename or "scan"
        self.scan_input.param.update(value=None, filename=None, mime_type=None)  # read once, not kept
        self.scan_input.clear()
        self.start_scan_fit(data, name, self.scan_units.value)

    def start_scan_fit(self, data: bytes, display_name: str, units: str = "auto") -> None:
        """Fit the face to a 3D scan (the bytes of an OBJ, PLY, STL or GLB file; ``display_name`` is user
        text, shown escaped; ``units`` "auto", "m" or "mm"): in the fit thread in a server session, at once
        otherwise, its stages shown; then the result (units, alignment, coverage, residuals, the caveat) or
        the reason the scan was refused. A scan given while another waits or is fitted replaces it."""
        from injectmap.clinic.records import photo_display_name
        from injectmap.viewer.limits import int_limit

        display_name = photo_display_name(display_name) or "scan"
        most = int_limit("max_scan_bytes")
        if len(data) > most:
            self._scan_refused(display_name, f"the file is {_size(len(data))}; a scan is at most {_size(most)} "
                                             "(decimate it, or export the face alone)", units_unclear=False)
            return
        self._scan_for = self.open_patient()
        self._scan_token += 1
        token = self._scan_token
        self.scan_busy = True
        self._scan_progress(token, display_name, "Starting...")
        doc = self._served_doc()
        if doc is None:
            self._scan_done(token, display_name, *self._scan_job(data, display_name, units,
                                                                 lambda t: self._scan_progress(token, display_name, t)))
            return

        def job() -> None:
            if token != self._scan_token:
                return  # a later scan (or Discard) replaced this one before it started
            out = self._scan_job(
                data, display_name, units,
                lambda t: self._schedule(doc, functools.partial(self._scan_progress, token, display_name, t)))
            self._schedule(doc, functools.partial(self._scan_done, token, display_name, *out))

        self._submit("scan", job)

    @staticmethod
    def _scan_job(data: bytes, display_name: str, units: Any,
                  progress: Callable[[str], None]) -> tuple[Any, str, bool]:
        """Run the scan's fit (any thread); return (the result, "", False) or (None, why it was refused,
        whether the units were the problem)."""
        from injectmap.anatomy.scan.loading import ScanError
        from injectmap.viewer.face_scan import fit_scan_bytes

        try:
            return fit_scan_bytes(data, display_name, units, progress), "", False
        except ScanError as exc:
            why = str(exc)
            return None, why, "units" in why  # the size fits no unit, or not the given one
        except Exception as exc:  # noqa: BLE001 - shown to the user; the scan itself is never logged
            log.error("scan fit failed: %s", type(exc).__name__)
            return None, f"the fit failed ({type(exc).__name__})", False

    def _scan_progress(self, token: int, display_name: str, text: str) -> None:
        if token == self._scan_token and self.scan_busy:
            self.scan_status.object = f"*{plain(display_name)}: {plain(text)}*"

    def _scan_refused(self, display_name: str, why: str, *, units_unclear: bool) -> None:
        self.scan_status.object = f"**Scan refused** ({plain(display_name)}): {plain(why)}."
        self.state.message = f"Scan refused: {why}."
        if units_unclear:
            self._ask_units("The scan's size does not say its units: choose them and upload the scan again.")

    def _ask_units(self, note: str) -> None:
        self.scan_units_note.object = f"*{plain(note)}*"
        self.scan_units_box.visible = True

    def _scan_done(self, token: int, display_name: str, fit: Any, error: str, units_unclear: bool) -> None:
        if token != self._scan_token:
            return  # a later scan replaced this one
        self.scan_busy = False
        if fit is None:
            self._scan_refused(display_name, error, units_unclear=units_unclear)
        else:
            self._show_scan(fit)
        self._scan_buttons()

    def _show_scan(self, fit: Any) -> None:
        """Show a scan's fit (units, alignment, coverage, residuals, the caveat), or nothing for None."""
        from injectmap.anatomy.fit.facefile import SCAN_CAVEAT

        self.scan_fit = fit
        if fit is None:
            self.scan_caveat.visible = self.scan_units_box.visible = False
            self._scan_buttons()
            return
        per = np.array(list(fit.per_landmark_mm.values())) if fit.per_landmark_mm else np.zeros(0)
        landmarks = (f"residuals per landmark median **{np.median(per):.1f} mm**, 90th percentile "
                     f"**{np.percentile(per, 90):.1f} mm** ({len(per)} covered skin landmarks)" if len(per)
                     else "the scan covers none of the skin landmarks")
        self.scan_status.object = (
            f"Fitted to **{plain(fit.display_name)}**: units **{plain(fit.units)}** ({plain(fit.units_reason)}); "
            f"alignment {plain(fit.alignment)}; the scan covers **{fit.coverage:.0%}** of the face region (beyond "
            f"it the face stays the population template); its surface lies {fit.surface_median_mm:.1f} mm "
            f"(median) and {fit.surface_p90_mm:.1f} mm (90th percentile) from the fitted skin; {landmarks}.")
        self.scan_caveat.object = f"*{plain(SCAN_CAVEAT)}*"
        self.scan_caveat.visible = True
        if fit.units_ambiguous:
            self._ask_units(f"The scan is {fit.extent_mm:.0f} mm across in {fit.units}, unusual for a face: if its "
                            "units are wrong, choose them and upload the scan again.")
        else:
            self.scan_units_box.visible = False
        self._scan_buttons()

    def _on_scan_accept(self, _e: Any = None) -> None:
        self.accept_scan_fit()

    def accept_scan_fit(self) -> Path | None:
        """Write the scan's face file owner-only in the user's faces folder, name it in the plan and switch
        the session to it (built off the event loop); return the file's path."""
        fit = self.scan_fit
        if fit is None and not self.scan_busy:
            self.scan_status.object = "Nothing to accept: no scan is fitted. Upload a 3D scan to fit the face."
            return None
        if fit is None or self.scan_busy:
            return None
        path = self._write_accepted(fit, self.scan_status, self.scan_files)
        if path is None:
            return None
        self.scan_accept.disabled = True
        self.state.message = "Switching to the face fitted to the 3D scan; every point is analysed again."
        self.request(FaceParams(offsets=fit.face.offsets))
        return path

    def discard_scan(self) -> None:
        """Forget the scan's fit, remove the face files accepted from scans, and go back to the face without
        the fit when the session showed a scan's face."""
        from injectmap.viewer.face_photo import discard

        self._scan_token += 1  # a fit still running is dropped when it ends, a waiting one never starts
        self.scan_busy = False
        # only the files this card's scan Accept wrote: never a plan's or a visit's face file, nor a photo's
        mine = list(dict.fromkeys(self.scan_files))
        was_scan = self.face_file is not None and self.face_file in mine
        removed = False
        for path in mine:
            removed = discard(path, self.user) or removed
        if was_scan:
            self.face_file = None
        self.scan_files = []
        self.scan_input.clear()
        self._show_scan(None)
        self.scan_status.object = ("The scan was discarded" + (" and its face file removed" if removed else "")
                                   + ". Upload another scan to fit again.")
        if was_scan:
            self.request(FaceParams(sex=self.sex, masseter=self.masseter, brow_left=self.brow_left,
                                    brow_right=self.brow_right))

    # ------------------------------------------------------------------ a deleted patient
    def faces_accepted_for(self, patient_id: int) -> tuple[str, ...]:
        """The face ids of the face files this card's Accept wrote in this session (a photo's or a scan's fit)
        while the patient ``patient_id`` was open in the Patient card: the patient's faces, saved with a visit
        or not yet."""
        names = dict.fromkeys(p.name for p in (*self.accepted_files, *self.scan_files))
        return tuple(n.removesuffix(".face.json") for n in names if self._accepted_for.get(n) == patient_id)

    def forget_patient(self, face_ids: Collection[str] = ()) -> bool:
        """Forget the photo and the scan the card holds after a patient's record was deleted (the Patient card).

        Their fits, pictures and the faces waiting for Accept go, and a fit still running or waiting is
        dropped when it comes back (the tokens move on), so Accept cannot write the deleted patient's face
        back. An upload names no patient: the card cannot tell whose a photo is, so it forgets them all. The
        face files its Accept wrote of the deleted faces (``face_ids``; the records removed them) leave its
        lists; other accepted files stay the card's (Discard removes them). Returns whether anything was
        forgotten; the card says so in plain text."""
        held = (self.photo_fit is not None or self.scan_fit is not None or self.photo_busy or self.scan_busy
                or "fit" in self._next_job or "scan" in self._next_job)
        gone = {f"{fid}.face.json" for fid in face_ids}
        if self.face_file is not None and self.face_file.name in gone:  # removed with the record: nothing to discard
            self.face_file, self._accepted_name, self._face_owner = None, "", None
        self.accepted_files = [p for p in self.accepted_files if p.name not in gone]
        self.scan_files = [p for p in self.scan_files if p.name not in gone]
        self._accepted_for = {k: v for k, v in self._accepted_for.items() if k not in gone}
        self._drop_photo_fit()  # after the lists: the buttons then see what is left to discard
        self._drop_scan_fit()
        self.ipd_input.value = ""  # the deleted patient's measurement
        if held:
            self.photo_status.object = ("The photo and its fit were forgotten with the deleted patient's record. "
                                        "Upload a front photo to fit the face again.")
            self.scan_status.object = ("The scan and its fit were forgotten with the deleted patient's record. "
                                       "Upload a 3D scan to fit the face again.")
        return held

    # ------------------------------------------------------------------ the chart on the photo
    def _chart_inputs(self) -> tuple[Any, Any, Any] | None:
        """(photo fit, camera, points) when the session shows the accepted photo's face and its analysis
        is done, else None."""
        fit, an = self.photo_fit, self.analyst
        if fit is None or an is None or self.busy or getattr(an, "busy", False):
            return None
        if self.current.fit_id != fit.face.face_id or _model_params(self.model).fit_id != fit.face.face_id:
            return None
        if FaceParams(fit=self.current.fit, offsets=self.current.offsets) != self.current:
            return None  # the photo's camera was recovered on the fitted face alone: a slider moved the head
        camera = fit.chart_camera()
        if camera is None:
            return None
        return fit, camera, tuple(an.results.values())

    def refresh_chart(self) -> None:
        """Draw the plan on the photo (off the event loop in a server session) when the session's face is
        the photo's; hide it otherwise."""
        inputs = self._chart_inputs()
        shown = inputs is not None
        for w in (self.chart_title, self.chart_pane, self.zones_toggle, self.chart_note):
            w.visible = shown
        self._chart_token += 1
        if inputs is None:
            self.chart_pane.object = _BLANK_PNG
            return
        token, model, zones = self._chart_token, self.model, bool(self.zones_toggle.value)
        doc = self._served_doc()
        if doc is None:
            self._chart_done(token, *self._draw_chart(*inputs, model, zones))
            return

        def job() -> None:
            if token != self._chart_token:
                return  # a later chart was asked for before this one started
            out = self._draw_chart(*inputs, model, zones)
            self._schedule(doc, functools.partial(self._chart_done, token, *out))

        self.chart_note.object = "*Drawing the plan on the photo...*"
        self._submit("chart", job)

    @staticmethod
    def _draw_chart(fit: Any, camera: Any, points: tuple[Any, ...], model: Any, zones: bool) -> tuple[bytes, str]:
        """The chart as PNG bytes and its note (any thread)."""
        from injectmap.planning.results import PlanResult
        from injectmap.reports.photo_chart import chart_layout, legend
        from injectmap.reports.photo_io import png_bytes
        from injectmap.viewer.face_photo import face_chart

        try:
            layout = chart_layout(camera, model, PlanResult("", "", "", points=points), zones=zones)
            png = png_bytes(face_chart(fit, layout))
        except Exception as exc:  # noqa: BLE001 - shown to the user; the photo itself is never logged
            log.error("chart on the photo failed: %s", type(exc).__name__)
            return b"", f"The chart could not be drawn ({type(exc).__name__})."
        hidden = layout.hidden
        words = "; ".join(f"{plain(w)}" for _c, w in legend(layout))
        note = f"{len(layout.marks)} point(s) charted ({words})."
        if hidden:
            note += " Not seen from the photo's camera: " + ", ".join(plain(h) for h in hidden) + "."
        return png, note

    def _chart_done(self, token: int, png: bytes, note: str) -> None:
        if token != self._chart_token:
            return
        self.chart_pane.object = png or _BLANK_PNG
        self.chart_note.object = note

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(*self.sliders, pn.Row(self.apply_button, self.spinner), self.status,
                       pn.pane.Markdown("**The patient's own face** (front photo, obliques)", width=270,
                                        margin=(10, 10, 0, 10)),
                       self.ipd_input, self.photo_input, pn.Row(self.photo_status, self.photo_spinner), self.photo_pane,
                       pn.Row(self.accept_button, self.discard_button), self.kept_note, self.photo_caveat,
                       self.chart_title, self.zones_toggle, self.chart_pane, self.chart_note,
                       pn.pane.Markdown("**Or a 3D scan of the face** (OBJ, PLY, STL or GLB)", width=270,
                                        margin=(10, 10, 0, 10)),
                       self.scan_input, self.scan_units_box, pn.Row(self.scan_status, self.scan_spinner),
                       pn.Row(self.scan_accept, self.scan_discard), self.scan_caveat, title="Face",
                       width=300, css_classes=["face-panel"])
