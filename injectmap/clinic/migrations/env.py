"""Alembic's environment for the patient records, configured by clinic.db (no alembic.ini).

clinic.db.migration_config passes the open connection in ``config.attributes["connection"]``; this file
runs the migrations on it (online only: the records are never migrated by printing SQL).
"""

from __future__ import annotations

from alembic import context

from injectmap.clinic.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - clinic.db always passes one
    raise RuntimeError("the records' migrations run through injectmap.clinic.db (a connection is needed)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
