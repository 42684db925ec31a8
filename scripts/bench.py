"""Benchmark the analysis and the viewer against naive baselines in the same run; writes docs/bench.json.

Usage: .venv/bin/python scripts/bench.py [--repeats N] [--clicks N]
The figures are medians and ratios: the machines are shared and noisy, so no absolute threshold is
asserted anywhere (the tests only check that the three methods agree).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from injectmap.planning.bench import run_bench
from injectmap.viewer.bench import run_viewer_bench

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--clicks", type=int, default=30)
    args = ap.parse_args()
    res = run_bench(repeats=args.repeats)
    res.update(run_viewer_bench(clicks=args.clicks))
    res["machine"] = f"{platform.machine()} {platform.processor() or ''}".strip()
    res["date"] = time.strftime("%Y-%m-%d")
    out = Path(__file__).resolve().parent.parent / "docs" / "bench.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
