"""The warnings page (风险预警): the hot spots and surges of the caller's area with their
explanations, acknowledged and closed by cadres, dispatchers and leaders. The command map
(/dispatch) draws the same warnings from the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.http import allow, get_uow, request_locale
from civicgrid.core.permissions import Actor
from civicgrid.core.types import RecordId
from civicgrid.insight.warnings import services
from civicgrid.insight.warnings.domain import RiskWarning, WarningKind, WarningState
from civicgrid.insight.warnings.schemas import parse_query
from civicgrid.web.case_pages import DISPATCH_VIEWERS, case_page, labels_for

router = APIRouter(include_in_schema=False)

STATE_CHOICES = ["open", *(s.value for s in WarningState), "all"]


def _page(
    request: Request, uow: UnitOfWork, actor: Actor, error: str | None = None, status: int = 200
) -> HTMLResponse:
    params = request.query_params
    state = params.get("state", "open")
    kind = params.get("kind", "")
    try:
        query = parse_query(kind or None, None, None if state == "all" else state, None)
        found = services.list_warnings(uow, actor, query, limit=200)
    except CivicGridError as problem:
        found, error, status = [], problem.message(request_locale(request)), problem.status
    handling = services.handling_of(uow, actor, found)
    grids = {g for w in found for g in w.cluster}
    labels = labels_for(request, uow, actor, grid_codes=grids)
    separator = "、" if labels.locale == "zh" else ", "
    return case_page(
        request,
        actor,
        "warnings/list.html",
        labels,
        names_of=lambda codes: separator.join(labels.grid(c) for c in codes),
        status_code=status,
        warnings=found,
        handling=handling,
        state=state,
        kind=kind,
        states=STATE_CHOICES,
        kinds=[k.value for k in WarningKind],
        can_handle=actor.role in services.WARNING_HANDLERS,
        sees_cases=actor.role in DISPATCH_VIEWERS,
        error=error,
    )


@router.get("/warnings", response_class=HTMLResponse)
def warnings_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_warnings),
) -> HTMLResponse:
    """The warnings of the caller's area, open ones by default, newest first."""
    return _page(request, uow, actor)


@router.post("/warnings/{warning_id}/acknowledge", response_class=HTMLResponse, response_model=None)
def acknowledge_warning(
    warning_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    note: Annotated[str, Form()] = "",
    actor: Actor = allow(services.acknowledge_warning),
) -> Response:
    """Acknowledge one warning from the list (someone is on it)."""
    return _handle(request, uow, actor, services.acknowledge_warning, warning_id, note)


@router.post("/warnings/{warning_id}/close", response_class=HTMLResponse, response_model=None)
def close_warning(
    warning_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    note: Annotated[str, Form()] = "",
    actor: Actor = allow(services.close_warning),
) -> Response:
    """Close one warning from the list (dealt with, or a false alarm)."""
    return _handle(request, uow, actor, services.close_warning, warning_id, note)


def _handle(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    action: Callable[[UnitOfWork, Actor, int, str], RiskWarning],
    warning_id: RecordId,
    note: str,
) -> Response:
    """Back to the list at the warning, or the list with the reason it could not be done."""
    try:
        action(uow, actor, warning_id, note)
    except CivicGridError as problem:
        uow.rollback()
        return _page(request, uow, actor, problem.message(request_locale(request)), problem.status)
    return RedirectResponse(f"/warnings#warning-{warning_id}", status_code=303)
