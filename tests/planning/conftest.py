"""Make the repository's packages win over same-named test folders on sys.path.

With ``tests/conftest.py`` present, pytest puts ``tests/`` on sys.path, and ``tests/planning`` /
``tests/anatomy`` (folders without ``__init__.py``) would shadow the real ``planning`` and
``anatomy`` packages as namespace packages. ``pythonpath = ["."]`` in pyproject's pytest options
would be the project-wide fix; this keeps the planning tests right until then.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
for name in ("planning", "anatomy"):
    mod = sys.modules.get(name)
    if mod is not None and getattr(mod, "__file__", None) is None:  # a namespace package: drop it
        del sys.modules[name]
