"""The plan report: its data (tables, findings, patient information) and its HTML and PDF layout.

Pure: this module computes tables from a plan and its analysis (:func:`planning.check.check_plan`)
and lays out documents from pictures it is given as PNG/SVG bytes. Rendering the pictures and the
interactive 3D scene happens in :mod:`viewer.report_render`; ``injectmap report`` ties the two.

- :func:`report_data` -> a dict: summary, dose table by muscle and side, points, findings with
  their reasons, sessions, the patient information (transient effects, aftercare, reminder) and the
  sources used.
- :func:`render_html` -> a self-contained HTML page (pictures inlined as data URIs, CSS inline, no
  script, no network); ``scene_html`` (an already self-contained block) may be inserted.
- :func:`render_pdf` -> PDF bytes (fpdf2, core fonts): pictures, tables, findings, timeline.

Example
-------
>>> from injectmap.planning.check import check_plan               # doctest: +SKIP
>>> data = report_data(plan, check_plan(plan, model), model)   # doctest: +SKIP
>>> html = render_html(data, pictures={"front": png})    # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from collections.abc import Mapping, Sequence
from importlib import resources
from string import Template
from typing import Any

from injectmap.anatomy.ids import base_of, side_of
from injectmap.planning.doses import dose_range
from injectmap.planning.plan import Plan, parse_plan
from injectmap.teaching import education

__all__ = ["SEVERITY_ORDER", "dose_rows", "finding_rows", "point_rows", "render_html", "render_pdf", "report_data"]

SEVERITY_ORDER = {"danger": 0, "caution": 1, "info": 2}
SEVERITY_COLOURS = {"danger": "#d62728", "caution": "#ff9f1c", "info": "#4a90d9", "ok": "#2ca02c"}
DISCLAIMER = ("Population-average anatomy and a heuristic diffusion model: a planning and teaching aid, "
              "never a patient-specific safe distance.")


def _name(model: Any, sid: str | None) -> str:
    if not sid:
        return ""
    if model is not None and sid in getattr(model, "structures", {}):
        s = model.structures[sid]
        side = f" ({s.side})" if s.side in ("left", "right") else ""
        return f"{s.name}{side}"
    return sid.replace("_", " ")


def dose_rows(plan: Plan, model: Any = None) -> list[dict[str, Any]]:
    """Units by targeted muscle and side, with the typical range and where the dose falls in it.

    Units are each point's own product units; ``ona_units`` (onabotulinumtoxinA-equivalent) are what
    the range is compared with. A bilateral muscle's range is per side; a midline one's is its total.
    """
    rows: dict[str, dict[str, Any]] = {}
    for p in plan.points:
        base = base_of(p.target) if p.target else "(no target)"
        r = rows.setdefault(base, {"muscle": base, "name": "", "left": 0.0, "right": 0.0, "midline": 0.0,
                                   "total": 0.0, "ona_left": 0.0, "ona_right": 0.0, "ona_midline": 0.0,
                                   "points": 0})
        side = side_of(p.target) if p.target else "midline"
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
            r["typical"] = f"{rng.typical_low_units:g}-{rng.typical_high_units:g} U {per}"
            doses = ([r["ona_left"], r["ona_right"]] if rng.per == "side"
                     else [r["ona_left"] + r["ona_right"] + r["ona_midline"]])
            classes = [rng.classify(u) for u in doses if u > 0]
            r["status"] = ", ".join(dict.fromkeys(classes))
        for k in ("left", "right", "midline", "total"):
            r[k] = round(r[k], 2)
        out.append(r)
    return out


def point_rows(analysis: Mapping[str, Any], model: Any = None) -> list[dict[str, Any]]:
    """One row per analysed point: dose, depth, where the tip is, target hit/reached, worst finding."""
    rows = []
    for p in analysis.get("points", []):
        sev = min((f["severity"] for f in p.get("findings", [])), key=lambda s: SEVERITY_ORDER.get(s, 9),
                  default="ok")
        rows.append({"id": p["id"], "session": p.get("session", "initial"), "units": p["units"],
                     "depth_mm": p["depth_mm"], "target": _name(model, p.get("target")),
                     "tip_in": _name(model, p.get("tip_in")) or p.get("layer", ""),
                     "target_hit": bool(p.get("target_hit")), "target_reached": bool(p.get("target_reached")),
                     "radius_mm": p.get("radius_mm"), "worst": sev if sev != "info" else "ok"})
    return rows


def finding_rows(analysis: Mapping[str, Any], model: Any = None) -> list[dict[str, Any]]:
    """Every finding (per point, then plan-level), most severe first, with its reason."""
    rows = []
    for p in analysis.get("points", []):
        for f in p.get("findings", []):
            rows.append({"point": p["id"], "severity": f["severity"], "code": f["code"],
                         "structure": _name(model, f.get("structure")), "distance_mm": f.get("distance_mm"),
                         "message": f.get("message", "")})
    for f in analysis.get("findings", []):
        rows.append({"point": "(plan)", "severity": f["severity"], "code": f["code"],
                     "structure": _name(model, f.get("structure")), "distance_mm": f.get("distance_mm"),
                     "message": f.get("message", "")})
    rows.sort(key=lambda r: SEVERITY_ORDER.get(r["severity"], 9))
    return rows


def report_data(plan: Plan | Mapping[str, Any], analysis: Mapping[str, Any], model: Any = None,
                plan_name: str = "", generated: _dt.datetime | None = None) -> dict[str, Any]:
    """Everything a report shows, as plain data (JSON-serialisable)."""
    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    findings = finding_rows(analysis, model)
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITY_ORDER}
    effects = education.transient_effects(plan)
    advice = education.aftercare()
    used = sorted({k for e in effects for k in e.sources} | {k for a in advice for k in a.sources}
                  | {k for k in education.timeline_source_keys()})
    return {
        "title": "Injection plan report",
        "plan": plan_name or analysis.get("plan", ""),
        "patient": plan.patient or "",
        "generated": (generated or _dt.datetime.now()).strftime("%Y-%m-%d %H:%M"),
        "product": {"name": plan.product.name, "units_per_vial": plan.product.units_per_vial,
                    "diluent_ml": plan.product.diluent_ml},
        "model": dict(analysis.get("model", {})),
        "summary": {"points": len(plan.points), "units": round(sum(float(p.units) for p in plan.points), 2),
                    "sessions": sorted({p.session_id for p in plan.points}), "findings": counts,
                    "errors": list(analysis.get("errors", []))},
        "doses": dose_rows(plan, model),
        "points": point_rows(analysis, model),
        "findings": findings,
        "effects": [{"name": e.name, "plain": e.plain, "seek_help": e.seek_help, "sources": list(e.sources)}
                    for e in effects],
        "aftercare": [{"advice": a.advice, "why": a.why, "evidence": a.evidence, "sources": list(a.sources)}
                      for a in advice],
        "reminder": education.reminder(),
        "sources": [{"key": k, "citation": education.source(k).citation, "url": education.source(k).url}
                    for k in used],
        "disclaimer": DISCLAIMER,
    }


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


def render_html(data: Mapping[str, Any], pictures: Mapping[str, bytes] | None = None,
                timeline_svg: str = "", scene_html: str = "") -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    data : dict
        :func:`report_data` output.
    pictures : dict of str to bytes
        PNG pictures by caption (``"Front"``, ``"Left three-quarter"``).
    timeline_svg : str
        The timeline figure as inline SVG markup.
    scene_html : str
        A self-contained block with the interactive 3D scene (inserted as is), or ``""``.
    """
    s = data["summary"]
    f = s["findings"]
    summary = (f"{s['points']} points, {_num(s['units'])} units of {_e(data['product']['name'])} "
               f"({_num(data['product']['units_per_vial'], 0)} U in {_num(data['product']['diluent_ml'], 2)} mL); "
               f"sessions: {_e(', '.join(s['sessions']))}. Findings: "
               f'<span class="sev danger">{f["danger"]} danger</span> '
               f'<span class="sev caution">{f["caution"]} caution</span> '
               f'<span class="sev info">{f["info"]} info</span>.')
    if s["errors"]:
        summary += '<div class="errors">' + "<br>".join(_e(e) for e in s["errors"]) + "</div>"
    pics = "".join(f'<figure>{_img(png, cap)}<figcaption>{_e(cap)}</figcaption></figure>'
                   for cap, png in (pictures or {}).items())
    doses = _table("doses", ["Muscle", "Left (U)", "Right (U)", "Midline (U)", "Total (U)", "Points",
                             "Typical range", "Dose is"],
                   [[_e(r["name"]), _num(r["left"]) if r["left"] else "", _num(r["right"]) if r["right"] else "",
                     _num(r["midline"]) if r["midline"] else "", _num(r["total"]), str(r["points"]), _e(r["typical"]),
                     _e(r["status"])] for r in data["doses"]])
    points = _table("points", ["Point", "Session", "Units", "Depth (mm)", "Target", "Tip in", "Hit", "Reached",
                               "Radius (mm)", "Worst"],
                    [[_e(p["id"]), _e(p["session"]), _num(p["units"]), _num(p["depth_mm"]), _e(p["target"]),
                      _e(p["tip_in"]), "yes" if p["target_hit"] else "no", "yes" if p["target_reached"] else "no",
                      _num(p["radius_mm"]), f'<span class="sev {p["worst"]}">{_e(p["worst"])}</span>']
                     for p in data["points"]])
    if data["findings"]:
        findings = _table("findings", ["Point", "Severity", "Structure", "Distance (mm)", "Why it matters"],
                          [[_e(r["point"]), f'<span class="sev {r["severity"]}">{_e(r["severity"])}</span>',
                            _e(r["structure"]), _num(r["distance_mm"]), _e(r["message"])] for r in data["findings"]],
                          [r["severity"] for r in data["findings"]])
    else:
        findings = '<p class="none">No findings: every point keeps its published margins in this model.</p>'
    effects = "".join(
        f'<li class="{"seek-help" if e["seek_help"] else ""}"><b>{_e(e["name"])}.</b> {_e(e["plain"])} '
        f'<span class="src">[{_e(", ".join(e["sources"]))}]</span></li>' for e in data["effects"])
    aftercare = "".join(
        f'<li><b>{_e(a["advice"])}</b> {_e(a["why"])} <span class="evidence">(evidence: {_e(a["evidence"])})</span> '
        f'<span class="src">[{_e(", ".join(a["sources"]))}]</span></li>' for a in data["aftercare"])
    sources = "".join(f'<li><b>{_e(s["key"])}</b>: {_e(s["citation"])}'
                      + (f' <span class="url">{_e(s["url"])}</span>' if s["url"] else "") + "</li>"
                      for s in data["sources"])
    model = data.get("model", {})
    return _template().substitute(
        title=_e(data["title"]), plan=_e(data["plan"]), generated=_e(data["generated"]),
        patient=f"<p>Patient: {_e(data['patient'])}</p>" if data.get("patient") else "",
        model=_e(f"{model.get('name', '')} {str(model.get('sha256', ''))[:12]}"), disclaimer=_e(data["disclaimer"]),
        summary=summary, pictures=pics, scene=scene_html, doses=doses, points=points, findings=findings,
        timeline=timeline_svg, reminder=_e(data["reminder"]), effects=effects, aftercare=aftercare, sources=sources)


