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
    missed = [p.id for p in points if p.target is not None and not p.target_reached]
    assert not missed
    # only the midline forehead point has no target: it treats the frontalis of both sides (label L4)
    assert [p.id for p in points if p.target is None] == ["fh_low_mid"]


def test_the_upper_face_plan_raises_no_plan_level_caution(results) -> None:
    """The label's 20 U forehead dose (5 x 4 U, the midline point treating both sides) is within the usual range on
    each side: counting the midline point on one side once gave a plan-level caution of 12 U in the left frontalis,
    an artefact of the plan, not a hazard."""
    res = results["upper_face"]
    assert not [f for f in res.findings if f.severity >= Severity.CAUTION], [f.message for f in res.findings]


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


@pytest.mark.xfail(strict=True, reason="6 of 16 (a third is 5): the two lower lateral forehead points, at the label's "
                   "site (25 mm above the brow peak, 10 mm medial to the temporal crest along the skin, 2 mm deep), lie "
                   "1.6 mm from the mean course of the frontal branch of the superficial temporal artery (Lee et al. "
                   "2015: it reaches the frontalis' lateral border 14.8 [SD 7.7] mm above the brow; Jo et al. 2012), in "
                   "the galea's band once its radius is added; every place the label allows for them lies in that "
                   "corridor (the test below), and Lee et al. name it for toxin points there: the caution stays "
                   "(docs/severity.md)")
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


# -- the lateral forehead: the label's whole site lies in the temporal branch's corridor ----------------------
FSTA = "frontal_branch_superficial_temporal_artery"


def _lateral_forehead_plan(cells: list[tuple[float, float, float]]) -> dict:
    """Left lateral lower-row forehead points at (mm medial to the temporal crest, mm above frontotemporale, depth)."""
    points = [{"id": f"p{i}", "units": 4, "target": "frontalis_left", "depth_mm": depth,
               "at": {"landmark": "frontotemporale_left", "lateral_mm": -medial, "superior_mm": up}}
              for i, (medial, up, depth) in enumerate(cells)]
    return {"format": "injectmap-plan", "version": 1, "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100,
                                                                  "diluent_ml": 2.5}, "points": points}


def test_no_place_the_label_allows_for_the_lateral_forehead_point_is_outside_the_temporal_branch_corridor(model):
    """Why the upper-face plan's lateral forehead points stay flagged: the label puts them 5-15 mm medial to the
    temporal crest, at least 20 mm above the brow (PROTOCOLS.md 2, L4), and the frontal branch of the superficial
    temporal artery reaches the frontalis' lateral border 14.8 [SD 7.7] mm above the brow and runs on up over the
    lateral frontalis to its perforator (Lee et al. 2015; Jo et al. 2012). Every corner and the middle of that site,
    in the fat (2 mm) and in the muscle (3 mm), lies in its corridor: moving the points within the label's site
    cannot spare the artery, so the caution is the site's own (Lee et al. name it for toxin there)."""
    brow = float(model.landmarks["brow_peak_left"][1])
    cells = [(medial, up, depth) for medial in (5, 10, 15) for up in (9, 19) for depth in (2, 3)] + [(10, 14, 2)]
    res = check_plan(_lateral_forehead_plan(cells), model)
    assert res.errors == ()
    for p, (medial, up, depth) in zip(res.points, cells, strict=True):
        assert p.entry_mm[1] - brow >= 20.0 - 0.5, (p.id, p.entry_mm, brow)  # the label's "at least 20 mm"
        cor = next(c for c in p.corridors if c.structure == f"{FSTA}_left")
        assert cor.tip_inside, (medial, up, depth, cor)
        # in its corridor, or (one 3 mm point) on its mean course itself: a caution either way
        assert any(f.code in ("tip_in_artery_corridor", "tip_in_artery") and f.structure == f"{FSTA}_left"
                   and f.severity == Severity.CAUTION for f in p.findings), (medial, up, depth)


