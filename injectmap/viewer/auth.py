"""Logins for ``injectmap serve``: named users with scrypt-hashed passwords in a users file, a login
page of our own (nothing loaded from elsewhere), throttling and lockout of repeated failures.

The users file (``$INJECTMAP_USERS_FILE``, else ``~/.config/injectmap/users.json``, owner-only) is
written by ``injectmap users add NAME`` and read through one pydantic model (:class:`UsersFile`).
A password is stored as ``scrypt$log2N$r$p$salt$hash`` (hashlib's scrypt, the parameters from
``server_limits.json``), so older hashes keep verifying when the parameters are raised.

The login sets a signed, HttpOnly, SameSite=Strict cookie (Secure when served over TLS or behind an
HTTPS proxy) that names the user and expires after ``login_session_hours``; a user removed from the
file is logged out at the next request. :class:`LoginGuard` counts failures per user name and per
client address: every failure is answered after a delay, and too many lock the name (or the
address) out for a while, the right password included.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tornado.web import RequestHandler

from injectmap.viewer.limits import int_limit, limit

USERS_ENV = "INJECTMAP_USERS_FILE"
COOKIE = "injectmap_user"
LOGIN_URL = "/login"
LOGOUT_URL = "/logout"
#: a user name: letters, digits and . _ - @, 1 to 64 characters (shown in logs and pages)
NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD_CHARS = 10  # project choice: NIST SP 800-63B 3.1.1.2 asks at least 8; a clinic login guards patient plans


class UserRecord(BaseModel):
    """One user: the password hash and when it was set."""

    model_config = ConfigDict(extra="forbid")
    hash: str = Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")
    created: str


class UsersFile(BaseModel):
    """The users file."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["injectmap-users"] = "injectmap-users"
    version: Literal[1] = 1
    users: dict[str, UserRecord] = {}


class UsersFileError(Exception):
    """The users file cannot be read or is not a users file."""


def users_file() -> Path:
    """Where the users are kept: ``$INJECTMAP_USERS_FILE``, else ``~/.config/injectmap/users.json``."""
    return Path(os.environ.get(USERS_ENV) or Path.home() / ".config" / "injectmap" / "users.json")


def load_users(path: Path) -> UsersFile:
    """The users in ``path`` (none when the file does not exist).

    Raises
    ------
    UsersFileError
        When the file is not a regular file, not JSON, or not a users file.
    """
    if not path.exists():
        return UsersFile()
    if not path.is_file():
        raise UsersFileError(f"{path} is not a regular file")
    try:
        return UsersFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise UsersFileError(f"{path} is not a valid users file: {exc}") from exc


def save_users(users: UsersFile, path: Path) -> None:
    """Write the users file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(users.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_name(name: str) -> str:
    """``name`` if it is a valid user name.

    Raises
    ------
    ValueError
        When it is not.
    """
    if not NAME_RE.match(name):
        raise ValueError("a user name is 1 to 64 letters, digits or . _ - @")
    return name


def hash_password(password: str) -> str:
    """The scrypt hash of ``password`` with a fresh salt, parameters included."""
    log2_n, r, p = int_limit("scrypt_log2_n"), int_limit("scrypt_r"), int_limit("scrypt_p")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, log2_n, r, p)
    return f"scrypt${log2_n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=2 * 128 * n * r * p + (1 << 20))


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (compared in constant time)."""
    try:
        _, log2_n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def add_user(path: Path, name: str, password: str) -> bool:
    """Add a user or set a user's password; True when the user is new.

    Raises
    ------
    ValueError
        For an invalid name or a password shorter than :data:`MIN_PASSWORD_CHARS`.
    """
    check_name(name)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    users = load_users(path)
    new = name not in users.users
    users.users[name] = UserRecord(hash=hash_password(password), created=datetime.now(UTC).isoformat(timespec="seconds"))
    save_users(users, path)
    return new


def remove_user(path: Path, name: str) -> bool:
    """Remove a user; False when there was none of that name."""
    users = load_users(path)
    if users.users.pop(name, None) is None:
        return False
    save_users(users, path)
    return True


class LoginGuard:
    """Counts failed logins per user name and per client address; decides who is locked out."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}

    def locked_for(self, name: str, address: str) -> float:
        """Seconds left of the lockout of this name or address (0 when neither is locked)."""
        now = self.clock()
        with self._lock:
            return max(0.0, *(self._locked_until.get(k, 0.0) - now for k in (f"user:{name}", f"addr:{address}")))

    def failed(self, name: str, address: str) -> None:
        """Record a failed login; lock the name or the address when it has failed too often."""
        now, window = self.clock(), limit("login_window_s")
        with self._lock:
            for key, most in ((f"user:{name}", int_limit("login_max_failures")),
                              (f"addr:{address}", int_limit("login_ip_max_failures"))):
                times = self._failures[key]
                times.append(now)
                while times and times[0] < now - window:
                    times.popleft()
                if len(times) >= most:
                    self._locked_until[key] = now + limit("login_lockout_s")
                    times.clear()

    def succeeded(self, name: str) -> None:
        """A successful login forgets the name's earlier failures."""
        with self._lock:
            self._failures.pop(f"user:{name}", None)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>injectmap: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
