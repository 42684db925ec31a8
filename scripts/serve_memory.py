"""The memory of a real `injectmap serve` with ten browser sessions and three face variants (issue 11).

Starts ``injectmap serve`` on a free loopback port (no login: an empty users file, as the browser
tests do), drives headless chromium with Playwright, and reads the server process's RSS (psutil):

1. ``idle_mb``: one page opened (the default face loaded, the demo plan analysed and drawn), closed,
   and its session destroyed: the server at rest after it has served a page;
2. ``peak_mb``: the highest RSS while ten pages are open, three of which load a plan naming a face
   variant (uploaded through the Files card) and wait until the Face card shows that face;
3. ``final_mb``: every page closed and every session destroyed (the server discards a session 20-23 s
   after its page closed, ``viewer/server_limits.json``; it prints one line per destroyed session, which
   is waited for).

The three faces are built into the cache first when it does not hold them (``injectmap anatomy build``, in
processes of their own): what is measured is a server that reads cached faces, not one that builds them.

The targets (peak under 1.5 GB, final within 20 % of idle) are those of issue 11 and
``injectmap/anatomy/data/face_cache.yaml``; tests/browser/test_server_memory.py asserts them.

Usage::

    python scripts/serve_memory.py [--sessions 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1850, "height": 1150}
#: three faces on the quantised steps (cached by the test setup), each named as a plan names its face
VARIANTS: list[tuple[dict[str, Any], str]] = [
    ({"sex": 0.0}, r"sex 0\b"),
    ({"sex": 0.5, "shape": {"masseter": 1.0}}, r"masseter \+1"),
    ({"sex": 0.5, "shape": {"brow_left": 1.0}}, r"brow left \+1"),
]
#: printed by the server (viewer.app) once a closed page's session is destroyed and its memory released
SESSION_ENDED = "injectmap: session ended"
LISTENING = "Launching server at"
WAIT_MS = 300_000  # a loaded shared machine can take minutes for the first page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cache_faces() -> None:
    """Build the default face and the variants into the cache, each that is not cached and current (a build
    in a process of its own: this one only checks the cache)."""
    from injectmap.anatomy.model import cache_valid
    from injectmap.anatomy.params import FaceParams

    for model in ({}, *(m for m, _ in VARIANTS)):
        face = {"sex": model.get("sex", 0.5), **model.get("shape", {})}
        if cache_valid(FaceParams(**face)):
            continue
        args = [sys.executable, "-m", "injectmap", "anatomy", "build"]
        for key, value in face.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow"))


class Server:
    """``injectmap serve`` in a child process, its output collected line by line."""

    def __init__(self, env_extra: dict[str, str]) -> None:
        self.port = _free_port()
        env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", **env_extra)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "injectmap", "serve", "--port", str(self.port), "--host", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def count(self, text: str) -> int:
        with self._changed:
            return sum(text in line for line in self.lines)

    def wait_for(self, text: str, n: int, timeout_s: float) -> None:
        """Block until ``text`` has been printed ``n`` times (fails with the log on timeout or exit)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while sum(text in line for line in self.lines) < n:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None):
                    raise RuntimeError(f"the server did not print {text!r} {n} times within {timeout_s:.0f} s: "
                                       f"{''.join(self.lines)[-3000:]!r}")
                self._changed.wait(min(left, 1.0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def rss_mb(self) -> float:
        """The RSS of the server and any children it started, in MB."""
        import psutil

        p = psutil.Process(self.proc.pid)
        total = p.memory_info().rss
        for c in p.children(recursive=True):
            try:
                total += c.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 1e6

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


def _open(browser, url: str):
    """A new context (its own Panel session) with the app loaded and the demo plan drawn."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.goto(url, timeout=WAIT_MS)
    page.locator(".scene .injectmap-scene[data-frames]").first.wait_for(timeout=WAIT_MS)
    page.locator(".plan-table .tabulator-row").filter(has_text="g1").first.wait_for(timeout=WAIT_MS)
    return ctx, page


def _load_variant(page, plan_file: Path, shown: str) -> None:
    """Upload a plan naming a face; wait until the Face card shows that face and is no longer busy."""
    page.locator("input[type=file][accept='.json']").set_input_files(str(plan_file), timeout=WAIT_MS)
    page.locator(".face-status").filter(has_text=re.compile(shown)).first.wait_for(timeout=WAIT_MS)
    page.locator(".face-busy").first.wait_for(state="hidden", timeout=WAIT_MS)


def measure_server_memory(sessions: int = 10, settle_s: float = 3.0) -> dict[str, Any]:
    """Serve the app, open ``sessions`` pages (three of them on face variants), close them; RSS in MB.

    Parameters
    ----------
    sessions : int
        How many pages are open at once (at least the number of variants).
    settle_s : float
        Pause before each idle/final reading, for the server's last callbacks to run.

    Returns
    -------
    dict
        ``idle_mb``, ``peak_mb``, ``peak_during`` (what the pages were doing then), ``final_mb``,
        ``final_above_idle`` (fraction), ``after_each_mb`` (RSS after each page was ready), ``variants``
        (the plan ``model`` values), ``sessions``.
    """
    from playwright.sync_api import sync_playwright

    if sessions < len(VARIANTS):
        raise ValueError(f"sessions must be at least {len(VARIANTS)}")
    cache_faces()
    demo = json.loads((ROOT / "injectmap" / "viewer" / "demo_plan.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="injectmap-memory-") as tmp:
        tmpdir = Path(tmp)
        plans = []
        for i, (model, _shown) in enumerate(VARIANTS):
            f = tmpdir / f"variant{i}.json"
            f.write_text(json.dumps(dict(demo, model=model)), encoding="utf-8")
            plans.append(f)
        server = Server({"INJECTMAP_AUTOSAVE_DIR": str(tmpdir / "autosave"),
                         "INJECTMAP_USERS_FILE": str(tmpdir / "no-users.json")})
        peak = 0.0
        phase, peak_phase = "idle", "idle"  # what the pages were doing when the peak was sampled
        stop_sampling = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_phase
            while not stop_sampling.is_set():
                try:
                    now = server.rss_mb()
                except Exception:  # noqa: BLE001 - the process is ending
                    return
                if now > peak:
                    peak, peak_phase = now, phase
                stop_sampling.wait(0.2)

        try:
            server.wait_for(LISTENING, 1, WAIT_MS / 1000)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    ctx, _page = _open(browser, server.url)
                    ctx.close()
                    server.wait_for(SESSION_ENDED, 1, 120)
                    time.sleep(settle_s)
                    idle = server.rss_mb()
                    sampler = threading.Thread(target=sample, daemon=True)
                    sampler.start()
                    opened, after_each = [], []
                    for i in range(sessions):
                        phase = f"page {i + 1} loading"
                        ctx, page = _open(browser, server.url)
                        if i < len(VARIANTS):
                            phase = f"page {i + 1} loading its variant"
                            _load_variant(page, plans[i], VARIANTS[i][1])
                        phase = f"page {i + 1} open"
                        opened.append(ctx)
                        after_each.append(round(server.rss_mb(), 1))
                    phase = "pages closing"
                    for ctx in opened:
                        ctx.close()
                    server.wait_for(SESSION_ENDED, 1 + sessions, 180)
                    time.sleep(settle_s)
                    stop_sampling.set()
                    sampler.join()
                    final = server.rss_mb()
                finally:
                    browser.close()
        except Exception as exc:
            raise RuntimeError(f"the measure failed ({exc}); the server's log: {''.join(server.lines)[-3000:]}") from exc
        finally:
            stop_sampling.set()
            server.stop()
    if max(after_each) > peak:
        peak = max(after_each)
        peak_phase = f"page {after_each.index(peak) + 1} open"
    return {"sessions": sessions, "variants": [m for m, _ in VARIANTS], "idle_mb": round(idle, 1),
            "peak_mb": round(peak, 1), "peak_during": peak_phase, "final_mb": round(final, 1),
            "final_above_idle": round((final - idle) / idle, 4), "after_each_mb": after_each}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-o", "--output", help="also write the JSON to this file")
    args = ap.parse_args(argv)
    res = measure_server_memory(args.sessions)
    if args.output:
        Path(args.output).write_text(json.dumps(res, indent=2) + "\n")
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:>18}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
