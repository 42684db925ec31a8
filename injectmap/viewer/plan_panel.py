"""The Plan card: the plan's points, the product, and the selected point's controls."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from injectmap.anatomy.ids import landmark_ids
from injectmap.planning.doses import treatable_targets
from injectmap.planning.plan import PlanError
from injectmap.planning.products import product_info, product_names
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.row_scroller import RowScroller
from injectmap.viewer.scene import worst_severity
from injectmap.viewer.state import AppState
from injectmap.viewer.text import plain


def _formatters() -> dict[str, NumberFormatter]:
    """The plan table's numbers as planned: depth to 0.1 mm (3.5 is "3.5", not "4"), units as typed.
    New models per table: a Bokeh model shared by sessions would keep every session's page alive."""
    return {"depth_mm": NumberFormatter(format="0.0"), "units": NumberFormatter(format="0.[0]")}


def _target_options(model: Any) -> dict[str, str]:
    """The muscles a point may aim at (planning's treatable targets), by name."""
    opts = {"(none)": ""}
    targets = [model.structures[sid] for sid in treatable_targets() if sid in model.structures]
    for s in sorted(targets, key=lambda s: s.name):
        opts[f"{s.name} ({s.id})"] = s.id
    return opts


class PlanPanel(pn.viewable.Viewer):
    """The plan's points, the product, and the selected point's controls."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.model = state, analyst, model
        #: groups an edit's changes into one update of the page (the scene's batch, set by the app)
        self.batch: Any = contextlib.nullcontext
        self._updating = False
        self.table = pn.widgets.Tabulator(self._points_frame(), show_index=False, selectable=1,
                                          disabled=True, height=200, sizing_mode="stretch_width",
                                          css_classes=["plan-table"], layout="fit_data_table",
                                          formatters=_formatters())
        self.table.param.watch(self._on_table_select, "selection")
        names = product_names()
        self.product = pn.widgets.Select(label="Product", options=names, value=state.product["name"],
                                         width=150)
        self.product.param.watch(self._on_product, "value")
        self.depth = pn.widgets.EditableFloatSlider(label="Depth (mm)", start=0.0, end=20.0, fixed_start=0.0,
                                                    fixed_end=40.0, step=0.5, value=2.0, width=220)
        self.units = pn.widgets.FloatInput(label="Units", start=0.0, end=400.0, step=0.5, value=4.0, width=90)
        self.angle = pn.widgets.FloatInput(label="Angle (deg)", start=0.0, end=89.0, step=5.0, value=0.0,
                                           width=90)
        lms = landmark_ids()
        self.toward = pn.widgets.Select(label="toward", options=["(none)"] + lms, width=170)
        self.target = pn.widgets.Select(label="Target", options=_target_options(model), width=230)
        self.suggest = pn.widgets.Button(label="Target = tip's structure", width=160, margin=(24, 5, 5, 5))
        for w in (self.depth, self.units, self.angle, self.toward, self.target):
            w.param.watch(self._on_point_edit, "value")
        self.suggest.on_click(self._on_suggest)
        self.nudges = []
        for label, direction in (("Up", "superior"), ("Down", "inferior"), ("Medial", "medial"),
                                 ("Lateral", "lateral")):
            b = pn.widgets.Button(label=label, width=62)
            b.on_click(functools.partial(self._on_nudge, direction))
            self.nudges.append(b)
        self.nudge_step = pn.widgets.FloatInput(label="Step (mm)", value=2.0, start=0.5, end=20.0, step=0.5,
                                                width=70)
        self.delete = pn.widgets.Button(label="Delete point", color="danger", width=110)
        self.delete.on_click(self._on_delete)
        self.mirror = pn.widgets.Button(label="Mirror point", width=110)
        self.mirror.on_click(self._on_mirror)
        self.mirror_all = pn.widgets.Button(label="Mirror all", width=100)
        self.mirror_all.on_click(lambda _e: self._guard(lambda: self.state.mirror()))
        self.undo = pn.widgets.Button(label="Undo", width=70, disabled=True, margin=(24, 5, 5, 5))
        self.redo = pn.widgets.Button(label="Redo", width=70, disabled=True, margin=(24, 5, 5, 5))
        self.undo.on_click(lambda _e: self._guard(self.state.undo))
        self.redo.on_click(lambda _e: self._guard(self.state.redo))
        self.landmark = pn.widgets.Select(label="Landmark", options=lms, value="glabella", width=200)
        self.sup = pn.widgets.FloatInput(label="superior mm", value=0.0, step=1.0, width=90)
        self.lat = pn.widgets.FloatInput(label="lateral mm", value=0.0, step=1.0, width=90)
        self.ant = pn.widgets.FloatInput(label="anterior mm", value=0.0, step=1.0, width=90)
        self.place = pn.widgets.Button(label="Place at landmark", color="primary", width=160,
                                       margin=(24, 5, 5, 5))
        self.place.on_click(self._on_place)
        self.selected_title = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.new_plan = pn.widgets.Button(label="New plan", width=85, css_classes=["new-plan"], margin=(24, 5, 5, 5))
        self.new_plan.on_click(lambda _e: self._on_new_plan())
        #: scrolls the plan table's selected row into view (a new point is the last row)
        self.scroller = RowScroller(table_class="plan-table")
        state.param.watch(self._refresh_table, ["points"])
        analyst.param.watch(self._refresh_table, ["results"])
        state.param.watch(self._on_selected, ["selected"])
        state.param.watch(self._on_history, ["can_undo", "can_redo"])
        state.param.watch(lambda e: setattr(self.product, "value", e.new["name"]), ["product"])
        self._on_selected()

    # ------------------------------------------------------------ table
    def _points_frame(self) -> Any:
        import pandas as pd

        rows = []
        plan = self.state.plan_dict()
        for p in plan["points"]:
            r = self.analyst.results.get(p["id"])
            where = p["at"]["landmark"] if "at" in p else "skin point"
            product = (p.get("product") or plan["product"])["name"]
            rows.append({"id": p["id"], "units": float(p.get("units", 0.0)),
                         "product": product.replace("botulinumtoxinA", ""),
                         "depth_mm": p.get("depth_mm", r.depth_mm if r else None), "target": p.get("target", ""),
                         "at": where, "tip_in": (r.tip_in if r else None) or "",
                         "worst": worst_severity(r.findings) if r else "?"})
        cols = ["id", "units", "product", "depth_mm", "target", "at", "tip_in", "worst"]
        return pd.DataFrame(rows, columns=cols)

    def _refresh_table(self, *_: Any) -> None:
        self.table.value = self._points_frame()
        self._select_row()
        self._on_selected()

    def _select_row(self) -> None:
        ids = self.state.point_ids()
        sel = [ids.index(self.state.selected)] if self.state.selected in ids else []
        if self.table.selection != sel:
            self._updating = True
            try:
                self.table.selection = sel
            finally:
                self._updating = False
            if sel:
                self.scroller.scroll()

    def _on_table_select(self, event: param.parameterized.Event) -> None:
        if self._updating or not event.new:
            return
        ids = self.state.point_ids()
        if event.new[0] < len(ids):
            with self.batch():
                self.state.selected = ids[event.new[0]]

    # ------------------------------------------------------------ selected point
    def _on_selected(self, *_: Any) -> None:
        self._select_row()
        pid = self.state.selected
        editors = (self.depth, self.units, self.angle, self.toward, self.target, self.suggest, self.delete,
                   self.mirror, *self.nudges)
        if not pid or pid not in self.state.point_ids():
            self.selected_title.object = "*No point selected: click one in the table, or place one.*"
            for w in editors:  # no point: nothing to edit (and no stale values of a deleted one)
                w.disabled = True
            return
        for w in editors:
            w.disabled = False
        p = self.state.point(pid)
        r = self.analyst.results.get(pid)
        self._updating = True
        try:
            depth = p.get("depth_mm", r.depth_mm if r else 0.0) or 0.0
            self.depth.value = float(depth)
            self.units.value = float(p.get("units", 0.0))
            self.angle.value = float(p.get("angle_deg", 0.0))
            self.toward.value = p.get("toward", "(none)")
            target = p.get("target", "")
            self.target.value = target if target in self.target.options.values() else ""
        finally:
            self._updating = False
        tip = (r.tip_in if r else None) or "?"
        self.selected_title.object = (f"**Point {plain(pid)}**: {p.get('units', 0)} U, tip in `{tip}` "
                                      f"(layer {r.layer if r else '?'}), target {p.get('target', 'none')}")

    def _guard(self, fn: Any) -> None:
        try:
            with self.batch():  # the edit's tables, panels and scene reach the browser as one patch
                fn()
        except (KeyError, ValueError, PlanError) as exc:
            self.state.message = f"Not done: {exc}"

    def _on_point_edit(self, *_: Any) -> None:
        if self._updating or not self.state.selected:
            return
        depth, units = self.depth.value, self.units.value
        if depth is None or units is None:  # a number box emptied while typing: no edit yet
            return
        angle = float(self.angle.value or 0.0)
        toward = None if self.toward.value == "(none)" else self.toward.value
        changes: dict[str, Any] = {"depth_mm": float(depth), "units": float(units),
                                   "target": self.target.value or None}
        if angle > 0 and toward:
            changes.update(angle_deg=angle, toward=toward)
        else:
            changes.update(angle_deg=None, toward=None)
        self._guard(lambda: self.state.update_point(self.state.selected, **changes))

    def _on_suggest(self, _e: Any) -> None:
        r = self.analyst.results.get(self.state.selected)
        sid = r.tip_in if r else None
        if sid and sid in treatable_targets():
            self._guard(lambda: self.state.update_point(self.state.selected, target=sid))
        elif sid and sid in self.model.structures:
            self.state.message = (f"Not done: the tip lies in {self.model.structures[sid].name}, which is not a muscle "
                                  "that is treated; a target is the muscle the point treats.")

    def _on_nudge(self, direction: str, _e: Any) -> None:
        if self.state.selected and self.nudge_step.value is not None:
            step = float(self.nudge_step.value)
            self._guard(lambda: self.state.nudge(self.state.selected, direction, step))

    def _on_delete(self, _e: Any) -> None:
        if self.state.selected:
            self._guard(lambda: self.state.delete_point(self.state.selected))

    def _on_mirror(self, _e: Any) -> None:
        if self.state.selected:
            self._guard(lambda: self.state.mirror(self.state.selected))

    def _on_place(self, _e: Any) -> None:
        self._guard(lambda: self.state.place_by_landmark(
            self.landmark.value, superior_mm=float(self.sup.value or 0),
            lateral_mm=float(self.lat.value or 0), anterior_mm=float(self.ant.value or 0)))

    def _on_new_plan(self) -> None:
        self._guard(self.state.new_plan)
        self.state.message = "New plan: the plan is empty (Undo brings the previous one back)."

    def _on_product(self, event: param.parameterized.Event) -> None:
        if event.new == self.state.product["name"]:
            return
        info = product_info(event.new)
        self._guard(lambda: self.state.set_product({"name": info.name,
                                                    "units_per_vial": info.default_units_per_vial,
                                                    "diluent_ml": info.default_diluent_ml}))

    def _on_history(self, *_: Any) -> None:
        self.undo.disabled = not self.state.can_undo
        self.redo.disabled = not self.state.can_redo

    def __panel__(self) -> pn.viewable.Viewable:
        # fits a column of 430 px: the page beside it keeps the 3D view on screen at 1366 px (docs/layout.md)
        return pn.Card(
            pn.Row(self.product, self.undo, self.redo, self.new_plan),
            self.table,
            self.scroller,
            self.selected_title,
            pn.Row(self.depth, self.units),
            pn.Row(self.angle, self.toward),
            pn.Row(self.target, self.suggest),
            pn.Row(*self.nudges, self.nudge_step),
            pn.Row(self.delete, self.mirror, self.mirror_all),
            pn.pane.Markdown("**Place by landmark**"),
            pn.Row(self.landmark, self.place),
            pn.Row(self.sup, self.lat, self.ant),
            title="Plan", sizing_mode="stretch_width", css_classes=["plan-card"])
