"""``injectmap expressions PLAN [--day N] --format json|table``: what a plan does to each expression on a day.

Exit status: 0 done, 2 a bad plan (the file, its face or a point's placement: as ``injectmap plan
validate``), 3 an internal error. The JSON (``Preview.as_json``)::

    {"day": 14,
     "expressions": {"frown": {"left": {"strength": 0.3, "low": 0.15, "high": 0.5}, "right": {...}}, ...},
     "measures": {"brow_height_rest_mm": {"left": 17.3, "right": 17.8, "asymmetry_mm": 0.5,
                                          "untreated": {"left": 17.8, "right": 17.8}}, ...},
     "weakening": {"corrugator_supercilii_left": {"low": .., "mid": .., "high": ..}, ...}}
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from injectmap.planning.plan import PlanError
from injectmap.teaching.expressions import Preview, preview

EXIT_OK = 0
EXIT_BAD_PLAN = 2
EXIT_INTERNAL = 3


def format_table(result: Preview) -> str:
    """The preview as text: one line per expression (strength and band per side), then the measures."""
    lines = [f"day {result.day:g}   strength: 1 = untreated, 0 = no movement (low-high band)",
             f"{'expression':<20} {'left':>20} {'right':>20}"]
    for name, sides in result.strengths.items():
        cells = [f"{b.mid:.2f} ({b.low:.2f}-{b.high:.2f})" for b in (sides["left"], sides["right"])]
        lines.append(f"{name:<20} {cells[0]:>20} {cells[1]:>20}")
    lines.append("")
    lines.append(f"{'measure (mm)':<30} {'left':>7} {'right':>7} {'asym':>6}   untreated l / r")
    for name, m in result.measures.items():
        lines.append(f"{name:<30} {m.left:7.2f} {m.right:7.2f} {m.asymmetry_mm:6.2f}   "
                     f"{m.untreated_left:.2f} / {m.untreated_right:.2f}")
    lines.append("")
    lines.append("A population heuristic (docs/expressions.md): ranges, never a promise for one patient.")
    return "\n".join(lines)


def cmd_expressions(path: str | os.PathLike[str], day: float = 14.0, fmt: str = "table",
                    out: TextIO | None = None, model: Any = None) -> int:
    """Print the preview of a plan file on ``day``.

    Parameters
    ----------
    path : str or path-like
        The plan file; it is checked whole first (planning.check.validate_file).
    day : float
        Days after the initial session (>= 0).
    fmt : str
        ``"json"`` or ``"table"``.
    out : text stream, optional
        Where to print (standard output by default); errors go to standard error.
    model : FaceModel, optional
        The face; by default the one the plan names.

    Returns
    -------
    int
        0 done, 2 a bad plan or day, 3 an internal error.
    """
    stream = out if out is not None else sys.stdout
    name = os.fspath(path)
    from injectmap.planning.check import validate_file

    try:
        plan, face = validate_file(name, model)
    except PlanError as exc:
        for e in exc.errors:
            print(f"{name}: {e}", file=sys.stderr)
        return EXIT_BAD_PLAN
    try:
        res = preview(face, plan, day)
    except ValueError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_BAD_PLAN
    except Exception as exc:  # report, never a traceback for the user
        print(f"{name}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    stream.write((json.dumps(res.as_json(), indent=1) if fmt == "json" else format_table(res)) + "\n")
    return EXIT_OK
