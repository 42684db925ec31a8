"""Fitting the layered face to a 3D scan of the patient (issue 13, the scan path).

:func:`fit_scan` returns a :class:`ScanFit`: offsets of the base head's vertices in mm, the rigid
transform, the scan's units and how they were decided, residuals and coverage. See docs/scan-fit.md.
"""

from injectmap.anatomy.scan.fit import ScanFit, SurfacePoints, attach, fit_scan, template_landmarks
from injectmap.anatomy.scan.loading import ScanError, decide_units, load_scan

__all__ = ["ScanError", "ScanFit", "SurfacePoints", "attach", "decide_units", "fit_scan", "load_scan",
           "template_landmarks"]
