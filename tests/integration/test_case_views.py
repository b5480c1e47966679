"""The read views other domains read cases through (cases.views), on SQLite and PostgreSQL:
each reader's query is planned as if it named the cases tables, the views flattened away,
so the indexes serve it as before (bench/transparency.py shows the figures on a million
cases)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, event

from civicgrid.cases.domain import Status
from civicgrid.cases.views import case_event_rows, case_rows, reporter_names
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import ANONYMOUS, Actor, Role
from civicgrid.insight import services as insight
from civicgrid.insight.warnings.repository import WarningRepository
from civicgrid.open311 import services as open311
from civicgrid.open311.domain import RequestQuery
from civicgrid.transparency import services as transparency
from tests.conftest import City

VIEWS = {view.name: view for view in (case_rows, case_event_rows)}


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs run on ENGINE inside the block, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def explain(engine: Engine, sql: str, params: Any) -> str:
    postgresql = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(("EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN ") + sql, params)
        rows = [str(row[0] if postgresql else row[-1]) for row in cursor]
        connection.rollback()
    # PostgreSQL names a flattened view's columns with their table ("cases.status"), a
    # lone table's without; the plan is the same.
    return re.sub(r"\b(cases|case_events)\.", "", "\n".join(rows))


def on_tables(sql: str) -> str:
    """SQL with each view that is a plain selection of one table's columns written out as
    that table: what the reader wrote before the views. A view that renames a column or
    filters rows stays as it is."""
    for name, view in VIEWS.items():
        inner = view.element
        (table,) = inner.get_final_froms()
        plain = inner.whereclause is None and all(
            column.name == source.name
            for column, source in zip(view.c, inner.selected_columns, strict=True)
        )
        if not plain or not isinstance(table, Table):
            continue
        sql = re.sub(rf"\(SELECT [^()]*?\bFROM {table.name}\) AS {name}\b", table.name, sql)
        sql = re.sub(rf"\b{name}\.", f"{table.name}.", sql)
    return sql


def check_plans(engine: Engine, seen: list[tuple[str, Any]]) -> None:
    """Each statement is planned as if the reader had named the tables: no view is read as
    a table of its own (SQLite: MATERIALIZE/CO-ROUTINE/SCAN case_rows; PostgreSQL: Subquery
    Scan on case_rows), and the plan is the one of the same query on the tables."""
    for sql, params in seen:
        plan = explain(engine, sql, params)
        assert not any(name in plan for name in VIEWS), (sql, plan)
        assert plan == explain(engine, on_tables(sql), params), sql


def run(city: City, read: Callable[[UnitOfWork], object]) -> list[tuple[str, Any]]:
    with statements(city.platform.engine) as seen, UnitOfWork(city.platform.session_factory) as uow:
        read(uow)
    assert seen
    return seen


def test_the_transparency_figures_are_planned_as_on_the_cases_tables(city: City) -> None:
    ports = city.platform.transparency
    district = next(a.code for a in city.plan.areas if a.level.value == "district")
    seen = []
    for area in (None, district):
        ports.cache.clear()
        seen += run(
            city,
            lambda uow, area=area: transparency.summary(
                uow, ANONYMOUS, transparency.Filters(area=area), ports
            ),
        )
    check_plans(city.platform.engine, seen)


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(
            lambda uow, city: transparency.recent_cases(
                uow, ANONYMOUS, transparency.Filters(), city.platform.transparency
            ),
            id="transparency-recent",
        ),
        pytest.param(
            lambda uow, city: open311.list_requests(
                uow,
                ANONYMOUS,
                RequestQuery(statuses=(Status.DISPATCHED,), start=utcnow() - timedelta(days=90)),
                city.platform.cases,
            ),
            id="open311-requests",
        ),
        pytest.param(
            lambda uow, city: insight.closed_case_history(uow),
            id="insight-history",
        ),
        pytest.param(
            lambda uow, city: insight.scored_replies(uow, Actor("leader", Role.LEADER)),
            id="insight-replies",
        ),
        pytest.param(
            lambda uow, city: insight.hot_issue_board(uow, Actor("leader", Role.LEADER), utcnow()),
            id="insight-hot-issues",
        ),
        pytest.param(
            lambda uow, city: WarningRepository(uow.session).case_days(
                date.today() - timedelta(days=30), date.today() + timedelta(days=1), "UTC"
            ),
            id="warnings-case-days",
        ),
    ],
)
def test_every_reader_of_cases_is_planned_as_on_the_cases_tables(
    city: City, read: Callable[[UnitOfWork, City], object]
) -> None:
    city.platform.transparency.cache.clear()
    check_plans(city.platform.engine, run(city, lambda uow: read(uow, city)))


def test_reporter_names_are_the_names_given_by_case(city: City) -> None:
    with UnitOfWork(city.platform.session_factory) as uow:
        names = reporter_names(uow.session, list(range(1, 1000)))
    assert names
    assert all(name for found in names.values() for name in found)
