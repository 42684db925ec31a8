"""The plan report: its data (tables, findings, patient information) and its HTML and PDF layout.

Pure: this module computes tables from a plan and its analysis (:func:`planning.check.check_plan`)
and lays out documents from pictures it is given as PNG/SVG bytes. Rendering the pictures and the
interactive 3D scene happens in :mod:`viewer.report_render`; ``injectmap report`` ties the two.

- :func:`report_data` -> a dict: summary, dose table by muscle and side, points, findings with
  their reasons, sessions, the patient information (transient effects, aftercare, reminder) and the
  sources used.
- :func:`render_html` -> a self-contained HTML page (pictures inlined as data URIs, CSS inline, no
  script, no network); ``scene_html`` (an already self-contained block) may be inserted.
- :func:`render_pdf` -> PDF bytes (fpdf2, DejaVu Sans embedded: :mod:`reports.pdf_fonts`): pictures,
  tables, findings, timeline.
- :func:`check_output` -> checks, before anything is rendered, that the report can be written where
  asked (a known extension, an existing folder, not a folder itself, a folder that takes a file).

Example
-------
>>> from injectmap.planning.check import check_plan               # doctest: +SKIP
>>> data = report_data(plan, check_plan(plan, model), model)   # doctest: +SKIP
>>> html = render_html(data, pictures={"front": png})    # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import errno
import html
import os
import re
import stat
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from string import Template
from typing import Any

from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.ids import base_of
from injectmap.planning.doses import dose_range, range_words
from injectmap.planning.plan import Plan, parse_plan
from injectmap.planning.products import ml_text
from injectmap.planning.results import DISCLAIMER, Finding, PlanResult, Severity
from injectmap.planning.sides import plan_point_side
from injectmap.reports.chart import ChartRecord, distance_words, readable_references, side_of_point
from injectmap.reports.chart import structure_name as _name
from injectmap.reports.figures import LabelledView
from injectmap.reports.pdf_fonts import FAMILY, use_fonts
from injectmap.teaching import education

__all__ = ["POINT_HEADERS", "REPORT_SUFFIXES", "ReportOutputError", "check_output", "dose_rows", "finding_rows",
           "point_rows", "point_table_rows", "render_html", "render_pdf", "report_data", "totals_rows", "write_failure"]

#: the file kinds a report can be written as
REPORT_SUFFIXES = (".html", ".htm", ".pdf")


class ReportOutputError(UserFacing, OSError):
    """The report cannot be written where asked; ``exit_status`` is 2 for a wrong path (the user's to
    fix: a folder, a missing folder, an unknown extension) and 3 when the system refuses the write
    (permissions, a read-only or full disk)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.message, self.exit_status = message, exit_status

    def __str__(self) -> str:
        return self.message


def check_output(path: str | os.PathLike[str]) -> None:
    """Check that a report can be written at ``path``, before it is rendered (seconds of work).

    The folder must exist (it is never created silently), ``path`` must not be a folder, its extension
    must be one of :data:`REPORT_SUFFIXES`, and the folder must take a new file: a probe temporary file
    (``.<name>.*.tmp``, the name the atomic write uses) is created and removed.

    Raises
    ------
    ReportOutputError
        With the reason and the exit status to use.
    """
    p = os.path.abspath(os.fspath(path))
    name, folder = os.path.basename(p), os.path.dirname(p)
    if os.path.isdir(p):
        raise ReportOutputError(f"{path}: is a folder; give a file name ending in .html or .pdf", 2)
    if os.path.splitext(name)[1].lower() not in REPORT_SUFFIXES:
        raise ReportOutputError(f"report output must end in .html or .pdf, not {name!r}", 2)
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise ReportOutputError(f"{path}: the folder {folder} does not exist (it is not created; make it first)",
                                2) from None
    except OSError as exc:
        raise ReportOutputError(f"{path}: cannot use the folder {folder} ({exc.strerror or exc})", 3) from None
    if not stat.S_ISDIR(st.st_mode):
        raise ReportOutputError(f"{path}: {folder} is not a folder", 2)
    if os.path.exists(p) and not os.path.isfile(p):
        raise ReportOutputError(f"{path}: exists and is not a regular file; not replaced", 2)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ReportOutputError(f"{path}: cannot write in {folder} ({_reason(exc)})", 3) from None


