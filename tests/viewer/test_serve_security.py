"""`injectmap serve` behind its login, over HTTP and over TLS: the security headers on every response,
the nonce on the page's own scripts, named users only, the lockout, and Secure cookies over TLS."""

from __future__ import annotations

import http.client
import os
import re
import ssl
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import free_port, stop, wait_until_listening

from injectmap.viewer import auth
from injectmap.viewer.limits import int_limit

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys, injectmap.cli; sys.exit(injectmap.cli.main())"]
PASSWORD = "a long test password"


def _serve(tmp: Path, *args: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    users = tmp / "users.json"
    if not users.exists():
        for name in ("ana", "bo"):
            auth.add_user(users, name, PASSWORD)
    port = free_port()
    env = dict(os.environ, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", PYTHONUNBUFFERED="1",
               INJECTMAP_USERS_FILE=str(users), INJECTMAP_AUTOSAVE_DIR=str(tmp / "autosave"))
    env.pop("INJECTMAP_PASSWORD", None)
    env.update(env_extra or {})
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_until_listening(proc, timeout_s=300)
    return proc, port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    proc, port = _serve(tmp_path_factory.mktemp("serve"))
    yield port
    stop(proc)


class Client:
    """HTTP(S) requests with a cookie jar (enough for the login form)."""

    def __init__(self, port: int, tls: bool = False) -> None:
        self.port, self.tls, self.cookies = port, tls, {}

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> http.client.HTTPResponse:
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=120,
                                                                           context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        resp.body = resp.read()  # type: ignore[attr-defined]
        for cookie in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";")[0]
        conn.close()
        return resp

    def login(self, name: str, password: str) -> http.client.HTTPResponse:
        page = self.request("GET", "/login").body.decode()  # type: ignore[attr-defined]
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert xsrf, page
        return self.request("POST", "/login", {"_xsrf": xsrf.group(1), "username": name, "password": password,
                                               "next": "/"})


def _check_headers(resp: http.client.HTTPResponse) -> str:
    csp = resp.getheader("Content-Security-Policy") or ""
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    script = directives.get("script-src", "")
    assert "'unsafe-inline'" not in script and "'nonce-" in script, csp  # no injected script or handler runs
    assert "*" not in csp and "http" not in csp  # nothing from another site
    assert directives.get("default-src") == "'self'" and directives.get("object-src") == "'none'"
    assert directives.get("frame-ancestors") == "'none'"
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("Referrer-Policy") == "no-referrer"
    return re.search(r"'nonce-([A-Za-z0-9_-]+)'", script).group(1)  # type: ignore[union-attr]


def test_every_response_carries_the_security_headers_and_the_scripts_their_nonce(server: int) -> None:
    client = Client(server)
    login = client.request("GET", "/login")
    nonce_login = _check_headers(login)
    assert b"<script" not in login.body  # type: ignore[attr-defined]
    assert client.login("ana", PASSWORD).status == 302
    page = client.request("GET", "/")
    assert page.status == 200
    nonce = _check_headers(page)
    assert nonce != nonce_login  # fresh per response
    tags = re.findall(rb"<script[^>]*>", page.body)  # type: ignore[attr-defined]
    assert tags and all(f"nonce={nonce}".encode() in t for t in tags), tags
    static = re.search(rb'src="([^"]*static/[^"]+\.js[^"]*)"', page.body)  # type: ignore[attr-defined]
    assert static, page.body[:2000]  # type: ignore[attr-defined]
    js = client.request("GET", "/" + static.group(1).decode().lstrip("./"))
    assert js.status == 200
    _check_headers(js)


