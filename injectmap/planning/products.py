"""Botulinum toxin type A products: vials, reconstitution, units to volume, unit equivalence.

Every number comes from ``injectmap/planning/data/products.yaml``, with its source. Units are not
interchangeable between products (each label says so): the equivalence ratios here are clinical
conversion conventions, used to compare doses and to drive the diffusion heuristic.

Examples
--------
>>> volume_ml(4, "onabotulinumtoxinA", units_per_vial=100, diluent_ml=2.5)
0.1
>>> ona_equivalent_units(50, "abobotulinumtoxinA")
20.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from pydantic import Field, PositiveFloat, model_validator

from injectmap.anatomy.datamodel import DataModel
from injectmap.anatomy.errors import UserFacing
from injectmap.planning.datafiles import load_model

__all__ = [
    "REFERENCE_PRODUCT",
    "Equivalence",
    "ProductsFile",
    "ProductInfo",
    "Reconstitution",
    "UnknownProductError",
    "concentration_units_per_ml",
    "ml_text",
    "ona_equivalent_units",
    "product_info",
    "product_names",
    "suggest_product",
    "volume_ml",
]

REFERENCE_PRODUCT = "onabotulinumtoxinA"


class UnknownProductError(UserFacing, ValueError):
    """A product name that is not in products.yaml; the message lists the known names."""

    def __init__(self, name: object) -> None:
        self.name = name
        known = ", ".join(product_names())
        hint = suggest_product(name) if isinstance(name, str) else None
        extra = f" (did you mean {hint!r}?)" if hint else ""
        shown = repr(name) if isinstance(name, str) and len(name) <= 60 else type(name).__name__
        super().__init__(f"unknown product {shown}{extra}; known products: {known}")


@dataclass(frozen=True)
class Reconstitution:
    """One typical reconstitution of a vial.

    Attributes
    ----------
    units_per_vial : float
        Units in the vial.
    diluent_ml : float
        Saline added, in mL.
    source : str
        Citation.
    """

    units_per_vial: float
    diluent_ml: float
    source: str

    @property
    def units_per_0_1_ml(self) -> float:
        """Units in 0.1 mL of the reconstituted solution."""
        return self.units_per_vial / self.diluent_ml * 0.1


@dataclass(frozen=True)
class Equivalence:
    """How many units of a product count as one onabotulinumtoxinA unit.

    Attributes
    ----------
    units_per_ona_unit : float
        Nominal ratio (abobotulinumtoxinA: 2.5).
    low, high : float
        The range quoted in the sources.
    estimate : bool
        True when the ratio is the project's estimate rather than a published convention.
    source : str
        Citation.
    """

    units_per_ona_unit: float
    low: float
    high: float
    estimate: bool
    source: str


@dataclass(frozen=True)
class ProductInfo:
    """What injectmap knows about one product (from products.yaml).

    Attributes
    ----------
    name : str
        International nonproprietary name, e.g. ``"onabotulinumtoxinA"``.
    brands : tuple of str
        Brand names, for display and for suggestions.
    vial_units : tuple of float
        Vial sizes in units.
    default_units_per_vial, default_diluent_ml : float
        The label reconstitution used when nothing else is given.
    reconstitutions : tuple of Reconstitution
        Typical reconstitutions with their sources.
    diluent_ml_range : (float, float)
        Validation bounds for the diluent volume (not a recommendation).
    equivalence : Equivalence
        Ratio to onabotulinumtoxinA units.
    vial_source : str
        Citation for the vial sizes.
    """

    name: str
    brands: tuple[str, ...]
    vial_units: tuple[float, ...]
    default_units_per_vial: float
    default_diluent_ml: float
    reconstitutions: tuple[Reconstitution, ...]
    diluent_ml_range: tuple[float, float]
    equivalence: Equivalence
    vial_source: str


class _Vial(DataModel):
    units_per_vial: PositiveFloat
    diluent_ml: PositiveFloat


class _Reconstitution(_Vial):
    source: str


class _Equivalence(DataModel):
    units_per_ona_unit: PositiveFloat
    low: PositiveFloat
    high: PositiveFloat
    estimate: bool
    source: str
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Equivalence:
        if not self.low <= self.units_per_ona_unit <= self.high:
            raise ValueError("low <= units_per_ona_unit <= high does not hold")
        return self


class _Product(DataModel):
    brands: tuple[str, ...] = ()
    vial_units: tuple[PositiveFloat, ...] = Field(min_length=1)
    vial_source: str = ""
    default: _Vial
    reconstitution: tuple[_Reconstitution, ...] = ()
    diluent_ml_range: tuple[float, float]
    ona_equivalence: _Equivalence

    @model_validator(mode="after")
    def _consistent(self) -> _Product:
        lo, hi = self.diluent_ml_range
        if not 0 <= lo < hi:
            raise ValueError(f"diluent_ml_range must be [low, high] with 0 <= low < high, got {[lo, hi]}")
        if self.default.units_per_vial not in self.vial_units:
            raise ValueError(f"default.units_per_vial {self.default.units_per_vial:g} is not a vial size")
        return self


class ProductsFile(DataModel):
    """products.yaml: the products, their vials, reconstitutions and unit equivalence."""

    reference_product: str
    products: dict[str, _Product]

    @model_validator(mode="after")
    def _reference_known(self) -> ProductsFile:
        if self.reference_product not in self.products:
            raise ValueError(f"reference_product {self.reference_product!r} is not among the products")
        return self


@lru_cache(maxsize=1)
def _products() -> dict[str, ProductInfo]:
    data = load_model("products.yaml", ProductsFile)
    out: dict[str, ProductInfo] = {}
    for name, d in data.products.items():
        eq = d.ona_equivalence
        out[name] = ProductInfo(
            name=name,
            brands=d.brands,
            vial_units=d.vial_units,
            default_units_per_vial=d.default.units_per_vial,
            default_diluent_ml=d.default.diluent_ml,
            reconstitutions=tuple(Reconstitution(r.units_per_vial, r.diluent_ml, r.source) for r in d.reconstitution),
            diluent_ml_range=d.diluent_ml_range,
            equivalence=Equivalence(
                units_per_ona_unit=eq.units_per_ona_unit,
                low=eq.low,
                high=eq.high,
                estimate=eq.estimate,
                source=" ".join(eq.source.split()),
            ),
            vial_source=d.vial_source,
        )
    return out


def product_names() -> list[str]:
    """Names of the known products, sorted."""
    return sorted(_products())


def suggest_product(name: str) -> str | None:
    """The known product a misspelt or brand name most likely means, or None.

    Matches case-insensitively on the name and on brand names (``"Botox"`` gives
    ``"onabotulinumtoxinA"``).
    """
    key = name.strip().lower()
    if not key:
        return None
    for info in _products().values():
        if key == info.name.lower() or key in (b.lower() for b in info.brands):
            return info.name
    for info in _products().values():
        if key[:4] and info.name.lower().startswith(key[:4]):
            return info.name
    return None


def product_info(product: str) -> ProductInfo:
    """The data on one product.

    Parameters
    ----------
    product : str
        Exact product name (see :func:`product_names`).

    Raises
    ------
    UnknownProductError
        If the name is not known; the message lists the known names.
    """
    try:
        return _products()[product]
    except (KeyError, TypeError):
        raise UnknownProductError(product) from None


def _check_positive(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{what} must be a finite number greater than 0, got {value!r}")
    return v


def concentration_units_per_ml(
    product: str, units_per_vial: float | None = None, diluent_ml: float | None = None
) -> float:
    """Units per mL of the reconstituted solution.

    Parameters
    ----------
    product : str
        Product name.
    units_per_vial : float, optional
        Units in the vial; the product's label default when omitted.
    diluent_ml : float, optional
        Saline added in mL; the product's label default when omitted.
    """
    info = product_info(product)
    upv = info.default_units_per_vial if units_per_vial is None else _check_positive(
        units_per_vial, "units_per_vial")
    dil = info.default_diluent_ml if diluent_ml is None else _check_positive(diluent_ml, "diluent_ml")
    return upv / dil


#: how the app's plan table formats a point's mL (Bokeh's NumberFormatter): two decimals, a third when not zero
ML_FORMAT = "0.00[0]"


def ml_text(ml: float) -> str:
    """A volume in mL as the app's plan table shows it (:data:`ML_FORMAT`) and the chart prints it: two decimals,
    a third when it is not zero, rounded half away from zero from the decimal the number reads as (so 3 U at
    2.5 mL per 100 U, 0.075 mL, is "0.075", never "0.07"; 0.0625 is "0.063").

    >>> ml_text(0.075), ml_text(0.3), ml_text(0.0625)
    ('0.075', '0.30', '0.063')
    """
    text = str(Decimal(repr(float(ml))).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))
    return text[:-1] if text.endswith("0") else text


def volume_ml(
    units: float, product: str, units_per_vial: float | None = None, diluent_ml: float | None = None
) -> float:
    """Injected volume for a dose.

    Parameters
    ----------
    units : float
        Dose in the product's own units (>= 0).
    product : str
        Product name.
    units_per_vial : float, optional
        Units in the vial; the label default when omitted.
    diluent_ml : float, optional
        Saline added to the vial, mL; the label default when omitted.

    Returns
    -------
    float
        Volume in mL, rounded to 1e-9 mL so that 4 U at 100 U / 2.5 mL gives exactly 0.1.

    Examples
    --------
    >>> volume_ml(10, "onabotulinumtoxinA", 100, 1.0)
    0.1
    """
    if isinstance(units, bool) or not isinstance(units, (int, float)):
        raise TypeError(f"units must be a number, got {type(units).__name__}")
    if not math.isfinite(units) or units < 0:
        raise ValueError(f"units must be a finite number >= 0, got {units!r}")
    conc = concentration_units_per_ml(product, units_per_vial, diluent_ml)
    return round(float(units) / conc, 9)


def ona_equivalent_units(units: float, product: str) -> float:
    """Dose in onabotulinumtoxinA-equivalent units (a convention, not a label statement).

    Parameters
    ----------
    units : float
        Dose in the product's own units.
    product : str
        Product name.

    Returns
    -------
    float
        ``units / units_per_ona_unit`` (abobotulinumtoxinA 2.5, incobotulinumtoxinA 1,
        prabotulinumtoxinA about 1, daxibotulinumtoxinA 2 as an estimate).

    Raises
    ------
    UnknownProductError
        For an unknown product.
    """
    info = product_info(product)
    if isinstance(units, bool) or not isinstance(units, (int, float)):
        raise TypeError(f"units must be a number, got {type(units).__name__}")
    if not math.isfinite(units) or units < 0:
        raise ValueError(f"units must be a finite number >= 0, got {units!r}")
    return float(units) / info.equivalence.units_per_ona_unit
