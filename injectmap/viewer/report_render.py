"""Pictures, timeline figure and interactive 3D scene for the plan report; ``injectmap report``.

:mod:`reports.report` computes the report's tables and lays out the HTML and the PDF from bytes;
this module makes those bytes (off-screen PyVista renders, the matplotlib timeline) and the
self-contained 3D scene: Panel's VTK pane in a page assembled from the installed packages' scripts
(:func:`inline_bundle`), its stylesheets as data URIs, so that the page makes no network request.
Nothing here switches Bokeh's or Panel's process-wide resource mode (Panel's ``save`` does), so a
report made inside the server never changes what the server's other pages load.

Example
-------
>>> timings = build_report("plan.json", "report.html")   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402

from injectmap.anatomy.errors import UserFacing  # noqa: E402
from injectmap.anatomy.fileio import atomic_write_bytes  # noqa: E402
from injectmap.planning.check import check_plan  # noqa: E402
from injectmap.planning.plan import DEFAULT_SESSION, Plan, load_plan, parse_plan  # noqa: E402
from injectmap.planning.results import PlanResult, Severity  # noqa: E402
from injectmap.reports import chart  # noqa: E402
from injectmap.reports import handout as hand  # noqa: E402
from injectmap.reports import report as rep  # noqa: E402
from injectmap.reports.figures import Label, LabelledView, label_view, timeline_figure  # noqa: E402
from injectmap.teaching.timeline import AreaCurve  # noqa: E402


class DocumentError(UserFacing, ValueError):
    """The document cannot be made of this plan as asked; the message says why (the app shows it)."""


#: pictures of the report: caption -> camera view
PICTURE_VIEWS: dict[str, str] = {"Front (the patient's right is on the left of the picture)": "front",
                                 "Left three-quarter (the patient's left side)": "three_quarter_left",
                                 "Right three-quarter (the patient's right side)": "three_quarter_right"}
PICTURE_SIZE = (1000, 900)
SCENE_SIZE = (960, 640)
#: the report camera is closer than the app's default (the face fills the picture)
PICTURE_DISTANCE_MM = 400.0
#: Panel's stylesheet links: to its CDN, or to a server's own copy (``static/extensions/panel/``: in a served
#: process Panel's stylesheets never name the CDN, :func:`viewer.server.force_local_resources`)
_CDN = re.compile(r"(?:https://cdn\.holoviz\.org/panel/[^/\"'\s]+/dist/|(?<![\w/.-])static/extensions/panel/)"
                  r"([^\"'\s?\\]+)(?:\?v=[^\"'\s\\]*)?")


def glyphs(analysis: PlanResult) -> list[Any]:
    """Point glyphs (tip, needle, inner and outer sphere, worst severity) from ``check_plan``'s result."""
    from injectmap.viewer.scene import PointGlyph, worst_severity

    return [PointGlyph(id=p.id, entry_mm=p.entry_mm, tip_mm=p.tip_mm, inner_mm=p.radius_inner_mm,
                       outer_mm=p.radius_outer_mm, severity=worst_severity(p.findings)) for p in analysis.points]


def report_scene(model: Any, analysis: PlanResult, window_size: Sequence[int] = PICTURE_SIZE) -> Any:
    """An off-screen :class:`viewer.scene.Scene` with the plan's points drawn."""
    import pyvista as pv

    from injectmap.viewer.scene import Scene

    pv.OFF_SCREEN = True
    scene = Scene(model, window_size=(int(window_size[0]), int(window_size[1])))
    scene.set_points(glyphs(analysis))
    return scene


def _view(scene: Any, view: str) -> None:
    from injectmap.viewer.scene import VIEW_DIRECTIONS

    d = np.asarray(VIEW_DIRECTIONS[view], float)
    focal = scene.centre.copy()
    focal[1] -= 15.0  # the face, not the top of the head
    scene.look_at(focal, d, PICTURE_DISTANCE_MM)


