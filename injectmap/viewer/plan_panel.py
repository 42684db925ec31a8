"""The Plan card: the plan's points (with each point's mL), the product, the dose totals, and the selected point's
controls.

Switching the product of a plan that has points asks first (:class:`ProductSwitchPrompt`): convert the doses
with the equivalence table of products.yaml (the factor and its source are shown), keep the unit numbers
(then read as the new product's units), or cancel (the selector goes back to the plan's product, the plan
unchanged)."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from injectmap.anatomy.ids import landmark_ids
from injectmap.planning.doses import treatable_targets
from injectmap.planning.plan import MAX_DEPTH_MM, PlanError, parse_plan, plan_to_dict
from injectmap.planning.products import ML_FORMAT, UnknownProductError, product_info, product_names, volume_ml
from injectmap.planning.totals import ProductSwitchError, switch_product
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.row_scroller import RowScroller
from injectmap.viewer.scene import worst_severity
from injectmap.viewer.state import AppState
from injectmap.viewer.text import plain
from injectmap.viewer.totals_panel import TotalsPanel

#: a point the analysis cannot place on the face (its tip through the bone...): the plan table's word for it
NOT_PLACED = "not placed"


def _formatters() -> dict[str, NumberFormatter]:
    """The plan table's numbers as planned: depth to 0.1 mm (3.5 is "3.5", not "4"), units as typed.
    New models per table: a Bokeh model shared by sessions would keep every session's page alive."""
    return {"depth_mm": NumberFormatter(format="0.0"), "units": NumberFormatter(format="0.[00]"),
            "mL": NumberFormatter(format=ML_FORMAT)}  # as the chart prints it (planning.products.ml_text)


#: the widest the id column grows (px): the longest id of the protocols (``corrugator_lateral_right``) fits on one
#: line, and the plan card's 430 px column keeps room for the units and mL beside it; a longer id wraps
ID_MAX_PX = 200
#: an id wider than the column wraps, anywhere (ids have no spaces), instead of being cut
ID_CELL_STYLE = (".tabulator-row .tabulator-cell.plan-id { white-space: normal; overflow-wrap: anywhere; "
                 "word-break: break-all; text-overflow: clip; }")


def _table_configuration() -> dict[str, Any]:
    """The plan table's Tabulator settings: the columns fit the data again whenever the plan changes (Tabulator
    sizes them on the first data only: the demo plan's ``g1`` set the id column to 60 px, and a protocol's
    ``masseter_front_right`` was cut to ``masseter``), the id column at most :data:`ID_MAX_PX` wide and kept in
    view when the table scrolls sideways to its other columns."""
    return {"layoutColumnsOnNewData": True,
            "columns": [{"field": "id", "maxWidth": ID_MAX_PX, "frozen": True, "cssClass": "plan-id"}]}


