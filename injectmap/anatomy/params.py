"""Face parameters: the shape of the face a plan is made on.

``sex`` 0 (female) .. 1 (male); ``masseter`` -1 (small jaw) .. 0 (average) .. +1 (hypertrophy);
``brow_left`` / ``brow_right`` -1 (low) .. +1 (high) brow on each side. The numbers each one maps
to (targets, thickness scale, bulge) are in ``data/geometry.yaml`` under ``variants``.

A face is built only on a grid of clinically meaningful steps (``data/face_cache.yaml``, with the
reason for each step): :meth:`FaceParams.quantised` rounds a plan's values to it, so that 0.41, 0.43
and 0.45 are one face, not three. ``FaceParams`` itself keeps what it is given (a plan's own values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from injectmap.anatomy.datamodel import DataModel, validate_data
from injectmap.anatomy.errors import UserFacing
from injectmap.anatomy.yamlio import safe_load

#: the steps of the face parameters and the cache's budgets (not a build input: see the file)
FACE_CACHE_FILE = Path(__file__).parent / "data" / "face_cache.yaml"

SHAPE_KEYS = ("masseter", "brow_left", "brow_right")


class FaceParamsError(UserFacing, ValueError):
    """A face parameter is unknown or out of range."""


class Step(DataModel):
    """The step a face parameter is rounded to, and why that step."""

    step: float = Field(gt=0.0, le=1.0)
    why: str = Field(min_length=1)


class Budget(DataModel):
    """A budget of the face cache in MB (and, for memory, a count of faces), and why."""

    budget_mb: float = Field(gt=0.0)
    max_loaded_faces: int | None = Field(default=None, ge=1)
    #: the most the process's memory may stay above its idle figure once the faces are let go (a fraction)
    return_to_idle_within: float | None = Field(default=None, gt=0.0, le=1.0)
    why: str = Field(min_length=1)


class FaceCacheFile(DataModel):
    """``data/face_cache.yaml``: the parameters' steps and the cache's memory and disk budgets."""

    steps: dict[str, Step]
    memory: Budget
    disk: Budget


@lru_cache(maxsize=1)
def face_cache_settings() -> FaceCacheFile:
    """The parsed ``data/face_cache.yaml`` (every parameter must have a step)."""
    data = validate_data(safe_load(FACE_CACHE_FILE.read_text(encoding="utf-8")), FaceCacheFile, FACE_CACHE_FILE.name)
    missing = sorted({"sex", *SHAPE_KEYS} - set(data.steps))
    unknown = sorted(set(data.steps) - {"sex", *SHAPE_KEYS})
    if missing or unknown:
        from injectmap.anatomy.datamodel import DataFileError

        raise DataFileError(FACE_CACHE_FILE.name, [f"steps: missing {missing}, unknown {unknown}"])
    return data


def _on_step(value: float, step: float, lo: float, hi: float) -> float:
    """``value`` rounded to the nearest multiple of ``step`` (half away from zero), kept in [lo, hi]."""
    n = math.floor(abs(value) / step + 0.5 + 1e-9)
    return round(min(hi, max(lo, math.copysign(n * step, value))), 2) + 0.0


@dataclass(frozen=True)
class FaceParams:
    sex: float = 0.5
    masseter: float = 0.0
    brow_left: float = 0.0
    brow_right: float = 0.0
    #: a fitted face (``injectmap face fit``): its CC0 targets and weights, added to the others
    fit: tuple[tuple[str, float], ...] = field(default=(), repr=False)
    #: a face fitted to a 3D scan: the displacement of the base mesh's vertices (``fit.facefile.VertexOffsets``)
    offsets: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        checks = {"sex": (0.0, 1.0), "masseter": (-1.0, 1.0), "brow_left": (-1.0, 1.0), "brow_right": (-1.0, 1.0)}
        for key, (lo, hi) in checks.items():
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise FaceParamsError(f"face parameter {key} must be a number from {lo:g} to {hi:g}, got {v!r}")
            object.__setattr__(self, key, round(float(v), 2))
        fit = []
        for entry in self.fit:
            if not isinstance(entry, (tuple, list)) or len(entry) != 2 or not isinstance(entry[0], str):
                raise FaceParamsError("a fitted face's targets must be (target, weight) pairs")
            w = entry[1]
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or not 0 <= w <= 1:
                raise FaceParamsError(f"the fitted target {entry[0]!r} has weight {w!r}, not from 0 to 1")
            if round(float(w), 5):
                fit.append((entry[0], round(float(w), 5)))
        object.__setattr__(self, "fit", tuple(sorted(fit)))
        if self.offsets is not None and not isinstance(getattr(self.offsets, "sha256", None), str):
            raise FaceParamsError("a fitted face's offsets must be VertexOffsets")

    def quantised(self) -> FaceParams:
        """These parameters rounded to the steps of ``data/face_cache.yaml`` (the face that is built).

        Examples
        --------
        >>> FaceParams(sex=0.43, masseter=0.9).quantised()
        FaceParams(sex=0.5, masseter=1.0, brow_left=0.0, brow_right=0.0)
        """
        steps = face_cache_settings().steps
        lims = {"sex": (0.0, 1.0)}
        return FaceParams(**{k: _on_step(getattr(self, k), steps[k].step, *lims.get(k, (-1.0, 1.0)))
                             for k in ("sex", *SHAPE_KEYS)}, fit=self.fit, offsets=self.offsets)

    @property
    def is_quantised(self) -> bool:
        """Whether these are already on the steps (a face of them is built as asked)."""
        return self == self.quantised()

    @property
    def is_default(self) -> bool:
        return self == FaceParams()

    @property
    def fit_id(self) -> str:
        """The fitted face's id (the SHA-256 of its targets and offsets), or "" for a face without a fit."""
        if not self.fit and self.offsets is None:
            return ""
        from injectmap.anatomy.fit.facefile import face_id

        return face_id(self.fit, self.offsets.sha256 if self.offsets is not None else "")

    @property
    def name(self) -> str:
        if self.fit or self.offsets is not None:
            return f"{FaceParams(self.sex, self.masseter, self.brow_left, self.brow_right).name}-fit-{self.fit_id[:16]}"
        if self.is_default:
            return "default"
        parts = [f"sex{self.sex:.2f}"]
        for k in SHAPE_KEYS:
            v = getattr(self, k)
            if v:
                parts.append(f"{k}{v:+.2f}")
        return "-".join(parts)

    @classmethod
    def from_plan_model(cls, model: Any) -> FaceParams:
        """From a plan's ``model`` (``planning.plan.Model`` or its dict form): sex, shape and the fitted
        face (``face``: the path of a ``*.face.json``, absolute or relative to the working folder)."""
        if model is None:
            return cls()
        if isinstance(model, dict):
            sex, shape, face = model.get("sex"), model.get("shape") or {}, model.get("face")
        else:
            sex, shape, face = model.sex, dict(model.shape or ()), getattr(model, "face", None)
        fit: tuple[tuple[str, float], ...] = ()
        offsets = None
        if face:
            from injectmap.anatomy.fit.facefile import FaceFileError, read

            try:
                ff = read(Path(face))
                fit, offsets = ff.targets, ff.offsets
            except FileNotFoundError:
                raise FaceParamsError(f"model.face: the face file {Path(face).name!r} was not found") from None
            except FaceFileError as exc:
                raise FaceParamsError(f"model.face: {exc}") from None
        if isinstance(sex, str):
            sex = {"female": 0.0, "male": 1.0}.get(sex)
            if sex is None:
                raise FaceParamsError("model.sex must be 'female', 'male' or a number from 0 to 1")
        unknown = sorted(set(shape) - set(SHAPE_KEYS))
        if unknown:
            raise FaceParamsError(f"model.shape has unknown parameters {unknown}; known: {list(SHAPE_KEYS)}")
        return cls(sex=0.5 if sex is None else float(sex), **{k: float(v) for k, v in shape.items()}, fit=fit,
                   offsets=offsets)
