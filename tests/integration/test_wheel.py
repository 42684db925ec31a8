"""The wheel: it holds every data file of the package, and once installed on its own (not the editable
checkout) `injectmap check` runs on its demo plan and `injectmap serve` serves the app, scene included.

The wheel is built from a copy of the package's sources (no build files land in the checkout) with the
project's own setuptools (no build isolation: nothing is downloaded). The installed test puts it in a
fresh virtual environment whose dependencies come from the project's environment through a ``.pth``
file: a path added by a ``.pth`` file does not run the editable install's finder, so the wheel's copy of
injectmap is the one imported.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from server_support import free_port, stop, wait_until_listening

ROOT = Path(__file__).resolve().parents[2]
#: the suffixes of the files the package reads at run time (data, templates, the browser's script)
DATA_SUFFIXES = {".yaml", ".yml", ".json", ".js", ".html", ".css"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("wheel-src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "injectmap", src / "injectmap", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          str(src), "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wheels = sorted(out.glob("injectmap-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_holds_every_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "injectmap").rglob("*")
                  if p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts)
    assert "injectmap/viewer/scene_canvas.js" in data and "injectmap/viewer/demo_plan.json" in data
    missing = [d for d in data if d not in names]
    assert missing == [], f"data files left out of the wheel (pyproject's package-data): {missing}"
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "injectmap").rglob("*.py"))
    assert [m for m in modules if m not in names] == []
    assert not any(n.startswith(("tests/", "meshes/", "notebooks/")) for n in names)




@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (no deps) and the project's packages behind it."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "zz_project_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                          str(wheel)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return venv


def _venv_env() -> dict[str, str]:
    """The test's environment without what would put the checkout first on the path."""
    from injectmap.anatomy.model import cache_root

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # the faces the tests use are cached here already: the installed copy reads them, builds nothing
    env.update(INJECTMAP_CACHE_DIR=str(cache_root()), VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow",
               PYTHONUNBUFFERED="1")
    return env


@pytest.mark.slow
@pytest.mark.wheel
def test_installed_wheel_checks_the_demo_plan_and_serves_the_app(wheel_venv: Path, tmp_path: Path, browser) -> None:
    py, cli = wheel_venv / "bin" / "python", wheel_venv / "bin" / "injectmap"
    env = _venv_env()
    where = subprocess.run([str(py), "-c", "import injectmap, injectmap.viewer; print(injectmap.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-3000:]
    pkg = Path(where.stdout.strip()).parent
    assert wheel_venv in pkg.parents, f"imported {pkg}, not the wheel's copy in {wheel_venv}"

    from injectmap.anatomy.model import cache_folder

    manifest = cache_folder(0.5) / "manifest.json"
    cached = manifest.stat().st_mtime_ns if manifest.exists() else None
    demo = pkg / "viewer" / "demo_plan.json"
    res = subprocess.run([str(cli), "check", str(demo), "--format", "json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["errors"] == [] and len(out["points"]) == len(json.loads(demo.read_text())["points"]) > 0
    if cached is not None:  # read from the shared cache, not rebuilt
        assert manifest.stat().st_mtime_ns == cached

    port = free_port()
    proc = subprocess.Popen([str(cli), "serve", "--port", str(port), "--host", "127.0.0.1"], cwd=tmp_path,
                            env=dict(env, INJECTMAP_AUTOSAVE_DIR=str(tmp_path / "autosave")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_listening(proc, timeout_s=300)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        conn.close()
        assert resp.status == 200 and "<title>injectmap</title>" in body, (resp.status, body[:500])
        # the page draws the scene: scene_canvas.js (from the wheel) counts its frames on its container,
        # and the demo plan (demo_plan.json, from the wheel) fills the plan table
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator(".scene .injectmap-scene[data-frames]").first.wait_for(timeout=180_000)
            page.locator(".plan-table .tabulator-row").filter(has_text="g1").first.wait_for(timeout=60_000)
        finally:
            ctx.close()
    finally:
        stop(proc)
