"""An exercise's expected result: what the face should do at two weeks, scored from the expression model.

An exercise file may carry ``expected_result``: a day (default 14, the peak and the review visit) and
checks on the preview of the trainee's plan (:mod:`teaching.expressions`) and its visible side effects
(:mod:`teaching.side_effects`), for example "frown at most half its strength on each side", "smile
symmetric within 1 mm", "no visible side effect". A check on a measure may name more measures
(``also_measures``, the side effects' lower lip among them): it is met when each of them is, so "smile
symmetric" holds the lower lip to it too, whose depressor's weakening makes a smile uneven while the mouth
corners still move alike. Each check is met or not, with the measured value in its words;
:func:`teaching.training.score_attempt` turns an unmet check into a feedback item and a reason the
attempt does not pass. A population heuristic like the model it reads: a trainee learns which
placements the average face punishes, not a promise for one patient.

Example
-------
>>> spec = ExpectedResultSpec.model_validate(
...     {"source": "the glabellar exercise's aim", "checks": [
...         {"id": "frown", "text": "Frown at most half its strength", "expression": "frown", "max_strength": 0.5}]})
>>> spec.day
14.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, NonNegativeFloat, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.teaching.expressions import SIDES, expression_data, preview
from injectmap.teaching.side_effects import LOWER_LIP_MEASURE, effect_measures, side_effect_data, side_effects

__all__ = ["ExpectedCheckSpec", "ExpectedOutcome", "ExpectedResultSpec", "evaluate_expected"]

_KINDS = ("max_strength", "min_strength", "max_asymmetry_mm", "max_drop_mm", "no_side_effects")


class ExpectedCheckSpec(DataModel):
    """One check: an expression's strength per side, a measure's asymmetry or drop, or no side effect."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    text: str = Field(min_length=3)
    expression: str | None = None
    measure: str | None = None
    max_strength: NonNegativeFloat | None = None
    min_strength: NonNegativeFloat | None = None
    max_asymmetry_mm: NonNegativeFloat | None = None
    max_drop_mm: NonNegativeFloat | None = None
    #: side effect ids that must not appear (an empty list: none at all)
    no_side_effects: list[str] | None = None
    #: more measures held to the same limit (an asymmetry or a drop): the check is met when each is
    also_measures: list[str] = []

    @model_validator(mode="after")
    def _one_kind(self) -> ExpectedCheckSpec:
        kinds = [k for k in _KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a check needs exactly one of {', '.join(_KINDS)}")
        kind = kinds[0]
        if kind in ("max_strength", "min_strength"):
            if self.expression not in expression_data().expressions:
                raise ValueError(f"{kind} needs a known expression, got {self.expression!r}")
        elif kind in ("max_asymmetry_mm", "max_drop_mm"):
            known = {*expression_data().measures, LOWER_LIP_MEASURE}
            missing = [m for m in (self.measure, *self.also_measures) if m not in known]
            if missing:
                raise ValueError(f"{kind} needs known measures, got {', '.join(map(repr, missing))}")
        else:
            unknown = set(self.no_side_effects or ()) - set(side_effect_data().effects)
            if unknown:
                raise ValueError(f"unknown side effect(s): {', '.join(sorted(unknown))}")
        if self.also_measures and kind not in ("max_asymmetry_mm", "max_drop_mm"):
            raise ValueError("also_measures goes with max_asymmetry_mm or max_drop_mm")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _KINDS if getattr(self, k) is not None)


class ExpectedResultSpec(DataModel):
    """``expected_result`` of an exercise file."""

    day: NonNegativeFloat = 14.0
    source: str = Field(min_length=10)
    checks: list[ExpectedCheckSpec] = Field(min_length=1)


@dataclass(frozen=True)
class ExpectedOutcome:
    """A check on the trainee's plan: met or not, and what was measured, in words."""

    id: str
    text: str
    met: bool
    measured: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "met": self.met, "measured": self.measured}


def _check(c: ExpectedCheckSpec, res: Any, measures: dict[str, Any], effects: list[Any]) -> ExpectedOutcome:
    kind = c.kind
    if kind in ("max_strength", "min_strength"):
        assert c.expression is not None
        s = {side: res.strengths[c.expression][side].mid for side in SIDES}
        ok = all(v <= c.max_strength + 1e-9 for v in s.values()) if kind == "max_strength" and c.max_strength is not None \
            else all(v >= (c.min_strength or 0.0) - 1e-9 for v in s.values())
        return ExpectedOutcome(c.id, c.text, ok, f"{c.expression.replace('_', ' ')} strength left {s['left']:.2f}, "
                                                 f"right {s['right']:.2f} (1 = untreated)")
    if kind in ("max_asymmetry_mm", "max_drop_mm"):
        assert c.measure is not None
        met, said = True, []
        for name in (c.measure, *c.also_measures):
            m = measures[name]
            words = name.removesuffix("_mm").replace("_", " ")
            if kind == "max_asymmetry_mm":
                assert c.max_asymmetry_mm is not None
                met &= m.asymmetry_mm <= c.max_asymmetry_mm + 1e-9
                said.append(f"{words}: left {m.left:.1f} mm, right {m.right:.1f} mm, asymmetry {m.asymmetry_mm:.1f} mm")
            else:
                assert c.max_drop_mm is not None
                drop = max(m.untreated_left - m.left, m.untreated_right - m.right)
                met &= drop <= c.max_drop_mm + 1e-9
                said.append(f"{words}: {max(drop, 0.0):.1f} mm lower than untreated at most")
        return ExpectedOutcome(c.id, c.text, bool(met), "; ".join(said))
    banned = set(c.no_side_effects or ()) or set(side_effect_data().effects)
    hit = [e for e in effects if e.id in banned]
    return ExpectedOutcome(c.id, c.text, not hit,
                           "; ".join(e.summary() for e in hit) if hit else "no visible side effect")


def evaluate_expected(spec: ExpectedResultSpec, model: Any, plan: Any) -> list[ExpectedOutcome]:
    """Every check of ``spec`` on the plan's preview and side effects on ``spec.day``."""
    res = preview(model, plan, spec.day)
    effects = side_effects(model, plan, spec.day, result=res)
    measures = effect_measures(res)
    return [_check(c, res, measures, effects) for c in spec.checks]
