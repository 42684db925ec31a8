"""Radius of effect of one injection: a population heuristic, not a measurement.

The model (parameters and sources in ``injectmap/planning/data/diffusion.yaml``; discussion in
``docs/diffusion.md``):

- the dose is converted to onabotulinumtoxinA-equivalent units ``U`` (planning.products);
- a visible field needs about 1 ona U per cm2 (Braune et al. 2001: 2.5 abo-U/cm2 at 2.5:1), so the
  field's area is ``U / (1 U/cm2)`` and its radius ``sqrt(U / pi)`` cm: 4 U give about 11 mm;
- a larger volume widens it modestly: ``(V / 0.1 mL) ** a`` with ``a`` chosen so that five times the
  volume gives 50% more area (Hsu et al. 2004), i.e. ``a = ln(1.5) / (2 ln 5) ~ 0.126``;
- a product factor (abobotulinumtoxinA 1.1, the others 1.0) and a band (inner, outer) that is
  wider where the product's equivalence is uncertain;
- every radius is capped at 45 mm.

Tissue planes (``planes`` in the same file): a structure on the far side of a fascial barrier from
the tip is reached only by an attenuated field, ``factor * radius`` (the masseteric fascia around the
masticatory compartment; a muscle's own fascia between two muscles of one compartment). The evidence
is thin (one rat study, two forehead trials on depth): see docs/diffusion.md. The orbit, levator
palpebrae, vessels, nerves and the duct are never attenuated.

What it does not model: the orbital septum and the SMAS as barriers (no data), gravity, massage or
rubbing after the injection, the muscle's activity, depth within one plane and needle angle,
individual variation (muscle mass, skin thickness, age, antibodies), and any product-specific
diffusion beyond the unit equivalence and the small factor
above. The sphere it gives is a population average for display and for screening distances: it
never promises a patient-specific safe distance.

Examples
--------
>>> r = radius_of_effect(4, 0.1)
>>> round(r.nominal_mm, 1)
11.3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.ids import base_of
from injectmap.anatomy.index import Neighbour
from injectmap.planning.datafiles import load_model
from injectmap.planning.plan import Plan, Point
from injectmap.planning.products import REFERENCE_PRODUCT, ona_equivalent_units, product_info

__all__ = ["EffectRadius", "DiffusionParameters", "PlaneModel", "parameters", "plane_adjusted", "plane_factor",
           "planes", "point_radius", "radius_mm", "radius_of_effect", "tip_compartment"]


@dataclass(frozen=True)
class DiffusionParameters:
    """The model's constants, read from diffusion.yaml."""

    areal_dose_ona_u_per_cm2: float
    reference_volume_ml: float
    volume_exponent: float
    min_volume_ml: float
    max_radius_mm: float
    product_factor: dict[str, float]
    product_band: dict[str, tuple[float, float]]


class _Sourced(DataModel):
    value: PositiveFloat
    source: str
    confidence: str = ""


class _VolumeEffect(DataModel):
    volume_ratio: float = Field(gt=1.0)
    area_ratio: PositiveFloat
    source: str
    confidence: str = ""


class _Band(DataModel):
    inner: PositiveFloat
    outer: PositiveFloat
    source: str = ""
    confidence: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> _Band:
        if not self.inner <= 1.0 <= self.outer:
            raise ValueError(f"band must hold 1: inner <= 1 <= outer, got {self.inner}, {self.outer}")
        return self


class _Model(DataModel):
    areal_dose_ona_u_per_cm2: _Sourced
    reference_volume_ml: _Sourced
    volume_effect: _VolumeEffect
    min_volume_ml: _Sourced
    max_radius_mm: _Sourced
    band: _Band


class _ProductDiffusion(DataModel):
    radius_factor: PositiveFloat = 1.0
    band: _Band | None = None
    source: str = ""
    confidence: str = ""


class _Injection(DataModel):
    units: PositiveFloat
    volume_ml: PositiveFloat
    product: str


