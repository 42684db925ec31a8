"""Left, right or midline: the one place where a point's side is decided.

Every count by side (the dose totals of :mod:`planning.totals`, the check's ``totals.by_side``, the
imbalance rule, the report's dose columns, the chart, the balance across visits) and the mirroring of
points ask this module; the band and its reason are in ``planning/data/sides.yaml``.

The rule (:func:`point_side`):

- a point whose target is a sided structure (``corrugator_supercilii_left``) is on its target's side;
- any other point (no target, or a midline muscle such as ``procerus``) is sided by the x of its skin
  entry (mm, +x the subject's left): ``"left"`` when x > the band's half-width, ``"right"`` when
  x < -half-width, ``"midline"`` in between (:func:`side_of_x`);
- a point not placed on a face yet (a plan file read without a model) is sided by its placement
  (:func:`placement_x`): the side of a sided landmark, the ``left_mm`` offset of a midline landmark, or the
  x of ``entry_mm``.

Examples
--------
>>> side_of_x(38.9), side_of_x(-38.9), side_of_x(2.9)
('left', 'right', 'midline')
>>> point_side(None, 38.9), point_side("procerus", 0.4), point_side("frontalis_right", 1.0)
('left', 'midline', 'right')
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import NonNegativeFloat, PositiveInt

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import side_of
from injectmap.planning.datafiles import load_model

if TYPE_CHECKING:
    from injectmap.planning.plan import Point

__all__ = ["SIDES", "Side", "SidesFile", "midline_half_width_mm", "placement_x", "plan_point_side", "point_side",
           "side_of_x", "sides_settings"]

Side = Literal["left", "right", "midline"]
#: the order sides are listed in (tables, totals)
SIDES: tuple[Side, ...] = ("left", "right", "midline")


class SidesFile(DataModel):
    """``planning/data/sides.yaml``."""

    version: PositiveInt
    midline_half_width_mm: NonNegativeFloat
    reason: str
    source: str


@lru_cache(maxsize=1)
def sides_settings() -> SidesFile:
    """The validated data file (cached)."""
    return load_model("sides.yaml", SidesFile)


def midline_half_width_mm() -> float:
    """Half the width of the midline band, mm (3.0: see sides.yaml for why)."""
    return float(sides_settings().midline_half_width_mm)


def side_of_x(x_mm: float, half_width_mm: float | None = None) -> Side:
    """The side of a position: ``"left"`` for x beyond the band (the subject's left), ``"right"``, ``"midline"``.

    Parameters
    ----------
    x_mm : float
        x of the point in the CONTRACTS frame (+x the subject's left).
    half_width_mm : float, optional
        The band's half-width; sides.yaml's when omitted.
    """
    w = midline_half_width_mm() if half_width_mm is None else float(half_width_mm)
    x = float(x_mm)
    if x > w:
        return "left"
    if x < -w:
        return "right"
    return "midline"


def point_side(target: str | None, x_mm: float | None) -> Side:
    """The side a point counts on: its target's side when the target is sided, else its position's.

    Parameters
    ----------
    target : str or None
        The point's intended structure.
    x_mm : float or None
        The x of its skin entry (None when unknown: the point then counts as midline unless its target is
        sided; callers with a plan point and no face use :func:`plan_point_side`).
    """
    if target:
        s = side_of(target)
        if s in ("left", "right"):
            return s  # type: ignore[return-value]
    return "midline" if x_mm is None else side_of_x(x_mm)


def placement_x(point: Point) -> float | None:
    """An x that stands for a point's position before it is placed on a face, or None when only a side is known.

    ``entry_mm`` gives its x; a midline landmark gives its ``left_mm`` offset (0 without one); a sided
    landmark gives None (its side is the landmark's, see :func:`plan_point_side`).
    """
    pl = point.placement
    if pl.landmark is None:
        assert pl.entry_mm is not None
        return float(pl.entry_mm[0])
    if side_of(pl.landmark) == "midline":
        return float(pl.left_mm or 0.0)
    return None


def plan_point_side(point: Point, entry_x: float | None = None, *, by_target: bool = True) -> Side:
    """:func:`point_side` of a plan's point.

    Parameters
    ----------
    point : Point
        The point.
    entry_x : float, optional
        The x of its entry on the face when the caller has placed it (the analysis's ``entry_mm``);
        otherwise its placement stands for its position (:func:`placement_x`).
    by_target : bool
        False: the position only (the mirroring of points, which copies a point to the other side
        whatever it targets).
    """
    target = point.target if by_target else None
    if entry_x is not None:
        return point_side(target, entry_x)
    x = placement_x(point)
    if x is None:  # a sided landmark: its side (unless a sided target says otherwise)
        s = point_side(target, None)
        if s != "midline":
            return s
        lm = side_of(point.placement.landmark or "")
        return lm if lm in ("left", "right") else "midline"  # type: ignore[return-value]
    return point_side(target, x)
