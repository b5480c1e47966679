"""Alembic, driven from code: `civicgrid db upgrade` and the server's start-up use this."""

from __future__ import annotations

import warnings
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from civicgrid.core.db import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (creates it when empty)."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def compared(
    item: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """Whether autogenerate compares ITEM: not an index marked `info={"autogenerate":
    False}` (an expression index PostgreSQL writes back in a form of its own, which its
    migration creates and a test of its own checks), in the models or in the database."""
    if type_ != "index":
        return True
    marked = [getattr(i, "info", {}).get("autogenerate") for i in (item, compare_to) if i]
    return False not in marked


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would change: empty when the models and the migrations agree."""
    with engine.connect() as connection, warnings.catch_warnings():
        # SQLite reflects no expression index; ours are PostgreSQL's and left out anyway.
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": True, "include_object": compared},
        )
        return list(compare_metadata(context, metadata))
