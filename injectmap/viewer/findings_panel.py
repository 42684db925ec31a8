"""The Findings table: the plan's findings; selecting one selects its point and highlights its structure.

Readable at 1366x768 (tests/browser/test_findings_table.py): the point, the severity, the structure (its name,
wrapped) and the message (wrapped, never cut) each keep their own width; where the centre column is too narrow for
every column (a laptop), the code and the distance fold under their row, labelled, instead of squeezing the others
to a few characters (Tabulator's responsive collapse); on a wide screen every column is side by side."""

from __future__ import annotations

import contextlib
from typing import Any

import panel as pn
import param

from injectmap.reports.chart import structure_name
from injectmap.viewer.analysis import PlanAnalyst
from injectmap.viewer.scene import SEVERITY_COLOURS
from injectmap.viewer.state import AppState
from injectmap.viewer.text import plain

#: what the distance column holds: the finding's own limit, never the tip-to-course distance (docs/severity.md,
#: "A finding's distance_mm")
DISTANCE_TOOLTIP = ("mm from the limit the finding is about; negative: the limit is crossed. A field finding: from "
                    "the field's edge to the structure. A corridor finding: the tip's distance from the mean course "
                    "minus the corridor's radius (the message gives the distance from the course itself). A margin: "
                    "the distance beyond the minimum kept. Each code in docs/severity.md.")


#: the table's height (px): about three findings with their messages wrapped at 1366 px, more on a wide screen
TABLE_HEIGHT = 300
#: project choice: each column's width (px; the message takes the rest, at least its own) and whether it may fold
#: under its row (``responsive`` above 0, the highest folds first) when the columns do not fit side by side; the
#: point, severity, structure and message never fold, and wrap within their width. The widths: the longest point id
#: of a template ("corrugator_medial_left", wrapped at its underscores), the header "severity" with its sort arrow,
#: a structure's name over two or three lines, a message of about 40 characters a line.
COLUMN_WIDTHS = {"point": 96, "severity": 90, "structure": 140, "message": 280, "distance_mm": 124, "code": 180}
TABLE_CONFIGURATION: dict[str, Any] = {
    "responsiveLayout": "collapse",
    "responsiveLayoutCollapseStartOpen": True,
    "columns": [
        {"field": "point", "width": COLUMN_WIDTHS["point"], "responsive": 0, "formatter": "textarea"},
        {"field": "severity", "width": COLUMN_WIDTHS["severity"], "responsive": 0},
        {"field": "code", "width": COLUMN_WIDTHS["code"], "responsive": 2},
        {"field": "structure", "width": COLUMN_WIDTHS["structure"], "responsive": 0, "formatter": "textarea"},
        {"field": "distance_mm", "width": COLUMN_WIDTHS["distance_mm"], "responsive": 1},
        {"field": "message", "minWidth": COLUMN_WIDTHS["message"], "responsive": 0, "formatter": "textarea"},
    ],
}
#: wrapped cells break a long id at any character rather than overflow; a folded column's label and value read
#: as one line under the row
TABLE_SHEET = (".tabulator-cell { overflow-wrap: anywhere; }"
               ".tabulator-responsive-collapse table { font-size: 12px; }"
               ".tabulator-responsive-collapse td:first-child { padding-right: 6px; color: #555; }")


class FindingsPanel(pn.viewable.Viewer):
    """The findings of the plan; selecting one selects its point and highlights its structure."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst = state, analyst
        #: groups a selection's changes into one update of the page (the scene's batch, set by the app)
        self.batch: Any = contextlib.nullcontext
        self._rows: list[dict[str, Any]] = []
        colours = {k: f"background-color: {v}33" for k, v in SEVERITY_COLOURS.items()}
        self.table = pn.widgets.Tabulator(self._frame(), show_index=False, selectable=1, disabled=True,
                                          height=TABLE_HEIGHT, sizing_mode="stretch_width",
                                          css_classes=["findings-table"], layout="fit_columns",
                                          header_tooltips={"distance_mm": DISTANCE_TOOLTIP},
                                          configuration=TABLE_CONFIGURATION, stylesheets=[TABLE_SHEET])
        self.table.style.apply(lambda s: [colours.get(v, "") for v in s], subset=["severity"])
        self.table.param.watch(self._on_select, "selection")
        self.errors = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self._updating = False
        analyst.param.watch(self._refresh, ["results", "plan_findings", "errors"])
        state.param.watch(self._follow, ["selected", "highlight"])

    def _frame(self) -> Any:
        import pandas as pd

        self._rows = self.analyst.finding_rows()
        cols = ["point", "severity", "code", "structure", "distance_mm", "message"]
        # the structure by its name and side, as the report names it (a name wraps between its words; the rows keep
        # the id, which selects it)
        shown = [{**r, "structure": structure_name(self.analyst.model, r["structure"])} for r in self._rows]
        return pd.DataFrame(shown, columns=cols)

    def _refresh(self, *_: Any) -> None:
        self.table.value = self._frame()
        self.errors.object = "\n\n".join(plain(e) for e in self.analyst.errors)
        self.errors.visible = bool(self.analyst.errors)
        self._follow()

    def _follow(self, *_: Any) -> None:
        """The table's selection is the shown finding's row (its point and structure) or none: rows move
        when the plan changes, and a kept row index would mark another point's finding."""
        sel = [i for i, r in enumerate(self._rows)
               if r["point"] in (self.state.selected, "") and r["structure"] == self.state.highlight][:1]
        if not self.state.highlight:
            sel = []
        if self.table.selection != sel:
            self._updating = True
            try:
                self.table.selection = sel
            finally:
                self._updating = False

    def _on_select(self, event: param.parameterized.Event) -> None:
        if self._updating or not event.new or event.new[0] >= len(self._rows):
            return
        row = self._rows[event.new[0]]
        with self.batch():
            if row["point"]:
                self.state.selected = row["point"]
            self.state.highlight = ""
            self.state.highlight = row["structure"]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.pane.Markdown("### Findings"), self.errors, self.table)
