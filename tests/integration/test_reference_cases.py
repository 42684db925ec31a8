"""Every reference case in shared/reference-cases agrees with `injectmap check` (same code path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CASES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference-cases"
CASES = sorted(CASES_DIR.glob("*.json"))
SEV = {"none": 0, "info": 1, "caution": 2, "danger": 3}

pytestmark = pytest.mark.slow


def _max_sev(findings: list[dict]) -> int:
    return max([SEV[f["severity"]] for f in findings] + [0])


@pytest.mark.skipif(not CASES, reason="shared/reference-cases not beside the checkout")
@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_reference_case(case_path: Path, tmp_path: Path) -> None:
    case = json.loads(case_path.read_text())
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(case["plan"]))
    proc = subprocess.run(
        [sys.executable, "-m", "injectmap", "check", str(plan), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr + proc.stdout
    res = json.loads(proc.stdout)
    assert res["errors"] == []
    has_danger = any(f["severity"] == "danger" for p in res["points"] for f in p["findings"]) or any(
        f["severity"] == "danger" for f in res["findings"]
    )
    assert proc.returncode == (1 if has_danger else 0)
    by_id = {p["id"]: p for p in res["points"]}
    for pid, exp in case["expect"].get("points", {}).items():
        p = by_id[pid]
        ms = _max_sev(p["findings"])
        if "max_severity" in exp:
            assert ms <= SEV[exp["max_severity"]], (pid, p["findings"])
        if "min_severity" in exp:
            assert ms >= SEV[exp["min_severity"]], (pid, p["findings"])
        for key in ("target_hit", "target_reached"):
            if key in exp:
                assert p[key] == exp[key], (pid, key, p)
        if "warns_about_any" in exp:
            assert any(
                f.get("structure") in exp["warns_about_any"] and SEV[f["severity"]] >= 2
                for f in p["findings"]
            ), (pid, p["findings"])
        for f in p["findings"]:
            assert f["message"] and f["code"] and f["severity"] in SEV
            if "structure" in f and "distance_mm" in f and f.get("closest_mm") is not None:
                assert len(f["closest_mm"]) == 3
    if "plan_min_severity" in case["expect"]:
        assert _max_sev(res["findings"]) >= SEV[case["expect"]["plan_min_severity"]], res["findings"]
