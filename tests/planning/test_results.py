"""The typed results: Severity's order and parsing, the frozen results, their JSON (a golden
``injectmap check`` output of the demo plan, captured before the results were typed), and the
rules.yaml model rejecting a missing or misspelt threshold at load time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from injectmap.planning.check import check_plan, dumps
from injectmap.planning.datafiles import load_data
from injectmap.planning.results import Finding, PlanResult, PointResult, Severity, worst_of
from injectmap.planning.rules import RULES, RulesFile, RulesFileError, parse_rules, thresholds

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "check_demo.json"


# -- Severity -----------------------------------------------------------------------------------------
def test_severity_order_is_clinical_not_alphabetical() -> None:
    assert Severity.INFO < Severity.CAUTION < Severity.DANGER
    assert Severity.DANGER > Severity.INFO and Severity.CAUTION >= Severity.CAUTION
    assert sorted([Severity.DANGER, Severity.INFO, Severity.CAUTION]) == [Severity.INFO, Severity.CAUTION,
                                                                          Severity.DANGER]
    assert max([Severity.CAUTION, Severity.INFO]) is Severity.CAUTION  # "info" > "caution" as words
    assert [s.rank for s in Severity] == [1, 2, 3]
    assert worst_of([]) is None
    assert worst_of([Finding.make("info", "a", ""), Finding.make("danger", "b", ""),
                     Finding.make("caution", "c", "")]) is Severity.DANGER


def test_severity_parse_label_colour() -> None:
    assert Severity.parse("danger") is Severity.DANGER
    assert Severity.parse(" Caution ") is Severity.CAUTION
    assert Severity.parse(Severity.INFO) is Severity.INFO
    for bad in ("warning", "", "ok"):
        with pytest.raises(ValueError, match="unknown severity"):
            Severity.parse(bad)
    assert Severity.DANGER.label == "Danger" and str(Severity.DANGER) == "danger"
    assert Severity.DANGER == "danger" and {"danger": 1}[Severity.DANGER] == 1  # the CONTRACTS word
    assert json.dumps([Severity.CAUTION]) == '["caution"]'
    colours = [s.colour for s in Severity]
    assert len(set(colours)) == 3 and all(c.startswith("#") and len(c) == 7 for c in colours)
    # against a plain word the order is still the clinical one (alphabetically "info" > "caution")
    assert Severity.INFO < "caution" and "info" < Severity.CAUTION and "danger" > Severity.INFO
    with pytest.raises(ValueError):
        assert Severity.INFO < "warning"
    with pytest.raises(TypeError):
        assert Severity.INFO < 2


# -- results --------------------------------------------------------------------------------------------
def test_finding_json_keeps_optional_keys_and_rounding() -> None:
    f = Finding.make(Severity.CAUTION, "x", "m", "risorius_left", -1.23456, [1.234, 2.345, 3.456], "r")
    assert f.to_dict() == {"severity": "caution", "code": "x", "structure": "risorius_left", "distance_mm": -1.23,
                           "closest_mm": [1.23, 2.35, 3.46], "message": "m", "rule": "r"}
    assert list(f.to_dict()) == ["severity", "code", "structure", "distance_mm", "closest_mm", "message", "rule"]
    bare = Finding.make("info", "y", "n")
    assert bare.to_dict() == {"severity": "info", "code": "y", "message": "n"}
    assert Finding.from_dict(f.to_dict()) == f and Finding.from_dict(bare.to_dict()) == bare
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.severity = Severity.DANGER  # type: ignore[misc]


def test_rejected_and_failed_results_keep_their_json_shapes() -> None:
    rej = PlanResult.rejected("p.json", "default", "abc", ["points[0].units: negative"])
    assert rej.to_dict() == {"plan": "p.json", "model": {"name": "default", "sha256": "abc"}, "points": [],
                             "totals": {"units": 0.0, "by_structure": {}, "by_side": {}}, "findings": [],
                             "errors": ["points[0].units: negative"]}
    assert rej.exit_status == 2
    failed = PlanResult.failed("p.json", "internal error: X")
    assert failed.to_dict()["totals"] == {} and failed.to_dict()["model"] == {"name": "default", "sha256": ""}
    assert PlanResult.from_dict(rej.to_dict()) == rej and PlanResult.from_dict(failed.to_dict()) == failed


@pytest.mark.slow
def test_check_json_matches_the_golden_reference() -> None:
    """The demo plan's check output is the JSON captured before the results were typed, key for key and
    number for number; only the model's sha256 (a hash of the face's build inputs) is today's model's. Since then
    a finding has the key ``source`` added (its rule's citation), which its message ends with too."""
    from injectmap.anatomy.model import load_model

    face_model = load_model()
    golden_text = GOLDEN.read_text()
    golden = json.loads(golden_text)
    plan = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    res = check_plan(plan, face_model, golden["plan"])
    assert isinstance(res, PlanResult) and all(isinstance(p, PointResult) for p in res.points)
    got = res.to_dict()
    assert got["model"]["sha256"] == face_model.sha256
    got["model"]["sha256"] = golden["model"]["sha256"]
    assert got == golden
    assert json.dumps(got, indent=1) + "\n" == golden_text  # key order and float formatting too
    assert dumps(res).replace(face_model.sha256, golden["model"]["sha256"]) + "\n" == golden_text
    # the round trip: the typed result read from the JSON writes the same JSON
    back = PlanResult.from_dict(golden)
    assert back.to_dict() == golden
    assert back.points == res.points and back.totals == res.totals
    assert back.exit_status == res.exit_status


# -- rules.yaml -------------------------------------------------------------------------------------------
def test_shipped_rules_file_loads_and_names_every_rule() -> None:
    t = thresholds()
    assert isinstance(t, RulesFile) and RulesFile.rule_names() == set(RULES)
    assert t.analysis.max_entry_from_skin_mm == 15.0 and t.dose_range.danger_factor == 2.0


def test_rules_file_rejects_a_missing_threshold() -> None:
    data = load_data("rules.yaml")
    del data["masseter_safe_zone"]["below_gonion_mm"]
    with pytest.raises(RulesFileError, match=r"masseter_safe_zone\.below_gonion_mm: Field required"):
        parse_rules(data)


def test_rules_file_rejects_a_typo_a_bad_value_and_a_missing_rule() -> None:
    data = load_data("rules.yaml")
    data["dao_position"]["min_below_cheilon_mm"] = data["dao_position"].pop("min_below_cheilion_mm")
    with pytest.raises(RulesFileError, match=r"dao_position\.min_below_cheilon_mm: Extra inputs"):
        parse_rules(data)
    data = load_data("rules.yaml")
    data["sphere_spared"]["likely_units"] = -2.0
    with pytest.raises(RulesFileError, match=r"sphere_spared\.likely_units"):
        parse_rules(data)
    data = load_data("rules.yaml")
    del data["imbalance"]
    with pytest.raises(RulesFileError, match=r"imbalance: Field required"):
        parse_rules(data)
