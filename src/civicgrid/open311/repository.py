"""Tables of the Open311 adapter: service attributes per category, what Open311 keeps beside
a case (token, source key, media_url, …) and the answers to the attributes. Cases
themselves stay with the cases domain, read here through its views (cases.views); these
rows are keyed by case number."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Session

from civicgrid.areas.repository import departments
from civicgrid.cases.views import TAXONOMY_REVISION, case_rows
from civicgrid.core.db import (
    UtcDateTime,
    bump_revision,
    enum_column_type,
    mapper_registry,
    metadata,
    read_revision,
    revisions,
)
from civicgrid.open311.domain import (
    AttributeAnswer,
    Datatype,
    RequestCase,
    RequestQuery,
    RequestRecord,
    ServiceAttribute,
)

# Bumped whenever the attribute set is replaced; 0 means none was ever installed.
ATTRIBUTES_REVISION = "open311"

open311_attributes = Table(
    "open311_attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("service_code", String(32), ForeignKey("categories.code"), nullable=False),
    Column("code", String(64), nullable=False),
    Column("datatype", enum_column_type(Datatype, 24), nullable=False),
    Column("sort_order", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("description_en", Text, nullable=False, default=""),
    Column("datatype_description", Text, nullable=False, default=""),
    Column("datatype_description_en", Text, nullable=False, default=""),
    Column("required", Boolean, nullable=False, default=False),
    Column("variable", Boolean, nullable=False, default=True),
    Column("values", JSON, nullable=False),
    UniqueConstraint("service_code", "code"),
)

open311_requests = Table(
    "open311_requests",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    # "open311" for requests POSTed here; an import's source name ("nyc311") otherwise.
    Column("source", String(40), nullable=False),
    Column("source_key", String(100), nullable=True),
    Column("token", String(64), nullable=True, unique=True),
    Column("api_client", String(120), nullable=False, default=""),
    Column("account_id", String(100), nullable=False, default=""),
    Column("device_id", String(100), nullable=False, default=""),
    Column("media_url", String(500), nullable=False, default=""),
    Column("address_id", String(100), nullable=False, default=""),
    Column("zipcode", String(20), nullable=False, default=""),
    Column("expected_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # One case per key of a source: importing the same file twice adds nothing.
    UniqueConstraint("source", "source_key"),
)

open311_attribute_values = Table(
    "open311_attribute_values",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("code", String(64), nullable=False),
    Column("value", Text, nullable=False),
)

# What a request is read from: the view's columns of the same names.
_REQUEST_COLUMNS = [f.name for f in fields(RequestCase)]

mapper_registry.map_imperatively(
    ServiceAttribute, open311_attributes, properties={"order": open311_attributes.c.sort_order}
)
mapper_registry.map_imperatively(RequestRecord, open311_requests)
mapper_registry.map_imperatively(AttributeAnswer, open311_attribute_values)


class Open311Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- service attributes

    def attributes(self, service_code: str | None = None) -> Sequence[ServiceAttribute]:
        stmt = select(ServiceAttribute).order_by(
            open311_attributes.c.service_code,
            open311_attributes.c.sort_order,
            open311_attributes.c.code,
        )
        if service_code is not None:
            stmt = stmt.where(open311_attributes.c.service_code == service_code)
        return self.session.execute(stmt).scalars().all()

    def attributes_installed(self) -> bool:
        return read_revision(self.session, ATTRIBUTES_REVISION) > 0

    def replace_attributes(self, items: Iterable[ServiceAttribute]) -> None:
        self.session.execute(open311_attributes.delete())
        self.session.add_all(list(items))
        self.session.flush()
        bump_revision(self.session, ATTRIBUTES_REVISION)

    def changed_at(self) -> datetime | None:
        """When the services or their definitions last changed (discovery's changeset)."""
        stmt = select(func.max(revisions.c.changed_at)).where(
            revisions.c.name.in_([TAXONOMY_REVISION, ATTRIBUTES_REVISION])
        )
        changed: datetime | None = self.session.execute(stmt).scalar()
        return changed

    # -- what Open311 keeps beside a case

    def add_record(self, record: RequestRecord) -> None:
        self.session.add(record)

    def add_answers(self, case_id: int, answers: Iterable[AttributeAnswer]) -> None:
        for answer in answers:
            answer.case_id = case_id
            self.session.add(answer)

    def record_by_token(self, token: str) -> RequestRecord | None:
        stmt = select(RequestRecord).where(open311_requests.c.token == token)
        return self.session.execute(stmt).scalar()

    def records_for(self, case_ids: Sequence[int]) -> dict[int, RequestRecord]:
        found: dict[int, RequestRecord] = {}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            stmt = select(RequestRecord).where(open311_requests.c.case_id.in_(chunk))
            found.update({r.case_id: r for r in self.session.execute(stmt).scalars()})
        return found

    def answers(self, case_id: int) -> Sequence[AttributeAnswer]:
        stmt = (
            select(AttributeAnswer)
            .where(open311_attribute_values.c.case_id == case_id)
            .order_by(open311_attribute_values.c.id)
        )
        return self.session.execute(stmt).scalars().all()

    def known_keys(self, source: str, keys: Sequence[str]) -> set[str]:
        """Which of KEYS were already imported from SOURCE."""
        known: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            stmt = select(open311_requests.c.source_key).where(
                open311_requests.c.source == source, open311_requests.c.source_key.in_(chunk)
            )
            known.update(str(k) for k in self.session.execute(stmt).scalars())
        return known

    # -- reading cases as requests

    def find(self, query: RequestQuery) -> list[RequestCase]:
        """The cases QUERY asks for, newest first, at most query.limit."""
        c = case_rows.c
        stmt = select(*(c[name] for name in _REQUEST_COLUMNS))
        if query.ids:
            stmt = stmt.where(c.id.in_(list(query.ids)))
        else:
            if query.start is not None:
                stmt = stmt.where(c.created_at >= query.start)
            if query.end is not None:
                stmt = stmt.where(c.created_at <= query.end)
            if query.service_codes:
                stmt = stmt.where(c.category_code.in_(list(query.service_codes)))
            if query.statuses:
                stmt = stmt.where(c.status.in_(list(query.statuses)))
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc()).limit(query.limit)
        return [RequestCase(**row._mapping) for row in self.session.execute(stmt)]

    def unit_names(self, codes: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        stmt = select(departments.c.code, departments.c.name).where(departments.c.code.in_(wanted))
        return {str(code): str(name) for code, name in self.session.execute(stmt)}
