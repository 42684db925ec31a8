"""``panel serve injectmap/viewer/app.py`` (the other documented way to serve the app) draws the same app."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from browser_support import ROOT, VIEWPORT, AppPage, free_port, wait_for_port


def test_panel_serve_of_the_app_module(browser) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="injectmap-autosave-") as autosave, \
            tempfile.NamedTemporaryFile(prefix="injectmap-panel-serve-", suffix=".log") as log:
        env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", INJECTMAP_AUTOSAVE_DIR=autosave)
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", "injectmap/viewer/app.py", "--port", str(port),
             "--address", "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}", "--num-procs", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(proc, port, log.name)
            ctx = browser.new_context(viewport=VIEWPORT)
            try:
                app = AppPage(ctx.new_page(), f"http://127.0.0.1:{port}/app", timed=False).open()
                assert app.plan_rows().filter(has_text="f2_right").count() == 1  # the whole demo plan
                assert app.errors == []
            finally:
                ctx.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
