"""The migrations (injectmap/clinic/migrations) build exactly the models' schema, on SQLite and PostgreSQL,
are applied when the records are opened, and a database from a newer program is refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from injectmap.clinic.db import DatabaseError, current_revision, head_revision, make_engine, open_engine, upgrade
from injectmap.clinic.models import Base


def test_the_migrated_schema_equals_the_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"} == tables
        upgrade(engine)  # at head: nothing to do, nothing fails
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    finally:
        engine.dispose()


def test_a_database_of_a_newer_program_is_refused(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'zz99'"))
        with pytest.raises(DatabaseError, match="zz99.*does not"):
            upgrade(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})
        engine.dispose()


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("not a url", "not a database URL"),
])
def test_unsupported_urls(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        make_engine(url)


def test_postgresql_urls_use_psycopg_3() -> None:
    engine = make_engine("postgresql://clinic@db.example/records")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()
