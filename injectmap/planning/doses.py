"""Typical dose ranges per muscle and per area, and the face region of each muscle.

All doses are onabotulinumtoxinA-equivalent units (convert with
:func:`planning.products.ona_equivalent_units` first). Numbers and sources live in
``injectmap/planning/data/dose_ranges.yaml``.

For dose rules:

- :func:`dose_range` gives a muscle's range, per side for a bilateral muscle (``per == "side"``)
  or in total for a midline one (``per == "total"``). It accepts a sided id
  (``"corrugator_supercilii_left"``) or a base id. Both parts of the masseter share one range: sum
  ``masseter_superficial_<side>`` and ``masseter_deep_<side>`` (see :func:`dose_group_of`).
- :func:`area_dose_range` gives per-session totals of an area (``"glabella"``, ``"forehead"``,
  ``"lateral_canthal"`` per side, ``"upper_face"``, ``"platysma"``).
- :func:`max_total` is the label ceiling over 3 months (400 U).
- :meth:`DoseRange.classify` places a dose: ``below`` < low <= ``low`` < typical_low <=
  ``typical`` <= typical_high < ``high`` <= high < ``above``.

Examples
--------
>>> r = dose_range("masseter_superficial_left")
>>> (r.low_units, r.typical_low_units, r.typical_high_units, r.high_units)
(20.0, 24.0, 32.0, 40.0)
>>> r.classify(30)
'typical'
>>> region_of("corrugator_supercilii_right")
'upper_face'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import base_of, structure_ids
from injectmap.planning.datafiles import load_model

__all__ = [
    "DoseRange",
    "DoseRangesFile",
    "MaxTotal",
    "REGIONS",
    "area_dose_range",
    "area_names",
    "dose_group_of",
    "dose_range",
    "dosed_muscles",
    "treatable_targets",
    "max_total",
    "range_words",
    "region_of",
]

REGIONS = ("upper_face", "mid_face", "lower_face")


def range_words(low: float, high: float, unit: str = "U") -> str:
    """A range as text, one number when its ends are equal (a template's "4-4 U per point" reads "4 U").

    >>> range_words(4, 8), range_words(4, 4), range_words(2.5, 2.5, "mm"), range_words(1, 3, "")
    ('4-8 U', '4 U', '2.5 mm', '1-3')
    """
    text = f"{low:g}" if f"{low:g}" == f"{high:g}" else f"{low:g}-{high:g}"
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class DoseRange:
    """A typical dose range in onabotulinumtoxinA-equivalent units.

    Attributes
    ----------
    key : str
        Base structure id (``"corrugator_supercilii"``), group (``"masseter"``) or area name.
    per : str
        ``"side"`` (each side of a bilateral muscle or area) or ``"total"``.
    low_units, typical_low_units, typical_high_units, high_units : float
        ``low <= typical_low <= typical_high <= high``. Outside [low, high] is unusual in the
        cited literature.
    per_point_units : (float, float) or None
        Typical units per injection point, where a source gives it.
    source : str
        Citations.
    confidence : str
        R (read in the source), S (secondary), M (from memory, to verify), or a mix.
    estimates : tuple of str
        Which fields are the project's estimates rather than a source's numbers.
    structures : tuple of str
        Base ids the range covers (the members of a group, or the muscles of an area).
    """

    key: str
    per: str
    low_units: float
    typical_low_units: float
    typical_high_units: float
    high_units: float
    per_point_units: tuple[float, float] | None
    source: str
    confidence: str
    estimates: tuple[str, ...]
    structures: tuple[str, ...]

    def as_tuple(self) -> tuple[float, float, float, float, str]:
        """``(low, typical_low, typical_high, high, source)``."""
        return (self.low_units, self.typical_low_units, self.typical_high_units, self.high_units,
                self.source)

    def classify(self, units: float) -> str:
        """Place a dose: ``"below"``, ``"low"``, ``"typical"``, ``"high"`` or ``"above"``."""
        if units < self.low_units:
            return "below"
        if units < self.typical_low_units:
            return "low"
        if units <= self.typical_high_units:
            return "typical"
        if units <= self.high_units:
            return "high"
        return "above"


@dataclass(frozen=True)
class MaxTotal:
    """The ceiling of the cumulative dose over a period."""

    units: float
    days: int
    source: str


def _clean(text: object) -> str:
    return " ".join(str(text).split())


class _Range(DataModel):
    per: Literal["side", "total"]
    low: NonNegativeFloat
    typical: tuple[NonNegativeFloat, NonNegativeFloat]
    high: NonNegativeFloat
    per_point: tuple[NonNegativeFloat, NonNegativeFloat] | None = None
    source: str
    confidence: str = ""
    estimates: tuple[str, ...] = ()
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if not (self.low <= self.typical[0] <= self.typical[1] <= self.high):
            raise ValueError("low <= typical <= high does not hold")
        return self


class _MuscleRange(_Range):
    members: tuple[str, ...] | None = None


class _AreaRange(_Range):
    structures: tuple[str, ...] = Field(min_length=1)


class _MaxTotal(DataModel):
    units: PositiveFloat
    days: PositiveInt
    source: str
    confidence: str = ""


class DoseRangesFile(DataModel):
    """dose_ranges.yaml: typical doses per muscle (or group) and per area, regions, the label ceiling."""

    units: Literal["onabotulinumtoxinA"]
    max_total: _MaxTotal
    muscles: dict[str, _MuscleRange]
    areas: dict[str, _AreaRange]
    regions: dict[Literal["upper_face", "mid_face", "lower_face"], tuple[str, ...]]


def _range(key: str, d: _Range, structures: tuple[str, ...]) -> DoseRange:
    return DoseRange(
        key=key,
        per=d.per,
        low_units=d.low,
        typical_low_units=d.typical[0],
        typical_high_units=d.typical[1],
        high_units=d.high,
        per_point_units=d.per_point,
        source=_clean(d.source),
        confidence=d.confidence,
        estimates=d.estimates,
        structures=structures,
    )


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, DoseRange], dict[str, str], dict[str, DoseRange], dict[str, str], MaxTotal]:
    data = load_model("dose_ranges.yaml", DoseRangesFile)
    by_base: dict[str, DoseRange] = {}
    group: dict[str, str] = {}
    for key, d in data.muscles.items():
        members = d.members or (key,)
        r = _range(key, d, members)
        for m in members:
            by_base[m] = r
            group[m] = key
        by_base.setdefault(key, r)
    areas = {k: _range(k, d, d.structures) for k, d in data.areas.items()}
    region: dict[str, str] = {n: reg for reg, names in data.regions.items() for n in names}
    mt = data.max_total
    return by_base, group, areas, region, MaxTotal(mt.units, mt.days, _clean(mt.source))


def dose_range(structure_id: str) -> DoseRange | None:
    """The typical dose range of a muscle, or None when no range is on file.

    Parameters
    ----------
    structure_id : str
        A structure id with or without its side (``"frontalis_left"``, ``"frontalis"``), or a group
        name (``"masseter"``).

    Returns
    -------
    DoseRange or None
        Per side for bilateral muscles, total for midline ones (see ``DoseRange.per``).
    """
    return _tables()[0].get(base_of(structure_id))


def dose_group_of(structure_id: str) -> str:
    """The key under which a structure's dose is summed (``masseter_deep_left`` -> ``masseter``).

    A structure with no group is its own group (its base id).
    """
    base = base_of(structure_id)
    return _tables()[1].get(base, base)


def dosed_muscles() -> list[str]:
    """Base ids that have a dose range."""
    return sorted(_tables()[1])


@lru_cache(maxsize=1)
def treatable_targets() -> tuple[str, ...]:
    """Every structure id a point may name as its ``target``: the muscles with a dose range (each side
    of a bilateral one). Arteries, nerves, the duct, the gland, layers and the orbits are never targets.

    >>> "orbicularis_oculi_left" in treatable_targets(), "orbit_left" in treatable_targets()
    (True, False)
    """
    dosed = set(dosed_muscles())
    return tuple(sorted(s for s in structure_ids() if base_of(s) in dosed))


def area_names() -> list[str]:
    """Names of the areas with per-session ranges."""
    return sorted(_tables()[2])


def area_dose_range(area: str) -> DoseRange:
    """Per-session dose range of an area (``"glabella"``, ``"forehead"``, ...).

    Raises
    ------
    KeyError
        For an unknown area; the message lists the known ones.
    """
    try:
        return _tables()[2][area]
    except KeyError:
        raise KeyError(f"unknown area {area!r}; known areas: {', '.join(area_names())}") from None


def region_of(structure_id: str) -> str | None:
    """The face region of a muscle: ``"upper_face"``, ``"mid_face"``, ``"lower_face"`` or None.

    Non-muscle structures (arteries, nerves, glands, layers) have no region. The jaw muscles
    (masseter, temporalis) and the platysma count as ``"lower_face"``.
    """
    return _tables()[3].get(base_of(structure_id))


def max_total() -> MaxTotal:
    """The label ceiling: 400 U over 90 days."""
    return _tables()[4]
