"""A hidden component that scrolls a table's selected row into view (``row_scroller.js``): Panel's
Tabulator selects a row set from Python without scrolling to it, so a new point's row stayed below
the table's fold."""

from __future__ import annotations

from pathlib import Path

import param
from panel.custom import JSComponent


class RowScroller(JSComponent):
    """Call :meth:`scroll` after selecting a row of the table with CSS class ``table_class``."""

    table_class = param.String(default="", doc="The CSS class of the table (its css_classes).")
    seq = param.Integer(default=0, doc="Counts the requests: each change scrolls once.")

    _esm = Path(__file__).with_name("row_scroller.js")

    def __init__(self, **params: object) -> None:
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)

    def scroll(self) -> None:
        """Scroll the table's selected row into view (in the browser, once the selection arrived)."""
        self.seq += 1
