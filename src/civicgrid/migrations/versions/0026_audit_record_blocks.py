"""Audit entries are found by the records they name through a GIN index of the blocks of
1,024 record numbers each names (a key or two a page read, written at once) instead of
every number (a hundred keys a page read, whose pending list stalled an insert for 300 to
600 ms every few seconds when merged); PostgreSQL only, as before

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 11:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # core.ledger.RECORD_BLOCKS: "17,18,2049" is in blocks {0, 2} (core.ledger.RECORD_BLOCK).
    op.execute(
        "CREATE FUNCTION audit_record_blocks(ids text) RETURNS bigint[]"
        " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS"
        " $$ SELECT array_agg(DISTINCT x / 1024)"
        " FROM unnest(CAST(string_to_array(ids, ',') AS bigint[])) AS x $$"
    )
    op.execute("DROP INDEX ix_audit_entries_record_ids")
    op.execute(
        "CREATE INDEX ix_audit_entries_record_blocks ON audit_entries"
        " USING gin (audit_record_blocks(record_ids)) WITH (fastupdate = off)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_audit_entries_record_blocks")
    op.execute("DROP FUNCTION audit_record_blocks(text)")
    op.execute(
        "CREATE INDEX ix_audit_entries_record_ids ON audit_entries"
        " USING gin ((CAST(string_to_array(record_ids, ',') AS BIGINT[])))"
    )
