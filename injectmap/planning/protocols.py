"""Published injection patterns as plan templates (``injectmap/planning/data/protocols.yaml``).

A template is a list of points, each at its published site (a landmark and offsets, so it follows
the face), depth and dose, with its source and confidence, and the cautions the literature itself
gives for that site. :func:`protocol_plan` turns a template into a plan file (CONTRACTS, version 1)
that ``injectmap check`` accepts; :func:`protocol_table` gives a text table. See docs/protocols.md.

Examples
--------
>>> "glabella_five_point" in protocol_names()
True
>>> plan = protocol_plan("glabella_five_point")
>>> [p["id"] for p in plan["points"]][:3]
['procerus', 'corrugator_medial_left', 'corrugator_medial_right']
>>> sum(p["units"] for p in plan["points"])
20.0
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, PositiveFloat, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.planning.datafiles import load_model
from injectmap.planning.doses import range_words
from injectmap.planning.products import REFERENCE_PRODUCT

__all__ = ["ExpectedFinding", "Protocol", "ProtocolPoint", "ProtocolsFile", "UnknownProtocolError",
           "expanded_points", "get_protocol", "protocol_names", "protocol_plan", "protocol_table", "protocols"]

SIDES = ("left", "right")


class UnknownProtocolError(KeyError):
    """No template of that name (the message lists the names)."""

    def __str__(self) -> str:  # KeyError quotes its argument; this one is a sentence
        return str(self.args[0])


class _At(DataModel):
    landmark: str = Field(min_length=1)
    superior_mm: float | None = None
    anterior_mm: float | None = None
    lateral_mm: float | None = None
    left_mm: float | None = None


class ExpectedFinding(DataModel):
    """A caution the literature gives for a template's site, with the source that warns about it."""

    code: str = Field(min_length=1)
    structure: str | None = None
    source: str = Field(min_length=10)