def test_only_named_users_with_their_password_get_in(server: int) -> None:
    client = Client(server)
    resp = client.request("GET", "/")
    assert resp.status == 302 and "login" in (resp.getheader("Location") or "")
    for name, password in (("anyone", PASSWORD), ("ana", "a wrong password"), ("", "")):
        resp = client.login(name, password)
        assert resp.status == 401 and b"Unknown user name or wrong password" in resp.body  # type: ignore[attr-defined]
        assert "injectmap_user" not in client.cookies
    resp = client.login("ana", PASSWORD)
    cookie = next(c for c in resp.headers.get_all("Set-Cookie") or [] if c.startswith("injectmap_user="))
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower().replace("samesite", "")  # plain HTTP on the loopback
    assert client.request("GET", "/").status == 200
    assert client.request("GET", "/logout").status == 302
    client.cookies.pop("injectmap_user", None)
    assert client.request("GET", "/").status == 302


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(server: int) -> None:
    client = Client(server)
    for _ in range(int_limit("login_max_failures")):
        assert client.login("bo", "not the password").status == 401
    resp = client.login("bo", PASSWORD)
    assert resp.status == 429 and b"locked" in resp.body  # type: ignore[attr-defined]
    assert Client(server).login("ana", PASSWORD).status == 302  # another user is not locked


def test_tls_serves_https_with_secure_cookies_and_hsts(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=120)
    proc, port = _serve(tmp_path, "--certfile", str(cert), "--keyfile", str(key))
    try:
        client = Client(port, tls=True)
        resp = client.login("ana", PASSWORD)
        assert resp.status == 302
        cookie = next(c for c in resp.headers.get_all("Set-Cookie") or [] if c.startswith("injectmap_user="))
        assert "; secure" in cookie.lower()
        assert resp.getheader("Strict-Transport-Security", "").startswith("max-age=")
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:  # plain HTTP to the TLS port: no page
            plain.request("GET", "/login")
            status: int | None = plain.getresponse().status
        except (http.client.HTTPException, ConnectionError):
            status = None
        assert status != 200
    finally:
        stop(proc)


#: an address in an attribute of a page (``src``, ``href``, ``action``...) or a CSS ``url()``
_LINK = re.compile(rb"""(?:\b(?:src|href|action|content)\s*=\s*["']?|url\(\s*["']?)([^"'\s>)]*)""", re.IGNORECASE)


def _links_elsewhere(html: bytes) -> list[str]:
    """What a page names outside the server that sent it: any address with a host other than the
    loopback, or any mention of a CDN."""
    out = [m.decode() for m in re.findall(rb"[\w.-]*cdn[\w-]*\.[a-z.]+", html, re.IGNORECASE)]
    for m in _LINK.finditer(html):
        url = urllib.parse.urlsplit(m.group(1).decode(errors="replace"))
        if url.netloc and url.hostname not in ("127.0.0.1", "localhost"):
            out.append(m.group(1).decode(errors="replace"))
    return out


@pytest.mark.parametrize("bokeh_resources", ["cdn", "inline"])
def test_every_served_page_loads_its_files_from_the_server(tmp_path: Path, bokeh_resources: str) -> None:
    # BOKEH_RESOURCES=cdn in the server's environment made the pages link HoloViz's and Bokeh's CDNs,
    # "inline" put the libraries in the page: the server forces its own files
    proc, port = _serve(tmp_path, env_extra={"BOKEH_RESOURCES": bokeh_resources})
    try:
        client = Client(port)
        login = client.request("GET", "/login")
        assert login.status == 200 and _links_elsewhere(login.body) == []  # type: ignore[attr-defined]
        assert client.login("ana", PASSWORD).status == 302
        page = client.request("GET", "/")
        body: bytes = page.body  # type: ignore[attr-defined]
        assert page.status == 200 and _links_elsewhere(body) == [], _links_elsewhere(body)
        assert len(body) < 100_000  # the libraries are linked, not inlined
        files = [m.group(1).decode() for m in _LINK.finditer(body)]
        assert any("static/extensions/panel/" in f for f in files) and any("static/js/bokeh" in f for f in files)
        for f in [f for f in files if f.startswith(("static/", "./"))]:  # each is served here
            resp = client.request("GET", "/" + f.removeprefix("./"))
            assert resp.status == 200, f
            if f.endswith(".css") or ".css?" in f:
                assert _links_elsewhere(resp.body) == [], f  # type: ignore[attr-defined]
        favicon = client.request("GET", "/favicon.ico")
        assert favicon.status == 200 and favicon.getheader("Content-Type", "").startswith("image/")
        logout = client.request("GET", "/logout")
        assert _links_elsewhere(logout.body) == []  # type: ignore[attr-defined]
    finally:
        stop(proc)
