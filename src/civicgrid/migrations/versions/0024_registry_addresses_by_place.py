"""Registry: the standard addresses indexed by latitude and longitude, which the base map's
doors inside a map's bounds are read by

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 05:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registry_addresses", schema=None) as batch_op:
        batch_op.create_index("ix_registry_addresses_place", ["lat", "lon"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_addresses", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_addresses_place")
