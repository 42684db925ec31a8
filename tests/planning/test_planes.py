"""Fields that respect fascial planes (planning.diffusion: planes in diffusion.yaml; docs/diffusion.md)."""

from __future__ import annotations

import pytest

from injectmap.anatomy.index import Neighbour
from injectmap.planning.check import check_plan
from injectmap.planning.datafiles import load_data
from injectmap.planning.diffusion import DiffusionFile, plane_adjusted, plane_factor, planes, tip_compartment

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def _masseter_point(depth_mm: float) -> dict:
    """10 U in the lower masseter, in front of the angle (the masseter-lower-third reference site)."""
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "points": [{"id": "m", "units": 10, "target": "masseter_superficial_left",
                        "at": {"landmark": "gonion_left", "anterior_mm": 15, "superior_mm": 15},
                        "depth_mm": depth_mm}]}


def _caution_structures(res) -> set[str]:
    return {f.structure for f in res.points[0].findings if f.code == "sphere_near_structure"}


def test_deep_masseter_point_no_longer_reaches_risorius_or_buccinator(model):
    res = check_plan(_masseter_point(12), model)
    p = res.points[0]
    assert p.target_hit and p.target_reached
    assert not {"risorius_left", "buccinator_left"} & _caution_structures(res)
    # the geometric sphere still does: the planes make the difference
    near = model.index.neighbours(p.tip_mm, p.radius_mm)
    assert near["risorius_left"].distance_mm < p.radius_mm and near["buccinator_left"].distance_mm < p.radius_mm
    # what crosses the fascia stays visible as the outer, possible field
    infos = {f.structure for f in p.findings if f.code == "sphere_may_reach_structure"}
    assert {"risorius_left", "buccinator_left"} <= infos


def test_superficial_point_over_the_masseter_still_reaches_them(model):
    res = check_plan(_masseter_point(3), model)
    assert res.points[0].layer in ("skin", "subcutaneous_fat", "smas")
    assert {"risorius_left", "buccinator_left"} <= _caution_structures(res)


def test_plane_factor_rules():
    fascia = planes().barrier["masticatory"][0]
    assert 0 < fascia < 1
    assert plane_factor("masticatory", "masseter_superficial_left", "risorius_left") == fascia
    assert plane_factor("superficial", None, "masseter_superficial_left") == fascia  # both directions
    assert plane_factor("masticatory", None, "buccinator_left") == fascia
    # no barrier in the data between the superficial plane and the buccal space: the full field
    assert plane_factor("superficial", None, "buccinator_left") == 1.0
    # one muscle, two parts: no fascia between
    assert plane_factor("masticatory", "masseter_deep_left", "masseter_superficial_left") == 1.0
    # another muscle of the same plane, tip inside a muscle: the muscle's own fascia (Shaari 1991)
    assert plane_factor("superficial", "procerus", "corrugator_supercilii_left") == pytest.approx(0.81)
    assert plane_factor("superficial", None, "corrugator_supercilii_left") == 1.0
    # never attenuated: the orbit, levator palpebrae, vessels, nerves, the duct
    for sid in ("orbit_left", "levator_palpebrae_superioris_left", "facial_artery_left",
                "facial_nerve_buccal_branch_left", "parotid_duct_left"):
        assert plane_factor("masticatory", "masseter_superficial_left", sid) == 1.0


def test_tip_compartment():
    far = {"masseter_superficial_left": Neighbour("masseter_superficial_left", 2.0, None),
           "risorius_left": Neighbour("risorius_left", 9.0, None)}
    assert tip_compartment(["masseter_deep_left"], far, "muscle") == ("masticatory", "masseter_deep_left")
    assert tip_compartment([], far, "subcutaneous_fat") == ("superficial", None)
    assert tip_compartment([], far, "deep") == ("masticatory", None)  # nearest structure with a compartment
    assert tip_compartment([], {}, "deep") == (None, None)


def test_plane_adjusted_distance_is_from_the_attenuated_field():
    near = {"risorius_left": Neighbour("risorius_left", 8.0, None),
            "masseter_superficial_left": Neighbour("masseter_superficial_left", -1.0, None),
            "facial_artery_left": Neighbour("facial_artery_left", 5.0, None)}
    out = plane_adjusted(near, ["masseter_superficial_left"], "muscle", "masseter_superficial_left", 20.0)
    f = planes().barrier["masticatory"][0]
    # distance - r equals the geometric distance from the attenuated field f * r
    assert out["risorius_left"].distance_mm - 20.0 == pytest.approx(8.0 - f * 20.0)
    assert out["masseter_superficial_left"] is near["masseter_superficial_left"]
    assert out["facial_artery_left"] is near["facial_artery_left"]


def test_planes_file_refuses_a_structure_in_two_compartments():
    data = load_data("diffusion.yaml")
    data["planes"]["compartments"]["buccal"]["members"].append("risorius")
    with pytest.raises(ValueError, match="risorius"):
        DiffusionFile.model_validate(data)


def test_planes_sources_say_the_evidence_is_thin():
    data = load_data("diffusion.yaml")["planes"]
    assert "project choice" in data["barriers"][0]["source"]
    assert "Shaari" in data["muscle_fascia"]["source"] and "animal" in data["muscle_fascia"]["source"]
