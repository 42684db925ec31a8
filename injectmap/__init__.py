"""injectmap: a 3D anatomical injection-mapping viewer for botulinum-toxin planning and teaching.

The subpackages, from the bottom layer up (imports only go downward; the contracts are in
``pyproject.toml`` under ``[tool.importlinter]``): :mod:`injectmap.anatomy` (the layered face),
:mod:`injectmap.planning` (points, the diffusion model, the safety rules), :mod:`injectmap.teaching`
(training exercises, patient education, the timeline), :mod:`injectmap.reports` (HTML and PDF
reports, figures) and :mod:`injectmap.viewer` (the Panel app); :mod:`injectmap.cli` is the command
line.
"""

__version__ = "0.1.0"
