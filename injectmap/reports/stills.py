"""Stills of the expression a plan treats: before, at two weeks and at three months (off-screen PNGs).

The patient walkthrough, the handout and the chart show the same three pictures: the face seen from the
front performing the expression the plan treats most (:func:`teaching.side_effects.treated_expression`),
with the skin moved by the expression model at each day's strength (``teaching.expressions.
expression_displacement``) and coloured by how far it moves (one scale for the three). A plan that
changes no expression has no stills. Rendering is off-screen (the EGL window where it is set); a still
rendered before for the same plan, face and day is read from the stills' cache instead
(reports/stills_cache.py), so a second report or handout of a plan renders nothing.

Example
-------
>>> stills = expression_stills(model, plan)   # doctest: +SKIP
>>> [s.caption for s in stills]               # doctest: +SKIP
['Frowning, before', 'Frowning, at two weeks', 'Frowning, at three months']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from injectmap.planning.plan import Plan, parse_plan
from injectmap.reports.pdf_fonts import FAMILY
from injectmap.teaching.education import EXPRESSION_WORDS
from injectmap.teaching.expressions import expression_displacement, preview
from injectmap.teaching.side_effects import STILL_DAYS, treated_expression

__all__ = ["EXPRESSION_WORDS", "STILL_SIZE", "Still", "expression_stills"]

STILL_SIZE = (420, 480)
#: where the camera looks for each expression (y of the focal point, mm; the frame's origin is between the eyes)
_FOCUS_Y = {"frown": 5.0, "brow_raise": 15.0, "squint": 0.0, "smile": -25.0, "mouth_corner_down": -35.0,
            "chin": -45.0, "neck_bands": -60.0}


@dataclass(frozen=True)
class Still:
    """One picture: the expression, the day after the visit's session (0: just before it), the caption and the PNG
    bytes."""

    expression: str
    day: float
    caption: str
    strength: Mapping[str, float]
    png: bytes


def _render(model: Any, displacements: Sequence[np.ndarray], expression: str, clim: float,
            size: Sequence[int]) -> list[bytes]:
    """One PNG per displacement, from one off-screen plotter (the skin's points and colours updated)."""
    import io

    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv
    from PIL import Image

    base = np.asarray(model.skin.points, dtype=float)
    skin = model.skin.copy()
    pl = pv.Plotter(off_screen=True, window_size=[int(size[0]), int(size[1])])
    out = []
    try:
        pl.set_background("white")  # type: ignore[arg-type]
        for eye in model.eyes.values():
            pl.add_mesh(eye, color="#f4f1ea", smooth_shading=True)
        focus = np.array([0.0, _FOCUS_Y.get(expression, 0.0), 0.0])
        # no colour bar: the note under the stills says what the colour means (one scale for the three)
        for disp in displacements:  # the skin's actor replaced by name; the eyes, camera and window stay
            skin.points = base + disp
            skin.point_data["moved"] = np.linalg.norm(disp, axis=1)
            pl.add_mesh(skin.copy(), scalars="moved", cmap="magma_r", clim=(0.0, clim), smooth_shading=True,
                        show_scalar_bar=False, name="skin", reset_camera=False)
            pl.camera.focal_point = focus  # the same front view for every still
            pl.camera.position = focus + np.array([0.0, 0.0, 420.0])
            pl.camera.up = (0.0, 1.0, 0.0)
            pl.camera.view_angle = 22.0
            pl.render()
            img = pl.screenshot(return_img=True)
            buf = io.BytesIO()
            Image.fromarray(np.asarray(img)).save(buf, format="PNG", optimize=True)
            out.append(buf.getvalue())
    finally:
        pl.close()
    return out


def _cached_render(model: Any, plan: Plan, displacements: Sequence[np.ndarray], expression: str, clim: float,
                   size: Sequence[int], start_day: float = 0.0) -> list[bytes]:
    """:func:`_render`'s PNGs, those rendered before for the same plan, face, day and picture read from the
    stills' cache (reports/stills_cache.py) and only the others rendered (then kept there)."""
    from injectmap.planning.plan import dumps_plan
    from injectmap.reports.stills_cache import face_id, still_key, stills_cache

    cache = stills_cache()
    plan_json, face = dumps_plan(plan), face_id(model)
    keys = [still_key(plan_json, face, expression, start_day + day, size, clim, disp)
            for (day, _), disp in zip(STILL_DAYS, displacements, strict=True)]
    pngs: list[bytes | None] = [cache.get(k) for k in keys]
    missing = [i for i, png in enumerate(pngs) if png is None]
    if missing:
        for i, png in zip(missing, _render(model, [displacements[i] for i in missing], expression, clim, size),
                          strict=True):
            pngs[i] = png
            cache.put(keys[i], png)
    return [png for png in pngs if png is not None]


def expression_stills(model: Any, plan: Plan | Mapping[str, Any], expression: str | None = None,
                      size: Sequence[int] = STILL_SIZE, start_day: float = 0.0) -> list[Still]:
    """The stills of ``expression`` (default: the one the plan treats at two weeks) before, at two weeks and at
    three months, counted from the visit given ``start_day`` days after the plan's initial session (0: the first
    visit; a touch-up visit's, :func:`reports.chart.visit_start_day`: "before" is the touch-up's day, with what the
    first treatment still does then).

    Returns
    -------
    list of Still
        Three stills (:data:`teaching.side_effects.STILL_DAYS`), or none when the plan changes no expression.
    """
    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    start = max(0.0, float(start_day))
    results = {day: preview(model, plan, start + day) for day, _ in STILL_DAYS}
    name = expression or treated_expression(results[14.0])
    if name is None:
        return []
    untreated = expression_displacement(model, None, name)
    clim = max(float(np.percentile(np.linalg.norm(untreated, axis=1), 99.9)), 0.5)
    words = EXPRESSION_WORDS.get(name, name.replace("_", " "))
    displacements = [expression_displacement(model, results[day], name) for day, _ in STILL_DAYS]
    pngs = _cached_render(model, plan, displacements, name, clim, size, start)
    return [Still(name, day, f"{words}, {when}", {s: round(b.mid, 2) for s, b in results[day].strengths[name].items()},
                  png) for (day, when), png in zip(STILL_DAYS, pngs, strict=True)]


STILLS_NOTE = ("The darker the colour, the further the skin moves (one scale for the three pictures). What the "
               "expression model expects on an average face, a population heuristic: never a promise of how one "
               "face will look.")


def stills_html(stills: Sequence[Still], heading: str = "How the treated expression is expected to change") -> str:
    """The stills as one HTML section (captions escaped; the PNGs inline), or ``""`` without stills."""
    import base64
    import html

    if not stills:
        return ""
    figs = "".join(
        f'<figure class="still"><img alt="{html.escape(s.caption)}" src="data:image/png;base64,'
        f'{base64.b64encode(s.png).decode()}"><figcaption>{html.escape(s.caption)}</figcaption></figure>'
        for s in stills)
    style = ('<style>.expression-stills .stills{display:flex;gap:8px;flex-wrap:wrap}'
             '.expression-stills figure.still{margin:0;flex:1 1 30%;min-width:200px}'
             '.expression-stills img{width:100%;height:auto}</style>')
    return (f'<section id="expression-stills" class="expression-stills">{style}<h2>{html.escape(heading)}</h2>'
            f'<div class="stills">{figs}</div><p><i>{html.escape(STILLS_NOTE)}</i></p></section>')


def pdf_stills(pdf: Any, stills: Sequence[Still], width: float, heading: str, text: Any = str) -> None:
    """The stills side by side on an fpdf2 document, with a heading and captions (``text``: the document's
    filter for every string, :class:`reports.pdf_fonts.PdfText`)."""
    import io

    if not stills:
        return
    gap = 3.0
    w = (width - gap * (len(stills) - 1)) / len(stills)
    h = w * STILL_SIZE[1] / STILL_SIZE[0]
    if pdf.get_y() + h + 22 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 12)
    pdf.multi_cell(width, 6, text(heading), new_x="LMARGIN", new_y="NEXT")
    y0 = pdf.get_y() + 1
    for i, s in enumerate(stills):
        x = pdf.l_margin + i * (w + gap)
        pdf.image(io.BytesIO(s.png), x=x, y=y0, w=w)
        pdf.set_xy(x, y0 + h + 0.5)
        pdf.set_font(FAMILY, "I", 8)
        pdf.cell(w, 4, text(s.caption), align="C")
    pdf.set_xy(pdf.l_margin, y0 + h + 6)
    pdf.set_font(FAMILY, "I", 8)
    pdf.multi_cell(width, 4, text(STILLS_NOTE), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
