"""Audit entries are found by the records they name through a GiST index of each entry's
span of record numbers (one key an entry) instead of a GIN index of every number (a
hundred keys a page read, whose pending keys stalled an insert for 300 to 600 ms every
few seconds when merged); PostgreSQL only, as before

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
    # core.ledger.RECORD_SPAN: the least and greatest of "17,18,19", as one range.
    op.execute(
        "CREATE FUNCTION audit_record_span(ids text) RETURNS int8range"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS"
        " $$ SELECT int8range(min(x), max(x), '[]')"
        " FROM unnest(CAST(string_to_array(ids, ',') AS bigint[])) AS x $$"
    )
    op.execute("DROP INDEX ix_audit_entries_record_ids")
    op.execute(
        "CREATE INDEX ix_audit_entries_record_span ON audit_entries"
        " USING gist (audit_record_span(record_ids)) WHERE record_ids IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_audit_entries_record_span")
    op.execute("DROP FUNCTION audit_record_span(text)")
    op.execute(
        "CREATE INDEX ix_audit_entries_record_ids ON audit_entries"
        " USING gin ((CAST(string_to_array(record_ids, ',') AS BIGINT[])))"
    )