# ------------------------------------------------------------------------------------------- PDF
_PDF_REPLACE = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                "\u2026": "...", "\u00a0": " ", "\u2265": ">=", "\u2264": "<="}


def _latin1(text: Any) -> str:
    t = "" if text is None else str(text)
    for a, b in _PDF_REPLACE.items():
        t = t.replace(a, b)
    return t.encode("latin-1", "replace").decode("latin-1")


def render_pdf(data: Mapping[str, Any], pictures: Mapping[str, bytes] | None = None,
               timeline_png: bytes | None = None) -> bytes:
    """The report as PDF bytes (A4): pictures, dose table, points, findings, timeline, patient information."""
    import io

    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.set_title(_latin1(data["title"]))
    pdf.add_page()
    w = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: int = 13) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(w, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    def para(text: str, style: str = "") -> None:
        pdf.set_font("Helvetica", style, 9)
        pdf.multi_cell(w, 4.6, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    heading(data["title"], 16)
    para(f"Plan: {data['plan']}    Generated: {data['generated']}")
    if data.get("patient"):
        para(f"Patient: {data['patient']}")
    s = data["summary"]
    f = s["findings"]
    para(f"{s['points']} points, {s['units']:g} units of {data['product']['name']}; sessions: "
         f"{', '.join(s['sessions'])}. Findings: {f['danger']} danger, {f['caution']} caution, {f['info']} info.")
    para(data["disclaimer"], "I")
    pics = list((pictures or {}).items())
    if pics:
        pdf.ln(2)
        n = min(len(pics), 3)
        pw = (w - (n - 1) * 3) / n
        y0 = pdf.get_y()
        ph = 0.0
        for i, (cap, png) in enumerate(pics[:3]):
            x = pdf.l_margin + i * (pw + 3)
            info = pdf.image(io.BytesIO(png), x=x, y=y0, w=pw)
            ph = max(ph, float(info.rendered_height))
            pdf.set_xy(x, y0 + float(info.rendered_height) + 0.5)
            pdf.set_font("Helvetica", "I", 8)
            pdf.cell(pw, 4, _latin1(cap), align="C")
        pdf.set_xy(pdf.l_margin, y0 + ph + 6)

    def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float],
              fills: Sequence[str | None] = ()) -> None:
        pdf.set_font("Helvetica", "", 8)
        head = FontFace(emphasis="BOLD", fill_color=(225, 228, 235))
        with pdf.table(col_widths=tuple(widths), headings_style=head, line_height=4.2, text_align="LEFT",
                       width=w) as t:
            r = t.row()
            for h in headers:
                r.cell(_latin1(h))
            for i, row in enumerate(rows):
                colour = fills[i] if i < len(fills) else None
                style = None
                if colour:
                    c = colour.lstrip("#")
                    rgb = tuple(int(c[j:j + 2], 16) for j in (0, 2, 4))
                    style = FontFace(fill_color=tuple(int(255 - (255 - v) * 0.25) for v in rgb))
                r = t.row(style=style)
                for v in row:
                    r.cell(_latin1(v))
        pdf.ln(3)

    heading("Dose by muscle and side")
    table(["Muscle", "Left", "Right", "Midline", "Total", "Typical range", "Dose is"],
          [[r["name"], _num(r["left"]) if r["left"] else "", _num(r["right"]) if r["right"] else "",
            _num(r["midline"]) if r["midline"] else "", _num(r["total"]), r["typical"], r["status"]]
           for r in data["doses"]], [44, 13, 13, 15, 13, 44, 20])
    heading("Points")
    table(["Point", "Units", "Depth", "Target", "Tip in", "Hit", "Worst"],
          [[p["id"], _num(p["units"]), _num(p["depth_mm"]), p["target"], p["tip_in"],
            "yes" if p["target_hit"] else "no", p["worst"]] for p in data["points"]],
          [20, 12, 13, 50, 50, 10, 18], [SEVERITY_COLOURS.get(p["worst"]) if p["worst"] != "ok" else None
                                         for p in data["points"]])
    heading("Findings")
    if data["findings"]:
        table(["Point", "Severity", "Structure", "mm", "Why it matters"],
              [[r["point"], r["severity"], r["structure"], _num(r["distance_mm"]), r["message"]]
               for r in data["findings"]], [16, 17, 38, 11, 100],
              [SEVERITY_COLOURS.get(r["severity"]) for r in data["findings"]])
    else:
        para("No findings: every point keeps its published margins in this model.")
    if timeline_png:
        if pdf.get_y() > pdf.h - 90:
            pdf.add_page()
        heading("Expected effect over time")
        pdf.image(io.BytesIO(timeline_png), w=w)
        para(data["reminder"], "I")
    pdf.add_page()
    heading("Common passing effects")
    for e in data["effects"]:
        para(f"- {e['name']}{' (seek help at once)' if e['seek_help'] else ''}: {e['plain']} "
             f"[{', '.join(e['sources'])}]")
    pdf.ln(2)
    heading("Aftercare")
    for a in data["aftercare"]:
        para(f"- {a['advice']} {a['why']} (evidence: {a['evidence']}) [{', '.join(a['sources'])}]")
    pdf.ln(2)
    heading("Sources")
    for src in data["sources"]:
        para(f"{src['key']}: {src['citation']}" + (f" {src['url']}" if src["url"] else ""))
    return bytes(pdf.output())