body {{ font-family: sans-serif; background: #f4f4f4; display: flex; justify-content: center; }}
form {{ background: white; padding: 2em; margin-top: 10vh; border-radius: 6px; width: 20em; }}
label, input, button {{ display: block; width: 100%; box-sizing: border-box; margin-top: .5em; }}
input, button {{ padding: .5em; font-size: 1em; }}
.error {{ color: #a00; }}
</style></head>
<body><form method="post" action="{action}">
<h2>injectmap</h2>
<p class="error" id="login-error">{error}</p>
{xsrf}
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required value="{name}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form></body></html>
"""


def login_page(error: str = "", name: str = "", next_url: str = "/", xsrf: str = "") -> str:
    """The login page: self-contained (no script, nothing fetched), every given text escaped."""
    esc = html.escape
    return _PAGE.format(action=esc(LOGIN_URL), error=esc(error), name=esc(name), next=esc(_local(next_url)),
                        xsrf=xsrf)


def _local(url: str) -> str:
    """``url`` if it is a path on this server, else ``/`` (no redirect to another site after a login)."""
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else "/"


class LoginHandler(RequestHandler):
    """``/login``: the form (GET) and its check (POST); bound to a users file by :func:`make_auth_provider`."""

    users_path: Path
    guard: LoginGuard
    secure_cookies: bool

    def get(self) -> None:
        self._page("", "", self.get_argument("next", "/"), 200)

    def _page(self, error: str, name: str, next_url: str, status: int) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(login_page(error, name, next_url, self.xsrf_form_html()))

    async def post(self) -> None:
        self.check_xsrf_cookie()
        name = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        next_url = self.get_body_argument("next", "/")
        address = self.request.remote_ip or "?"
        left = self.guard.locked_for(name, address)
        if left > 0:
            await asyncio.sleep(limit("login_failure_delay_s"))
            minutes = int(left // 60) + 1
            self._page(f"Too many failed logins: locked for {minutes} more minute(s).", name, next_url, 429)
            return
        ok = await asyncio.get_running_loop().run_in_executor(None, _check, self.users_path, name, password)
        if not ok:
            self.guard.failed(name, address)
            await asyncio.sleep(limit("login_failure_delay_s"))
            self._page("Unknown user name or wrong password.", name, next_url, 401)
            return
        self.guard.succeeded(name)
        self.set_signed_cookie(COOKIE, name, expires_days=None, httponly=True, secure=self.secure_cookies,
                               samesite="Strict")
        self.redirect(_local(next_url))


class LogoutHandler(RequestHandler):
    """``/logout``: forget the login cookie and show the login page."""

    def get(self) -> None:
        self.clear_cookie(COOKIE)
        self.redirect(LOGIN_URL)


def current_user(handler: RequestHandler, path: Path) -> str | None:
    """The user named by the request's login cookie: signed, younger than ``login_session_hours`` and
    still in the users file (None otherwise)."""
    raw = handler.get_signed_cookie(COOKIE, max_age_days=limit("login_session_hours") / 24.0)
    if raw is None:
        return None
    name = raw.decode("utf-8", "replace")
    try:
        return name if name in load_users(path).users else None
    except UsersFileError:
        return None


def login_name(cookies: Mapping[str, str] | None = None, secret: str | bytes | None = None) -> str | None:
    """The user logged in to the current session: the name in its signed login cookie (None without logins,
    or for a cookie that is missing, forged or older than ``login_session_hours``).

    Parameters
    ----------
    cookies : mapping, optional
        The cookies of the request that opened the session (the current Panel session's by default).
    secret : str or bytes, optional
        The server's cookie secret (Panel's ``config.cookie_secret`` by default, set by ``injectmap serve``).
    """
    import panel as pn
    from tornado.web import decode_signed_value

    cookies = pn.state.cookies if cookies is None else cookies
    secret = pn.config.cookie_secret if secret is None else secret
    raw = cookies.get(COOKIE) if cookies else None
    if not raw or not secret:
        return None
    value = decode_signed_value(secret, COOKIE, raw, max_age_days=limit("login_session_hours") / 24.0)
    if value is None:
        return None
    name = value.decode("utf-8", "replace")
    return name if NAME_RE.match(name) else None


def make_auth_provider(path: Path, *, secure_cookies: bool, guard: LoginGuard | None = None) -> Any:
    """A Bokeh auth provider for the users in ``path`` (read again at every login and request)."""
    from bokeh.server.auth_provider import AuthProvider

    bound = type("BoundLoginHandler", (LoginHandler,),
                 {"users_path": path, "guard": guard or LoginGuard(), "secure_cookies": secure_cookies})

    class UsersAuthProvider(AuthProvider):
        @property
        def get_user(self) -> Callable[[RequestHandler], str | None]:  # type: ignore[override]  # Bokeh calls it with the handler
            return functools.partial(current_user, path=path)

        @property
        def login_url(self) -> str:
            return LOGIN_URL

        @property
        def login_handler(self) -> type[RequestHandler]:
            return bound

        @property
        def logout_url(self) -> str:
            return LOGOUT_URL

        @property
        def logout_handler(self) -> type[RequestHandler]:
            return LogoutHandler

    return UsersAuthProvider()


#: a hash checked for an unknown user name, so that it takes as long as a wrong password
_DUMMY: list[str] = []


def _check(path: Path, name: str, password: str) -> bool:
    """Whether ``name`` is a user of ``path`` with that password (as slow for an unknown name)."""
    try:
        record = load_users(path).users.get(name)
    except UsersFileError:
        record = None
    if record is None:
        if not _DUMMY:
            _DUMMY.append(hash_password(secrets.token_hex(8)))
        verify_password(password, _DUMMY[0])
        return False
    return verify_password(password, record.hash)
