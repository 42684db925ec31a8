"""Every reference case in shared/reference-cases agrees with `injectmap check` (same code path), and
every plan in its bad-plans/ is rejected whole with errors naming the point and the key.

The folder is ``$INJECTMAP_REFERENCE_CASES`` if set, else ``../shared/reference-cases`` beside the
checkout. A missing folder skips these tests on a developer's machine and fails them under CI (``CI``
set), so that CI never passes without the cases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from injectmap.planning.results import Finding, PlanResult, Severity

CHECKOUT = Path(__file__).resolve().parents[2]


def cases_dir() -> Path:
    """Where the reference cases are: ``$INJECTMAP_REFERENCE_CASES``, else beside the checkout."""
    env = os.environ.get("INJECTMAP_REFERENCE_CASES")
    return Path(env).expanduser() if env else CHECKOUT.parent / "shared" / "reference-cases"


CASES_DIR = cases_dir()
CASES = sorted(CASES_DIR.glob("*.json"))
BAD_PLANS = sorted((CASES_DIR / "bad-plans").glob("*.json"))
#: bad plans that the current rules do not reject yet: each flips to a failure (strict xfail) once they do
NOT_REJECTED_YET: dict[str, str] = {}
#: how `injectmap check` names a point and its key in an error: points[0] (id 'p').target: ...
POINT_KEY = re.compile(r"points\[(\d+)\] \(id '([^']*)'\)\.([A-Za-z_]+)")

pytestmark = pytest.mark.slow


def _rank(word: str) -> int:
    """A reference case's severity word as a rank: ``none`` 0, then Severity's own (info 1 .. danger 3)."""
    return 0 if word == "none" else Severity.parse(word).rank


def _max_sev(findings: tuple[Finding, ...]) -> int:
    return max([f.severity.rank for f in findings] + [0])


def test_the_reference_cases_are_there() -> None:
    """Skips where the folder is missing, except under CI, where a missing folder fails loudly."""
    if not CASES:
        msg = f"no reference cases in {CASES_DIR} (set INJECTMAP_REFERENCE_CASES or put shared/ beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    assert BAD_PLANS, f"no bad plans in {CASES_DIR / 'bad-plans'}"


def _check(plan: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "injectmap", "check", str(plan), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "plan_path",
    [pytest.param(b, id=b.stem, marks=[pytest.mark.xfail(strict=True, reason=NOT_REJECTED_YET[b.stem])]
                  if b.stem in NOT_REJECTED_YET else []) for b in BAD_PLANS],
)
def test_bad_plan_is_rejected_whole(plan_path: Path) -> None:
    plan = json.loads(plan_path.read_text())
    proc = _check(plan_path)
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    res = json.loads(proc.stdout)
    assert res["errors"], res
    assert res["points"] == [] and res["findings"] == [], "a rejected plan must not be evaluated, even partly"
    ids = [pt.get("id") for pt in plan.get("points", [])]
    for err in res["errors"]:
        m = POINT_KEY.search(err)
        assert m, f"the error names no point and key: {err}"
        assert ids[int(m.group(1))] == m.group(2), err


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_reference_case(case_path: Path, tmp_path: Path) -> None:
    case = json.loads(case_path.read_text())
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(case["plan"]))
    proc = _check(plan)
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
