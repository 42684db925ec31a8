"""Shared test fixtures and settings."""

from __future__ import annotations

import os

# off-screen VTK rendering through EGL (Mesa), no X server needed
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
