"""`injectmap serve` on a non-loopback host: refused without users, behind a login with them."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from server_support import free_port, stop, wait_until_listening

from injectmap.viewer.auth import add_user

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys, injectmap.cli; sys.exit(injectmap.cli.main())"]




def _env() -> dict[str, str]:
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", PYTHONUNBUFFERED="1")
    env.pop("INJECTMAP_PASSWORD", None)
    return env


def test_open_host_without_password_is_refused_with_the_reason(tmp_path: Path) -> None:
    env = dict(_env(), INJECTMAP_USERS_FILE=str(tmp_path / "users.json"))  # no users: nobody has a password
    res = subprocess.run([*CLI, "serve", "--host", "0.0.0.0", "--port", str(free_port())], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    msg = res.stdout + res.stderr
    assert "Refusing to serve on 0.0.0.0" in msg and "password" in msg


def test_open_host_with_password_asks_for_a_login() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as autosave:
        users = Path(autosave) / "users.json"
        add_user(users, "tester", "s3cret-test-password")  # the password is in the users file, hashed
        env = dict(_env(), INJECTMAP_AUTOSAVE_DIR=autosave, INJECTMAP_USERS_FILE=str(users))
        proc = subprocess.Popen([*CLI, "serve", "--host", "0.0.0.0", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_until_listening(proc, timeout_s=300)  # the first start may build the model cache
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/")
            resp = conn.getresponse()
            status, location = resp.status, resp.getheader("Location") or ""
            conn.close()
            assert status == 401 or (status in (302, 303, 307) and "login" in location), (status, location)
            # the login page itself is served
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/login")
            resp = conn.getresponse()
            assert resp.status == 200 and b"password" in resp.read().lower()
            conn.close()
        finally:
            stop(proc)
