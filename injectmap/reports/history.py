"""The dose history as a picture: units per muscle and side at each visit (grouped bars), off-screen.

:func:`history_figure` draws a :class:`injectmap.clinic.course.HistoryTable` with matplotlib's object API
(a ``Figure`` never attached to pyplot, rendered by the Agg canvas: no display, no global state);
:func:`history_png` returns the PNG bytes for the app and the report.

One group of bars per visit (labelled with its date and kind); in each group one bar per muscle and side
dosed at that visit, coloured by muscle and patterned by side (left plain, right hatched, midline dotted).
Heights are onabotulinumtoxinA-equivalent units by default, so that visits with different products compare;
``ona=False`` draws each product's own units (meaningful when the course used one product).
"""

from __future__ import annotations

import io
from typing import Any

from injectmap.clinic.course import HistoryTable

__all__ = ["SIDE_HATCH", "history_figure", "history_png"]

SIDE_HATCH = {"left": "", "right": "///", "midline": "..."}
_GROUP_WIDTH = 0.8  # share of the space between two visits taken by one visit's bars


def _label(muscle: str, side: str) -> str:
    return f"{muscle.replace('_', ' ')} ({side})"


def history_figure(table: HistoryTable, ona: bool = True, figsize: tuple[float, float] = (9.0, 4.0),
                   dpi: int = 100) -> Any:
    """A matplotlib Figure of the doses by muscle and side across visits.

    Parameters
    ----------
    table : HistoryTable
        From :func:`injectmap.clinic.course.dose_history`.
    ona : bool, optional
        OnabotulinumtoxinA-equivalent units (default) or each product's own.
    figsize, dpi : optional
        Size of the picture.

    Returns
    -------
    matplotlib.figure.Figure
        One bar (a ``Rectangle`` in ``ax.patches``) per visit, muscle and side with a dose; no bar where
        nothing was given. Not attached to pyplot.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    series = table.series(ona=ona)
    keys = list(series)
    muscles = sorted({m for m, _ in keys})
    palette = colormaps["tab10"]
    colour = {m: palette(i % 10) for i, m in enumerate(muscles)}
    width = _GROUP_WIDTH / max(1, len(keys))
    for j, key in enumerate(keys):
        xs = [i - _GROUP_WIDTH / 2 + (j + 0.5) * width for i, v in enumerate(series[key]) if v > 0]
        hs = [v for v in series[key] if v > 0]
        ax.bar(xs, hs, width=width, color=colour[key[0]], hatch=SIDE_HATCH[key[1]], edgecolor="#333333",
               linewidth=0.5, label=_label(*key))
    ax.set_xticks(range(len(table.visits)))
    ax.set_xticklabels([f"{v.date.isoformat()}\n{v.kind.replace('_', '-')}" for v in table.visits], fontsize=8)
    ax.set_xlim(-0.6, max(0.6, len(table.visits) - 0.4))
    ax.set_ylabel("units (onabotulinumtoxinA-equivalent)" if ona else "units (each product's own)")
    ax.set_title("Doses by muscle and side at each visit", fontsize=10)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    if keys:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "no doses recorded", ha="center", va="center", transform=ax.transAxes, color="#666666")
    return fig


def history_png(table: HistoryTable, ona: bool = True, figsize: tuple[float, float] = (9.0, 4.0),
                dpi: int = 100) -> bytes:
    """The history picture as PNG bytes (see :func:`history_figure`)."""
    buf = io.BytesIO()
    history_figure(table, ona=ona, figsize=figsize, dpi=dpi).savefig(buf, format="png")
    return buf.getvalue()
