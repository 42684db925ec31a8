"""Loading of the packages' YAML data files (``<package>/data/``): planning's by default."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

from injectmap.anatomy.yamlio import safe_load

__all__ = ["load_data"]


@cache
def _load_cached(name: str, package: str) -> Any:
    text = resources.files(package).joinpath("data", name).read_text(encoding="utf-8")
    return safe_load(text)


def load_data(name: str, package: str = "injectmap.planning") -> Any:
    """Return the parsed content of ``<package>/data/<name>``.

    Parameters
    ----------
    name : str
        File name inside the package's ``data`` folder, e.g. ``"products.yaml"``.
    package : str
        The package holding the file (``injectmap.planning``, ``injectmap.teaching``).

    Returns
    -------
    object
        A deep copy of the parsed YAML, safe to mutate.
    """
    return copy.deepcopy(_load_cached(name, package))
