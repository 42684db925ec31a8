"""Face parameters: the shape of the face a plan is made on.

``sex`` 0 (female) .. 1 (male); ``masseter`` -1 (small jaw) .. 0 (average) .. +1 (hypertrophy);
``brow_left`` / ``brow_right`` -1 (low) .. +1 (high) brow on each side. The numbers each one maps
to (targets, thickness scale, bulge) are in ``data/geometry.yaml`` under ``variants``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SHAPE_KEYS = ("masseter", "brow_left", "brow_right")


class FaceParamsError(ValueError):
    """A face parameter is unknown or out of range."""


@dataclass(frozen=True)
class FaceParams:
    sex: float = 0.5
    masseter: float = 0.0
    brow_left: float = 0.0
    brow_right: float = 0.0

    def __post_init__(self) -> None:
        checks = {"sex": (0.0, 1.0), "masseter": (-1.0, 1.0), "brow_left": (-1.0, 1.0), "brow_right": (-1.0, 1.0)}
        for key, (lo, hi) in checks.items():
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise FaceParamsError(f"face parameter {key} must be a number from {lo:g} to {hi:g}, got {v!r}")
            object.__setattr__(self, key, round(float(v), 2))

    @property
    def is_default(self) -> bool:
        return self == FaceParams()

    @property
    def name(self) -> str:
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
        """From a plan's ``model`` (``planning.plan.Model`` or its dict form): sex and shape."""
        if model is None:
            return cls()
        if isinstance(model, dict):
            sex, shape = model.get("sex"), model.get("shape") or {}
        else:
            sex, shape = model.sex, dict(model.shape or ())
        if isinstance(sex, str):
            sex = {"female": 0.0, "male": 1.0}.get(sex)
            if sex is None:
                raise FaceParamsError("model.sex must be 'female', 'male' or a number from 0 to 1")
        unknown = sorted(set(shape) - set(SHAPE_KEYS))
        if unknown:
            raise FaceParamsError(f"model.shape has unknown parameters {unknown}; known: {list(SHAPE_KEYS)}")
        return cls(sex=0.5 if sex is None else float(sex), **{k: float(v) for k, v in shape.items()})
