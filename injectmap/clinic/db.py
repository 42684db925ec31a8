"""The records' database: an engine from a URL, owner-only SQLite files, and the Alembic migrations.

- :func:`make_engine`: SQLite (the default, one file) or PostgreSQL (``postgresql://`` URLs use psycopg 3).
  A SQLite file's folder is created 0700 and the file 0600 before SQLite opens it (its ``-wal`` and
  ``-shm`` files take the database file's mode); every connection turns foreign keys on, uses WAL and
  waits for another writer (``sqlite_busy_timeout_s`` in records.yaml). Statements never log their
  parameters or rows (``hide_parameters``, and the engine's logger kept at WARNING): they carry patient data.
- :func:`upgrade`: ``alembic upgrade head`` on the database, configured in code (script location
  ``injectmap.clinic:migrations``; no alembic.ini). On PostgreSQL an advisory lock keeps two processes
  from migrating at once. :func:`open_engine` does both and is what clinic.records uses.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

from injectmap.clinic.config import database_url, limits

__all__ = ["DatabaseError", "current_revision", "head_revision", "make_engine", "migration_config", "pg_dump_command",
           "open_engine", "owner_only_folder", "sqlite_backup", "sqlite_path", "upgrade"]

#: the engine's logger name (``sqlalchemy.engine.Engine.injectmap_records``), held at WARNING
LOGGING_NAME = "injectmap_records"
#: an arbitrary constant naming the advisory lock the migrations take on PostgreSQL
_MIGRATION_LOCK = 720_412_001


class DatabaseError(RuntimeError):
    """The records' database cannot be opened or migrated (one line, no patient data)."""


def owner_only_folder(folder: Path) -> None:
    """Create ``folder`` 0700 (parents too), or tighten an existing one of ours that others can read.

    A shared, sticky folder (``/tmp``) or one of another user is left alone.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_mode & 0o077 and not st.st_mode & 0o1000 and st.st_uid == os.geteuid():
        folder.chmod(0o700)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database or another database)."""
    u = make_url(url) if isinstance(url, str) else url
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _prepare_sqlite_file(path: Path) -> None:
    owner_only_folder(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _normalise(url: str) -> URL:
    try:
        u = make_url(url)
    except Exception as exc:  # an unparsable URL: say so without echoing it (it may hold a password)
        raise DatabaseError(f"not a database URL ({type(exc).__name__}); e.g. sqlite:///path/records.sqlite3 "
                            "or postgresql://user@host/dbname") from None
    backend = u.get_backend_name()
    if backend == "postgresql" and u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise DatabaseError(f"unsupported database {backend!r}: the records run on SQLite or PostgreSQL")
    return u


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(limits().sqlite_busy_timeout_s * 1000)}")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (:func:`injectmap.clinic.config.database_url` decides when None).

    Raises
    ------
    DatabaseError
        For a URL that is not SQLite or PostgreSQL, or a SQLite file that cannot be created.
    """
    u = _normalise(database_url(url))
    logging.getLogger(f"sqlalchemy.engine.Engine.{LOGGING_NAME}").setLevel(logging.WARNING)
    for pool in ("QueuePool", "NullPool", "SingletonThreadPool", "StaticPool"):
        logging.getLogger(f"sqlalchemy.pool.impl.{pool}.{LOGGING_NAME}").setLevel(logging.WARNING)
    kwargs: dict[str, Any] = {"hide_parameters": True, "logging_name": LOGGING_NAME,
                              "pool_logging_name": LOGGING_NAME}
    path = sqlite_path(u)
    if u.get_backend_name() == "sqlite":
        if path is not None:
            try:
                _prepare_sqlite_file(path)
            except OSError as exc:
                raise DatabaseError(f"cannot create the records database {path}: {exc.strerror}") from None
        engine = create_engine(u, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(u, pool_pre_ping=True, **kwargs)


def migration_config(connection: Any = None) -> Config:
    """Alembic's configuration for the records, in code: the scripts in ``injectmap.clinic:migrations``."""
    cfg = Config()
    cfg.set_main_option("script_location", "injectmap.clinic:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _revisions() -> tuple[str, frozenset[str]]:
    scripts = ScriptDirectory.from_config(migration_config())
    head = scripts.get_current_head()
    assert head is not None
    return head, frozenset(s.revision for s in scripts.walk_revisions())


def head_revision() -> str:
    """The newest migration of this program."""
    return _revisions()[0]


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Apply every missing migration (``alembic upgrade head``) in one transaction; returns the head.

    Raises
    ------
    DatabaseError
        When the database is at a revision this program does not know (written by a newer injectmap),
        or cannot be reached.
    """
    head, known = _revisions()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            at = MigrationContext.configure(conn).get_current_revision()
            if at is not None and at not in known:
                raise DatabaseError(f"the records database is at migration {at}, which this injectmap does not "
                                    f"know (newest here: {head}); use the newer injectmap that wrote it")
            if at != head:
                command.upgrade(migration_config(conn), "head")
    except DatabaseError:
        raise
    except Exception as exc:
        raise DatabaseError(f"cannot open the records database: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    return head


def open_engine(url: str | None = None) -> Engine:
    """:func:`make_engine` and :func:`upgrade`: a database ready to use at the newest schema."""
    engine = make_engine(url)
    upgrade(engine)
    return engine


def sqlite_backup(engine: Engine, out: Path) -> Path:
    """Copy a SQLite database to ``out`` with SQLite's online backup API (a consistent copy while others
    keep writing), owner-only (0600), written beside ``out`` and renamed over it when complete.

    Raises
    ------
    DatabaseError
        When the engine is not a SQLite file, or the copy cannot be written.
    """
    import sqlite3
    import tempfile

    if sqlite_path(engine.url) is None:
        raise DatabaseError("the online backup copies a SQLite file; this database is not one")
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)  # 0600
    os.close(fd)
    raw = engine.raw_connection()
    try:
        src = raw.driver_connection
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # type: ignore[union-attr]
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        finally:
            dst.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except (OSError, sqlite3.Error) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DatabaseError(f"the backup could not be written: {exc}") from None
    finally:
        raw.close()
    return out


def pg_dump_command(engine: Engine, out: Path) -> str:
    """The ``pg_dump`` command that backs up a PostgreSQL database to ``out`` (custom format, for
    ``pg_restore``); the password is never put in it (give it with ``~/.pgpass`` or ``PGPASSWORD``)."""
    import shlex

    u = engine.url
    if u.get_backend_name() != "postgresql":
        raise DatabaseError("pg_dump backs up a PostgreSQL database; this database is not one")
    parts = ["pg_dump", "--format=custom", f"--file={out}"]
    host = u.host or u.query.get("host")
    if host:
        parts.append(f"--host={host if isinstance(host, str) else host[0]}")
    if u.port:
        parts.append(f"--port={u.port}")
    if u.username:
        parts.append(f"--username={u.username}")
    parts.append(str(u.database or ""))
    return " ".join(shlex.quote(p) for p in parts)
