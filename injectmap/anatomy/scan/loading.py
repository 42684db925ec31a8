"""Reading a 3D scan (OBJ, PLY, STL, GLB/GLTF) and deciding its units.

A face is about 0.13-0.25 m wide (bizygomatic breadth about 125-150 mm, Farkas 1994, with the ears
or a scan margin up to about 250 mm): a scan whose largest extent lies in 0.05-0.6 is taken as
metres, one in 50-600 as millimetres; anything else is refused with its size, since a guess there
would put the anatomy at the wrong scale by a factor of ten or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trimesh

from injectmap.anatomy.errors import UserFacing

Units = Literal["auto", "m", "mm"]
SCALE_TO_MM = {"m": 1000.0, "mm": 1.0}
#: the largest extent of a face scan, in mm, that either unit must give (see the module's note)
FACE_EXTENT_MM = (50.0, 600.0)
SCAN_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf")
#: the most triangles a scan may bring once a scene's instances are counted (a face scan has tens or
#: hundreds of thousands; a GLB that reuses one mesh on many nodes must not expand past this in memory)
MAX_SCAN_FACES = 2_000_000
#: the largest texture (pixels) sampled for the scan's colours; a larger one is left out (no colours)
MAX_TEXTURE_PIXELS = 8192 * 8192


class ScanError(UserFacing, ValueError):
    """The scan cannot be read or is not a face-sized surface."""


@dataclass(frozen=True)
class Scan:
    """A scan in millimetres (its own axes), with how its units were decided."""

    mesh: trimesh.Trimesh
    units: str
    units_reason: str
    scale_to_mm: float
    source: str
    #: the scan's colour per vertex (n, 3) uint8 (its vertex colours or its texture), or None
    colours: np.ndarray | None = None


def vertex_colours(mesh: trimesh.Trimesh) -> np.ndarray | None:
    """A mesh's colour per vertex (n, 3) uint8: its vertex colours, or its texture sampled at the
    vertices; None when it has neither (or one flat colour)."""
    from trimesh.visual import ColorVisuals, TextureVisuals

    try:
        vis = mesh.visual
        if isinstance(vis, TextureVisuals):
            image = getattr(vis.material, "image", None) or getattr(vis.material, "baseColorTexture", None)
            size = getattr(image, "size", None)
            if size is None or int(size[0]) * int(size[1]) > MAX_TEXTURE_PIXELS:
                return None  # no image to sample, or one too large to decode for colours
            vis = vis.to_color()
        if not isinstance(vis, ColorVisuals) or vis.kind != "vertex":
            return None
        rgb = np.asarray(vis.vertex_colors)[:, :3].astype(np.uint8)
    except Exception:  # noqa: BLE001 - a texture trimesh cannot sample: no colours
        return None
    if len(rgb) != len(mesh.vertices) or int(np.ptp(rgb.astype(int), axis=0).max()) < 8:
        return None
    return rgb


def read_mesh(path: str | Path) -> trimesh.Trimesh:
    """One triangle mesh from a scan file; a scene's meshes are merged in their world placement."""
    p = Path(path)
    if p.suffix.lower() not in SCAN_SUFFIXES:
        raise ScanError(f"{p.name}: not a scan file (expected one of {', '.join(SCAN_SUFFIXES)})")
    if not p.is_file():
        raise ScanError(f"{p.name}: no such file")
    try:
        return merged_mesh(p, p.suffix.lower()[1:])
    except ScanError as exc:
        raise ScanError(f"{p.name}: {exc}") from None


def merged_mesh(file_obj: Any, file_type: str) -> trimesh.Trimesh:
    """One triangle mesh from a scan file (a path or an open binary file), a scene's meshes merged in
    their world placement. The triangles of every instance are counted from the scene graph before they
    are merged, so a small file that places one mesh on many nodes is refused, not expanded.

    Raises
    ------
    ScanError
        Unreadable, no triangles, or more than :data:`MAX_SCAN_FACES` once instanced.
    """
    try:
        scene = trimesh.load_scene(file_obj, file_type=file_type, process=False)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds for a broken file
        raise ScanError(f"cannot be read as a {file_type.upper()} mesh ({type(exc).__name__})") from exc
    faces = 0
    for node in scene.graph.nodes_geometry:
        geometry = scene.geometry.get(scene.graph[node][1])
        faces += len(getattr(geometry, "faces", ()))
        if faces > MAX_SCAN_FACES:
            raise ScanError(f"holds more than {MAX_SCAN_FACES:,} triangles once its scene is laid out; a face "
                            "scan has far fewer (decimate it)")
    if faces == 0:
        raise ScanError("holds no triangles (a point cloud or an empty file)")
    try:
        loaded = scene.to_mesh()
    except Exception as exc:  # noqa: BLE001
        raise ScanError(f"cannot be merged into one mesh ({type(exc).__name__})") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ScanError("holds no triangles (a point cloud or an empty file)")
    return loaded


def decide_units(extent: float, units: Units = "auto") -> tuple[str, str]:
    """The units of a scan whose largest extent is ``extent`` (its own units), and why."""
    lo, hi = FACE_EXTENT_MM
    if units in SCALE_TO_MM:
        mm = extent * SCALE_TO_MM[units]
        if not lo <= mm <= hi:
            raise ScanError(f"the scan is {mm:.0f} mm across in the given units ({units}); a face is "
                            f"{lo:.0f}-{hi:.0f} mm: check the units")
        return units, f"given ({units}); {mm:.0f} mm across"
    if units != "auto":
        raise ScanError(f"units must be 'auto', 'm' or 'mm', not {units!r}")
    fits = [u for u, s in SCALE_TO_MM.items() if lo <= extent * s <= hi]
    if len(fits) != 1:
        raise ScanError(f"the scan is {extent:.4g} units across: neither metres nor millimetres make it a "
                        f"face ({lo:.0f}-{hi:.0f} mm); give the units")
    u = fits[0]
    return u, f"largest extent {extent:.4g} {u} = {extent * SCALE_TO_MM[u]:.0f} mm, face-sized only in {u}"


def load_scan(path_or_mesh: str | Path | trimesh.Trimesh, units: Units = "auto") -> Scan:
    """Read a scan (or take a mesh), clean it, decide its units and return it in millimetres."""
    if isinstance(path_or_mesh, trimesh.Trimesh):
        mesh, source = path_or_mesh.copy(), "mesh"
    else:
        mesh, source = read_mesh(path_or_mesh), Path(path_or_mesh).name
    v = np.asarray(mesh.vertices, dtype=float)
    if not np.isfinite(v).all():
        raise ScanError(f"{source}: has non-finite vertex coordinates")
    rgb = vertex_colours(mesh)
    mesh = trimesh.Trimesh(v, np.asarray(mesh.faces), vertex_colors=rgb, process=True, validate=True)
    mesh.remove_unreferenced_vertices()
    rgb = vertex_colours(mesh) if rgb is not None else None
    if len(mesh.faces) < 500:
        raise ScanError(f"{source}: only {len(mesh.faces)} triangles; a face scan has thousands")
    extent = float(np.ptp(mesh.vertices, axis=0).max())
    u, why = decide_units(extent, units)
    s = SCALE_TO_MM[u]
    mesh.apply_scale(s)
    return Scan(mesh=mesh, units=u, units_reason=why, scale_to_mm=s, source=source, colours=rgb)
