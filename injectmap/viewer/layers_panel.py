"""The Layers and view card: layer visibility and opacity, the cut plane, camera views, landmark labels."""

from __future__ import annotations

import functools
from typing import Any

import panel as pn
import param

from injectmap.viewer.state import CUT_AXES, LAYER_GROUPS, LAYER_LABELS, VIEWS, AppState


class LayerPanel(pn.viewable.Viewer):
    """Layer visibility and opacity, cut plane, camera views, landmark labels."""

    def __init__(self, state: AppState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        rows = []
        for g in LAYER_GROUPS:
            cb = pn.widgets.Checkbox(label=LAYER_LABELS[g], value=state.layer_visible[g], width=130,
                                     css_classes=[f"layer-{g}"])
            sl = pn.widgets.FloatSlider(label="", start=0.0, end=1.0, step=0.05,
                                        value=state.layer_opacity[g], width=120, show_value=False)
            cb.param.watch(functools.partial(self._visible, g), "value")
            sl.param.watch(functools.partial(self._opacity, g), "value_throttled")
            rows.append(pn.Row(cb, sl, margin=0))
        self.cut_axis = pn.widgets.RadioButtonGroup.from_param(state.param.cut_axis, options=list(CUT_AXES),
                                                              color="default")
        self.cut_mm = pn.widgets.FloatSlider(label="Cut position (mm)", start=-110, end=110, step=1,
                                             value=state.cut_mm, width=250)
        self.cut_mm.link(state, value_throttled="cut_mm")
        # buttons, not a radio group: after the user turned the head, the view chosen last (still
        # "selected" in a radio group) must bring its standard camera back when pressed again
        view_buttons = []
        for v in VIEWS:
            b = pn.widgets.Button(label=v.replace("three_quarter_", "3/4 ").capitalize(), width=52, margin=(2, 1))
            b.on_click(functools.partial(self._choose_view, v))
            view_buttons.append(b)
        self.views = pn.Row(*view_buttons, css_classes=["views"])
        self.landmarks = pn.widgets.Checkbox.from_param(state.param.show_landmarks, label="Landmark labels")
        self.point_labels = pn.widgets.Checkbox.from_param(state.param.point_labels, label="Point labels",
                                                           css_classes=["point-labels"])
        self.structure_labels = pn.widgets.Checkbox.from_param(
            state.param.structure_labels, label="Structure labels (targets, warned)",
            css_classes=["structure-labels"])
        self._layout = pn.Card(pn.Column(*rows), pn.pane.Markdown("**Cut plane**"), self.cut_axis,
                               self.cut_mm, pn.pane.Markdown("**View**"), self.views,
                               pn.pane.Markdown("**Labels**"), self.point_labels, self.structure_labels,
                               self.landmarks, title="Layers and view", width=290)

    def _choose_view(self, view: str, _e: Any = None) -> None:
        if self.state.view == view:
            self.state.param.trigger("view")  # the same view again: its camera again
        else:
            self.state.view = view

    def _visible(self, group: str, event: param.parameterized.Event) -> None:
        self.state.set_layer(group, visible=event.new)

    def _opacity(self, group: str, event: param.parameterized.Event) -> None:
        self.state.set_layer(group, opacity=event.new)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
