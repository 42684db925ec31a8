"""The face of the plan: sex, masseter size and brow heights, switched per session.

:class:`FacePanel` gathers the face parameters (``anatomy.params.FaceParams``) and, on Apply, loads
that face (``anatomy.model.load_model``; a new variant is built once, about 12 s, then read from the
mesh cache), hands it to the session (``apply_model``: the app swaps the model of its scene, analysis
and panels, and every point is analysed again) and writes the face into the plan's ``model`` field,
so that a saved plan keeps its face. A plan loaded with a ``model`` switches the session to that face.
The default face is written as no ``model`` at all.

Faces are loaded once per process (:func:`load_face`, through ``anatomy.model.FACES``) and shared
read-only by every session. In a server session the load runs in a worker thread, so other sessions are
not held up while a face is built; the session shows a busy indicator until the switch is done.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param

from injectmap.anatomy.params import SHAPE_KEYS, FaceParams, FaceParamsError, face_cache_settings
from injectmap.viewer.state import AppState


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


def face_to_plan_model(params: FaceParams) -> dict[str, Any] | None:
    """The plan's ``model`` field for a face (None for the default face)."""
    if params.is_default:
        return None
    return {"sex": params.sex, "shape": {k: getattr(params, k) for k in SHAPE_KEYS}}


def slider_step(key: str) -> float:
    """A face slider's step: the step its parameter is rounded to (``anatomy/data/face_cache.yaml``), so that
    every position of the slider is a face that is built, and no two positions show the same face."""
    return face_cache_settings().steps[key].step


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

    def __init__(self, state: AppState, model: Any, apply_model: Callable[[Any], None],
                 loader: Callable[[FaceParams], Any] = load_face, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.model = state, model
        self._apply_model, self._loader = apply_model, loader
        self._wanted: FaceParams | None = None
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
        self.current = _model_params(model)
        self._show(self.current)
        self._on_busy()
        state.param.watch(self._on_plan_model, ["extra"])

    # ------------------------------------------------------------------ views
    def _describe(self) -> str:
        if self.busy:
            return "*Loading the face (a new one is built once, about 12 s)...*"
        c = self.current
        if c.is_default:
            return "Face: **default** (average)."
        parts = [f"sex {c.sex:g}"] + [f"{k.replace('_', ' ')} {getattr(c, k):+g}" for k in SHAPE_KEYS
                                     if getattr(c, k)]
        return "Face: **" + ", ".join(parts) + "**."

    def _show(self, p: FaceParams) -> None:
        self.param.update(sex=p.sex, masseter=p.masseter, brow_left=p.brow_left, brow_right=p.brow_right)

    def chosen(self) -> FaceParams:
        """The face the sliders describe (FaceParamsError when out of range)."""
        return FaceParams(sex=self.sex, masseter=self.masseter, brow_left=self.brow_left,
                          brow_right=self.brow_right)

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
        if write_plan:  # an edit of the plan: Undo switches back to the previous face
            self.state.set_plan_model(face_to_plan_model(face))
        self.state.message = self._describe()

    async def _switch_async(self, face: FaceParams, write_plan: bool) -> None:
        """Load in a worker thread (other sessions go on), then switch on the session's loop."""
        self._wanted = face
        self.busy = True
        try:
            model = await asyncio.get_running_loop().run_in_executor(None, self._loader, face)
            if self._wanted == face:  # a later request wins
                self._switch(model, face, write_plan)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the session goes on
            self.state.message = f"The face could not be loaded: {exc}"
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
        try:
            face = plan_face(event.new.get("model"))
        except FaceParamsError as exc:
            self.state.message = f"The plan's face is not valid ({exc}); the face is unchanged."
            return
        if face != (self._wanted or self.current):
            self.request(face, write_plan=False)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(*self.sliders, pn.Row(self.apply_button, self.spinner), self.status, title="Face",
                       width=300, css_classes=["face-panel"])