def point_volume_ml(point: dict[str, Any], plan_product: dict[str, Any]) -> float | None:
    """A point's injected mL as ``injectmap check`` computes it (``Plan.volume_ml_of``): its written
    ``volume_ml``, else its units at its product's dilution (None for a product planning does not know)."""
    if point.get("volume_ml") is not None:
        return float(point["volume_ml"])
    prod = point.get("product") or plan_product
    try:
        return volume_ml(float(point.get("units", 0.0)), prod["name"], prod.get("units_per_vial"),
                         prod.get("diluent_ml"))
    except (KeyError, TypeError, ValueError):
        return None


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
                                          formatters=_formatters(), configuration=_table_configuration(),
                                          stylesheets=[ID_CELL_STYLE])
        self.table.param.watch(self._on_table_select, "selection")
        names = product_names()
        self.product = pn.widgets.Select(label="Product", options=names, value=state.product["name"],
                                         width=150, css_classes=["product-select"])
        self.product.param.watch(self._on_product, "value")
        self.switch = ProductSwitchPrompt(self)
        self.totals = TotalsPanel(state, analyst)
        # the slider spans what a plan file may hold (planning's depth limit), so typed and slid depths agree
        self.depth = pn.widgets.EditableFloatSlider(label="Depth (mm)", start=0.0, end=MAX_DEPTH_MM, fixed_start=0.0,
                                                    fixed_end=MAX_DEPTH_MM, step=0.5, value=2.0, width=220)
        # no bounds in the browser: a value outside them was kept in the box and never sent, without a word; the plan's
        # check says what is wrong (more than 0, at most 400) and the status line shows it until it is corrected
        self.units = pn.widgets.FloatInput(label="Units", step=0.5, value=4.0, width=90)
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
        # the moves a finding's fix asks for (up, down, medial, lateral, forward, back; deeper is the depth)
        for label, direction in (("Up", "superior"), ("Down", "inferior"), ("Forward", "anterior"),
                                 ("Back", "posterior"), ("Medial", "medial"), ("Lateral", "lateral")):
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
        self.mirror_all.on_click(lambda _e: self._guard(self._on_mirror_all))
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
        analyst.param.watch(self._refresh_table, ["results", "point_errors"])
        state.param.watch(self._on_selected, ["selected"])
        state.param.watch(self._on_history, ["can_undo", "can_redo"])
        state.param.watch(self._on_state_product, ["product"])
        self._on_selected()

    # ------------------------------------------------------------ table
    def _points_frame(self) -> Any:
        import pandas as pd

        rows = []
        plan = self.state.plan_dict()
        for p in plan["points"]:
            r = self.analyst.results.get(p["id"])
            unplaced = p["id"] in self.analyst.point_errors  # the reason: beside the selected point (below)
            where = p["at"]["landmark"] if "at" in p else "skin point"
            product = (p.get("product") or plan["product"])["name"]
            rows.append({"id": p["id"], "units": float(p.get("units", 0.0)),
                         "mL": point_volume_ml(p, plan["product"]),
                         "product": product.replace("botulinumtoxinA", ""),
                         "depth_mm": p.get("depth_mm", r.depth_mm if r else None), "target": p.get("target", ""),
                         "at": where, "tip_in": NOT_PLACED if unplaced else r.tip_place() if r else "",
                         "worst": NOT_PLACED if unplaced else worst_severity(r.findings) if r else "?"})
        cols = ["id", "units", "mL", "product", "depth_mm", "target", "at", "tip_in", "worst"]
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
        # a tip in no structure is in a layer, not unknown (tip_in null: the medial corrugator point 4 mm deep
        # lies between the orbicularis oculi and the corrugator); only a point not analysed yet has no place
        unplaced = self.analyst.point_errors.get(pid)
        if unplaced:
            where = f"{NOT_PLACED}: {plain(unplaced)}"
        elif r is None:
            where = "tip not analysed yet"
        elif r.tip_in:
            where = f"tip in `{r.tip_in}` (layer {r.layer})"
        else:
            where = f"tip in {plain(r.tip_place())} (layer {r.layer})"
        self.selected_title.object = f"**Point {plain(pid)}**: {p.get('units', 0)} U, {where}, " \
                                     f"target {p.get('target', 'none')}"

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
            selected = self.state.selected
            self._guard(lambda: self._say_mirrored(self.state.mirror(selected), selected))

    def _on_mirror_all(self) -> None:
        self._say_mirrored(self.state.mirror(), None)

    def _say_mirrored(self, added: list[str], point_id: str | None) -> None:
        """What a mirror did: the points added, and the points that already treat the same muscle on that side
        (a copy beside them adds its units to theirs); or why nothing was added."""
        if not added:
            self.state.message = (f"Not mirrored: {point_id} lies on the midline." if point_id is not None else
                                  "Nothing to mirror: every point off the midline has its mirror image already.")
            return
        points = {p["id"]: p for p in self.state.points}
        words = []
        for pid in added:
            target = points[pid].get("target")
            beside = [q["id"] for q in self.state.points if q["id"] != pid and target and q.get("target") == target]
            if beside:
                units = sum(float(points[q].get("units") or 0.0) for q in [pid, *beside])
                words.append(f"{pid} joins {', '.join(beside)} in {target} ({units:g} U there now: check the dose)")
        added_words = ", ".join(added)
        self.state.message = (f"Mirrored: added {added_words}." + (" " + "; ".join(words) + "." if words else ""))

    def _on_place(self, _e: Any) -> None:
        self._guard(lambda: self.state.place_by_landmark(
            self.landmark.value, superior_mm=float(self.sup.value or 0),
            lateral_mm=float(self.lat.value or 0), anterior_mm=float(self.ant.value or 0)))

    def _on_new_plan(self) -> None:
        self._guard(self.state.new_plan)
        self.state.message = "New plan: the plan is empty (Undo brings the previous one back)."

    def _on_product(self, event: param.parameterized.Event) -> None:
        if self.switch.reverting or event.new == self.state.product["name"]:
            return  # the selector put back by a cancel, or following the plan (undo, a loaded plan)
        if not self.state.points:  # nothing to convert: switch at once
            self.switch.close()
            self._guard(lambda: self.state.set_product(label_product(event.new)))
            return
        self.switch.ask(event.new)

    def _on_state_product(self, event: param.parameterized.Event) -> None:
        """The plan's product changed (a switch, undo, a loaded plan): the selector follows, a pending
        question about another product is withdrawn."""
        self.switch.close()
        if self.product.value != event.new["name"]:
            with self.switch.reverting_selector():
                self.product.value = event.new["name"]

    def _on_history(self, *_: Any) -> None:
        self.undo.disabled = not self.state.can_undo
        self.redo.disabled = not self.state.can_redo

    def __panel__(self) -> pn.viewable.Viewable:
        # fits a column of 430 px: the page beside it keeps the 3D view on screen at 1366 px (docs/layout.md)
        return pn.Card(
            pn.Row(self.product, self.undo, self.redo, self.new_plan),
            self.switch,
            self.table,
            self.scroller,
            self.totals,
            self.selected_title,
            pn.Row(self.depth, self.units),
            pn.Row(self.angle, self.toward),
            pn.Row(self.target, self.suggest),
            pn.Row(*self.nudges[:4]),
            pn.Row(*self.nudges[4:], self.nudge_step),
            pn.Row(self.delete, self.mirror, self.mirror_all),
            pn.pane.Markdown("**Place by landmark**"),
            pn.Row(self.landmark, self.place),
            pn.Row(self.sup, self.lat, self.ant),
            title="Plan", sizing_mode="stretch_width", css_classes=["plan-card"])


