"""The state of one viewer session: a pure data model, testable without a browser or a renderer.

:class:`AppState` holds the plan being edited (points as dicts in the CONTRACTS plan format), the
selection, the display settings (layer visibility and opacity, cut plane, camera view, mode) and the
undo/redo history. Every edit of the plan goes through :meth:`AppState._commit`, which records the
previous plan so that it can be undone.

The state does no geometry and no safety analysis: placing a point stores where the user put it
(a landmark with offsets, or a skin point); :mod:`viewer.analysis` asks planning what that means.
An optional ``snap`` callable (the model's ``skin_point``) keeps nudged skin points on the skin.

Sign conventions for nudges follow the CONTRACTS frame: +x the subject's left, +y superior,
+z anterior; ``"lateral"`` is away from the midline on the point's side.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import param

from injectmap.anatomy.ids import side_of

#: display layer groups, in the order the layer panel shows them
LAYER_GROUPS: tuple[str, ...] = (
    "skin", "fat", "muscles", "vessels", "nerves", "gland_duct", "bone", "orbit", "eyes", "corridors",
)
LAYER_LABELS: dict[str, str] = {
    "skin": "Skin", "fat": "Fat and SMAS", "muscles": "Muscles", "vessels": "Arteries",
    "nerves": "Nerves", "gland_duct": "Gland and duct", "bone": "Bone", "orbit": "Orbit",
    "eyes": "Eyes", "corridors": "Corridors (spread)",
}
DEFAULT_VISIBLE: dict[str, bool] = {
    "skin": True, "fat": False, "muscles": True, "vessels": True, "nerves": True,
    "gland_duct": True, "bone": False, "orbit": False, "eyes": True, "corridors": False,
}
DEFAULT_OPACITY: dict[str, float] = {
    "skin": 0.35, "fat": 0.3, "muscles": 0.9, "vessels": 1.0, "nerves": 1.0,
    "gland_duct": 0.8, "bone": 1.0, "orbit": 0.6, "eyes": 1.0, "corridors": 0.25,
}
CUT_AXES: tuple[str, ...] = ("none", "axial", "coronal", "sagittal")
VIEWS: tuple[str, ...] = ("front", "left", "right", "three_quarter_left", "three_quarter_right")
MODES: tuple[str, ...] = ("depth planning", "training", "patient education")
DEFAULT_PRODUCT: dict[str, Any] = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}
DEFAULT_UNITS = 4.0
DEFAULT_DEPTH_MM = 2.0
MAX_HISTORY = 200
#: where the plans of a session came from (:meth:`AppState.plan_source`), at most this many remembered
MAX_SOURCES = 4 * MAX_HISTORY
#: a chart's "Plan:" line for a plan that came from nowhere but the app (emptied, or a patient's new plan)
MADE_IN_THE_APP = "made in the app"
#: what a new plan (New plan, a protocol's template) keeps of the plan before: the face it is made on and the patient
#: it is for
KEPT_BY_A_NEW_PLAN = ("model", "patient")

#: nudge directions as unit vectors in the frame (lateral/medial depend on the point's side)
NUDGE_AXES: dict[str, tuple[float, float, float]] = {
    "superior": (0.0, 1.0, 0.0), "inferior": (0.0, -1.0, 0.0),
    "left": (1.0, 0.0, 0.0), "right": (-1.0, 0.0, 0.0),
    "anterior": (0.0, 0.0, 1.0), "posterior": (0.0, 0.0, -1.0),
}
_ID_RE = re.compile(r"^p(\d+)$")

Snap = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _round(x: float, nd: int = 2) -> float:
    return float(round(float(x), nd))


class AppState(param.Parameterized):
    """The state of one browser session.

    ``points`` and ``product`` are the plan; they are replaced (never mutated in place) so that
    watchers fire. Read them as data; edit them through the methods.
    """

    points = param.List(default=[], item_type=dict, doc="Plan points in the CONTRACTS plan format.")
    product = param.Dict(default=dict(DEFAULT_PRODUCT), doc="The plan's product and reconstitution.")
    extra = param.Dict(default={}, doc="Other plan keys kept as loaded (patient, sessions, model).")
    selected = param.String(default="", doc="Id of the selected point ('' for none).")
    highlight = param.String(default="", doc="Structure id highlighted in the scene ('' for none).")
    layer_visible = param.Dict(default=dict(DEFAULT_VISIBLE))
    layer_opacity = param.Dict(default=dict(DEFAULT_OPACITY))
    structure_display = param.Dict(default={}, doc=(
        "Per-structure display that differs from its layer: id -> {'visible': bool, 'opacity': float}."))
    cut_axis: param.Selector = param.Selector(default="none", objects=list(CUT_AXES))
    cut_mm = param.Number(default=0.0, bounds=(-150.0, 150.0), doc="Cut plane position on its axis.")
    view: param.Selector = param.Selector(default="front", objects=list(VIEWS))
    show_landmarks = param.Boolean(default=False)
    mode: param.Selector = param.Selector(default="depth planning", objects=list(MODES))
    placing = param.Boolean(default=False, doc="A click on the skin places a point.")
    default_units = param.Number(default=DEFAULT_UNITS, bounds=(0.0, 400.0))
    default_depth_mm = param.Number(default=DEFAULT_DEPTH_MM, bounds=(0.0, 40.0))
    can_undo = param.Boolean(default=False, constant=True)
    origin = param.Integer(default=0, constant=True, doc=(
        "Which plan this is: a new number each time the plan is replaced (loaded, emptied), kept by the edits "
        "of it and brought back by Undo and Redo (the touch-up proposal's Save checks it is still its plan)."))
    can_redo = param.Boolean(default=False, constant=True)
    message = param.String(default="", doc="Last status or error message for the user.")
    point_labels = param.Boolean(default=True, doc="Each point's number and units beside it in the scene.")
    structure_labels = param.Boolean(default=False, doc=(
        "The targeted muscles and the warned structures named in the scene."))
    education_zones = param.Boolean(default=False, doc=(
        "In patient education: show the needles and the spheres of effect (hidden unless asked)."))

    def __init__(self, snap: Snap | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._snap = snap
        # history entries: (points, product, extra, origin); extra holds the plan's face ("model")
        self._undo: list[tuple[list[dict], dict, dict, int]] = []
        self._redo: list[tuple[list[dict], dict, dict, int]] = []
        self._origins = itertools.count(1)
        # each plan (its origin): where it came from, and its points and product as they came (a digest)
        self._sources: dict[int, tuple[str, str]] = {}

    def set_snap(self, snap: Snap | None) -> None:
        """The function that keeps nudged skin points on the skin (the face's ``skin_point``)."""
        self._snap = snap

    # ------------------------------------------------------------------ plan in and out
    def plan_dict(self) -> dict[str, Any]:
        """The plan as a CONTRACTS plan object (a deep copy)."""
        d: dict[str, Any] = {"format": "injectmap-plan", "version": 1, "product": copy.deepcopy(self.product)}
        d.update(copy.deepcopy(self.extra))
        d["points"] = copy.deepcopy(self.points)
        return d

    def point(self, point_id: str) -> dict[str, Any]:
        """The point with this id (KeyError if none). A copy: edit with :meth:`update_point`."""
        for p in self.points:
            if p["id"] == point_id:
                return copy.deepcopy(p)
        raise KeyError(point_id)

    def point_ids(self) -> list[str]:
        return [p["id"] for p in self.points]

    def load_plan(self, plan: Mapping[str, Any], *, undoable: bool = True, source: str | None = None) -> None:
        """Replace the plan with a (validated) plan object; undoable unless asked otherwise. ``source`` says where it
        came from in words a chart prints ("opened from plan.json"; ``""``: made in the app); None: it is the plan on
        screen again (relabelled, or put back), and keeps that one's."""
        if source is None:
            source = self._sources.get(self.origin, ("", ""))[0]
        extra: dict[str, Any] = copy.deepcopy(dict(plan))  # what is left besides points and product
        points = list(extra.pop("points", []))
        product = dict(extra.pop("product", DEFAULT_PRODUCT))
        extra.pop("format", None)
        extra.pop("version", None)
        if undoable:
            self._commit(points, product, extra=extra, origin=next(self._origins))
        else:
            self._undo.clear()
            self._redo.clear()
            self._set(points, product, extra, next(self._origins))
        self.selected = points[0]["id"] if points else ""
        self.highlight = ""  # the previous plan's finding is no longer on screen
        self._remember_source(source)

    def _remember_source(self, source: str) -> None:
        self._sources[self.origin] = (source, _digest(self.points, self.product))
        while len(self._sources) > MAX_SOURCES:
            del self._sources[next(iter(self._sources))]

    def plan_source(self) -> str:
        """Where the plan on screen came from, for a chart's "Plan:" line: a file's name, a protocol's template, a
        visit, with ", changed in the app" once its points or product were edited; :data:`MADE_IN_THE_APP` for a
        plan started empty. Undo and Redo bring back each plan's own (it follows :attr:`origin`)."""
        source, digest = self._sources.get(self.origin, ("", ""))
        if not source:
            return MADE_IN_THE_APP
        return source if digest == _digest(self.points, self.product) else f"{source}, changed in the app"

    def new_plan(self) -> None:
        """Empty the plan in one step (undoable); the product, the face and the patient the plan names stay (a new
        plan for the patient open is still theirs: the chart prints their name), the rest goes."""
        extra = {k: v for k, v in self.extra.items() if k in KEPT_BY_A_NEW_PLAN}
        self._commit([], copy.deepcopy(self.product), extra=copy.deepcopy(extra), origin=next(self._origins))
        self.selected = ""
        self.highlight = ""
        self._remember_source("")

    # ------------------------------------------------------------------ history
    def _snapshot(self) -> tuple[list[dict], dict, dict, int]:
        return copy.deepcopy(self.points), copy.deepcopy(self.product), copy.deepcopy(self.extra), self.origin

    def _set(self, points: list[dict], product: dict, extra: dict | None = None, origin: int | None = None) -> None:
        with param.parameterized.batch_call_watchers(self):
            if extra is not None and extra != self.extra:
                self.extra = extra  # e.g. the plan's face: the Face card follows it
            self.product = product
            self.points = points
            with param.edit_constant(self):
                self.can_undo = bool(self._undo)
                self.can_redo = bool(self._redo)
                if origin is not None:
                    self.origin = origin
            if self.selected and self.selected not in {p["id"] for p in points}:
                self.selected = ""

    def _commit(self, points: list[dict], product: dict | None = None, extra: dict | None = None,
                origin: int | None = None) -> None:
        """Record the current plan for undo, then set the new one (``origin``: a replacement's new number)."""
        self._undo.append(self._snapshot())
        del self._undo[:-MAX_HISTORY]
        self._redo.clear()
        self._set(points, copy.deepcopy(product if product is not None else self.product),
                  copy.deepcopy(extra) if extra is not None else None, origin)

    def undo(self) -> bool:
        """Go back one edit (a face change included). False when there is nothing to undo."""
        if not self._undo:
            return False
        self._redo.append(self._snapshot())
        self._set(*self._undo.pop())
        return True

    def redo(self) -> bool:
        """Redo the last undone edit. False when there is nothing to redo."""
        if not self._redo:
            return False
        self._undo.append(self._snapshot())
        self._set(*self._redo.pop())
        return True

    def rename_patient(self, old: str, new: str) -> bool:
        """The plan's ``patient`` text ``old`` becomes ``new`` (the patient's name corrected in the records): in the
        plan on screen and in each plan of the Undo and Redo history that names ``old``, so that an Undo never brings
        the old name back. Not an edit: nothing to undo, and the plan keeps its origin (the touch-up proposal's Save
        still knows it). Returns whether the plan on screen named ``old``."""
        for entry in (*self._undo, *self._redo):
            if entry[2].get("patient") == old:
                entry[2]["patient"] = new
        if self.extra.get("patient") != old:
            return False
        if new != old:
            self.extra = dict(copy.deepcopy(self.extra), patient=new)  # the autosave and the Face card follow
        return True

    def set_plan_model(self, model: Mapping[str, Any] | None) -> None:
        """Set the face the plan is made on (the plan file's ``model``; None: the default face), as
        an edit that Undo takes back (the Face card follows the plan's face)."""
        extra = copy.deepcopy(dict(self.extra))
        if model is None:
            extra.pop("model", None)
        else:
            extra["model"] = copy.deepcopy(dict(model))
        if extra != self.extra:
            self._commit(copy.deepcopy(self.points), extra=extra)

    # ------------------------------------------------------------------ edits
    def new_id(self, prefix: str = "p") -> str:
        """A point id not used yet: ``p1``, ``p2``, ..."""
        taken = set(self.point_ids())
        n = 1 + max((int(m.group(1)) for i in taken if (m := _ID_RE.match(i))), default=0)
        while f"{prefix}{n}" in taken:
            n += 1
        return f"{prefix}{n}"

    def add_point(self, point: Mapping[str, Any], *, select: bool = True) -> str:
        """Append a point (a CONTRACTS point dict; an id is assigned when missing). Returns its id."""
        p = copy.deepcopy(dict(point))
        if not p.get("id") or p["id"] in self.point_ids():
            p["id"] = self.new_id()
        p.setdefault("units", self.default_units)
        if not any(k in p for k in ("depth_mm", "tip_mm")):
            p["depth_mm"] = self.default_depth_mm
        self._commit(copy.deepcopy(self.points) + [p])
        if select:
            self.selected = p["id"]
        return p["id"]

    def place_at_skin(self, entry_mm: Sequence[float], **fields: Any) -> str:
        """Add a point entering at a skin point (as ``entry_mm``, rounded to 0.01 mm)."""
        entry = [_round(v) for v in np.asarray(entry_mm, dtype=float).reshape(3)]
        return self.add_point({"entry_mm": entry, **fields})

    def place_by_landmark(self, landmark: str, *, superior_mm: float = 0.0, lateral_mm: float = 0.0,
                          anterior_mm: float = 0.0, left_mm: float = 0.0, **fields: Any) -> str:
        """Add a point placed relative to a landmark; zero offsets are left out of the file.

        ``lateral_mm`` on a midline landmark is an error in the plan format, so it is turned into
        ``left_mm`` there only when it is zero (otherwise planning reports the error).
        """
        at: dict[str, Any] = {"landmark": landmark}
        for key, val in (("superior_mm", superior_mm), ("anterior_mm", anterior_mm),
                         ("lateral_mm", lateral_mm), ("left_mm", left_mm)):
            if val:
                at[key] = _round(val)
        return self.add_point({"at": at, **fields})

    def update_point(self, point_id: str, **changes: Any) -> None:
        """Set fields of a point; a value of None removes the key. No-op when nothing changes."""
        points = copy.deepcopy(self.points)
        for p in points:
            if p["id"] == point_id:
                before = copy.deepcopy(p)
                for k, v in changes.items():
                    if v is None:
                        p.pop(k, None)
                    else:
                        p[k] = copy.deepcopy(v)
                if "tip_mm" in changes and changes["tip_mm"] is not None:
                    p.pop("depth_mm", None)
                if "depth_mm" in changes and changes["depth_mm"] is not None:
                    p.pop("tip_mm", None)
                if p == before:
                    return
                self._commit(points)
                return
        raise KeyError(point_id)

    def move_point(self, point_id: str, entry_mm: Sequence[float] | np.ndarray) -> None:
        """Move a point's skin entry to a skin point (drops its landmark placement)."""
        entry = [_round(v) for v in np.asarray(entry_mm, dtype=float).reshape(3)]
        self.update_point(point_id, entry_mm=entry, at=None)

    def nudge(self, point_id: str, direction: str, step_mm: float = 1.0) -> None:
        """Move a point's entry by ``step_mm`` along a direction of the frame.

        ``direction`` is one of :data:`NUDGE_AXES` or ``"lateral"``/``"medial"``. A landmark point
        keeps its landmark and changes its offsets; a skin point moves and is snapped back to the
        skin when the state has a ``snap``.
        """
        p = self.point(point_id)
        if "at" in p:
            at = dict(p["at"])
            side = side_of(at["landmark"])
            if direction in ("lateral", "medial"):
                sign = 1.0 if direction == "lateral" else -1.0
                if side == "midline":
                    raise ValueError("a midline landmark has no lateral direction: nudge left or right")
                key, delta = "lateral_mm", sign * step_mm
            else:
                axis = NUDGE_AXES[direction]
                key = {0: "left_mm", 1: "superior_mm", 2: "anterior_mm"}[int(np.argmax(np.abs(axis)))]
                delta = float(sum(axis)) * step_mm
            val = _round(float(at.get(key, 0.0)) + delta)
            if val == 0.0:
                at.pop(key, None)
            else:
                at[key] = val
            self.update_point(point_id, at=at)
            return
        entry = np.asarray(p["entry_mm"], dtype=float)
        if direction in ("lateral", "medial"):
            sign = 1.0 if direction == "lateral" else -1.0
            vec = np.array([np.sign(entry[0]) or 1.0, 0.0, 0.0]) * sign
        else:
            vec = np.asarray(NUDGE_AXES[direction])
        new = entry + vec * step_mm
        if self._snap is not None:
            new = np.asarray(self._snap(new)[0], dtype=float)
        self.move_point(point_id, new)

    def delete_point(self, point_id: str) -> None:
        """Remove a point (KeyError if there is none with that id)."""
        if point_id not in self.point_ids():
            raise KeyError(point_id)
        ids = self.point_ids()
        i = ids.index(point_id)
        self._commit([copy.deepcopy(p) for p in self.points if p["id"] != point_id])
        if self.selected in ("", point_id):  # the next point (or the one before the last) is selected
            rest = [pid for pid in ids if pid != point_id]
            self.selected = rest[min(i, len(rest) - 1)] if rest else ""

    def set_product(self, product: Mapping[str, Any], points: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Change the plan's product and reconstitution (undoable); with ``points``, the plan's points too in the
        same edit (a product switch whose doses were converted: one Undo takes both back)."""
        new = dict(product)
        pts = [copy.deepcopy(dict(p)) for p in points] if points is not None else copy.deepcopy(self.points)
        if new != self.product or pts != self.points:
            self._commit(pts, new)

    def mirror(self, point_id: str | None = None) -> list[str]:
        """Add the mirror image of one point (or of every lateral point) on the other side.

        Planning decides what a mirror image is (``planning.mirroring.mirror_plan``). Returns the
        ids of the points added (none for a midline point or one already mirrored). No copy lands on a site a
        point already takes (whatever its dose); for one point that is refused with the other point's id.
        """
        from injectmap.planning.mirroring import mirror_plan, site_taken_by
        from injectmap.planning.plan import parse_plan, plan_to_dict

        plan = parse_plan(self.plan_dict())
        if point_id is not None:
            self.point(point_id)  # KeyError for an unknown id
            other = site_taken_by(plan, point_id)
            if other is not None:
                raise ValueError(f"not mirrored: {other} is already at the mirrored site (edit its dose there)")
        only = None if point_id is None else frozenset([point_id])
        mirrored = plan_to_dict(mirror_plan(plan, only=only))["points"]
        known = set(self.point_ids())
        added = [p for p in mirrored if p["id"] not in known]
        if added:
            self._commit(mirrored)
        return [p["id"] for p in added]

    # ------------------------------------------------------------------ display
    def set_layer(self, layer: str, visible: bool | None = None, opacity: float | None = None) -> None:
        """Show/hide a layer group or change its opacity (not part of the undo history)."""
        if layer not in LAYER_GROUPS:
            raise KeyError(layer)
        if visible is not None and self.layer_visible.get(layer) != bool(visible):
            self.layer_visible = {**self.layer_visible, layer: bool(visible)}
        if opacity is not None:
            o = float(min(max(opacity, 0.0), 1.0))
            if self.layer_opacity.get(layer) != o:
                self.layer_opacity = {**self.layer_opacity, layer: o}

    def set_structure_display(self, structure_id: str, visible: bool | None = None,
                              opacity: float | None = None) -> None:
        """Show/hide one structure or set its own opacity, within its shown layer (not undoable).

        A structure without an entry follows its layer; ``reset_structure_display`` drops entries.
        """
        if not structure_id:
            raise KeyError("no structure given")
        entry = dict(self.structure_display.get(structure_id, {}))
        if visible is not None:
            entry["visible"] = bool(visible)
        if opacity is not None:
            entry["opacity"] = float(min(max(opacity, 0.0), 1.0))
        if entry != self.structure_display.get(structure_id, {}):
            self.structure_display = {**self.structure_display, structure_id: entry}

    def reset_structure_display(self, structure_id: str | None = None) -> None:
        """One structure (or every one, with None) follows its layer again."""
        if structure_id is None:
            if self.structure_display:
                self.structure_display = {}
        elif structure_id in self.structure_display:
            self.structure_display = {k: v for k, v in self.structure_display.items() if k != structure_id}

    def to_json(self) -> str:
        """The plan as indented JSON text."""
        return json.dumps(self.plan_dict(), indent=2)


def _digest(points: list[dict], product: dict) -> str:
    """A plan's points and product, as a digest (a plan's source holds it: the plan as it came)."""
    text = json.dumps([points, product], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
