"""The clinician's chart (record page, numbered points, totals) and the patient handout, as typed data.

Pure: from a plan, its analysis (:func:`planning.check.check_plan`) and a :class:`ChartContext` (what
the plan file does not hold: the clinician, the vial's expiry and dilution, notes), this module computes
what the chart and the handout show. Pictures and page layout are elsewhere
(:mod:`viewer.report_render` draws the labelled views; :mod:`reports.report` and
:mod:`reports.handout` lay out HTML and PDF).

- :func:`chart_rows` -> one :class:`ChartRow` per point, numbered in plan order: target, side (from the
  point's position when it has no target), depth, units, mL, lot, findings by severity, note.
- :func:`chart_totals` -> units, mL and vials per product (counted by planning.totals, the same values the
  analysis computes).
- :func:`chart_record` -> the whole record page (:class:`ChartRecord`).
- :func:`handout_data` -> the patient handout (:class:`Handout`): areas in plain words, the timeline
  as calendar dates from the visit date, aftercare, warning signs and readable references; no
  clinician findings, no point ids, no citation keys, no internal file.
- :func:`visit_session` -> which of the plan's sessions the visit is (as the records or the caller say, else
  by the plan's dates; a touch-up visit's plan holds the touch-up alone); :func:`handout_curves` -> the
  timeline's bands counted from that visit (day 0), :func:`visit_start_day` -> that day from the initial one.

The numbers (which sources are internal, the readable references) are in ``reports/data/chart.yaml``
with their reasons; a point's side is decided by :mod:`injectmap.planning.sides` (its band in
``planning/data/sides.yaml``), as for every other count by side.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from pydantic import Field, PositiveInt

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import side_of
from injectmap.planning.datafiles import load_model
from injectmap.planning.plan import DEFAULT_SESSION, SESSION_ID_RE, Plan
from injectmap.planning.products import UnknownProductError, product_info
from injectmap.planning.results import PlanResult, PointResult, Severity
from injectmap.planning.sides import point_side as sides_point_side
from injectmap.planning.sides import side_of_x
from injectmap.planning.totals import dose_totals
from injectmap.teaching import education
from injectmap.teaching import timeline as tl_mod

__all__ = ["ChartContext", "ChartRecord", "ChartRow", "ChartTotals", "Handout", "HandoutArea", "Reference",
           "TimelineRow", "Visit", "chart_record", "chart_rows", "chart_settings", "chart_totals", "distance_words",
           "handout_curves", "handout_data", "point_side", "readable_references", "structure_label_ids",
           "visit_session", "visit_start_day", "visits"]

DATA_FILE = "chart.yaml"


class _Reference(DataModel):
    authors: str
    title: str
    year: PositiveInt | None = None
    where: str = ""


class ChartFile(DataModel):
    """``reports/data/chart.yaml``."""

    version: PositiveInt
    facing_cosine: float = Field(ge=-1.0, le=1.0)
    internal_sources: list[str]
    references: dict[str, _Reference]


@lru_cache(maxsize=1)
def chart_settings() -> ChartFile:
    """The validated data file (cached)."""
    return load_model(DATA_FILE, ChartFile, "injectmap.reports")


@dataclass(frozen=True)
class ChartContext:
    """What a chart records beyond the plan file; the app, the CLI and the clinic records fill it.

    Attributes
    ----------
    clinician : str
        Who treats (printed on the record page and by the signature line).
    visit_date : str
        ISO date of the visit (``YYYY-MM-DD``), the date of the plan's session the visit is
        (:func:`visit_session`) whatever the plan says; ``""``: that session's date in the plan, else today.
    session : str
        The plan's session the visit is, as the records (the visit's kind) or the caller say: ``"initial"`` for a
        first visit, ``"touch_up"`` for a touch-up, even where the visit date is another session's day in the plan
        (a postponed visit); ``""``: the plan decides (:func:`visit_session`).
    lot : str
        The vial's lot, for points that carry none of their own.
    expiry : str
        The vial's expiry date, as written on it.
    dilution : str
        The reconstitution as prepared (``""``: the plan's product, e.g. "2.5 mL per 100 U vial").
    notes : str
        Free notes of the visit.
    structure_labels : bool
        Name the targeted muscles and the structures a finding names in the pictures.
    """

    clinician: str = ""
    visit_date: str = ""
    session: str = ""
    lot: str = ""
    expiry: str = ""
    dilution: str = ""
    notes: str = ""
    structure_labels: bool = True

    def __post_init__(self) -> None:
        if self.visit_date:
            _dt.date.fromisoformat(self.visit_date)  # ValueError on a date that is not YYYY-MM-DD
        if self.session and not SESSION_ID_RE.match(self.session):
            raise ValueError(f"{self.session[:70]!r} is not a session id (lower case letters, digits, _ and -)")


@dataclass(frozen=True)
class ChartRow:
    """One point of the chart (``number`` is what the pictures' labels show)."""

    number: int
    id: str
    target: str
    target_id: str
    side: str
    session: str
    depth_mm: float
    units: float
    volume_ml: float
    lot: str
    note: str
    worst: str
    findings: tuple[tuple[str, str], ...]
    entry_mm: tuple[float, float, float]
    tip_mm: tuple[float, float, float]

    @property
    def label(self) -> str:
        """The picture label: number and units (``"3: 4 U"``)."""
        return f"{self.number}: {_fmt(self.units)} U"


@dataclass(frozen=True)
class ChartTotals:
    """Totals of one product: units, millilitres and vials (fraction and whole vials opened)."""

    product: str
    units: float
    volume_ml: float
    units_per_vial: float
    vials: float

    @property
    def vials_opened(self) -> int:
        return max(1, math.ceil(self.vials - 1e-9)) if self.units > 0 else 0


@dataclass(frozen=True)
class Visit:
    session: str
    label: str
    date: str


@dataclass(frozen=True)
class ChartRecord:
    """The record page."""

    patient: str
    visits: tuple[Visit, ...]
    clinician: str
    product: str
    lots: tuple[str, ...]
    expiry: str
    dilution: str
    rows: tuple[ChartRow, ...]
    totals: tuple[ChartTotals, ...]
    notes: str


def _fmt(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}".rstrip("0").rstrip(".")


def point_side(x_mm: float, half_width_mm: float | None = None) -> str:
    """``"left"`` (x > the midline band: the patient's left), ``"right"`` or ``"midline"``
    (:func:`injectmap.planning.sides.side_of_x`)."""
    return side_of_x(x_mm, half_width_mm)


def side_of_point(target: str | None, entry_x_mm: float) -> str:
    """A point aimed at a sided muscle is on its target's side; any other is sided by its position
    (:func:`injectmap.planning.sides.point_side`)."""
    return sides_point_side(target, entry_x_mm)


def structure_name(model: Any, sid: str | None) -> str:
    """A structure's readable name with its side (the id in words when the model does not know it)."""
    if not sid:
        return ""
    if model is not None and sid in getattr(model, "structures", {}):
        st = model.structures[sid]
        side = f" ({st.side})" if st.side in ("left", "right") else ""
        return f"{st.name}{side}"
    return sid.replace("_", " ")


def distance_words(d: float | None) -> str:
    """CONTRACTS: a sphere finding's distance is from the sphere's surface (negative: it reaches in)."""
    if d is None:
        return ""
    return f"reaches {-d:.1f} mm in" if d < 0 else f"{d:.1f} mm away"


def _findings(p: PointResult, model: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for f in sorted(p.findings, key=lambda f: -f.severity.rank):
        where = structure_name(model, f.structure)
        dist = distance_words(f.distance_mm)
        out.append((f.severity.value, f"{where}: {dist}" if where and dist else (where or f.code)))
    return tuple(out)


def chart_rows(plan: Plan, analysis: PlanResult, model: Any = None, ctx: ChartContext | None = None) -> list[ChartRow]:
    """The chart's points, numbered 1.. in plan order, with the analysis's depth, mL and findings."""
    ctx = ctx or ChartContext()
    by_id = {p.id: p for p in plan.points}
    rows = []
    for i, r in enumerate(analysis.points, start=1):
        pt = by_id.get(r.id)
        worst = r.worst
        rows.append(ChartRow(
            number=i, id=r.id, target=structure_name(model, r.target), target_id=r.target or "",
            side=side_of_point(r.target, float(r.entry_mm[0])), session=r.session, depth_mm=round(float(r.depth_mm), 1),
            units=float(r.units), volume_ml=float(r.volume_ml), lot=(pt.lot if pt and pt.lot else ctx.lot),
            note=(pt.note or "") if pt else "", worst=worst.value if worst and worst > Severity.INFO else "ok",
            findings=_findings(r, model), entry_mm=tuple(float(v) for v in r.entry_mm),  # type: ignore[arg-type]
            tip_mm=tuple(float(v) for v in r.tip_mm)))  # type: ignore[arg-type]
    return rows


def chart_totals(plan: Plan) -> list[ChartTotals]:
    """Units, mL and vials per product and vial size, as :func:`injectmap.planning.totals.dose_totals` counts them."""
    return [ChartTotals(product=v.product, units=round(v.units, 2), volume_ml=round(v.volume_ml, 3),
                        units_per_vial=float(v.units_per_vial), vials=round(v.vials, 3))
            for v in dose_totals(plan).vials]


def visit_session(plan: Plan, ctx: ChartContext | None = None) -> str:
    """The session of the plan the visit is: the context's ``session`` where the plan has it (what the visit is, as
    recorded: a first visit postponed to the day the plan gave its touch-up is still the first visit), else the one
    the plan dates on the context's visit date, else the only session that has points (a touch-up visit's plan
    holds the touch-up's points alone), else the initial one."""
    ctx = ctx or ChartContext()
    if ctx.session and ctx.session in {DEFAULT_SESSION, *(s.id for s in plan.sessions or ())}:
        return ctx.session
    if ctx.visit_date:
        on_day = [s.id for s in plan.sessions or () if s.date == ctx.visit_date]
        if on_day:
            return on_day[0]
    used = list(dict.fromkeys(p.session_id for p in plan.points))
    return used[0] if len(used) == 1 else DEFAULT_SESSION


def visits(plan: Plan, ctx: ChartContext | None = None) -> list[Visit]:
    """The plan's sessions with their dates (the visit's session, :func:`visit_session`, dated by the
    context when it gives a date)."""
    ctx = ctx or ChartContext()
    used = list(dict.fromkeys(p.session_id for p in plan.points))
    declared = {s.id: s for s in plan.sessions or ()}
    visit = visit_session(plan, ctx)
    out = []
    for sid in dict.fromkeys([*used, *declared]):
        s = declared.get(sid)
        date = (ctx.visit_date if sid == visit else "") or (s.date if s and s.date else "")
        label = (s.label if s and s.label else "") or sid.replace("_", "-")
        out.append(Visit(session=sid, label=label, date=date))
    return out


def _dilution(plan: Plan) -> str:
    p = plan.product
    per_01 = p.units_per_vial / p.diluent_ml * 0.1 if p.diluent_ml else 0.0
    return f"{_fmt(p.diluent_ml)} mL saline per {_fmt(p.units_per_vial)} U vial ({_fmt(per_01)} U per 0.1 mL)"


def chart_record(plan: Plan, analysis: PlanResult, model: Any = None, ctx: ChartContext | None = None) -> ChartRecord:
    """The record page of the chart."""
    ctx = ctx or ChartContext()
    rows = chart_rows(plan, analysis, model, ctx)
    lots = tuple(dict.fromkeys(r.lot for r in rows if r.lot))
    return ChartRecord(patient=plan.patient or "", visits=tuple(visits(plan, ctx)), clinician=ctx.clinician,
                       product=plan.product.name, lots=lots, expiry=ctx.expiry,
                       dilution=ctx.dilution or _dilution(plan), rows=tuple(rows),
                       totals=tuple(chart_totals(plan)), notes=ctx.notes)


# ------------------------------------------------------------------------------------------ handout
@dataclass(frozen=True)
class Reference:
    """A source as a patient reads it."""

    authors: str
    title: str
    year: int | None
    where: str
    url: str = ""

    def text(self) -> str:
        year = f" ({self.year})" if self.year else ""
        where = f" {self.where}." if self.where else ""
        return f"{self.authors}{year}. {self.title}.{where}"


@dataclass(frozen=True)
class HandoutArea:
    """One treated area: its title, where (sides), and each muscle in plain words; the units given there at the
    visit (``units``, each product's own units, by product in ``by_product``) and those the plan gives at its other
    sessions (``later``: (visit words, units), e.g. ``("at the touch-up", 4.0)``)."""

    title: str
    sides: str
    muscles: tuple[tuple[str, str, str], ...]  # (plain name, what it does, what the treatment changes)
    units: float = 0.0
    by_product: tuple[tuple[str, float], ...] = ()
    later: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class TimelineRow:
    """Calendar dates of one area group treated in one visit."""

    title: str
    visit: str
    treated: _dt.date
    first_change: tuple[_dt.date, _dt.date]
    full_effect: tuple[_dt.date, _dt.date]
    review: _dt.date | None
    wearing_off: tuple[_dt.date, _dt.date]


@dataclass(frozen=True)
class Handout:
    """The patient handout."""

    patient: str
    visit_date: _dt.date
    date_given: bool
    clinician: str
    areas: tuple[HandoutArea, ...]
    timeline: tuple[TimelineRow, ...]
    effects: tuple[tuple[str, str, bool], ...]  # (name, plain words, seek help at once)
    aftercare: tuple[tuple[str, str], ...]  # (advice, why)
    reminder: str
    references: tuple[Reference, ...] = field(default_factory=tuple)
    #: the products given (their international names), each with its brand names as sold
    products: tuple[str, ...] = ()
    brands: tuple[tuple[str, ...], ...] = ()


def readable_references(keys: Sequence[str]) -> list[Reference]:
    """The published sources among ``keys`` as readable references (internal ones left out), sorted."""
    cfg = chart_settings()
    out: dict[str, Reference] = {}
    for k in keys:
        if k in cfg.internal_sources:
            continue
        r = cfg.references.get(k)
        if r is None:
            raise KeyError(f"source {k!r} has no readable reference in reports/data/{DATA_FILE}")
        out[k] = Reference(authors=r.authors, title=" ".join(r.title.split()), year=r.year, where=r.where,
                           url=education.source(k).url)
    return sorted(out.values(), key=lambda r: (r.authors, r.year or 0))


def _sides(ids: Sequence[str]) -> str:
    sides = {side_of(s) for s in ids}
    if sides == {"midline"}:
        return "in the middle"
    if sides >= {"left", "right"}:
        return "both sides"
    return f"{next(iter(sides - {'midline'}))} side only"


def _session_words(plan: Plan, session: str) -> str:
    """A session as the patient reads it: "at the first visit", "at the touch-up", or its label."""
    if session == DEFAULT_SESSION:
        return "at the first visit"
    label = next((s.label for s in plan.sessions or () if s.id == session and s.label), "")
    return f"at {label}" if label else f"at the {session.replace('_', '-')}"


def _areas(plan: Plan, visit: str = DEFAULT_SESSION) -> list[HandoutArea]:
    """The treated areas in walkthrough order, with the units given in each at the visit (the plan's session
    ``visit``) and at its other sessions."""
    data = education.education_data()
    order = list(data["areas"])
    by_area: dict[str, list[tuple[str, list[str]]]] = {}
    for base, ids in education.treated_muscles(plan).items():
        info = education.muscle_info(base) or {}
        by_area.setdefault(str(info["area"]), []).append((base, ids))
    out = []
    for area in sorted(by_area, key=lambda a: order.index(a) if a in order else len(order)):
        muscles, all_ids = [], []
        for base, ids in by_area[area]:
            info = education.muscle_info(base) or {}
            muscles.append((" ".join(str(info["plain_name"]).split()), " ".join(str(info["does"]).split()),
                            " ".join(str(info["changes"]).split())))
            all_ids += ids
        here = [p for p in plan.points if p.target in all_ids]
        now = [p for p in here if p.session_id == visit]
        by_product: dict[str, float] = {}
        for p in now:
            name = plan.product_of(p).name
            by_product[name] = by_product.get(name, 0.0) + float(p.units)
        later: dict[str, float] = {}
        for p in here:
            if p.session_id != visit:
                later[p.session_id] = later.get(p.session_id, 0.0) + float(p.units)
        out.append(HandoutArea(title=str(data["areas"][area]["title"]), sides=_sides(all_ids), muscles=tuple(muscles),
                               units=round(sum(by_product.values()), 2),
                               by_product=tuple((k, round(v, 2)) for k, v in by_product.items()),
                               later=tuple((_session_words(plan, k), round(v, 2)) for k, v in later.items())))
    return out


def _days(d0: _dt.date, n: float) -> _dt.date:
    return d0 + _dt.timedelta(days=int(round(n)))


def visit_start_day(plan: Plan, ctx: ChartContext | None = None) -> float:
    """The day of the visit (:func:`visit_session`) counted from the plan's initial session (day 0): from the
    visit date given and the plan's initial date where both are known (a touch-up held later than the plan said),
    else the plan's day of that session (:func:`teaching.timeline.session_start`), else 0."""
    ctx = ctx or ChartContext()
    visit = visit_session(plan, ctx)
    if visit != DEFAULT_SESSION and ctx.visit_date:
        d0 = {s.id: s.date for s in plan.sessions or ()}.get(DEFAULT_SESSION)
        if d0:
            return float((_dt.date.fromisoformat(ctx.visit_date) - _dt.date.fromisoformat(d0)).days)
    return tl_mod.session_start(plan, visit) or 0.0


def handout_curves(plan: Plan, ctx: ChartContext | None = None) -> list[tl_mod.AreaCurve]:
    """The plan's timeline bands (:func:`teaching.timeline.plan_curves`) counted from the visit
    (:func:`visit_session`) as day 0: the visit's own band starts on its day, the other sessions' where the plan
    puts them from its initial one (:func:`visit_start_day`)."""
    visit, start = visit_session(plan, ctx), visit_start_day(plan, ctx)
    return [replace(c, start_day=0.0 if c.session == visit else c.start_day - start) for c in tl_mod.plan_curves(plan)]


def _visit_day(plan: Plan, ctx: ChartContext, visit: str) -> _dt.date | None:
    """The visit's date: the context's, else the plan's date of the visit's session, else the initial
    session's date plus the days the visit comes after it; None when none is known."""
    if ctx.visit_date:
        return _dt.date.fromisoformat(ctx.visit_date)
    dates = {s.id: s.date for s in plan.sessions or () if s.date}
    if visit in dates:
        return _dt.date.fromisoformat(dates[visit])
    start = tl_mod.session_start(plan, visit)
    if DEFAULT_SESSION in dates and start is not None:
        return _days(_dt.date.fromisoformat(dates[DEFAULT_SESSION]), start)
    return None


def _timeline(curves: Sequence[tl_mod.AreaCurve], visit_date: _dt.date, visit: str) -> list[TimelineRow]:
    """Calendar dates of the bands, counted from the visit (day 0); the two-week review after a first
    visit only on a first visit's handout (a touch-up visit's handout offers no second touch-up)."""
    tl = tl_mod.timeline_data()
    on, pk = tl["onset_days"]["range"], tl["peak_days"]["range"]
    review = float(tl["touch_up_day"])
    rows = []
    for c in curves:
        start = _days(visit_date, c.start_day)
        wear = tl["groups"][c.group]["wear_off_days"]
        first = c.session == DEFAULT_SESSION
        rows.append(TimelineRow(
            title=c.title, visit="first visit" if first else c.session.replace("_", "-"),
            treated=start, first_change=(_days(start, on[0]), _days(start, on[1])),
            full_effect=(_days(start, pk[0]), _days(start, pk[1])),
            review=_days(start, review) if first and visit == DEFAULT_SESSION else None,
            wearing_off=(_days(start, wear[0]), _days(start, wear[1]))))
    return rows


def handout_data(plan: Plan, ctx: ChartContext | None = None, today: _dt.date | None = None) -> Handout:
    """The patient handout of a plan at a visit (:func:`visit_session`). The treatment date is the
    visit's: the context's visit date when given, else the plan's date of that session (or the initial
    date plus the days after it), else ``today`` (said so on the handout); the timeline counts from it."""
    ctx = ctx or ChartContext()
    visit = visit_session(plan, ctx)
    day = _visit_day(plan, ctx, visit)
    given = day is not None
    visit_date = day or today or _dt.date.today()
    effects = education.transient_effects(plan)
    advice = education.aftercare()
    keys = [k for e in effects for k in e.sources] + [k for a in advice for k in a.sources]
    tl = tl_mod.timeline_data()
    keys += [*tl["onset_days"]["sources"], *tl["peak_days"]["sources"], *tl["touch_up_sources"]]
    for c in tl_mod.plan_curves(plan):
        keys += list(tl["groups"][c.group]["sources"])
    for base in education.treated_muscles(plan):
        keys += list((education.muscle_info(base) or {}).get("sources", ()))
    products = tuple(dict.fromkeys(plan.product_of(p).name for p in plan.points)) or (plan.product.name,)
    return Handout(
        patient=plan.patient or "", visit_date=visit_date, date_given=given, clinician=ctx.clinician,
        areas=tuple(_areas(plan, visit)), timeline=tuple(_timeline(handout_curves(plan, ctx), visit_date, visit)),
        products=products, brands=tuple(_brands(name) for name in products),
        effects=tuple((e.name, e.plain, e.seek_help) for e in effects),
        aftercare=tuple((a.advice, a.why) for a in advice), reminder=education.reminder(),
        references=tuple(readable_references(list(dict.fromkeys(keys)))))


def _brands(product: str) -> tuple[str, ...]:
    """A product's brand names (products.yaml), none for a product planning does not know."""
    try:
        return tuple(product_info(product).brands)
    except UnknownProductError:
        return ()


def structure_label_ids(rows: Sequence[ChartRow], analysis: PlanResult) -> list[str]:
    """The structures the pictures may name: the targeted muscles and every structure a finding names."""
    ids = [r.target_id for r in rows if r.target_id]
    ids += [f.structure for p in analysis.points for f in p.findings if f.structure and f.severity > Severity.INFO]
    return list(dict.fromkeys(ids))
