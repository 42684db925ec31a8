"""A session's life in the server process: the shared face, the warm-up, the session's layout, its release.

The face model is loaded once per server process (:func:`get_model`, through the registry of loaded
faces ``anatomy.model.FACES``) and shared read-only. ``injectmap serve`` starts :func:`warm_up` in a
background thread while the server starts listening; a session is built only once the warm-up is done
(:func:`wait_for_warm_up`): the warm-up imports the modules a session uses on first use (pyvista's
plotting, pandas), and a session that used them while the warm-up thread was still importing them
found them half-imported (``module 'pyvista' has no attribute 'Plotter'``), and its scene never drew.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import panel as pn

if TYPE_CHECKING:
    from injectmap.anatomy.model import FaceModel
    from injectmap.viewer.analysis import PlanAnalyst
    from injectmap.viewer.education_panel import EducationPanel
    from injectmap.viewer.face_panel import FacePanel
    from injectmap.viewer.scene_view import SceneView
    from injectmap.viewer.state import AppState
    from injectmap.viewer.structure_panel import StructurePanel
    from injectmap.viewer.training_panel import TrainingPanel

log = logging.getLogger("injectmap.viewer")

_WARM_UP_LOCK = threading.Lock()
_warm_up_thread: threading.Thread | None = None


class SessionLayout(pn.Column):
    """One session's page, with its parts for tests and notebooks (``app_state``, ``app_analyst``...)."""

    app_state: AppState
    app_analyst: PlanAnalyst
    app_scene: SceneView
    app_structure: StructurePanel
    app_training: TrainingPanel
    app_education: EducationPanel
    app_face: FacePanel


def get_model() -> FaceModel:
    """The default face model, loaded once per process and shared read-only by every session.

    A session that asks while another thread (the warm-up) is loading it waits for that load.
    """
    from injectmap.anatomy.model import load_model

    return load_model()


def warm_up() -> None:
    """Load what every session shares and the first one would otherwise wait for: the model, its
    display and layer-group meshes, and the modules imported on first use (tables, the scene).
    (The walkthrough's timeline figure is made when that mode is first shown, not here.)"""
    t0 = time.perf_counter()
    model = get_model()
    import pandas  # noqa: F401 - the tables' first import
    import pyvista.plotting  # noqa: F401 - the scene's first import

    from injectmap.viewer.scene import display_groups, display_meshes, group_meshes

    meshes = display_meshes(model)
    group_meshes(model, meshes, *display_groups(model, meshes))
    log.info("warm-up done in %.1f s", time.perf_counter() - t0)


def _warm_up_logged() -> None:
    try:
        warm_up()
    except Exception:  # a session then loads what it needs itself, and shows the error if that fails too
        log.exception("warm-up failed")


def start_warm_up() -> threading.Thread:
    """Run :func:`warm_up` in a background thread, once per process (later calls return that thread):
    the server starts, and the first page and its scripts load, meanwhile (a session waits for it in
    :func:`wait_for_warm_up` before it is built)."""
    global _warm_up_thread
    with _WARM_UP_LOCK:
        if _warm_up_thread is None:
            _warm_up_thread = threading.Thread(target=_warm_up_logged, name="injectmap-warm-up", daemon=True)
            _warm_up_thread.start()
        return _warm_up_thread


def wait_for_warm_up(timeout_s: float | None = None) -> bool:
    """Wait until the warm-up (if one was started) is done; True when none is still running.

    Sessions are built only after it: no session imports a module the warm-up thread is importing.
    """
    with _WARM_UP_LOCK:
        thread = _warm_up_thread
    if thread is None or thread is threading.current_thread():
        return True
    t0 = time.perf_counter()
    thread.join(timeout_s)
    waited = time.perf_counter() - t0
    if waited > 0.01:
        log.info("session waited %.2f s for the warm-up", waited)
    return not thread.is_alive()


#: inner widgets of Panel's composite widgets that register JavaScript callbacks
_LINKED_PARTS = ("_value_edit", "_slider", "_start_edit", "_end_edit", "_text")


def release_session(layout: SessionLayout) -> None:
    """Free what a closed session would otherwise leave in the server process for good (about 9 MB
    per session, measured): PyVista keeps every plotter in a module-level registry until it is
    closed, and Panel's registry of JavaScript callbacks (a weak-key dictionary whose values refer
    back to their keys, e.g. the depth slider's number box) keeps the whole session's objects alive.
    """
    from panel.links import Callback

    layout.app_scene.close()
    # the mode panels are in the layout only once their mode was chosen
    roots: list[Any] = [layout, pn.panel(layout.app_training), pn.panel(layout.app_education)]
    for obj in (o for root in roots for o in root.select()):
        for part in (obj, *(getattr(obj, name, None) for name in _LINKED_PARTS)):
            if part is not None:
                Callback.registry.pop(part, None)
