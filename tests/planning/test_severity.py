"""Severity = consequence x likelihood (docs/severity.md), corridors from the published spread, and the
masseter's own anterior border."""

from __future__ import annotations

import copy

import pytest

from injectmap.anatomy import ids
from injectmap.anatomy.datamodel import DataFileError
from injectmap.anatomy.variability import PATH, load_variability, parse_variability
from injectmap.anatomy.yamlio import safe_load
from injectmap.planning.check import check_plan
from injectmap.planning.results import PlanResult, PointResult, Severity
from injectmap.planning.rules import _spared_severity

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def run(model, *points: dict) -> PlanResult:
    res = check_plan({"format": "injectmap-plan", "version": 1, "product": PRODUCT, "points": list(points)}, model)
    assert res.errors == (), res.errors
    return res


# -- the variability file ---------------------------------------------------------------------------
def test_every_artery_nerve_the_duct_and_every_foramen_carries_its_spread() -> None:
    v = load_variability()
    for base in (*ids.ARTERIES, *ids.NERVES, "parotid_duct"):
        c = v.corridor_of(f"{base}_left")
        assert c is not None and c.corridor_mm > 0 and 0 < c.share <= 1 and len(c.source) > 20, base
        if c.basis == "sd":
            assert c.share == 0.68, base  # one SD about the mean course
    assert set(v.foramina) == set(ids.BONE_LANDMARKS)
    assert v.corridor_of("frontalis_left") is None
    # the figures: the duct within 15 mm of the tragus-cheilion line in 93%
    duct = v.corridor_of("parotid_duct_right")
    assert (duct.corridor_mm, duct.share) == (15.0, 0.93)


def test_the_variability_file_refuses_a_missing_structure_and_a_bad_share() -> None:
    data = safe_load(PATH.read_text())
    broken = copy.deepcopy(data)
    del broken["structures"]["facial_artery"]
    with pytest.raises(DataFileError, match="facial_artery: missing"):
        parse_variability(broken)
    broken = copy.deepcopy(data)
    broken["structures"]["facial_artery"]["share"] = 1.5
    with pytest.raises(DataFileError, match=r"structures\.facial_artery\.share"):
        parse_variability(broken)


def test_a_plane_gives_one_depth_band_and_a_sided_landmark() -> None:
    data = safe_load(PATH.read_text())
    broken = copy.deepcopy(data)
    broken["structures"]["supratrochlear_artery"]["planes"][0]["layer"] = "smas"  # a band and a layer
    with pytest.raises(DataFileError, match="exactly one of depth_mm"):
        parse_variability(broken)
    broken = copy.deepcopy(data)
    broken["structures"]["supratrochlear_artery"]["planes"][0]["depth_mm"] = [5.0, 3.0]
    with pytest.raises(DataFileError, match="shallow, deep"):
        parse_variability(broken)
    broken = copy.deepcopy(data)
    broken["structures"]["supratrochlear_artery"]["planes"][0]["height"]["landmark"] = "glabella"
    with pytest.raises(DataFileError, match="not a sided landmark"):
        parse_variability(broken)


def test_the_forehead_vessels_carry_their_planes_with_sources() -> None:
    v = load_variability()
    for base in ("supratrochlear_artery", "supraorbital_artery", "supratrochlear_nerve", "supraorbital_nerve",
                 "frontal_branch_superficial_temporal_artery"):
        planes = v.structures[base].planes
        assert planes and all(len(p.source) > 20 and len(p.measure) > 20 for p in planes), base
    # the change of plane of the forehead arteries is a spread of heights: both planes apply in between
    sta = v.structures["supratrochlear_artery"].planes
    assert sum(p.height is not None and p.height.covers(14.0) for p in sta) == 2
    assert sum(p.height is not None and p.height.covers(-2.0) for p in sta) == 1


# -- the scheme ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("major, likely, plausible, expected", [
    (True, True, True, Severity.DANGER), (True, False, True, Severity.CAUTION), (True, False, False, Severity.INFO),
    (False, True, True, Severity.CAUTION), (False, False, True, Severity.INFO), (False, False, False, Severity.INFO),
])
def test_consequence_times_likelihood(major: bool, likely: bool, plausible: bool, expected: Severity) -> None:
    assert _spared_severity(major, likely, plausible) is expected


@pytest.mark.slow
def test_a_paramedian_forehead_point_is_a_bruising_caution_not_a_danger(model) -> None:
    """The issue's example: 15 mm from the midline, 30 mm above the glabella, 2 mm deep, 2 U."""
    res = run(model, {"id": "f", "units": 2, "target": "frontalis_left",
                      "at": {"landmark": "glabella", "superior_mm": 30, "left_mm": 15}, "depth_mm": 2})
    assert res.exit_status == 0 and res.worst is not Severity.DANGER
    vessel = [f for f in res.points[0].findings if f.code.startswith("tip_in_artery")]
    assert all(f.severity is Severity.CAUTION for f in vessel)


@pytest.mark.slow
def test_the_likely_field_deep_in_the_levator_is_a_danger(model) -> None:
    """A deep point under the central brow at the rim: the likely field carries toxin into levator palpebrae
    or the orbit (ptosis): danger, where a point 1 cm higher and superficial is not. (9 mm deep: the tip
    stays within 3 mm past the bone, deeper is a placement error since needles stop at the bone.)"""
    res = run(model, {"id": "p", "units": 8, "target": "corrugator_supercilii_left",
                      "at": {"landmark": "orbital_rim_superior_left", "superior_mm": -3}, "depth_mm": 9})
    assert not res.errors
    dangers = {ids.base_of(f.structure or "") for f in res.points[0].findings if f.severity is Severity.DANGER}
    assert dangers & {"levator_palpebrae_superioris", "orbit"}, res.points[0].findings
    ok = run(model, {"id": "p", "units": 4, "target": "corrugator_supercilii_left",
                     "at": {"landmark": "orbital_rim_superior_left", "superior_mm": 12}, "depth_mm": 3})
    assert ok.worst is not Severity.DANGER


