"""The Files card: open, download and autosave the plan; start from a published protocol; export a
screenshot and the scene."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import panel as pn
import param

from injectmap.planning.plan import PlanError, loads_plan, parse_plan, plan_to_dict
from injectmap.planning.protocols import get_protocol, protocol_names, protocol_plan
from injectmap.viewer.analysis import too_many_points
from injectmap.viewer.auth import login_name
from injectmap.viewer.limits import int_limit
from injectmap.viewer.scene_view import SceneView
from injectmap.viewer.session import (
    autosave_database,
    autosave_name,
    latest_autosave,
    names_forgotten_patient,
    user_autosave_dir,
    write_autosave,
)
from injectmap.viewer.state import KEPT_BY_A_NEW_PLAN, AppState
from injectmap.viewer.text import plain

AUTOSAVE_ENV = "INJECTMAP_AUTOSAVE_DIR"


def autosave_dir() -> Path:
    """Where each session's plan is saved after every change (``$INJECTMAP_AUTOSAVE_DIR``)."""
    d = os.environ.get(AUTOSAVE_ENV) or str(Path.home() / ".cache" / "injectmap" / "autosave")
    return Path(d)


def _size(n: int) -> str:
    """A byte count for people: ``1.0 MB``, ``52.4 MB``, ``800 bytes``."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


class FilePanel(pn.viewable.Viewer):
    """Open, download and autosave the plan; export a screenshot and the scene."""

    def __init__(self, state: AppState, scene_view: SceneView, session_id: str, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.scene_view, self.session_id = state, scene_view, session_id
        self.upload = pn.widgets.FileInput(accept=".json", label="Open plan", width=250)
        self.upload.param.watch(self._on_upload, "value")
        self.download = pn.widgets.FileDownload(callback=self._plan_bytes, filename="plan.json",
                                                label="Download plan", color="success", width=250)
        self.png = pn.widgets.FileDownload(callback=self._png_bytes, filename="injectmap.png",
                                           label="Screenshot (PNG)", width=250)
        self.gltf = pn.widgets.FileDownload(callback=self._gltf_bytes, filename="injectmap-scene.gltf",
                                            label="Scene (glTF)", width=250)
        self.protocol = pn.widgets.Select(label="Start from a protocol",
                                          options={get_protocol(n).title: n for n in protocol_names()}, width=250)
        self.start = pn.widgets.Button(label="Start from protocol", width=250)
        self.start.on_click(self._on_protocol)
        self.status = pn.pane.Markdown("", width=280)
        # each user's own folder (the name from the signed login cookie): no one restores another's plan
        # its name records the records database (a patient's deletion matches the plan's patient only in theirs)
        from injectmap.clinic.config import database_fingerprint

        self.autosave_root = autosave_dir()
        self.autosave_path = (user_autosave_dir(self.autosave_root, login_name())
                              / autosave_name(session_id, database_fingerprint()))
        # the last autosave of this user (another session: a reloaded or closed page), offered once
        self.restore_from = latest_autosave(self.autosave_path.parent, exclude=self.autosave_path)
        self.restore = pn.widgets.Button(label="Restore last autosave", color="warning", width=190,
                                         css_classes=["restore-autosave"])
        self.restore.on_click(lambda _e: self.restore_last())
        self.restore_note = pn.pane.Markdown("", margin=(8, 5), css_classes=["restore-note"])
        self.restore_offer = pn.Row(self.restore_note, self.restore, visible=False)
        self._offer_restore()
        state.param.watch(self._autosave, ["points", "product", "extra"])  # extra: the face
        state.param.watch(lambda e: setattr(self.status, "object", plain(e.new)), ["message"])

    def _plan_bytes(self) -> io.BytesIO:
        return io.BytesIO(self.state.to_json().encode("utf-8"))

    def _png_bytes(self) -> io.BytesIO:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.scene_view.scene.screenshot()).save(buf, format="PNG")
        buf.seek(0)
        return buf

    def _gltf_bytes(self) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "scene.gltf"
            self.scene_view.scene.export_gltf(str(path))
            return io.BytesIO(path.read_bytes())

    def _on_upload(self, event: param.parameterized.Event) -> None:
        if not event.new:
            return
        most = int_limit("max_upload_bytes")
        if len(event.new) > most:
            self.state.message = (f"Not opened: {self.upload.filename or 'the file'} is {_size(len(event.new))}; "
                                  f"a plan file is at most {_size(most)}.")
            return
        try:
            plan = loads_plan(event.new, source=self.upload.filename or "upload")
        except PlanError as exc:
            self.state.message = "Not opened: " + "; ".join(str(e) for e in exc.errors[:5])
            return
        too_many = too_many_points(len(plan.points))
        if too_many:
            self.state.message = "Not opened: " + too_many
            return
        self.state.load_plan(plan_to_dict(plan), source=f"opened from {self.upload.filename or 'an upload'}")
        self.state.message = f"Opened {self.upload.filename} ({len(plan.points)} points)."

    def _on_protocol(self, _event: Any = None) -> None:
        """Replace the plan with the chosen template (undoable), on the current face."""
        name = self.protocol.value
        plan = protocol_plan(name)
        # the template is placed from landmarks: keep the face; and it is for the same patient (the chart names them)
        plan.update({k: v for k, v in self.state.extra.items() if k in KEPT_BY_A_NEW_PLAN})
        self.state.load_plan(plan_to_dict(parse_plan(plan)),
                             source=f"the protocol template '{get_protocol(name).title}'")
        self.state.message = (f"Started from the protocol '{get_protocol(name).title}' ({len(plan['points'])} "
                              "points); it replaced the plan (Undo brings the plan back).")

    def _offer_restore(self) -> None:
        path = self.restore_from
        if path is None:
            return
        try:
            mtime = path.stat().st_mtime  # first: the file may go at any moment (a deletion in another session)
            plan = loads_plan(path.read_bytes(), source="autosave")
        except (OSError, PlanError):
            return
        if plan_to_dict(plan) == plan_to_dict(parse_plan(self.state.plan_dict())):
            return  # the same plan as on screen: nothing to restore
        import datetime

        when = datetime.datetime.fromtimestamp(mtime).strftime("%d %b %H:%M")
        n = len(plan.points)
        self.restore_note.object = plain(f"Your last autosaved plan ({when}, {n} point{'s' if n != 1 else ''})")
        self.restore_offer.visible = True

    def recheck_restore(self) -> None:
        """After autosaves were removed (a patient's deletion, in this session or another): an offer whose file
        is gone is withdrawn, and the login's latest remaining autosave, if any, is offered in its place."""
        if not self.restore_offer.visible or (self.restore_from is not None and self.restore_from.exists()):
            return  # nothing offered (or taken up already), or its file is still there
        self._offer_latest()

    def _offer_latest(self) -> None:
        """Withdraw the offer and offer the login's latest autosave, if there is one to restore."""
        self.restore_offer.visible = False
        self.restore_from = latest_autosave(self.autosave_path.parent, exclude=self.autosave_path)
        self._offer_restore()

    def restore_last(self) -> None:
        """Replace the plan with the offered autosave (undoable) and withdraw the offer."""
        self.restore_offer.visible = False
        if self.restore_from is None:
            return
        try:
            plan = loads_plan(self.restore_from.read_bytes(), source="autosave")
        except FileNotFoundError:  # removed meanwhile (a patient's deletion in another session, or pruned)
            self.state.message = "Not restored: that autosave is no longer there."
            self._offer_latest()
            return
        except OSError as exc:  # its reason, not the server's path
            self.state.message = f"Not restored: the autosave could not be read ({exc.strerror or type(exc).__name__})."
            return
        except PlanError as exc:
            self.state.message = f"Not restored: {exc}"
            return
        self.state.load_plan(plan_to_dict(plan), source="a restored autosave")
        self.state.message = f"Restored the last autosave ({len(plan.points)} points; Undo brings back the plan before)."

    def _autosave(self, *_: Any) -> None:
        if self.state.mode == "training":
            return  # an exercise's plan never replaces the planning plan's autosave (it is put back after training)
        try:
            plan = parse_plan(self.state.plan_dict())
        except PlanError:
            return
        # a patient deleted meanwhile (here or in another session) is not written back by a page still open on them
        database = autosave_database(self.autosave_path)
        if self._forgotten(plan, database):
            return
        try:
            write_autosave(plan, self.autosave_path)  # owner-only, and the folder pruned
        except OSError as exc:
            self.status.object = plain(f"Autosave failed: {exc.strerror or type(exc).__name__}")  # not the server's path
            return
        # a deletion that wrote its list between the check and the write: its removal may have run before the write
        if self._forgotten(plan, database):
            self.autosave_path.unlink(missing_ok=True)
        elif str(self.status.object).startswith(("Not autosaved", "Autosave failed")):
            self.status.object = ""

    def _forgotten(self, plan: Any, database: str | None) -> bool:
        """Whether ``plan`` names a deleted patient or their face (then the status says which and how to go on)."""
        what = names_forgotten_patient(self.autosave_root, plan, database)
        if what == "patient":
            self.status.object = "Not autosaved: this plan names a patient whose record was deleted."
        elif what == "face":
            self.status.object = ("Not autosaved: this plan's face was a deleted patient's. Accept a face in the "
                                  "Face card, or open a plan on the default face.")
        return what is not None

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(pn.pane.Markdown("Open a plan (.json)"), self.upload, self.download, self.protocol,
                       self.start, self.png, self.gltf, self.status, title="Files", width=300)
