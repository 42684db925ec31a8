"""``injectmap report``: the HTML opens offline in headless chromium with its 3D scene and tables; the
PDF's pages render to non-blank PNGs."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

# one worker makes the module's reports once (under xdist a module's tests spread over the workers, and each
# worker would make its own copy of the module-scoped HTML report, ~17 s on a loaded machine)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    """The demo plan, plus a too-shallow masseter point (a finding) and a two-week touch-up point."""
    plan = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text())
    plan["sessions"] = [{"id": "touch_up"}]
    plan["points"] += [
        {"id": "m1_left", "units": 10, "target": "masseter_superficial_left",
         "at": {"landmark": "gonion_left", "superior_mm": 15, "anterior_mm": 12}, "depth_mm": 3},
        {"id": "m1_right", "units": 10, "target": "masseter_superficial_right",
         "at": {"landmark": "gonion_right", "superior_mm": 15, "anterior_mm": 12}, "depth_mm": 12},
        {"id": "t1", "units": 2, "target": "frontalis_left", "session": "touch_up",
         "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 2},
    ]
    path = tmp_path_factory.mktemp("report") / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow")
    return subprocess.run([sys.executable, "-m", "injectmap", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def html_report(plan_file: Path) -> Path:
    out = plan_file.with_name("report.html")
    t0 = time.perf_counter()
    res = _cli("report", str(plan_file), "-o", str(out))
    assert res.returncode == 0, res.stderr
    print(f"html report in {time.perf_counter() - t0:.1f} s: {res.stdout.strip()}")
    return out


@pytest.fixture(scope="module")
def pdf_report(plan_file: Path) -> Path:
    out = plan_file.with_name("report.pdf")
    t0 = time.perf_counter()
    res = _cli("report", str(plan_file), "-o", str(out))
    assert res.returncode == 0, res.stderr
    print(f"pdf report in {time.perf_counter() - t0:.1f} s: {res.stdout.strip()}")
    return out


def _not_blank(img: np.ndarray) -> bool:
    bg = np.median(img.reshape(-1, img.shape[-1]), axis=0)
    return bool((np.abs(img.astype(float) - bg).sum(axis=-1) > 30).mean() > 0.01)


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _screenshot_once_drawn(canvas, timeout_s: float = 60.0) -> np.ndarray:
    """The canvas's screenshot as soon as the scene has drawn something (each screenshot waits for the
    next frame: no sleep), or the last one taken after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        shot = _png(canvas.screenshot())
        if _not_blank(shot) or time.monotonic() > deadline:
            return shot


def test_bad_output_and_bad_plan_exit_2(plan_file: Path, tmp_path: Path):
    assert _cli("report", str(plan_file), "-o", str(tmp_path / "r.txt")).returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "injectmap-plan", "version": 1, "points": [{"id": "x", "units": -1}]}))
    res = _cli("report", str(bad), "-o", str(tmp_path / "r.html"))
    assert res.returncode == 2 and "ERROR" in res.stderr


def test_html_is_self_contained(html_report: Path):
    text = html_report.read_text(encoding="utf-8")
    assert "cdn.holoviz.org" not in text and "cdn.bokeh.org" not in text
    assert '<link rel="stylesheet" href="http' not in text
    assert text.count('src="data:image/png;base64,') >= 3
    assert "<svg" in text  # the timeline, inline


def test_html_opens_offline_with_scene_and_tables(html_report: Path, browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = ctx.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html_report.as_uri())
    canvas = page.locator("#scene canvas").first
    canvas.wait_for(state="visible", timeout=120_000)
    box = canvas.bounding_box()
    assert box and box["width"] > 500 and box["height"] > 400
    shot = _screenshot_once_drawn(canvas)
    assert _not_blank(shot), "the 3D scene drew nothing"
    # dose table by muscle and side
    heads = page.locator("table.doses th").all_inner_texts()
    assert heads[:3] == ["Muscle", "Left (U)", "Right (U)"]
    muscles = page.locator("table.doses tbody tr td:first-child").all_inner_texts()
    assert any("Masseter" in m for m in muscles) and any("Corrugator" in m for m in muscles)
    assert page.locator("table.points tbody tr").count() == 12
    # the shallow masseter point's finding, with its reason
    findings = page.locator("table.findings tbody tr").all_inner_texts()
    assert any("m1_left" in f and "isorius" in f for f in findings)
    assert page.locator("#timeline svg").count() == 1
    assert page.locator("#patient li").count() >= 8
    outside = [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    assert outside == [], outside
    assert errors == [], errors
    ctx.close()


def test_pdf_pages_render_and_are_not_blank(pdf_report: Path, tmp_path: Path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed")
    from PIL import Image

    assert pdf_report.read_bytes()[:5] == b"%PDF-"
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf_report), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    for p in pages:
        assert _not_blank(np.asarray(Image.open(p).convert("RGB"))), p.name
    # the first page carries the pictures: a good share of dark (render background) pixels
    first = np.asarray(Image.open(pages[0]).convert("L"), dtype=float)
    assert (first < 60).mean() > 0.03
    if os.environ.get("INJECTMAP_DOC_SCREENSHOTS") == "1":
        subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", str(pdf_report),
                        str(ROOT / "docs" / "report-pdf-page1")], check=True)