def _reason(exc: OSError) -> str:
    """A short reason for a failed write (the system's words, or what the error number means)."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def write_failure(path: str | os.PathLike[str], exc: OSError) -> ReportOutputError:
    """The error to report when writing the rendered report failed (exit status 3)."""
    return ReportOutputError(f"{os.fspath(path)}: the report could not be written ({_reason(exc)}); "
                             "nothing was written there", 3)


#: the severities most severe first (the order of the summary's counts and of the findings table)
_WORST_FIRST = sorted(Severity, reverse=True)


def dose_rows(plan: Plan, model: Any = None, sides: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Units by targeted muscle and side, with the typical range and where the dose falls in it.

    Units are each point's own product units; ``ona_units`` (onabotulinumtoxinA-equivalent) are what
    the range is compared with. A bilateral muscle's range is per side; a midline one's is its total.
    A point's side is :func:`injectmap.planning.sides.plan_point_side`'s: ``sides`` (point id -> side, from the
    analysis's positions) when given, else the point's placement (a point with no target at x = +38.9 mm
    counts on the left, never in the midline column).
    """
    rows: dict[str, dict[str, Any]] = {}
    for p in plan.points:
        base = base_of(p.target) if p.target else "(no target)"
        r = rows.setdefault(base, {"muscle": base, "name": "", "left": 0.0, "right": 0.0, "midline": 0.0,
                                   "total": 0.0, "ona_left": 0.0, "ona_right": 0.0, "ona_midline": 0.0,
                                   "points": 0})
        side = (sides or {}).get(p.id) or plan_point_side(p)
        r[side] += float(p.units)
        r[f"ona_{side}"] += float(plan.ona_units_of(p))
        r["total"] += float(p.units)
        r["points"] += 1
    out = []
    for base, r in rows.items():
        rng = dose_range(base) if base != "(no target)" else None
        if model is not None and base != "(no target)":
            sided = next((s for s in (base, f"{base}_left", f"{base}_right") if s in model.structures), None)
            r["name"] = model.structures[sided].name if sided else base.replace("_", " ")
        else:
            r["name"] = base.replace("_", " ")
        if rng is None:
            r["typical"], r["status"] = "", ""
        else:
            per = "per side" if rng.per == "side" else "total"
            r["typical"] = f"{range_words(rng.typical_low_units, rng.typical_high_units)} {per}"
            doses = ([r["ona_left"], r["ona_right"]] if rng.per == "side"
                     else [r["ona_left"] + r["ona_right"] + r["ona_midline"]])
            classes = [rng.classify(u) for u in doses if u > 0]
            r["status"] = ", ".join(dict.fromkeys(classes))
        for k in ("left", "right", "midline", "total"):
            r[k] = round(r[k], 2)
        out.append(r)
    return out


def point_rows(analysis: PlanResult, model: Any = None) -> list[dict[str, Any]]:
    """One row per analysed point: dose, depth, where the tip is, target hit/reached, worst finding
    (``"danger"``, ``"caution"`` or ``"ok"``: info or none)."""
    rows = []
    for p in analysis.points:
        worst = p.worst
        rows.append({"id": p.id, "session": p.session, "units": p.units,
                     "depth_mm": p.depth_mm, "target": _name(model, p.target),
                     "tip_in": _name(model, p.tip_in) or p.tip_place(),
                     "target_hit": p.target_hit, "target_reached": p.target_reached,
                     "radius_mm": p.radius_mm, "worst": worst.value if worst and worst > Severity.INFO else "ok"})
    return rows


def _finding_row(point: str, f: Finding, model: Any) -> dict[str, Any]:
    return {"point": point, "severity": f.severity.value, "code": f.code, "structure": _name(model, f.structure),
            "distance_mm": f.distance_mm, "distance": distance_words(f.distance_mm), "message": f.message}


def finding_rows(analysis: PlanResult, model: Any = None) -> list[dict[str, Any]]:
    """Every finding (per point, then plan-level), most severe first, with its reason."""
    found = [(p.id, f) for p in analysis.points for f in p.findings] + [("(plan)", f) for f in analysis.findings]
    found.sort(key=lambda pf: -pf[1].severity.rank)  # stable: points in plan order within a severity
    return [_finding_row(pid, f, model) for pid, f in found]


