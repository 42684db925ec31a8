"""Serving the app: ``injectmap serve`` (:func:`serve`) and the page each browser gets (:func:`session_page`).

The server listens at once and the warm-up (:func:`~viewer.session.start_warm_up`) loads the model,
its display meshes and the modules a session uses, in a background thread, while the first page and
its scripts load; each page's app is built once the browser has connected and the warm-up is done.

Every response (the app's pages, the login page, static files) carries the headers of
:class:`SecurityHeaders`: a content security policy that lets only the server's own scripts and the
page's own inline scripts (marked with a fresh nonce per response) run, so markup that user text might
smuggle into a page (``<img onerror=...>``, ``<script>``) does not run; no framing by other sites; no
MIME sniffing; no referrer. Logins (:mod:`viewer.auth`) are required whenever the users file has users,
and serving to other machines without them is refused.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import panel as pn
from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.web import OutputTransform

from injectmap.viewer.app import create_app
from injectmap.viewer.auth import UsersFileError, load_users, make_auth_provider, users_file
from injectmap.viewer.limits import int_limit, limit
from injectmap.viewer.session import SessionLayout, start_warm_up, wait_for_warm_up

log = logging.getLogger("injectmap.viewer")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

#: the content security policy; ``{nonce}`` is replaced per response. What Panel and Bokeh need
#: (measured in chromium; tests/browser/test_security.py, docs/deploying.md): 'unsafe-eval', because
#: Bokeh compiles the CustomJS callbacks that Panel's widgets attach with ``new Function`` (placing a
#: point with the plan table open runs one); ``blob:`` fetches, because the scene's JSComponent module is
#: imported from a blob URL; inline styles, because Bokeh styles every model through ``style``
#: attributes and ``<style>`` elements in its shadow roots; ``data:``/``blob:`` images for the screenshot
#: and Bokeh's icons. No 'unsafe-inline' for scripts: an injected ``<script>`` or ``onerror=`` never runs.
CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' blob: data:; worker-src 'self' blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: the other headers on every response
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cross-Origin-Opener-Policy": "same-origin"}
HSTS = "max-age=31536000"  # project choice: one year, sent only when this server itself speaks TLS
#: an opening script tag of the page (the template's own; user text reaches the page escaped)
_SCRIPT_TAG = re.compile(rb"<script(?=[\s>])", re.IGNORECASE)


class SecurityHeaders(OutputTransform):
    """Adds the security headers to every response and a fresh nonce to the page's own ``<script>`` tags.

    The nonce is written without quotes (``<script nonce=...``): it is made of ``[A-Za-z0-9_-]``, so it
    is a valid unquoted attribute, and inserting it can never close a quoted string.
    """

    hsts = False

    def __init__(self, request: HTTPServerRequest) -> None:
        super().__init__(request)
        self.nonce = secrets.token_urlsafe(18)
        self.html = False

    def transform_first_chunk(self, status_code: int, headers: HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, HTTPHeaders, bytes]:
        headers["Content-Security-Policy"] = CSP.format(nonce=self.nonce)
        for key, value in HEADERS.items():
            headers[key] = value
        if self.hsts:
            headers["Strict-Transport-Security"] = HSTS
        self.html = headers.get("Content-Type", "").startswith("text/html")
        if self.html and "Content-Encoding" not in headers:
            chunk = self.transform_chunk(chunk, finishing)
            if finishing:
                headers["Content-Length"] = str(len(chunk))
            else:
                headers.pop("Content-Length", None)
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        if not self.html:
            return chunk
        return _SCRIPT_TAG.sub(b"<script nonce=" + self.nonce.encode("ascii"), chunk)


def force_local_resources() -> None:
    """Every page of this server loads Bokeh's and Panel's files from the server itself
    (``static/...``), whatever ``BOKEH_RESOURCES`` says: "cdn" there made the pages name HoloViz's and
    Bokeh's CDNs (blocked by the policy: a page without scripts), "inline" put megabytes in each page.
    Set once for the serving process; nothing in it switches the mode again (the report's 3D scene is
    assembled without Panel's ``save``: :func:`viewer.report_render.scene_html`)."""
    from bokeh.settings import settings

    settings.resources.set_value("server")
    _stylesheets_stay_local()


def _stylesheets_stay_local() -> None:
    """Panel points a component's stylesheets at its CDN whenever the document they go to has no page
    yet (a session's document while it is made, or one made outside a page): it patches them to the
    document's ``dist_url`` and takes the CDN when there is none. A page of this server rendered later
    patches them back, but not every one: now and then a page asked for the CDN's ``loading.css``
    (blocked by the content security policy, the browser test's console saw it). In this process
    the CDN is never the answer: the patch goes to the server's own static files instead (the
    report's 3D scene turns those into data URIs as it did the CDN's, ``report_render.inline_panel_cdn``).
    Panel is pinned (pyproject.toml): the function wrapped is ``panel.io.resources.patch_stylesheet``,
    which ``panel.reactive`` imported by name."""
    import panel.reactive
    from panel.io import resources

    original = resources.patch_stylesheet
    if getattr(original, "injectmap_local", False):
        return

    def patch_stylesheet(stylesheet: Any, dist_url: str) -> Any:
        return original(stylesheet, resources.get_dist_path(cdn=False) if dist_url == resources.CDN_DIST else dist_url)

    patch_stylesheet.injectmap_local = True  # type: ignore[attr-defined]
    resources.patch_stylesheet = patch_stylesheet
    panel.reactive.patch_stylesheet = patch_stylesheet  # type: ignore[attr-defined]


def session_app() -> SessionLayout:
    """A connected page's app, built once the warm-up is done (see :mod:`viewer.session`)."""
    wait_for_warm_up()
    return create_app()


def session_page() -> pn.viewable.ServableMixin:
    """What a served page gets: the app, built once the browser has connected.

    The page and its scripts (bokeh, panel, vtk.js) load while the session is built (and, for the
    first page, while the warm-up still runs), instead of after it.
    """
    pn.extension("tabulator")  # the deferred app's tables: their scripts must come with the page
    return pn.panel(session_app, defer_load=True, loading_indicator=True)


def _login_provider(host: str, secure_cookies: bool) -> Any:
    """The auth provider when the users file has users; None on loopback without users.

    Raises
    ------
    SystemExit
        For a non-loopback host without users, or a users file that cannot be read.
    """
    path = users_file()
    try:
        users = load_users(path).users
    except UsersFileError as exc:
        raise SystemExit(f"Refusing to serve: {exc}") from None
    if not users:
        if host not in LOOPBACK:
            raise SystemExit(
                f"Refusing to serve on {host}: the app would be reachable from other machines without a login. "
                f"Add a user with a password (injectmap users add NAME; the users file is {path}) or serve on "
                "127.0.0.1.")
        return None
    print(f"injectmap: login required ({len(users)} user(s) in {path})", flush=True)
    return make_auth_provider(path, secure_cookies=secure_cookies)


def serve(port: int = 5006, host: str = "127.0.0.1", certfile: str | None = None, keyfile: str | None = None,
          behind_proxy: bool = False, origins: list[str] | None = None) -> None:
    """Serve the app (blocking).

    Parameters
    ----------
    port, host : int, str
        Where to listen. A host other than loopback needs users in the users file.
    certfile, keyfile : str, optional
        A TLS certificate chain and its key: the server speaks HTTPS and the login cookie is Secure.
    behind_proxy : bool
        An HTTPS reverse proxy forwards to this server: trust its X-Real-IP/X-Forwarded-For (for the
        login throttling) and make the login cookie Secure.
    origins : list of str, optional
        Further ``host[:port]`` the pages are loaded from (the proxy's public name).

    Raises
    ------
    SystemExit
        For a non-loopback host without users, a certificate without its key, or unreadable files.
    """
    if os.environ.get("INJECTMAP_PASSWORD"):
        print("injectmap: INJECTMAP_PASSWORD is no longer used: logins come from the users file "
              "(injectmap users add NAME)", flush=True)
    if bool(certfile) != bool(keyfile):
        raise SystemExit("Give both --certfile and --keyfile (or neither).")
    for f in (certfile, keyfile):
        if f and not Path(f).is_file():
            raise SystemExit(f"Refusing to serve: {f} is not a readable file")
    provider = _login_provider(host, secure_cookies=bool(certfile) or behind_proxy)
    force_local_resources()
    start_warm_up()  # the model loads while the server starts and the first page's scripts load
    scheme = "https" if certfile else "http"
    print(f"injectmap: serving on {scheme}://{host}:{port}/ (the face model is loading)", flush=True)
    kwargs: dict[str, Any] = {"websocket_max_message_size": int_limit("websocket_max_message_bytes"),
                              # a closed page's session (and the faces only it held) is freed soon after it
                              # closed; a new page has the lifetime to connect (server_limits.json)
                              "check_unused_sessions_milliseconds": round(limit("closed_session_check_s") * 1000),
                              "unused_session_lifetime_milliseconds": round(
                                  limit("unconnected_session_lifetime_s") * 1000)}
    if provider is not None:
        kwargs.update(auth_provider=provider, cookie_secret=uuid.uuid4().hex)
    if certfile:
        kwargs.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
    if behind_proxy:
        kwargs["use_xheaders"] = True
    origin = [f"{host}:{port}"] + ([f"localhost:{port}", f"127.0.0.1:{port}"] if host in LOOPBACK else [])
    origin += list(origins or [])
    server = pn.serve({"/": session_page}, port=port, address=host, show=False, title="injectmap",
                      websocket_origin=origin, start=False, **kwargs)
    SecurityHeaders.hsts = bool(certfile)
    # every handler (pages, login, static files); first, so that it sees the HTML before any compression
    server._tornado.transforms.insert(0, SecurityHeaders)
    server.start()
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
