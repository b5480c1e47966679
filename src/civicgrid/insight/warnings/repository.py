"""The warnings' table, and the case counts a scan reads. Their history is in the event
log and their notices in the outbox (core.workflow, core.outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Session

from civicgrid.cases.domain import Status
from civicgrid.cases.views import case_rows
from civicgrid.core.db import UtcDateTime, enum_column_type, mapper_registry, metadata
from civicgrid.core.i18n import city_day, day_start
from civicgrid.insight.warnings.domain import (
    OPEN_STATES,
    RiskWarning,
    WarningKind,
    WarningState,
)

warnings_table = Table(
    "warnings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", enum_column_type(WarningKind, 16), nullable=False),
    Column("grid_code", String(32), ForeignKey("areas.code"), nullable=False),
    Column("category_code", String(32), ForeignKey("categories.code"), nullable=False),
    Column("day", Date, nullable=False),
    Column("window_start", Date, nullable=False),
    Column("last_seen", Date, nullable=False),
    Column("area_path", String(400), nullable=False),
    Column("observed", Integer, nullable=False),
    Column("expected", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("q_value", Float, nullable=False),
    Column("cluster", JSON, nullable=False),
    Column("explanation_zh", Text, nullable=False),
    Column("explanation_en", Text, nullable=False),
    Column("state", enum_column_type(WarningState, 16), nullable=False),
    Column("handled_by", String(120), nullable=True),
    Column("handled_at", UtcDateTime(), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Scanning the same day again finds the same warning instead of a second one.
    UniqueConstraint("kind", "grid_code", "category_code", "day", name="uq_warnings_key"),
)
Index("ix_warnings_area_day", warnings_table.c.area_path, warnings_table.c.day)
Index("ix_warnings_state_day", warnings_table.c.state, warnings_table.c.day)

mapper_registry.map_imperatively(RiskWarning, warnings_table)

# Merged duplicates and entries voided as mistakes are not more cases of a problem.
UNCOUNTED = (Status.MERGED, Status.VOIDED)


@dataclass(frozen=True)
class WarningFilter:
    scope_path: str | None = None
    kind: WarningKind | None = None
    category: str | None = None
    state: WarningState | None = None
    open_only: bool = False
    since: date | None = None


class WarningRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def case_days(self, start: date, end: date, tz: str) -> list[tuple[str, str, date]]:
        """(grid, category, the city's day) of every counted case reported from START up to
        END (exclusive; days of the city, in its time zone TZ), oldest first. The stored
        times are compared with the city's midnights as UTC instants, so the index serves."""
        rows = self.session.execute(
            select(case_rows.c.grid_code, case_rows.c.category_code, case_rows.c.created_at)
            .where(
                case_rows.c.created_at >= day_start(start, tz),
                case_rows.c.created_at < day_start(end, tz),
                case_rows.c.status.not_in(UNCOUNTED),
            )
            .order_by(case_rows.c.created_at)
        ).all()
        return [(grid, category, city_day(at, tz)) for grid, category, at in rows]

    def get(self, warning_id: int) -> RiskWarning | None:
        return self.session.get(RiskWarning, warning_id)

    def by_key(self, kind: WarningKind, grid: str, category: str, day: date) -> RiskWarning | None:
        return self.session.execute(
            select(RiskWarning).where(
                warnings_table.c.kind == kind,
                warnings_table.c.grid_code == grid,
                warnings_table.c.category_code == category,
                warnings_table.c.day == day,
            )
        ).scalar()

    def recent_hotspots(self, category: str, since: date) -> Sequence[RiskWarning]:
        """Hot spots of CATEGORY seen on or after SINCE, open ones first."""
        return (
            self.session.execute(
                select(RiskWarning)
                .where(
                    warnings_table.c.kind == WarningKind.HOTSPOT,
                    warnings_table.c.category_code == category,
                    warnings_table.c.last_seen >= since,
                )
                .order_by(warnings_table.c.state == WarningState.CLOSED, warnings_table.c.id)
            )
            .scalars()
            .all()
        )

    def add(self, warning: RiskWarning) -> None:
        self.session.add(warning)

    def list(self, where: WarningFilter, limit: int = 500) -> Sequence[RiskWarning]:
        stmt = select(RiskWarning).order_by(
            warnings_table.c.last_seen.desc(), warnings_table.c.id.desc()
        )
        if where.scope_path is not None:
            stmt = stmt.where(
                warnings_table.c.area_path.startswith(where.scope_path, autoescape=True)
            )
        if where.kind is not None:
            stmt = stmt.where(warnings_table.c.kind == where.kind)
        if where.category:
            code = where.category
            # A level-1 group (two letters) stands for all its categories.
            if len(code) == 2:
                stmt = stmt.where(warnings_table.c.category_code.startswith(code, autoescape=True))
            else:
                stmt = stmt.where(warnings_table.c.category_code == code)
        if where.state is not None:
            stmt = stmt.where(warnings_table.c.state == where.state)
        elif where.open_only:
            stmt = stmt.where(warnings_table.c.state.in_(list(OPEN_STATES)))
        if where.since is not None:
            stmt = stmt.where(warnings_table.c.last_seen >= where.since)
        return self.session.execute(stmt.limit(limit)).scalars().all()