def report_data(plan: Plan | Mapping[str, Any], analysis: PlanResult, model: Any = None,
                plan_name: str = "", generated: _dt.datetime | None = None) -> dict[str, Any]:
    """Everything a report shows, as plain data (JSON-serialisable); sources as readable references."""
    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    sides = {p.id: side_of_point(p.target, float(p.entry_mm[0])) for p in analysis.points}
    findings = finding_rows(analysis, model)
    counts = {s.value: sum(1 for f in findings if f["severity"] == s.value) for s in _WORST_FIRST}
    effects = education.transient_effects(plan)
    advice = education.aftercare()
    used = sorted({k for e in effects for k in e.sources} | {k for a in advice for k in a.sources}
                  | {k for k in education.timeline_source_keys()})
    return {
        "title": "Treatment chart",
        "plan": plan_name or analysis.plan,
        "patient": plan.patient or "",
        "generated": (generated or _dt.datetime.now()).strftime("%Y-%m-%d %H:%M"),
        "product": {"name": plan.product.name, "units_per_vial": plan.product.units_per_vial,
                    "diluent_ml": plan.product.diluent_ml},
        "model": {"name": analysis.model_name, "sha256": analysis.model_sha256},
        "summary": {"points": len(plan.points), "units": round(sum(float(p.units) for p in plan.points), 2),
                    "sessions": sorted({p.session_id for p in plan.points}), "findings": counts,
                    "errors": list(analysis.errors)},
        "doses": dose_rows(plan, model, sides),
        "points": point_rows(analysis, model),
        "findings": findings,
        "effects": [{"name": e.name, "plain": e.plain, "seek_help": e.seek_help, "sources": list(e.sources)}
                    for e in effects],
        "aftercare": [{"advice": a.advice, "why": a.why, "evidence": a.evidence, "sources": list(a.sources)}
                      for a in advice],
        "reminder": education.reminder(),
        "sources": [{"reference": r.text(), "url": r.url} for r in readable_references(used)],
        "disclaimer": DISCLAIMER,
    }


def _fill(word: str) -> str | None:
    """The display colour of a severity word of the report data (None for ``"ok"`` or anything else)."""
    return Severity(word).colour if word in {v.value for v in Severity} else None


# ------------------------------------------------------------------------------------------ HTML
def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _num(x: Any, nd: int = 1) -> str:
    if x is None or x == "":
        return ""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    return f"{v:.{nd}f}".rstrip("0").rstrip(".") if nd else f"{v:.0f}"


