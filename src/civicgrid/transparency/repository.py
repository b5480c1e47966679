"""The transparency figures as aggregate queries over the cases tables, read-only.

Transparency owns no table: it reads the cases tables the cases repository declares (as
the Open311 adapter does) and the areas through the areas repository. Each figure is one
aggregate query over an indexed range (cases reported in the period: ix_cases_created;
cases closed in the period: ix_cases_closed), so a city of a million cases is answered
without reading the cases one by one into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Select, String, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from civicgrid.areas.domain import Area
from civicgrid.areas.repository import AreaRepository
from civicgrid.cases.domain import Status, SystemEvent
from civicgrid.cases.repository import case_events, case_reporters, cases
from civicgrid.transparency.domain import SATISFIED_FROM, UNCOUNTED, CaseRow, Period

# "Was this case ever overdue?" for the on-time rate: the overdue marks alone, a small part
# of the timeline, so the closed cases of a year are matched against them in one hash join.
Index(
    "ix_case_events_overdue",
    case_events.c.case_id,
    postgresql_where=case_events.c.action == SystemEvent.OVERDUE.value,
    sqlite_where=case_events.c.action == SystemEvent.OVERDUE.value,
)
# Cases closed in a period (median time to close, on-time rate, satisfaction).
Index(
    "ix_cases_closed",
    cases.c.closed_at,
    postgresql_where=cases.c.status == Status.CLOSED.value,
    sqlite_where=cases.c.status == Status.CLOSED.value,
)


# ------------------------------------------------------------------ portable SQL pieces


class month_of(FunctionElement[str]):
    """The calendar month (UTC) of a timestamp, as "YYYY-MM"."""

    type = String()
    name = "month_of"
    inherit_cache = True


@compiles(month_of)
def _month_sqlite(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


@compiles(month_of, "postgresql")
def _month_postgresql(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM')"


class seconds_between(FunctionElement[float]):
    """Seconds from the first timestamp to the second."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({second}) - julianday({first})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({second} - {first}))"


# ------------------------------------------------------------------ answers


@dataclass(frozen=True)
class ReportedCount:
    category_code: str
    status: Status
    month: str  # YYYY-MM
    count: int


@dataclass(frozen=True)
class ClosingFigures:
    closed: int
    late: int  # closed cases with an overdue mark
    median_seconds: float | None
    ratings: int
    rating_total: int
    satisfied: int


class TransparencyQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _within(
        self, stmt: Select[Any], moment: Any, start: datetime, end: datetime, path: str | None
    ) -> Select[Any]:
        stmt = stmt.where(moment >= start, moment < end)
        if path:
            stmt = stmt.where(cases.c.area_path.startswith(path, autoescape=True))
        return stmt

    def _reported(self, stmt: Select[Any], period: Period, path: str | None) -> Select[Any]:
        stmt = self._within(stmt, cases.c.created_at, period.start, period.end, path)
        return stmt.where(cases.c.status.not_in(sorted(UNCOUNTED)))

    def reported_counts(self, period: Period, path: str | None) -> list[ReportedCount]:
        """Cases reported in the period under PATH, by category, state and month."""
        month = month_of(cases.c.created_at)
        stmt = self._reported(
            select(cases.c.category_code, cases.c.status, month, func.count()), period, path
        ).group_by(cases.c.category_code, cases.c.status, month)
        return [
            ReportedCount(str(code), Status(status), str(m), int(n))
            for code, status, m, n in self.session.execute(stmt)
        ]

    def counts_by_place(self, period: Period, path: str | None) -> dict[str, int]:
        """Cases reported in the period under PATH, by the area path of their grid."""
        stmt = self._reported(select(cases.c.area_path, func.count()), period, path).group_by(
            cases.c.area_path
        )
        return {str(p): int(n) for p, n in self.session.execute(stmt)}

    def closing(self, period: Period, path: str | None) -> ClosingFigures:
        """Cases closed (结案) in the period under PATH: how many, how many had an overdue
        mark, the median seconds from report to closing, and their ratings."""
        overdue = (
            select(case_events.c.case_id)
            .where(case_events.c.action == SystemEvent.OVERDUE.value)
            .distinct()
            .subquery()
        )
        rating = cases.c.satisfaction
        duration = seconds_between(cases.c.created_at, cases.c.closed_at)
        columns: list[ColumnElement[Any]] = [
            func.count(),
            func.count(overdue.c.case_id),
            func.count(rating),
            func.coalesce(func.sum(rating), 0),
            func.coalesce(func.sum(case((rating >= SATISFIED_FROM, 1), else_=0)), 0),
        ]
        if self._postgresql:
            columns.append(func.percentile_cont(0.5).within_group(duration))
        stmt = self._closed(
            select(*columns).select_from(cases.outerjoin(overdue, overdue.c.case_id == cases.c.id)),
            period,
            path,
        )
        row = self.session.execute(stmt).one()
        closed = int(row[0])
        if self._postgresql:
            middle = None if row[5] is None else float(row[5])
        else:
            middle = self._median_seconds(period, path, closed)
        return ClosingFigures(
            closed=closed,
            late=int(row[1]),
            median_seconds=middle,
            ratings=int(row[2]),
            rating_total=int(row[3]),
            satisfied=int(row[4]),
        )

    def _closed(self, stmt: Select[Any], period: Period, path: str | None) -> Select[Any]:
        stmt = self._within(stmt, cases.c.closed_at, period.start, period.end, path)
        return stmt.where(cases.c.status == Status.CLOSED)

    def _median_seconds(self, period: Period, path: str | None, count: int) -> float | None:
        """The median without percentile_cont (SQLite): the one or two middle durations."""
        if count == 0:
            return None
        duration = seconds_between(cases.c.created_at, cases.c.closed_at)
        stmt = (
            self._closed(select(duration.label("seconds")), period, path)
            .order_by(duration)
            .offset((count - 1) // 2)
            .limit(1 if count % 2 else 2)
        )
        middle = [float(v) for v in self.session.execute(stmt).scalars()]
        return sum(middle) / len(middle) if middle else None

    def recent(self, start: datetime, end: datetime, path: str | None, limit: int) -> list[CaseRow]:
        """The newest cases reported between START and END under PATH (no description, no
        address, no reporter)."""
        c = cases.c
        stmt = (
            self._within(
                select(
                    c.id,
                    c.category_code,
                    c.status,
                    c.created_at,
                    c.closed_at,
                    c.lat,
                    c.lon,
                    c.grid_code,
                    c.area_path,
                    c.title,
                    c.reporter_hidden,
                ),
                c.created_at,
                start,
                end,
                path,
            )
            .where(c.status.not_in(sorted(UNCOUNTED)))
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(limit)
        )
        return [
            CaseRow(
                id=int(row.id),
                category_code=str(row.category_code),
                status=Status(row.status),
                created_at=row.created_at,
                closed_at=row.closed_at,
                lat=row.lat,
                lon=row.lon,
                grid_code=str(row.grid_code),
                area_path=str(row.area_path),
                title=str(row.title or ""),
                reporter_hidden=bool(row.reporter_hidden),
            )
            for row in self.session.execute(stmt)
        ]

    def reporter_names(self, case_ids: Sequence[int]) -> dict[int, list[str]]:
        """The reporters' names of these cases, only to take them out of the titles."""
        found: dict[int, list[str]] = {}
        for first in range(0, len(case_ids), 500):
            chunk = list(case_ids[first : first + 500])
            stmt = select(case_reporters.c.case_id, case_reporters.c.name).where(
                and_(case_reporters.c.case_id.in_(chunk), case_reporters.c.name != "")
            )
            for case_id, name in self.session.execute(stmt):
                found.setdefault(int(case_id), []).append(str(name))
        return found

    def grid_centres(self, codes: Sequence[str]) -> dict[str, tuple[float, float]]:
        """(lat, lon) of each grid's centre: its centroid, or a point inside it when the
        centroid falls outside (a crescent-shaped grid)."""
        centres = {}
        for code, area in AreaRepository(self.session).get_many(codes).items():
            centres[code] = centre_of(area)
        return centres


def centre_of(area: Area) -> tuple[float, float]:
    point = area.geometry.centroid
    if not area.geometry.contains(point):
        point = area.geometry.representative_point()
    return round(float(point.y), 6), round(float(point.x), 6)
