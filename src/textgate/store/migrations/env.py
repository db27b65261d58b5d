"""Alembic environment: the engine comes from the caller (see textgate.store.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from textgate.store.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):  # pragma: no cover - only via textgate.store.migrate
    raise RuntimeError("run migrations through textgate.store.migrate.upgrade()")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=engine.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
