"""The wording of findings, as a clinician reads them: joined sentences end with a full stop, a citation
appears once per finding, a dose message speaks of its own muscle, a range whose ends are equal is one number,
a tip in no structure says where it is, and a one-sided touch-up is not read as an uneven first treatment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from injectmap.anatomy.model import load_model
from injectmap.planning.check import check_plan
from injectmap.planning.protocols import protocol_names, protocol_plan
from injectmap.planning.results import Finding, PlanResult

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "injectmap" / "viewer" / "demo_plan.json"
PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def checked(model) -> dict[str, PlanResult]:
    """The demo plan and every protocol template, checked on the default face."""
    out = {"demo": check_plan(json.loads(DEMO.read_text()), model)}
    for name in protocol_names():
        out[name] = check_plan(protocol_plan(name), model)
    return out


def _findings(res: PlanResult) -> list[Finding]:
    return [f for p in res.points for f in p.findings] + list(res.findings)


def _plan(*points: dict, **extra) -> dict:
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT, "points": list(points), **extra}


# -- 1. joined sentences --------------------------------------------------------------------------------
#: a word (or a closing bracket) followed by the next sentence with no full stop between them
_RUN_ON = re.compile(r"[\w)] (It is also|Source:|Sources:)")


def test_joined_sentences_end_with_a_full_stop(checked) -> None:
    """"a bruising risk It is also inside ..." and "lateral forehead Source: ...": a structure's text (a
    clause) was joined to the next sentence without a stop."""
    run_on = [(name, f.message) for name, res in checked.items() for f in _findings(res) if _RUN_ON.search(f.message)]
    assert not run_on, run_on[:2]
    # the two messages the clinician read, now with their stops
    msgs = [f.message for f in _findings(checked["forehead_lines_with_glabella"])]
    assert any("mainly a bruising risk. It is also inside the corridor of Supratrochlear nerve." in m for m in msgs)
    assert any("in the temple or lateral forehead. Source: Lee JG" in m for m in msgs)


# -- 2. a citation once per finding ---------------------------------------------------------------------
def test_a_citation_appears_once_in_a_finding(checked) -> None:
    """The frontal branch's two planes both cite Jo YW et al. 2012 (the perforators); the finding's sources
    are joined from the corridor's and the planes' and listed it twice."""
    for name, res in checked.items():
        for f in _findings(res):
            ids = re.findall(r"doi (10\.(?:[^\s()]|\([^\s()]*\))+)|PubMed (\d+)|(PMC\d+)", f.message)
            assert len(ids) == len(set(ids)), (name, f.message)
    jo = [f.message for f in _findings(checked["forehead_lines_with_glabella"]) if "Jo YW" in f.message]
    assert jo and all(m.count("Jo YW") == 1 for m in jo)


def test_join_sources_keeps_each_work_once() -> None:
    """Every corridor and combination of its planes: no work twice (by DOI, PMC or PubMed id, else by its text),
    and nothing but repeats dropped."""
    from itertools import combinations

    from injectmap.anatomy.variability import load_variability
    from injectmap.planning.rules import _citation_key, _citations, join_sources

    for sid, cor in load_variability().structures.items():
        planes = list(cor.planes or ())
        for r in range(len(planes) + 1):
            for sub in combinations(planes, r):
                srcs = [cor.source, *(p.source for p in sub)]
                joined = _citations(join_sources(*srcs))
                keys = [_citation_key(c) for c in joined]
                assert len(keys) == len(set(keys)), (sid, joined)
                assert set(keys) == {_citation_key(c) for s in srcs for c in _citations(s)}, sid
    joined = join_sources("Lee 2015 (VAR 7)", "Sigrist 2024;14:1718 (PMC1); Jo 2012 (doi 10.1/x)",
                          "Jo 2012;23(6) (doi 10.1/x) (VAR 7)")
    assert joined == "Lee 2015 (VAR 7); Sigrist 2024;14:1718 (PMC1); Jo 2012 (doi 10.1/x)"


def test_a_doi_with_brackets_is_kept_whole() -> None:
    """A DOI may hold brackets (a Lancet DOI: ``10.1016/S0140-6736(20)30183-5``): its id was cut at the first ")",
    so two works of one journal issue, ``...(20)30183-5`` and ``...(20)30211-7``, had one key and the second was
    dropped as a repeat of the first."""
    from injectmap.planning.rules import _citation_key, _citations, join_sources

    a = "Huang C et al. Lancet 2020;395(10223):497-506 (doi 10.1016/S0140-6736(20)30183-5)"
    b = "Chen N et al. Lancet 2020;395(10223):507-513 (doi 10.1016/S0140-6736(20)30211-7)"
    assert _citation_key(a) == "10.1016/s0140-6736(20)30183-5"
    assert _citation_key("(doi 10.1/x)") == "10.1/x"  # the bracket that closes the citation is not the DOI's
    assert join_sources(a, f"{b}; B 2020", f"{a} (VAR 7)") == f"{a}; {b}; B 2020"
    assert _citations(f"{a}; {b}") == [a, b]


# -- 3. a dose message about its own muscle -------------------------------------------------------------
def _corrugator(pid: str, side: str, units: float) -> dict:
    return {"id": pid, "units": units, "target": f"corrugator_supercilii_{side}",
            "at": {"landmark": f"brow_medial_{side}", "superior_mm": 3}, "depth_mm": 4}


def _masseter(pid: str, side: str, units: float) -> dict:
    return {"id": pid, "units": units, "target": f"masseter_superficial_{side}",
            "at": {"landmark": f"gonion_{side}", "anterior_mm": 15, "superior_mm": 15}, "depth_mm": 12}


def test_a_dose_above_range_names_its_own_muscles_consequence(model) -> None:
    """A corrugator dose above its range ended "(for the masseter: chewing fatigue)": the consequence is now
    the dosed muscle's own (its ``weakened`` in structures.yaml), and the masseter's still says chewing fatigue."""
    res = check_plan(_plan(_corrugator("a", "left", 12), _corrugator("b", "right", 12)), model)
    above = [f for f in res.findings if f.code == "dose_above_range"]
    assert {f.structure for f in above} == {"corrugator_supercilii_left", "corrugator_supercilii_right"}
    weakened = model.structures["corrugator_supercilii_left"].weakened
    for f in above:
        assert "masseter" not in f.message and "chewing" not in f.message, f.message
        assert f"too much weakens it more than intended ({weakened}). Source: " in f.message
    res = check_plan(_plan(_masseter("a", "left", 70), _masseter("b", "right", 70)), model)
    above = [f for f in res.findings if f.code == "dose_above_range"]
    assert above and all("(chewing fatigue with overdose;" in f.message for f in above)


# -- 4. a range whose ends are equal --------------------------------------------------------------------
def test_a_range_whose_ends_are_equal_is_one_number() -> None:
    """The glabellar template's points have a published 4-4 U per point: "Dose 4-4 U per point" reads
    "Dose 4 U per point"; a real range keeps its two ends."""
    from injectmap.planning.doses import range_words
    from injectmap.planning.protocols import expanded_points, protocol_table

    notes = [e.plan_point["note"] for name in protocol_names() for e in expanded_points(name)]
    assert not [n for n in notes if re.search(r"\b(\d+(?:\.\d+)?)-\1 U", n)]
    glabella = [e for e in expanded_points("glabella_five_point") if e.template.units_range == (4, 4)]
    assert glabella and all("Dose 4 U per point." in e.plan_point["note"] for e in glabella)
    assert any("Dose 1-4 U per point." in e.plan_point["note"] for e in expanded_points("bunny_lines"))
    for name in protocol_names():
        assert not re.search(r"\s(\d+(?:\.\d+)?)-\1\s", protocol_table(name)), name
    assert (range_words(4, 4), range_words(4, 8), range_words(0.5, 0.5, "mm")) == ("4 U", "4-8 U", "0.5 mm")


# -- 5. a tip in no structure ---------------------------------------------------------------------------
def test_the_medial_corrugator_tip_is_in_the_deep_layer_between_muscles(model, checked) -> None:
    """The glabellar template's medial corrugator point, 4 mm deep, was shown as "tip in ?": its tip lies in no
    structure (``tip_in`` null, as CONTRACTS allows), under the orbicularis oculi and the SMAS and above the
    corrugator (5.4-6.6 mm deep, Lee et al. 2020). The layer lookup is right; the place is said in words."""
    import numpy as np

    from injectmap.reports.report import point_rows

    res = checked["glabella_five_point"]
    for side in ("left", "right"):
        p = next(p for p in res.points if p.id == f"corrugator_medial_{side}")
        assert p.tip_in is None and p.layer == "deep" and p.target_reached
        (d,), (row,) = model.depth_below_skin(np.asarray(p.tip_mm)[None])
        assert model.layer_smas_mm[row] < d < model.layer_bone_mm[row]  # between the SMAS and the bone
        above = model.index.neighbours(np.asarray(p.tip_mm), 3.0)
        assert f"corrugator_supercilii_{side}" in above and f"orbicularis_oculi_{side}" in above
        assert p.tip_place() == "the deep layer under the SMAS, in no muscle"
    rows = {r["id"]: r for r in point_rows(res, model)}
    assert rows["corrugator_medial_left"]["tip_in"] == "the deep layer under the SMAS, in no muscle"
    assert rows["procerus"]["tip_in"] == model.structures["procerus"].name


# -- 6. a one-sided touch-up ----------------------------------------------------------------------------
def _imbalance(res: PlanResult) -> list[Finding]:
    return [f for f in res.findings if f.code == "left_right_imbalance"]


def _in(point: dict, session: str) -> dict:
    return {**point, "session": session}


TOUCH_UP = [{"id": "touch_up", "label": "Two-week touch-up"}]


def test_a_one_sided_touch_up_is_not_read_as_an_uneven_first_treatment(model) -> None:
    """A two-week touch-up often treats one side only. Alone in its plan it kept the first treatment's words
    ("Unless this corrects an asymmetry, uneven dosing gives an uneven result"); it is now worded for a touch-up
    and still shown. With the initial session in the plan, the balance is the one over both sessions."""
    # the initial treatment one-sided: the finding and its words as before, graded since (one side only, with a dose
    # that acts: a caution, tests/planning/test_dose_on_the_point.py)
    (f,) = _imbalance(check_plan(_plan(_corrugator("a", "left", 4)), model))
    assert f.message == ("corrugator supercilii: 4 U left and 0 U right in session 'initial': one side only, with a "
                         "dose that acts. Unless this corrects an asymmetry, uneven dosing gives an uneven result. "
                         f"Source: {f.source}.")
    assert f.severity == "caution"
    # a touch-up plan holding the touch-up alone: still an info finding, worded for a touch-up
    res = check_plan(_plan(_in(_corrugator("a", "left", 2), "touch_up"), sessions=TOUCH_UP), model)
    (f,) = _imbalance(res)
    assert f.severity == "info" and f.structure == "corrugator_supercilii"
    assert "in the touch-up session 'touch_up'" in f.message and "one-sided by design" in f.message
    assert "Unless this corrects" not in f.message
    # a declared session labelled as a touch-up is one too; another later visit is not
    res = check_plan(_plan(_in(_corrugator("a", "left", 2), "visit_2"),
                           sessions=[{"id": "visit_2", "label": "Touch-up at two weeks"}]), model)
    assert "one-sided by design" in _imbalance(res)[0].message
    res = check_plan(_plan(_in(_corrugator("a", "left", 2), "visit_3"), sessions=[{"id": "visit_3"}]), model)
    assert "Unless this corrects an asymmetry" in _imbalance(res)[0].message
    # initial and touch-up in one plan: a touch-up that evens the initial out raises nothing of its own, the
    # initial's imbalance is still reported
    res = check_plan(_plan(_corrugator("a", "left", 4), _corrugator("b", "right", 6),
                           _in(_corrugator("c", "left", 2), "touch_up"), sessions=TOUCH_UP), model)
    (f,) = _imbalance(res)
    assert "4 U left and 6 U right in session 'initial'" in f.message
    # a touch-up that leaves the two sessions together uneven says so, with both sessions' sums
    res = check_plan(_plan(_corrugator("a", "left", 4), _corrugator("b", "right", 4),
                           _in(_corrugator("c", "left", 2), "touch_up"), sessions=TOUCH_UP), model)
    (f,) = _imbalance(res)
    assert f.message.startswith("corrugator supercilii: 6 U left and 4 U right over the initial session and the "
                                "touch-up 'touch_up' together (the touch-up: 2 U left, 0 U right).")


# -- 7. what a finding's distance_mm is -----------------------------------------------------------------
def test_a_findings_distance_is_documented_for_every_code(checked) -> None:
    """docs/severity.md called the distance "tip to mean course"; a corridor finding's distance_mm is the tip's
    distance from the mean course minus the corridor's radius (the forehead template: 2.9 mm from the course, an
    8.6 mm corridor, -5.7). The docs now give each code's meaning; this holds the code and the docs together."""
    docs = (ROOT / "docs" / "severity.md").read_text()
    table = docs[docs.index("### A finding's `distance_mm`"):]
    table = table[: table.index("\n\n", table.index("| code |"))]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    seen = set()
    for res in checked.values():
        for p in res.points:
            for f in p.findings:
                seen.add(f.code)
                if f.code.endswith("_corridor") and f.code != "tip_in_foramen_corridor":
                    cr = next(c for c in p.corridors if c.structure == f.structure)
                    assert f.distance_mm == pytest.approx(cr.distance_mm - cr.corridor_mm, abs=0.01)
    assert seen - documented == set(), seen - documented
    source = (ROOT / "injectmap" / "planning" / "rules.py").read_text()
    emitted = set(re.findall(r'finding\(\w+, "([a-z_]+)"', source))
    emitted |= {f"tip_in_{k}" for k in ("artery", "nerve", "duct")}  # f"tip_in_{st.kind}"
    emitted |= {f"tip_in_{k}_corridor" for k in ("artery", "nerve", "duct")}  # f"tip_in_{cr.kind}_corridor"
    assert len(emitted) > 20 and emitted - documented == set(), emitted - documented
    forehead = checked["forehead_lines_with_glabella"]
    f = next(f for p in forehead.points for f in p.findings if f.structure and "frontal_branch" in f.structure)
    assert "2.9 mm from the mean course" in f.message and f.distance_mm == pytest.approx(-5.7, abs=0.05)
    assert "2.9 - 8.6 = **-5.7**" in table
