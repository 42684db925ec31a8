"""``injectmap train list|start|score``: training exercises from the command line (teaching.training).

``score`` prints the total, the verdict against the pass mark and what counts (the same text as the app's
Training card), then the feedback, worst first, each with its point and the fix; ``--format json`` prints the
score object. Exit status: 0 passed, 1 not passed, 2 a bad exercise, plan or trainee name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from injectmap.anatomy.fileio import atomic_write_bytes
from injectmap.teaching.training import (
    ExerciseError,
    Score,
    ScoreFileError,
    load_exercise,
    load_exercises,
    pass_mark_lines,
    record_score,
    score_attempt,
    scores_path,
)

EXIT_PASSED = 0
EXIT_NOT_PASSED = 1
EXIT_USAGE = 2


def cmd_list(stream: TextIO | None = None) -> int:
    """One line per shipped exercise: its id, level and title."""
    s = stream if stream is not None else sys.stdout
    for eid, ex in load_exercises().items():
        print(f"{eid:<28} {ex.level or '-':<13} {ex.title}", file=s)
    return EXIT_PASSED


def cmd_start(exercise: str, out: str | None = None, stream: TextIO | None = None) -> int:
    """Print (or write to ``out``) the plan the exercise starts from."""
    s = stream if stream is not None else sys.stdout
    try:
        ex = load_exercise(exercise)
    except ExerciseError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return EXIT_USAGE
    text = json.dumps(ex.start_plan(), indent=1) + "\n"
    if out:
        atomic_write_bytes(Path(out), text.encode("utf-8"))
        print(f"wrote the start plan of {ex.id} to {out}", file=s)
    else:
        s.write(text)
    return EXIT_PASSED


def format_score(score: Score, title: str) -> str:
    """The score as text: total and verdict, the components, the pass mark, the feedback with its fixes."""
    lines = [f"{title}: {score.total}/100", score.verdict(), ""]
    lines += [f"  {c.name:<8} {c.points:5.1f} / {c.max_points:g}   {c.detail}" for c in score.components.values()]
    lines += ["", "How the score counts:"] + [f"  {x}" for x in pass_mark_lines()]
    if score.feedback:
        lines += ["", "Feedback (worst first):"]
        for f in score.feedback:
            where = f" [{f.point}]" if f.point else ""
            lines.append(f"  {f.severity.label}{where} {f.message}")
    else:
        lines += ["", "No mistakes found."]
    return "\n".join(lines)


def cmd_score(exercise: str, plan_path: str, model: Any = None, fmt: str = "table", trainee: str | None = None,
              scores: str | None = None, stream: TextIO | None = None) -> int:
    """Score the plan file ``plan_path`` for ``exercise``; with ``trainee``, keep the score in ``scores``."""
    s = stream if stream is not None else sys.stdout
    try:
        ex = load_exercise(exercise)
    except ExerciseError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"ERROR cannot read the plan {plan_path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(plan, dict):
        print(f"ERROR {plan_path}: a plan is a JSON object", file=sys.stderr)
        return EXIT_USAGE
    if model is None:
        from injectmap.anatomy.model import load_model

        model = load_model()
    score = score_attempt(ex, plan, model)
    if score.errors:
        print("\n".join(f"ERROR {e}" for e in score.errors), file=sys.stderr)
        return EXIT_USAGE
    if trainee:
        try:
            record_score(Path(scores) if scores else scores_path(), trainee, ex.id, score)
        except (ValueError, ScoreFileError) as exc:  # ScoreFileError is a ValueError; both name the problem
            print(f"ERROR the score was not kept: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if fmt == "json":
        s.write(json.dumps({**score.to_dict(), "pass_mark": pass_mark_lines()}, indent=1) + "\n")
    else:
        print(format_score(score, ex.title), file=s)
    return EXIT_PASSED if score.passed else EXIT_NOT_PASSED