def _table(cls: str, headers: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _img(png: bytes, alt: str, cls: str = "picture") -> str:
    return f'<img class="{cls}" alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _template() -> Template:
    return Template(resources.files("injectmap.reports").joinpath("templates", "report.html").read_text(encoding="utf-8"))


def _record_html(record: ChartRecord | None, data: Mapping[str, Any]) -> str:
    """The record's heading facts (patient, visits, clinician, product, lot, expiry, dilution)."""
    if record is None:
        return f"<p>Patient: {_e(data.get('patient', ''))}</p>" if data.get("patient") else ""
    visits = "; ".join(f"{v.label}: {v.date or 'date not given'}" for v in record.visits)
    facts = [("Patient", record.patient or "not given"), ("Visit", visits), ("Clinician", record.clinician or "not given"),
             ("Product", record.product), ("Lot", ", ".join(record.lots) or "not given"),
             ("Expiry", record.expiry or "not given"), ("Dilution", record.dilution)]
    return '<table class="record">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts) + "</table>"


def _findings_words(findings: Sequence[tuple[str, str]]) -> list[str]:
    """A point's findings grouped by severity, most severe first: ``"caution: Supraorbital artery ..."``."""
    out = []
    for sev in _WORST_FIRST:
        items = [t for s, t in findings if s == sev.value]
        if items and sev > Severity.INFO:
            out.append(f"{sev.value}: " + "; ".join(items))
        elif items:
            out.append(f"info: {len(items)} (see Findings)")
    return out


def point_table_rows(record: ChartRecord) -> list[list[str]]:
    """The per-point table as text cells (No., point, target, side, depth, units, mL, lot, findings, note)."""
    return [[str(r.number), r.id, r.target or "(no target)", r.side, f"{r.depth_mm:.1f}", _num(r.units, 2),
             ml_text(r.volume_ml), r.lot, " | ".join(_findings_words(r.findings)),
             r.note] for r in record.rows]


POINT_HEADERS = ("No.", "Point", "Target", "Side", "Depth (mm)", "Units", "mL", "Lot", "Findings", "Note")


def totals_rows(record: ChartRecord) -> list[list[str]]:
    """Units, mL and vials per product."""
    return [[t.product, _num(t.units, 2), ml_text(t.volume_ml), f"{t.vials:.2f} of a {_num(t.units_per_vial, 0)} U vial"
             f" ({t.vials_opened} opened)"] for t in record.totals]


def render_html(data: Mapping[str, Any], pictures: Mapping[str, bytes] | None = None,
                timeline_svg: str = "", scene_html: str = "", record: ChartRecord | None = None,
                legend: Sequence[tuple[str, str]] = (), stills: Sequence[Any] = (), photo: Any = None) -> str:
    """The clinician's chart as one self-contained HTML page.

    Parameters
    ----------
    data : dict
        :func:`report_data` output.
    pictures : dict of str to bytes
        PNG pictures by caption (``"Front"``, ``"Left three-quarter"``), labelled.
    timeline_svg : str
        The timeline figure as inline SVG markup.
    scene_html : str
        A self-contained block with the interactive 3D scene (inserted as is), or ``""``.
    record : ChartRecord, optional
        The record page (:func:`reports.chart.chart_record`): the per-point table, totals, notes.
    legend : list of (colour, meaning)
        The pictures' colour legend.
    stills : list of reports.stills.Still
        The treated expression before, at two weeks and at three months (none: no section).
    photo : reports.photo_chart.PhotoPage, optional
        The chart on the patient's photo, the page's first section.
    """
    from injectmap.reports.photo_chart import page_html
    from injectmap.reports.stills import stills_html

    s = data["summary"]
    f = s["findings"]
    summary = (f"{s['points']} points, {_num(s['units'])} units of {_e(data['product']['name'])}. Findings: "
               f'<span class="sev danger">{f["danger"]} danger</span> '
               f'<span class="sev caution">{f["caution"]} caution</span> '
               f'<span class="sev info">{f["info"]} info</span>.')
    if s["errors"]:
        summary += '<div class="errors">' + "<br>".join(_e(e) for e in s["errors"]) + "</div>"
    pics = "".join(f'<figure>{_img(png, cap)}<figcaption>{_e(cap)}</figcaption></figure>'
                   for cap, png in (pictures or {}).items())
    legend_html = "".join(f'<li><span class="swatch" style="background:{_e(c)}"></span>{_e(t)}</li>' for c, t in legend)
    doses = _table("doses", ["Muscle", "Left (U)", "Right (U)", "Midline (U)", "Total (U)", "Points",
                             "Typical range", "Dose is"],
                   [[_e(r["name"]), _num(r["left"]) if r["left"] else "", _num(r["right"]) if r["right"] else "",
                     _num(r["midline"]) if r["midline"] else "", _num(r["total"]), str(r["points"]), _e(r["typical"]),
                     _e(r["status"])] for r in data["doses"]])
    if record is not None:
        points = _table("points", POINT_HEADERS, [[_e(c) for c in row] for row in point_table_rows(record)],
                        [r.worst for r in record.rows])
        totals = _table("totals", ["Product", "Units", "mL", "Vials"], [[_e(c) for c in row] for row in totals_rows(record)])
        notes = _e(record.notes) if record.notes else "None recorded."
    else:
        points = _table("points", ["Point", "Session", "Units", "Depth (mm)", "Target", "Tip in", "Worst"],
                        [[_e(p["id"]), _e(p["session"]), _num(p["units"]), f'{float(p["depth_mm"]):.1f}', _e(p["target"]),
                          _e(p["tip_in"]), _e(p["worst"])] for p in data["points"]], [p["worst"] for p in data["points"]])
        totals, notes = "", "None recorded."
    if data["findings"]:
        findings = _table("findings", ["Point", "Severity", "Structure", "Distance", "Why it matters"],
                          [[_e(r["point"]), f'<span class="sev {_e(r["severity"])}">{_e(r["severity"])}</span>',
                            _e(r["structure"]), _e(r["distance"]), _e(r["message"])] for r in data["findings"]],
                          [r["severity"] for r in data["findings"]])
    else:
        findings = '<p class="none">No findings: every point keeps its published margins in this model.</p>'
    effects = "".join(f'<li class="{"seek-help" if e["seek_help"] else ""}"><b>{_e(e["name"])}.</b> {_e(e["plain"])}</li>'
                      for e in data["effects"])
    aftercare = "".join(f'<li><b>{_e(a["advice"])}</b> {_e(a["why"])} <span class="evidence">(evidence: '
                        f'{_e(a["evidence"])})</span></li>' for a in data["aftercare"])
    sources = "".join(f'<li>{_e(r["reference"])}' + (f' <span class="url">{_e(r["url"])}</span>' if r["url"] else "")
                      + "</li>" for r in data["sources"])
    model = data.get("model", {})
    clinician = _e(record.clinician) if record is not None and record.clinician else ""
    return _template().substitute(
        title=_e(data["title"]), plan=_e(data["plan"]), generated=_e(data["generated"]),
        record=_record_html(record, data), legend=legend_html, totals=totals, notes=notes, clinician=clinician,
        model=_e(f"{model.get('name', '')} {str(model.get('sha256', ''))[:12]}"), disclaimer=_e(data["disclaimer"]),
        summary=summary, pictures=pics, scene=scene_html, doses=doses, points=points, findings=findings,
        timeline=timeline_svg, reminder=_e(data["reminder"]), effects=effects, aftercare=aftercare, sources=sources,
        stills=stills_html(stills), photo=page_html(photo) if photo is not None else "")


# ------------------------------------------------------------------------------------------- PDF
class _Pdf:
    """An A4 fpdf2 document with the report's text styles (headings, paragraphs, tables, pictures), in the
    fonts of :func:`reports.pdf_fonts.use_fonts`; ``text`` is its filter for every string it writes."""

    def __init__(self, title: str) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        self.text = use_fonts(self.pdf)
        self.pdf.set_auto_page_break(auto=True, margin=14)
        self.pdf.set_title(str(title))
        self.pdf.add_page()
        self.w = self.pdf.w - self.pdf.l_margin - self.pdf.r_margin

    def heading(self, text: str, size: int = 13, keep_mm: float = 25.0) -> None:
        """A heading, on a new page when fewer than ``keep_mm`` would follow it on this one."""
        if self.pdf.get_y() + 7 + keep_mm > self.pdf.h - self.pdf.b_margin:
            self.pdf.add_page()
        self.pdf.set_font(FAMILY, "B", size)
        self.pdf.multi_cell(self.w, 7, self.text(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font(FAMILY, "", 9)

    def para(self, text: str, style: str = "") -> None:
        self.pdf.set_font(FAMILY, style, 9)
        self.pdf.multi_cell(self.w, 4.6, self.text(text), new_x="LMARGIN", new_y="NEXT")

    def pictures(self, pictures: Mapping[str, bytes]) -> None:
        """Up to three pictures side by side, each with its caption."""
        import io

        pics = list(pictures.items())[:3]
        if not pics:
            return
        pdf = self.pdf
        pdf.ln(2)
        n = len(pics)
        pw = (self.w - (n - 1) * 3) / n
        y0 = pdf.get_y()
        ph = 0.0
        for i, (cap, png) in enumerate(pics):
            x = pdf.l_margin + i * (pw + 3)
            info = pdf.image(io.BytesIO(png), x=x, y=y0, w=pw)
            ph = max(ph, float(info.rendered_height))
            pdf.set_xy(x, y0 + float(info.rendered_height) + 0.5)
            pdf.set_font(FAMILY, "I", 8)
            pdf.cell(pw, 4, self.text(cap), align="C")
        pdf.set_xy(pdf.l_margin, y0 + ph + 6)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float],
              fills: Sequence[str | None] = ()) -> None:
        """A table; a row with a fill colour is shaded with a quarter of it."""
        from fpdf.fonts import FontFace

        self.pdf.set_font(FAMILY, "", 8)
        head = FontFace(emphasis="BOLD", fill_color=(225, 228, 235))
        # the text's width in each column (mm): the column's share of the table, less the cell's margins
        room = [w * self.w / sum(widths) - 2 * self.pdf.c_margin - 0.2 for w in widths]
        with self.pdf.table(col_widths=tuple(widths), headings_style=head, line_height=4.2, text_align="LEFT",
                            width=self.w) as t:
            r = t.row()
            for h in headers:
                r.cell(self.text(h))
            for i, row in enumerate(rows):
                colour = fills[i] if i < len(fills) else None
                r = t.row(style=_shade(colour) if colour else None)
                for v, width in zip(row, room, strict=False):
                    r.cell(self.wrap_at_underscores(self.text(v), width))
        self.pdf.ln(3)

    def wrap_at_underscores(self, text: str, width: float) -> str:
        """``text`` with a line break after a "_" wherever a word too wide for ``width`` (mm, in the current font)
        has one: fpdf2 would cut it at any letter ("mas_top_l" over "eft"); an id reads "mas_front_" over "left".
        A piece still too wide is left to fpdf2."""
        words = []
        for word in text.split(" "):
            if "_" not in word or self.pdf.get_string_width(word) <= width:
                words.append(word)
                continue
            lines = [""]
            for piece in re.findall(r"[^_]*_|[^_]+$", word):
                if lines[-1] and self.pdf.get_string_width(lines[-1] + piece) > width:
                    lines.append(piece)
                else:
                    lines[-1] += piece
            words.append("\n".join(lines))
        return " ".join(words)


def _shade(colour: str) -> Any:
    from fpdf.fonts import FontFace

    c = colour.lstrip("#")
    rgb = tuple(int(c[j:j + 2], 16) for j in (0, 2, 4))
    return FontFace(fill_color=tuple(int(255 - (255 - v) * 0.25) for v in rgb))


def _pdf_record(doc: _Pdf, record: ChartRecord | None, data: Mapping[str, Any]) -> None:
    """The record's facts as a two-column table."""
    if record is None:
        if data.get("patient"):
            doc.para(f"Patient: {data['patient']}")
        return
    visits = "; ".join(f"{v.label}: {v.date or 'date not given'}" for v in record.visits)
    facts = [("Patient", record.patient or "not given"), ("Visit", visits), ("Clinician", record.clinician or "not given"),
             ("Product", record.product), ("Lot", ", ".join(record.lots) or "not given"),
             ("Expiry", record.expiry or "not given"), ("Dilution", record.dilution)]
    doc.table(["Record", ""], [[k, v] for k, v in facts], [30, 152])


def _pdf_legend(doc: _Pdf, legend: Sequence[tuple[str, str]]) -> None:
    """Colour swatches with their meaning, two per line."""
    pdf = doc.pdf
    pdf.set_font(FAMILY, "", 8)
    col_w = doc.w / 2
    for i, (colour, text) in enumerate(legend):
        if i % 2 == 0 and i:
            pdf.ln(4.6)
        x = pdf.l_margin + (i % 2) * col_w
        c = colour.lstrip("#")
        rgb = tuple(int(c[j:j + 2], 16) for j in (0, 2, 4))
        pdf.set_fill_color(*rgb)
        pdf.set_draw_color(40, 40, 40)
        y = pdf.get_y()
        pdf.ellipse(x, y + 0.6, 3.2, 3.2, style="DF")
        pdf.set_xy(x + 4.5, y)
        pdf.cell(col_w - 5, 4.4, doc.text(text))
        pdf.set_xy(pdf.l_margin, y)
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(7)


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _pdf_view(doc: _Pdf, caption: str, view: LabelledView) -> None:
    """One labelled view, full width: the render as an image, its labels and leaders as PDF text and lines
    (searchable and sharp); a new page when it does not fit."""
    import io

    pdf = doc.pdf
    s = doc.w / view.canvas[0]
    ph = view.canvas[1] * s
    if pdf.get_y() + ph + 6 > pdf.h - pdf.b_margin:
        pdf.add_page()
    x0, y0 = pdf.l_margin, pdf.get_y()
    buf = io.BytesIO()
    view.image.save(buf, format="PNG", optimize=True)
    pdf.image(buf, x=x0 + view.offset[0] * s, y=y0 + view.offset[1] * s, w=view.image.size[0] * s)
    size_pt = view.font_px * s * 72 / 25.4
    line_mm = view.line_h * s
    for p in view.placed:
        lab = p.label
        ax, ay = x0 + lab.x * s, y0 + lab.y * s
        ex, ey = x0 + p.edge[0] * s, y0 + p.edge[1] * s
        point = lab.kind == "point"
        pdf.set_font(FAMILY, "B" if point else "", size_pt)
        tw = pdf.get_string_width(doc.text(lab.text))
        left = p.edge[0] < view.offset[0] + view.image.size[0] / 2
        tx = ex - 1.2 - tw if left else ex + 1.2
        ty = y0 + p.y * s
        pdf.set_line_width(0.25)
        pdf.set_draw_color(*((34, 34, 34) if point else (85, 85, 85)))
        if point:
            pdf.line(ex, ey, ax, ay)
            pdf.set_draw_color(*_rgb(lab.colour))
            pdf.set_line_width(0.5)
            pdf.set_fill_color(255, 255, 255)
            pdf.rect(tx - 0.6, ty - line_mm / 2 + 0.3, tw + 1.2, line_mm - 0.6, style="DF")
            pdf.set_fill_color(*_rgb(lab.colour))
            pdf.set_draw_color(0, 0, 0)
            pdf.set_line_width(0.25)
            r = max(4, view.font_px // 4) * s
            pdf.ellipse(ax - r, ay - r, 2 * r, 2 * r, style="DF")
        else:
            with pdf.local_context(dash_pattern={"dash": 0.8, "gap": 0.6}):
                pdf.line(ex, ey, ax, ay)
        pdf.set_text_color(*((17, 17, 17) if point else (68, 68, 68)))
        pdf.set_xy(tx, ty - line_mm / 2)
        pdf.cell(tw, line_mm, doc.text(lab.text))
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_line_width(0.2)
    pdf.set_xy(pdf.l_margin, y0 + ph + 0.5)
    pdf.set_font(FAMILY, "I", 8)
    pdf.cell(doc.w, 4, doc.text(caption), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _pdf_tables(doc: _Pdf, data: Mapping[str, Any], record: ChartRecord | None) -> None:
    """The per-point table, totals, dose table and findings."""
    if record is not None:
        doc.heading("Points")
        # an id wraps only after a "_" (_Pdf.wrap_at_underscores), in a column that fits "mas_top_left" whole
        doc.table(POINT_HEADERS, point_table_rows(record), [8, 20, 26, 12, 12, 10, 10, 13, 43, 28],
                  [_fill(r.worst) for r in record.rows])
        doc.heading("Totals")
        doc.table(["Product", "Units", "mL", "Vials"], totals_rows(record), [50, 22, 22, 88])
    else:
        doc.heading("Points")
        doc.table(["Point", "Units", "Depth", "Target", "Tip in", "Worst"],
                  [[p["id"], _num(p["units"]), f'{float(p["depth_mm"]):.1f}', p["target"], p["tip_in"], p["worst"]]
                   for p in data["points"]], [22, 14, 14, 56, 56, 20], [_fill(p["worst"]) for p in data["points"]])
    doc.heading("Dose by muscle and side")
    doc.table(["Muscle", "Left", "Right", "Midline", "Total", "Typical range", "Dose is"],
              [[r["name"], _num(r["left"]) if r["left"] else "", _num(r["right"]) if r["right"] else "",
                _num(r["midline"]) if r["midline"] else "", _num(r["total"]), r["typical"], r["status"]]
               for r in data["doses"]], [44, 13, 13, 15, 13, 44, 20])
    doc.heading("Findings (for the clinician)")
    if data["findings"]:
        doc.table(["Point", "Severity", "Structure", "Distance", "Why it matters"],
                  [[r["point"], r["severity"], r["structure"], r["distance"], r["message"]]
                   for r in data["findings"]], [21, 15, 33, 18, 95],
                  [_fill(r["severity"]) for r in data["findings"]])
    else:
        doc.para("No findings: every point keeps its published margins in this model.")


def _pdf_closing(doc: _Pdf, data: Mapping[str, Any], record: ChartRecord | None) -> None:
    """What the patient was told (effects, aftercare), notes, the signature line and the sources."""
    doc.heading("Passing effects explained to the patient")
    for e in data["effects"]:
        doc.para(f"- {e['name']}{' (seek help at once)' if e['seek_help'] else ''}: {e['plain']}")
    doc.pdf.ln(1)
    doc.heading("Aftercare given")
    for a in data["aftercare"]:
        doc.para(f"- {a['advice']} {a['why']} (evidence: {a['evidence']})")
    doc.pdf.ln(1)
    doc.heading("Notes")
    doc.para(record.notes if record is not None and record.notes else "None recorded.")
    doc.pdf.ln(2)
    if doc.pdf.get_y() > doc.pdf.h - 40:
        doc.pdf.add_page()
    doc.heading("Signature")
    clinician = record.clinician if record is not None else ""
    doc.para(f"Clinician: {clinician or '_' * 32}    Signature: {'_' * 32}    Date: {'_' * 14}")
    doc.pdf.ln(3)
    doc.heading("Sources", 11, keep_mm=10.0)
    doc.pdf.set_font(FAMILY, "", 7)
    for src in data["sources"]:
        doc.pdf.multi_cell(doc.w, 3.3, doc.text(src["reference"] + (f" {src['url']}" if src["url"] else "")), align="L",
                           new_x="LMARGIN", new_y="NEXT")


def render_pdf(data: Mapping[str, Any], pictures: Mapping[str, bytes] | None = None,
               timeline_png: bytes | None = None, record: ChartRecord | None = None,
               legend: Sequence[tuple[str, str]] = (), views: Mapping[str, LabelledView] | None = None,
               stills: Sequence[Any] = (), photo: Any = None) -> bytes:
    """The clinician's chart as PDF bytes (A4): record facts, labelled views with their legend, per-point
    table, totals, doses, findings, timeline, what the patient was told, notes, signature and sources.
    ``views`` (caption -> :class:`reports.figures.LabelledView`) are drawn with their labels as PDF text;
    without them the ``pictures`` (PNG bytes) are placed as they are.

    Every text goes through fpdf2's text cells (never markup), in DejaVu Sans with fallbacks for other
    scripts (:mod:`reports.pdf_fonts`).
    """
    import io

    doc = _Pdf(data["title"])
    if photo is not None:  # the chart on the patient's photo: the first page (reports.photo_chart)
        from injectmap.reports.photo_chart import pdf_page

        pdf_page(doc.pdf, photo, doc.w, doc.text)
        doc.pdf.add_page()
    doc.heading(data["title"], 16)
    doc.para(f"Plan: {data['plan']}    Generated: {data['generated']}")
    _pdf_record(doc, record, data)
    s = data["summary"]
    f = s["findings"]
    doc.para(f"{s['points']} points, {s['units']:g} units of {data['product']['name']}. "
             f"Findings: {f['danger']} danger, {f['caution']} caution, {f['info']} info.")
    doc.para(data["disclaimer"], "I")
    if legend:
        doc.pdf.ln(1)
        _pdf_legend(doc, legend)
    if views:
        for cap, view in views.items():
            _pdf_view(doc, cap, view)
    else:
        doc.pictures(pictures or {})
    _pdf_tables(doc, data, record)
    if timeline_png:
        if doc.pdf.get_y() > doc.pdf.h - 90:
            doc.pdf.add_page()
        doc.heading("Expected effect over time")
        doc.pdf.image(io.BytesIO(timeline_png), w=doc.w)
        doc.para(data["reminder"], "I")
    if stills:
        from injectmap.reports.stills import pdf_stills

        pdf_stills(doc.pdf, stills, doc.w, "How the treated expression is expected to change", doc.text)
    _pdf_closing(doc, data, record)
    return bytes(doc.pdf.output())
