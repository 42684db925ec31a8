"""Shared test fixtures and settings: the face model (one per session), the browser, and the run's
scheduling under pytest-xdist.

With ``-n N`` the controller builds every face the suite uses into the model cache before the workers
start (:func:`pytest_sessionstart`), so the workers only ever read the cache and two of them never build
the same face at once. The browser tests that drive the shared app server (tests/browser) run in one xdist
group, in order, on one worker (``--dist loadgroup``); each browser module with a server of its own is a
group of its own. The astronaut portrait is fitted once per run (``astronaut_fit``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from photo_support import AstronautFit, fit_astronaut_once

# off-screen VTK rendering through EGL (Mesa), no X server needed
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

TESTS = Path(__file__).resolve().parent

# the expression stills a run renders are kept for that run only (reports/stills_cache.py): the run's second
# report of a plan reuses them, and no run reads an earlier run's pictures; set before the xdist workers and
# the browser tests' servers start, so they all share the controller's folder
if not os.environ.get("INJECTMAP_STILLS_CACHE_DIR"):
    os.environ["INJECTMAP_STILLS_CACHE_DIR"] = _STILLS_DIR = tempfile.mkdtemp(prefix="injectmap-test-stills-")
    atexit.register(shutil.rmtree, _STILLS_DIR, True)

# the sessions a test builds autosave their plans, and a patient's deletion removes the autosaves naming them
# (viewer/session.py): a run's are its own, never the home folder's nor a folder the shell names (a server's)
os.environ["INJECTMAP_AUTOSAVE_DIR"] = _AUTOSAVE_DIR = tempfile.mkdtemp(prefix="injectmap-test-autosave-")
atexit.register(shutil.rmtree, _AUTOSAVE_DIR, True)

# a run builds every face of TEST_FACES and, through the photo and scan tests, half a dozen fitted faces: more than
# the cache's disk budget (data/face_cache.yaml, ~15 faces) keeps. Pruned in the middle of a run, the variants the
# tests load were deleted and rebuilt, one by one, minutes of a run (measured: 103 s for the two sex variants of
# tests/anatomy/test_variants.py). The run's own budget is set here, for the workers and the servers they start;
# tests/anatomy/test_cache_bounds.py checks the budget itself with budgets of its own. The checkout's meshes/ may then
# keep a few GB after a run, until a build outside the tests prunes it to the budget
os.environ.setdefault("INJECTMAP_CACHE_BUDGET_MB", "4000")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: every face the tests and notebooks load (FaceParams keyword arguments): the default face and the
#: variants of tests/anatomy/test_variants.py, tests/viewer/test_face_panel.py, the training
#: exercises (masseter -1) and the protocol templates' extremes (tests/planning/test_protocols.py);
#: built before the xdist workers start
TEST_FACES: tuple[dict[str, float], ...] = (
    {},
    {"masseter": -1.0},
    {"masseter": 1.0},
    {"brow_left": 1.0},
    {"brow_left": -1.0},
    {"sex": 0.0},
    {"sex": 1.0},
)


def _build_args(face: dict[str, float]) -> list[str]:
    """``injectmap anatomy build`` for one face (a no-op when the cache holds it, current)."""
    args = [sys.executable, "-m", "injectmap", "anatomy", "build"]
    for key, value in face.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _is_xdist_controller(config: pytest.Config) -> bool:
    numprocesses = getattr(config.option, "numprocesses", None)
    return bool(numprocesses) and not hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under xdist, build the missing faces once, in the controller, before any worker loads one."""
    config = session.config
    if not _is_xdist_controller(config) or config.option.collectonly:
        return
    from injectmap.anatomy.model import cache_valid
    from injectmap.anatomy.params import FaceParams

    missing = [f for f in TEST_FACES if not cache_valid(FaceParams(**f))]
    if not missing:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"building {len(missing)} face(s) into the model cache before the workers start")
    # different faces go to different folders: two builds at a time are safe and use both cores
    pending = list(missing)
    running: list[tuple[dict[str, float], subprocess.Popen]] = []
    try:
        while pending or running:
            while pending and len(running) < 2:
                face = pending.pop(0)
                running.append((face, subprocess.Popen(_build_args(face), cwd=TESTS.parent, stdout=subprocess.PIPE,
                                                       stderr=subprocess.STDOUT, text=True)))
            face, proc = running[0]
            out, _ = proc.communicate()
            running.pop(0)
            if proc.returncode != 0:
                raise pytest.UsageError(f"building the face {face or 'default'} failed ({proc.returncode}):\n{out}")
            if reporter is not None:
                reporter.write_line(f"  {out.strip().splitlines()[-1] if out.strip() else face}")
    finally:  # interrupted or failed: no build is left running behind the session
        for _, proc in running:
            proc.kill()
            proc.wait()


#: browser test modules that start a server (or a measure) of their own instead of the shared one
OWN_SERVER_MODULES = frozenset({"test_course_of_treatment", "test_first_page", "test_security", "test_server_memory",
                                "test_autosave_logins", "test_face_photo", "test_visit_photos", "test_panel_serve",
                                "test_patient_correction"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each browser module that starts a server (or a measure) of its own is an xdist group of its own: its tests
    stay together on one worker and share that server once (the memory measure ran twice, side by side, when they
    did not). The browser tests on the shared app server are not grouped: each worker starts the shared server once
    for the ones it is given, and the scheduler spreads them so the two workers end together."""
    for item in items:
        path = Path(str(item.fspath))
        if TESTS / "browser" in path.parents and path.stem in OWN_SERVER_MODULES:
            item.add_marker(pytest.mark.xdist_group(f"browser-{path.stem}"))


@pytest.fixture(scope="session")
def model() -> Any:
    """The default (sex 0.5) face model, loaded once per session (per worker under xdist) from the
    model cache; built there the first time (about 20 s)."""
    from injectmap.anatomy.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def face_model(model: Any) -> Any:
    """The default face model under the viewer tests' name: the same object as ``model``."""
    return model


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Debian chromium for the whole run (Playwright's sync API allows one driver per
    process, so every test that needs a browser shares this one; each makes its own context)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def astronaut_fit(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> AstronautFit:
    """The astronaut portrait fitted by ``injectmap face fit`` once per test run (photo_support.py), for the
    tests that need a fitted face file: the command's own test reads what it wrote and said, the photo chart
    builds the face it wrote. Under xdist the first worker to ask fits; the others wait and read its result."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("skimage.data")
    base = tmp_path_factory.getbasetemp()
    # a worker's temporary folder is inside the run's, which every worker shares
    return fit_astronaut_once(base.parent if hasattr(pytestconfig, "workerinput") else base)
