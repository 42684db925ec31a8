"""``injectmap expressions`` through the installed command line, and the expression part of ``injectmap bench``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from injectmap.planning.protocols import protocol_plan


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "injectmap", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_expressions_command_json_and_exit_codes(tmp_path) -> None:
    plan = tmp_path / "crows.json"
    plan.write_text(json.dumps(protocol_plan("lateral_canthal_three_point")))
    p = run("expressions", str(plan), "--day", "14", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["day"] == 14
    squint = doc["expressions"]["squint"]
    assert squint["left"]["strength"] < 1.0 and squint["right"]["strength"] < 1.0
    assert doc["expressions"]["smile"]["left"] == {"strength": 1.0, "low": 1.0, "high": 1.0}
    assert set(doc["measures"]["brow_height_rest_mm"]) >= {"left", "right"}
    missing = run("expressions", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "none.json" in missing.stderr


@pytest.mark.bench
def test_bench_times_the_preview_against_the_naive_one(model) -> None:
    from injectmap.teaching.expressions_bench import run_expressions_bench

    res = run_expressions_bench(model, repeats=3, naive_repeats=1)
    for key in ("expressions_preview_ms_median", "expressions_preview_cpu_ms_median", "expressions_naive_ms_median",
                "expressions_preview_over_target"):
        assert res[key] > 0
    # the per-face precomputation is what the preview saves: far from a close call on any machine
    assert res["expressions_ratio_vs_naive"] > 1.0
    assert res["expressions_plan_points"] == 16
