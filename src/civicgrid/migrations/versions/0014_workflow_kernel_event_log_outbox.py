"""workflow kernel: one event log, one outbox, versions of the authority list

Every record's history moves into `events` (the cases' timelines, the registry's changes,
and the warnings' handling, which until now kept only its latest who and why), every
message into `outbox` (answers to reporters, notices of warnings); the authority list
keeps its versions, and open cases the version they were routed by; units may have a
webhook for their own system.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import civicgrid.core.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("sms", "email", "web", "webhook")
DELIVERY = ("pending", "sent", "failed")
LIST_CHANGES = ("replace", "add", "change", "remove")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_name", sa.String(length=120), nullable=False),
        sa.Column("actor_role", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=True),
        sa.Column("at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_record", ["kind", "record_id", "id"], unique=False)
        batch_op.create_index("ix_events_actor", ["actor_name", "at"], unique=False)
        batch_op.create_index(
            "ix_events_case_overdue",
            ["record_id"],
            unique=False,
            postgresql_where=sa.text("kind = 'case' AND action = 'overdue'"),
            sqlite_where=sa.text("kind = 'case' AND action = 'overdue'"),
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_kind", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=120), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(*CHANNELS, name="messagechannel", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*DELIVERY, name="delivery", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["state", "next_attempt_at", "id"], unique=False)
        batch_op.create_index("ix_outbox_record", ["record_kind", "record_id", "id"], unique=False)

    op.create_table(
        "authority_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "change",
            sa.Enum(*LIST_CHANGES, name="listchange", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_lists")),
    )
    _first_version_of_existing_rules()
    with op.batch_alter_table("authority_rules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version_from", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("version_to", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_authority_rules_version_from_authority_lists"),
            "authority_lists",
            ["version_from"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_authority_rules_version_to_authority_lists"),
            "authority_lists",
            ["version_to"],
            ["id"],
        )
        batch_op.create_index("ix_authority_rules_in_force", ["version_to", "id"], unique=False)
    with op.batch_alter_table("authority_rules", schema=None) as batch_op:
        batch_op.alter_column("version_from", server_default=None)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_version", sa.Integer(), nullable=True))
    op.execute("UPDATE cases SET rule_version = 1 WHERE EXISTS (SELECT 1 FROM authority_lists)")

    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_url", sa.String(length=500), nullable=False, server_default="")
        )

    _move_history_and_messages()

    with op.batch_alter_table("case_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_case_messages_unsent")
        batch_op.drop_index(batch_op.f("ix_case_messages_case_id"))
    op.drop_table("case_messages")
    op.drop_table("case_events")
    with op.batch_alter_table("warning_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_warning_notices_unsent")
        batch_op.drop_index(batch_op.f("ix_warning_notices_warning_id"))
    op.drop_table("warning_notices")
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_changes_record")
    op.drop_table("registry_changes")


def _first_version_of_existing_rules() -> None:
    """An existing authority list becomes version 1."""
    op.execute(
        "INSERT INTO authority_lists (id, change, created_by, created_at, reason) "
        "SELECT 1, 'replace', 'system', CURRENT_TIMESTAMP, '' "
        "WHERE EXISTS (SELECT 1 FROM authority_rules)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('authority_lists', 'id'), "
            "COALESCE((SELECT MAX(id) FROM authority_lists), 0) + 1, false)"
        )


def _move_history_and_messages() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    obj = "json_build_object" if postgresql else "json_object"
    arr = "json_build_array" if postgresql else "json_array"
    empty_list = "'[]'::json" if postgresql else "'[]'"
    # The cases' timelines, in their order.
    op.execute(
        "INSERT INTO events (kind, record_id, action, actor_name, actor_role, from_state, "
        "to_state, at, note, data, attachments) "
        "SELECT 'case', case_id, action, actor_name, actor_role, from_status, to_status, at, "
        "note, data, attachments FROM case_events ORDER BY id"
    )
    # The registry's field changes, one event each.
    op.execute(
        "INSERT INTO events (kind, record_id, action, actor_name, actor_role, from_state, "
        "to_state, at, note, data, attachments) "
        "SELECT 'registry.' || kind, record_id, "
        "CASE WHEN batch_id IS NULL THEN 'correct' ELSE 'import' END, actor, '', NULL, NULL, "
        f"at, reason, {obj}('changes', {obj}(field, {arr}(old, new)), 'batch', batch_id), "
        f"{empty_list} FROM registry_changes ORDER BY id"
    )
    # The warnings: raised by a scan; handled (the latest who and why, all that was kept).
    op.execute(
        "INSERT INTO events (kind, record_id, action, actor_name, actor_role, from_state, "
        "to_state, at, note, data, attachments) "
        f"SELECT 'warning', id, 'raise', 'system', '', NULL, 'new', created_at, '', {obj}(), "
        f"{empty_list} FROM warnings ORDER BY id"
    )
    op.execute(
        "INSERT INTO events (kind, record_id, action, actor_name, actor_role, from_state, "
        "to_state, at, note, data, attachments) "
        "SELECT 'warning', id, CASE state WHEN 'closed' THEN 'close' ELSE 'acknowledge' END, "
        f"handled_by, '', 'new', state, handled_at, note, {obj}(), {empty_list} FROM warnings "
        "WHERE handled_by IS NOT NULL AND handled_at IS NOT NULL ORDER BY id"
    )
    # Answers to reporters and notices of warnings, with whether they went out.
    op.execute(
        "INSERT INTO outbox (record_kind, record_id, recipient, channel, address, subject, "
        "body, created_at, state, attempts, next_attempt_at, sent_at, last_error) "
        "SELECT 'case', case_id, 'reporter:' || reporter_id, channel, recipient, '', body, "
        "created_at, CASE WHEN sent_at IS NULL THEN 'pending' ELSE 'sent' END, "
        "CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END, "
        "CASE WHEN sent_at IS NULL THEN created_at END, sent_at, '' "
        "FROM case_messages ORDER BY id"
    )
    op.execute(
        "INSERT INTO outbox (record_kind, record_id, recipient, channel, address, subject, "
        "body, created_at, state, attempts, next_attempt_at, sent_at, last_error) "
        "SELECT 'warning', warning_id, 'user:' || username, channel, recipient, '', body, "
        "created_at, CASE WHEN sent_at IS NULL THEN 'pending' ELSE 'sent' END, "
        "CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END, "
        "CASE WHEN sent_at IS NULL THEN created_at END, sent_at, '' "
        "FROM warning_notices ORDER BY id"
    )


def downgrade() -> None:
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_name", sa.String(length=120), nullable=False),
        sa.Column("actor_role", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_events_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_case_events_overdue",
            ["case_id"],
            unique=False,
            postgresql_where=sa.text("action = 'overdue'"),
            sqlite_where=sa.text("action = 'overdue'"),
        )
    op.execute(
        "INSERT INTO case_events (case_id, action, actor_name, actor_role, from_status, "
        "to_status, at, note, data, attachments) SELECT record_id, action, actor_name, "
        "actor_role, from_state, to_state, at, note, data, attachments FROM events "
        "WHERE kind = 'case' ORDER BY id"
    )
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_messages_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["case_reporters.id"],
            name=op.f("fk_case_messages_reporter_id_case_reporters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_messages")),
    )
    with op.batch_alter_table("case_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_messages_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_case_messages_unsent", ["sent_at", "id"], unique=False)
    op.execute(
        "INSERT INTO case_messages (case_id, reporter_id, channel, recipient, body, "
        "created_at, sent_at) SELECT record_id, CAST(substr(recipient, 10) AS INTEGER), "
        "channel, address, body, "
        "created_at, sent_at FROM outbox WHERE record_kind = 'case' "
        "AND recipient LIKE 'reporter:%' ORDER BY id"
    )
    op.create_table(
        "warning_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["warning_id"], ["warnings.id"], name=op.f("fk_warning_notices_warning_id_warnings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_notices")),
    )
    with op.batch_alter_table("warning_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_warning_notices_warning_id"), ["warning_id"], unique=False
        )
        batch_op.create_index("ix_warning_notices_unsent", ["sent_at", "id"], unique=False)
    op.execute(
        "INSERT INTO warning_notices (warning_id, username, channel, recipient, body, "
        "created_at, sent_at) SELECT record_id, substr(recipient, 6), channel, address, body, "
        "created_at, sent_at FROM outbox WHERE record_kind = 'warning' ORDER BY id"
    )
    op.create_table(
        "registry_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old", sa.Text(), nullable=False),
        sa.Column("new", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["registry_batches.id"],
            name=op.f("fk_registry_changes_batch_id_registry_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_changes")),
    )
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.create_index("ix_registry_changes_record", ["kind", "record_id"], unique=False)
    # The registry's and warnings' histories go with the event log (the old tables kept
    # one field per row and only a warning's latest handling).
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_column("webhook_url")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("rule_version")
    op.execute("DELETE FROM authority_rules WHERE version_to IS NOT NULL")
    with op.batch_alter_table("authority_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_authority_rules_in_force")
        batch_op.drop_constraint(
            batch_op.f("fk_authority_rules_version_to_authority_lists"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_authority_rules_version_from_authority_lists"), type_="foreignkey"
        )
        batch_op.drop_column("version_to")
        batch_op.drop_column("version_from")
    op.drop_table("authority_lists")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_record")
        batch_op.drop_index("ix_outbox_due")
    op.drop_table("outbox")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_case_overdue")
        batch_op.drop_index("ix_events_actor")
        batch_op.drop_index("ix_events_record")
    op.drop_table("events")
