"""Labels over the 3D scene: each point's number and units, the plan's target muscles and warned
structures, and landmarks by plain name (few at a time).

The browser draws them as text boxes at the projection of their anchor (``scene_canvas.js``) and
leaves out a label that would overlap one before it in the list, so the list is in priority order:
points, then warned structures, then targeted muscles, then landmarks. It also leaves out a label whose
surface faces away from the camera (its ``normal``): a point on the far side of the head is not labelled
through it. Names, how many and how far a surface may turn away come from ``labels.json`` (project choices,
explained there).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from injectmap.anatomy.ids import base_of, side_of

LABELS_FILE = Path(__file__).with_name("labels.json")


@dataclass(frozen=True)
class Label:
    """One label: its text, where it stands (mm, the model's frame), its kind, and the outward direction of the
    surface it names (``normal``: the skin's at a point or a landmark, out from the head's centre for a
    structure); the browser leaves out a label whose surface faces away from the camera (``facing_cosine`` of
    labels.json), as the chart's pictures do, so no label of the far side shows through the head."""

    text: str
    xyz: tuple[float, float, float]
    kind: str  # "point", "warned", "structure" or "landmark"
    normal: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The browser's form (the canvas's ``labels`` parameter)."""
        out: dict[str, Any] = {"text": self.text, "xyz": [round(float(v), 2) for v in self.xyz], "kind": self.kind}
        if self.normal is not None:
            out["normal"] = [round(float(v), 4) for v in self.normal]
        return out


@functools.cache
def label_settings() -> dict[str, Any]:
    """The landmark names and the label limits (``labels.json``)."""
    data: dict[str, Any] = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    return data


def landmark_name(landmark_id: str) -> str:
    """A landmark in plain words: ``exocanthion_left`` -> ``outer eye corner (left)``."""
    names = label_settings()["landmarks"]
    base, side = base_of(landmark_id), side_of(landmark_id)
    name = names.get(base, base.replace("_", " "))
    return name if side == "midline" else f"{name} ({side})"


#: the outward direction of the skin at a point (mm in, unit vector out), or None when unknown
Normal = Callable[[Any], Any]


def _no_normal(_xyz: Any) -> None:
    return None


def point_labels(points: Iterable[Mapping[str, Any]], entries: Mapping[str, Any],
                 normal: Normal = _no_normal) -> list[Label]:
    """``"1 · 4 U"`` beside each point's entry, numbered in plan order (the plan table's order); ``normal`` gives
    the skin's outward direction there (the label is left out while the skin faces away from the camera)."""
    out = []
    for n, p in enumerate(points, start=1):
        at = entries.get(p["id"])
        if at is not None:
            out.append(Label(f"{n} · {float(p.get('units', 0.0)):g} U", _xyz(at), "point", _unit(normal(at))))
    return out


def structure_labels(targets: Iterable[str], warned: Iterable[str], centres: Mapping[str, Any],
                     names: Mapping[str, str], head_centre: Any = None) -> list[Label]:
    """The warned structures (first) and the targeted muscles by name, each once, at its centre; facing out from
    ``head_centre`` when given (a structure on the far side of the head is left out)."""
    out: list[Label] = []
    seen: set[str] = set()
    limit = int(label_settings()["max_structures"])
    for kind, ids in (("warned", warned), ("structure", targets)):
        for sid in ids:
            if sid in seen or sid not in centres or len(out) >= limit:
                continue
            seen.add(sid)
            at = np.asarray(centres[sid], float)
            out_dir = None if head_centre is None else at - np.asarray(head_centre, float)
            out.append(Label(names.get(sid, sid.replace("_", " ")), _xyz(at), kind, _unit(out_dir)))
    return out


def landmark_labels(landmarks: Mapping[str, Any], used: Iterable[str] = (), normal: Normal = _no_normal) -> list[Label]:
    """The landmarks the plan's points are placed from, then the main ones, by plain name; at most
    ``max_landmarks``; ``normal`` as for :func:`point_labels`."""
    settings = label_settings()
    main = set(settings["main_landmarks"])
    order = list(dict.fromkeys([*used, *(lid for lid in landmarks if base_of(lid) in main)]))
    return [Label(landmark_name(lid), _xyz(landmarks[lid]), "landmark", _unit(normal(landmarks[lid])))
            for lid in order if lid in landmarks][: int(settings["max_landmarks"])]


def _xyz(v: Any) -> tuple[float, float, float]:
    a = np.asarray(v, float).ravel()[:3]
    return (float(a[0]), float(a[1]), float(a[2]))


def _unit(v: Any) -> tuple[float, float, float] | None:
    """``v`` as a unit vector (None for none, or a zero vector)."""
    if v is None:
        return None
    a = np.asarray(v, float).ravel()[:3]
    n = float(np.linalg.norm(a))
    return None if n < 1e-9 else _xyz(a / n)