@pytest.mark.slow
def test_a_deep_platysma_point_is_a_danger(model) -> None:
    res = run(model, {"id": "p", "units": 2, "target": "platysma_left",
                      "at": {"landmark": "gonion_left", "anterior_mm": 12, "superior_mm": -14}, "depth_mm": 8})
    assert any(f.code == "platysma_too_deep" and f.severity is Severity.DANGER for f in res.points[0].findings)


# -- corridors in the result ----------------------------------------------------------------------------
@pytest.mark.slow
def test_each_point_reports_the_corridors_near_it(model) -> None:
    res = run(model, {"id": "c", "units": 4, "target": "corrugator_supercilii_left",
                      "at": {"landmark": "brow_medial_left", "superior_mm": 5}, "depth_mm": 5})
    p = res.points[0]
    by = {c.structure: c for c in p.corridors if c.foramen is None}
    sta = by["supratrochlear_artery_left"]
    assert sta.kind == "artery" and sta.share == 0.68 and sta.tip_inside
    assert sta.likely_field_inside and sta.possible_field_inside
    for c in p.corridors:  # the possible field reaches each corridor listed; a tip inside implies the fields
        assert c.distance_mm - p.radius_outer_mm <= c.corridor_mm + 0.01
        if c.plane is None:  # a round tube
            assert c.tip_inside == (c.distance_mm <= c.corridor_mm)
        else:  # the lateral spread times the depth band of the plane(s) at the tip's height
            assert c.lateral_mm is not None and c.tip_depth_mm is not None and c.plane_mm
            assert c.lateral_mm <= c.distance_mm + 0.01
            assert c.tip_inside == (c.lateral_mm <= c.corridor_mm
                                    and any(lo <= c.tip_depth_mm <= hi for lo, hi in c.plane_mm))
        assert not c.tip_inside or c.likely_field_inside
    d = p.to_dict()
    assert list(d)[-1] == "corridors" and d["corridors"][0]["structure"] == p.corridors[0].structure
    assert PointResult.from_dict(d) == p
    # a far-away structure is not listed
    assert "mental_nerve_left" not in by


@pytest.mark.slow
def test_a_tip_in_another_plane_than_the_vessel_is_not_in_its_corridor(model) -> None:
    """10 mm above the rim, 8 mm medial to the mid-pupillary line: the supraorbital artery runs deep to corrugator
    and frontalis there in most people (or, past its change of plane, on the frontalis). A tip 2 mm deep lies above
    both planes; 3.5 mm deep, at the same place, it lies in the deep one."""
    at = {"landmark": "orbital_rim_superior_left", "superior_mm": 10, "lateral_mm": -8}
    shallow = run(model, {"id": "s", "units": 4, "target": "corrugator_supercilii_left", "at": at, "depth_mm": 2})
    deep = run(model, {"id": "d", "units": 4, "target": "corrugator_supercilii_left", "at": at, "depth_mm": 3.5})
    soa_s = next(c for c in shallow.points[0].corridors if c.structure == "supraorbital_artery_left")
    soa_d = next(c for c in deep.points[0].corridors if c.structure == "supraorbital_artery_left")
    assert soa_s.distance_mm <= soa_s.corridor_mm and soa_s.lateral_mm is not None
    assert soa_s.lateral_mm <= soa_s.corridor_mm  # across the face it is inside the spread ...
    assert not soa_s.tip_inside  # ... but not in the vessel's plane
    assert soa_d.tip_inside and "deep to corrugator" in str(soa_d.plane)
    assert not any(f.code.startswith("tip_in_") and f.code.endswith("corridor") for f in shallow.points[0].findings)
    caution = [f for f in deep.points[0].findings if f.code == "tip_in_artery_corridor"]
    assert caution and caution[0].severity is Severity.CAUTION
    assert "Source: Cotofana" in caution[0].message and "deep to corrugator" in caution[0].message


# -- the masseter's own anterior border -----------------------------------------------------------------
@pytest.mark.slow
def test_a_masseter_point_in_front_of_the_muscle_at_mouth_corner_height_is_warned(model) -> None:
    """The issue's miss: entry (47, -60, -17) mm, 10 mm deep, 8 U, in front of the masseter where the facial
    artery runs forward to the mouth corner."""
    res = run(model, {"id": "m", "units": 8, "target": "masseter_superficial_left", "entry_mm": [47, -60, -17],
                      "depth_mm": 10})
    f = [f for f in res.points[0].findings if f.code == "masseter_anterior_border"]
    assert f and f[0].severity is Severity.CAUTION and f[0].structure == "masseter_superficial_left"
    assert f[0].distance_mm is not None and f[0].distance_mm < -10  # in front of the border, not behind it
    assert "in front of" in f[0].message
    inside = run(model, {"id": "m", "units": 8, "target": "masseter_superficial_left",
                         "at": {"landmark": "gonion_left", "anterior_mm": 8, "superior_mm": 15}, "depth_mm": 12})
    assert "masseter_anterior_border" not in {f.code for f in inside.points[0].findings}
