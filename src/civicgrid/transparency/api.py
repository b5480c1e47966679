"""/api/v1/transparency: the public figures, recent cases and the authority list, as JSON
and as CSV (UTF-8 with a byte-order mark, for Excel). Public: no login, no personal data."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of, request_locale
from civicgrid.core.permissions import Actor
from civicgrid.transparency import services
from civicgrid.transparency.schemas import (
    AuthorityOut,
    CaseListOut,
    SummaryOut,
    authority_csv,
    cases_csv,
    summary_csv,
)
from civicgrid.transparency.services import Filters, TransparencyPorts

router = ApiRouter(prefix="/api/v1/transparency", tags=["transparency"])

FROM = Query(None, alias="from", description="first day, YYYY-MM-DD (default: 12 months ago)")
TO = Query(None, alias="to", description="last day, YYYY-MM-DD (default: today); at most 731 days")
AREA = Query(None, description="an area code: a district, a street, …; default the whole city")


def ports_of(request: Request) -> TransparencyPorts:
    ports: TransparencyPorts = platform_of(request).transparency
    return ports


def csv_response(body: str, name: str) -> Response:
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "public, max-age=60",
        },
    )


def _name(kind: str, filters: Filters) -> str:
    parts = [kind, filters.area or "city", filters.first or "", filters.last or ""]
    name = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".csv"


@router.get("/summary", response_model=SummaryOut, response_model_by_alias=True)
@router.get(
    "/summary.json",
    response_model=SummaryOut,
    response_model_by_alias=True,
    include_in_schema=False,
)
def summary(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    first: str | None = FROM,
    last: str | None = TO,
    area: str | None = AREA,
    actor: Actor = allow(services.summary),
) -> SummaryOut:
    """Cases reported in the period by category, area (one level below the one asked
    about) and month; of the cases closed in the period the median time to close, the
    on-time rate and the satisfaction of the ratings, with their definitions. A wrong date
    or a period over 731 days is a 422 naming the field."""
    found = services.summary(uow, actor, Filters(first, last, area), ports_of(request))
    return SummaryOut.of(found, request_locale(request))


@router.get("/summary.csv", response_class=Response)
def summary_as_csv(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    first: str | None = FROM,
    last: str | None = TO,
    area: str | None = AREA,
    actor: Actor = allow(services.summary),
) -> Response:
    """The summary as CSV, one figure a row: section, code, name, name_en, value."""
    filters = Filters(first, last, area)
    found = services.summary(uow, actor, filters, ports_of(request))
    return csv_response(summary_csv(found), _name("transparency-summary", filters))


@router.get("/cases.json", response_model=CaseListOut)
def recent_cases(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    first: str | None = FROM,
    last: str | None = TO,
    area: str | None = AREA,
    actor: Actor = allow(services.recent_cases),
) -> CaseListOut:
    """The newest cases (at most 500) reported in the last 30 days of the period, with
    personal data removed: no names, phones, addresses or descriptions; the place rounded
    to about 100 m, or to the grid's centre for cases about a person (which show no
    title either)."""
    listing = services.recent_cases(uow, actor, Filters(first, last, area), ports_of(request))
    return CaseListOut.of(listing)


@router.get("/cases.csv", response_class=Response)
def recent_cases_as_csv(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    first: str | None = FROM,
    last: str | None = TO,
    area: str | None = AREA,
    actor: Actor = allow(services.recent_cases),
) -> Response:
    """The same recent cases as CSV, the columns of the JSON items."""
    filters = Filters(first, last, area)
    listing = services.recent_cases(uow, actor, filters, ports_of(request))
    return csv_response(cases_csv(listing), _name("transparency-cases", filters))


@router.get("/authority-list.json", response_model=list[AuthorityOut])
def authority_list(
    uow: Annotated[UnitOfWork, Depends(get_uow)], actor: Actor = allow(services.authority_list)
) -> list[AuthorityOut]:
    """The published authority list (事权清单): for each category and level, the unit
    responsible (by function, or named) and the hours allowed for each step."""
    return [AuthorityOut.of(e) for e in services.authority_list(uow, actor)]


@router.get("/authority-list.csv", response_class=Response)
def authority_list_as_csv(
    uow: Annotated[UnitOfWork, Depends(get_uow)], actor: Actor = allow(services.authority_list)
) -> Response:
    """The authority list as CSV, one rule a row, hours per step."""
    entries = services.authority_list(uow, actor)
    return csv_response(authority_csv(entries), "authority-list.csv")
