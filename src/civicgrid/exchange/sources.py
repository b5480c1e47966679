"""Where a dataset's rows come from, read only through what their owners declare: registry
records through registry.views, cases through cases.views, uploaded rows from the
exchange's own table. Each source becomes one SELECT of the fields asked for, with the
grant's scope and the reader's filters as conditions the database applies, ordered by the
row's id for paging; no text from a consumer ever becomes SQL."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

from civicgrid.areas.repository import areas
from civicgrid.cases.views import case_rows
from civicgrid.core.errors import InvalidInput
from civicgrid.exchange.domain import Dataset, DatasetField, Scope, SourceKind
from civicgrid.exchange.masking import FieldType
from civicgrid.exchange.repository import exchange_rows, grant_in_force
from civicgrid.registry import views as registry_views

# The registry keeps an identity number masked, with its keyed hash in another column.
IDENTITY_COMPANIONS = {"id_masked": "id_hash"}
# What the audit log calls a record of each source, so a resident's "who read my data"
# finds every read of her record, whichever domain made it.
RECORD_KINDS = {
    "people": "person",
    "houses": "house",
    "organisations": "organisation",
    "addresses": "address",
}


class FilterOp(StrEnum):
    EQ = "eq"
    IN = "in"  # one of several values, comma-separated
    GTE = "gte"
    LTE = "lte"
    PREFIX = "prefix"


@dataclass(frozen=True)
class Filter:
    """A reader's condition on a field: FIELD OP VALUES (never SQL)."""

    field: str
    op: FilterOp
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Filter:
        """ "field:op:value" (op eq, in, gte, lte, prefix) or "field:value" (eq); a 422
        naming what cannot be read."""
        parts = text.split(":", 2)
        if len(parts) == 2:
            parts = [parts[0], FilterOp.EQ.value, parts[1]]
        if len(parts) != 3 or not parts[0]:
            raise InvalidInput("exchange_filter_unreadable", field="filter", filter=text[:100])
        name, op, value = parts
        try:
            kind = FilterOp(op)
        except ValueError:
            raise InvalidInput(
                "exchange_filter_op",
                field=f"filter.{name}",
                op=op,
                allowed=", ".join(o.value for o in FilterOp),
            ) from None
        values = tuple(v.strip() for v in value.split(",")) if kind is FilterOp.IN else (value,)
        if not all(values) or len(values) > 50:
            raise InvalidInput(
                "exchange_filter_unreadable", field=f"filter.{name}", filter=text[:100]
            )
        return cls(name, kind, values)


@dataclass(frozen=True)
class SourceView:
    """A dataset's rows as one selectable: the row's id (the subject of the audit log and
    the order of pages), its grid, and each field's column."""

    dataset: Dataset
    selectable: FromClause
    key: ColumnElement[Any]
    grid: ColumnElement[Any] | None
    updated: ColumnElement[Any] | None
    record_kind: str  # what the audit log calls a row of it ("person", "case" …)
    typed: bool  # the columns have the database's types (else every value is text)
    condition: ColumnElement[bool] | None = None

    def column(self, item: DatasetField) -> ColumnElement[Any]:
        if self.selectable is exchange_rows:
            return exchange_rows.c.data[item.name].as_string()
        return self.selectable.c[item.column]

    def companion(self, item: DatasetField) -> ColumnElement[Any] | None:
        """The keyed hash kept beside an identity field, if any."""
        if item.type is not FieldType.IDENTITY:
            return None
        if self.selectable is exchange_rows:
            return exchange_rows.c.data[f"{item.name}#hash"].as_string()
        other = IDENTITY_COMPANIONS.get(item.column)
        return None if other is None else self.selectable.c[other]


def source_columns(dataset: Dataset) -> list[str] | None:
    """The columns a dataset's fields may name: the registry's or the cases' view's, a
    question's one answer; None for an uploaded file (its header is checked on upload)."""
    if dataset.source_kind is SourceKind.REGISTRY:
        try:
            return [c.name for c in registry_views.record_rows(dataset.source_name).columns]
        except (KeyError, ValueError):
            raise InvalidInput(
                "exchange_unknown_source",
                field="source_name",
                source=dataset.source_name,
                allowed=", ".join(registry_views.KINDS),
            ) from None
    if dataset.source_kind is SourceKind.CASES:
        return [c.name for c in case_rows.columns]
    if dataset.source_kind is SourceKind.QUESTION:
        return ["answer"]
    return None


