"""Dose ranges and regions."""

from __future__ import annotations

import pytest

from injectmap.anatomy.ids import BILATERAL_MUSCLES, MIDLINE_MUSCLES, structure_ids
from injectmap.planning.datafiles import load_data
from injectmap.planning.doses import (
    area_dose_range,
    area_names,
    dose_group_of,
    dose_range,
    dosed_muscles,
    max_total,
    region_of,
)


@pytest.mark.parametrize(
    "sid, expected",
    [
        ("corrugator_supercilii_left", (2, 4, 8, 10)),
        ("procerus", (2, 4, 8, 10)),
        ("orbicularis_oculi_right", (5, 12, 15, 15)),
        ("masseter_superficial_left", (20, 24, 32, 40)),
        ("masseter_deep_right", (20, 24, 32, 40)),
        ("temporalis_left", (5, 5, 25, 25)),
        ("depressor_anguli_oris_left", (2, 2, 3, 5)),
        ("platysma_left", (10, 13, 18, 20)),
    ],
)
def test_known_ranges(sid, expected):
    r = dose_range(sid)
    assert r is not None
    assert r.as_tuple()[:4] == expected
    assert r.source


def test_glabella_forehead_totals():
    assert area_dose_range("glabella").as_tuple()[1:3] == (20, 20)
    assert area_dose_range("forehead").as_tuple()[1:3] == (10, 20)
    assert area_dose_range("platysma").as_tuple()[1:3] == (26, 36)
    assert max_total().units == 400 and max_total().days == 90
    with pytest.raises(KeyError, match="glabella"):
        area_dose_range("nose")


def test_every_range_has_a_source_and_a_valid_per():
    data = load_data("dose_ranges.yaml")
    for table in ("muscles", "areas"):
        for key, d in data[table].items():
            assert d["source"], key
            assert d["per"] in ("side", "total"), key
    for name in dosed_muscles():
        assert name in BILATERAL_MUSCLES + MIDLINE_MUSCLES
    assert set(area_names()) >= {"glabella", "forehead", "lateral_canthal"}


def test_groups_and_classify():
    assert dose_group_of("masseter_deep_left") == "masseter"
    assert dose_group_of("frontalis_right") == "frontalis"
    r = dose_range("masseter")
    assert [r.classify(u) for u in (10, 22, 30, 36, 50)] == ["below", "low", "typical", "high", "above"]
    assert dose_range("facial_artery_left") is None


def test_regions():
    assert region_of("frontalis_left") == "upper_face"
    assert region_of("procerus") == "upper_face"
    assert region_of("orbicularis_oculi_right") == "upper_face"
    assert region_of("masseter_superficial_left") == "lower_face"
    assert region_of("temporalis_right") == "lower_face"
    assert region_of("platysma_left") == "lower_face"
    assert region_of("zygomaticus_major_left") == "mid_face"
    assert region_of("facial_artery_left") is None
    muscles = [s for s, k in structure_ids().items() if k == "muscle"]
    assert all(region_of(m) is not None for m in muscles)