def pictures(scene: Any, views: Mapping[str, str] = PICTURE_VIEWS,
             overlay: Callable[[Any, str, np.ndarray], Any] | None = None) -> dict[str, bytes]:
    """PNG renders of the scene by caption; ``overlay(scene, view, image)`` may return a labelled image."""
    from PIL import Image

    out = {}
    for caption, view in views.items():
        _view(scene, view)
        img = scene.screenshot()
        pic = overlay(scene, view, img) if overlay is not None else Image.fromarray(img)
        buf = io.BytesIO()
        pic.save(buf, format="PNG", optimize=True)
        out[caption] = buf.getvalue()
    return out


def _facing(normal: np.ndarray, view: str) -> float:
    from injectmap.viewer.scene import VIEW_DIRECTIONS

    d = np.asarray(VIEW_DIRECTIONS[view], float)
    return float(normal @ (d / np.linalg.norm(d)))


def chart_labels(scene: Any, view: str, rows: Sequence[chart.ChartRow], analysis: PlanResult, model: Any,
                 structure_labels: bool = True) -> list[Label]:
    """The labels of one view: every point whose skin faces the camera (number and units, coloured by its
    worst finding) and, when asked, the targeted muscles and the structures a caution or danger names."""
    from injectmap.viewer.scene import SEVERITY_COLOURS

    cos = chart.chart_settings().facing_cosine
    out: list[Label] = []
    for r in rows:
        n = np.subtract(r.entry_mm, r.tip_mm)
        n = n / (np.linalg.norm(n) or 1.0)
        if _facing(n, view) < cos:
            continue
        x, y = scene.to_display([r.entry_mm])[0]
        out.append(Label(float(x), float(y), r.label, SEVERITY_COLOURS.get(r.worst, "#333333"), "point"))
    if not structure_labels:
        return out
    anchors: dict[str, np.ndarray] = {}
    for r in rows:
        if r.target_id:
            anchors.setdefault(r.target_id, np.asarray(r.tip_mm, float))
    for p in analysis.points:
        for f in p.findings:
            if f.structure and f.severity > Severity.INFO and f.closest_mm and len(f.closest_mm) >= 3:
                anchors.setdefault(f.structure, np.asarray(f.closest_mm[:3], float))
    centre = np.asarray(scene.centre, float)
    for sid, a in anchors.items():
        out_dir = (a - centre) / (np.linalg.norm(a - centre) or 1.0)
        if _facing(out_dir, view) < 0.0:
            continue
        x, y = scene.to_display([a])[0]
        out.append(Label(float(x), float(y), chart.structure_name(model, sid), "#555555", "structure"))
    return out


def structure_legend(model: Any) -> dict[str, str]:
    """The structure colours the pictures show, by kind (the first structure's colour of each kind)."""
    names = {"muscle": "Muscles (shades of red-brown, each muscle its own)", "artery": "Arteries",
             "vein": "Veins", "nerve": "Nerves", "gland": "Parotid gland", "duct": "Parotid duct"}
    out: dict[str, str] = {}
    for s in getattr(model, "structures", {}).values():
        kind = getattr(s, "kind", "")
        if kind in names and names[kind] not in out:
            out[names[kind]] = str(s.colour)
    return out




def timeline_images(plan: Plan | Sequence[AreaCurve]) -> tuple[str, bytes]:
    """The timeline figure (of a plan, or of its bands as given) as inline SVG markup and as PNG bytes."""
    fig = timeline_figure(plan if isinstance(plan, Plan) else list(plan))
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=150)
    text = svg.getvalue()
    text = text[text.find("<svg"):]  # drop the XML prolog and doctype: inline in HTML
    return text, png.getvalue()


def inline_panel_cdn(html_text: str) -> str:
    """Replace Panel's CDN stylesheet links by data URIs of the installed package's files."""
    import panel as pn

    dist = Path(pn.__file__).parent / "dist"

    def repl(m: re.Match[str]) -> str:
        f = dist / m.group(1)
        if not f.is_file():
            return m.group(0)
        mime = "text/css" if f.suffix == ".css" else "application/octet-stream"
        return f"data:{mime};base64,{base64.b64encode(f.read_bytes()).decode()}"

    return _CDN.sub(repl, html_text)


