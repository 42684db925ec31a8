"""A session's life in the server process: the shared face, the warm-up, the session's layout, its release.

The face model is loaded once per server process (:func:`get_model`, through the registry of loaded
faces ``anatomy.model.FACES``) and shared read-only. ``injectmap serve`` starts :func:`warm_up` in a
background thread while the server starts listening; a session is built only once the warm-up is done
(:func:`wait_for_warm_up`): the warm-up imports the modules a session uses on first use (pyvista's
plotting, pandas), and a session that used them while the warm-up thread was still importing them
found them half-imported (``module 'pyvista' has no attribute 'Plotter'``), and its scene never drew.

Autosave (:func:`write_autosave`): each session's plan is saved after every change as
``<session id>.json`` in the autosave folder (``viewer.file_panel.autosave_dir``), owner-only (files
0600 in a 0700 folder: a plan may name a patient), and each save prunes the folder by
:data:`AUTOSAVE_KEEP` and :data:`AUTOSAVE_MAX_AGE_DAYS` (only files named like a session's autosave).
A plan names its patient (``patient``: the Patient card writes their identifier and name) and their fitted face
(``model.face``): when a patient's record is deleted, the autosaves that name them are removed too
(:func:`forget_patient_autosaves`, from the Patient card and ``injectmap records patients delete``): by their
identifier only in the autosaves of the same records database (the file's name records its fingerprint,
:func:`autosave_name`), by their face in any. The deletion is also written down (as hashes, in the autosave
folder's :data:`FORGOTTEN_FILE`, for :data:`AUTOSAVE_MAX_AGE_DAYS`), so a session still open on that patient's
plan, in this server or another process, does not write its autosave again (:func:`names_forgotten_patient`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import panel as pn

if TYPE_CHECKING:
    from injectmap.anatomy.model import FaceModel
    from injectmap.planning.plan import Plan
    from injectmap.viewer.analysis import PlanAnalyst
    from injectmap.viewer.education_panel import EducationPanel
    from injectmap.viewer.expressions_panel import ExpressionsPanel
    from injectmap.viewer.face_panel import FacePanel
    from injectmap.viewer.file_panel import FilePanel
    from injectmap.viewer.findings_panel import FindingsPanel
    from injectmap.viewer.patient_panel import PatientPanel
    from injectmap.viewer.plan_panel import PlanPanel
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
    app_plan: PlanPanel
    app_findings: FindingsPanel
    app_files: FilePanel
    app_expressions: ExpressionsPanel
    app_patient: PatientPanel
    app_clinician: list[pn.Column]


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


# ------------------------------------------------------------------ autosave

#: project choice: an autosave is there to get a plan back after a closed tab or a crash, not to archive
#: plans (a plan is kept by downloading it); the newest 100 sessions' files are kept, which bounds the
#: folder (a plan file is at most 5 MB) and is more sessions than a clinic runs between two restarts
AUTOSAVE_KEEP = 100
#: project choice: 30 days covers the two-week touch-up visit with a margin; older autosaves are removed
AUTOSAVE_MAX_AGE_DAYS = 30.0
#: the name of a session's autosave (a session id is 12 hex digits, viewer.app), with the fingerprint of the
#: records database since autosaves record it (:func:`autosave_name`); nothing else is pruned
AUTOSAVE_NAME = re.compile(r"^[0-9a-f]{12}(?:\.([0-9a-f]{16}))?\.json$")


def _owner_only_folder(folder: Path) -> None:
    """Create the folder 0700, or tighten an existing one of ours (never a shared, sticky one like /tmp)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_mode & 0o077 and not st.st_mode & stat.S_ISVTX and st.st_uid == os.geteuid():
        folder.chmod(0o700)


