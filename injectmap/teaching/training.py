"""Training exercises and their scoring, from injectmap.planning's analysis only. Pure: no rendering, no web.

An exercise (``injectmap/teaching/data/exercises/<id>.json``) sets a clinical scenario and says what a good
answer does: which muscles it must reach (per side), the allowed dose per target group and in total
(taken from :mod:`planning.doses` where it has a range, with sources), which structures must be
spared, special constraints (a heavy brow keeps the forehead points >= 25 mm above it; a high brow
needs more toxin on its side), and a reference answer plan in the CONTRACTS plan format.

:func:`score_attempt` scores a trainee's plan for an exercise. It runs
:func:`planning.check.check_plan` and reads its typed result; it measures no distance itself (the brow
height of a constraint is planning's own measure, the one its ``frontalis_low`` rule uses).

Score, out of 100 (:data:`WEIGHTS`):

- ``targets`` (30): the share of required targets reached (``target_reached``) by at least one
  point aimed at them.
- ``safety`` (35): ``35 * (1 - (mean point cost + worst point cost) / 2)`` (the worst point
  counts on its own, so one bad point among many is not diluted). A point's cost is the sum of its
  findings' costs (:data:`FINDING_COST`: danger 1.0, caution 0.2, info 0; on a structure the exercise says
  must be spared: danger 1.0, caution 0.4, info 0.05) plus 0.5 per broken exercise constraint,
  capped at 1. ``target_not_reached`` findings count under ``targets`` instead.
- ``dose`` (20): half for the target groups (mean credit), half for the total of the target muscles (the
  same units: a point whose tip lies in a muscle to spare gives its units to that muscle). A dose inside
  [min, max] earns 1; outside, ``max(0, 1 - 2 * relative miss)``. Doses are
  onabotulinumtoxinA-equivalent units.
- ``balance`` (15): symmetric exercises earn a share for each bilateral group whose two sides get toxin
  within planning's imbalance ratio (none on either side earns nothing); an exercise that expects an
  asymmetry earns the 15 only when the expected side gets at least ``min_ratio`` times the other side's dose.

A point with no target is scored as a point of the exercise's target on its side (a point clicked into an
exercise is one of its points), so planning's rules for that muscle apply to it.

Any danger finding (point or plan level) caps the score at 49 and the attempt does not pass;
passing needs >= 80 and no danger.

Scores are kept per trainee in a local JSON file (:func:`record_score`, :func:`history`), written
atomically.

Examples
--------
>>> from injectmap.anatomy.model import load_model            # doctest: +SKIP
>>> ex = load_exercise("glabellar_complex")         # doctest: +SKIP
>>> s = score_attempt(ex, ex.reference, load_model())  # doctest: +SKIP
>>> s.total >= 80, s.passed                         # doctest: +SKIP
(True, True)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    Field,
    NonNegativeFloat,
    StringConstraints,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from injectmap.anatomy.datamodel import DataModel, loc_text
from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.fileio import atomic_write_bytes, file_lock
from injectmap.anatomy.ids import base_of, side_of, structure_ids
from injectmap.anatomy.params import FaceParamsError
from injectmap.planning.analysis import place_all
from injectmap.planning.check import check_plan, model_for_plan
from injectmap.planning.datafiles import load_data, register_model
from injectmap.planning.doses import area_dose_range, dose_group_of, dose_range, range_words
from injectmap.planning.plan import PlanError, parse_plan
from injectmap.planning.products import ona_equivalent_units
from injectmap.planning.results import Finding, PlanResult, PointResult, Severity
from injectmap.planning.rules import brow_height_mm, sentence, thresholds
from injectmap.planning.sides import side_of_x
from injectmap.teaching.training_expected import ExpectedOutcome, ExpectedResultSpec, evaluate_expected
from injectmap.teaching.training_fixes import (
    AXES,
    PLACEMENT_CODES,
    Fix,
    Move,
    Resolution,
    corridor_kind,
    fix_for,
    fix_toward,
    lower_name,
    resolve,
    without_axes,
)

__all__ = [
    "EXERCISE_FORMAT",
    "FINDING_COST",
    "SCORES_FORMAT",
    "WEIGHTS",
    "Balance",
    "Component",
    "Constraint",
    "DoseLimit",
    "Exercise",
    "ExerciseFile",
    "ExerciseError",
    "Feedback",
    "Score",
    "ScoreFileError",
    "TrainingHintsFile",
    "exercise_ids",
    "history",
    "load_exercise",
    "load_exercises",
    "parse_exercise",
    "record_score",
    "score_attempt",
    "validate_trainee",
    "contradictions",
    "pass_mark_lines",
    "point_moves",
    "scores_path",
]

EXERCISE_FORMAT = "injectmap-exercise"
SCORES_FORMAT = "injectmap-training-scores"
WEIGHTS: dict[str, float] = {"targets": 30.0, "safety": 35.0, "dose": 20.0, "balance": 15.0}
#: cost of one finding in a point's safety cost: (severity, on a must-spare structure) -> cost
FINDING_COST: dict[tuple[Severity, bool], float] = {
    (Severity.DANGER, False): 1.0, (Severity.DANGER, True): 1.0,
    (Severity.CAUTION, False): 0.2, (Severity.CAUTION, True): 0.4,
    (Severity.INFO, False): 0.0, (Severity.INFO, True): 0.05,
}
CONSTRAINT_COST = 0.5
DANGER_CAP = 49
PASS_MARK = 80
#: a point that breaks a placement rule (training_fixes.PLACEMENT_CODES: planning's position rules, the septum and
#: the exercise's constraints) does not pass, whatever the score; corridor findings (anatomical variation, a
#: bruise) only cost points, since the published sites themselves lie in corridors
PLACEMENT_RULES = PLACEMENT_CODES
MAX_TRAINEE_CHARS = 64
MAX_SCORE_FILE_BYTES = 20_000_000
_TRAINEE_EXTRA = set(" -'._")


class ExerciseError(UserFacing, ValueError):
    """An exercise file is missing or malformed; ``errors`` lists every problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = list(errors)
        super().__init__(f"{source}: " + "; ".join(self.errors))


class ScoreFileError(ValueError):
    """The score file cannot be read or written (its path and the reason are in the message)."""


