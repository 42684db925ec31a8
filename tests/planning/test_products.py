"""Products: vials, reconstitution, units to volume, unit equivalence."""

from __future__ import annotations

import math

import pytest

from injectmap.planning.datafiles import load_data
from injectmap.planning.products import (
    UnknownProductError,
    concentration_units_per_ml,
    ona_equivalent_units,
    product_info,
    product_names,
    volume_ml,
)

ALL = ["onabotulinumtoxinA", "abobotulinumtoxinA", "incobotulinumtoxinA", "prabotulinumtoxinA",
       "daxibotulinumtoxinA"]


def test_all_five_products_known():
    assert sorted(ALL) == product_names()


@pytest.mark.parametrize("name", ALL)
def test_every_number_has_a_source(name):
    d = load_data("products.yaml")["products"][name]
    assert d["vial_source"]
    assert d["ona_equivalence"]["source"]
    for r in d["reconstitution"]:
        assert r["source"]


def test_label_reconstitution_gives_4_units_per_0_1_ml():
    assert volume_ml(4, "onabotulinumtoxinA", 100, 2.5) == 0.1
    assert volume_ml(20, "onabotulinumtoxinA", 100, 2.5) == 0.5
    assert volume_ml(4, "prabotulinumtoxinA", 100, 2.5) == 0.1
    assert volume_ml(4, "incobotulinumtoxinA", 100, 2.5) == 0.1


@pytest.mark.parametrize("diluent, per_0_1", [(1.0, 10.0), (2.0, 5.0), (4.0, 2.5)])
def test_common_ona_dilutions(diluent, per_0_1):
    assert math.isclose(volume_ml(per_0_1, "onabotulinumtoxinA", 100, diluent), 0.1)


def test_defaults_come_from_the_label():
    assert volume_ml(4, "onabotulinumtoxinA") == 0.1
    assert math.isclose(volume_ml(8, "daxibotulinumtoxinA"), 0.096)  # 100 U / 1.2 mL
    assert math.isclose(concentration_units_per_ml("abobotulinumtoxinA", 300, 2.5), 120.0)


def test_equivalence_ratios():
    assert ona_equivalent_units(50, "abobotulinumtoxinA") == 20.0
    assert ona_equivalent_units(20, "incobotulinumtoxinA") == 20.0
    assert ona_equivalent_units(20, "prabotulinumtoxinA") == 20.0
    assert ona_equivalent_units(20, "onabotulinumtoxinA") == 20.0
    assert ona_equivalent_units(40, "daxibotulinumtoxinA") == 20.0
    abo = product_info("abobotulinumtoxinA").equivalence
    assert (abo.low, abo.units_per_ona_unit, abo.high) == (2.0, 2.5, 3.0)
    assert product_info("daxibotulinumtoxinA").equivalence.estimate
    assert "ESTIMATE" in product_info("daxibotulinumtoxinA").equivalence.source
    assert "40 U" in product_info("daxibotulinumtoxinA").equivalence.source


def test_vial_sizes():
    assert product_info("onabotulinumtoxinA").vial_units == (50.0, 100.0, 200.0)
    assert 300.0 in product_info("abobotulinumtoxinA").vial_units
    assert product_info("incobotulinumtoxinA").vial_units == (50.0, 100.0, 200.0)


@pytest.mark.parametrize("fn", [lambda: product_info("botox"), lambda: volume_ml(4, "botox"),
                                lambda: ona_equivalent_units(4, "botox")])
def test_unknown_product_names_it_and_lists_known(fn):
    with pytest.raises(UnknownProductError) as e:
        fn()
    msg = str(e.value)
    assert "'botox'" in msg
    for name in ALL:
        assert name in msg
    assert "onabotulinumtoxinA" in msg.split("did you mean")[1]


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "4"])
def test_bad_units_rejected(bad):
    with pytest.raises((ValueError, TypeError)):
        volume_ml(bad, "onabotulinumtoxinA")
    with pytest.raises((ValueError, TypeError)):
        ona_equivalent_units(bad, "onabotulinumtoxinA")


@pytest.mark.parametrize("bad", [0, -2.5, float("nan")])
def test_bad_reconstitution_rejected(bad):
    with pytest.raises(ValueError):
        volume_ml(4, "onabotulinumtoxinA", 100, bad)
    with pytest.raises(ValueError):
        volume_ml(4, "onabotulinumtoxinA", bad, 2.5)