def view_of(dataset: Dataset) -> SourceView:
    assert dataset.id is not None
    if dataset.source_kind is SourceKind.REGISTRY:
        view = registry_views.record_rows(dataset.source_name)
        return SourceView(
            dataset,
            view,
            view.c.id,
            view.c.grid_code,
            view.c.updated_at,
            RECORD_KINDS[dataset.source_name],
            True,
        )
    if dataset.source_kind is SourceKind.CASES:
        return SourceView(
            dataset,
            case_rows,
            case_rows.c.id,
            case_rows.c.grid_code,
            case_rows.c.updated_at,
            "case",
            True,
        )
    if dataset.source_kind is SourceKind.FILE:
        return SourceView(
            dataset,
            exchange_rows,
            exchange_rows.c.id,
            exchange_rows.c.grid_code,
            None,
            f"exchange.{dataset.code}",
            False,
            exchange_rows.c.dataset_id == dataset.id,
        )
    raise InvalidInput("exchange_question_not_rows", dataset=dataset.code)


def grids_under(path: str) -> Select[Any]:
    return select(areas.c.code).where(
        areas.c.level == "grid", areas.c.path.startswith(path, autoescape=True)
    )


def is_text(column: ColumnElement[Any]) -> bool:
    """Whether the column holds free text, in which "" means empty (an enum's column
    holds only its values)."""
    return isinstance(column.type, String) and not isinstance(column.type, SqlEnum)


def _python_type(column: ColumnElement[Any]) -> type | None:
    try:
        found: type = column.type.python_type
    except NotImplementedError:
        return None
    return found


def _typed(column: ColumnElement[Any], item: DatasetField, value: str) -> Any:
    """A filter's text as the column holds it (a date, a number, one of an enum's values);
    a 422 naming the field when it is none."""
    kind = _python_type(column)
    try:
        if kind is None or kind is str:
            return value
        if isinstance(kind, type) and issubclass(kind, Enum):
            return kind(value).value
        if kind is bool:
            return value.lower() in ("1", "true", "yes", "是")
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        if kind is datetime:
            return datetime.fromisoformat(value)
        if kind is date:
            return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "exchange_filter_value",
            field=f"filter.{item.name}",
            value=value[:50],
            type=item.type.value,
        ) from None
    return value


def condition(
    view: SourceView, item: DatasetField, op: FilterOp, values: Sequence[str]
) -> ColumnElement[bool]:
    column = view.column(item)
    typed = [_typed(column, item, v) for v in values]
    if op is FilterOp.EQ:
        return column == typed[0]
    if op is FilterOp.IN:
        return column.in_(typed)
    if op is FilterOp.GTE:
        return column >= typed[0]
    if op is FilterOp.LTE:
        return column <= typed[0]
    return column.startswith(str(values[0]), autoescape=True)


def scope_conditions(view: SourceView, scope: Scope) -> list[ColumnElement[bool]]:
    """The conditions of a grant's row scope: its area's grids, its filter's values."""
    found: list[ColumnElement[bool]] = []
    if scope.area_path:
        if view.grid is None:
            found.append(literal(False))
        else:
            found.append(view.grid.in_(grids_under(scope.area_path)))
    if scope.filter_field:
        item = view.dataset.field_named(scope.filter_field)
        found.append(condition(view, item, FilterOp.IN, scope.filter_values))
    return found


