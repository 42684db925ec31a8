"""Doses as clinicians count them, under the plan table: units, mL and vials of the plan and of each session,
by side, by muscle (every treated muscle, with its usual range) and by area, counted by planning
(:mod:`injectmap.planning.totals`) on every edit.

The view computes nothing itself: :func:`plan_counts` asks planning for the totals (the side of a point is
the one rule of :mod:`injectmap.planning.sides`, with the entry x of the analysed points once their
analysis is in), and :func:`totals_html` lays them out as small tables. Every text from the plan (session
ids and labels) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import panel as pn

from injectmap.planning.doses import dose_range, range_words
from injectmap.planning.plan import Plan, PlanError, parse_plan
from injectmap.planning.sessions import session_ids
from injectmap.planning.sides import SIDES
from injectmap.planning.totals import UNTARGETED, DoseTotals, point_doses, summarize
from injectmap.viewer.analysis import PlanAnalyst, too_many_points
from injectmap.viewer.state import AppState
from injectmap.viewer.text import plain

__all__ = ["PLAN_ROW", "PlanCounts", "TotalsPanel", "plan_counts", "totals_html"]

#: the key of the whole plan among the counts (a session id is lower snake case: never this)
PLAN_ROW = "Whole plan"
_SIDE_TITLES = {"left": "Left", "right": "Right", "midline": "Midline"}


@dataclass(frozen=True)
class PlanCounts:
    """The totals shown: the whole plan, then each session in order (``"initial"`` first).

    Attributes
    ----------
    plan : DoseTotals
        Every point.
    sessions : dict of str to DoseTotals
        One per session id of the plan.
    labels : dict of str to str
        A session's label or date where the plan gives one.
    """

    plan: DoseTotals
    sessions: dict[str, DoseTotals]
    labels: dict[str, str]

    def of(self, key: str) -> DoseTotals:
        """The whole plan (:data:`PLAN_ROW`) or one session."""
        return self.plan if key == PLAN_ROW else self.sessions[key]


def plan_counts(plan: Plan, entry_x: Mapping[str, float] | None = None) -> PlanCounts:
    """The plan's totals and each session's (``entry_x``: the analysed points' entry x, for their side)."""
    labels = {s.id: " ".join(x for x in (s.label, s.date) if x) for s in plan.sessions or ()}
    products = {p.id: plan.product_of(p) for p in plan.points}
    doses = point_doses(plan, None, entry_x)  # each point counted once, then summed per session
    sessions = {s: summarize([d for d in doses if d.session == s], products, s) for s in session_ids(plan)}
    return PlanCounts(plan=summarize(doses, products), sessions=sessions, labels={k: v for k, v in labels.items() if v})


def _n(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}".rstrip("0").rstrip(".") if x else "0"


def _units(t: DoseTotals) -> str:
    """Units in the product's own units; with several products, the onabotulinumtoxinA-equivalent sum too."""
    if len(t.products) > 1:
        return f"{_n(t.units)} ({_n(t.ona_units)} ona-eq.)"
    return _n(t.units)


def _vials(t: DoseTotals) -> tuple[str, str]:
    if not t.vials:
        return "0", "0"
    used = "<br>".join(f"{_n(v.vials)} of {v.units_per_vial:g} U" + (f" {html.escape(_short(v.product))}"
                                                                        if len(t.vials) > 1 else "") for v in t.vials)
    return used, "<br>".join(str(v.vials_to_open) for v in t.vials)


def _short(product: str) -> str:
    return product.replace("botulinumtoxinA", "")


_STYLE = ("<style>.dose-totals table{border-collapse:collapse;font-size:12px;margin:2px 0 8px;width:100%}"
          ".dose-totals th,.dose-totals td{border-bottom:1px solid #ddd;padding:2px 5px;text-align:right}"
          ".dose-totals th:first-child,.dose-totals td:first-child{text-align:left}"
          ".dose-totals caption{text-align:left;font-weight:bold;font-size:12px}"
          ".dose-totals td.above,.dose-totals td.below{font-weight:bold;color:#b00020}"
          ".dose-totals td.above::after{content:' \\25B2'}.dose-totals td.below::after{content:' \\25BC'}</style>")


def totals_html(counts: PlanCounts, shown: str = PLAN_ROW) -> str:
    """The totals as HTML tables: the plan and each session (units, mL, vials used, whole vials to open), then
    by side and by area of ``shown`` (the whole plan or one session)."""
    rows = []
    keys = [PLAN_ROW] + (list(counts.sessions) if len(counts.sessions) > 1 else [])
    for key in keys:
        t = counts.of(key)
        label = key if key == PLAN_ROW else f"Session {key}" + (f" ({counts.labels[key]})" if key in counts.labels
                                                                 else "")
        used, to_open = _vials(t)
        rows.append(f'<tr data-row="{html.escape(key)}"><td>{html.escape(label)}</td><td class="units">{_units(t)}'
                    f'</td><td class="ml">{_n(t.volume_ml, 3)}</td><td class="vials">{used}</td>'
                    f'<td class="open">{to_open}</td></tr>')
    out = [_STYLE, '<div class="dose-totals">',
           '<table class="totals-summary"><caption>Totals</caption><tr><th></th><th>Units</th><th>mL</th>'
           '<th>Vials used</th><th>Vials to open</th></tr>', *rows, "</table>"]
    t = counts.of(shown)
    where = "the whole plan" if shown == PLAN_ROW else f"session {shown}"
    side_rows = []
    for side in SIDES:
        g = t.side(side)
        side_rows.append(f'<tr data-side="{side}"><td>{_SIDE_TITLES[side]}</td><td class="units">'
                         f'{_units_of(g)}</td><td class="ml">{_n(g.volume_ml, 3) if g else "0"}</td>'
                         f'<td class="points">{g.points if g else 0}</td></tr>')
    out += [f'<table class="totals-sides"><caption>By side ({html.escape(where)})</caption>'
            "<tr><th></th><th>Units</th><th>mL</th><th>Points</th></tr>", *side_rows, "</table>"]
    muscles = list(dict.fromkeys(g.name for g in t.by_muscle))
    if muscles:
        out += [f'<table class="totals-muscles"><caption>By muscle, units ({html.escape(where)}; usual: the range '
                "the findings check, onabotulinumtoxinA units)</caption>"
                "<tr><th></th><th>Left</th><th>Right</th><th>Midline</th><th>Usual</th></tr>",
                *(_muscle_row(t, m) for m in muscles), "</table>"]
    areas = list(dict.fromkeys(g.name for g in t.by_area))
    if areas:
        area_rows = []
        for a in areas:
            cells = "".join(f'<td class="{s}">{_units_of(t.area(a, s))}</td>' for s in SIDES)
            area_rows.append(f'<tr data-area="{html.escape(a)}"><td>{html.escape(a.replace("_", " "))}</td>{cells}</tr>')
        out += [f'<table class="totals-areas"><caption>By area, units ({html.escape(where)}; the upper face holds '
                "the glabella, forehead and lateral canthal rows: do not add them up)</caption>"
                "<tr><th></th><th>Left</th><th>Right</th><th>Midline</th></tr>", *area_rows, "</table>"]
    out.append("</div>")
    return "".join(out)


def _muscle_row(t: DoseTotals, muscle: str) -> str:
    """One treated muscle (a dose group: both parts of the masseter are one) per side, with planning's usual range
    (dose_ranges.yaml, the numbers the findings quote) and each side's cell marked ``above`` or ``below`` the range
    (the findings say by how much)."""
    rng = dose_range(muscle) if muscle != UNTARGETED else None
    name = "no target" if muscle == UNTARGETED else muscle.replace("_", " ")
    cells = []
    for side in SIDES:
        g = t.muscle(muscle, side)
        cls: str = side
        title = ""
        if rng is not None and g is not None:
            # a bilateral muscle's range is per side; a midline one's (and a midline point of a sided one) in all
            units = g.ona_units if rng.per == "side" and side != "midline" else sum(
                x.ona_units for x in (t.muscle(muscle, s) for s in SIDES) if x is not None)
            where = rng.classify(units)
            if where in ("above", "below"):
                cls += f" {where}"
                title = (f' title="{units:g} U (onabotulinumtoxinA) is {where} the usual '
                         f'{range_words(rng.low_units, rng.high_units)}"')
        cells.append(f'<td class="{cls}"{title}>{_units_of(g)}</td>')
    usual = "" if rng is None else (f"{range_words(rng.typical_low_units, rng.typical_high_units, '')} "
                                    f"{'per side' if rng.per == 'side' else 'in all'}")
    return (f'<tr data-muscle="{html.escape(muscle)}"><td>{html.escape(name)}</td>{"".join(cells)}'
            f'<td class="usual">{usual}</td></tr>')


def _units_of(g: Any) -> str:
    if g is None:
        return "0"
    return f"{_n(g.units)} ({_n(g.ona_units)} ona-eq.)" if len(g.products) > 1 else _n(g.units)


class TotalsPanel(pn.viewable.Viewer):
    """The totals under the plan table, counted again on every edit of the plan and when an analysis ends."""

    def __init__(self, state: AppState, analyst: PlanAnalyst, **params: Any) -> None:
        super().__init__(**params)
        self.state, self.analyst = state, analyst
        self.counts: PlanCounts | None = None
        self._parsed: tuple[Any, Any, Plan] | None = None
        self.shown = pn.widgets.Select(label="Count by side and area", options=[PLAN_ROW], value=PLAN_ROW,
                                       width=200, css_classes=["totals-shown"], visible=False)
        self.shown.param.watch(lambda _e: self._render(), "value")
        self.tables = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["dose-totals-pane"])
        self.note = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["totals-note"])
        state.param.watch(self.refresh, ["points", "product", "extra"])
        analyst.param.watch(self.refresh, ["results"])
        self.refresh()

    def _entry_x(self) -> dict[str, float]:
        """The entry x of each analysed point (a point being re-analysed keeps its last position)."""
        return {pid: float(r.entry_mm[0]) for pid, r in self.analyst.results.items()}

    def _plan(self) -> Plan | None:
        """The plan on screen, validated (the last one parsed while the points and product are the same)."""
        points, product = self.state.points, self.state.product
        if self._parsed is not None and self._parsed[0] is points and self._parsed[1] is product:
            return self._parsed[2]
        try:
            plan = parse_plan(self.state.plan_dict())
        except PlanError:
            return None
        self._parsed = (points, product, plan)
        return plan

    def refresh(self, *_: Any) -> None:
        """Count the plan again (a plan with errors, or one larger than the app analyses, keeps the last counts
        and says why)."""
        too_many = too_many_points(len(self.state.points))
        if too_many:
            self.note.object = plain("Totals not updated: " + too_many)
            return
        plan = self._plan()
        if plan is None:
            self.note.object = "*Totals not updated: the plan has an error (see the message).*"
            return
        ids = {p.id for p in plan.points}
        self.counts = plan_counts(plan, {k: v for k, v in self._entry_x().items() if k in ids})
        options = [PLAN_ROW] + (list(self.counts.sessions) if len(self.counts.sessions) > 1 else [])
        if self.shown.options != options:
            self.shown.options = options
            if self.shown.value not in options:
                self.shown.value = PLAN_ROW
        self.shown.visible = len(options) > 1
        self.note.object = ""
        self._render()

    def _render(self) -> None:
        if self.counts is None:
            return
        shown = self.shown.value if self.shown.value in (PLAN_ROW, *self.counts.sessions) else PLAN_ROW
        self.tables.object = totals_html(self.counts, shown)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.shown, self.note, self.tables, sizing_mode="stretch_width", css_classes=["totals-panel"])
