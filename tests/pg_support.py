"""A throwaway PostgreSQL cluster for tests (the records' tests and the browser's course of treatment).

:func:`pg_cluster` makes a cluster with ``initdb`` in a fresh temporary folder, starts it with ``pg_ctl``
listening only on a Unix socket in that folder (``listen_addresses=''``: no TCP port, so parallel runs
never clash), with ``fsync=off`` and small buffers so it starts in about a second, and stops and removes it
at the end. PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user
(``nobody`` if there is none), which owns the temporary folder. :func:`pg_bin` finds the binaries
(``$INJECTMAP_PG_BIN``, else /usr/lib/postgresql/*/bin, else the PATH); a test without them is skipped
with :data:`MISSING`, and fails under ``CI=true`` (:func:`require_pg_bin`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ENV = "INJECTMAP_PG_BIN"
SUPERUSER = "injectmap"
MISSING = (f"PostgreSQL server binaries (initdb, pg_ctl) not found: set ${PG_ENV} or install the "
           "'postgresql' package (scripts/setup.sh does)")


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl, or None."""
    candidates = [os.environ.get(PG_ENV, "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    candidates.append(str(Path(which).parent) if which else "")
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def require_pg_bin() -> Path:
    """The binaries' folder; without them the test is skipped (failed under ``CI=true``)."""
    found = pg_bin()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return found


def server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return pw.pw_uid, pw.pw_gid
    pytest.fail("running as root, and no 'postgres' or 'nobody' user to run the PostgreSQL test server as")


def run(args: list[str], user: tuple[int, int] | None, log: Path) -> None:
    """Run a PostgreSQL tool as ``user``, its output appended to ``log``; fail with the log's end."""
    kwargs = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    with open(log, "ab") as out:
        res = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False, **kwargs)
    if res.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed (exit {res.returncode}): {log.read_text()[-2000:]}")


def url(socket_dir: Path, database: str) -> str:
    """The SQLAlchemy URL of ``database`` on the cluster whose socket is in ``socket_dir``."""
    return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={socket_dir}"


def create_database(socket_dir: Path, name: str, template: str | None = None) -> None:
    """Create a database on the cluster (as a copy of ``template`` when given)."""
    import psycopg

    with psycopg.connect(host=str(socket_dir), dbname="postgres", user=SUPERUSER, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""))


@contextmanager
def pg_cluster(binaries: Path) -> Iterator[Path]:
    """A running throwaway cluster; yields the folder of its Unix socket (see the module's description)."""
    user = server_user()
    base = Path(tempfile.mkdtemp(prefix="injectmap-pg-"))  # short: a socket path is at most 107 bytes
    data, log = base / "data", base / "server.log"
    if user:
        os.chown(base, *user)
    started = False
    try:
        run([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync", "--no-instructions"], user, base / "initdb.log")
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{base}' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=40")
        run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", opts, "start"],
            user, base / "pg_ctl.log")
        started = True
        yield base
    finally:
        if started:
            run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user,
                base / "pg_ctl.log")
        shutil.rmtree(base, ignore_errors=True)
