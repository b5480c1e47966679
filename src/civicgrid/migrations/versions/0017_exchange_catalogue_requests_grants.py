"""the data-sharing exchange: catalogue, uploads, requests and grants

The catalogue's datasets with their graded fields and each field's measured quality; the
rows of uploaded datasets with their batches and the rows kept for correction; share
requests and grants, whose histories are rows of the event log.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 03:11:00.545800
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import civicgrid.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("owner_unit", sa.String(length=64), nullable=False),
        sa.Column("title_zh", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column(
            "source_kind",
            sa.Enum(
                "registry",
                "cases",
                "file",
                "question",
                name="sourcekind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("source_name", sa.String(length=32), nullable=False),
        sa.Column(
            "frequency",
            sa.Enum(
                "realtime",
                "daily",
                "weekly",
                "monthly",
                "quarterly",
                "yearly",
                name="frequency",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "share_class",
            sa.Enum(
                "unconditional",
                "conditional",
                "not_shared",
                name="shareclass",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("key_field", sa.String(length=64), nullable=False),
        sa.Column("grid_field", sa.String(length=64), nullable=False),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("data_updated_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("quality_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_unit"],
            ["departments.code"],
            name=op.f("fk_exchange_datasets_owner_unit_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_datasets")),
        sa.UniqueConstraint("code", name=op.f("uq_exchange_datasets_code")),
    )
    with op.batch_alter_table("exchange_datasets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_datasets_owner_unit"), ["owner_unit"], unique=False
        )

    op.create_table(
        "exchange_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=400), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("started_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["exchange_datasets.id"],
            name=op.f("fk_exchange_batches_dataset_id_exchange_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_batches")),
    )
    with op.batch_alter_table("exchange_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_batches_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "exchange_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("column", sa.String(length=200), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "text",
                "integer",
                "number",
                "date",
                "datetime",
                "name",
                "phone",
                "identity",
                "hash",
                "credit_code",
                "address",
                "grid",
                name="fieldtype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("meaning_zh", sa.String(length=500), nullable=False),
        sa.Column("meaning_en", sa.String(length=500), nullable=False),
        sa.Column(
            "grade",
            sa.Enum("general", "important", "core", name="grade", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "personal",
            sa.Enum("none", "personal", "sensitive", name="personal", native_enum=False, length=16),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["exchange_datasets.id"],
            name=op.f("fk_exchange_fields_dataset_id_exchange_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_fields")),
        sa.UniqueConstraint("dataset_id", "name", name="uq_exchange_fields_dataset_name"),
    )
    op.create_table(
        "exchange_quality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("filled", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=True),
        sa.Column("duplicates", sa.Integer(), nullable=True),
        sa.Column("computed_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["exchange_datasets.id"],
            name=op.f("fk_exchange_quality_dataset_id_exchange_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_quality")),
        sa.UniqueConstraint("dataset_id", "field", name="uq_exchange_quality_dataset_field"),
    )
    op.create_table(
        "exchange_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("requester_unit", sa.String(length=64), nullable=False),
        sa.Column("owner_unit", sa.String(length=64), nullable=False),
        sa.Column("asked_by", sa.String(length=120), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("area_code", sa.String(length=32), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("filter_field", sa.String(length=64), nullable=False),
        sa.Column("filter_values", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "asked",
                "review",
                "approved",
                "refused",
                "withdrawn",
                name="requeststate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("needs_admin", sa.Boolean(), nullable=False),
        sa.Column("owner_decided_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("step_started_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("warn_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("paused_remaining_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["exchange_datasets.id"],
            name=op.f("fk_exchange_requests_dataset_id_exchange_datasets"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_unit"],
            ["departments.code"],
            name=op.f("fk_exchange_requests_requester_unit_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_requests")),
    )
    with op.batch_alter_table("exchange_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_requests_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(
            "ix_exchange_requests_due", ["state", "overdue", "deadline_at"], unique=False
        )
        batch_op.create_index("ix_exchange_requests_owner", ["owner_unit", "id"], unique=False)
        batch_op.create_index(
            "ix_exchange_requests_requester", ["requester_unit", "id"], unique=False
        )

    op.create_table(
        "exchange_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.String(length=200), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["exchange_datasets.id"],
            name=op.f("fk_exchange_rows_dataset_id_exchange_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rows")),
    )
    with op.batch_alter_table("exchange_rows", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_rows_dataset", ["dataset_id", "id"], unique=False)
        batch_op.create_index("ix_exchange_rows_grid", ["dataset_id", "grid_code"], unique=False)

    op.create_table(
        "exchange_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("consumer_unit", sa.String(length=64), nullable=False),
        sa.Column("owner_unit", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("area_code", sa.String(length=32), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("filter_field", sa.String(length=64), nullable=False),
        sa.Column("filter_values", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("starts_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "active", "expired", "revoked", name="grantstate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("ended_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.Column("created_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", civicgrid.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["exchange_datasets.id"],
            name=op.f("fk_exchange_grants_dataset_id_exchange_datasets"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["exchange_requests.id"],
            name=op.f("fk_exchange_grants_request_id_exchange_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_grants")),
    )
    with op.batch_alter_table("exchange_grants", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_grants_expiry", ["state", "expires_at"], unique=False)
        batch_op.create_index("ix_exchange_grants_owner", ["owner_unit", "id"], unique=False)
        batch_op.create_index(
            "ix_exchange_grants_reader", ["consumer_unit", "dataset_id", "state"], unique=False
        )

    op.create_table(
        "exchange_rejects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exchange_batches.id"],
            name=op.f("fk_exchange_rejects_batch_id_exchange_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rejects")),
    )
    with op.batch_alter_table("exchange_rejects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_rejects_batch_id"), ["batch_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("exchange_rejects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_rejects_batch_id"))

    op.drop_table("exchange_rejects")
    with op.batch_alter_table("exchange_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_grants_reader")
        batch_op.drop_index("ix_exchange_grants_owner")
        batch_op.drop_index("ix_exchange_grants_expiry")

    op.drop_table("exchange_grants")
    with op.batch_alter_table("exchange_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_rows_grid")
        batch_op.drop_index("ix_exchange_rows_dataset")

    op.drop_table("exchange_rows")
    with op.batch_alter_table("exchange_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_requests_requester")
        batch_op.drop_index("ix_exchange_requests_owner")
        batch_op.drop_index("ix_exchange_requests_due")
        batch_op.drop_index(batch_op.f("ix_exchange_requests_dataset_id"))

    op.drop_table("exchange_requests")
    op.drop_table("exchange_quality")
    op.drop_table("exchange_fields")
    with op.batch_alter_table("exchange_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_batches_dataset_id"))

    op.drop_table("exchange_batches")
    with op.batch_alter_table("exchange_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_datasets_owner_unit"))

    op.drop_table("exchange_datasets")
