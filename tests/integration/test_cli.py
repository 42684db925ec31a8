"""The command line: anatomy list/landmarks/export, check exit codes, plan validate, bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from injectmap.anatomy.ids import landmark_ids, structure_ids

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "injectmap", *args], capture_output=True, text=True, timeout=600
    )


def test_anatomy_list_json_has_every_contract_structure() -> None:
    p = run("anatomy", "list", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    ids = {r["id"] for r in rows}
    assert set(structure_ids()) <= ids
    assert all({"id", "kind", "side"} <= set(r) for r in rows)
    kinds = {r["id"]: r["kind"] for r in rows}
    assert kinds["facial_artery_left"] == "artery" and kinds["parotid_duct_right"] == "duct"


def test_anatomy_landmarks_json_are_points() -> None:
    p = run("anatomy", "landmarks", "--json")
    assert p.returncode == 0, p.stderr
    lm = json.loads(p.stdout)
    assert set(landmark_ids()) <= set(lm)
    # the frame: origin between the endocanthions, +x the subject's left
    assert abs(lm["endocanthion_left"][0] + lm["endocanthion_right"][0]) < 0.5
    assert lm["endocanthion_left"][0] > 0 and lm["exocanthion_left"][0] > lm["endocanthion_left"][0]
    assert lm["trichion"][1] > lm["nasion"][1] > lm["subnasale"][1] > lm["menton"][1]


def test_export_writes_one_file_per_structure(tmp_path: Path) -> None:
    p = run("anatomy", "export", str(tmp_path / "out"), "--format", "stl")
    assert p.returncode == 0, p.stderr
    files = {f.stem for f in (tmp_path / "out").glob("*.stl")}
    assert set(structure_ids()) <= files


def test_check_bad_plan_exits_2_with_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "format": "injectmap-plan",
                "version": 1,
                "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                "points": [{"id": "x", "units": -3, "at": {"landmark": "glabela"}, "depth_mm": 3}],
            }
        )
    )
    p = run("check", str(bad), "--format", "json")
    assert p.returncode == 2
    res = json.loads(p.stdout)
    text = " ".join(res["errors"])
    assert "units" in text and "glabela" in text


def test_check_danger_exits_1(tmp_path: Path) -> None:
    """A deep point right at the lateral canthus sits at the orbital septum: danger, exit 1."""
    plan = tmp_path / "p.json"
    plan.write_text(
        json.dumps(
            {
                "format": "injectmap-plan",
                "version": 1,
                "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                "points": [
                    {
                        "id": "c",
                        "units": 4,
                        "at": {"landmark": "exocanthion_left", "lateral_mm": 3},
                        "depth_mm": 5,
                    }
                ],
            }
        )
    )
    p = run("check", str(plan), "--format", "json")
    assert p.returncode == 1, p.stdout
    assert any(f["severity"] == "danger" for f in json.loads(p.stdout)["points"][0]["findings"])


@pytest.mark.bench
def test_bench_reports_ratios_and_agreement() -> None:
    p = run("bench", "--format", "json", "--repeats", "120", "--clicks", "6", "--scan-fits", "0", "--fits", "0")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    for key in ("point_ms_median", "plan100_ms", "ratio_vs_trimesh", "ratio_vs_vtk", "viewer_click_ms_median",
                "viewer_glyphs_ratio_vs_vtk_sources"):
        assert res[key] > 0
    assert res["answers_agree"] is True
    # distances are exact: against trimesh's closest point, in the same run (accuracy, not a time)
    assert 0.0 <= res["exact_max_error_mm"] <= 0.1
    for key in ("point_ms_over_target", "plan100_ms_over_target", "ratio_vs_vtk_over_target", "exact_error_over_target"):
        assert res[key] > 0 or key == "exact_error_over_target"
    assert isinstance(res["targets_met"], bool)
    # a click sends the browser its new point meshes, not the scene again
    assert 0 < res["viewer_click_update_mb_median"] < res["viewer_full_scene_mb"] / 5
    # a frame of the Expressions card's day slider sends the skin's points alone, never a scene
    assert res["viewer_expression_frames_as_points"] == res["viewer_expression_frames"] > 0
    assert 0 < res["viewer_expression_frame_mb_median"] < res["viewer_expression_full_scene_mb"] / 5
    assert res["viewer_expression_frame_ms_median"] > 0 and res["viewer_expression_frame_over_target"] > 0
