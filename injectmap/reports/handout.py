"""The patient handout as HTML and PDF, from :func:`reports.chart.handout_data`.

Plain words only: what was treated and why (per area), the timeline as calendar dates, passing effects
and the signs to call about, aftercare, and the sources as readable references. It never shows a
clinician finding, a point id, a citation key or an internal file. Every text is escaped in HTML and
written through fpdf2's text cells in the PDF (never markup), in the fonts of :mod:`reports.pdf_fonts`.

Example
-------
>>> html = render_handout_html(handout_data(plan), timeline_svg)   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Any

from injectmap.reports.chart import Handout, HandoutArea, TimelineRow

__all__ = ["HANDOUT_TITLE", "date_words", "product_words", "render_handout_html", "render_handout_pdf", "timeline_rows",
           "units_words"]

HANDOUT_TITLE = "Your botulinum toxin treatment"
STILLS_HEADING = "How your expression is expected to change"


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def date_words(d: _dt.date) -> str:
    """``"Wed 16 Dec 2026"``: a date a patient reads without thinking of the order of day and month."""
    return f"{d.strftime('%a')} {d.day} {d.strftime('%b %Y')}"


def _span(a: _dt.date, b: _dt.date) -> str:
    return date_words(a) if a == b else f"{date_words(a)} to {date_words(b)}"


def timeline_rows(row: TimelineRow) -> list[tuple[str, str]]:
    """(what, when) of one area: first change, full effect, review, wearing off."""
    out = [("First change", _span(*row.first_change)), ("Full effect", _span(*row.full_effect))]
    if row.review is not None:
        out.append(("Review visit (a touch-up if needed)", date_words(row.review)))
    out.append(("Usually wearing off", _span(*row.wearing_off)))
    return out


def _meta(h: Handout) -> str:
    parts = []
    if h.patient:
        parts.append(f"For: {h.patient}")
    note = "" if h.date_given else " (today; no visit date was given)"
    parts.append(f"Treatment date: {date_words(h.visit_date)}{note}")
    if h.clinician:
        parts.append(f"Your clinician: {h.clinician}")
    return "    ".join(parts)


def _n(units: float) -> str:
    return f"{units:g} unit{'' if units == 1 else 's'}"


def units_words(a: HandoutArea, products: Sequence[str] = ()) -> str:
    """The units given in an area, as the area's heading says them: "36 units" (with the product's name when the
    plan uses several), and what the plan gives there at its other visits ("4 more at the touch-up")."""
    several = len(products) > 1
    now = (" and ".join(f"{_n(u)} of {name}" for name, u in a.by_product) if several
           else _n(a.units)) if a.by_product else ""
    later = [f"{_n(u) if not now else f'{u:g} more'} {words}" for words, u in a.later]
    return "; ".join(p for p in (now, *later) if p) or "no units given"


def _sold_as(brands: Sequence[str]) -> str:
    if not brands:
        return ""
    return f" (sold as {brands[0] if len(brands) == 1 else ', '.join(brands[:-1]) + ' or ' + brands[-1]})"


def product_words(h: Handout) -> str:
    """The medicine given, with its brand names, and that its units are its own."""
    brands = list(h.brands) or [()] * len(h.products)
    names = [f"{name}{_sold_as(b)}" for name, b in zip(h.products, brands, strict=True)]
    whose = "each medicine's" if len(names) > 1 else "this medicine's"
    return (f"The medicine: {' and '.join(names)}. The units below are {whose} own: another brand's units are not "
            "the same amount.")


def render_handout_html(h: Handout, timeline_svg: str = "", stills: Sequence[Any] = ()) -> str:
    """The handout as one self-contained HTML page (``timeline_svg``: the timeline figure, inline; ``stills``:
    reports.stills.Still, the treated expression before, at two weeks and at three months)."""
    from injectmap.reports.stills import stills_html

    areas = "".join(
        f"<h3>{_e(a.title)} ({_e(a.sides)}, {_e(units_words(a, h.products))})</h3>" + "".join(
            f"<p><b>{_e(name[:1].upper() + name[1:])}.</b> {_e(does)} {_e(changes)}</p>"
            for name, does, changes in a.muscles)
        for a in h.areas) or "<p>No treated muscle with a description.</p>"
    areas = f'<p class="product">{_e(product_words(h))}</p>' + areas
    table = "".join(
        f'<h3>{_e(r.title)}, {_e(_treated_words(r))}</h3><table class="when"><tbody>'
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in timeline_rows(r)) + "</tbody></table>"
        for r in h.timeline)
    effects = "".join(f'<li class="{"seek-help" if seek else ""}"><b>{_e(name)}.</b> {_e(text)}</li>'
                      for name, text, seek in h.effects)
    aftercare = "".join(f"<li><b>{_e(a)}</b> {_e(why)}</li>" for a, why in h.aftercare)
    refs = "".join(f"<li>{_e(r.text())}</li>" for r in h.references)
    tpl = Template(resources.files("injectmap.reports").joinpath("templates", "handout.html").read_text(encoding="utf-8"))
    return tpl.substitute(title=_e(HANDOUT_TITLE), meta=_e(_meta(h)), areas=areas, timeline_table=table,
                          timeline=timeline_svg, reminder=_e(h.reminder), effects=effects, aftercare=aftercare,
                          references=refs, stills=stills_html(stills, STILLS_HEADING))


#: the handout's type sizes from roomy to compact (pt, line height mm, timeline width as a share of the
#: text width): the roomiest that leaves no nearly blank last page is used
_DENSITIES = ((10.5, 5.4, 1.0), (10.0, 5.0, 0.8), (9.5, 4.6, 0.66), (9.0, 4.3, 0.55))
#: a last page filled less than this share of its height counts as nearly blank (project choice)
MIN_LAST_PAGE_FILL = 0.25


def _treated_words(r: TimelineRow) -> str:
    return f"treated {date_words(r.treated)}" if r.visit == "first visit" else f"{r.visit} on {date_words(r.treated)}"


def _handout_pdf(h: Handout, timeline_png: bytes | None, size: float, line: float, figure: float,
                 stills: Sequence[Any] = ()) -> Any:
    import io

    from injectmap.reports.pdf_fonts import FAMILY
    from injectmap.reports.report import _Pdf

    doc = _Pdf(HANDOUT_TITLE)
    pdf = doc.pdf

    def para(text: str, style: str = "", scale: float = 1.0) -> None:
        pdf.set_font(FAMILY, style, size * scale)
        pdf.multi_cell(doc.w, line * scale, doc.text(text), new_x="LMARGIN", new_y="NEXT")

    doc.heading(HANDOUT_TITLE, 17)
    para(_meta(h))
    pdf.ln(2)
    doc.heading("What was treated, and why")
    para(product_words(h))
    pdf.ln(1)
    for a in h.areas:
        para(f"{a.title} ({a.sides}, {units_words(a, h.products)})", "B", 1.05)
        for name, does, changes in a.muscles:
            para(f"{name[:1].upper() + name[1:]}: {does} {changes}")
        pdf.ln(1)
    doc.heading("What to expect, and when")
    for r in h.timeline:
        para(f"{r.title}, {_treated_words(r)}", "B", 1.05)
        doc.table(["What", "When"], [list(row) for row in timeline_rows(r)], [70, doc.w - 70])
    if timeline_png:
        if pdf.get_y() > pdf.h - 85 * figure:
            pdf.add_page()
        w = doc.w * figure
        pdf.image(io.BytesIO(timeline_png), x=pdf.l_margin + (doc.w - w) / 2, w=w)
    para(h.reminder, "I", 0.9)
    pdf.ln(2)
    if stills:
        from injectmap.reports.stills import pdf_stills

        pdf_stills(pdf, stills, doc.w, STILLS_HEADING, doc.text)
    doc.heading("Passing effects, and when to call us")
    for name, text, seek in h.effects:
        para(f"- {name}: {text}", "B" if seek else "")
    pdf.ln(2)
    doc.heading("Aftercare")
    for advice, why in h.aftercare:
        para(f"- {advice} {why}")
    pdf.ln(2)
    doc.heading("Where this information comes from", 11)
    pdf.set_font(FAMILY, "", size * 0.75)
    for ref in h.references:
        pdf.multi_cell(doc.w, line * 0.75, doc.text(ref.text()), align="L", new_x="LMARGIN", new_y="NEXT")
    return pdf


def _last_page_fill(pdf: Any) -> float:
    return (pdf.get_y() - pdf.t_margin) / (pdf.h - pdf.t_margin - pdf.b_margin)


def render_handout_pdf(h: Handout, timeline_png: bytes | None = None, stills: Sequence[Any] = ()) -> bytes:
    """The handout as PDF bytes (A4), in a larger type than the chart, at the roomiest of
    :data:`_DENSITIES` whose last page is not nearly blank (:data:`MIN_LAST_PAGE_FILL`)."""
    pdf = None
    for size, line, figure in _DENSITIES:
        pdf = _handout_pdf(h, timeline_png, size, line, figure, stills)
        if pdf.page == 1 or _last_page_fill(pdf) >= MIN_LAST_PAGE_FILL:
            break
    assert pdf is not None
    return bytes(pdf.output())
