"""Alembic environment: the metadata is CivicGrid's; the connection comes from core.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import civicgrid.bootstrap  # noqa: F401  (registers every table)
from civicgrid.core.db import metadata
from civicgrid.core.migrate import compared

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        include_object=compared,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
