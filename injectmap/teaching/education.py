"""Patient education: a guided walkthrough of a plan in plain words, from ``data/education.yaml``.

Pure logic (no rendering): :func:`walkthrough` turns a plan (and, optionally, its analysis from
:func:`planning.check.check_plan`) into a list of :class:`Step`. Each step says, for one treated
muscle, what it is, what it does, what the treatment changes and which neighbours it leaves alone,
and carries what a viewer needs to show it: a camera ``view``, the display ``layers`` to show, the
structures to ``focus`` on and the plan's ``point_ids`` in that muscle. The viewer applies that data;
it decides nothing.

Steps are grouped by area (forehead, between the brows, around the eyes, ... jaw, neck, in the order
of ``areas`` in the data file), with an introduction first and an "after the treatment" step last.
:func:`transient_effects` and :func:`aftercare` give the lists with their sources;
:data:`reminder` the plain-words warning that every timing is a population range.

Example
-------
>>> from injectmap.planning.plan import parse_plan
>>> plan = parse_plan({"format": "injectmap-plan", "version": 1,
...     "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
...     "points": [{"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"},
...                 "depth_mm": 3}]})
>>> [s.kind for s in walkthrough(plan)]
['intro', 'muscle', 'after']
>>> walkthrough(plan)[1].area
'frown'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import base_of, side_of, structure_ids
from injectmap.planning.datafiles import load_data, register_model
from injectmap.planning.plan import Plan, parse_plan
from injectmap.planning.results import PlanResult, PointResult, Severity

__all__ = [
    "Advice",
    "EducationFile",
    "Effect",
    "Source",
    "Spared",
    "Step",
    "aftercare",
    "area_of_muscle",
    "education_data",
    "muscle_info",
    "reminder",
    "source",
    "timeline_source_keys",
    "transient_effects",
    "treated_muscles",
    "walkthrough",
]

DATA_FILE = "education.yaml"
#: camera views a step may ask for (the viewer's names)
VIEWS = ("front", "left", "right", "three_quarter_left", "three_quarter_right")
#: layers a step may show (the viewer's layer groups)
LAYERS = ("skin", "fat", "muscles", "vessels", "nerves", "gland_duct", "bone", "orbit", "eyes", "corridors")


@dataclass(frozen=True)
class Source:
    key: str
    citation: str
    url: str = ""
    note: str = ""


@dataclass(frozen=True)
class Spared:
    """A neighbour the treatment leaves working."""

    plain: str
    structure_ids: tuple[str, ...] = ()
    #: from the plan's analysis: the closest the sphere of effect comes to it (mm), when known
    closest_mm: float | None = None
    #: a caution or danger finding of this step's points names it (the text then says so, and never
    #: promises that it is left alone)
    warned: bool = False

    @property
    def reached(self) -> bool:
        """The analysis finds the planned spread reaching it (a distance of 0 or less: it reaches in)."""
        return self.closest_mm is not None and self.closest_mm <= 0.0


@dataclass(frozen=True)
class Step:
    """One screen of the walkthrough.

    Attributes
    ----------
    id : str
        ``"intro"``, ``"after"`` or the muscle's base id.
    kind : str
        ``"intro"``, ``"muscle"`` or ``"after"``.
    area, area_title : str
        Walkthrough area (``"frown"``) and its title (``"Between the brows"``); ``""`` for intro/after.
    title : str
        Heading of the step.
    paragraphs : tuple of str
        The plain-language text, one paragraph each.
    view : str
        Camera view (one of :data:`VIEWS`).
    layers : dict of str to bool
        Visibility of every display layer (:data:`LAYERS`).
    focus : tuple of str
        Structure ids to point out (the treated muscle on its treated sides).
    point_ids : tuple of str
        The plan's points in this muscle.
    units : float
        Units in this muscle (all sessions, each point's own product units).
    spared : tuple of Spared
        The neighbours left alone.
    sources : tuple of str
        Source keys (:func:`source`).
    """

    id: str
    kind: str
    area: str
    area_title: str
    title: str
    paragraphs: tuple[str, ...]
    view: str
    layers: dict[str, bool]
    focus: tuple[str, ...] = ()
    point_ids: tuple[str, ...] = ()
    units: float = 0.0
    spared: tuple[Spared, ...] = ()
    sources: tuple[str, ...] = ()

    def text(self) -> str:
        """The step as Markdown (title and paragraphs)."""
        return "\n\n".join((f"### {self.title}", *self.paragraphs))


@dataclass(frozen=True)
class Effect:
    """A common transient effect (or a warning sign when ``seek_help``)."""

    id: str
    name: str
    plain: str
    areas: tuple[str, ...]
    sources: tuple[str, ...]
    confidence: str = ""
    seek_help: bool = False


@dataclass(frozen=True)
class Advice:
    id: str
    advice: str
    why: str
    evidence: str
    sources: tuple[str, ...] = field(default_factory=tuple)


class _Area(DataModel):
    title: str
    view: Literal["front", "three_quarter_side", "side"]
    layers: list[str] = Field(min_length=1)


class _Spared(DataModel):
    plain: str
    structure: str | None = None
    #: said only when no finding of the step's points names the structure
    if_clear: str = ""
    #: said instead when a caution or danger finding of the step's points names it
    if_warned: str = ""
    #: neighbours whose findings count as naming it too (the other smile muscles for the smile)
    also: list[str] = []


class _Muscle(DataModel):
    area: str
    plain_name: str
    does: str
    changes: str
    spared: list[_Spared] = []
    sources: list[str] = []


class _Source(DataModel):
    citation: str
    url: str = ""
    note: str = ""


class _Days(DataModel):
    range: tuple[NonNegativeInt, NonNegativeInt]
    typical: tuple[NonNegativeInt, NonNegativeInt] | None = None
    sources: list[str] = Field(min_length=1)
    confidence: str = ""
    note: str = ""


class _WearOff(DataModel):
    title: str
    wear_off_days: tuple[NonNegativeInt, NonNegativeInt]
    sources: list[str] = Field(min_length=1)
    confidence: str = ""
    note: str = ""


class _Timeline(DataModel):
    onset_days: _Days
    peak_days: _Days
    decline_fraction: float = Field(gt=0, lt=1)
    touch_up_day: PositiveInt
    touch_up_sources: list[str] = Field(min_length=1)
    groups: dict[str, _WearOff]


class _Effect(DataModel):
    id: str
    name: str
    plain: str
    areas: list[str] = []
    sources: list[str] = Field(min_length=1)
    confidence: str = ""
    seek_help: bool = False


class _Aftercare(DataModel):
    id: str
    advice: str
    why: str
    evidence: str
    sources: list[str] = []


class EducationFile(DataModel):
    """education.yaml, version 1: areas, muscles, sources, the timeline, transient effects, aftercare."""

    version: Literal[1]
    reminder: str
    areas: dict[str, _Area]
    #: what a patient may notice if some medicine reaches a neighbour (by base id; ``default`` for the others)
    reached: dict[str, str] = Field(min_length=1)
    muscles: dict[str, _Muscle]
    sources: dict[str, _Source]
    timeline: _Timeline
    transient_effects: list[_Effect]
    aftercare: list[_Aftercare]

    @model_validator(mode="after")
    def _references_resolve(self) -> EducationFile:
        bad = [f"muscles.{k}.area: unknown area {m.area!r}" for k, m in self.muscles.items() if m.area not in self.areas]
        if "default" not in self.reached:
            bad.append("reached: no default")
        tl = self.timeline
        used = [*tl.onset_days.sources, *tl.peak_days.sources, *tl.touch_up_sources,
                *(s for g in tl.groups.values() for s in g.sources),
                *(s for m in self.muscles.values() for s in m.sources),
                *(s for e in self.transient_effects for s in e.sources),
                *(s for a in self.aftercare for s in a.sources)]
        bad += [f"unknown source {s!r}" for s in dict.fromkeys(used) if s not in self.sources]
        bad += [f"transient_effects: unknown area {a!r}" for e in self.transient_effects for a in e.areas
                if a not in self.areas]
        if bad:
            raise ValueError("; ".join(bad))
        return self


register_model(DATA_FILE, EducationFile, "injectmap.teaching")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return load_data(DATA_FILE, "injectmap.teaching")


def education_data() -> dict[str, Any]:
    """The parsed data file (a copy)."""
    return load_data(DATA_FILE, "injectmap.teaching")


def reminder() -> str:
    """The plain-words reminder that timings are population ranges, never a promise."""
    return str(_data()["reminder"]).strip()


def source(key: str) -> Source:
    """A source by key (KeyError if unknown)."""
    d = _data()["sources"][key]
    return Source(key=key, citation=" ".join(str(d["citation"]).split()), url=str(d.get("url", "")),
                  note=str(d.get("note", "")))


def timeline_source_keys() -> list[str]:
    """Source keys of the timeline's numbers (onset, peak, wear-off by area, touch-up)."""
    tl = _data()["timeline"]
    keys = list(tl["onset_days"]["sources"]) + list(tl["peak_days"]["sources"]) + list(tl["touch_up_sources"])
    for g in tl["groups"].values():
        keys += list(g["sources"])
    return list(dict.fromkeys(keys))


def muscle_info(structure_id: str) -> dict[str, Any] | None:
    """The education entry of a muscle (sided or base id), or None when there is none."""
    d = _data()["muscles"].get(base_of(structure_id))
    return dict(d) if d is not None else None


def area_of_muscle(structure_id: str) -> str | None:
    """The walkthrough area of a muscle (``"jaw"`` for ``"masseter_deep_left"``), None if unknown."""
    info = muscle_info(structure_id)
    return None if info is None else str(info["area"])


def _plan(plan: Plan | Mapping[str, Any]) -> Plan:
    return plan if isinstance(plan, Plan) else parse_plan(plan)


def treated_muscles(plan: Plan | Mapping[str, Any]) -> dict[str, list[str]]:
    """Targeted structure ids that have an education entry, by base id, in plan order.

    Returns
    -------
    dict of str to list of str
        ``{"corrugator_supercilii": ["corrugator_supercilii_left", "corrugator_supercilii_right"]}``.
    """
    out: dict[str, list[str]] = {}
    for p in _plan(plan).points:
        if p.target and muscle_info(p.target) is not None:
            ids = out.setdefault(base_of(p.target), [])
            if p.target not in ids:
                ids.append(p.target)
    return out


def _sides_words(ids: Sequence[str]) -> str:
    sides = {side_of(s) for s in ids}
    if sides == {"midline"}:
        return "in the middle"
    if sides >= {"left", "right"}:
        return "on both sides"
    return f"on the {next(iter(sides - {'midline'}))} side"


def _view(area: Mapping[str, Any], ids: Sequence[str]) -> str:
    v = str(area["view"])
    sides = {side_of(s) for s in ids} - {"midline"}
    side = "right" if sides == {"right"} else "left"
    if v == "side":
        return side
    if v == "three_quarter_side":
        return f"three_quarter_{side}"
    return v


def _layers(names: Sequence[str]) -> dict[str, bool]:
    shown = set(names)
    return {g: g in shown for g in LAYERS}


def _closest(points: Iterable[PointResult], structure_ids: Sequence[str], point_ids: Sequence[str]) -> float | None:
    best: float | None = None
    for r in points:
        if r.id not in point_ids:
            continue
        for f in r.findings:
            if f.structure in structure_ids and f.distance_mm is not None:
                best = f.distance_mm if best is None else min(best, f.distance_mm)
    return best


def _warned(points: Iterable[PointResult], structure_ids: Sequence[str], point_ids: Sequence[str]) -> bool:
    """Whether a caution or danger finding of these points names one of these structures."""
    return any(f.structure in structure_ids and f.severity.rank >= Severity.CAUTION.rank
               for r in points if r.id in point_ids for f in r.findings)


def _distance_words(mm: float) -> str:
    """A positive distance as a patient reads it: never "0 mm"."""
    return "less than 1 mm" if mm < 1.0 else f"about {mm:.0f} mm"


def _reached_effect(sp: Spared) -> str:
    """What the patient may notice if some medicine reaches this neighbour (the data file's ``reached``)."""
    words: dict[str, str] = _data()["reached"]
    for sid in sp.structure_ids:
        if base_of(sid) in words:
            return " ".join(words[base_of(sid)].split())
    return " ".join(words["default"].split())


def _spared_line(sp: Spared, clear: str, warned: str) -> str:
    """One neighbour's line: what it is, then what the analysis says of it, in plain words.

    Where the planned spread reaches it (:attr:`Spared.reached`) the line says so, what the injector does about
    it and what the patient could notice; it never promises that the neighbour is left alone nor gives a
    distance of "0 mm". Otherwise the promise (``clear``) stands unless a caution or danger finding names it
    (``warned``), with how far the spread stays from it.
    """
    line = sp.plain[0].upper() + sp.plain[1:]
    if sp.reached:
        return (f"- {line}: at one of your points the planned spread reaches the edge of it. Your injector "
                "checks the depth and position of that point before treating and can move it or lower the dose "
                f"there; if some medicine did reach it, {_reached_effect(sp)}.")
    if sp.warned:
        if sp.closest_mm is not None:
            line += f" (the planned spread comes within {_distance_words(sp.closest_mm)} of it)"
        line += "; " + (warned or "at one of your points the planned spread comes close to it: your injector "
                        "will check this point before treating")
    else:
        if clear:
            line += "; " + clear
        if sp.closest_mm is not None:
            line += (f" (the planned spread stops {_distance_words(sp.closest_mm)} short of it)" if sp.closest_mm < 5
                     else f" (the planned spread stays {_distance_words(sp.closest_mm)} away)")
    return f"- {line}."


def _with_sides(base_ids: Iterable[str], sides: Iterable[str]) -> tuple[str, ...]:
    """Each id as given and with each side's suffix (findings name sided structures)."""
    return tuple(dict.fromkeys(x for b in base_ids for x in (b, *(f"{base_of(b)}_{s}" for s in sorted(sides)))))


def _fmt_units(u: float) -> str:
    return f"{u:g}"


def walkthrough(plan: Plan | Mapping[str, Any], analysis: PlanResult | Iterable[PointResult] | None = None,
                model: Any = None) -> list[Step]:
    """The guided walkthrough of a plan.

    Parameters
    ----------
    plan : Plan or dict
        The plan (validated here when a dict).
    analysis : PlanResult or iterable of PointResult, optional
        ``check_plan``'s result for the plan (or its point results); when given, each spared neighbour says how close the
        planned sphere of effect comes to it, in plain words.
    model : FaceModel, optional
        When given, spared neighbours are kept only if the model has them.

    Returns
    -------
    list of Step
        ``intro``, one ``muscle`` step per treated muscle grouped by area, then ``after``.
    """
    plan = _plan(plan)
    analysed = list(analysis.points if isinstance(analysis, PlanResult) else analysis or ())
    data = _data()
    areas: dict[str, Any] = data["areas"]
    area_order = list(areas)
    treated = treated_muscles(plan)
    points_of: dict[str, list[str]] = {}
    units_of: dict[str, float] = {}
    for p in plan.points:
        if p.target and base_of(p.target) in treated:
            points_of.setdefault(base_of(p.target), []).append(p.id)
            units_of[base_of(p.target)] = units_of.get(base_of(p.target), 0.0) + float(p.units)
    ordered = sorted(treated, key=lambda b: (area_order.index(data["muscles"][b]["area"]),
                                             list(treated).index(b)))
    untargeted = [p.id for p in plan.points if not p.target or base_of(p.target) not in treated]
    area_titles = []
    for b in ordered:
        t = areas[data["muscles"][b]["area"]]["title"]
        if t not in area_titles:
            area_titles.append(t)
    intro_text = [
        f"Your plan has {len(plan.points)} small injection point{'s' if len(plan.points) != 1 else ''}"
        + (f" in {len(area_titles)} area{'s' if len(area_titles) != 1 else ''}: "
           + ", ".join(a.lower() for a in area_titles) + "." if area_titles else "."),
        "The medicine relaxes the chosen muscles for a few months. It does not fill or change the skin "
        "itself; the lines soften because the muscle under them pulls less.",
        "Each of the next steps shows one treated muscle: what it does, what the treatment changes, and "
        "what is left alone.",
    ]
    if untargeted:
        number = {p.id: n for n, p in enumerate(plan.points, start=1)}  # ids are the clinician's, not words
        intro_text.append("Points without a named muscle (" + ", ".join(f"point {number[i]}" for i in untargeted)
                          + ") are shown but not described.")
    steps = [Step(id="intro", kind="intro", area="", area_title="", title="Your treatment plan",
                  paragraphs=tuple(intro_text), view="front",
                  layers=_layers(["skin", "muscles", "eyes"]),
                  point_ids=tuple(p.id for p in plan.points),
                  units=float(sum(p.units for p in plan.points)))]
    for b in ordered:
        info = data["muscles"][b]
        area = areas[info["area"]]
        ids = treated[b]
        spared: list[Spared] = []
        wording: list[tuple[str, str]] = []
        for s in info.get("spared", []):
            sids: tuple[str, ...] = ()
            sides = {side_of(i) for i in ids} - {"midline"} or {"left", "right"}
            if s.get("structure"):
                sb = s["structure"]
                sides = {side_of(i) for i in ids} - {"midline"} or {"left", "right"}
                known = model.structures if model is not None else structure_ids()
                sids = tuple(c for c in [sb] + [f"{sb}_{side}" for side in sorted(sides)] if c in known)
            spared.append(Spared(plain=" ".join(str(s["plain"]).split()), structure_ids=sids,
                                 closest_mm=_closest(analysed, sids, points_of[b]) if sids else None,
                                 warned=bool(sids) and _warned(analysed, _with_sides(
                                     [*sids, *s.get("also", [])], sides), points_of[b])))
            wording.append((" ".join(str(s.get("if_clear") or "").split()),
                            " ".join(str(s.get("if_warned") or "").split())))
        n = len(points_of[b])
        paras = [
            f"**{info['plain_name'].capitalize()}** ({_sides_words(ids)}): "
            f"{n} point{'s' if n != 1 else ''}, {_fmt_units(units_of[b])} units in all.",
            f"**What it does.** {' '.join(str(info['does']).split())}",
            f"**What the treatment changes.** {' '.join(str(info['changes']).split())}",
        ]
        # a neighbour the planned spread reaches is never among what the treatment leaves alone
        kept = [_spared_line(sp, *w) for sp, w in zip(spared, wording, strict=True) if not sp.reached]
        reached = [_spared_line(sp, *w) for sp, w in zip(spared, wording, strict=True) if sp.reached]
        if kept:
            paras.append("**What it leaves alone.**\n\n" + "\n".join(kept))
        if reached:
            paras.append("**What the medicine may reach.**\n\n" + "\n".join(reached))
        focus_layers = list(area["layers"])
        steps.append(Step(
            id=b, kind="muscle", area=str(info["area"]), area_title=str(area["title"]),
            title=f"{area['title']}: {info['plain_name']}", paragraphs=tuple(paras),
            view=_view(area, ids), layers=_layers(focus_layers), focus=tuple(ids),
            point_ids=tuple(points_of[b]), units=units_of[b], spared=tuple(spared),
            sources=tuple(info.get("sources", ()))))
    after = [
        "The change starts after a few days and builds up over about two weeks. The timeline shows when "
        "to expect it for each treated area, and the two-week review where small adjustments are made.",
        "Below are the common, passing effects and the aftercare advice, each with where it comes from.",
        reminder(),
    ]
    steps.append(Step(id="after", kind="after", area="", area_title="", title="After the treatment",
                      paragraphs=tuple(after), view="front", layers=_layers(["skin", "eyes"]),
                      point_ids=tuple(p.id for p in plan.points)))
    return steps


def _areas_of(plan: Plan | Mapping[str, Any] | None) -> set[str] | None:
    if plan is None:
        return None
    return {str(muscle_info(b)["area"]) for b in treated_muscles(plan)}  # type: ignore[index]


def transient_effects(plan: Plan | Mapping[str, Any] | None = None) -> list[Effect]:
    """The common transient effects (and warning signs), those relevant to the plan's areas when given."""
    areas = _areas_of(plan)
    out = []
    for e in _data()["transient_effects"]:
        e_areas = tuple(e.get("areas", ()))
        if areas is not None and e_areas and not (set(e_areas) & areas):
            continue
        out.append(Effect(id=e["id"], name=e["name"], plain=" ".join(str(e["plain"]).split()), areas=e_areas,
                          sources=tuple(e["sources"]), confidence=str(e.get("confidence", "")),
                          seek_help=bool(e.get("seek_help", False))))
    return out


def aftercare() -> list[Advice]:
    """The aftercare advice, each with its evidence level and sources."""
    return [Advice(id=a["id"], advice=" ".join(str(a["advice"]).split()), why=" ".join(str(a["why"]).split()),
                   evidence=str(a["evidence"]), sources=tuple(a["sources"])) for a in _data()["aftercare"]]


# ------------------------------------------------------------------ the expression, before and after
@dataclass(frozen=True)
class ExpressionChange:
    """The expression a plan treats most, and its strength per side on the stills' days (1 = untreated).

    ``days`` are :data:`teaching.side_effects.STILL_DAYS` (before, at two weeks, at three months); the
    walkthrough shows one still per day (reports.stills) with :meth:`text` under them.
    """

    expression: str
    words: str
    days: tuple[tuple[float, str], ...]
    strengths: tuple[tuple[float, float], ...]  # (left, right) per day

    def text(self) -> str:
        """Plain words: how much of the movement is left at two weeks, and at three months."""
        parts = []
        for (day, when), (left, right) in zip(self.days, self.strengths, strict=True):
            if day <= 0:
                continue
            parts.append(f"{when}, {_share_words((left + right) / 2.0)}")
        return (f"{self.words}: " + "; ".join(parts) + ". These pictures are the model's average face, "
                "not a promise of how your face will look.")


def _share_words(share: float) -> str:
    """How much of a movement is left, in words (``share``: the strength, 1 = untreated)."""
    if share >= 0.95:
        return "the movement is back in full"
    if share >= 0.8:
        return "most of the movement is back"
    for limit, words in ((0.2, "a fifth or less"), (0.4, "a third"), (0.6, "half"), (0.8, "two thirds")):
        if share < limit:
            return f"about {words} of the movement is left"
    return "most of the movement is back"


#: the expressions in a patient's words
EXPRESSION_WORDS = {"frown": "Frowning", "brow_raise": "Raising the eyebrows", "squint": "Squinting",
                    "smile": "Smiling", "mouth_corner_down": "Turning the mouth corners down",
                    "chin": "Tensing the chin", "neck_bands": "Tensing the neck"}


def expression_change(model: Any, plan: Plan | Mapping[str, Any]) -> ExpressionChange | None:
    """The expression the plan treats most and its strength on the stills' days, or None (no expression changes)."""
    from injectmap.teaching.expressions import preview
    from injectmap.teaching.side_effects import STILL_DAYS, treated_expression

    plan = _plan(plan)
    results = [preview(model, plan, day) for day, _ in STILL_DAYS]
    name = treated_expression(results[1])
    if name is None:
        return None
    strengths = tuple((r.strengths[name]["left"].mid, r.strengths[name]["right"].mid) for r in results)
    return ExpressionChange(name, EXPRESSION_WORDS.get(name, name.replace("_", " ")), STILL_DAYS, strengths)