# -- the plans as a clinician places them, on the face-parameter extremes -------------------------------------
#: the face-parameter extremes (FaceParams keywords), as the protocol templates' calibration
#: (tests/planning/test_protocols.py; tests/conftest.py builds them before the run)
EXTREMES: tuple[dict[str, float], ...] = (
    {"sex": 0.0}, {"sex": 1.0}, {"masseter": -1.0}, {"masseter": 1.0}, {"brow_left": 1.0}, {"brow_left": -1.0},
)
#: the demo plan's point ids by site: glabella (g1, c1, c2) and forehead (f1, f2)
DEMO_SITES = {"g": "gl_", "c": "gl_", "f": "fh_"}


def _hazard_problems(res, site_of) -> list[str]:
    """Every danger, plan-level caution, caution that is not a reason the literature gives for the point's site, and
    corridor caution that does not name its structure and source."""
    problems = [f"plan: {f.severity.value} {f.code} {f.message}" for f in res.findings if f.severity >= Severity.CAUTION]
    for p in res.points:
        for f in p.findings:
            if f.severity == Severity.DANGER:
                problems.append(f"{p.id}: danger {f.code} {f.structure}")
            elif f.severity >= Severity.CAUTION:
                if (f.code, base_of(f.structure or "")) not in REASONS[site_of(p.id)]:
                    problems.append(f"{p.id}: caution {f.code} {f.structure} is not a reason given for the site")
                if f.code.endswith("_corridor") and not (f.structure and "Source: " in f.message):
                    problems.append(f"{p.id}: {f.code} names no structure or source: {f.message}")
    return problems


def _flagged_not_for_the_temporal_branch(res) -> list[str]:
    """Points flagged for anything but the frontal branch of the superficial temporal artery's corridor."""
    return [p.id for p in res.points
            if any(f.severity >= Severity.CAUTION and not (f.code == "tip_in_artery_corridor"
                                                          and base_of(f.structure or "") == FSTA)
                   for f in p.findings)]


def test_the_handful_of_findings_on_the_default_face(model, results) -> None:
    """Done-when of issue 10 on the default face: the demo plan and the calibration plans show a handful of findings
    that each name a real hazard; beyond the lateral forehead pair (the test above), at most a third flagged."""
    demo = check_plan(json.loads(DEMO.read_text()), model)
    assert not _hazard_problems(demo, lambda pid: DEMO_SITES[pid[0]])
    for res in results.values():
        assert not _hazard_problems(res, _site)
        assert len(_flagged_not_for_the_temporal_branch(res)) <= len(res.points) // 3


@pytest.mark.variants
@pytest.mark.parametrize("face", EXTREMES, ids=lambda f: ",".join(f"{k}{v:+g}" for k, v in f.items()))
def test_the_handful_of_findings_on_the_face_extremes(face) -> None:
    """The same on every face-parameter extreme: no danger, no plan-level caution, every caution a reason the
    literature gives for that site naming its structure (and for a corridor its source), every target reached; the
    demo plan at most a third flagged; the calibration plans at most a third beyond the lateral forehead pair."""
    from injectmap.anatomy.model import load_model

    m = load_model(**face)
    demo = check_plan(json.loads(DEMO.read_text()), m)
    problems = _hazard_problems(demo, lambda pid: DEMO_SITES[pid[0]])
    if len(_flagged(demo)) > len(demo.points) // 3:
        problems.append(f"demo: {_flagged(demo)} flagged")
    for name in ("upper_face", "lower_face"):
        res = check_plan(json.loads((HERE / f"{name}.json").read_text()), m)
        problems += [f"{name}/{x}" for x in _hazard_problems(res, _site)]
        problems += [f"{name}/{p.id}: target {p.target} not reached" for p in res.points
                     if p.target is not None and not p.target_reached]
        beyond = _flagged_not_for_the_temporal_branch(res)
        if len(beyond) > len(res.points) // 3:
            problems.append(f"{name}: {beyond} flagged")
    assert not problems, "\n".join(problems)
