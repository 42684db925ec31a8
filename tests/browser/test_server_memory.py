"""Issue 11: a real server with ten sessions and three face variants opened and closed stays under
1.5 GB and comes back to within 20 % of its idle memory (scripts/serve_memory.py; docs/cache.md).

Memory targets, not timings. It starts a server of its own (the sessions of the shared test server
would count), so it runs with the variant tests (``-m variants``), not in the fast lane. One
measurement (several minutes on the shared machine) serves both tests; the faces are built into the
cache before the server starts (a server that builds faces is not what is measured).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from injectmap.anatomy.params import face_cache_settings

ROOT = Path(__file__).resolve().parents[2]
#: issue 11's ceiling for the server with ten sessions and three variants open
PEAK_LIMIT_MB = 1500.0

pytestmark = [pytest.mark.browser, pytest.mark.variants, pytest.mark.slow]


def _measure_module():
    spec = importlib.util.spec_from_file_location("serve_memory", ROOT / "scripts" / "serve_memory.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mod = _measure_module()
    if not os.path.exists(mod.CHROMIUM):
        pytest.skip(f"{mod.CHROMIUM} is not installed")
    # in a process of its own: Playwright's sync API refuses to start in a test worker where another
    # browser test's event loop runs, and the measure must not share this worker's memory either
    out = tmp_path_factory.mktemp("memory") / "memory.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "serve_memory.py"), "--sessions", "10", "-o", str(out)],
                          capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, f"the measure failed: {proc.stderr[-3000:]}"
    res = json.loads(out.read_text())
    assert len(res["after_each_mb"]) == 10 and len(res["variants"]) == 3
    return res


def test_ten_sessions_and_three_variants_stay_under_1_5_gb_and_give_the_memory_back(measured: dict[str, Any]) -> None:
    """Both of issue 11's memory targets on one measure (one test, so the measure, minutes of a server and ten
    pages, runs once per test run and never beside a second copy of itself on the other worker)."""
    assert measured["peak_mb"] < PEAK_LIMIT_MB, measured
    limit = face_cache_settings().memory.return_to_idle_within
    assert limit is not None
    assert measured["final_mb"] <= measured["idle_mb"] * (1 + limit), measured
