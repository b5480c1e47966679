"""The exchange's tables, mapped onto its plain classes: the catalogue (datasets, their
fields and each field's measured quality), uploaded files (batches, their rows, the rows
kept for correction), share requests and grants. A request's and a grant's history are
rows of the platform's event log, their notices rows of its outbox (core.workflow,
core.outbox)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session, relationship

from civicgrid.core.db import UtcDateTime, enum_column_type, mapper_registry, metadata
from civicgrid.exchange.domain import (
    Dataset,
    DatasetField,
    Frequency,
    Grade,
    Grant,
    GrantState,
    RequestState,
    ShareClass,
    ShareRequest,
    SourceKind,
)
from civicgrid.exchange.masking import FieldType, Personal

exchange_datasets = Table(
    "exchange_datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("owner_unit", String(64), ForeignKey("departments.code"), nullable=False, index=True),
    Column("title_zh", String(200), nullable=False),
    Column("title_en", String(200), nullable=False),
    Column("description_zh", Text, nullable=False),
    Column("description_en", Text, nullable=False),
    Column("source_kind", enum_column_type(SourceKind, 16), nullable=False),
    Column("source_name", String(32), nullable=False),
    Column("frequency", enum_column_type(Frequency, 16), nullable=False),
    Column("share_class", enum_column_type(ShareClass, 16), nullable=False),
    Column("key_field", String(64), nullable=False),
    Column("grid_field", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("data_updated_at", UtcDateTime(), nullable=True),
    Column("quality_at", UtcDateTime(), nullable=True),
    Column("rows", Integer, nullable=False),
)

exchange_fields = Table(
    "exchange_fields",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "dataset_id",
        Integer,
        ForeignKey("exchange_datasets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("column", String(200), nullable=False),
    Column("type", enum_column_type(FieldType, 16), nullable=False),
    Column("meaning_zh", String(500), nullable=False),
    Column("meaning_en", String(500), nullable=False),
    Column("grade", enum_column_type(Grade, 16), nullable=False),
    Column("personal", enum_column_type(Personal, 16), nullable=False),
    UniqueConstraint("dataset_id", "name", name="uq_exchange_fields_dataset_name"),
)

# Each field's quality as last measured: how many rows, how many have a value, how many of
# those the registry's checks pass (null: no check for the field's kind), and for the key
# field how many rows repeat a key.
exchange_quality = Table(
    "exchange_quality",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "dataset_id",
        Integer,
        ForeignKey("exchange_datasets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("field", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("filled", Integer, nullable=False),
    Column("valid", Integer, nullable=True),
    Column("duplicates", Integer, nullable=True),
    Column("computed_at", UtcDateTime(), nullable=False),
    UniqueConstraint("dataset_id", "field", name="uq_exchange_quality_dataset_field"),
)

exchange_batches = Table(
    "exchange_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("exchange_datasets.id"), nullable=False, index=True),
    Column("file_name", String(400), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("encoding", String(32), nullable=False),
    Column("total", Integer, nullable=False),
    Column("imported", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
)

exchange_rejects = Table(
    "exchange_rejects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", Integer, ForeignKey("exchange_batches.id"), nullable=False, index=True),
    Column("row", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("message_zh", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("raw", JSON, nullable=False),
)

# The rows of uploaded datasets: each field's checked value by field name (an identity
# number masked, its keyed hash beside it as "<field>#hash"), the row's key and its grid.
exchange_rows = Table(
    "exchange_rows",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "dataset_id",
        Integer,
        ForeignKey("exchange_datasets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("batch_id", Integer, nullable=False),
    Column("row_key", String(200), nullable=False),
    Column("grid_code", String(32), nullable=True),
    Column("data", JSON, nullable=False),
)
# Paging through a dataset in order, and its rows in an area's grids.
Index("ix_exchange_rows_dataset", exchange_rows.c.dataset_id, exchange_rows.c.id)
Index("ix_exchange_rows_grid", exchange_rows.c.dataset_id, exchange_rows.c.grid_code)


def _terms_columns() -> list[Column[Any]]:
    return [
        Column("purpose", Text, nullable=False),
        Column("fields", JSON, nullable=False),
        Column("area_code", String(32), nullable=False),
        Column("area_path", String(400), nullable=False),
        Column("filter_field", String(64), nullable=False),
        Column("filter_values", JSON, nullable=False),
        Column("starts_on", Date, nullable=False),
        Column("ends_on", Date, nullable=False),
    ]


exchange_requests = Table(
    "exchange_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("exchange_datasets.id"), nullable=False, index=True),
    Column("requester_unit", String(64), ForeignKey("departments.code"), nullable=False),
    Column("owner_unit", String(64), nullable=False),
    Column("asked_by", String(120), nullable=False),
    *_terms_columns(),
    Column("working_days", Integer, nullable=False),
    Column("state", enum_column_type(RequestState, 16), nullable=False),
    Column("needs_admin", Boolean, nullable=False),
    Column("owner_decided_by", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("grant_id", Integer, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("step_started_at", UtcDateTime(), nullable=True),
    Column("deadline_at", UtcDateTime(), nullable=True),
    Column("warn_at", UtcDateTime(), nullable=True),
    Column("overdue", Boolean, nullable=False),
    Column("paused_remaining_seconds", Float, nullable=True),
)
Index("ix_exchange_requests_requester", exchange_requests.c.requester_unit, exchange_requests.c.id)
Index("ix_exchange_requests_owner", exchange_requests.c.owner_unit, exchange_requests.c.id)
# "What is overdue now": open requests by deadline.
Index(
    "ix_exchange_requests_due",
    exchange_requests.c.state,
    exchange_requests.c.overdue,
    exchange_requests.c.deadline_at,
)

exchange_grants = Table(
    "exchange_grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("exchange_requests.id"), nullable=False),
    Column("dataset_id", Integer, ForeignKey("exchange_datasets.id"), nullable=False),
    Column("consumer_unit", String(64), nullable=False),
    Column("owner_unit", String(64), nullable=False),
    *_terms_columns(),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("state", enum_column_type(GrantState, 16), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("end_reason", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
# A reader's grant of a dataset: every read asks it.
Index(
    "ix_exchange_grants_reader",
    exchange_grants.c.consumer_unit,
    exchange_grants.c.dataset_id,
    exchange_grants.c.state,
)
Index("ix_exchange_grants_owner", exchange_grants.c.owner_unit, exchange_grants.c.id)
# The expiry job's question: active grants past their end.
Index("ix_exchange_grants_expiry", exchange_grants.c.state, exchange_grants.c.expires_at)


def grant_in_force(
    grant_id: ColumnElement[int] | int, at: ColumnElement[datetime] | datetime
) -> ColumnElement[bool]:
    """Whether grant GRANT_ID is in force AT (values or bound parameters), as Grant.live
    says (active, begun, not expired), as a condition a query of rows carries: its rows
    come back only while it is."""
    g = exchange_grants.c
    return exists().where(
        g.id == grant_id, g.state == GrantState.ACTIVE, g.starts_at <= at, g.expires_at > at
    )


mapper_registry.map_imperatively(DatasetField, exchange_fields)
mapper_registry.map_imperatively(
    Dataset,
    exchange_datasets,
    properties={
        "fields": relationship(
            DatasetField,
            order_by=exchange_fields.c.position,
            lazy="selectin",
            cascade="all, delete-orphan",
        )
    },
)
mapper_registry.map_imperatively(ShareRequest, exchange_requests)
mapper_registry.map_imperatively(Grant, exchange_grants)


@dataclass(frozen=True)
class FieldQuality:
    field: str
    rows: int
    filled: int
    valid: int | None
    duplicates: int | None
    computed_at: datetime

    @property
    def completeness(self) -> float | None:
        return None if not self.rows else self.filled / self.rows

    @property
    def validity(self) -> float | None:
        return None if self.valid is None or not self.filled else self.valid / self.filled


@dataclass(frozen=True)
class CatalogueQuery:
    q: str = ""
    owner_unit: str = ""
    share_class: ShareClass | None = None
    source_kind: SourceKind | None = None
    grade: Grade | None = None
    personal: Personal | None = None


class CatalogueRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, dataset_id: int) -> Dataset | None:
        return self.session.get(Dataset, dataset_id)

    def by_code(self, code: str) -> Dataset | None:
        return self.session.execute(
            select(Dataset).where(exchange_datasets.c.code == code)
        ).scalar()

    def add(self, dataset: Dataset) -> None:
        self.session.add(dataset)

    def search(self, query: CatalogueQuery, limit: int, offset: int) -> tuple[list[Dataset], int]:
        """Datasets whose title, description, code or a field's name or meaning holds Q,
        of the owner, class, source, grade and personal mark asked, by code."""
        stmt = select(exchange_datasets.c.id)
        if query.q:
            words = query.q.strip()
            in_fields = select(exchange_fields.c.dataset_id).where(
                or_(
                    exchange_fields.c.name.contains(words, autoescape=True),
                    exchange_fields.c.meaning_zh.contains(words, autoescape=True),
                    exchange_fields.c.meaning_en.contains(words, autoescape=True),
                )
            )
            stmt = stmt.where(
                or_(
                    exchange_datasets.c.code.contains(words, autoescape=True),
                    exchange_datasets.c.title_zh.contains(words, autoescape=True),
                    exchange_datasets.c.title_en.contains(words, autoescape=True),
                    exchange_datasets.c.description_zh.contains(words, autoescape=True),
                    exchange_datasets.c.description_en.contains(words, autoescape=True),
                    exchange_datasets.c.id.in_(in_fields),
                )
            )
        if query.owner_unit:
            stmt = stmt.where(exchange_datasets.c.owner_unit == query.owner_unit)
        if query.share_class is not None:
            stmt = stmt.where(exchange_datasets.c.share_class == query.share_class)
        if query.source_kind is not None:
            stmt = stmt.where(exchange_datasets.c.source_kind == query.source_kind)
        if query.grade is not None:
            stmt = stmt.where(
                exchange_datasets.c.id.in_(
                    select(exchange_fields.c.dataset_id).where(
                        exchange_fields.c.grade == query.grade
                    )
                )
            )
        if query.personal is not None:
            stmt = stmt.where(
                exchange_datasets.c.id.in_(
                    select(exchange_fields.c.dataset_id).where(
                        exchange_fields.c.personal == query.personal
                    )
                )
            )
        total = self.session.execute(select(func.count()).select_from(stmt.subquery())).scalar()
        ids = list(
            self.session.execute(
                stmt.order_by(exchange_datasets.c.code).limit(limit).offset(offset)
            ).scalars()
        )
        found = {
            d.id: d
            for d in self.session.execute(
                select(Dataset).where(exchange_datasets.c.id.in_(ids))
            ).scalars()
        }
        return [found[i] for i in ids if i in found], int(total or 0)

    def all(self) -> list[Dataset]:
        return list(
            self.session.execute(select(Dataset).order_by(exchange_datasets.c.code)).scalars()
        )

    def quality(self, dataset_id: int) -> dict[str, FieldQuality]:
        rows = self.session.execute(
            select(exchange_quality).where(exchange_quality.c.dataset_id == dataset_id)
        ).mappings()
        return {
            r["field"]: FieldQuality(
                r["field"], r["rows"], r["filled"], r["valid"], r["duplicates"], r["computed_at"]
            )
            for r in rows
        }

    def set_quality(self, dataset_id: int, measured: Iterable[FieldQuality]) -> None:
        self.session.execute(
            delete(exchange_quality).where(exchange_quality.c.dataset_id == dataset_id)
        )
        values = [
            {
                "dataset_id": dataset_id,
                "field": q.field,
                "rows": q.rows,
                "filled": q.filled,
                "valid": q.valid,
                "duplicates": q.duplicates,
                "computed_at": q.computed_at,
            }
            for q in measured
        ]
        if values:
            self.session.execute(insert(exchange_quality), values)


@dataclass(frozen=True)
class Batch:
    id: int
    dataset_id: int
    file_name: str
    actor: str
    encoding: str
    total: int
    imported: int
    rejected: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Reject:
    row: int
    field: str
    reason: str
    message_zh: str
    message_en: str
    raw: dict[str, str]


class FileRepository:
    """Uploaded datasets: each upload replaces the dataset's rows with the good rows of
    the new file (a unit publishes what it holds now) and keeps the bad ones for
    correction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def start_batch(
        self, dataset_id: int, file_name: str, actor: str, encoding: str, at: datetime
    ) -> int:
        result = self.session.execute(
            insert(exchange_batches)
            .values(
                dataset_id=dataset_id,
                file_name=file_name[:400],
                actor=actor,
                encoding=encoding,
                total=0,
                imported=0,
                rejected=0,
                started_at=at,
            )
            .returning(exchange_batches.c.id)
        )
        return int(result.scalar_one())

    def finish_batch(
        self, batch_id: int, total: int, imported: int, rejected: int, at: datetime
    ) -> None:
        self.session.execute(
            exchange_batches.update()
            .where(exchange_batches.c.id == batch_id)
            .values(total=total, imported=imported, rejected=rejected, finished_at=at)
        )

    def replace_rows(self, dataset_id: int, batch_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """ROWS (row_key, grid_code, data) become the dataset's rows."""
        self.session.execute(delete(exchange_rows).where(exchange_rows.c.dataset_id == dataset_id))
        for first in range(0, len(rows), 5000):
            chunk = rows[first : first + 5000]
            self.session.execute(
                insert(exchange_rows),
                [{"dataset_id": dataset_id, "batch_id": batch_id, **row} for row in chunk],
            )

    def add_rejects(self, batch_id: int, rejects: Sequence[Reject]) -> None:
        if rejects:
            self.session.execute(
                insert(exchange_rejects),
                [
                    {
                        "batch_id": batch_id,
                        "row": r.row,
                        "field": r.field[:64],
                        "reason": r.reason[:64],
                        "message_zh": r.message_zh,
                        "message_en": r.message_en,
                        "raw": r.raw,
                    }
                    for r in rejects
                ],
            )

    def batches(self, dataset_id: int, limit: int = 20) -> list[Batch]:
        rows = self.session.execute(
            select(exchange_batches)
            .where(exchange_batches.c.dataset_id == dataset_id)
            .order_by(exchange_batches.c.id.desc())
            .limit(limit)
        ).mappings()
        return [Batch(**dict(r)) for r in rows]

    def batch(self, batch_id: int) -> Batch | None:
        row = (
            self.session.execute(select(exchange_batches).where(exchange_batches.c.id == batch_id))
            .mappings()
            .first()
        )
        return None if row is None else Batch(**dict(row))

    def rejects(self, batch_id: int, limit: int, offset: int) -> tuple[list[Reject], int]:
        rows = self.session.execute(
            select(exchange_rejects)
            .where(exchange_rejects.c.batch_id == batch_id)
            .order_by(exchange_rejects.c.row, exchange_rejects.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        found = [
            Reject(r["row"], r["field"], r["reason"], r["message_zh"], r["message_en"], r["raw"])
            for r in rows
        ]
        total = self.session.execute(
            select(func.count()).where(exchange_rejects.c.batch_id == batch_id)
        ).scalar_one()
        return found, int(total)


class RequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, request_id: int) -> ShareRequest | None:
        return self.session.get(ShareRequest, request_id)

    def add(self, request: ShareRequest) -> None:
        self.session.add(request)

    def of_unit(
        self, unit: str | None, *, side: str = "both", states: Sequence[RequestState] = ()
    ) -> list[ShareRequest]:
        """The requests UNIT asked ("asked"), was asked ("owned") or both, newest first;
        UNIT None: every request (the data administrators')."""
        stmt = select(ShareRequest).order_by(exchange_requests.c.id.desc()).limit(500)
        if unit is not None:
            asked = exchange_requests.c.requester_unit == unit
            owned = exchange_requests.c.owner_unit == unit
            stmt = stmt.where(
                asked if side == "asked" else owned if side == "owned" else asked | owned
            )
        if states:
            stmt = stmt.where(exchange_requests.c.state.in_(list(states)))
        return list(self.session.execute(stmt).scalars())

    def open_for(self, unit: str, dataset_id: int) -> ShareRequest | None:
        return self.session.execute(
            select(ShareRequest).where(
                exchange_requests.c.requester_unit == unit,
                exchange_requests.c.dataset_id == dataset_id,
                exchange_requests.c.state.in_([RequestState.ASKED, RequestState.REVIEW]),
            )
        ).scalar()

    def newly_overdue(self, now: datetime) -> list[ShareRequest]:
        return list(
            self.session.execute(
                select(ShareRequest).where(
                    exchange_requests.c.state.in_([RequestState.ASKED, RequestState.REVIEW]),
                    exchange_requests.c.overdue.is_(False),
                    exchange_requests.c.deadline_at <= now,
                )
            ).scalars()
        )


class GrantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, grant_id: int) -> Grant | None:
        return self.session.get(Grant, grant_id)

    def add(self, grant: Grant) -> None:
        self.session.add(grant)

    def of_unit(
        self, unit: str | None, *, side: str = "both", states: Sequence[GrantState] = ()
    ) -> list[Grant]:
        stmt = select(Grant).order_by(exchange_grants.c.id.desc()).limit(500)
        if unit is not None:
            mine = exchange_grants.c.consumer_unit == unit
            owned = exchange_grants.c.owner_unit == unit
            stmt = stmt.where(
                mine if side == "received" else owned if side == "given" else mine | owned
            )
        if states:
            stmt = stmt.where(exchange_grants.c.state.in_(list(states)))
        return list(self.session.execute(stmt).scalars())

    def of_reader(self, unit: str, dataset_id: int) -> list[Grant]:
        """UNIT's grants of the dataset, the newest first (a read looks for a live one, and
        says why an old one no longer counts)."""
        return list(
            self.session.execute(
                select(Grant)
                .where(
                    exchange_grants.c.consumer_unit == unit,
                    exchange_grants.c.dataset_id == dataset_id,
                )
                .order_by(exchange_grants.c.id.desc())
                .limit(20)
            ).scalars()
        )

    def overlapping(
        self, unit: str, dataset_id: int, starts_on: date, ends_on: date
    ) -> Grant | None:
        """An active grant of the dataset to UNIT whose days overlap those."""
        return self.session.execute(
            select(Grant)
            .where(
                exchange_grants.c.consumer_unit == unit,
                exchange_grants.c.dataset_id == dataset_id,
                exchange_grants.c.state == GrantState.ACTIVE,
                exchange_grants.c.starts_on <= ends_on,
                exchange_grants.c.ends_on >= starts_on,
            )
            .limit(1)
        ).scalar()

    def due_to_expire(self, now: datetime) -> list[Grant]:
        return list(
            self.session.execute(
                select(Grant).where(
                    exchange_grants.c.state == GrantState.ACTIVE,
                    exchange_grants.c.expires_at <= now,
                )
            ).scalars()
        )
