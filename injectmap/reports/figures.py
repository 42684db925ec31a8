"""Figures shared by the reports and the viewer (matplotlib, never attached to pyplot).

:func:`timeline_figure` draws the expected-effect bands of :mod:`injectmap.teaching.timeline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from injectmap.planning.plan import Plan
from injectmap.teaching import timeline as tl_mod
from injectmap.teaching.timeline import AreaCurve

__all__ = ["timeline_figure"]


def timeline_figure(curves: Sequence[AreaCurve] | Plan | Mapping[str, Any], days_max: float | None = None,
                    figsize: tuple[float, float] = (8.0, 3.6), dpi: int = 100) -> Any:
    """A matplotlib Figure of the bands, with the onset range, the peak and the two-week review marked.

    Parameters
    ----------
    curves : list of AreaCurve, or a plan
        What to draw (a plan is turned into :func:`plan_curves`); an empty list draws the upper-face
        band as an example.
    days_max : float, optional
        Right end of the day axis (default: past the latest wear-off).

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot (no global state); save it with ``fig.savefig``.
    """
    from matplotlib.figure import Figure

    if not isinstance(curves, (list, tuple)):
        curves = tl_mod.plan_curves(curves)  # type: ignore[arg-type]  # a plan or its dict
    curves = list(curves) or [tl_mod.AreaCurve("upper_face", str(tl_mod._tl()["groups"]["upper_face"]["title"]), "initial",
                                        0.0, ())]
    tl = tl_mod._tl()
    end = max(max(tl["groups"][c.group]["wear_off_days"]) + c.start_day for c in curves)
    days_max = float(days_max or 10 * np.ceil((end + 10) / 10))
    days = np.linspace(0.0, days_max, int(days_max * 4) + 1)
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    on_lo, on_hi = tl["onset_days"]["range"]
    pk_lo, pk_hi = tl["peak_days"]["range"]
    ax.axvspan(on_lo, on_hi, color="#cccccc", alpha=0.35, lw=0)
    ax.axvspan(pk_lo, pk_hi, color="#88cc88", alpha=0.25, lw=0)
    ax.text((on_lo + on_hi) / 2, 1.13, "first\nchange", ha="center", va="bottom", fontsize=7)
    ax.text((pk_lo + pk_hi) / 2 + 3, 1.13, "full\neffect", ha="left", va="bottom", fontsize=7)
    tu = float(tl["touch_up_day"])
    ax.axvline(tu, color="#444444", ls="--", lw=1)
    ax.text(tu + 1.5, 0.05, "two-week review\n(touch-up if needed)", fontsize=7, va="bottom")
    for c in curves:
        low, mid, high = tl_mod.effect_band(c.group, days, c.start_day)
        colour = tl_mod.GROUP_COLOURS[c.group]
        label = c.title if c.session == "initial" else f"{c.title}: {c.session.replace('_', '-')} (day {c.start_day:g})"
        ls = "-" if c.session == "initial" else ":"
        ax.fill_between(days, low, high, color=colour, alpha=0.18 if c.session == "initial" else 0.1, lw=0)
        ax.plot(days, mid, color=colour, ls=ls, lw=2, label=label)
    ax.set_xlim(0, days_max)
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.5, 1.0])
    ax.set_yticklabels(["none", "half", "full"])
    ticks = [0, 14, 30, 60, 90, 120, 150, 180, 210, 240]
    ax.set_xticks([t for t in ticks if t <= days_max])
    ax.set_xlabel("days after the treatment (30 days is about 1 month)")
    ax.set_ylabel("expected effect")
    ax.set_title("Expected effect over time: the shaded band is the usual range, not a promise", fontsize=9)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