class _Calibration(DataModel):
    """A published observation the model must reproduce (tests/planning/test_diffusion.py)."""

    id: str
    a: _Injection
    b: _Injection | None = None
    measure: Literal["radius_mm", "area_ratio", "radius_ratio"]
    expected: float | None = None
    tolerance: PositiveFloat | None = None
    min: float | None = None
    max: float | None = None
    source: str

    @model_validator(mode="after")
    def _bounded(self) -> _Calibration:
        if (self.expected is None) == (self.min is None and self.max is None):
            raise ValueError("give either expected (with tolerance) or min/max")
        if self.expected is not None and self.tolerance is None:
            raise ValueError("expected needs a tolerance")
        return self


class _Compartment(DataModel):
    members: tuple[str, ...] = Field(min_length=1)
    source: str = Field(min_length=20)
    confidence: str = ""


class _Barrier(DataModel):
    id: str
    name: str
    around: str
    factor: float = Field(gt=0.0, le=1.0)
    source: str = Field(min_length=20)
    confidence: str = ""


class _MuscleFascia(DataModel):
    factor: float = Field(gt=0.0, le=1.0)
    source: str = Field(min_length=20)
    confidence: str = ""
    one_muscle: tuple[tuple[str, ...], ...] = ()
    one_muscle_source: str = ""


class _Planes(DataModel):
    compartments: dict[str, _Compartment]
    barriers: tuple[_Barrier, ...] = ()
    muscle_fascia: _MuscleFascia

    @model_validator(mode="after")
    def _consistent(self) -> _Planes:
        seen: dict[str, str] = {}
        for name, c in self.compartments.items():
            for m in c.members:
                if m in seen:
                    raise ValueError(f"{m!r} is in two compartments: {seen[m]!r} and {name!r}")
                seen[m] = name
        for b in self.barriers:
            if b.around not in self.compartments:
                raise ValueError(f"barrier {b.id!r} is around an unknown compartment {b.around!r}")
        return self


class DiffusionFile(DataModel):
    """diffusion.yaml: the field-of-effect model's constants and the per-product factors."""

    model: _Model
    products: dict[str, _ProductDiffusion] = {}
    calibration: tuple[_Calibration, ...] = ()
    planes: _Planes


@lru_cache(maxsize=1)
def parameters() -> DiffusionParameters:
    """The diffusion model's parameters (cached)."""
    d = load_model("diffusion.yaml", DiffusionFile)
    m = d.model
    ve = m.volume_effect
    exponent = math.log(ve.area_ratio) / (2.0 * math.log(ve.volume_ratio))
    default_band = (m.band.inner, m.band.outer)
    factors: dict[str, float] = {}
    bands: dict[str, tuple[float, float]] = {}
    for name, p in d.products.items():
        factors[name] = p.radius_factor
        bands[name] = (p.band.inner, p.band.outer) if p.band else default_band
    bands.setdefault("*", default_band)
    return DiffusionParameters(
        areal_dose_ona_u_per_cm2=m.areal_dose_ona_u_per_cm2.value,
        reference_volume_ml=m.reference_volume_ml.value,
        volume_exponent=exponent,
        min_volume_ml=m.min_volume_ml.value,
        max_radius_mm=m.max_radius_mm.value,
        product_factor=factors,
        product_band=bands,
    )


@dataclass(frozen=True)
class EffectRadius:
    """Radius of the field of effect of one injection, with an uncertainty band.

    Attributes
    ----------
    inner_mm : float
        Likely field: most patients show an effect at least this far.
    nominal_mm : float
        Population estimate; the ``radius_mm`` of ``injectmap check``.
    outer_mm : float
        Possible field: an effect this far is plausible.
    ona_equivalent_units : float
        The dose in onabotulinumtoxinA-equivalent units.
    volume_ml : float
        The volume used (after the floor).
    product : str
        Product name.
    capped : bool
        True when the nominal radius hit the model's maximum.
    """

    inner_mm: float
    nominal_mm: float
    outer_mm: float
    ona_equivalent_units: float
    volume_ml: float
    product: str
    capped: bool


