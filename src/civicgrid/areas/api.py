"""/api/v1/areas and /api/v1/departments."""

from __future__ import annotations

import json
from typing import Annotated, Any

import shapely
from fastapi import Depends, Query, Request

from civicgrid.areas import services
from civicgrid.areas.domain import Level
from civicgrid.areas.schemas import (
    AreaDetailOut,
    AreaOut,
    AreaPage,
    DepartmentChangeIn,
    DepartmentIn,
    DepartmentOut,
    LocatedOut,
)
from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of
from civicgrid.core.permissions import Actor
from civicgrid.core.schemas import HistoryOut
from civicgrid.core.types import PageNumber

router = ApiRouter(prefix="/api/v1", tags=["areas"])


@router.get("/areas", response_model=AreaPage)
def list_areas(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_areas),
    level: Level | None = None,
    parent: str | None = Query(None, description="only the children of this area code"),
    q: str | None = Query(None, description="part of a name or code"),
    page: PageNumber = 1,
    page_size: int = Query(50, ge=1, le=500),
) -> AreaPage:
    """Areas the caller may see: the whole city for the public, the caller's own area (and
    everything below it) for staff."""
    items = services.list_areas(
        uow,
        actor,
        level=level,
        parent_code=parent,
        q=q,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    total = services.count_areas(uow, actor, level=level, parent_code=parent, q=q)
    return AreaPage(
        items=[AreaOut.of(a) for a in items], total=total, page=page, page_size=page_size
    )


@router.get("/areas/locate", response_model=LocatedOut)
def locate(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    lat: float = Query(..., description="latitude, WGS84"),
    lon: float = Query(..., description="longitude, WGS84"),
    actor: Actor = allow(services.locate_point),
) -> LocatedOut:
    """The one grid containing the point, with its community, street, district and city.
    404 `outside_city` when no grid contains it; 422 when the coordinates are out of range
    or look swapped."""
    located = services.locate_point(uow, actor, platform_of(request).locator_cache, lat, lon)
    return LocatedOut.of(located)


@router.get("/areas/geojson")
def areas_geojson(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.map_areas),
    levels: str = Query(
        "district,street,community,grid", description="comma-separated levels to include"
    ),
) -> dict[str, Any]:
    """The caller's areas as a GeoJSON FeatureCollection for the map, each with a point
    inside it for its name (`label_point`); areas above the caller's own are included as
    outlines with `context: true`."""
    wanted = [Level.parse(part) for part in levels.split(",") if part.strip()]
    features = []
    for area, is_context in services.map_areas(uow, actor, wanted):
        inside = area.geometry.representative_point()
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(shapely.to_geojson(area.geometry)),
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "level": area.level.value,
                    "parent_code": area.parent_code,
                    "context": is_context,
                    # Where its name goes on the map: a point inside the outline.
                    "label_point": [round(inside.x, 6), round(inside.y, 6)],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


@router.get("/areas/{code}", response_model=AreaDetailOut)
def area_detail(
    code: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.area_detail),
) -> AreaDetailOut:
    """One area with its ancestors, children, handling units, grid workers and counts.
    Personal data (worker names and phones) is masked outside the caller's scope."""
    return AreaDetailOut.of_detail(services.area_detail(uow, actor, code))


@router.get("/departments", response_model=list[DepartmentOut])
def list_departments(
    uow: Annotated[UnitOfWork, Depends(get_uow)], actor: Actor = allow(services.list_departments)
) -> list[DepartmentOut]:
    """Handling units in the caller's area and above it."""
    return [DepartmentOut.of(d) for d in services.list_departments(uow, actor)]


@router.post("/departments", response_model=DepartmentOut, status_code=201)
def add_department(
    body: DepartmentIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_department),
) -> DepartmentOut:
    """Register a handling unit: a government department or a non-government unit."""
    department = services.add_department(uow, actor, **body.model_dump())
    return DepartmentOut.of(department)


@router.patch("/departments/{code}", response_model=DepartmentOut)
def change_department(
    code: str,
    body: DepartmentChangeIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.change_department),
) -> DepartmentOut:
    """Rename a unit, change its phone or webhook, or take it out of service (inactive
    units are no longer routed to); each change is kept in its history with the reason."""
    return DepartmentOut.of(
        services.change_department(uow, actor, code, body.to_change(), body.reason)
    )


@router.get("/departments/{code}/history", response_model=list[HistoryOut])
def department_history(
    code: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.department_history),
) -> list[HistoryOut]:
    """Every change of a unit since it was registered: who, when, why, old and new."""
    return [HistoryOut.of(e) for e in services.department_history(uow, actor, code)]
