"""Fixtures of the clinic tests: the records on SQLite and on a throwaway PostgreSQL server.

:func:`pg_server` (session-scoped, started only when a test asks for PostgreSQL) makes a cluster with
``initdb`` in a fresh temporary folder, starts it with ``pg_ctl`` listening only on a Unix socket in that
folder (``listen_addresses=''``: no TCP port, so parallel runs never clash), with ``fsync=off`` and small
buffers so it starts in about a second, and stops and removes it at the end. Under pytest-xdist each
worker process starts its own cluster. The records schema is migrated once into a template database;
the tests share one database copied from it, emptied (TRUNCATE) after each test; the migrations' test
gets an empty database of its own.

The cluster itself comes from tests/pg_support.py (shared with the browser's course of treatment).
PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user (``nobody`` if there
is none), which owns the temporary folder. Without the PostgreSQL binaries (``$INJECTMAP_PG_BIN``, else
/usr/lib/postgresql/*/bin, else the PATH) the PostgreSQL tests are skipped with the reason, and fail
under ``CI=true``.

:func:`db_url` is parametrized over both databases: every test that uses it (or :func:`records`) runs
twice, ``[sqlite]`` and ``[postgresql]``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_support import SUPERUSER, pg_cluster, require_pg_bin
from pg_support import url as pg_url


@dataclass
class PgServer:
    """A running throwaway PostgreSQL server reached through the Unix socket in ``socket_dir``."""

    socket_dir: Path
    template: str
    counter: itertools.count
    records: str | None = None

    def url(self, database: str) -> str:
        return pg_url(self.socket_dir, database)

    def admin(self):  # a psycopg connection to the maintenance database, autocommit
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), dbname="postgres", user=SUPERUSER, autocommit=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL cluster of this test process (see the module's docstring and tests/pg_support.py)."""
    with pg_cluster(require_pg_bin()) as base:
        server = PgServer(socket_dir=base, template="records_template", counter=itertools.count(1))
        with server.admin() as conn:
            conn.execute(f"CREATE DATABASE {server.template}")
        from injectmap.clinic.db import open_engine

        open_engine(server.url(server.template)).dispose()  # migrated once; tests copy it
        yield server


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
    """:class:`injectmap.clinic.records.Records` as user ``dr.lee`` on :func:`db_url`, photos and faces in tmp."""
    from injectmap.clinic.records import Records

    rec = Records.open(db_url, user="dr.lee", photos_dir=tmp_path / "photos", faces_dir=tmp_path / "faces")
    try:
        yield rec
    finally:
        rec.close()
