"""The page's columns and the colour legend (docs/layout.md).

Three columns: the side cards (:data:`SIDE_WIDTH`), the 3D view and the findings (the rest of the
width), and the plan card or a mode's text (:data:`PLAN_WIDTH`) beside the view. The page is the
window's height and never scrolls itself (:data:`PAGE_STYLE`); each column scrolls inside itself
(:data:`COLUMN_STYLE`), so every control of the plan card is reached by scrolling that card's column
while the header and the 3D view stay on screen, and nothing is wider than the window from 1366 px up.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from injectmap.planning.results import Severity
from injectmap.viewer.scene import CORRIDOR_COLOURS, EMPHASIS_COLOUR, HIGHLIGHT_COLOUR, SELECT_COLOUR, SEVERITY_COLOURS

#: project choice: the side cards are 290 px wide; with the plan column and the page's margins this
#: leaves the 3D view about 600 px at 1366 px and 1150 px at 1920 px
SIDE_WIDTH = 300
#: project choice: the plan card's widest row (product, Undo, Redo, New plan) fits 430 px
PLAN_WIDTH = 430
# The page is laid out by construction to the window's height (docs/layout.md), so that cards may
# grow without the page ever scrolling: the page is exactly as tall as the window, the header (and the
# restore offer) take their own height, the row of columns takes the rest, and each column scrolls
# inside itself. Every box of that flex chain has ``min-height: 0``: a flex item is otherwise at least
# as tall as its content, and a tall card would stretch the row past the window.
#: the whole page: exactly the window's height (it never scrolls itself)
PAGE_STYLE = {"height": "100vh", "max-height": "100vh", "min-height": "0"}
#: the row of the three columns: the height the header leaves
BODY_STYLE = {"flex": "1 1 0", "min-height": "0", "height": "auto"}
#: a column scrolls inside itself when its content is taller than the row
COLUMN_STYLE = {"height": "100%", "max-height": "100%", "min-height": "0", "overflow-y": "auto",
                "overflow-x": "hidden"}
#: under the 3D view (the disclaimer and the findings): the centre column's height the view leaves,
#: scrolling inside itself, so the view itself never scrolls out of sight
#: the cards inside a scrolling column keep their own height: a flex item may otherwise shrink, or be capped
#: by Bokeh's max-height of 100%, to the column's height, and its content then spills over the card below it
#: (at 1366x768 the training card's buttons lay under the plan card and could not be clicked)
COLUMN_SHEETS = [":host > * { flex-shrink: 0; max-height: none !important; }"]
BELOW_VIEW_STYLE = {"flex": "1 1 0", "min-height": "0", "overflow-y": "auto", "overflow-x": "hidden"}


def fit_to_width(viewer: Any) -> None:
    """Let a card built for a wide page (fixed widths) take its column's width instead: every part
    wider than the column stretches to it. (The training card keeps its own content and logic.)"""
    root: Any = pn.panel(viewer)  # a Viewable (select() walks its children)
    for obj in root.select():
        width = getattr(obj, "width", None)
        if isinstance(width, int | float) and width > PLAN_WIDTH - 30:
            obj.param.update(width=None, sizing_mode="stretch_width")


def _swatch(colour: str, text: str, alpha: str = "") -> str:
    return (f'<span style="display:inline-block;width:12px;height:12px;border-radius:6px;margin-right:6px;'
            f'background:{colour}{alpha}"></span>{text}')


def legend_rows() -> list[tuple[str, str]]:
    """(colour, meaning) of everything the scene colours."""
    return [
        (SEVERITY_COLOURS["ok"], "point: no caution"),
        (SEVERITY_COLOURS[Severity.CAUTION.value], "point: caution (see its findings)"),
        (SEVERITY_COLOURS[Severity.DANGER.value], "point: danger"),
        (SELECT_COLOUR, "the selected point (ring and needle hub; drag it)"),
        (SEVERITY_COLOURS["ok"] + "59", "inner shell: where the dose is expected to act"),
        (SEVERITY_COLOURS["ok"] + "1f", "outer shell: where some spread is possible"),
        (CORRIDOR_COLOURS["artery"], "corridor of an artery (its variable course)"),
        (CORRIDOR_COLOURS["nerve"], "corridor of a nerve, the duct or a foramen"),
        (HIGHLIGHT_COLOUR, "the structure of the selected finding"),
        (EMPHASIS_COLOUR, "the muscle of a walkthrough step"),
    ]


def legend_card() -> pn.Card:
    """The colour legend of the 3D view (constant text of the project: no user text in it)."""
    lines = "<br>".join(_swatch(c, t) for c, t in legend_rows())
    return pn.Card(pn.pane.HTML(f'<div style="font-size:13px;line-height:1.6">{lines}</div>'),
                   title="Legend", width=290, css_classes=["legend-card"], collapsed=False)
