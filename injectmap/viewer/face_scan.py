"""The patient's own face from a 3D scan, for the app's Face card: read an uploaded scan, fit the face to it.

:func:`fit_scan_bytes` reads the bytes of an OBJ, PLY, STL or GLB file in memory (the scan is never
written to disk, never logged), decides its units (``anatomy.scan.loading``: metres or millimetres from
its size, or as the user chose), fits the template skin to it (``anatomy.scan.fit.fit_scan``: rigid
alignment, non-rigid registration, the template kept where the scan has no data), refuses a surface that
is not a face, and makes the face file's content (``anatomy.fit.facefile.make_scan``: the offsets and the
scan's SHA-256, never the scan). The session keeps only :class:`ScanResult` (the face file's content and
the fit's numbers), not the scan nor the fit's meshes. It is slow (tens of seconds on a shared machine):
the Face card runs it in the scans' fit thread (``viewer.face_photo.fit_executor("scan")``), so it never holds
up a photo's fit.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from injectmap.anatomy.fit.facefile import FaceFile

if TYPE_CHECKING:  # the scan modules (trimesh and its graph and index packages, ~60 MB) load with the first scan
    from injectmap.anatomy.scan.loading import Units

#: the scan files the card takes (GLTF is left out: its buffers may be separate files)
SCAN_UPLOAD_SUFFIXES = (".obj", ".ply", ".stl", ".glb")
#: project choice: a face's largest extent is usually 100-350 mm (bizygomatic breadth 125-150 mm, Farkas
#: 1994; a scan with the ears or a margin reaches about 250-300 mm). A scan whose decided size lies
#: outside this is ambiguous: the card shows the units choice with the result.
TYPICAL_EXTENT_MM = (100.0, 350.0)


@dataclass(frozen=True)
class ScanResult:
    """A fit of one uploaded scan, kept in the session until accepted or discarded (no meshes)."""

    display_name: str
    face: FaceFile
    units: str
    units_reason: str
    units_given: bool
    extent_mm: float
    alignment: str
    coverage: float
    surface_median_mm: float
    surface_p90_mm: float
    per_landmark_mm: dict[str, float]

    @property
    def units_ambiguous(self) -> bool:
        """Whether the scan's size in the decided units is unusual for a face (check the units)."""
        lo, hi = TYPICAL_EXTENT_MM
        return not self.units_given and not lo <= self.extent_mm <= hi


def read_scan_bytes(data: bytes, display_name: str):  # type: ignore[no-untyped-def]
    """The scan file's bytes as one triangle mesh (a GLB's meshes merged), read in memory."""
    from injectmap.anatomy.scan.loading import ScanError, merged_mesh

    suffix = Path(display_name).suffix.lower()
    if suffix not in SCAN_UPLOAD_SUFFIXES:
        raise ScanError(f"not a scan file (expected {', '.join(s[1:].upper() for s in SCAN_UPLOAD_SUFFIXES)})")
    if not data:
        raise ScanError("the file is empty")
    try:
        return merged_mesh(io.BytesIO(bytes(data)), suffix[1:])
    except ScanError as exc:
        raise ScanError(f"the file {exc}") from None


def fit_scan_bytes(data: bytes, display_name: str, units: Units = "auto",
                   progress: Callable[[str], None] | None = None) -> ScanResult:
    """Fit the face to a scan given as the bytes of an OBJ, PLY, STL or GLB file.

    Raises
    ------
    anatomy.scan.loading.ScanError
        Not a scan, unreadable, not face-sized in any unit (or in the given one), or not a face (the
        message says which).
    """
    from injectmap.anatomy.scan.loading import load_scan
    from injectmap.anatomy.scan.toface import face_from_loaded_scan

    say = progress or (lambda _s: None)
    say("Reading the scan...")
    mesh = read_scan_bytes(data, display_name)
    say("Deciding its units...")
    scan = load_scan(mesh, units)
    extent = float(np.ptp(np.asarray(scan.mesh.vertices), axis=0).max())
    made = face_from_loaded_scan(scan, hashlib.sha256(data).hexdigest(), Path(display_name).suffix, progress=say)
    face, fit, per = made.face, made.fit, made.per_landmark_mm
    return ScanResult(display_name=display_name, face=face, units=scan.units, units_reason=scan.units_reason,
                      units_given=units != "auto", extent_mm=extent, alignment=fit.alignment,
                      coverage=fit.coverage, surface_median_mm=fit.residual_median_mm,
                      surface_p90_mm=fit.residual_p90_mm, per_landmark_mm=dict(per))
