"""Panel's pane for an empty slot, registered before any layout is made.

Panel resolves a non-widget object in a layout (``pn.panel(obj)``) by asking every pane type whether it
applies. For ``None`` (the empty slot of a deferred session, of Panel's DiscreteSlider, of a
ParamFunction before its first value) the VTK panes' check imports the whole ``vtk`` package once pyvista
has loaded VTK's modules: about 100 MB of every server process, for a pane that is never used (the app
draws with its own canvas, ``viewer.scene_canvas``). :class:`Empty` answers for ``None`` first, as the
text pane Panel would have chosen (it renders nothing), so that check is never reached (issue 11's memory
ceiling; docs/cache.md; tests/viewer/test_session_imports.py).
"""

from __future__ import annotations

from typing import Any

import panel as pn

#: above every priority Panel's own pane types declare (the highest is 1)
PRIORITY = 10.0


class Empty(pn.pane.Str):
    """``None`` in a layout: an empty text pane, chosen before any other pane type is asked."""

    priority = PRIORITY  # asked first; it takes only None, every other object goes on to Panel's own types

    @classmethod
    def applies(cls, obj: Any) -> bool:
        return obj is None
