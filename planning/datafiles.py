"""Loading of the planning package's YAML data files (planning/data/)."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

from anatomy.yamlio import safe_load

__all__ = ["load_data"]


@cache
def _load_cached(name: str) -> Any:
    text = resources.files("planning").joinpath("data", name).read_text(encoding="utf-8")
    return safe_load(text)


def load_data(name: str) -> Any:
    """Return the parsed content of ``planning/data/<name>``.

    Parameters
    ----------
    name : str
        File name inside ``planning/data``, e.g. ``"products.yaml"``.

    Returns
    -------
    object
        A deep copy of the parsed YAML, safe to mutate.
    """
    return copy.deepcopy(_load_cached(name))
