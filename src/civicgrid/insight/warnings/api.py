"""/api/v1/insight/warnings: the hot spots and surges of the caller's area, as a list and
as GeoJSON for the command map, and acknowledging or closing them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, request_locale
from civicgrid.core.permissions import Actor, Role
from civicgrid.core.schemas import HistoryOut, OutboxOut
from civicgrid.core.types import RecordId
from civicgrid.insight.warnings import services
from civicgrid.insight.warnings.schemas import HandleIn, WarningOut, parse_query

router = ApiRouter(prefix="/api/v1/insight", tags=["insight"])

KIND = Query(None, description="hotspot or surge")
CATEGORY = Query(None, description="a category, or a level-1 group for all its categories")
STATE = Query(None, description="new, acknowledged, closed, or open (new or acknowledged)")
SINCE = Query(None, description="YYYY-MM-DD: seen on or after this day (the city's day)")


@router.get("/warnings", response_model=list[WarningOut])
def list_warnings(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_warnings),
    kind: str | None = KIND,
    category: str | None = CATEGORY,
    state: str | None = STATE,
    since: str | None = SINCE,
) -> list[WarningOut]:
    """Hot spots and surges whose grid lies in the caller's area, the most recently seen
    first, each with its figures and its explanation in Chinese and English."""
    query = parse_query(kind, category, state, since)
    return [WarningOut.of(w) for w in services.list_warnings(uow, actor, query)]


@router.get("/warnings/map")
def warning_map(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.warning_map),
    kind: str | None = KIND,
    category: str | None = CATEGORY,
    state: str | None = STATE,
    since: str | None = SINCE,
) -> dict[str, Any]:
    """The same warnings as GeoJSON: one feature per warning covering its grids (a hot
    spot's cluster), with the explanation in the caller's language."""
    query = parse_query(kind, category, state, since)
    return services.warning_map(uow, actor, query, request_locale(request))


@router.post("/warnings/{warning_id}/acknowledge", response_model=WarningOut)
def acknowledge_warning(
    warning_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    body: HandleIn | None = None,
    actor: Actor = allow(services.acknowledge_warning),
) -> WarningOut:
    """Say that someone is looking into a new warning, with an optional note. A warning
    already acknowledged or closed is a 409 naming its state."""
    note = body.note if body else ""
    return WarningOut.of(services.acknowledge_warning(uow, actor, warning_id, note))


@router.post("/warnings/{warning_id}/close", response_model=WarningOut)
def close_warning(
    warning_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    body: HandleIn | None = None,
    actor: Actor = allow(services.close_warning),
) -> WarningOut:
    """Close a new or acknowledged warning (dealt with, or a false alarm: say which in the
    note)."""
    note = body.note if body else ""
    return WarningOut.of(services.close_warning(uow, actor, warning_id, note))


@router.get("/warnings/{warning_id}/history", response_model=list[HistoryOut])
def warning_history(
    warning_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.warning_history),
) -> list[HistoryOut]:
    """The warning's history: raised, seen again, acknowledged and closed — who, when, why."""
    return [HistoryOut.of(e) for e in services.warning_history(uow, actor, warning_id)]


@router.get("/warnings/{warning_id}/notices", response_model=list[OutboxOut])
def warning_notices(
    warning_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.warning_notices),
) -> list[OutboxOut]:
    """Who was told of the warning, how (phones masked but for administrators), and
    whether it was delivered."""
    reveal = actor.role is Role.ADMIN
    notices = services.warning_notices(uow, actor, warning_id)
    return [OutboxOut.of(m, reveal=reveal) for m in notices]
