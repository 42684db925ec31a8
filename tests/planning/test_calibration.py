"""Calibration of the severity scheme (docs/severity.md) on plans placed by the book.

tests/planning/calibration/ holds two plans built from the protocol notes' sites and the landmarks: the
upper face (glabella five points, forehead two rows, crow's feet three per side) and the lower face
(masseter three points per side, DAO, mentalis, platysma). A clinician should see at most a third of such
points flagged (caution or danger), none as a danger, and each flag for a reason the literature gives for
that site. Before the scheme, 22 of 27 such points raised a caution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from injectmap.anatomy.ids import base_of
from injectmap.planning.check import check_plan
from injectmap.planning.results import Severity

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent / "calibration"
DEMO = Path(__file__).parents[2] / "injectmap" / "viewer" / "demo_plan.json"

#: per site (the point id's prefix): the (code, structure base) reasons the literature gives there
REASONS: dict[str, set[tuple[str, str]]] = {
    # glabella: the supratrochlear and supraorbital vessels and nerves at the corrugator points (Phumyoo et
    # al., Clin Anat 2020; Cotofana et al., Aesthet Surg J 2020); levator palpebrae below (label: ptosis)
    "gl_": {(c, s) for c in ("tip_in_artery_corridor", "tip_in_nerve_corridor", "tip_in_foramen_corridor",
                             "tip_in_artery", "tip_in_nerve")
            for s in ("supratrochlear_artery", "supratrochlear_nerve", "supraorbital_artery", "supraorbital_nerve")}
    | {("rim_margin", "levator_palpebrae_superioris"), ("sphere_near_structure", "levator_palpebrae_superioris")},
    # forehead: brow ptosis from low points (label); the forehead vessels (Cotofana 2021; Lee 2015)
    "fh_": {("frontalis_low", "frontalis")}
    | {(c, s) for c in ("tip_in_artery_corridor", "tip_in_nerve_corridor")
       for s in ("supratrochlear_artery", "supraorbital_artery", "supraorbital_nerve", "supratrochlear_nerve",
                 "frontal_branch_superficial_temporal_artery")},
    # crow's feet: the orbit (diplopia; Yi et al., Toxins 2022), the zygomaticus (smile), the temporal vessels
    "cf_": {("lateral_orbit_margin", "orbit"), ("sphere_near_structure", "orbit"),
            ("sphere_may_reach_structure", "orbit"), ("sphere_near_structure", "zygomaticus_major"),
            ("sphere_may_reach_structure", "zygomaticus_major"),
            ("tip_in_artery_corridor", "frontal_branch_superficial_temporal_artery"),
            ("tip_in_artery_corridor", "superficial_temporal_artery")},
    # masseter: its borders and the line above it (safe zone), the duct, risorius (Bae et al., Dermatol Surg 2014)
    "ms_": {("masseter_anterior_border", "masseter_superficial"), ("masseter_above_safe_zone", "parotid_duct"),
            ("masseter_below_border", "facial_nerve_marginal_mandibular_branch"),
            ("masseter_too_shallow", "risorius"), ("tip_in_duct_corridor", "parotid_duct"),
            ("sphere_near_structure", "risorius"), ("tip_in_artery_corridor", "transverse_facial_artery")},
    # DAO and mentalis: depressor labii inferioris at the medial border (Yi et al., Anat Cell Biol 2023)
    "dao_": {("sphere_near_structure", "depressor_labii_inferioris"), ("dao_too_medial", "depressor_labii_inferioris"),
             ("tip_in_artery_corridor", "facial_artery"), ("tip_in_artery_corridor", "inferior_labial_artery")},
    "ment_": {("sphere_near_structure", "depressor_labii_inferioris"), ("mentalis_too_high", "orbicularis_oris"),
              ("tip_in_foramen_corridor", "mental_nerve"), ("tip_in_nerve_corridor", "mental_nerve")},
    # platysma: depth (dysphagia; label 2024)
    "plat_": {("platysma_too_deep", "platysma")},
}


@pytest.fixture(scope="module")
def results(model):
    return {name: check_plan(json.loads((HERE / f"{name}.json").read_text()), model)
            for name in ("upper_face", "lower_face")}


def _site(pid: str) -> str:
    return next(p for p in REASONS if pid.startswith(p))


def test_the_calibration_plans_follow_the_book(results) -> None:
    points = [p for r in results.values() for p in r.points]
    assert len(points) == 28 and all(r.errors == () for r in results.values())
    assert all(p.target_reached for p in points), [p.id for p in points if not p.target_reached]


def test_at_most_a_third_flagged_none_a_danger(results) -> None:
    points = [p for r in results.values() for p in r.points]
    flagged = [p.id for p in points if p.worst is not None and p.worst >= Severity.CAUTION]
    assert not [f for r in results.values() for f in r.all_findings() if f.severity is Severity.DANGER]
    assert len(flagged) <= len(points) // 3, flagged
    # the medial corrugator points do lie in the supratrochlear vessels' corridor: that caution stays
    for side in ("left", "right"):
        pid = f"gl_corr_med_{side}"
        assert pid in flagged
        point = next(p for p in points if p.id == pid)
        assert any(f.code == "tip_in_artery_corridor" and f.structure == f"supratrochlear_artery_{side}"
                   for f in point.findings)


def test_each_flag_is_a_reason_the_literature_gives_for_that_site(results) -> None:
    for r in results.values():
        for p in r.points:
            for f in p.findings:
                if f.severity >= Severity.CAUTION:
                    reason = (f.code, base_of(f.structure or ""))
                    assert reason in REASONS[_site(p.id)], (p.id, reason, f.message)


def _flagged(res) -> list[str]:
    return [p.id for p in res.points if p.worst is not None and p.worst >= Severity.CAUTION]


def _names_hazard_and_source(res) -> None:
    for p in res.points:
        for f in p.findings:
            if f.severity >= Severity.CAUTION and f.code.endswith("_corridor"):
                assert f.structure and "Source: " in f.message, (p.id, f.code, f.message)


def test_the_demo_plan_shows_a_handful_of_findings_each_naming_its_hazard_and_source(model) -> None:
    """The demo plan (glabella and forehead): at most a third of its points flagged; each corridor caution names
    the vessel or nerve and the source of its spread and plane. Before the planes: 6 of 9 points."""
    res = check_plan(json.loads(DEMO.read_text()), model)
    flagged = _flagged(res)
    assert len(flagged) <= len(res.points) // 3, flagged
    assert not [f for f in res.all_findings() if f.severity is Severity.DANGER]
    _names_hazard_and_source(res)
    # the deep medial corrugator points lie on the supratrochlear bundle in its plane: that stays
    assert {"c1_left", "c1_right"} <= set(flagged)


def test_upper_face_findings_name_their_hazard_and_source(results) -> None:
    _names_hazard_and_source(results["upper_face"])


@pytest.mark.xfail(strict=True, reason="6 of 16 (a third is 5): the two lower lateral forehead points lie 1.6 mm "
                   "from the mean course of the frontal branch of the superficial temporal artery as redrawn from "
                   "Lee et al. 2015 (it reaches the frontalis 14.8 mm above the brow, at its lateral border) and Jo "
                   "et al. 2012, 2 mm deep, within the galea's band once its radius is added: a real hazard that "
                   "Lee et al. name for toxin points there, so the caution stays (docs/severity.md)")
def test_the_upper_face_plan_has_at_most_a_third_of_its_points_flagged(results) -> None:
    res = results["upper_face"]
    assert len(_flagged(res)) <= len(res.points) // 3, _flagged(res)


def test_the_lateral_forehead_points_are_flagged_for_the_temporal_artery_branch(results) -> None:
    """The reason the upper-face plan misses a third: its lower lateral forehead points sit on the frontal branch of
    the superficial temporal artery (Lee et al., Surg Radiol Anat 2015), within 3 mm of its mean course and in its
    plane; the caution names the artery and the source."""
    res = results["upper_face"]
    for side in ("left", "right"):
        point = next(p for p in res.points if p.id == f"fh_low_{side}")
        sid = f"frontal_branch_superficial_temporal_artery_{side}"
        cor = next(c for c in point.corridors if c.structure == sid)
        assert cor.tip_inside and cor.distance_mm <= 3.0, cor
        assert any(f.code == "tip_in_artery_corridor" and f.structure == sid and "Lee" in f.message
                   for f in point.findings), [f.message for f in point.findings]