def inline_bundle() -> Any:
    """The scripts a standalone page of Panel's VTK pane needs, read from the installed packages: Bokeh's
    libraries, vtk.js and Panel's extension (a :class:`bokeh.embed.bundle.Bundle`).

    Built here because Panel's ``save(resources=INLINE)`` (and its ``bundle_resources``) switch Bokeh's
    and Panel's process-wide resource mode while they run: a page that a server in the same process
    rendered meanwhile linked its scripts and stylesheets from the internet. Nothing here writes a
    setting of Bokeh or Panel.
    """
    import panel as pn
    from bokeh.embed.bundle import Bundle
    from bokeh.resources import Resources
    from panel.io.resources import CDN_DIST, LOCAL_DIST, bundled_files
    from panel.models.vtk import AbstractVTKPlot

    dist = Path(pn.__file__).parent / "dist"
    bokeh = Resources(mode="inline", components=["bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables"])
    js = list(bokeh.js_raw)
    for url in bundled_files(AbstractVTKPlot):  # type: ignore[arg-type]  # vtk.js, in whichever mode is in force
        rel = url.split("?")[0].removeprefix(CDN_DIST).removeprefix(LOCAL_DIST)
        js.append((dist / rel).read_text(encoding="utf-8"))
    js.append((dist / "panel.min.js").read_text(encoding="utf-8"))
    return Bundle(js_files=[], js_raw=js, css_files=[], css_raw=list(bokeh.css_raw), hashes={})


def scene_html(scene: Any) -> str:
    """The interactive 3D scene as a self-contained block (scripts, styles and the vtk.js pane).

    The page is assembled from :func:`inline_bundle` and the pane's document, never with Panel's
    ``save``, so that no global resource mode changes while it is made (a server in the same process
    keeps serving its own files); Panel's stylesheets become data URIs (:func:`inline_panel_cdn`).
    """
    import panel as pn
    from bokeh.document import Document
    from bokeh.embed.elements import html_page_for_render_items
    from bokeh.embed.util import OutputDocumentFor, standalone_docs_json_and_render_items
    from panel.io.resources import CDN_DIST
    from panel.io.state import set_curdoc

    _view(scene, "front")
    doc = Document()
    doc._template_variables["dist_url"] = CDN_DIST  # Panel's stylesheets by their package path, made data URIs below
    # this thread's current document, for Panel: else it takes the document that Bokeh's server has made
    # current for the whole process (a session's), and puts the report's stylesheets in that session's cache.
    # The pane is made under it too: Panel's objects read the current document as they are made, and the
    # process's one comes and goes with the server's sessions (checked, then gone: "'NoneType' object has no
    # attribute 'session_context'", once under load)
    with set_curdoc(doc):
        pane = pn.pane.VTK(scene.plotter.ren_win, width=SCENE_SIZE[0], height=SCENE_SIZE[1],
                           orientation_widget=False, enable_keybindings=False, css_classes=["report-scene"])
        layout = pn.Column(pane)
        root = layout.get_root(doc)
        doc.add_root(root)
        try:
            with OutputDocumentFor([root], apply_theme=None, always_new=False):
                docs_json, items = standalone_docs_json_and_render_items([root], suppress_callback_warning=True)
        finally:
            layout._cleanup(root)
    text = inline_panel_cdn(html_page_for_render_items(inline_bundle(), docs_json, items, title="scene"))
    head_end = text.find("</head>")
    head = text[text.find("<head>") + 6:head_end]
    first = head.find("<script")  # strip the page's own title and meta tags, never text inside scripts
    first = len(head) if first < 0 else first
    head = re.sub(r"<title>[^<]*</title>|<meta[^>]*>", "", head[:first]) + head[first:]
    body = text[text.find(">", text.find("<body", head_end)) + 1:text.rfind("</body>")]
    return head + body


def _noop(_message: str) -> None:
    pass


