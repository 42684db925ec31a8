"""Loading of the packages' data files (``<package>/data/``): planning's by default.

:func:`load_model` reads a file and validates it against the pydantic model of its kind
(anatomy.datamodel), so a wrong or missing key fails when the file is read. :func:`load_data`
returns the raw parsed content for readers that index it themselves; a file that has a model
(:func:`register_model`) is validated before its content is returned.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from pydantic import BaseModel

from injectmap.anatomy.datamodel import validate_data
from injectmap.anatomy.yamlio import safe_load

__all__ = ["load_data", "load_model", "register_model"]

M = TypeVar("M", bound=BaseModel)

_MODELS: dict[tuple[str, str], type[BaseModel]] = {}


@cache
def _load_cached(name: str, package: str) -> Any:
    text = resources.files(package).joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else safe_load(text)


def register_model(name: str, model: type[BaseModel], package: str = "injectmap.planning") -> None:
    """Declare the model of ``<package>/data/<name>``: :func:`load_data` validates against it."""
    _MODELS[(package, name)] = model


@cache
def _validated(name: str, package: str, model: type[BaseModel]) -> BaseModel:
    return validate_data(_load_cached(name, package), model, f"{package}/data/{name}")


def load_model(name: str, model: type[M], package: str = "injectmap.planning") -> M:
    """Read ``<package>/data/<name>`` and validate it against ``model`` (cached, immutable).

    Parameters
    ----------
    name : str
        File name inside the package's ``data`` folder, e.g. ``"products.yaml"``.
    model : type
        The pydantic model of the file kind.
    package : str
        The package holding the file.

    Returns
    -------
    BaseModel
        The validated file.

    Raises
    ------
    injectmap.anatomy.datamodel.DataFileError
        Naming the file and the key path of every problem.
    """
    register_model(name, model, package)
    return _validated(name, package, model)  # type: ignore[return-value]


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
        A deep copy of the parsed file, safe to mutate; validated first when the file has a model.
    """
    model = _MODELS.get((package, name))
    if model is not None:
        _validated(name, package, model)
    return copy.deepcopy(_load_cached(name, package))
