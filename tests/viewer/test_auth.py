"""Logins without a server: the users file, password hashes, throttling, the login page, `injectmap users`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from injectmap.viewer import auth
from injectmap.viewer.limits import int_limit, limit

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys, injectmap.cli; sys.exit(injectmap.cli.main())"]


def test_a_password_is_stored_as_a_salted_scrypt_hash_that_verifies_only_itself() -> None:
    h1, h2 = auth.hash_password("correct horse battery"), auth.hash_password("correct horse battery")
    assert h1 != h2  # a fresh salt each time
    assert h1.startswith(f"scrypt${int_limit('scrypt_log2_n')}$8$1$") and "horse" not in h1
    assert auth.verify_password("correct horse battery", h1)
    assert not auth.verify_password("correct horse batterY", h1)
    assert not auth.verify_password("correct horse battery", "scrypt$garbage")


def test_users_file_is_owner_only_and_read_through_its_model(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "users.json"
    assert auth.add_user(path, "ana.m", "a long password") is True
    assert auth.add_user(path, "ana.m", "another long one") is False  # a new password for the same user
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = auth.load_users(path).users
    assert list(users) == ["ana.m"] and auth.verify_password("another long one", users["ana.m"].hash)
    with pytest.raises(ValueError, match="at least"):
        auth.add_user(path, "bo", "short")
    with pytest.raises(ValueError, match="user name"):
        auth.add_user(path, "<img src=x>", "a long password")
    assert auth.remove_user(path, "ana.m") and not auth.remove_user(path, "ana.m")
    path.write_text(json.dumps({"format": "injectmap-users", "version": 1, "users": {"x": {"hash": "plain"}}}))
    with pytest.raises(auth.UsersFileError, match="not a valid users file"):
        auth.load_users(path)


def test_an_unknown_user_or_a_wrong_password_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    auth.add_user(path, "ana", "a long password")
    assert auth._check(path, "ana", "a long password")
    assert not auth._check(path, "ana", "a long passwort")
    assert not auth._check(path, "anyone", "a long password")  # any user name is no longer accepted


def test_repeated_failures_lock_the_name_then_the_address_and_expire() -> None:
    now = [1000.0]
    guard = auth.LoginGuard(clock=lambda: now[0])
    most = int_limit("login_max_failures")
    for _ in range(most - 1):
        guard.failed("ana", "10.0.0.2")
    assert guard.locked_for("ana", "10.0.0.2") == 0
    guard.failed("ana", "10.0.0.2")
    assert guard.locked_for("ana", "10.0.0.9") == pytest.approx(limit("login_lockout_s"))  # from anywhere
    assert guard.locked_for("bo", "10.0.0.3") == 0  # another user elsewhere is not
    now[0] += limit("login_lockout_s") + 1
    assert guard.locked_for("ana", "10.0.0.2") == 0
    for i in range(int_limit("login_ip_max_failures")):  # one address trying many names
        guard.failed(f"user{i}", "10.0.0.7")
    assert guard.locked_for("someone-else", "10.0.0.7") > 0 and guard.locked_for("someone-else", "10.0.0.8") == 0


def test_failures_outside_the_window_are_forgotten() -> None:
    now = [0.0]
    guard = auth.LoginGuard(clock=lambda: now[0])
    for _ in range(int_limit("login_max_failures") - 1):
        guard.failed("ana", "a")
    now[0] += limit("login_window_s") + 1
    guard.failed("ana", "a")
    assert guard.locked_for("ana", "a") == 0


def test_the_login_page_escapes_what_it_shows_and_loads_nothing() -> None:
    page = auth.login_page(error="<b>x</b>", name='"><script>alert(1)</script>', next_url="https://evil.example/")
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page
    assert 'name="next" value="/"' in page  # never sends a user to another site after the login
    assert "http" not in page.replace('<meta name="viewport"', "")  # no CDN, no external file
    assert auth._local("//evil.example/x") == "/" and auth._local("/?a=1") == "/?a=1"


def _users_cli(args: list[str], tmp_path: Path, stdin: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, INJECTMAP_USERS_FILE=str(tmp_path / "users.json"))
    # a new session has no controlling terminal: getpass reads the password from stdin
    return subprocess.run([*CLI, "users", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
                          timeout=120, start_new_session=True)


def test_users_add_asks_twice_never_takes_the_password_as_an_argument(tmp_path: Path) -> None:
    res = _users_cli(["add", "ana"], tmp_path, "a long password\na long password\n")
    assert res.returncode == 0, res.stderr
    assert "a long password" not in (tmp_path / "users.json").read_text()
    assert auth._check(tmp_path / "users.json", "ana", "a long password")
    res = _users_cli(["add", "bo"], tmp_path, "a long password\nanother one!!\n")
    assert res.returncode == 2 and "differ" in res.stderr
    res = _users_cli(["add", "bo", "a long password"], tmp_path, "")
    assert res.returncode == 2  # no password argument exists
    res = _users_cli(["list"], tmp_path, "")
    assert res.returncode == 0 and res.stdout.split()[0] == "ana"
    res = _users_cli(["remove", "ana"], tmp_path, "")
    assert res.returncode == 0 and auth.load_users(tmp_path / "users.json").users == {}


def test_a_password_that_names_a_file_is_only_a_password(tmp_path: Path, monkeypatch) -> None:
    """Issue 11, item 7: a password that happened to name a file in the working directory was read as a
    credentials file (not JSON: an error on every login; JSON: its users got in)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clinic-notes.txt").write_text("not JSON")
    (tmp_path / "other-users.json").write_text(json.dumps({"eve": "eve's password"}))
    path = tmp_path / "users.json"
    auth.add_user(path, "ana", "clinic-notes.txt")
    assert auth._check(path, "ana", "clinic-notes.txt")
    assert not auth._check(path, "ana", "other-users.json")
    assert not auth._check(path, "eve", "eve's password") and not auth._check(path, "eve", "other-users.json")