def render_document(plan: Plan, model: Any, kind: str = ".pdf", plan_name: str = "",
                    context: chart.ChartContext | None = None, handout: bool = False, interactive: bool = True,
                    progress: Callable[[str], None] = _noop, timings: dict[str, float] | None = None,
                    photo: Any = None) -> bytes:
    """The chart (or, with ``handout``, the patient handout) of an in-memory plan as ``.pdf`` or ``.html`` bytes.

    ``progress`` is told each stage (the app shows it); ``timings`` receives the seconds of each stage.
    ``photo`` (:class:`reports.photo_chart.PhotoInput`, for the chart only) puts the plan on the patient's
    photo as the first page; ``model`` must then be the face fitted to that photo.

    Raises
    ------
    ValueError
        A plan that cannot be placed on the model.
    """
    t = timings if timings is not None else {}
    ctx = context or chart.ChartContext()
    t1 = time.perf_counter()
    if handout:
        progress("Writing the handout...")
        h = chart.handout_data(plan, ctx)
        svg, png = timeline_images(chart.handout_curves(plan, ctx))  # counted from this visit, as its dates
        t["timeline_s"] = time.perf_counter() - t1
        stills = _stills(model, plan, progress, t, chart.visit_start_day(plan, ctx))  # and the stills too
        if kind == ".pdf":
            return hand.render_handout_pdf(h, png, stills)
        return hand.render_handout_html(h, svg, stills).encode("utf-8")
    progress("Analysing the plan...")
    analysis = check_plan(plan, model, plan_name or "plan")
    if analysis.errors:
        raise DocumentError("the plan cannot be analysed: " + "; ".join(analysis.errors))
    data = rep.report_data(plan, analysis, model, plan_name=plan_name)
    record = chart.chart_record(plan, analysis, model, ctx)
    t["analysis_s"] = time.perf_counter() - t1
    page = None
    if photo is not None:
        from injectmap.reports.photo_chart import photo_page

        t1 = time.perf_counter()
        progress("Drawing the plan on the photo...")
        page = photo_page(photo, model, analysis)
        t["photo_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    progress("Drawing the three views...")
    scene = report_scene(model, analysis)
    try:
        views: dict[str, LabelledView] = {}
        captions = {v: c for c, v in PICTURE_VIEWS.items()}

        def overlay(sc: Any, view: str, img: np.ndarray) -> Any:
            lv = label_view(img, chart_labels(sc, view, record.rows, analysis, model, ctx.structure_labels))
            views[captions.get(view, view)] = lv
            return lv.render()

        pics = pictures(scene, overlay=overlay)
        t["pictures_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        svg, png = timeline_images(plan)
        t["timeline_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        from injectmap.viewer.scene import SEVERITY_COLOURS

        legend = legend_items_for(model, SEVERITY_COLOURS)
        stills = _stills(model, plan, progress, t)
        t1 = time.perf_counter()
        progress("Laying out the document...")
        if kind == ".pdf":
            payload = rep.render_pdf(data, pics, png, record, legend, views=views, stills=stills, photo=page)
        else:
            block = ""
            if interactive:
                scene.plotter.window_size = list(SCENE_SIZE)
                block = scene_html(scene)
            payload = rep.render_html(data, pics, svg, block, record, legend, stills=stills,
                                      photo=page).encode("utf-8")
    finally:
        scene.close()
    t["document_s"] = time.perf_counter() - t1
    return payload


def _stills(model: Any, plan: Plan, progress: Callable[[str], None], t: dict[str, float],
            start_day: float = 0.0) -> list[Any]:
    """The treated expression's stills (reports.stills) counted from the visit ``start_day`` days after the plan's
    initial session, or none when the plan changes no expression."""
    from injectmap.reports.stills import expression_stills

    t1 = time.perf_counter()
    progress("Drawing the expression before and after...")
    try:
        stills = expression_stills(model, plan, start_day=start_day)
    except ValueError:  # a point that cannot be placed (PlacementError): the document goes without stills
        stills = []
    t["stills_s"] = time.perf_counter() - t1
    return stills


def legend_items_for(model: Any, severity_colours: Mapping[str, str]) -> list[tuple[str, str]]:
    """The chart legend: dot colours, then the colours of the structures shown."""
    from injectmap.reports.figures import legend_items

    return legend_items(severity_colours, structure_legend(model))


def build_report(plan_path: str | Path, out_path: str | Path, model: Any = None, interactive: bool = True,
                 context: chart.ChartContext | None = None, handout: bool = False,
                 photo: str | Path | None = None) -> dict[str, float]:
    """Write ``out_path`` (``.html`` or ``.pdf``) for the plan file: the clinician's chart, or with
    ``handout`` the patient handout; returns timings in seconds. With ``photo`` (a photo the plan's
    ``model.face`` was fitted to) the chart's first page is the plan on that photo, on the fitted face,
    and the file is written owner-only (it holds the patient's photo).

    Raises
    ------
    planning.plan.PlanError
        On a bad plan file.
    ValueError
        On an unknown output extension, a session (``context.session``) the plan does not have (a typing slip
        on the command line; the app leaves such a visit to the plan's own rules), or a plan that cannot be placed
        on the model.
    """
    t0 = time.perf_counter()
    out_path = Path(out_path)
    kind = out_path.suffix.lower()
    if kind not in (".html", ".htm", ".pdf"):
        raise DocumentError(f"report output must end in .html or .pdf, not {out_path.name!r}")
    plan = load_plan(plan_path)
    sessions = [DEFAULT_SESSION, *(s.id for s in plan.sessions or ())]
    if context is not None and context.session and context.session not in sessions:
        raise DocumentError(f"the plan has no session {context.session!r} (its sessions: {', '.join(sessions)})")
    photo_in = None
    if photo is not None:
        photo_in, fitted = _photo_for_plan(plan, photo, handout)
        model = fitted if model is None else model
    if model is None:
        # the face the plan names (its sex, shape and fitted face), as `injectmap check` places it
        from injectmap.anatomy.params import FaceParamsError
        from injectmap.planning.check import model_for_plan

        try:
            model = model_for_plan(plan)
        except FaceParamsError as exc:
            raise DocumentError(f"the plan's face cannot be built: {exc}") from None
    t = {"load_s": time.perf_counter() - t0}
    payload = render_document(plan, model, ".pdf" if kind == ".pdf" else ".html", str(plan_path), context, handout,
                              interactive, timings=t, photo=photo_in)
    # a missing folder is an error, never created silently; a report with a photo is owner-only
    atomic_write_bytes(out_path, payload, mode=0o600 if photo_in is not None else None)
    t["total_s"] = time.perf_counter() - t0
    t["bytes"] = float(len(payload))
    return t


def _photo_for_plan(plan: Plan, photo: str | Path, handout: bool) -> tuple[Any, Any]:
    """The photo (checked against the plan's face file) and the fitted face it shows."""
    from injectmap.anatomy.params import FaceParamsError
    from injectmap.planning.check import model_for_plan
    from injectmap.reports.photo_chart import PhotoChartError, photo_input

    if handout:
        raise DocumentError("--photo goes with the clinician's chart, not the handout")
    face = getattr(plan.model, "face", None) if plan.model is not None else None
    if not face:
        raise DocumentError("the plan names no face file (model.face): fit the photo with 'injectmap face fit' and "
                         "name the face in the plan to chart on the photo")
    try:
        photo_in = photo_input(photo, face)
        fitted = model_for_plan(plan)
    except (PhotoChartError, FaceParamsError) as exc:
        raise DocumentError(f"cannot chart on the photo: {exc}") from None
    from injectmap.anatomy.params import FaceParams

    params = FaceParams.from_plan_model(plan.model)
    if params != FaceParams(fit=params.fit, offsets=params.offsets):
        # the photo's camera was recovered on the fitted face alone: another sex or shape moves the head
        raise DocumentError("cannot chart on the photo: the plan's face adds sex or shape settings to the fitted "
                         "face; the photo's camera fits the fitted face alone (remove model.sex and model.shape)")
    return photo_in, fitted


def report_for_plan(plan: Plan | Mapping[str, Any], model: Any, out_path: str | Path,
                    context: chart.ChartContext | None = None, handout: bool = False) -> dict[str, float]:
    """:func:`build_report` for an in-memory plan (notebooks, tests)."""
    from injectmap.planning.plan import save_plan

    plan = plan if isinstance(plan, Plan) else parse_plan(plan)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "plan.json"
        save_plan(plan, p)
        return build_report(p, out_path, model=model, context=context, handout=handout)
