"""Every reference case in shared/reference-cases agrees with `injectmap check` (same code path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from injectmap.planning.results import Finding, PlanResult, Severity

CASES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference-cases"
CASES = sorted(CASES_DIR.glob("*.json"))


pytestmark = pytest.mark.slow


def _rank(word: str) -> int:
    """A reference case's severity word as a rank: ``none`` 0, then Severity's own (info 1 .. danger 3)."""
    return 0 if word == "none" else Severity.parse(word).rank


def _max_sev(findings: tuple[Finding, ...]) -> int:
    return max([f.severity.rank for f in findings] + [0])


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
    raw = json.loads(proc.stdout)
    res = PlanResult.from_dict(raw)  # an unknown severity word fails here
    assert res.to_dict() == raw  # the typed result reads back the exact JSON
    assert res.errors == ()
    has_danger = any(f.severity is Severity.DANGER for p in res.points for f in p.findings) or any(
        f.severity is Severity.DANGER for f in res.findings
    )
    assert proc.returncode == (1 if has_danger else 0)
    by_id = {p.id: p for p in res.points}
    for pid, exp in case["expect"].get("points", {}).items():
        p = by_id[pid]
        ms = _max_sev(p.findings)
        if "max_severity" in exp:
            assert ms <= _rank(exp["max_severity"]), (pid, p.findings)
        if "min_severity" in exp:
            assert ms >= _rank(exp["min_severity"]), (pid, p.findings)
        for key in ("target_hit", "target_reached"):
            if key in exp:
                assert getattr(p, key) == exp[key], (pid, key, p)
        if "warns_about_any" in exp:
            assert any(
                f.structure in exp["warns_about_any"] and f.severity >= Severity.CAUTION
                for f in p.findings
            ), (pid, p.findings)
        for f in p.findings:
            assert f.message and f.code and isinstance(f.severity, Severity)
            if f.structure is not None and f.distance_mm is not None and f.closest_mm is not None:
                assert len(f.closest_mm) == 3
    if "plan_min_severity" in case["expect"]:
        assert _max_sev(res.findings) >= _rank(case["expect"]["plan_min_severity"]), res.findings