# ---------------------------------------------------------------------------------------- exercises
@dataclass(frozen=True)
class DoseLimit:
    """An allowed dose (onabotulinumtoxinA-equivalent units) for a group of structures or in total."""

    id: str
    structures: tuple[str, ...]
    min_units: float
    max_units: float
    source: str
    #: planning's range in words where the limit takes it ("planning's masseter range: 20-40 U per side, usually
    #: 24-32 U", from dose_ranges.yaml: never typed into an exercise), else ""
    planning: str = ""
    #: why the exercise narrows planning's range (its own source text), "" when it takes the range as it is
    narrowed: str = ""

    def allowed_words(self) -> str:
        """The allowed range in words, with planning's range where the exercise takes it and why it differs:
        ``"20-30 U (a small jaw: ...; planning's masseter range: 20-40 U per side, usually 24-32 U)"``."""
        allowed = range_words(self.min_units, self.max_units)
        said = "; ".join(x for x in (self.narrowed, self.planning) if x)
        return f"{allowed} ({said})" if said else allowed

    def credit(self, units: float) -> float:
        """1 inside [min, max]; ``max(0, 1 - 2 * relative miss)`` outside."""
        if self.min_units <= units <= self.max_units:
            return 1.0
        ref = self.min_units if units < self.min_units else self.max_units
        miss = abs(units - ref) / max(ref, 1e-9)
        return max(0.0, 1.0 - 2.0 * miss)


@dataclass(frozen=True)
class Balance:
    """What the exercise expects of left and right: ``"symmetric"`` or ``"asymmetric"``."""

    expect: str = "symmetric"
    group: str = ""  #: base id whose sides are compared (asymmetric)
    higher_side: str = ""  #: "left" or "right" (asymmetric)
    min_ratio: float = 1.0
    why: str = ""


@dataclass(frozen=True)
class Constraint:
    """A special constraint: ``kind == "min_brow_height"`` keeps points aimed at ``targets`` at
    least ``min_mm`` above the brow."""

    kind: str
    targets: tuple[str, ...]
    min_mm: float
    why: str


@dataclass(frozen=True)
class Exercise:
    """One training exercise (see the module doc)."""

    id: str
    title: str
    goal: str
    scenario: str
    targets: tuple[str, ...]
    dose_groups: tuple[DoseLimit, ...]
    total: DoseLimit
    spare: tuple[str, ...]
    balance: Balance
    constraints: tuple[Constraint, ...]
    reference: dict[str, Any]
    reference_notes: str = ""
    level: str = ""
    source: str = ""
    start: dict[str, Any] | None = None
    #: what the face should do at two weeks (teaching.training_expected), or None
    expected: ExpectedResultSpec | None = None

    def reference_plan(self) -> dict[str, Any]:
        """A copy of the reference answer (a CONTRACTS plan dict)."""
        return json.loads(json.dumps(self.reference))

    def start_plan(self) -> dict[str, Any]:
        """The plan the exercise starts from: its own ``start`` plan, else an empty plan with the reference's
        product and face (a copy; never the plan the trainee had before)."""
        if self.start is not None:
            return json.loads(json.dumps(self.start))
        ref = self.reference_plan()
        plan: dict[str, Any] = {"format": "injectmap-plan", "version": 1, "product": ref["product"], "points": []}
        if ref.get("model"):
            plan["model"] = ref["model"]
        return plan


def _exercise_dir() -> Path:
    return Path(str(resources.files("injectmap.teaching").joinpath("data", "exercises")))


def exercise_ids() -> list[str]:
    """Ids of the exercises shipped with planning, in teaching order (file names sort by order)."""
    return [e.id for e in load_exercises().values()]


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Exercise]:
    out: dict[str, Exercise] = {}
    for path in sorted(_exercise_dir().glob("*.json")):
        ex = load_exercise(path)
        if ex.id in out:
            raise ExerciseError(str(path), [f"duplicate exercise id {ex.id!r}"])
        out[ex.id] = ex
    return out


def load_exercises() -> dict[str, Exercise]:
    """Every shipped exercise, id -> :class:`Exercise`, in teaching order."""
    return dict(_shipped())


