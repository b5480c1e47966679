"""supporters see what the public sees

A resident who adds her voice (附议) to a case becomes a reporter row marked `supporter`:
she hears the case's answers and sees what the public sees of it, not the reporters' words
or place.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_reporters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("supporter", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Those who joined a case before: every reporter row written after the case's first
    # that came with a "join" row of the same account or without one. A voice added to a
    # case is the only way a reporter row joins a case but a merge, whose rows are copies
    # made at the merge's moment; joins are told apart by their timeline row's time.
    op.execute(
        "UPDATE case_reporters SET supporter = TRUE WHERE EXISTS ("
        "SELECT 1 FROM events WHERE events.kind = 'case' AND events.action = 'join' "
        "AND events.record_id = case_reporters.case_id AND events.at = case_reporters.created_at)"
    )


def downgrade() -> None:
    with op.batch_alter_table("case_reporters", schema=None) as batch_op:
        batch_op.drop_column("supporter")
