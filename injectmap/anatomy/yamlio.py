"""YAML reading for the data files, with PyYAML's libyaml parser when it was built with it.

The pure-Python parser spent about half a second of every model load on the data files
(geometry.yaml is read twice, structures.yaml once); libyaml parses the same text several times
faster and yields the same Python objects.
"""

from __future__ import annotations

from typing import IO, Any

import yaml

#: the safe loader: libyaml's when available, else PyYAML's pure-Python one (same results)
SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """``yaml.safe_load`` with the fastest safe loader available."""
    return yaml.load(stream, Loader=SafeLoader)  # noqa: S506 - a safe loader