def load_exercise(ref: str | os.PathLike[str]) -> Exercise:
    """An exercise by id (a shipped one) or by path to a JSON file.

    Raises
    ------
    ExerciseError
        For an unknown id, an unreadable file or an invalid exercise (every problem listed).
    """
    text_ref = str(ref)
    path = Path(text_ref)
    if not (text_ref.endswith(".json") or path.exists()):
        shipped = _shipped() if _exercise_dir().exists() else {}
        if text_ref in shipped:
            return shipped[text_ref]
        raise ExerciseError(text_ref, [f"unknown exercise; known: {', '.join(shipped)}"])
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExerciseError(text_ref, [f"cannot read: {exc.strerror or exc}"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExerciseError(text_ref, [f"not valid JSON: {exc}"]) from None
    return parse_exercise(obj, source=text_ref)


def _limit(gid: str, d: Mapping[str, Any], structures: tuple[str, ...], errors: list[str], where: str,
           area: bool = False) -> DoseLimit:
    """A dose limit from injectmap.planning's ranges (``planning`` / ``planning_area``) or explicit numbers."""
    lo = hi = None
    sources = []
    planning = ""
    r = None
    key = d.get("planning_area" if area else "planning")
    if key is not None:
        try:
            r = area_dose_range(str(key)) if area else dose_range(str(key))
        except KeyError as exc:
            errors.append(f"{where}: {exc.args[0]}")
            r = None
        if r is None and not area:
            errors.append(f"{where}: planning has no dose range for {key!r}")
        if r is not None:
            lo, hi = r.low_units, r.high_units
            sources.append(f"planning.doses {key} ({r.low_units:g}-{r.high_units:g} U {r.per}): {r.source}")
            planning = _planning_words(str(key), r, area)
    if "min_units" in d:
        lo = d["min_units"]
    if "max_units" in d:
        hi = d["max_units"]
    if d.get("source"):
        sources.insert(0, str(d["source"]))
    ok = True
    for name, v in (("min_units", lo), ("max_units", hi)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            errors.append(f"{where}.{name}: a number >= 0 is needed (give it or a planning range), got {v!r}")
            ok = False
    if ok and float(lo) > float(hi):  # type: ignore[arg-type]
        errors.append(f"{where}: min_units {lo} > max_units {hi}")
    if not sources:
        errors.append(f"{where}: a source is needed")
    low, high = (float(lo) if ok and lo is not None else 0.0), (float(hi) if ok and hi is not None else 0.0)
    narrowed = "" if r is None or (low, high) == (r.low_units, r.high_units) else str(
        d.get("source") or "the exercise's own limit")
    return DoseLimit(gid, structures, low, high, " | ".join(sources), planning, narrowed)


def _planning_words(key: str, r: Any, area: bool) -> str:
    """Planning's range in words, from dose_ranges.yaml (an exercise never types its numbers)."""
    per = "per side" if r.per == "side" else "in all"
    usual = range_words(r.typical_low_units, r.typical_high_units)
    return (f"planning's {key.replace('_', ' ')} {'area ' if area else ''}range: "
            f"{range_words(r.low_units, r.high_units)} {per}, usually {usual}")


def _known_structure(sid: str) -> str:
    if sid not in _structure_set():
        raise ValueError(f"unknown structure {sid!r}")
    return sid


@lru_cache(maxsize=1)
def _structure_set() -> frozenset[str]:
    return frozenset(structure_ids())


def _valid_plan(value: Any) -> dict[str, Any]:
    try:
        parse_plan(value)
    except PlanError as exc:
        raise ValidationError.from_exception_data("reference", [
            InitErrorDetails(type=PydanticCustomError("plan", "{message}", {"message": str(e)}), loc=(), input=value)
            for e in exc.errors]) from None
    return dict(value)


StructureId = Annotated[str, AfterValidator(_known_structure)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Limit(DataModel):
    """A dose limit: a planning range (``planning`` / ``planning_area``) and/or explicit numbers."""

    planning: str | None = None
    planning_area: str | None = None
    min_units: NonNegativeFloat | None = None
    max_units: NonNegativeFloat | None = None
    source: str | None = None


class _DoseGroup(_Limit):
    id: NonEmptyText
    structures: list[StructureId]


class _Balance(DataModel):
    expect: Literal["symmetric", "asymmetric"] = "symmetric"
    group: str = ""
    higher_side: Literal["left", "right", ""] = ""
    min_ratio: float = 1.0
    why: str = ""

    @model_validator(mode="after")
    def _asymmetric_complete(self) -> _Balance:
        if self.expect == "asymmetric" and (not self.higher_side or not self.group or self.min_ratio < 1.0):
            raise ValueError("an asymmetric exercise needs group, higher_side (left/right) and min_ratio >= 1")
        return self


class _Constraint(DataModel):
    kind: Literal["min_brow_height"]
    targets: list[StructureId]
    min_mm: NonNegativeFloat = 0.0
    why: str = ""


class ExerciseFile(DataModel):
    """A training exercise file (``teaching/data/exercises/*.json``), version 1."""

    format: Literal["injectmap-exercise"]
    version: Literal[1]
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    title: NonEmptyText
    level: str = ""
    goal: NonEmptyText
    scenario: NonEmptyText
    targets: Annotated[list[StructureId], Field(min_length=1)]
    dose_groups: Annotated[list[_DoseGroup], Field(min_length=1)]
    total: _Limit
    spare: list[StructureId] = []
    balance: _Balance = _Balance()
    constraints: list[_Constraint] = []
    reference: Annotated[dict[str, Any], WrapValidator(lambda v, _h: _valid_plan(v))]
    reference_notes: str = ""
    sources: list[str] = []
    #: the plan the exercise starts from (optional; default: an empty plan on the reference's product and face)
    start: Annotated[dict[str, Any] | None, WrapValidator(lambda v, _h: None if v is None else _valid_plan(v))] = None
    #: the expected result at two weeks, scored from the expression model (teaching.training_expected)
    expected_result: ExpectedResultSpec | None = None


def _exercise_messages(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            parent = loc_text(loc[:-1])
            out.append((f"{parent}: " if parent else "") + f"unknown key {loc[-1]!r}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            out.append(f"{loc_text(loc)}: {msg}" if loc else msg)
    return out


def parse_exercise(obj: Any, source: str = "<exercise>") -> Exercise:
    """Validate a decoded exercise object against :class:`ExerciseFile`; raise :class:`ExerciseError` listing
    every problem."""
    if not isinstance(obj, dict):
        raise ExerciseError(source, ["an exercise is a JSON object"])
    try:
        f = ExerciseFile.model_validate(obj)
    except ValidationError as exc:
        raise ExerciseError(source, _exercise_messages(exc)) from None
    errors: list[str] = []
    groups = [_limit(g.id, g.model_dump(exclude_none=True), tuple(g.structures), errors, f"dose_groups[{i}]")
              for i, g in enumerate(f.dose_groups)]
    total = _limit("total", f.total.model_dump(exclude_none=True), tuple(s for g in groups for s in g.structures),
                   errors, "total", area=True)
    if errors:
        raise ExerciseError(source, errors)
    b = f.balance
    return Exercise(id=f.id, title=f.title, goal=f.goal, scenario=f.scenario, targets=tuple(f.targets),
                    dose_groups=tuple(groups), total=total, spare=tuple(f.spare),
                    balance=Balance(expect=b.expect, group=b.group, higher_side=b.higher_side,
                                    min_ratio=b.min_ratio, why=b.why),
                    constraints=tuple(Constraint(c.kind, tuple(c.targets), c.min_mm, c.why) for c in f.constraints),
                    reference=dict(f.reference), reference_notes=f.reference_notes, level=f.level, source=source,
                    start=dict(f.start) if f.start is not None else None, expected=f.expected_result)


# ---------------------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Component:
    """One part of a score."""

    name: str
    points: float
    max_points: float
    detail: str


@dataclass(frozen=True)
class Feedback:
    """One mistake, in anatomical terms, with the structure at fault (a structure id, or '')."""

    severity: Severity
    code: str
    message: str
    structure: str = ""
    point: str = ""
    #: the move this item asks of its point (None: no move); one point's items never ask opposite moves
    move: Move | None = None


@dataclass
class Score:
    """The score of one attempt."""

    exercise_id: str
    total: int
    components: dict[str, Component]
    feedback: list[Feedback] = field(default_factory=list)
    danger: int = 0
    passed: bool = False
    errors: list[str] = field(default_factory=list)
    #: why the attempt does not pass besides its total (a missed target, a broken placement rule, an overdose)
    failed: list[str] = field(default_factory=list)
    #: the exercise's expected-result checks on this plan (none when the exercise has no expected result)
    expected: list[ExpectedOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"exercise_id": self.exercise_id, "total": self.total, "passed": self.passed, "danger": self.danger,
                "verdict": self.verdict(), "failed": list(self.failed),
                "expected": [e.as_dict() for e in self.expected],
                "components": {k: asdict(c) for k, c in self.components.items()},
                "feedback": [{**asdict(f), "severity": f.severity.value} for f in self.feedback],
                "errors": list(self.errors)}

    def summary(self) -> str:
        parts = ", ".join(f"{c.name} {c.points:.0f}/{c.max_points:.0f}" for c in self.components.values())
        verdict = "passed" if self.passed else "not passed"
        return f"{self.total}/100 ({verdict}): {parts}"

    def verdict(self) -> str:
        """Why this attempt passed or not, against the pass mark."""
        if self.errors:
            return "Not passed: the plan cannot be evaluated (see its errors)."
        if self.danger:
            return (f"Not passed: {self.danger} danger finding(s); a danger fails the exercise whatever the score "
                    f"(capped at {DANGER_CAP}).")
        why = ([f"{self.total} is below the pass mark of {PASS_MARK}"] if self.total < PASS_MARK else []) + self.failed
        if why:
            return "Not passed: " + "; ".join(why) + "."
        return (f"Passed: {self.total} reaches the pass mark of {PASS_MARK}, every required muscle is reached, no "
                "placement rule is broken, no dose is above its maximum and there is no danger finding.")


def pass_mark_lines() -> list[str]:
    """What counts toward the score and how much, and the pass mark (shown in the app and the CLI)."""
    c = FINDING_COST
    return [
        f"Pass mark: {PASS_MARK} of 100, and also every required muscle reached, no placement rule broken (the "
        "margins each site is taught with: brow, orbital rim and canthus, the masseter safe zone and depth, DAO and "
        "mentalis positions, platysma depth, and no needle tip in a muscle to spare instead of the target), no dose "
        f"above its allowed maximum, and no danger finding (a danger caps the score at {DANGER_CAP}). A point "
        "without a target counts as one for this exercise's muscle on its side.",
        f"Targets {WEIGHTS['targets']:g}: the share of the required muscles that a point's likely field reaches.",
        f"Safety {WEIGHTS['safety']:g}: {WEIGHTS['safety']:g} x (1 - (mean + worst point cost) / 2); a point's cost "
        f"is {c[(Severity.DANGER, False)]:g} per danger, {c[(Severity.CAUTION, False)]:g} per caution "
        f"({c[(Severity.CAUTION, True)]:g} on a structure the exercise must spare), "
        f"{c[(Severity.INFO, True)]:g} per info on such a structure, {CONSTRAINT_COST:g} per broken placement rule "
        "or exercise constraint, at most 1.",
        f"Dose {WEIGHTS['dose']:g}: half for the dose of each muscle group, half for the total in the target "
        "muscles; full marks inside the allowed range, less the further outside it (nothing at 50% off).",
        f"Balance {WEIGHTS['balance']:g}: left and right target muscles dosed alike, none of them left without "
        "toxin (or the asymmetry the exercise asks for).",
    ]


def point_moves(feedback: Iterable[Feedback]) -> dict[str, Move]:
    """The one move the feedback asks of each point (its items' moves put together), point id -> move."""
    by_point: dict[str, list[Fix]] = {}
    for f in feedback:
        if f.point and f.move is not None:
            by_point.setdefault(f.point, []).append(Fix(f.code, f.structure, f.severity, f.move, ""))
    out = {}
    for pid, fixes in by_point.items():
        mv = resolve(fixes).move
        if mv is not None:
            out[pid] = mv
    return out


def contradictions(feedback: Iterable[Feedback]) -> list[str]:
    """Opposite moves asked of one point on one axis (up and down, medial and lateral, forward and back,
    deeper and shallower), as sentences; empty when the feedback is consistent."""
    asked: dict[tuple[str, str], dict[int, list[str]]] = {}
    for f in feedback:
        if not f.point or f.move is None:
            continue
        for axis, sign in f.move.signs().items():
            asked.setdefault((f.point, axis), {}).setdefault(sign, []).append(f.code)
    out = []
    for (pid, axis), signs in asked.items():
        if len(signs) > 1:
            plus, minus = next((p, m) for a, p, m in AXES if a == axis)
            out.append(f"point {pid}: {plus} ({', '.join(signs[1])}) and {minus} ({', '.join(signs[-1])})")
    return out


class TrainingHintsFile(DataModel):
    """training_hints.yaml: the words of a fix (teaching.training_fixes derives its direction and distance)."""

    margin_mm: NonNegativeFloat
    smaller_dose: Annotated[str, StringConstraints(min_length=1)]
    default: Annotated[str, StringConstraints(min_length=1)]
    corridor: Annotated[str, StringConstraints(min_length=1)]
    #: what a needle in a corridor risks, by what runs there (artery, nerve, duct, foramen)
    corridor_risk: dict[str, Annotated[str, StringConstraints(min_length=1)]]
    #: the care a point kept near a structure by a stronger fix needs, by the structure's kind (``default`` else)
    yields: dict[str, Annotated[str, StringConstraints(min_length=1)]]
    not_over_muscle: Annotated[str, StringConstraints(min_length=1)]
    dose_on_point: Annotated[str, StringConstraints(min_length=1)]
    by_code: dict[str, str]
    by_structure: dict[str, str]

    @model_validator(mode="after")
    def _default_care(self) -> TrainingHintsFile:
        if "default" not in self.yields:
            raise ValueError("yields needs a 'default' entry")
        return self


register_model("training_hints.yaml", TrainingHintsFile, "injectmap.teaching")


@lru_cache(maxsize=1)
def _hints() -> dict[str, Any]:
    return load_data("training_hints.yaml", "injectmap.teaching")


def _name(model: Any, sid: str) -> str:
    s = model.structures.get(sid)
    if s is None:
        return sid.replace("_", " ")
    name = lower_name(s.name)
    if s.kind == "muscle" and side_of(sid) == "midline":
        return f"the {name}"
    side = side_of(sid)
    return name if side == "midline" else f"the {side} {name}"


def _consequence(model: Any, sid: str) -> str:
    s = model.structures.get(sid)
    return s.weakened if s is not None else ""


def _explain(model: Any, out: PointResult, f: Finding) -> str:
    """What the finding says, in anatomical terms, with the point's id."""
    pid, sid, d = out.id, f.structure or "", f.distance_mm
    name = _name(model, sid)
    if f.code == "sphere_near_structure":
        return (f"Point {pid} reaches {name} (likely field {out.radius_mm:.0f} mm reaches it"
                + (f" by {-float(d):.0f} mm" if d is not None and float(d) < 0 else "") + f"): "
                f"{_consequence(model, sid)}.")
    if f.code == "sphere_may_reach_structure":
        return f"Point {pid} may reach {name} (outer field {out.radius_outer_mm:.0f} mm): {_consequence(model, sid)}."
    msg = f.message.strip()  # planning's messages (tip, corridor and position rules) already explain the anatomy
    return f"Point {pid}: {msg}{'' if msg.endswith('.') else '.'}"


def _care(model: Any, fx: Fix) -> str:
    """The care a point needs where a stronger fix keeps it near ``fx``'s structure: that structure's own hazard."""
    s = model.structures.get(fx.structure)
    kind = corridor_kind(fx.code) or (s.kind if s is not None else "")
    care: Mapping[str, str] = _hints()["yields"]
    return str(care.get(kind, care["default"]))


@dataclass
class _PointFixes:
    """The fixes of one point's findings, resolved into one move (teaching.training_fixes.resolve)."""

    fixes: dict[tuple[str, str], Fix] = field(default_factory=dict)
    res: Resolution = field(default_factory=Resolution)

    @property
    def move(self) -> Move | None:
        return self.res.move

    def row(self, model: Any, key: tuple[str, str]) -> tuple[str, Move | None]:
        """The fix text and move of one finding, consistent with the point's other fixes."""
        fx = self.fixes[key]
        move = without_axes(fx.move, self.res.blocked(fx))
        clash = [c for c in self.res.conflicts if fx in (c.a, c.b)]
        if clash:
            text = "; ".join(c.text() for c in clash)
            return (f"{move.text()}, {fx.reason}; but {text}" if move is not None else text), move
        stronger = [o for f, o, _ in self.res.yields if f is fx]
        if stronger:
            first = stronger[0].short
            care = (fx.alternative or _care(model, fx)).removeprefix("or ")
            text = (f"{move.text()}, {fx.reason}; " if move is not None else "") + (
                f"keeping it {first} comes first, so it stays near {_name(model, fx.structure)}: {care}")
            return text, move
        text = fx.text()
        if self.move is not None and move is not None and self.move != move and len(self.fixes) > 1:
            text += f" (all of this point's fixes together: {self.move.text()})"
        return text, move


def _brow_fix(exercise: Exercise, out: PointResult, model: Any) -> tuple[Fix, float, Constraint] | None:
    """The fix of a broken exercise constraint (a point too close to a heavy brow), or None."""
    for con in exercise.constraints:
        if out.target in con.targets and con.kind == "min_brow_height":
            h = _brow_height_mm(model, out.entry_mm)
            if h < con.min_mm:
                margin = float(_hints()["margin_mm"])
                up = float(np.ceil(con.min_mm - h + margin - 1e-9))
                midline = side_of_x(float(out.entry_mm[0])) == "midline"
                return (Fix("brow_height", out.target or "", Severity.CAUTION, Move(up=up, midline=midline),
                            str(_hints()["by_code"]["brow_height"])), h, con)
    return None


def _point_fixes(exercise: Exercise, out: PointResult, model: Any) -> _PointFixes:
    """Every fix the point's caution and danger findings (and the exercise's constraints) ask for, and the
    advice to keep a likely field off a structure the exercise spares (info: it yields to every fix)."""
    hints = _hints()
    pf = _PointFixes()
    for f in out.findings:
        key = (f.code, f.structure or "")
        if f.severity >= Severity.CAUTION:
            pf.fixes[key] = fix_toward(model, out, f, hints) if f.code == "target_not_reached" else \
                fix_for(model, out, f, hints)
        elif f.code == "sphere_near_structure" and f.structure in exercise.spare:
            pf.fixes[key] = fix_for(model, out, f, hints)
    brow = _brow_fix(exercise, out, model)
    if brow is not None:
        pf.fixes[("brow_height", brow[0].structure)] = brow[0]
    pf.res = resolve(pf.fixes.values())
    return pf


def _sum_units(by_target: Mapping[str, float], structures: tuple[str, ...]) -> float:
    return float(sum(by_target.get(s, 0.0) for s in structures))


def score_attempt(exercise: Exercise, plan_dict: Mapping[str, Any], model: Any) -> Score:
    """Score a trainee's plan for an exercise from injectmap.planning's analysis (:func:`check_plan`).

    Parameters
    ----------
    exercise : Exercise
    plan_dict : dict
        The trainee's plan in the CONTRACTS plan format.
    model : FaceModel
        The face the plan is checked on.

    Returns
    -------
    Score
        Total 0-100, the four components, and feedback items (worst first), each naming the
        structure at fault. A plan with errors scores 0 and lists them in ``errors``.
    """
    if plan_dict.get("model"):
        # the plan names its face (e.g. a small jaw, a high brow): score on that face
        try:
            model = model_for_plan(parse_plan(dict(plan_dict)))
        except (PlanError, FaceParamsError):
            pass  # check_plan reports the plan's errors below
    aimed, assumed = _aim_untargeted(exercise, plan_dict, model)
    res = check_plan(aimed, model)
    if res.errors:
        zero = {k: Component(k, 0.0, w, "") for k, w in WEIGHTS.items()}
        fb = [Feedback(Severity.DANGER, "plan_error", f"The plan cannot be evaluated: {e}") for e in res.errors[:10]]
        return Score(exercise.id, 0, zero, fb, 0, False, list(res.errors))
    plan = parse_plan(aimed)
    by_target, elsewhere = _units_by_target(plan, res)

    fixes = {out.id: _point_fixes(exercise, out, model) for out in res.points}
    comps: dict[str, Component] = {}
    comps["targets"], feedback = _targets(exercise, res.points, model, fixes)
    comps["safety"], safety_fb, danger = _safety(exercise, res, model, fixes)
    comps["dose"], dose_fb = _dose(exercise, by_target, model, elsewhere)
    comps["balance"], bal_fb = _balance(exercise, by_target, model)
    feedback += safety_fb + dose_fb + bal_fb
    feedback += [Feedback(Severity.INFO, "target_assumed", f"Point {pid} has no target: it is scored as a point of "
                          f"{_name(model, t)}, this exercise's target on its side (give it a target to score it "
                          "against another).", t, pid) for pid, t in assumed.items()]

    total = sum(c.points for c in comps.values())
    if danger:
        total = min(total, DANGER_CAP)
        feedback.insert(0, Feedback(Severity.DANGER, "danger_cap",
                                    f"{danger} danger finding(s): a danger fails the exercise whatever the other "
                                    f"points (score capped at {DANGER_CAP})."))
    feedback.sort(key=lambda f: -f.severity.rank)  # worst first, stable within a severity
    comps = {k: Component(c.name, round(c.points, 1), c.max_points, c.detail) for k, c in comps.items()}
    total_points = int(round(total))
    failed = _must_fail(exercise, comps, feedback, by_target)
    expected = evaluate_expected(exercise.expected, model, plan) if exercise.expected is not None else []
    unmet = [e for e in expected if not e.met]
    for e in unmet:  # the expected result, from the expression model (a caution: a look, not a hazard)
        feedback.append(Feedback(Severity.CAUTION, "expected_result",
                                 f"Expected at day {exercise.expected.day:g}: {e.text}. "  # type: ignore[union-attr]
                                 f"Measured: {e.measured}."))
    if unmet:
        failed.append("expected result not met: " + "; ".join(e.text for e in unmet))
        feedback.sort(key=lambda f: -f.severity.rank)
    return Score(exercise.id, total_points, comps, feedback, danger,
                 bool(total_points >= PASS_MARK and not danger and not failed), failed=failed, expected=expected)


def _target_on_side(exercise: Exercise, x_mm: float) -> str:
    """The exercise's target on the side of a skin entry at ``x_mm`` (a point on the midline: the midline target,
    else the side it leans to); the first listed when a side has several."""
    for side in (side_of_x(x_mm), "left" if x_mm >= 0 else "right"):
        on_side = [t for t in exercise.targets if side_of(t) == side]
        if on_side:
            return on_side[0]
    return exercise.targets[0]


def _aim_untargeted(exercise: Exercise, plan_dict: Mapping[str, Any], model: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The plan with each point that names no target aimed at the exercise's target on its side, and those points'
    ids -> the target given. A point clicked into an exercise is one of its points: planning's rules for that muscle
    (the masseter's depth and safe zone, the DAO's position...) and its dose and balance then count it. A plan that
    cannot be read or placed is returned as it is (check_plan reports why)."""
    plan = dict(plan_dict)
    raw = plan.get("points")
    if not isinstance(raw, list):
        return plan, {}
    try:
        parsed = parse_plan(plan)
    except PlanError:
        return plan, {}
    if all(p.target is not None for p in parsed.points):
        return plan, {}
    placed, issues = place_all(model, parsed)
    if issues or len(raw) != len(parsed.points):
        return plan, {}
    points, assumed = [], {}
    for given, p, where in zip(raw, parsed.points, placed, strict=True):
        if p.target is None and where is not None:
            assumed[p.id] = _target_on_side(exercise, float(where.entry_mm[0]))
            given = {**given, "target": assumed[p.id]}
        points.append(given)
    return {**plan, "points": points}, assumed


def _units_by_target(plan: Any, res: PlanResult) -> tuple[dict[str, float], dict[str, float]]:
    """Ona-equivalent units (planning's conversion) per target structure, and per point the units that go elsewhere:
    a point whose tip lies in a muscle to spare instead of its target (planning's ``tip_in_spared_muscle``) gives its
    units to that muscle, not to the target."""
    by_target: dict[str, float] = {}
    elsewhere: dict[str, float] = {}
    for p, out in zip(plan.points, res.points, strict=True):
        units = ona_equivalent_units(out.units, plan.product_of(p).name)
        spared = next((f.structure for f in out.findings if f.code == "tip_in_spared_muscle" and f.structure), None)
        key = spared or p.target or out.tip_in or ""
        if spared:
            elsewhere[out.id] = units
        by_target[key] = by_target.get(key, 0.0) + units
    return by_target, elsewhere


def _must_fail(exercise: Exercise, comps: Mapping[str, Component], feedback: list[Feedback],
               by_target: Mapping[str, float]) -> list[str]:
    """What fails the attempt whatever its total: a missed target, a broken placement rule, an overdose."""
    out = []
    missed = sorted({f.structure for f in feedback if f.code == "target_missed"})
    if missed:
        out.append(f"{len(missed)} required muscle(s) not reached ({', '.join(m.replace('_', ' ') for m in missed)})")
    broken = sorted({(f.point, f.code) for f in feedback if f.code in PLACEMENT_RULES and f.severity >= Severity.CAUTION})
    if broken:
        out.append("placement rule broken: " + ", ".join(f"{c.replace('_', ' ')} at point {p}" for p, c in broken))
    doses = [(g, _sum_units(by_target, g.structures)) for g in exercise.dose_groups]
    doses.append((exercise.total, _sum_units(by_target, exercise.total.structures)))
    over = [(g, u) for g, u in doses if u > g.max_units + 1e-9]
    if over:
        out.append("dose above the allowed maximum: " + ", ".join(
            f"{g.id.replace('_', ' ')} {u:g} U > {g.max_units:g} U" for g, u in over))
    return out


def _targets(exercise: Exercise, points: tuple[PointResult, ...], model: Any,
             fixes: Mapping[str, _PointFixes]) -> tuple[Component, list[Feedback]]:
    """The ``targets`` component: the share of required targets reached, and a feedback per missed one."""
    feedback: list[Feedback] = []
    reached: dict[str, list[str]] = {t: [] for t in exercise.targets}
    for out in points:
        if out.target in reached and out.target_reached:
            reached[out.target].append(out.id)
    for t, pids in reached.items():
        if pids:
            continue
        aimed = [o for o in points if o.target == t]
        move = None
        if aimed:
            ids = ", ".join(o.id for o in aimed)
            msg = (f"No point reaches {_name(model, t)}: point(s) {ids} aim at it but their field of effect "
                   f"does not reach the muscle ({model.structures[t].action}).")
            key = ("target_not_reached", t)
            if key in fixes[aimed[0].id].fixes:
                text, move = fixes[aimed[0].id].row(model, key)
                msg += f" To fix point {aimed[0].id}: {text}."
        else:
            msg = _untreated_message(model, t, exercise, points)
        feedback.append(Feedback(Severity.CAUTION, "target_missed", msg, t, aimed[0].id if aimed else "", move))
    n_ok = sum(1 for v in reached.values() if v)
    pts = WEIGHTS["targets"] * n_ok / len(exercise.targets)
    return Component("targets", pts, WEIGHTS["targets"], f"{n_ok} of {len(exercise.targets)} required targets reached"), \
        feedback


def _untreated_message(model: Any, t: str, exercise: Exercise, points: tuple[PointResult, ...]) -> str:
    """No point aims at target ``t``: what the muscle does, and, when only its partner on the other side is treated,
    that this side stays active."""
    side = side_of(t)
    what = f"on the {side} side" if side != "midline" else "in the midline"
    s = model.structures.get(t)
    if s is None:
        return f"No point treats {t}."
    action = s.action.strip().rstrip(".")
    msg = (f"No point treats {_name(model, t)} {what}: it is a required target of this exercise. "
           f"It {action[:1].lower() + action[1:]}.")
    other = {"left": "right", "right": "left"}.get(side)
    partner = f"{base_of(t)}_{other}" if other else ""
    if partner in exercise.targets and any(o.target == partner for o in points):
        msg += f" Only the {other} side is treated: the {side} side stays active, an uneven result."
    return msg


def _reached_elsewhere(out: PointResult, points: tuple[PointResult, ...]) -> bool:
    return any(o.target == out.target and o.target_reached for o in points)


def _point_cost(exercise: Exercise, out: PointResult, model: Any, feedback: list[Feedback],
                pf: _PointFixes, all_points: tuple[PointResult, ...]) -> tuple[float, int]:
    """One point's safety cost (capped at 1) and its danger findings; its feedback is appended to ``feedback``."""
    spare = set(exercise.spare)
    c, danger = 0.0, 0
    likely_u = thresholds().sphere_spared.likely_units
    for f in out.findings:
        if f.code == "target_not_reached":
            if out.target not in exercise.targets or _reached_elsewhere(out, all_points):
                text, move = pf.row(model, (f.code, f.structure or ""))
                feedback.append(Feedback(Severity.INFO, f.code, f"Point {out.id} does not reach "
                                         f"{_name(model, out.target or '')}: its field stops "
                                         f"{float(f.distance_mm or 0):.0f} mm short, so its dose is spent around the "
                                         f"muscle. To fix: {text}.", f.structure or "", out.id, move))
            continue
        sid = f.structure or ""
        must = sid in spare
        cost = FINDING_COST[(f.severity, must)]
        c += max(cost, CONSTRAINT_COST) if f.code in PLACEMENT_RULES else cost
        danger += f.severity is Severity.DANGER
        if f.severity >= Severity.CAUTION:
            text, move = pf.row(model, (f.code, sid))
            feedback.append(Feedback(f.severity, f.code, f"{_explain(model, out, f)} To fix: {text}.", sid, out.id,
                                     move))
        elif must and (f.code, sid) in pf.fixes:  # the likely field on a structure to spare: advice
            text, move = pf.row(model, (f.code, sid))
            feedback.append(Feedback(f.severity, f.code, f"{_explain(model, out, f)} It carries less than "
                                     f"{likely_u:g} U into it, but this exercise spares it: to keep clear, {text}.",
                                     sid, out.id, move))
        elif must:  # context on a structure to spare: no move asked
            feedback.append(Feedback(f.severity, f.code, f"{_explain(model, out, f)} No change needed: the field "
                                     f"carries less than {likely_u:g} U into it.", sid, out.id))
    if out.target and out.target in spare:
        c += FINDING_COST[(Severity.CAUTION, True)]
        feedback.append(Feedback(
            Severity.CAUTION, "targets_spared_structure",
            f"Point {out.id} aims at {_name(model, out.target)}, which this exercise must spare: "
            f"{_consequence(model, out.target)}.", out.target, out.id))
    brow = _brow_fix(exercise, out, model)
    if brow is not None:
        fx, h, con = brow
        c += CONSTRAINT_COST
        text, move = pf.row(model, ("brow_height", fx.structure))
        feedback.append(Feedback(
            Severity.CAUTION, "brow_height",
            f"Point {out.id} is {h:.0f} mm above the brow; this exercise needs at least "
            f"{con.min_mm:.0f} mm ({con.why}). Weakening the lowest {_name(model, fx.structure)} "
            f"fibres: {_consequence(model, fx.structure)}. To fix: {text}.", fx.structure, out.id, move))
    return min(1.0, c), danger


def _safety(exercise: Exercise, res: PlanResult, model: Any,
            fixes: Mapping[str, _PointFixes]) -> tuple[Component, list[Feedback], int]:
    """The ``safety`` component, its feedback, and the number of danger findings (points and plan)."""
    feedback: list[Feedback] = []
    costs, danger = [], 0
    for out in res.points:
        c, d = _point_cost(exercise, out, model, feedback, fixes[out.id], res.points)
        costs.append(c)
        danger += d
    for f in res.findings:
        if f.severity is Severity.DANGER:
            danger += 1
            feedback.append(Feedback(Severity.DANGER, f.code, f.message, f.structure or ""))
    mean_cost = float(np.mean(costs)) if costs else 1.0
    worst_cost = float(np.max(costs)) if costs else 1.0
    pts = WEIGHTS["safety"] * (1.0 - 0.5 * (mean_cost + worst_cost))
    return Component("safety", pts, WEIGHTS["safety"],
                     f"point cost mean {mean_cost:.2f}, worst {worst_cost:.2f}; {danger} danger finding(s)"), \
        feedback, danger


def _dose(exercise: Exercise, by_target: Mapping[str, float], model: Any,
          elsewhere: Mapping[str, float]) -> tuple[Component, list[Feedback]]:
    """The ``dose`` component: half the groups' mean credit, half the total's (the units in the exercise's muscles:
    the groups and the total count the same units); feedback per miss."""
    feedback: list[Feedback] = []
    credits = []
    for g in exercise.dose_groups:
        u = _sum_units(by_target, g.structures)
        cr = g.credit(u)
        credits.append(cr)
        if cr < 1.0:
            feedback.append(_dose_feedback(model, g, u, "this group"))
    tot_u = _sum_units(by_target, exercise.total.structures)
    tot_cr = exercise.total.credit(tot_u)
    if tot_cr < 1.0:
        feedback.append(_dose_feedback(model, exercise.total, tot_u, "all the target muscles together"))
    pts = WEIGHTS["dose"] * (0.5 * float(np.mean(credits)) + 0.5 * tot_cr)
    detail = f"total {tot_u:g} U (allowed {range_words(exercise.total.min_units, exercise.total.max_units)})"
    if elsewhere:
        detail += (f"; {sum(elsewhere.values()):g} U not counted: the tip of point(s) {', '.join(elsewhere)} lies in "
                   "a muscle to spare, not in the target")
    return Component("dose", pts, WEIGHTS["dose"], detail), feedback


def _brow_height_mm(model: Any, entry_mm: Any) -> float:
    """Height of a skin entry above the brow line: planning's measure (its ``frontalis_low`` rule's)."""
    return brow_height_mm(model, np.asarray(entry_mm, dtype=float))


def _dose_feedback(model: Any, g: DoseLimit, units: float, what: str) -> Feedback:
    names = ", ".join(_name(model, s) for s in g.structures)
    main = g.structures[0] if g.structures else ""
    if units < g.min_units:
        why = ("too little leaves the muscle active: the lines stay, or the effect is short"
               if units > 0 else "no toxin there at all")
        msg = (f"Dose of {what} ({names}): {units:g} U is below the allowed {g.allowed_words()}: "
               f"{why}. To fix: give {g.min_units - units:g} U more (at least {g.min_units:g} U).")
    else:
        cons = _consequence(model, main)
        msg = (f"Dose of {what} ({names}): {units:g} U is above the allowed {g.allowed_words()}: "
               f"too much spreads further and weakens more than intended ({cons}). To fix: give "
               f"{units - g.max_units:g} U less (at most {g.max_units:g} U).")
    # the exercise's own reason is in the allowed words where it narrows planning's range: the source is then
    # planning's range's (its published sources)
    source = g.source.split(" | ")[-1 if g.narrowed else 0]
    return Feedback(Severity.CAUTION, "dose_out_of_range", msg + f" Source: {sentence(source)}", main)


def _balance(exercise: Exercise, by_target: Mapping[str, float], model: Any) -> tuple[Component, list[Feedback]]:
    """The ``balance`` component from the units each side's target muscles get (the dose's own count): a symmetric
    exercise earns a group's share when both sides get toxin within planning's imbalance ratio (nothing on either
    side is no balance), an asymmetric one when the expected side gets ``min_ratio`` times the other's."""
    w = WEIGHTS["balance"]
    b = exercise.balance
    if b.expect == "asymmetric":
        hi_side = b.higher_side
        lo_side = "right" if hi_side == "left" else "left"
        hi = sum(u for s, u in by_target.items() if s and base_of(s) == b.group and side_of(s) == hi_side)
        lo = sum(u for s, u in by_target.items() if s and base_of(s) == b.group and side_of(s) == lo_side)
        ok = hi > 0 and hi >= b.min_ratio * lo
        detail = f"{b.group.replace('_', ' ')}: {hi:g} U {hi_side}, {lo:g} U {lo_side} (needs >= {b.min_ratio:g}x)"
        if ok:
            return Component("balance", w, w, detail), []
        sid = f"{b.group}_{hi_side}"
        if hi < lo:
            msg = (f"The dose is reversed: {_name(model, sid)} gets {hi:g} U and the {lo_side} side {lo:g} U. "
                   f"{b.why}")
        else:
            msg = (f"{_name(model, sid)} needs at least {b.min_ratio:g} times the {lo_side} side's dose "
                   f"(now {hi:g} U against {lo:g} U): {b.why}")
        return Component("balance", 0.0, w, detail), [Feedback(Severity.CAUTION, "asymmetry_expected", msg, sid)]
    bilateral = sorted({base_of(t) for t in exercise.targets if side_of(t) in ("left", "right")})
    if not bilateral:
        return Component("balance", w, w, "midline targets only"), []
    groups = sorted({dose_group_of(b_) for b_ in bilateral})
    ratio = thresholds().imbalance.ratio
    fb, balanced, sides = [], 0, []
    for g in groups:
        lu = sum(u for s, u in by_target.items() if s and dose_group_of(s) == g and side_of(s) == "left")
        ru = sum(u for s, u in by_target.items() if s and dose_group_of(s) == g and side_of(s) == "right")
        sides.append(f"{g.replace('_', ' ')} {lu:g} U left, {ru:g} U right")
        if max(lu, ru) > 0 and abs(lu - ru) <= ratio * max(lu, ru):
            balanced += 1
            continue
        if max(lu, ru) == 0:
            continue  # no toxin on either side: the dose's items say so
        weaker = "left" if lu < ru else "right"
        members = [t for t in exercise.targets if dose_group_of(t) == g and side_of(t) == weaker]
        sid = members[0] if members else f"{g}_{weaker}"
        fb.append(Feedback(Severity.CAUTION, "left_right_imbalance",
                           f"{g.replace('_', ' ').capitalize()} is dosed unevenly: {lu:g} U left and {ru:g} U right. "
                           f"This face is symmetric, so {_name(model, sid)} stays stronger than its partner: "
                           f"an uneven, lopsided result. Mirror the points or the doses.", sid))
    pts = w * balanced / len(groups)
    return Component("balance", pts, w, f"{balanced} of {len(groups)} groups balanced ({'; '.join(sides)})"), fb


# ---------------------------------------------------------------------------------------- score file
SCORES_ENV = "INJECTMAP_TRAINING_SCORES"


def scores_path() -> Path:
    """Where trainees' scores are kept (``$INJECTMAP_TRAINING_SCORES`` or the user's cache)."""
    p = os.environ.get(SCORES_ENV)
    return Path(p) if p else Path.home() / ".cache" / "injectmap" / "training_scores.json"


def validate_trainee(name: Any) -> str:
    """A trainee name, stripped: 1-64 characters, letters, digits, spaces and - ' . _ only.

    Raises
    ------
    ValueError
        Naming what is wrong.
    """
    if not isinstance(name, str):
        raise ValueError("the trainee name must be text")
    n = " ".join(name.split())
    if not n:
        raise ValueError("the trainee name is empty")
    if len(n) > MAX_TRAINEE_CHARS:
        raise ValueError(f"the trainee name is {len(n)} characters long (at most {MAX_TRAINEE_CHARS})")
    bad = sorted({c for c in n if not (c.isalnum() or c in _TRAINEE_EXTRA)})
    if bad:
        raise ValueError("the trainee name may only hold letters, digits, spaces and - ' . _ "
                         f"(not {' '.join(repr(c) for c in bad)})")
    return n


def _read_scores(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"format": SCORES_FORMAT, "version": 1, "trainees": {}}
    try:
        if path.stat().st_size > MAX_SCORE_FILE_BYTES:
            raise ScoreFileError(f"score file {path} is larger than {MAX_SCORE_FILE_BYTES} bytes")
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScoreFileError(f"score file {path} cannot be read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScoreFileError(f"score file {path} is not valid JSON ({exc}); move it aside or fix it, "
                             "scores are not overwritten") from None
    if (not isinstance(obj, dict) or obj.get("format") != SCORES_FORMAT or obj.get("version") != 1
            or not isinstance(obj.get("trainees"), dict)
            or not all(isinstance(v, list) for v in obj["trainees"].values())):
        raise ScoreFileError(f"score file {path} is not an {SCORES_FORMAT} version 1 file; move it aside or fix "
                             "it, scores are not overwritten")
    return obj


def record_score(path: str | os.PathLike[str], trainee: str, exercise_id: str, score: Score) -> dict[str, Any]:
    """Append an attempt to the trainee's history in the score file (created when missing).

    Returns the stored entry. Raises :class:`ScoreFileError` for an unreadable or foreign file (it
    is never overwritten) and ValueError for a bad trainee name. Processes that record at the same
    time take turns: the read, the append and the write happen under a lock on ``<file>.lock``
    beside the score file, so no attempt is lost.
    """
    name = validate_trainee(trainee)
    p = Path(path)
    entry = {"exercise_id": str(exercise_id), "total": int(score.total), "passed": bool(score.passed),
             "danger": int(score.danger),
             "components": {k: round(float(c.points), 1) for k, c in score.components.items()},
             "mistakes": [f.code for f in score.feedback][:50],
             "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(p.with_name(p.name + ".lock")):
            data = _read_scores(p)
            data["trainees"].setdefault(name, []).append(entry)
            atomic_write_bytes(p, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        raise ScoreFileError(f"score file {p} cannot be written: {exc.strerror or exc}") from None
    return entry


def history(path: str | os.PathLike[str], trainee: str) -> list[dict[str, Any]]:
    """The trainee's attempts, oldest first (empty for an unknown trainee or a missing file)."""
    name = validate_trainee(trainee)
    return list(_read_scores(Path(path))["trainees"].get(name, []))