def _number(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return v


def radius_of_effect(
    units: float, volume_ml: float, product: str = REFERENCE_PRODUCT
) -> EffectRadius:
    """Radius of effect from the dose, the injected volume and the product.

    Parameters
    ----------
    units : float
        Dose in the product's own units (>= 0).
    volume_ml : float
        Injected volume in mL (>= 0); values below the model's floor (0.01 mL) use the floor.
    product : str, optional
        Product name; onabotulinumtoxinA by default.

    Returns
    -------
    EffectRadius
        ``inner_mm < nominal_mm < outer_mm`` for a positive dose below the cap; all zero for a
        zero dose.

    Raises
    ------
    planning.products.UnknownProductError
        For an unknown product.
    ValueError, TypeError
        For a negative, non-finite or non-numeric dose or volume.

    Notes
    -----
    A population heuristic: see the module docstring and docs/diffusion.md for what it leaves out.
    """
    u = _number(units, "units")
    v = _number(volume_ml, "volume_ml")
    info = product_info(product)
    p = parameters()
    u_eq = ona_equivalent_units(u, info.name)
    v_eff = max(v, p.min_volume_ml)
    if u_eq == 0.0:
        return EffectRadius(0.0, 0.0, 0.0, 0.0, v_eff, info.name, False)
    area_cm2 = u_eq / p.areal_dose_ona_u_per_cm2
    r_mm = 10.0 * math.sqrt(area_cm2 / math.pi)
    r_mm *= (v_eff / p.reference_volume_ml) ** p.volume_exponent
    r_mm *= p.product_factor.get(info.name, 1.0)
    inner_f, outer_f = p.product_band.get(info.name, p.product_band["*"])
    cap = p.max_radius_mm
    return EffectRadius(
        inner_mm=min(r_mm * inner_f, cap),
        nominal_mm=min(r_mm, cap),
        outer_mm=min(r_mm * outer_f, cap),
        ona_equivalent_units=u_eq,
        volume_ml=v_eff,
        product=info.name,
        capped=r_mm >= cap,
    )


def radius_mm(units: float, volume_ml: float, product: str = REFERENCE_PRODUCT) -> float:
    """The nominal radius of effect in mm (the CONTRACTS ``radius_mm``).

    See :func:`radius_of_effect` for the parameters.

    Examples
    --------
    >>> round(radius_mm(4, 0.1), 1)
    11.3
    """
    return radius_of_effect(units, volume_ml, product).nominal_mm


def point_radius(plan: Plan, point: Point) -> EffectRadius:
    """Radius of effect of one plan point: its units, its volume and its product.

    The volume is the point's ``volume_ml`` or, when absent, its units over the reconstitution of
    its product (the point's own or the plan's).
    """
    return radius_of_effect(point.units, plan.volume_ml_of(point), plan.product_of(point).name)


# -- tissue planes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlaneModel:
    """The tissue-plane part of diffusion.yaml.

    Attributes
    ----------
    compartment : dict of str to str
        Base structure id (no side) to its compartment.
    barrier : dict of str to tuple of (float, str)
        Compartment to the (factor, name) of the fascia around it.
    muscle_fascia : float
        Factor for a different muscle of the tip's compartment when the tip lies in a muscle.
    muscle_of : dict of str to str
        Base id to the muscle it is part of (the masseter's two parts are one muscle).
    """

    compartment: dict[str, str]
    barrier: dict[str, tuple[float, str]]
    muscle_fascia: float
    muscle_of: dict[str, str]


@lru_cache(maxsize=1)
def planes() -> PlaneModel:
    """The tissue-plane model (cached)."""
    p = load_model("diffusion.yaml", DiffusionFile).planes
    compartment = {m: name for name, c in p.compartments.items() for m in c.members}
    barrier = {b.around: (b.factor, b.name) for b in p.barriers}
    muscle_of = {m: group[0] for group in p.muscle_fascia.one_muscle for m in group}
    return PlaneModel(compartment, barrier, p.muscle_fascia.factor, muscle_of)


def _compartment(structure_id: str) -> str | None:
    return planes().compartment.get(base_of(structure_id))


def _muscle(structure_id: str) -> str:
    """The muscle a structure id is part of, side kept (masseter parts are one muscle)."""
    b = base_of(structure_id)
    return structure_id.replace(b, planes().muscle_of.get(b, b), 1)


def tip_compartment(inside: list[str], near: dict[str, Neighbour], layer: str,
                    target: str | None = None) -> tuple[str | None, str | None]:
    """The compartment the tip lies in, and the muscle it lies in (if any).

    Parameters
    ----------
    inside : list of str
        The structures containing the tip.
    near : dict of str to Neighbour
        The structures near the tip (their distances).
    layer : str
        The tip's layer (``analysis.tip_layer``: skin, subcutaneous_fat, smas, deep, bone, muscle, ...).
    target : str, optional
        The point's target: preferred when it contains the tip.

    Returns
    -------
    tuple
        ``(compartment or None, muscle id or None)``. A tip in a compartment's structure is in that
        compartment; a tip in the skin, the fat or the SMAS is superficial; a deeper tip in no structure
        belongs to the compartment of the nearest structure that has one.
    """
    order = ([target] if target in inside else []) + [s for s in inside if s != target]
    for s in order:
        c = _compartment(s)
        if c is not None:
            return c, s
    if layer in ("skin", "subcutaneous_fat", "smas", "outside"):
        return "superficial", None
    ranked = sorted((nb.distance_mm, s) for s, nb in near.items() if _compartment(s) is not None)
    return (_compartment(ranked[0][1]) if ranked else None), None


def plane_factor(tip_comp: str | None, tip_muscle: str | None, structure_id: str) -> float:
    """The factor by which the field's reach toward ``structure_id`` is shortened by the planes between.

    Parameters
    ----------
    tip_comp : str or None
        The tip's compartment (:func:`tip_compartment`).
    tip_muscle : str or None
        The muscle holding the tip, if any.
    structure_id : str
        The structure the field reaches toward.

    Returns
    -------
    float
        1.0 with no barrier between (or for a structure in no compartment: the orbit, vessels, nerves);
        the fascia's factor across the masseteric fascia; the muscle-fascia factor for another muscle
        of the tip's compartment when the tip lies in a muscle.

    Examples
    --------
    >>> plane_factor("masticatory", "masseter_deep_left", "risorius_left")
    0.4
    >>> plane_factor("superficial", None, "risorius_left")
    1.0
    >>> plane_factor("masticatory", "masseter_deep_left", "masseter_superficial_left")
    1.0
    >>> plane_factor("masticatory", "masseter_deep_left", "orbit_left")
    1.0
    """
    pm = planes()
    sc = _compartment(structure_id)
    if tip_comp is None or sc is None:
        return 1.0
    if sc != tip_comp:
        factors = [pm.barrier[c][0] for c in (tip_comp, sc) if c in pm.barrier]
        return min(factors) if factors else 1.0
    if tip_muscle is not None and _muscle(tip_muscle) != _muscle(structure_id):
        return pm.muscle_fascia
    return 1.0


def plane_adjusted(near: dict[str, Neighbour], inside: list[str], layer: str, target: str | None,
                   r_nom: float) -> dict[str, Neighbour]:
    """The neighbours with each distance lengthened by what the planes take from the field.

    A structure across a barrier of factor ``f`` is reached by the likely field only within ``f * r_nom``:
    its distance is given as ``d + (1 - f) * r_nom``, so that ``distance - r_nom`` is its exact distance
    from the attenuated likely field. The outer field's test (``distance < r_out``) then errs on the
    side of reporting (it lets the outer field cross with ``r_out - (1 - f) * r_nom`` >= ``f * r_out``).
    Structures containing the tip and structures in no compartment keep their distance.

    Parameters
    ----------
    near : dict of str to Neighbour
        ``SpatialIndex.neighbours`` of the tip.
    inside : list of str
        The structures containing the tip.
    layer : str
        The tip's layer.
    target : str or None
        The point's target.
    r_nom : float
        The nominal radius of effect (mm).

    Returns
    -------
    dict of str to Neighbour
        A new mapping; unchanged entries are the same objects.
    """
    comp, muscle = tip_compartment(inside, near, layer, target)
    out: dict[str, Neighbour] = {}
    for s, nb in near.items():
        f = 1.0 if s in inside or nb.distance_mm < 0 else plane_factor(comp, muscle, s)
        out[s] = nb if f >= 1.0 else Neighbour(nb.id, nb.distance_mm + (1.0 - f) * r_nom, nb.closest_mm)
    return out
