"""The transparency figures as aggregate queries over the cases' read views, read-only.

Transparency owns no table: it reads cases through the views the cases domain declares
(cases.views: case_rows, case_event_rows, reporter_names), as the Open311 adapter does,
and the areas through the areas repository. Each figure is one aggregate query over an
indexed range that holds every column it needs (the indexes are declared beside the views,
which the databases flatten into these queries), so a city of a million cases is answered
from the indexes alone (index-only scans, in parallel on PostgreSQL), without reading a
case into Python. An area is a list of its grids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, and_, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from civicgrid.areas.domain import Area
from civicgrid.areas.repository import AreaRepository
from civicgrid.cases import views
from civicgrid.cases.domain import Status, SystemEvent
from civicgrid.cases.views import case_event_rows, case_rows
from civicgrid.transparency.domain import SATISFIED_FROM, UNCOUNTED, CaseRow, Period

# ------------------------------------------------------------------ portable SQL pieces


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
    by_month: dict[str, int]  # YYYY-MM → cases

    @property
    def count(self) -> int:
        return sum(self.by_month.values())


@dataclass(frozen=True)
class ClosingFigures:
    closed: int
    late: int  # closed cases with an overdue mark
    median_seconds: float | None
    ratings: int
    rating_total: int
    satisfied: int


Grids = Sequence[str]  # the grids of an area (of the city, for the whole city)


def _within(
    stmt: Select[Any], moment: Any, start: datetime, end: datetime, path: str | None
) -> Select[Any]:
    stmt = stmt.where(moment >= start, moment < end)
    if path:
        stmt = stmt.where(case_rows.c.area_path.startswith(path, autoescape=True))
    return stmt


class TransparencyQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _reported(self, stmt: Select[Any], period: Period, grids: Grids) -> Select[Any]:
        stmt = stmt.where(
            case_rows.c.created_at >= period.start,
            case_rows.c.created_at < period.end,
            case_rows.c.status.not_in(sorted(UNCOUNTED)),
        )
        return stmt.where(case_rows.c.grid_code.in_(grids))

    def _closed(self, stmt: Select[Any], period: Period, grids: Grids) -> Select[Any]:
        stmt = stmt.where(
            case_rows.c.status == Status.CLOSED,
            case_rows.c.closed_at >= period.start,
            case_rows.c.closed_at < period.end,
        )
        return stmt.where(case_rows.c.grid_code.in_(grids))

    def reported_counts(self, period: Period, grids: Grids) -> list[ReportedCount]:
        """Cases reported in the period in GRIDS by category and state, each month a
        column (one pass, no date formatting per row)."""
        bounds = period.month_bounds()
        months = [
            func.count().filter(and_(case_rows.c.created_at >= start, case_rows.c.created_at < end))
            for _, start, end in bounds
        ]
        stmt = self._reported(
            select(case_rows.c.category_code, case_rows.c.status, *months), period, grids
        ).group_by(case_rows.c.category_code, case_rows.c.status)
        return [
            ReportedCount(
                str(row[0]),
                Status(row[1]),
                {label: int(n) for (label, _, _), n in zip(bounds, row[2:], strict=True)},
            )
            for row in self.session.execute(stmt)
        ]

    def counts_by_grid(self, period: Period, grids: Grids) -> dict[str, int]:
        """Cases reported in the period in GRIDS, by grid."""
        stmt = self._reported(select(case_rows.c.grid_code, func.count()), period, grids).group_by(
            case_rows.c.grid_code
        )
        return {str(code): int(n) for code, n in self.session.execute(stmt)}

    def closing(self, period: Period, grids: Grids) -> ClosingFigures:
        """Cases closed (结案) in the period in GRIDS: how many, how many had an overdue
        mark, the median seconds from report to closing, and their ratings."""
        overdue = (
            select(case_event_rows.c.case_id)
            .where(case_event_rows.c.action == SystemEvent.OVERDUE.value)
            .distinct()
            .subquery()
        )
        rating = case_rows.c.satisfaction
        columns: list[ColumnElement[Any]] = [
            func.count(),
            func.count(overdue.c.case_id),
            func.count(rating),
            func.coalesce(func.sum(rating), 0),
            func.count().filter(rating >= SATISFIED_FROM),
        ]
        joined = case_rows.outerjoin(overdue, overdue.c.case_id == case_rows.c.id)
        row = self.session.execute(
            self._closed(select(*columns).select_from(joined), period, grids)
        ).one()
        closed = int(row[0])
        return ClosingFigures(
            closed=closed,
            late=int(row[1]),
            median_seconds=self._median_seconds(period, grids, closed),
            ratings=int(row[2]),
            rating_total=int(row[3]),
            satisfied=int(row[4]),
        )

    def _median_seconds(self, period: Period, grids: Grids, count: int) -> float | None:
        """The median time to close: percentile_cont on PostgreSQL (a query of its own, so
        the counts above run in parallel); elsewhere the one or two middle durations."""
        if count == 0:
            return None
        duration = seconds_between(case_rows.c.created_at, case_rows.c.closed_at)
        if self._postgresql:
            middle = func.percentile_cont(0.5).within_group(duration)
            found = self.session.execute(self._closed(select(middle), period, grids)).scalar()
            return None if found is None else float(found)
        stmt = (
            self._closed(select(duration.label("seconds")), period, grids)
            .order_by(duration)
            .offset((count - 1) // 2)
            .limit(1 if count % 2 else 2)
        )
        values = [float(v) for v in self.session.execute(stmt).scalars()]
        return sum(values) / len(values) if values else None

    def recent(self, start: datetime, end: datetime, path: str | None, limit: int) -> list[CaseRow]:
        """The newest cases reported between START and END under PATH (no description, no
        address, no reporter)."""
        c = case_rows.c
        stmt = (
            _within(
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
        return views.reporter_names(self.session, case_ids)

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
