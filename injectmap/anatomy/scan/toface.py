"""A 3D scan becomes a face file: :func:`face_from_scan` fits the scan (:func:`fit_scan`), refuses a
surface that is not a face, measures the residual at each skin landmark and returns the
``*.face.json`` content (:func:`injectmap.anatomy.fit.facefile.make_scan`): the fit's vertex offsets,
the scan's SHA-256 (never the scan), its units and how they were decided, the alignment and the
share of the face the scan covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from injectmap.anatomy.basehead import file_sha256
from injectmap.anatomy.fit import facefile
from injectmap.anatomy.scan.fit import ScanFit, fit_scan, template_landmarks
from injectmap.anatomy.scan.loading import SCAN_SUFFIXES, Scan, ScanError, Units, load_scan

#: the largest scan file read (bytes): a textured clinical face scan is tens of MB
MAX_SCAN_BYTES = 200_000_000
#: a fit is a face when the scan covers at least this share of the face region ...
MIN_COVERAGE = 0.5
#: ... and the scan's points lie this close to the fitted skin (90th percentile, mm)
MAX_RESIDUAL_P90_MM = 3.0
#: a landmark is on the skin (its residual is measured) when it lies this close to the template skin
SKIN_LANDMARK_MM = 1.0


@dataclass(frozen=True)
class ScanFace:
    """A face file made from a scan, the fit it came from, and the residual at each covered skin
    landmark (mm: the fitted landmark to the scan's surface). ``fit`` was made on the scan already
    converted to mm (its ``units`` say "mm", its ``scan_to_frame`` takes mm); the scan's own units and
    how they were decided are in ``face.scan``."""

    face: facefile.FaceFile
    fit: ScanFit
    per_landmark_mm: dict[str, float]


def check_scan_file(path: Path, max_bytes: int | None = None) -> None:
    """Refuse a file that is not a scan by its name, missing, empty or larger than ``max_bytes``
    (default :data:`MAX_SCAN_BYTES`)."""
    max_bytes = MAX_SCAN_BYTES if max_bytes is None else max_bytes
    p = Path(path)
    if p.suffix.lower() not in SCAN_SUFFIXES:
        raise ScanError(f"{p.name}: not a scan file (expected one of {', '.join(SCAN_SUFFIXES)})")
    if not p.is_file():
        raise ScanError(f"{p.name}: no such file")
    size = p.stat().st_size
    if size == 0:
        raise ScanError(f"{p.name}: the file is empty")
    if size > max_bytes:
        raise ScanError(f"{p.name}: {size / 1e6:.0f} MB is more than the {max_bytes / 1e6:.0f} MB a face scan "
                        "is read up to (decimate it, or export the face alone)")


def face_like_problem(fit: ScanFit) -> str | None:
    """Why a fit shows the scan is not a face (too little of the face covered, or the template could
    not be laid on it), or None."""
    if fit.coverage < MIN_COVERAGE:
        return (f"the scan covers {fit.coverage:.0%} of the face region once aligned (at least "
                f"{MIN_COVERAGE:.0%} is needed): no face-like surface was found")
    if fit.residual_p90_mm > MAX_RESIDUAL_P90_MM:
        return (f"the scan lies {fit.residual_p90_mm:.1f} mm from the fitted face (90th percentile; a face "
                f"fits within {MAX_RESIDUAL_P90_MM:.0f} mm): no face-like surface was found")
    return None


def skin_landmark_residuals(fit: ScanFit, scan_frame: trimesh.Trimesh) -> dict[str, float]:
    """For each skin landmark the scan covers (fit weight 1 on its triangle): the distance from the
    fitted landmark to the scan's surface, in mm."""
    lm = template_landmarks()
    t = fit.template
    skin = np.abs(lm.height_mm) <= SKIN_LANDMARK_MM
    covered = fit.weight[t.faces[lm.tri]].min(axis=1) > 0.999
    keep = np.flatnonzero(skin & covered)
    if not len(keep):
        return {}
    pts = np.array([fit.landmarks_mm[lm.names[i]] for i in keep])
    _, dist, _ = trimesh.proximity.closest_point(scan_frame, pts)
    return {lm.names[i]: float(d) for i, d in zip(keep, dist, strict=True)}


def alignment_record(fit: ScanFit, asked: bool) -> dict[str, object]:
    """How the render's landmarks took part, for the face file: asked for or not, how many were found
    on the render (textured or shaded) and how many pulled the fit, and the landmarker's version."""
    from injectmap.anatomy.fit.landmarks import mediapipe_version

    if not asked:
        return {"used": False, "reason": "turned off"}
    if fit.render is None:
        return {"used": False, "reason": fit.alignment.partition("render landmarks not used: ")[2] or "not found"}
    return {"used": True, "found": len(fit.render.ids), "pulled": len(fit.render_pulls),
            "render": "textured" if fit.render.textured else "shaded",
            "landmarker": f"mediapipe {mediapipe_version()} Face Mesh"}


def shape_record(fit: ScanFit) -> dict[str, object]:
    """The shape stage for the face file: how many face targets explain the scan before the registration
    (weight over 0.01) and the ridge they were fitted with."""
    if fit.shape is None:
        return {"used": False}
    return {"used": True, "targets": int(np.sum(fit.shape.weights > 0.01)), "ridge": fit.shape.ridge}


def face_from_scan(path: Path, units: Units = "auto", max_bytes: int | None = None,
                   render_landmarks: bool = True) -> ScanFace:
    """Fit the scan at ``path`` and make its face file's content. With ``render_landmarks`` (and
    mediapipe installed) the alignment starts from Face Mesh landmarks found on an off-screen render of
    the scan (:mod:`injectmap.anatomy.scan.renderlm`); the face file records how it was aligned.

    Raises
    ------
    ScanError
        Not a scan file, missing, empty, too large, unreadable, no triangles, a size no unit makes a
        face, or a surface that is not a face (the message says which).
    """
    path = Path(path)
    check_scan_file(path, max_bytes)
    digest = file_sha256(path)
    scan = load_scan(path, units)
    try:
        return face_from_loaded_scan(scan, digest, path.suffix, render_landmarks)
    except ScanError as e:
        raise ScanError(f"{path.name}: {e}") from None


def face_from_loaded_scan(scan: Scan, digest: str, suffix: str, render_landmarks: bool = True,
                          progress: Callable[[str], None] | None = None) -> ScanFace:
    """Fit a scan already read (:func:`load_scan`) and make its face file's content; ``digest`` is the
    SHA-256 of the file it came from (recorded, never the file or its name), ``suffix`` its kind. The one
    path from a scan to a face file, for the command line and the app.

    Raises
    ------
    ScanError
        The surface is not a face (the message says why).
    """
    say = progress or (lambda _s: None)
    say(f"Units {scan.units} ({scan.units_reason}); aligning the face to the scan and registering its skin "
        "(the longest stage)...")
    fit = fit_scan(scan.mesh, "mm", use_render=render_landmarks)
    say("Checking the fit and measuring the residuals...")
    problem = face_like_problem(fit)
    if problem:
        raise ScanError(problem)
    moved = trimesh.Trimesh(fit.scan_to_frame(np.asarray(scan.mesh.vertices)), scan.mesh.faces, process=False)
    per = skin_landmark_residuals(fit, moved)
    summary = {
        "units": scan.units, "units_reason": scan.units_reason, "scale_to_mm": scan.scale_to_mm,
        "alignment": fit.alignment, "coverage": round(fit.coverage, 3),
        "render_landmarks": alignment_record(fit, render_landmarks),
        "shape_stage": shape_record(fit),
        "surface_median": round(fit.residual_median_mm, 3), "surface_p90": round(fit.residual_p90_mm, 3),
    }
    face = facefile.make_scan(fit.offsets_mm, digest, suffix.lower().lstrip("."), per, summary)
    return ScanFace(face=face, fit=fit, per_landmark_mm=per)
