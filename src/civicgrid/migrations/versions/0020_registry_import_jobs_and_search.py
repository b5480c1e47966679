"""Registry: import batches on the workflow kernel (queued, running, done, failed, with
progress and the uploaded file waiting for the import job), and the search indexes on
PostgreSQL (trigrams of each text with its characters repeated, pg_trgm)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 04:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import civicgrid.core.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, expression): the same as registry.repository declares (info autogenerate
# False: PostgreSQL writes the expressions back in a form of its own).
_NAMES = "regexp_replace({}, '(.)', '\\1\\1\\1', 'g')"
_TEXTS = "regexp_replace({}, '(.)', '\\1\\1', 'g')"
SEARCH_INDEXES = [
    ("ix_registry_people_name_search", "registry_people", _NAMES.format("name")),
    (
        "ix_registry_people_text_search",
        "registry_people",
        _TEXTS.format("address_text || ' ' || phone"),
    ),
    ("ix_registry_houses_name_search", "registry_houses", _NAMES.format("owner_name")),
    (
        "ix_registry_houses_text_search",
        "registry_houses",
        _TEXTS.format("address_text || ' ' || owner_phone"),
    ),
    ("ix_registry_organisations_name_search", "registry_organisations", _NAMES.format("name")),
    (
        "ix_registry_organisations_text_search",
        "registry_organisations",
        _TEXTS.format("credit_code || ' ' || address_text || ' ' || contact_phone"),
    ),
    ("ix_registry_addresses_text_search", "registry_addresses", _TEXTS.format("text")),
]


def upgrade() -> None:
    with op.batch_alter_table("registry_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "state",
                sa.Enum(
                    "queued",
                    "running",
                    "done",
                    "failed",
                    name="batchstate",
                    native_enum=False,
                    length=16,
                ),
                server_default="done",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("estimated_rows", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("stored_file", sa.String(length=400), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("error", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("error_params", sa.JSON(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension: the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, expression in SEARCH_INDEXES:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _expression in SEARCH_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("registry_batches", schema=None) as batch_op:
        batch_op.drop_column("error_params")
        batch_op.drop_column("error")
        batch_op.drop_column("stored_file")
        batch_op.drop_column("estimated_rows")
        batch_op.drop_column("state")