@dataclass(frozen=True)
class RowQuery:
    fields: Sequence[DatasetField]
    scope: Scope
    filters: Sequence[tuple[DatasetField, Filter]] = ()
    after: int | None = None
    limit: int = 100
    # (grant, moment): the rows come back only if that grant is in force at that moment,
    # asked in the same statement (a grant the process remembered, not looked up now).
    in_force: tuple[int, datetime] | None = None

    def shape(self, view: SourceView) -> Hashable:
        """What decides the statement of a page (not the page's own values): the source
        and its fields as they are now, the fields read, the scope, the filters."""
        dataset = view.dataset
        return (
            dataset.id,
            dataset.source_kind,
            dataset.source_name,
            tuple((f.name, f.column, f.type) for f in dataset.fields),
            tuple(f.name for f in self.fields),
            self.scope,
            tuple((item.name, wanted) for item, wanted in self.filters),
            self.after is None,
            self.in_force is None,
        )

    def parameters(self) -> dict[str, Any]:
        """The page's own values, the bound parameters of its statement."""
        found: dict[str, Any] = {"limit": self.limit}
        if self.after is not None:
            found["after"] = self.after
        if self.in_force is not None:
            found["grant_id"], found["at"] = self.in_force
        return found


# A page's statement is kept by the page's shape: a reader pages through with one, and
# building the statement and its cache key again cost each read a tenth of its CPU. The
# page's own values (where it starts, its length, the grant and the moment) are bound
# parameters. Cleared when full, as Python's own regular-expression cache is.
_STATEMENTS: dict[Hashable, tuple[Select[Any], list[str]]] = {}
STATEMENTS_KEPT = 512


def select_rows(view: SourceView, query: RowQuery) -> tuple[Select[Any], list[str]]:
    """The SELECT of a page of rows (its values as query.parameters() gives them) and the
    names of its columns, in order: "#id", "#grid", each field, and "<field>#hash" for
    identity fields with a hash beside them."""
    shape = query.shape(view)
    found = _STATEMENTS.get(shape)
    if found is None:
        if len(_STATEMENTS) >= STATEMENTS_KEPT:
            _STATEMENTS.clear()
        found = _STATEMENTS[shape] = _build_select(view, query)
    return found


def _build_select(view: SourceView, query: RowQuery) -> tuple[Select[Any], list[str]]:
    columns: list[ColumnElement[Any]] = [view.key]
    names = ["#id"]
    if view.grid is not None:
        columns.append(view.grid)
        names.append("#grid")
    for item in query.fields:
        columns.append(view.column(item))
        names.append(item.name)
        companion = view.companion(item)
        if companion is not None:
            columns.append(companion)
            names.append(f"{item.name}#hash")
    where = scope_conditions(view, query.scope)
    if view.condition is not None:
        where.append(view.condition)
    for item, wanted in query.filters:
        where.append(condition(view, item, wanted.op, wanted.values))
    if query.after is not None:
        where.append(view.key > bindparam("after"))
    if query.in_force is not None:
        where.append(grant_in_force(bindparam("grant_id"), bindparam("at")))
    stmt = (
        select(*(c.label(f"c{i}") for i, c in enumerate(columns)))
        .select_from(view.selectable)
        .where(and_(*where) if where else literal(True))
        .order_by(view.key)
        # The length is written into the SQL when it is run: PostgreSQL then plans the
        # prepared statement once, where a length it cannot see made it plan every read
        # again (0.15 ms of its CPU each).
        .limit(bindparam("limit", type_=Integer, literal_execute=True))
    )
    return stmt, names


def read_rows(session: Session, view: SourceView, query: RowQuery) -> list[dict[str, Any]]:
    stmt, names = select_rows(view, query)
    # all() fetches the page at once; iterating the result would fetch row by row.
    rows = session.execute(stmt, query.parameters()).all()
    return [dict(zip(names, row, strict=True)) for row in rows]


def stream_rows(
    session: Session, view: SourceView, query: RowQuery, chunk: int = 5000
) -> Iterator[list[dict[str, Any]]]:
    """Every row QUERY takes, CHUNK at a time, by id (the export's pages)."""
    after = query.after
    while True:
        page = replace(query, after=after, limit=chunk)
        rows = read_rows(session, view, page)
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        after = int(rows[-1]["#id"])


def last_change(session: Session, view: SourceView) -> datetime | None:
    """When the source's rows last changed, as far as it says."""
    if view.updated is None:
        return None
    stmt = select(func.max(view.updated)).select_from(view.selectable)
    if view.condition is not None:
        stmt = stmt.where(view.condition)
    found: datetime | None = session.execute(stmt).scalar()
    return found
