"""API shapes for areas and departments."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from civicgrid.areas.domain import Area, Department, Function, Level, UnitKind
from civicgrid.areas.services import AreaDetail, AreaRef, Located, UnitChange


class AreaRefOut(BaseModel):
    code: str
    name: str
    level: Level

    @classmethod
    def of(cls, ref: AreaRef | Area) -> AreaRefOut:
        return cls(code=ref.code, name=ref.name, level=ref.level)


class AreaOut(BaseModel):
    code: str
    name: str
    level: Level
    parent_code: str | None
    area_km2: float
    bbox: list[float] = Field(description="[min_lon, min_lat, max_lon, max_lat], WGS84")

    @classmethod
    def of(cls, area: Area) -> AreaOut:
        return cls(
            code=area.code,
            name=area.name,
            level=area.level,
            parent_code=area.parent_code,
            area_km2=round(area.area_km2, 4),
            bbox=[area.min_lon, area.min_lat, area.max_lon, area.max_lat],
        )


class AreaPage(BaseModel):
    items: list[AreaOut]
    total: int
    page: int
    page_size: int


class DepartmentOut(BaseModel):
    code: str
    name: str
    level: Level
    area_code: str
    kind: UnitKind
    function: Function
    phone: str
    active: bool = True
    has_webhook: bool = Field(False, description="its own system is told of new work")

    @classmethod
    def of(cls, department: Department) -> DepartmentOut:
        return cls(
            code=department.code,
            name=department.name,
            level=department.level,
            area_code=department.area_code,
            kind=department.kind,
            function=department.function,
            phone=department.phone,
            active=department.active,
            has_webhook=bool(department.webhook_url),
        )


class DepartmentIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    level: Level
    area_code: str
    kind: UnitKind = UnitKind.GOVERNMENT
    function: Function = Function.GENERAL
    phone: str = ""
    webhook_url: str = Field("", max_length=500, description="its own system's http(s) address")


class DepartmentChangeIn(BaseModel):
    """What to change of a unit (fields left out stay as they are) and why."""

    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    active: bool | None = None
    webhook_url: str | None = Field(None, max_length=500)
    reason: str = Field("", max_length=1000)

    def to_change(self) -> UnitChange:
        return UnitChange(
            name=self.name, phone=self.phone, active=self.active, webhook_url=self.webhook_url
        )


class WorkerOut(BaseModel):
    username: str
    name: str
    phone: str


class AreaDetailOut(AreaOut):
    ancestors: list[AreaRefOut]
    children: list[AreaRefOut]
    counts: dict[str, Any]
    departments: list[DepartmentOut]
    workers: list[WorkerOut]
    full_view: bool = Field(description="False when personal data is masked for the caller")
    geometry: dict[str, Any]

    @classmethod
    def of_detail(cls, detail: AreaDetail) -> AreaDetailOut:
        import json

        import shapely

        base = AreaOut.of(detail.area)
        return cls(
            **base.model_dump(),
            ancestors=[AreaRefOut.of(a) for a in detail.ancestors],
            children=[AreaRefOut.of(c) for c in detail.children],
            counts=detail.counts,
            departments=[DepartmentOut.of(d) for d in detail.departments],
            workers=[WorkerOut(**w) for w in detail.workers],
            full_view=detail.full_view,
            geometry=json.loads(shapely.to_geojson(detail.area.geometry)),
        )


class LocatedOut(BaseModel):
    lat: float
    lon: float
    grid: AreaRefOut
    ancestors: list[AreaRefOut] = Field(description="From the city down to the community")

    @classmethod
    def of(cls, located: Located) -> LocatedOut:
        return cls(
            lat=located.lat,
            lon=located.lon,
            grid=AreaRefOut.of(located.grid),
            ancestors=[AreaRefOut.of(a) for a in located.ancestors],
        )
