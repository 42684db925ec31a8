"""``injectmap check PLAN --expressions [--day N]``: the check, with its findings linked to the side effects.

The document is ``injectmap check``'s JSON (CONTRACTS), unchanged, plus additive keys: each point finding
that concerns a visible side effect carries ``expression`` (``{"day", "side_effects": [{id, side, title,
measure, change_mm, asymmetry_mm}]}``), and a top-level ``expressions`` section holds the day, every side
effect in full (mechanism, sources, points, measures in mm per side) and the preview's strengths and
measures (teaching.side_effects.annotate_check). Exit status as ``check``'s: 0, 1 for a danger finding, 2
for a bad plan (then no ``expressions``), 3 for an internal error. Without ``--expressions`` the command
prints exactly what it always did.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, TextIO

from injectmap.planning.check import check_file, format_table, validate_file
from injectmap.planning.results import PlanResult
from injectmap.teaching.expressions import preview
from injectmap.teaching.side_effects import SideEffect, annotate_check, side_effects

EXIT_INTERNAL = 3


def format_side_effects(effects: list[SideEffect], day: float) -> str:
    """The side effects as text, one line each with its points, after the check's table."""
    lines = [f"visible side effects on day {day:g} (expression model, docs/expressions.md):"]
    for e in effects:
        lines.append(f"  {e.summary()}; points {', '.join(e.points)}")
    if not effects:
        lines.append("  none")
    return "\n".join(lines)


def cmd_check_expressions(path: str | os.PathLike[str], day: float = 14.0, fmt: str = "json",
                          out: TextIO | None = None, model: Any = None) -> int:
    """Check a plan file and link its findings to the side effects on ``day``.

    Parameters
    ----------
    path : str or path-like
        The plan file.
    day : float
        Days after the initial session (>= 0).
    fmt : str
        ``"json"`` or ``"table"``.
    out : text stream, optional
        Standard output by default.
    model : FaceModel, optional
        The face; by default the one the plan names.

    Returns
    -------
    int
        ``check``'s exit status (2 as well for a day that is not a finite number >= 0).
    """
    stream = out if out is not None else sys.stdout
    name = os.fspath(path)
    if not math.isfinite(day) or day < 0:
        print(f"{name}: day must be a finite number >= 0, got {day!r}", file=sys.stderr)
        return 2
    try:
        res, code = check_file(name, model)
    except Exception as exc:  # as `check`: the reason in the JSON shape, exit 3
        res, code = PlanResult.failed(name, f"internal error: {type(exc).__name__}: {exc}"), EXIT_INTERNAL
    if code in (2, EXIT_INTERNAL):
        stream.write((json.dumps(res.to_dict(), indent=1) if fmt == "json" else format_table(res)) + "\n")
        return code
    try:
        plan, face = validate_file(name, model)
        prev = preview(face, plan, day)
        effects = side_effects(face, plan, day, result=prev)
    except Exception as exc:  # the check stands; the expressions failed
        print(f"{name}: internal error in the expression model: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    if fmt == "json":
        stream.write(json.dumps(annotate_check(res.to_dict(), effects, prev), indent=1) + "\n")
    else:
        stream.write(format_table(res) + "\n" + format_side_effects(effects, day) + "\n")
    return code
