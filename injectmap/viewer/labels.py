"""Labels over the 3D scene: each point's number and units, the plan's target muscles and warned
structures, and landmarks by plain name (few at a time).

The browser draws them as text boxes at the projection of their anchor (``scene_canvas.js``) and
leaves out a label that would overlap one before it in the list, so the list is in priority order:
points, then warned structures, then targeted muscles, then landmarks. Names and how many come from
``labels.json`` (project choices, explained there).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from injectmap.anatomy.ids import base_of, side_of

LABELS_FILE = Path(__file__).with_name("labels.json")


@dataclass(frozen=True)
class Label:
    """One label: its text, where it stands (mm, the model's frame) and its kind."""

    text: str
    xyz: tuple[float, float, float]
    kind: str  # "point", "warned", "structure" or "landmark"

    def to_dict(self) -> dict[str, Any]:
        """The browser's form (the canvas's ``labels`` parameter)."""
        return {"text": self.text, "xyz": [round(float(v), 2) for v in self.xyz], "kind": self.kind}


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


def point_labels(points: Iterable[Mapping[str, Any]], entries: Mapping[str, Any]) -> list[Label]:
    """``"1 · 4 U"`` beside each point's entry, numbered in plan order (the plan table's order)."""
    out = []
    for n, p in enumerate(points, start=1):
        at = entries.get(p["id"])
        if at is not None:
            out.append(Label(f"{n} · {float(p.get('units', 0.0)):g} U", _xyz(at), "point"))
    return out


def structure_labels(targets: Iterable[str], warned: Iterable[str], centres: Mapping[str, Any],
                     names: Mapping[str, str]) -> list[Label]:
    """The warned structures (first) and the targeted muscles by name, each once, at its centre."""
    out: list[Label] = []
    seen: set[str] = set()
    limit = int(label_settings()["max_structures"])
    for kind, ids in (("warned", warned), ("structure", targets)):
        for sid in ids:
            if sid in seen or sid not in centres or len(out) >= limit:
                continue
            seen.add(sid)
            out.append(Label(names.get(sid, sid.replace("_", " ")), _xyz(centres[sid]), kind))
    return out


def landmark_labels(landmarks: Mapping[str, Any], used: Iterable[str] = ()) -> list[Label]:
    """The landmarks the plan's points are placed from, then the main ones, by plain name; at most
    ``max_landmarks``."""
    settings = label_settings()
    main = set(settings["main_landmarks"])
    order = list(dict.fromkeys([*used, *(lid for lid in landmarks if base_of(lid) in main)]))
    return [Label(landmark_name(lid), _xyz(landmarks[lid]), "landmark")
            for lid in order if lid in landmarks][: int(settings["max_landmarks"])]


def _xyz(v: Any) -> tuple[float, float, float]:
    a = np.asarray(v, float).ravel()[:3]
    return (float(a[0]), float(a[1]), float(a[2]))
