"""Declarative models of the data files: one pydantic model per file kind, checked at load time.

A data file (YAML or JSON) is validated against its model as it is read: a wrong or missing key,
a number where a list belongs, an unknown id all stop the load with a :class:`DataFileError` that
names the file and the key path of every problem, instead of a ``KeyError`` deep in a builder or a
silently ignored typo. The models live beside their loaders (anatomy.metadata, planning.products,
teaching.education, ...); this module gives them one base and one way to report errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["DataFileError", "DataModel", "OpenDataModel", "loc_text", "validate_data"]

M = TypeVar("M", bound=BaseModel)


class DataModel(BaseModel):
    """A record of a data file: unknown keys are errors, values are immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenDataModel(BaseModel):
    """A record whose declared keys are checked but which may carry more (kept, not validated)."""

    model_config = ConfigDict(extra="allow", frozen=True)


def loc_text(loc: Sequence[str | int]) -> str:
    """``('products', 'abo', 'vial_units', 0)`` as ``products.abo.vial_units[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class DataFileError(ValueError):
    """A data file that does not match its model; ``errors`` lists every problem as text."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        n = len(self.errors)
        super().__init__(f"{source}: invalid data file ({n} error{'s' if n != 1 else ''}):\n"
                         + "\n".join(f"  {e}" for e in self.errors))


def validate_data(obj: Any, model: type[M], source: str) -> M:
    """Validate a decoded data file against its model.

    Parameters
    ----------
    obj : object
        The parsed YAML or JSON.
    model : type
        The file kind's pydantic model.
    source : str
        The file's name, for the messages.

    Returns
    -------
    BaseModel
        The validated instance.

    Raises
    ------
    DataFileError
        With one line per problem: ``key.path: message``.
    """
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        lines = [f"{loc_text(e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise DataFileError(source, lines) from None
