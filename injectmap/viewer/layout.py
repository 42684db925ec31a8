"""The page's columns and the colour legend (docs/layout.md).

Three columns: the side cards (:data:`SIDE_WIDTH`), the 3D view and the findings (the rest of the
width), and the plan card or a mode's text (:data:`PLAN_WIDTH`) beside the view. The side columns
scroll on their own (:data:`COLUMN_STYLE`), so every control of the plan card is reached by scrolling
that card's column, the 3D view stays on screen, and the page never scrolls sideways from 1366 px up.
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
#: a side column scrolls on its own below the header (about 60 px)
COLUMN_STYLE = {"max-height": "calc(100vh - 70px)", "overflow-y": "auto", "overflow-x": "hidden"}


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