class ProtocolPoint(DataModel):
    """One point of a template (written for the left side when ``sides`` is given)."""

    id: str = Field(min_length=1)
    sides: tuple[Literal["left", "right"], ...] = ()
    target: str | None = None
    at: _At
    depth_mm: PositiveFloat
    units: PositiveFloat
    units_range: tuple[PositiveFloat, PositiveFloat]
    site: str = Field(min_length=10)
    source: str = Field(min_length=2)
    confidence: str = Field(min_length=1)
    expected: tuple[ExpectedFinding, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ProtocolPoint:
        lo, hi = self.units_range
        if not lo <= self.units <= hi:
            raise ValueError(f"units {self.units} outside units_range [{lo}, {hi}]")
        templated = "{side}" in self.id
        if templated != bool(self.sides):
            raise ValueError("a point with sides needs {side} in its id, and only such a point may have it")
        return self


class Protocol(DataModel):
    """One template: a title, the indication, its sources and its points."""

    title: str = Field(min_length=5)
    indication: str = Field(min_length=5)
    sources: tuple[str, ...] = Field(min_length=1)
    confidence: str = Field(min_length=1)
    note: str = Field(min_length=20)
    product: str = REFERENCE_PRODUCT
    include: tuple[str, ...] = ()
    points: tuple[ProtocolPoint, ...] = Field(min_length=1)


class ProtocolsFile(DataModel):
    """protocols.yaml: the source codes and the templates."""

    version: Literal[1]
    sources: dict[str, str]
    protocols: dict[str, Protocol]

    @model_validator(mode="after")
    def _references(self) -> ProtocolsFile:
        for name, p in self.protocols.items():
            for code in p.sources:
                if code not in self.sources:
                    raise ValueError(f"protocol {name!r}: unknown source code {code!r}")
            for inc in p.include:
                if inc not in self.protocols or self.protocols[inc].include:
                    raise ValueError(f"protocol {name!r}: include {inc!r} must name a template without includes")
        return self


@lru_cache(maxsize=1)
def protocols() -> ProtocolsFile:
    """The templates file, read and checked once."""
    return load_model("protocols.yaml", ProtocolsFile)


def protocol_names() -> list[str]:
    """The template names, in file order."""
    return list(protocols().protocols)


def get_protocol(name: str) -> Protocol:
    """The template ``name``.

    Raises
    ------
    UnknownProtocolError
        For an unknown name, listing the known ones.
    """
    try:
        return protocols().protocols[name]
    except KeyError:
        raise UnknownProtocolError(f"unknown protocol {name!r}; known: {', '.join(protocol_names())}") from None


@dataclass(frozen=True)
class ExpandedPoint:
    """A template point for one side (or the midline): the plan point and what the literature expects."""

    plan_point: dict[str, Any]
    template: ProtocolPoint
    expected: tuple[ExpectedFinding, ...]


def _sided(text: str, side: str) -> str:
    return text.replace("{side}", side)


def _expand(point: ProtocolPoint, protocol_name: str) -> list[ExpandedPoint]:
    out = []
    for side in point.sides or (None,):
        at: dict[str, Any] = {k: v for k, v in point.at.model_dump().items() if v is not None}
        if side is not None:
            at["landmark"] = _sided(at["landmark"], side)
            if side == "right" and "left_mm" in at:
                at["left_mm"] = -at["left_mm"]
        pid = _sided(point.id, side) if side else point.id
        lo, hi = point.units_range
        note = (f"template {protocol_name}: {point.site}. Dose {range_words(lo, hi)} per point. "
                f"Source: {point.source} ({point.confidence}).")
        pp: dict[str, Any] = {"id": pid, "units": float(point.units)}
        if point.target is not None:
            pp["target"] = _sided(point.target, side) if side else point.target
        pp.update({"at": at, "depth_mm": float(point.depth_mm), "note": note})
        exp = tuple(ExpectedFinding(code=e.code, structure=_sided(e.structure, side) if (e.structure and side)
                                    else e.structure, source=e.source) for e in point.expected)
        out.append(ExpandedPoint(pp, point, exp))
    return out


def expanded_points(name: str) -> list[ExpandedPoint]:
    """Every point of template ``name`` (its includes first), one per side."""
    p = get_protocol(name)
    out: list[ExpandedPoint] = []
    for inc in p.include:
        out += expanded_points(inc)
    for point in p.points:
        out += _expand(point, name)
    return out


def protocol_plan(name: str) -> dict[str, Any]:
    """Template ``name`` as a plan file (CONTRACTS, version 1), at the label's reconstitution.

    Returns
    -------
    dict
        ``{"format": "injectmap-plan", "version": 1, "product": ..., "points": [...]}``; each point has
        its ``note`` with the template, the site, the dose range and the source.
    """
    p = get_protocol(name)
    return {
        "format": "injectmap-plan",
        "version": 1,
        "product": {"name": p.product, "units_per_vial": 100, "diluent_ml": 2.5},
        "points": [e.plan_point for e in expanded_points(name)],
    }


def protocol_table(name: str) -> str:
    """Template ``name`` as a text table: one line per point, then the sources."""
    p = get_protocol(name)
    rows = [f"{name}: {p.title}", f"  {p.indication}; confidence {p.confidence}", ""]
    head = f"  {'id':<28} {'target':<36} {'landmark':<28} {'offsets (mm)':<26} {'depth':>5} {'U':>4} {'range':>7}  source"
    rows.append(head)
    total = 0.0
    for e in expanded_points(name):
        pp, t = e.plan_point, e.template
        offsets = " ".join(f"{k.removesuffix('_mm')} {v:g}" for k, v in pp["at"].items() if k != "landmark")
        lo, hi = t.units_range
        rows.append(f"  {pp['id']:<28} {pp.get('target', '-'):<36} {pp['at']['landmark']:<28} {offsets:<26} "
                    f"{pp['depth_mm']:>5g} {pp['units']:>4g} {range_words(lo, hi, ''):>7}  {t.source}")
        total += pp["units"]
    rows += ["", f"  total {total:g} U ({p.product})", "", "  " + p.note, "", "  sources:"]
    codes = list(p.sources) + [c for inc in p.include for c in get_protocol(inc).sources if c not in p.sources]
    rows += [f"    {c}: {protocols().sources[c]}" for c in codes]
    return "\n".join(rows)
