"""Fixtures of the clinic tests: the records on SQLite and on a throwaway PostgreSQL server.

:func:`pg_server` (session-scoped, started only when a test asks for PostgreSQL) makes a cluster with
``initdb`` in a fresh temporary folder, starts it with ``pg_ctl`` listening only on a Unix socket in that
folder (``listen_addresses=''``: no TCP port, so parallel runs never clash), with ``fsync=off`` and small
buffers so it starts in about a second, and stops and removes it at the end. Under pytest-xdist each
worker process starts its own cluster. The records schema is migrated once into a template database;
the tests share one database copied from it, emptied (TRUNCATE) after each test; the migrations' test
gets an empty database of its own.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user (``nobody`` if there
is none), which owns the temporary folder. Without the PostgreSQL binaries (``$INJECTMAP_PG_BIN``, else
/usr/lib/postgresql/*/bin, else the PATH) the PostgreSQL tests are skipped with the reason, and fail
under ``CI=true``.

:func:`db_url` is parametrized over both databases: every test that uses it (or :func:`records`) runs
twice, ``[sqlite]`` and ``[postgresql]``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ENV = "INJECTMAP_PG_BIN"
SUPERUSER = "injectmap"


def _pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl, or None."""
    candidates = [os.environ.get(PG_ENV, "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    candidates.append(str(Path(which).parent) if which else "")
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _server_user() -> tuple[int, int] | None:
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


@dataclass
class PgServer:
    """A running throwaway PostgreSQL server reached through the Unix socket in ``socket_dir``."""

    socket_dir: Path
    template: str
    counter: itertools.count
    records: str | None = None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def admin(self):  # a psycopg connection to the maintenance database, autocommit
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), dbname="postgres", user=SUPERUSER, autocommit=True)


def _run(args: list[str], user: tuple[int, int] | None, log: Path) -> None:
    kwargs = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    with open(log, "ab") as out:
        res = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False, **kwargs)
    if res.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed (exit {res.returncode}): {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL cluster of this test process (see the module's docstring)."""
    pg_bin = _pg_bin()
    if pg_bin is None:
        reason = (f"PostgreSQL server binaries (initdb, pg_ctl) not found: set ${PG_ENV} or install the "
                  "'postgresql' package (scripts/setup.sh does)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="injectmap-pg-"))  # short: a socket path is at most 107 bytes
    data, log = base / "data", base / "server.log"
    if user:
        os.chown(base, *user)
    started = False
    try:
        _run([str(pg_bin / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync", "--no-instructions"], user, base / "initdb.log")
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{base}' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=40")
        _run([str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", opts, "start"],
             user, base / "pg_ctl.log")
        started = True
        server = PgServer(socket_dir=base, template="records_template", counter=itertools.count(1))
        with server.admin() as conn:
            conn.execute(f"CREATE DATABASE {server.template}")
        from injectmap.clinic.db import open_engine

        open_engine(server.url(server.template)).dispose()  # migrated once; tests copy it
        yield server
    finally:
        if started:
            _run([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user,
                 base / "pg_ctl.log")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """The URL of the records database at the newest schema, emptied after each test (truncating is far
    faster than creating a database per test)."""
    import psycopg

    from injectmap.clinic.models import Base

    if pg_server.records is None:
        pg_server.records = f"records_{os.getpid()}"
        with pg_server.admin() as conn:
            conn.execute(f"CREATE DATABASE {pg_server.records} TEMPLATE {pg_server.template} STRATEGY FILE_COPY")
    try:
        yield pg_server.url(pg_server.records)
    finally:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with psycopg.connect(host=str(pg_server.socket_dir), dbname=pg_server.records, user=SUPERUSER,
                             autocommit=True) as conn:
            conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def pg_empty_database(pg_server: PgServer) -> Iterator[str]:
    """The URL of a fresh empty database (no tables), dropped afterwards."""
    name = f"empty_{os.getpid()}_{next(pg_server.counter)}"
    with pg_server.admin() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_server.url(name)
    finally:
        with pg_server.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh records database: a SQLite file in a new folder, or a PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_database")
    return f"sqlite:///{tmp_path / 'db' / 'records.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database with no tables yet (the migrations' test)."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_empty_database")
    return f"sqlite:///{tmp_path / 'db' / 'records.sqlite3'}"


@pytest.fixture
def records(db_url: str, tmp_path: Path):
    """:class:`injectmap.clinic.records.Records` as user ``dr.lee`` on :func:`db_url`, photos in tmp."""
    from injectmap.clinic.records import Records

    rec = Records.open(db_url, user="dr.lee", photos_dir=tmp_path / "photos")
    try:
        yield rec
    finally:
        rec.close()
