"""The Structure card: what the highlighted structure (or the one at the selected tip) is and does,
where it lies along the selected needle, and its own display inside its layer."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from injectmap.planning.analysis import depths_along
from injectmap.planning.results import PointResult
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.scene import layer_group
from injectmap.viewer.state import AppState


class StructurePanel(pn.viewable.Viewer):
    """What the highlighted structure (or the one at the selected tip) is and does, and its display:
    shown or hidden, and its own opacity, inside its layer."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, model: Any, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst, self.model = state, analyst, model
        self.sid = ""
        self._updating = False
        self.text = pn.pane.Markdown("", width=280)
        self.shown = pn.widgets.Checkbox(label="Show this structure", value=True, css_classes=["structure-shown"])
        self.opacity = pn.widgets.FloatSlider(label="Its opacity", start=0.0, end=1.0, step=0.05, value=1.0,
                                              width=250, css_classes=["structure-opacity"])
        self.follow = pn.widgets.Button(label="Follow its layer", width=115)
        self.show_all = pn.widgets.Button(label="Show every structure", width=145)
        self.controls = pn.Column(self.shown, self.opacity, pn.Row(self.follow, self.show_all), visible=False)
        self.shown.param.watch(self._on_shown, "value")
        self.opacity.param.watch(self._on_opacity, "value_throttled")
        self.follow.on_click(lambda _e: self.state.reset_structure_display(self.sid or None))
        self.show_all.on_click(lambda _e: self.state.reset_structure_display())
        state.param.watch(self._refresh, ["highlight", "selected", "structure_display", "layer_opacity"])
        analyst.param.watch(self._refresh, ["results"])
        self._refresh()

    def _on_shown(self, event: param.parameterized.Event) -> None:
        if not self._updating and self.sid:
            self.state.set_structure_display(self.sid, visible=bool(event.new))

    def _on_opacity(self, event: param.parameterized.Event) -> None:
        if not self._updating and self.sid:
            self.state.set_structure_display(self.sid, opacity=float(event.new))

    def _refresh(self, *_: Any) -> None:
        r = self.analyst.results.get(self.state.selected)
        sid = self.state.highlight or (r.tip_in if r else None) or ""
        s = self.model.structures.get(sid)
        self.sid = sid if s is not None else ""
        self._refresh_controls()
        if s is None:
            self.text.object = "*Select a finding or a point to see the structure.*"
            return
        lines = [f"#### {s.name}", f"`{s.id}` ({s.kind}, {s.side}, layer {s.layer})",
                 f"**What it does:** {s.action}", f"**If weakened:** {s.weakened}"]
        for f in r.findings if r else ():
            if f.structure == sid and f.distance_mm is not None:
                lines.append(f"**At point {self.state.selected}:** {f.distance_mm:.1f} mm from the "
                             f"sphere of effect ({f.severity.value}).")
                break
        if r is not None and r.tip_in == sid:
            lines.append(f"**At point {self.state.selected}:** the needle tip lies in it "
                         f"(depth {r.depth_mm:.1f} mm).")
        if r is not None:
            lines.append(self._depth_line(sid, r))
        self.text.object = "\n\n".join(lines)

    def _depth_line(self, sid: str, r: PointResult) -> str:
        """Where the structure lies along the selected point's needle line (depths below the skin)."""
        spans = depths_along(self.model, r.entry_mm, r.tip_mm, sid)
        where = f"**Depth here** (along point {self.state.selected}'s needle):"
        if not spans:
            return f"{where} not on this line within 40 mm."
        text = ", ".join(f"{a:.1f}-{b:.1f} mm" for a, b in spans)
        return f"{where} {text} below the skin."

    def _refresh_controls(self) -> None:
        """The display controls show the structure's own settings, or its layer's."""
        self.controls.visible = bool(self.sid)
        if not self.sid:
            return
        entry = self.state.structure_display.get(self.sid, {})
        group = layer_group(self.model.structures[self.sid]) or "muscles"
        self._updating = True
        try:
            self.shown.value = entry.get("visible", True) is not False
            self.opacity.value = float(entry.get("opacity", self.state.layer_opacity.get(group, 1.0)))
        finally:
            self._updating = False

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(self.text, self.controls, title="Structure", width=300)
