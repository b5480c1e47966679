"""Tables for areas and departments, mapped onto the plain domain classes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.orm import Session

from civicgrid.areas.domain import Area, Department, Function, Level, UnitKind
from civicgrid.core.db import (
    GeoJSONGeometry,
    UtcDateTime,
    bump_revision,
    enum_column_type,
    mapper_registry,
    metadata,
    read_revision,
)

AREAS_REVISION = "areas"

areas = Table(
    "areas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("level", enum_column_type(Level, 16), nullable=False, index=True),
    Column("parent_code", String(32), ForeignKey("areas.code"), nullable=True, index=True),
    # "/city/district/…/self/": scope tests are prefix matches (see core.permissions).
    Column("path", String(400), nullable=False, index=True),
    Column("geometry", GeoJSONGeometry(), nullable=False),
    Column("area_km2", Float, nullable=False),
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

departments = Table(
    "departments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("level", enum_column_type(Level, 16), nullable=False),
    Column("area_code", String(32), ForeignKey("areas.code"), nullable=False, index=True),
    Column("kind", enum_column_type(UnitKind, 32), nullable=False),
    Column(
        "function",
        enum_column_type(Function, 32),
        nullable=False,
        server_default=Function.GENERAL.value,
    ),
    Column("phone", String(40), nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("webhook_url", String(500), nullable=False, default="", server_default=""),
)
Index("ix_departments_level_area", departments.c.level, departments.c.area_code)
Index("ix_departments_area_function", departments.c.area_code, departments.c.function)

mapper_registry.map_imperatively(Area, areas)
mapper_registry.map_imperatively(Department, departments)


class AreaRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> Area | None:
        return self.session.execute(select(Area).where(areas.c.code == code)).scalar()

    def path_of(self, code: str) -> str | None:
        """An area's path without loading its boundary (cheap, for resolving callers)."""
        return self.session.execute(select(areas.c.path).where(areas.c.code == code)).scalar()

    def get_many(self, codes: Iterable[str]) -> dict[str, Area]:
        wanted = list(set(codes))
        found: dict[str, Area] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for area in self.session.execute(select(Area).where(areas.c.code.in_(chunk))).scalars():
                found[area.code] = area
        return found

    def add(self, area: Area) -> None:
        self.session.add(area)

    def add_all(self, items: Iterable[Area]) -> None:
        self.session.add_all(list(items))

    def list(
        self,
        *,
        level: Level | None = None,
        within_path: str | None = None,
        parent_code: str | None = None,
        q: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Sequence[Area]:
        stmt = _filtered(select(Area), level, within_path, parent_code, q).order_by(areas.c.code)
        if limit is not None:
            stmt = stmt.limit(limit).offset(offset)
        return self.session.execute(stmt).scalars().all()

    def count(
        self,
        *,
        level: Level | None = None,
        within_path: str | None = None,
        parent_code: str | None = None,
        q: str | None = None,
    ) -> int:
        stmt = _filtered(
            select(func.count()).select_from(areas), level, within_path, parent_code, q
        )
        return int(self.session.execute(stmt).scalar_one())

    def count_children_by_level(self, path: str) -> dict[Level, int]:
        rows = self.session.execute(
            select(areas.c.level, func.count())
            .where(areas.c.path.startswith(path, autoescape=True), areas.c.path != path)
            .group_by(areas.c.level)
        ).all()
        return {Level(level): int(n) for level, n in rows}

    def grid_entries(self) -> Sequence[tuple[str, str, BaseGeometry]]:
        """(code, path, geometry) of every grid, for the in-memory locator."""
        rows = self.session.execute(
            select(areas.c.code, areas.c.path, areas.c.geometry).where(areas.c.level == Level.GRID)
        ).all()
        return [(str(code), str(path), geometry) for code, path, geometry in rows]

    def names(self) -> dict[str, tuple[str, int, str]]:
        """code → (name, level rank, path) of every area, for matching names in text."""
        rows = self.session.execute(select(areas.c.code, areas.c.name, areas.c.level, areas.c.path))
        return {code: (name, Level(level).rank, path) for code, name, level, path in rows}

    def revision(self) -> int:
        return read_revision(self.session, AREAS_REVISION)

    def mark_changed(self) -> None:
        bump_revision(self.session, AREAS_REVISION)


def _filtered(
    stmt: Select[Any],
    level: Level | None,
    within_path: str | None,
    parent_code: str | None,
    q: str | None,
) -> Select[Any]:
    if level is not None:
        stmt = stmt.where(areas.c.level == level)
    if within_path is not None:
        stmt = stmt.where(areas.c.path.startswith(within_path, autoescape=True))
    if parent_code is not None:
        stmt = stmt.where(areas.c.parent_code == parent_code)
    if q:
        stmt = stmt.where(
            areas.c.name.contains(q, autoescape=True) | areas.c.code.contains(q, autoescape=True)
        )
    return stmt


class DepartmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> Department | None:
        return self.session.execute(select(Department).where(departments.c.code == code)).scalar()

    def add(self, department: Department) -> None:
        self.session.add(department)

    def add_all(self, items: Iterable[Department]) -> None:
        self.session.add_all(list(items))

    def list(
        self, *, area_codes: Sequence[str] | None = None, level: Level | None = None
    ) -> Sequence[Department]:
        stmt = select(Department).order_by(departments.c.level, departments.c.code)
        if area_codes is not None:
            stmt = stmt.where(departments.c.area_code.in_(list(area_codes)))
        if level is not None:
            stmt = stmt.where(departments.c.level == level)
        return self.session.execute(stmt).scalars().all()

    def list_within(self, path: str) -> Sequence[Department]:
        stmt = (
            select(Department)
            .join(areas, areas.c.code == departments.c.area_code)
            .where(areas.c.path.startswith(path, autoescape=True))
            .order_by(departments.c.code)
        )
        return self.session.execute(stmt).scalars().all()

    def count_within(self, path: str) -> int:
        stmt = (
            select(func.count())
            .select_from(departments.join(areas, areas.c.code == departments.c.area_code))
            .where(areas.c.path.startswith(path, autoescape=True))
        )
        return int(self.session.execute(stmt).scalar_one())
