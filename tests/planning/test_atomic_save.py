"""save_plan under SIGKILL: the target is always the old or the new complete plan, never partial."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from injectmap.planning.plan import PlanError, load_plan, parse_plan, save_plan

ROOT = Path(__file__).resolve().parents[2]

#: one process imports and parses once, then forks a saver per round (a round costs a fork, not an interpreter's
#: start and two 4,000-point parses): the saver inherits its stdout, overwrites the target with the two plans in
#: turn and says "saved" after each save; the test kills the saver, this process reaps it and says "reaped"
CHILD = textwrap.dedent(
    """
    import os, sys
    from injectmap.planning.plan import parse_plan, save_plan
    sys.path.insert(0, sys.argv[2])
    from test_atomic_save import big_plan_dict
    target = sys.argv[1]
    plans = [parse_plan(big_plan_dict(1.0)), parse_plan(big_plan_dict(2.0))]
    print("ready", flush=True)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            i = 0
            while True:
                save_plan(plans[i % 2], target)
                i += 1
                print("saved", i, flush=True)  # the next save starts now: the parent kills during one of them
        print("pid", pid, flush=True)
        os.waitpid(pid, 0)
        print("reaped", flush=True)
    """
)


def big_plan_dict(units: float, n: int = 4000) -> dict:
    """A valid plan of n points (about 1.5 MB of JSON) whose every point has ``units``."""
    return {
        "format": "injectmap-plan",
        "version": 1,
        "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
        "patient": "kill test",
        "points": [
            {"id": f"p{i}", "units": units, "target": "frontalis_left",
             "entry_mm": [10.0 + (i % 97) * 0.123456789, 30.0 + (i % 13) * 0.5, 80.0],
             "depth_mm": 2.5, "note": "x" * 200}
            for i in range(n)
        ],
    }


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "plan.json"
    plan_a = parse_plan(big_plan_dict(1.0))
    plan_b = parse_plan(big_plan_dict(2.0))
    save_plan(plan_a, target)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rng = random.Random(20260105)
    seen = {1.0: 0, 2.0: 0}
    rounds = 30
    # a session of its own: a failed round kills the saver with it (``killpg`` below), never leaves it saving
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(target), str(Path(__file__).parent)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(ROOT), env=env,
                            start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == b"ready"
        for _ in range(rounds):
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            lines = [proc.stdout.readline()]
            while not lines[-1].startswith(b"pid "):  # the saver's first "saved" may come before its pid
                assert lines[-1].startswith(b"saved"), lines
                lines.append(proc.stdout.readline())
            saver = int(lines[-1].split()[1])
            # no fixed sleep: wait until the saver has completed a random number of saves (1 to 3), so the kill
            # lands while it writes the next one, of either plan
            saves = len(lines) - 1
            for _ in range(rng.randint(1, 3) - saves):
                assert proc.stdout.readline().startswith(b"saved"), "the saver stopped saving"
            os.kill(saver, signal.SIGKILL)
            while (line := proc.stdout.readline()) != b"reaped\n":
                assert line.startswith(b"saved"), line
            try:
                loaded = load_plan(target)
            except PlanError as exc:  # pragma: no cover - the failure this test exists to catch
                pytest.fail(f"partial or corrupt plan after SIGKILL: {exc}")
            assert loaded in (plan_a, plan_b)
            seen[float(loaded.points[0].units)] += 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert seen[1.0] + seen[2.0] == rounds
    # the child really was overwriting the file: both versions were observed
    assert seen[2.0] > 0
    # only stray temporaries may remain beside the target, never another name
    others = [n for n in os.listdir(tmp_path) if n != "plan.json"]
    assert all(n.startswith(".plan.json.") and n.endswith(".tmp") for n in others)