def prune_autosaves(folder: Path, keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the autosaves older than :data:`AUTOSAVE_MAX_AGE_DAYS` and all but the newest
    :data:`AUTOSAVE_KEEP`; ``keep`` (the current session's file) is never removed.

    Returns
    -------
    list of Path
        The files removed.
    """
    now = time.time() if now is None else now
    found: list[tuple[float, Path]] = []
    for p in folder.iterdir():
        if not AUTOSAVE_NAME.match(p.name) or (keep is not None and p.name == keep.name):
            continue
        try:
            st = p.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime, p))
    found.sort(reverse=True)
    budget = AUTOSAVE_KEEP - (1 if keep is not None else 0)
    removed = []
    for i, (mtime, p) in enumerate(found):
        if i >= budget or now - mtime > AUTOSAVE_MAX_AGE_DAYS * 86400.0:
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def write_autosave(plan: Plan, path: Path) -> None:
    """Save a session's plan atomically, owner-only, then prune the folder (see the module's docstring).

    Raises
    ------
    OSError
        When the folder or the file cannot be written.
    """
    from injectmap.anatomy.fileio import atomic_write_bytes
    from injectmap.planning.plan import dumps_plan

    _owner_only_folder(path.parent)
    atomic_write_bytes(path, dumps_plan(plan).encode("utf-8"), mode=0o600)
    prune_autosaves(path.parent, keep=path)


#: a logged-in user's autosave folder inside the autosave folder (:func:`user_autosave_dir`)
USER_AUTOSAVE_DIR = re.compile(r"^u[0-9a-f]{16}$")
#: the largest autosave read when looking for a deleted patient (a plan file is at most 5 MB)
_AUTOSAVE_READ_MAX = 8 * 1024 * 1024


def autosave_name(session_id: str, database: str | None = None) -> str:
    """The file name of a session's autosave: ``<session id>.json``, or ``<session id>.<database>.json`` with the
    fingerprint of the records database of the process (``clinic.config.database_fingerprint``). A plan names its
    patient by identifier, unique only within one database: a patient's deletion matches an autosave by it only
    when the autosave's database is the deletion's (:func:`forget_patient_autosaves`). The name, not the plan,
    carries it: the plan stays a plain plan file (CONTRACTS; restored and opened as one)."""
    return f"{session_id}.{database}.json" if database else f"{session_id}.json"


def autosave_database(path: Path) -> str | None:
    """The database fingerprint an autosave's name records (:func:`autosave_name`), or None."""
    m = AUTOSAVE_NAME.match(path.name)
    return m.group(1) if m else None


def _names_patient(path: Path, patients: set[str], faces: set[str]) -> bool:
    """Whether the autosave at ``path`` names one of ``patients`` (its ``patient`` text) or one of the face files
    ``faces`` (its ``model.face``'s file name). A file that cannot be read, is not a regular file (a symbolic
    link is not followed; a FIFO is not waited on) or is not a plan's JSON (too large, nested too deeply) names
    nobody."""
    import json

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return False
            data = f.read(_AUTOSAVE_READ_MAX + 1)
        if len(data) > _AUTOSAVE_READ_MAX:
            return False
        plan = json.loads(data)
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply (never a plan)
        return False
    if not isinstance(plan, dict):
        return False
    model = plan.get("model")
    face = model.get("face") if isinstance(model, dict) else None
    return (isinstance(plan.get("patient"), str) and plan["patient"].strip() in patients) or (
        isinstance(face, str) and Path(face).name in faces)


def forget_patient_autosaves(folder: Path, patients: Collection[str], face_ids: Collection[str] = (),
                             database: str | None = None) -> list[Path]:
    """Remove the session autosaves that name a deleted patient, in ``folder`` and its logins' subfolders (the
    record is gone for every login): a plan whose ``model.face`` is the face file of one of ``face_ids`` (their
    fitted faces: content hashes, the same in every database), or, in an autosave whose name records the
    patient's database ``database`` (:func:`autosave_name`), whose ``patient`` text is one of ``patients`` (the
    texts the app writes for them: their identifier, alone or with their name). An autosave of another database,
    or written before autosaves recorded theirs, is matched by its face only (they age out after
    :data:`AUTOSAVE_MAX_AGE_DAYS`). Only files named like a session's autosave are read; a symbolic link is never
    followed. Returns the files removed (a file that cannot be removed stays; its name names nobody).

    The patient is written down (:func:`remember_forgotten`), so a session still open on them does not write
    its autosave again; a name the patient had before a change of their record is not known here."""
    wanted = {p.strip() for p in patients if p and p.strip()} if database else set()
    faces = {f"{fid}.face.json" for fid in face_ids}
    if not wanted and not faces:
        return []
    try:
        remember_forgotten(folder, wanted, faces, database)
    except OSError as exc:  # the deletion is done; what is written here only stops later autosaves
        log.warning("a deleted patient was not written down for the open sessions: %s", type(exc).__name__)
    folders = [folder]
    try:
        folders += sorted(p for p in folder.iterdir() if USER_AUTOSAVE_DIR.match(p.name) and not p.is_symlink()
                          and p.is_dir())
    except OSError:
        return []
    removed: list[Path] = []
    for d in folders:
        try:
            files = [p for p in d.iterdir() if AUTOSAVE_NAME.match(p.name)]
        except OSError:
            continue
        for p in sorted(files):
            names = wanted if autosave_database(p) == database else set()
            try:
                if not _names_patient(p, names, faces):
                    continue
                p.unlink()
                removed.append(p)
            except OSError:
                continue
    return removed


#: the file in the autosave folder that lists the deleted patients (hashes of their texts and faces, with the
#: time), kept :data:`AUTOSAVE_MAX_AGE_DAYS`: what :func:`names_forgotten_patient` reads before an autosave
FORGOTTEN_FILE = ".forgotten-patients"


def _forgotten_key(kind: str, text: str, database: str | None = None) -> str:
    import hashlib

    return hashlib.sha256(f"{kind}\0{database or ''}\0{text}".encode()).hexdigest()


def _forgotten_keys(patients: Collection[str], faces: Collection[str], database: str | None) -> list[str]:
    """The list's keys of patient texts (only with their records database) and face file names."""
    return ([_forgotten_key("patient", t.strip(), database) for t in patients if t and t.strip()] if database
            else []) + [_forgotten_key("face", f) for f in faces]


def _rewrite_forgotten(folder: Path, change: Callable[[dict[str, float], float], dict[str, float]]) -> None:
    """Rewrite ``folder``'s list (its entries younger than the autosaves' age, changed by ``change``) under the
    list's lock, atomically and owner-only."""
    from injectmap.anatomy.fileio import atomic_write_bytes, file_lock

    path = folder / FORGOTTEN_FILE
    with file_lock(folder / (FORGOTTEN_FILE + ".lock")):
        now = time.time()
        kept = change(_read_forgotten(path, now), now)
        atomic_write_bytes(path, "".join(f"{t:.0f} {k}\n" for k, t in sorted(kept.items())).encode("ascii"),
                           mode=0o600)


def _read_forgotten(path: Path, now: float) -> dict[str, float]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, float] = {}
    for line in lines:
        when, _, key = line.partition(" ")
        try:
            t = float(when)
        except ValueError:
            continue
        if len(key) == 64 and now - t < AUTOSAVE_MAX_AGE_DAYS * 86400.0:
            out[key] = max(t, out.get(key, t))
    return out


