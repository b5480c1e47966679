"""Audit entries are written once: their places in the tree move to audit_leaves and the
sequencer's queue to audit_pending, instead of a leaf_index column the sequencer filled
in by rewriting each entry's row (and every index over it) a second time

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 11:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_leaves")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_audit_leaves_entry_id")),
    )
    op.create_table(
        "audit_pending",
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_audit_pending")),
    )
    op.execute(
        "INSERT INTO audit_leaves (leaf_index, entry_id)"
        " SELECT leaf_index, id FROM audit_entries WHERE leaf_index IS NOT NULL"
    )
    op.execute(
        "INSERT INTO audit_pending (entry_id, leaf_hash)"
        " SELECT id, leaf_hash FROM audit_entries WHERE leaf_index IS NULL"
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_audit_entries_pending",
            postgresql_where=sa.text("leaf_index IS NULL"),
            sqlite_where=sa.text("leaf_index IS NULL"),
        )
        batch_op.drop_constraint(op.f("uq_audit_entries_leaf_index"), type_="unique")
        batch_op.drop_column("leaf_index")


def downgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaf_index", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_audit_entries_leaf_index"), ["leaf_index"])
        batch_op.create_index(
            "ix_audit_entries_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text("leaf_index IS NULL"),
            sqlite_where=sa.text("leaf_index IS NULL"),
        )
    op.execute(
        "UPDATE audit_entries SET leaf_index = (SELECT l.leaf_index FROM audit_leaves l"
        " WHERE l.entry_id = audit_entries.id)"
    )
    op.drop_table("audit_pending")
    op.drop_table("audit_leaves")
