"""The records' database: an engine from a URL, owner-only SQLite files, and the Alembic migrations.

- :func:`make_engine`: SQLite (the default, one file) or PostgreSQL (``postgresql://`` URLs use psycopg 3).
  A SQLite file's folder is created 0700 and the file 0600 before SQLite opens it (its ``-wal`` and
  ``-shm`` files take the database file's mode); every connection turns foreign keys on, uses WAL and
  waits for another writer (``sqlite_busy_timeout_s`` in records.yaml). Statements never log their
  parameters or rows (``hide_parameters``, and the engine's logger kept at WARNING): they carry patient data.
- :func:`upgrade`: ``alembic upgrade head`` on the database, configured in code (script location
  ``injectmap.clinic:migrations``; no alembic.ini), in one transaction. On PostgreSQL an advisory lock keeps two
  processes from migrating at once; on SQLite foreign keys are off while tables are copied and checked before the
  commit. :func:`open_engine` does both and is what clinic.records uses. :func:`downgrade` takes a database back
  to an older migration (before an older injectmap runs on it), audited in its transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Engine, Integer, String, column, create_engine, event, inspect, table, text
from sqlalchemy.engine import URL, make_url

from injectmap.clinic.config import database_url, limits

__all__ = ["DatabaseError", "current_revision", "downgradable", "downgrade", "head_revision", "make_engine",
           "migration_config", "pg_dump_command", "open_engine", "owner_only_folder", "sqlite_backup", "sqlite_path",
           "upgrade"]

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

    def step(conn: Connection) -> None:
        at = MigrationContext.configure(conn).get_current_revision()
        if at is not None and at not in known:
            raise DatabaseError(f"the records database is at migration {at}, which this injectmap does not "
                                f"know (newest here: {head}); use the newer injectmap that wrote it")
        if at != head:
            command.upgrade(migration_config(conn), "head")

    try:
        if current_revision(engine) == head:
            return head  # the usual open: nothing to do, and no write lock taken for it
    except Exception:  # noqa: BLE001, S110 - unreachable or unreadable: the migration below says how
        pass
    _migrate(engine, step, "cannot open the records database")
    return head


def downgrade(engine: Engine, revision: str, actor: str) -> str:
    """Take the database back to an older migration of this program (``alembic downgrade REVISION``), in one
    transaction, before running an older injectmap on it (which refuses a database it does not know). What the
    later migrations added is dropped with them (0003: the patients' distances; 0002: the visits' fitted faces and
    the photos' names): back the database up first. Returns ``revision``.

    The downgrade is audited as the records' changes are (clinic.records): one ``audit`` row (when, ``actor``,
    action ``downgrade``, table ``alembic_version``, detail ``from=0003 to=0002``; no row or patient) written in the
    same transaction, after the migrations are taken back, into the older schema's audit table. Every migration
    this program goes back to has one (0001 creates it, and 0001 itself is never taken back); a downgrade that
    left no audit table would be refused and rolled back rather than made unaudited.

    Raises
    ------
    DatabaseError
        An unknown revision, one not older than the database's, a database with no schema or written by a newer
        injectmap, one that cannot be reached, or a downgrade that leaves no audit table to record it in.
    """
    def step(conn: Connection) -> None:
        at = _downgradable(MigrationContext.configure(conn).get_current_revision(), revision)
        command.downgrade(migration_config(conn), revision)
        _audit_downgrade(conn, actor, at, revision)

    _downgradable(current_revision(engine), revision)  # refused before any lock is taken
    _migrate(engine, step, "cannot take the records database back")
    return revision


#: the audit table as migration 0001 made it (the columns a downgrade's row fills, at any older schema)
_AUDIT = table("audit", column("at", DateTime(timezone=True)), column("actor", String), column("action", String),
               column("table_name", String), column("row_id", Integer), column("patient_id", Integer),
               column("detail", String))


def _audit_downgrade(conn: Connection, actor: str, at: str, revision: str) -> None:
    """The audit row of a downgrade from migration ``at`` to ``revision``, on the downgrade's connection."""
    if not inspect(conn).has_table("audit"):
        raise DatabaseError(f"taking the records database back to {revision} leaves no audit table to record it in: "
                            "nothing was changed")
    conn.execute(_AUDIT.insert().values(at=dt.datetime.now(dt.timezone.utc), actor=actor, action="downgrade",
                                        table_name="alembic_version", row_id=None, patient_id=None,
                                        detail=f"from={at} to={revision}"))


def downgradable(engine: Engine, revision: str) -> str:
    """The database's migration, when :func:`downgrade` may take it back to ``revision`` (else DatabaseError)."""
    return _downgradable(current_revision(engine), revision)


def _downgradable(at: str | None, revision: str) -> str:
    head, known = _revisions()
    order = _order()
    if revision not in known:
        raise DatabaseError(f"{revision!r} is not a migration of this injectmap (they are {', '.join(order)})")
    if at is None:
        raise DatabaseError("the records database has no schema yet: nothing to take back")
    if at not in known:
        raise DatabaseError(f"the records database is at migration {at}, which this injectmap does not know "
                            f"(newest here: {head}); take it back with the newer injectmap that wrote it")
    if order.index(revision) >= order.index(at):
        raise DatabaseError(f"the records database is at migration {at}: {revision} is not older")
    return at


def _order() -> list[str]:
    """This program's migrations, oldest first."""
    scripts = ScriptDirectory.from_config(migration_config())
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def _migrate(engine: Engine, step: Callable[[Connection], None], failed: str) -> None:
    """Run ``step`` (the migrations) on one connection in one transaction: on PostgreSQL under the advisory lock
    (two processes never migrate at once), on SQLite as :func:`_sqlite_migration` says."""
    try:
        if engine.dialect.name == "sqlite":
            _sqlite_migration(engine, step)
            return
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            step(conn)
    except DatabaseError:
        raise
    except Exception as exc:
        raise DatabaseError(f"{failed}: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def _sqlite_migration(engine: Engine, step: Callable[[Connection], None]) -> None:
    """SQLite alters a table by copying it (Alembic's batch mode): the old table's DROP fails while foreign keys
    are on and other tables' rows point at it (a downgrade, or any later migration that alters ``visits`` once
    visits exist), and SQLite turns them off only outside a transaction. So the migration runs with them off, in
    one explicit transaction that takes the write lock at once (the driver would otherwise commit each schema
    statement on its own, and a failure half-way would leave half a migration), and commits only when
    ``PRAGMA foreign_key_check`` finds no row pointing at one that does not exist; the connection goes back to the
    pool with them on."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # BEGIN and COMMIT are ours
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                step(conn)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise DatabaseError(f"the migration would leave {len(broken)} row(s) of {broken[0][0]} pointing "
                                        "at rows that do not exist; nothing was changed")
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                try:
                    conn.exec_driver_sql("ROLLBACK")
                except Exception:  # noqa: BLE001, S110 - SQLite may have rolled back by itself: the first error says why
                    pass
                raise
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


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
