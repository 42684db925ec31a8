"""Published positional variability of the arteries, nerves, the parotid duct and the foramina, read from
``injectmap/anatomy/data/spread/variability.yaml`` and checked against one pydantic model.

A structure's *corridor* is the region around its mean course (as the face model draws it) where it runs
in most people: a tube of radius ``corridor_mm`` (plus the structure's own radius), or for a foramen a ball
around its landmark. ``share`` says in what fraction of people it runs inside (0.68 for one SD).

>>> v = load_variability()
>>> c = v.corridor_of("supratrochlear_artery_left")
>>> (c.corridor_mm, c.share, c.basis)
(4.0, 0.68, 'sd')
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from injectmap.anatomy import ids
from injectmap.anatomy.datamodel import DataModel, validate_data
from injectmap.anatomy.yamlio import safe_load

__all__ = ["Corridor", "ForamenCorridor", "Plane", "PlaneHeight", "VariabilityFile", "load_variability"]

PATH = Path(__file__).parent / "data" / "spread" / "variability.yaml"


class PlaneHeight(DataModel):
    """Where along the face a plane applies: the tip's height (mm, up is positive) above a sided landmark of the
    tip's side, between ``from_mm`` and ``to_mm`` (either open)."""

    landmark: str
    from_mm: float | None = None
    to_mm: float | None = None

    def covers(self, height_mm: float) -> bool:
        """True when ``height_mm`` above the landmark lies in this range."""
        return (self.from_mm is None or height_mm >= self.from_mm) and (self.to_mm is None or height_mm <= self.to_mm)


class Plane(DataModel):
    """The tissue plane a vessel or nerve runs in over part of its course, as a depth band below the skin.

    Either ``depth_mm`` (a published band, mm below the skin: for a mean and SD, mean - SD to mean + SD) or
    ``layer`` (the face model's own layer at the tip: ``subcutaneous_fat``, ``smas`` - the SMAS, and above the
    zygomatic arch the temporoparietal fascia and galea that continue it - or ``deep``, from the SMAS to the
    bone). The structure's own radius widens the band on both sides.
    """

    name: str = Field(min_length=3)
    height: PlaneHeight | None = None
    depth_mm: tuple[float, float] | None = None
    layer: Literal["subcutaneous_fat", "smas", "deep"] | None = None
    basis: Literal["sd", "range", "plane", "project_choice"]
    measure: str = Field(min_length=20)
    source: str = Field(min_length=20)
    confidence: Literal["R", "S"]

    @model_validator(mode="after")
    def _one_band(self) -> Plane:
        if (self.depth_mm is None) == (self.layer is None):
            raise ValueError("give exactly one of depth_mm (a published band) and layer (the model's layer)")
        if self.depth_mm is not None and not 0.0 <= self.depth_mm[0] < self.depth_mm[1] <= 30.0:
            raise ValueError(f"depth_mm {list(self.depth_mm)}: a band [shallow, deep] within 0-30 mm")
        return self


class Corridor(DataModel):
    """The spread of one structure's course: radius, the share of people it covers, the source; and, where the
    sources give it, the tissue planes it runs in (``planes``: its depth band by height on the face)."""

    corridor_mm: float = Field(gt=0.0, le=30.0)
    share: float = Field(gt=0.0, le=1.0)
    basis: Literal["sd", "range", "project_choice"]
    measure: str = Field(min_length=20)
    source: str = Field(min_length=20)
    confidence: Literal["R", "S"]
    planes: tuple[Plane, ...] = ()

    @property
    def share_text(self) -> str:
        """``"about 68% of people"``."""
        return f"about {self.share:.0%} of people"


class ForamenCorridor(Corridor):
    """A foramen's spread, and the nerve that leaves the bone through it."""

    nerve: str


class VariabilityFile(DataModel):
    """The whole of variability.yaml: every artery, nerve and the duct (base ids) and every foramen."""

    version: Literal[1]
    structures: dict[str, Corridor]
    foramina: dict[str, ForamenCorridor]

    def corridor_of(self, structure_id: str) -> Corridor | None:
        """The corridor of a (sided) structure id; None when it has none (muscles, layers)."""
        return self.structures.get(ids.base_of(structure_id))


def _check_ids(v: VariabilityFile) -> list[str]:
    needed = set(ids.ARTERIES) | set(ids.NERVES) | {"parotid_duct"}
    errors = [f"structures.{s}: missing (every artery, nerve and the duct carries its spread)"
              for s in sorted(needed - set(v.structures))]
    errors += [f"structures.{s}: not an artery, nerve or the duct" for s in sorted(set(v.structures) - needed)]
    errors += [f"foramina.{f}: missing" for f in sorted(set(ids.BONE_LANDMARKS) - set(v.foramina))]
    errors += [f"foramina.{f}: not a foramen landmark" for f in sorted(set(v.foramina) - set(ids.BONE_LANDMARKS))]
    errors += [f"foramina.{f}.nerve: {c.nerve!r} is not a nerve" for f, c in v.foramina.items()
               if c.nerve not in ids.NERVES]
    errors += [f"structures.{s}.planes[{i}].height.landmark: {p.height.landmark!r} is not a sided landmark"
               for s, c in v.structures.items() for i, p in enumerate(c.planes)
               if p.height is not None and p.height.landmark not in ids.BILATERAL_LANDMARKS]
    return errors


def parse_variability(data: object, source: str = "variability.yaml") -> VariabilityFile:
    """Check parsed variability.yaml content; every artery, nerve, the duct and every foramen must be there.

    Raises
    ------
    injectmap.anatomy.datamodel.DataFileError
        Naming every missing, unknown or bad entry.
    """
    from injectmap.anatomy.datamodel import DataFileError

    v = validate_data(data, VariabilityFile, source)
    errors = _check_ids(v)
    if errors:
        raise DataFileError(source, errors)
    return v


@functools.lru_cache(maxsize=1)
def load_variability() -> VariabilityFile:
    """The corridors of every artery, nerve, the duct and the foramina, read and checked once."""
    return parse_variability(safe_load(PATH.read_text(encoding="utf-8")), "injectmap/anatomy/data/spread/variability.yaml")
