"""Registry: the search indexes on PostgreSQL (trigrams of each text with its characters
repeated, pg_trgm)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 04:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

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
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension: the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, expression in SEARCH_INDEXES:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _expression in SEARCH_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