def remember_forgotten(folder: Path, patients: Collection[str], faces: Collection[str],
                       database: str | None) -> None:
    """Write down a deleted patient in ``folder``'s :data:`FORGOTTEN_FILE`: their texts (with the records database
    ``database``; none without it) and face file names, each as a SHA-256 (no identifier or name is written),
    owner-only; entries older than :data:`AUTOSAVE_MAX_AGE_DAYS` are dropped (an autosave written before is gone
    by then too)."""
    keys = _forgotten_keys(patients, faces, database)
    if not keys:
        return
    _owner_only_folder(folder)
    _rewrite_forgotten(folder, lambda kept, now: kept | dict.fromkeys(keys, now))


def unforget(folder: Path, patients: Collection[str] = (), faces: Collection[str] = (),
             database: str | None = None) -> None:
    """Strike from ``folder``'s :data:`FORGOTTEN_FILE` a patient who is in the records again (created anew with a
    deleted one's identifier, or opened: ``patients`` texts of ``database``) or a face file accepted again
    (``faces``: file names), so their plans autosave again. Nothing is written when none of them is listed; a
    failure leaves the list as it was (logged by its type only)."""
    path = folder / FORGOTTEN_FILE
    drop = set(_forgotten_keys(patients, faces, database))
    try:
        if not drop or not path.is_file() or not drop & set(_read_forgotten(path, time.time())):
            return
        _rewrite_forgotten(folder, lambda kept, _now: {k: t for k, t in kept.items() if k not in drop})
    except OSError as exc:
        log.warning("a deleted patient's entry was not struck out: %s", type(exc).__name__)


def names_forgotten_patient(folder: Path, plan: Plan, database: str | None) -> str | None:
    """What in ``plan`` names a patient deleted within :data:`AUTOSAVE_MAX_AGE_DAYS` (``folder``'s
    :data:`FORGOTTEN_FILE`): ``"patient"`` (its ``patient`` text, in the same records database ``database``),
    ``"face"`` (its face file's name, in any), or None. A session open on that patient's plan then does not
    autosave it again."""
    path = folder / FORGOTTEN_FILE
    try:
        if not path.is_file():
            return None
    except OSError:
        return None
    keys = []
    if plan.patient and plan.patient.strip() and database:
        keys.append(("patient", _forgotten_key("patient", plan.patient.strip(), database)))
    face = plan.model.face if plan.model is not None else None
    if face:
        keys.append(("face", _forgotten_key("face", Path(face).name)))
    if not keys:
        return None
    known = _read_forgotten(path, time.time())
    return next((what for what, k in keys if k in known), None)


def user_autosave_dir(folder: Path, user: str | None) -> Path:
    """The autosave folder of a logged-in user (a subfolder named by a hash of the user name, so the
    name is not on disk), or ``folder`` itself without logins (the loopback's single user)."""
    if not user:
        return folder
    import hashlib

    return folder / ("u" + hashlib.sha256(user.encode("utf-8")).hexdigest()[:16])


def latest_autosave(folder: Path, exclude: Path | None = None) -> Path | None:
    """The newest session autosave in ``folder`` (not ``exclude``, the current session's), or None."""
    try:
        names = [p for p in folder.iterdir() if AUTOSAVE_NAME.match(p.name) and (exclude is None or p.name != exclude.name)]
    except OSError:
        return None
    found = []
    for p in names:
        try:  # one that goes meanwhile (a deletion in another session) is skipped, not the whole folder
            st = p.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime, p))
    return max(found)[1] if found else None
