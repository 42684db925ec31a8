"""Serving the app: ``injectmap serve`` (:func:`serve`) and the page each browser gets (:func:`session_page`).

The server listens at once and the warm-up (:func:`~viewer.session.start_warm_up`) loads the model,
its display meshes and the modules a session uses, in a background thread, while the first page and
its scripts load; each page's app is built once the browser has connected and the warm-up is done.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import panel as pn

from injectmap.viewer.app import create_app
from injectmap.viewer.session import SessionLayout, start_warm_up, wait_for_warm_up

log = logging.getLogger("injectmap.viewer")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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


def serve(port: int = 5006, host: str = "127.0.0.1", password: str | None = None) -> None:
    """Serve the app (blocking). A host other than loopback needs a password (basic auth).

    Raises
    ------
    SystemExit
        For a non-loopback host without a password.
    """
    if host not in LOOPBACK and not password:
        raise SystemExit(
            f"Refusing to serve on {host}: the app would be reachable from other machines without a "
            "password. Give a password (injectmap serve --password ...) or serve on 127.0.0.1.")
    start_warm_up()  # the model loads while the server starts and the first page's scripts load
    print(f"injectmap: serving on http://{host}:{port}/ (the face model is loading)", flush=True)
    kwargs: dict[str, Any] = {}
    if password:
        kwargs["basic_auth"] = password
        kwargs["cookie_secret"] = uuid.uuid4().hex
    origin = [f"{host}:{port}"] + ([f"localhost:{port}"] if host in LOOPBACK else [])
    pn.serve({"/": session_page}, port=port, address=host, show=False, title="injectmap",
             websocket_origin=origin, **kwargs)
