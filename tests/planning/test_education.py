"""Patient education: the data file (plain text, sources) and the walkthrough built from a plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from injectmap.anatomy.ids import structure_ids
from injectmap.planning.plan import parse_plan
from injectmap.planning.results import Finding, PointResult, Severity
from injectmap.teaching import education as ed

ROOT = Path(__file__).resolve().parents[2]
DEMO = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def _plan(points):
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT, "points": points}


MASSETER = _plan([
    {"id": "m1", "units": 10, "target": "masseter_superficial_left",
     "at": {"landmark": "gonion_left", "superior_mm": 15, "anterior_mm": 12}, "depth_mm": 10},
    {"id": "o1", "units": 4, "target": "orbicularis_oculi_left",
     "at": {"landmark": "exocanthion_left", "lateral_mm": 10}, "depth_mm": 2},
    {"id": "x1", "units": 2, "at": {"landmark": "glabella"}, "depth_mm": 2},
])


def test_every_source_key_exists_and_every_fact_has_one():
    data = ed.education_data()
    keys = set(data["sources"])
    used = []
    for m in data["muscles"].values():
        assert m["sources"], m
        used += m["sources"]
    for e in data["transient_effects"]:
        assert e["sources"], e
        used += e["sources"]
    for a in data["aftercare"]:
        assert a["sources"] and a["evidence"] in ("strong", "some", "tradition"), a
        used += a["sources"]
    tl = data["timeline"]
    used += tl["onset_days"]["sources"] + tl["peak_days"]["sources"]
    for g in tl["groups"].values():
        assert g["sources"]
        used += g["sources"]
    assert set(used) <= keys, set(used) - keys
    for k in keys:
        assert ed.source(k).citation


def test_muscles_areas_views_and_structures_are_known():
    data = ed.education_data()
    known = structure_ids()
    bases = {k.rsplit("_", 1)[0] if k.endswith(("_left", "_right")) else k for k in known}
    for base, m in data["muscles"].items():
        assert base in bases, base
        assert m["area"] in data["areas"], base
        for s in m.get("spared", []):
            assert s["plain"]
            if s.get("structure"):
                assert s["structure"] in bases, s
    for a in data["areas"].values():
        assert a["view"] in (*ed.VIEWS, "side", "three_quarter_side")
        assert set(a["layers"]) <= set(ed.LAYERS)


def test_transient_effects_include_the_common_ones_and_a_warning():
    ids = {e.id for e in ed.transient_effects()}
    assert {"bruising", "headache", "eyelid_ptosis", "brow_heaviness"} <= ids
    assert any(e.seek_help for e in ed.transient_effects())
    advice = ed.aftercare()
    assert len(advice) >= 5 and all(a.why for a in advice)


def test_effects_follow_the_plan_areas():
    jaw_only = _plan([MASSETER["points"][0]])
    ids = {e.id for e in ed.transient_effects(jaw_only)}
    assert "chewing_fatigue" in ids and "bruising" in ids
    assert "eyelid_ptosis" not in ids and "brow_heaviness" not in ids
    assert "chewing_fatigue" not in {e.id for e in ed.transient_effects(DEMO)}


def test_walkthrough_of_the_demo_plan_groups_by_area():
    steps = ed.walkthrough(DEMO)
    assert [s.kind for s in steps] == ["intro", "muscle", "muscle", "muscle", "after"]
    muscles = steps[1:-1]
    assert [s.area for s in muscles] == ["forehead", "frown", "frown"]
    assert {s.id for s in muscles} == {"frontalis", "procerus", "corrugator_supercilii"}
    corr = next(s for s in muscles if s.id == "corrugator_supercilii")
    assert corr.focus == ("corrugator_supercilii_left", "corrugator_supercilii_right")
    assert set(corr.point_ids) == {"c1_left", "c1_right", "c2_left", "c2_right"}
    assert corr.units == 16
    assert corr.spared and "levator_palpebrae_superioris_left" in corr.spared[0].structure_ids
    text = corr.text()
    for heading in ("What it does", "What the treatment changes", "What it leaves alone"):
        assert heading in text
    assert "on both sides" in text
    assert ed.reminder() in steps[-1].text()
    assert "not a promise" in ed.reminder()


def test_every_step_carries_a_view_and_all_layers():
    for s in ed.walkthrough(MASSETER):
        assert s.view in ed.VIEWS
        assert set(s.layers) == set(ed.LAYERS)
        assert s.title and s.paragraphs


def test_one_sided_steps_look_at_their_side():
    steps = {s.id: s for s in ed.walkthrough(MASSETER)}
    assert steps["masseter_superficial"].view == "left"
    assert steps["masseter_superficial"].layers["gland_duct"]
    assert steps["orbicularis_oculi"].view == "three_quarter_left"
    assert "on the left side" in steps["masseter_superficial"].text()
    # areas in the data file's order: eyes before jaw
    order = [s.id for s in ed.walkthrough(MASSETER)]
    assert order.index("orbicularis_oculi") < order.index("masseter_superficial")
    # the point without a target is mentioned in the introduction, by its number (ids are not words)
    intro = ed.walkthrough(MASSETER)[0].text()
    assert "point 3" in intro and "x1" not in intro


def test_spared_distances_come_from_the_analysis():
    near = Finding.make(Severity.CAUTION, "sphere_near_structure", "", "risorius_left", 1.2)
    analysis = [PointResult.make(
        id="m1", entry_mm=(50.0, -60.0, 20.0), tip_mm=(48.0, -60.0, 12.0), depth_mm=8.0, layer="muscle",
        tip_in="masseter_superficial_left", target="masseter_superficial_left", target_hit=True,
        target_reached=True, target_overlap=0.2, units=10.0, volume_ml=0.25, radius_mm=12.0, radius_inner_mm=9.0,
        radius_outer_mm=14.0, session="initial", findings=[near])]
    step = next(s for s in ed.walkthrough(MASSETER, analysis) if s.id == "masseter_superficial")
    ris = next(sp for sp in step.spared if "risorius_left" in sp.structure_ids)
    assert ris.closest_mm == pytest.approx(1.2)
    assert "within about 1 mm" in step.text()
    # the finding names the smile muscle: the text says so and no longer promises the smile is left alone
    assert ris.warned and "smile is left alone" not in step.text() and "weaker on that side" in step.text()
    calm = next(s for s in ed.walkthrough(MASSETER) if s.id == "masseter_superficial")
    assert "smile is left alone" in calm.text() and "weaker on that side" not in calm.text()


def test_a_finding_on_another_smile_muscle_also_withdraws_the_promise():
    near = Finding.make(Severity.CAUTION, "sphere_near_structure", "", "zygomaticus_major_left", 2.0)
    analysis = [PointResult.make(
        id="m1", entry_mm=(50.0, -60.0, 20.0), tip_mm=(48.0, -60.0, 12.0), depth_mm=8.0, layer="muscle",
        tip_in="masseter_superficial_left", target="masseter_superficial_left", target_hit=True,
        target_reached=True, target_overlap=0.2, units=10.0, volume_ml=0.25, radius_mm=12.0, radius_inner_mm=9.0,
        radius_outer_mm=14.0, session="initial", findings=[near])]
    step = next(s for s in ed.walkthrough(MASSETER, analysis) if s.id == "masseter_superficial")
    assert "smile is left alone" not in step.text() and "weaker on that side" in step.text()


def _masseter_analysis(*findings):
    return [PointResult.make(
        id="m1", entry_mm=(50.0, -60.0, 20.0), tip_mm=(48.0, -60.0, 12.0), depth_mm=8.0, layer="muscle",
        tip_in="masseter_superficial_left", target="masseter_superficial_left", target_hit=True,
        target_reached=True, target_overlap=0.2, units=10.0, volume_ml=0.25, radius_mm=12.0, radius_inner_mm=9.0,
        radius_outer_mm=14.0, session="initial", findings=list(findings))]


def test_a_neighbour_the_spread_reaches_is_said_to_be_reached_never_0_mm_and_checked():
    """The lower-face plan's masseter points: their likely field reaches the risorius and the parotid (info
    findings, 0.2 mm in). The walkthrough said "comes within about 0 mm of it; your injector has checked this"
    under "What it leaves alone", beside the promise that the smile is left alone."""
    analysis = _masseter_analysis(
        Finding.make(Severity.INFO, "sphere_near_structure", "", "risorius_left", -0.23),
        Finding.make(Severity.INFO, "sphere_may_reach_structure", "", "parotid_gland_left", -0.2))
    step = next(s for s in ed.walkthrough(MASSETER, analysis) if s.id == "masseter_superficial")
    text = step.text()
    assert "0 mm" not in text and "checked this" not in text
    assert "smile is left alone" not in text  # the promise goes where the spread reaches the smile muscle
    assert all(sp.reached for sp in step.spared if sp.structure_ids)
    # both neighbours are reached: none of them is said to be left alone
    assert not [p for p in step.paragraphs if p.startswith("**What it leaves alone.**")]
    reaches = next(p for p in step.paragraphs if p.startswith("**What the medicine may reach.**"))
    # what it is, that the spread reaches it, what the injector does, and what the patient could notice
    assert "small smile muscle" in reaches and "salivary gland" in reaches
    assert reaches.count("the planned spread reaches the edge of it") == 2
    assert "checks the depth and position of that point before treating" in reaches
    assert "the smile could be a little weaker on that side" in reaches and "mouth could feel a little drier" in reaches


def test_a_neighbour_the_spread_stops_short_of_gets_a_distance_in_words():
    near = Finding.make(Severity.INFO, "sphere_near_structure", "", "parotid_gland_left", 0.4)
    far = Finding.make(Severity.INFO, "sphere_near_structure", "", "risorius_left", 6.2)
    text = next(s for s in ed.walkthrough(MASSETER, _masseter_analysis(near, far))
                if s.id == "masseter_superficial").text()
    assert "stops less than 1 mm short of it" in text and "stays about 6 mm away" in text
    assert "0 mm" not in text and "What the medicine may reach" not in text and "smile is left alone" in text


def test_walkthrough_accepts_a_parsed_plan():
    assert [s.id for s in ed.walkthrough(parse_plan(DEMO))] == [s.id for s in ed.walkthrough(DEMO)]


def test_education_and_timeline_import_no_plotting_or_gui():
    code = ("import sys, injectmap.teaching.education, injectmap.teaching.timeline, injectmap.reports.report\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('panel', 'param', 'bokeh', 'pyvista', 'vtk', 'matplotlib'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.stdout.strip() == ""
