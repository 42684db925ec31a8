"""``injectmap protocol list|show``: the published patterns as plan templates (planning.protocols)."""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

from injectmap.anatomy.fileio import atomic_write_bytes
from injectmap.planning.protocols import UnknownProtocolError, get_protocol, protocol_names, protocol_plan, protocol_table

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def cmd_list(stream: TextIO | None = None) -> int:
    """Print one line per template: its name, title and total units."""
    s = stream if stream is not None else sys.stdout
    for name in protocol_names():
        p = get_protocol(name)
        plan = protocol_plan(name)
        total = sum(pt["units"] for pt in plan["points"])
        print(f"{name:<32} {len(plan['points']):>2} points {total:>5g} U  {p.title}", file=s)
    return EXIT_OK


def cmd_show(name: str, fmt: str = "table", out: str | None = None, stream: TextIO | None = None) -> int:
    """Print (or write with ``out``) template ``name`` as a plan file (``json``) or a table.

    Returns
    -------
    int
        0 done, 2 unknown template, 3 the output could not be written.
    """
    s = stream if stream is not None else sys.stdout
    try:
        text = json.dumps(protocol_plan(name), indent=1) + "\n" if fmt == "json" else protocol_table(name) + "\n"
    except UnknownProtocolError as exc:
        print(str(exc), file=sys.stderr if stream is None else s)
        return EXIT_USAGE
    if out is None:
        s.write(text)
        return EXIT_OK
    dest = os.fspath(out)
    if os.path.isdir(dest):
        print(f"{dest}: is a directory", file=sys.stderr if stream is None else s)
        return EXIT_INTERNAL
    try:
        atomic_write_bytes(dest, text.encode("utf-8"))
    except OSError as exc:
        print(f"{dest}: cannot write ({exc.strerror or exc})", file=sys.stderr if stream is None else s)
        return EXIT_INTERNAL
    print(f"wrote {dest} ({name}, {fmt})", file=s)
    return EXIT_OK
