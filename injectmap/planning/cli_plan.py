"""Plan commands for the ``injectmap`` command line (the CLI module wires them to arguments).

Exit statuses follow ``injectmap check``: 0 success, 2 a bad plan or bad arguments, 3 an internal
failure (for example the output file cannot be written).
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from injectmap.planning.mirroring import mirror_plan
from injectmap.planning.plan import MAX_FILE_BYTES, PlanError, dumps_plan, load_plan, save_plan

__all__ = ["EXIT_BAD_PLAN", "EXIT_INTERNAL", "EXIT_OK", "cmd_mirror", "cmd_validate"]

EXIT_OK = 0
EXIT_BAD_PLAN = 2
EXIT_INTERNAL = 3


def cmd_validate(path: str | os.PathLike[str], out: TextIO | None = None, model: Any = None) -> int:
    """Validate a plan file.

    Prints ``<path>: ok (<n> points)`` or one line per error, ``<path>: <error>``. The plan is checked
    as ``injectmap check`` checks it (planning.check.validate_file: the file, the face it names, every
    point's placement on that face), so the two agree on every plan.

    Parameters
    ----------
    path : str or path-like
        The plan file.
    out : text stream, optional
        Where to print (standard output by default).
    model : FaceModel, optional
        The face to place the points on; by default the one the plan names, as for ``check``.

    Returns
    -------
    int
        0 when the plan is valid, 2 when it is not, 3 on an internal failure.
    """
    stream = out if out is not None else sys.stdout
    name = os.fspath(path)
    from injectmap.planning.check import validate_file

    try:
        plan, _ = validate_file(name, model)
    except PlanError as exc:
        _print_issues(name, exc, stream)
        return EXIT_BAD_PLAN
    except Exception as exc:  # validate_file should never get here; report, do not crash
        print(f"{name}: internal error: {type(exc).__name__}: {exc}", file=stream)
        return EXIT_INTERNAL
    print(f"{name}: ok ({len(plan.points)} points)", file=stream)
    return EXIT_OK


def cmd_mirror(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    side: str | None = None,
    stream: TextIO | None = None,
) -> int:
    """Mirror a plan's lateral points to the other side and save the result atomically.

    Parameters
    ----------
    path : str or path-like
        The plan file.
    out : str or path-like, optional
        Where to write; the input file itself (replaced atomically) when omitted.
    side : {None, "left", "right"}, optional
        Copy only this side's points (see planning.mirroring.mirror_plan).
    stream : text stream, optional
        Where to print messages (standard output by default).

    Returns
    -------
    int
        0 written, 2 bad plan or bad ``side``, 3 the output could not be written.
    """
    s = stream if stream is not None else sys.stdout
    name = os.fspath(path)
    if side not in (None, "left", "right"):
        print(f"side must be 'left' or 'right', got {side!r}", file=s)
        return EXIT_BAD_PLAN
    try:
        plan = load_plan(name)
    except PlanError as exc:
        _print_issues(name, exc, s)
        return EXIT_BAD_PLAN
    before = len(plan.points)
    dest = os.fspath(out) if out is not None else name
    try:
        mirrored = mirror_plan(plan, side=side)
    except PlanError as exc:  # the input is valid: what is wrong is the result (e.g. too many points)
        for issue in exc.errors:
            print(f"{dest}: not written: the mirrored plan ({name} with its mirrored points added) would be "
                  f"invalid: {issue}", file=s)
        return EXIT_BAD_PLAN
    size = len(dumps_plan(mirrored).encode("utf-8"))
    if size > MAX_FILE_BYTES:
        print(f"{dest}: not written: the mirrored plan would be {size} bytes, more than a plan file may hold "
              f"({MAX_FILE_BYTES // (1024 * 1024)} MB); {name} itself is fine", file=s)
        return EXIT_BAD_PLAN
    try:
        save_plan(mirrored, dest)
    except OSError as exc:
        print(f"{dest}: cannot write ({exc.strerror or exc})", file=s)
        return EXIT_INTERNAL
    print(f"{dest}: {len(mirrored.points) - before} mirrored points added "
          f"({len(mirrored.points)} in all)", file=s)
    return EXIT_OK


def _print_issues(name: str, exc: PlanError, stream: TextIO) -> None:
    for issue in exc.errors:
        text = str(issue)
        print(text if text.startswith(name + ":") else f"{name}: {text}", file=stream)