def label_product(name: str) -> dict[str, Any]:
    """A product with its label reconstitution (products.yaml's default vial and diluent)."""
    info = product_info(name)
    return {"name": info.name, "units_per_vial": info.default_units_per_vial, "diluent_ml": info.default_diluent_ml}


class ProductSwitchPrompt(pn.viewable.Viewer):
    """The question asked when the product of a plan with points is switched: convert, keep, or cancel.

    Only the pending choice is acted on: a second click, or a click after the question was withdrawn, does
    nothing. Cancel puts the selector back under :attr:`reverting`, so that putting it back is not taken for
    a new switch.
    """

    def __init__(self, panel: PlanPanel, **params: Any) -> None:
        super().__init__(**params)
        self.panel = panel
        self.pending: str | None = None
        #: True while the selector is being put back (its change is not a new switch)
        self.reverting = False
        self.text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["switch-text"], margin=(0, 5))
        self.convert = pn.widgets.Button(label="Convert the doses", color="primary", width=140,
                                         css_classes=["switch-convert"])
        self.keep = pn.widgets.Button(label="Keep the unit numbers", width=160, css_classes=["switch-keep"])
        self.cancel = pn.widgets.Button(label="Cancel", width=70, css_classes=["switch-cancel"])
        self.convert.on_click(lambda _e: self.do_convert())
        self.keep.on_click(lambda _e: self.do_keep())
        self.cancel.on_click(lambda _e: self.do_cancel())
        #: what the last answer did (stays under the selector until the next question)
        self.note = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["switch-note"], visible=False,
                                     margin=(0, 5))
        self._layout = pn.Column(self.text, pn.Row(self.convert, self.keep, self.cancel), visible=False,
                                 sizing_mode="stretch_width", css_classes=["product-switch"],
                                 styles={"background": "#fff8e1", "border": "1px solid #e0c060", "border-radius": "4px"})

    # ------------------------------------------------------------ the question
    def ask(self, product: str) -> None:
        """Ask what to do with the doses when the plan's product becomes ``product``."""
        state = self.panel.state
        old = state.product["name"]
        try:
            preview = switch_product(parse_plan(state.plan_dict()), product, accept_estimate=True)
        except (PlanError, ProductSwitchError, UnknownProductError) as exc:
            self.pending = product
            self.text.object = plain(f"Switch to {product}: the doses cannot be converted ({exc}).")
            self.convert.disabled = True
        else:  # the same conversion as the answer's, shown before it is made
            n = preview.note
            self.pending = product
            self.convert.disabled = False
            estimate = " This ratio is an estimate, not an established equivalence." if n.estimate else ""
            self.text.object = plain(
                f"Switch the plan from {old} to {product}. Convert the doses with the equivalence table: "
                f"1 U of {old} = {n.ratio:g} U of {product} (source: {n.source}).{estimate} Or keep the unit "
                f"numbers: the same numbers are then read as {product} units. Or cancel.")
        self.note.visible = False
        self._layout.visible = True

    def close(self) -> None:
        """Withdraw the question."""
        self.pending = None
        self._layout.visible = False

    class _Reverting:
        def __init__(self, prompt: ProductSwitchPrompt) -> None:
            self.prompt = prompt

        def __enter__(self) -> None:
            self.prompt.reverting = True

        def __exit__(self, *_: Any) -> None:
            self.prompt.reverting = False

    def reverting_selector(self) -> ProductSwitchPrompt._Reverting:
        """A block in which a change of the product selector is not a switch (it follows the plan)."""
        return ProductSwitchPrompt._Reverting(self)

    # ------------------------------------------------------------ the answers
    def do_convert(self) -> None:
        """Switch and convert the doses with the equivalence table (one undoable edit)."""
        product, self.pending = self.pending, None
        if product is None:
            return
        state = self.panel.state
        try:
            out = switch_product(parse_plan(state.plan_dict()), product, accept_estimate=True)
        except (PlanError, ProductSwitchError, UnknownProductError) as exc:
            self._back(f"Not switched: {exc}")
            return
        converted = plan_to_dict(out.plan)
        self._layout.visible = False
        self.panel._guard(lambda: state.set_product(converted["product"], converted["points"]))
        self._said(out.note.text)

    def do_keep(self) -> None:
        """Switch and keep every unit number (now read as the new product's units)."""
        product, self.pending = self.pending, None
        if product is None:
            return
        state = self.panel.state
        old = state.product["name"]
        self._layout.visible = False
        self.panel._guard(lambda: state.set_product(label_product(product)))
        self._said(f"Product switched from {old} to {product} with the unit numbers kept: each dose is now read as "
                   f"{product} units (not converted).")

    def do_cancel(self) -> None:
        """No switch: the selector goes back to the plan's product; the plan is not touched."""
        if self.pending is None:
            return
        self._back("Product not switched: the plan is unchanged.")

    def _back(self, message: str) -> None:
        self.pending = None
        self._layout.visible = False
        with self.reverting_selector():
            self.panel.product.value = self.panel.state.product["name"]
        self._said(message)

    def _said(self, message: str) -> None:
        self.panel.state.message = message
        self.note.object = plain(message)
        self.note.visible = True

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._layout, self.note, sizing_mode="stretch_width")
