"""Registry: the standard address's map, building footprints and named roads with their
bounding boxes, which the base map draws where the city configures no tiles

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 04:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import civicgrid.core.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_map_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("updated_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_map_features")),
    )
    with op.batch_alter_table("registry_map_features", schema=None) as batch_op:
        batch_op.create_index("ix_registry_map_features_box", ["min_lon", "min_lat"], unique=False)
        batch_op.create_index("ix_registry_map_features_grid", ["grid_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_map_features", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_map_features_grid")
        batch_op.drop_index("ix_registry_map_features_box")
    op.drop_table("registry_map_features")
