"""The public transparency page (透明治理): figures of a period and area, a map of recent
cases with personal data removed, the definitions and the authority list.

Like every page it only calls services (transparency.services) with the visitor's actor;
what may be published is decided there.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from civicgrid.areas.domain import FUNCTION_LABELS, LEVEL_LABELS, Level
from civicgrid.audit import services as audit
from civicgrid.cases.domain import STEPS
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.http import allow, get_uow, platform_of, request_locale
from civicgrid.core.i18n import Locale, city_day, format_date, format_duration, translate
from civicgrid.core.permissions import Actor
from civicgrid.transparency import services
from civicgrid.transparency.domain import MAX_PERIOD_DAYS
from civicgrid.transparency.schemas import CASE_COLUMNS, definitions
from civicgrid.transparency.services import (
    AuthorityEntry,
    CaseListing,
    Filters,
    Scope,
    Summary,
)
from civicgrid.web.pages import render

router = APIRouter(include_in_schema=False)

# The CSV columns explained on the page (the others are names beside a code).
EXPLAINED_COLUMNS = (
    "id",
    "reported_on",
    "closed_on",
    "state",
    "status",
    "group",
    "category",
    "district",
    "street",
    "grid",
    "lat",
    "precision",
    "protected",
    "title",
)


@router.get("/transparency", response_class=HTMLResponse)
def transparency_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    first: str | None = Query(None, alias="from"),
    last: str | None = Query(None, alias="to"),
    area: str | None = None,
    actor: Actor = allow(services.summary),
) -> HTMLResponse:
    """Public figures, the map of recent cases and the authority list; a wrong filter is
    shown on the page, naming the field (422)."""
    locale = request_locale(request)
    ports = platform_of(request).transparency
    filters = Filters(first or None, last or None, area or None)
    found: Summary | None = None
    listing: CaseListing | None = None
    error: str | None = None
    status = 200
    try:
        found = services.summary(uow, actor, filters, ports)
        listing = services.recent_cases(uow, actor, filters, ports)
    except CivicGridError as problem:
        error, status = problem.message(locale), problem.status
    entries = services.authority_list(uow, actor)
    timezone = platform_of(request).settings.timezone
    view = PageView(locale, timezone, filters, found.scope if found else None)
    return render(
        request,
        actor,
        "transparency.html",
        status_code=status,
        error=error,
        filters=filters,
        summary=found,
        listing=listing,
        view=view,
        points=_points(listing, view) if listing else [],
        authority=_authority_rows(entries, locale),
        steps=STEPS,
        definitions=definitions(locale),
        choices=services.area_choices(uow, actor, filters.area, ports),
        max_days=MAX_PERIOD_DAYS,
        explained_columns=[c for c in EXPLAINED_COLUMNS if c in CASE_COLUMNS],
        cosigned=audit.latest_cosigned(uow, actor),
    )


class PageView:
    """Formatting for the template: numbers, shares, durations, bars and links that keep
    the filters."""

    def __init__(self, locale: Locale, tz: str, filters: Filters, scope: Scope | None) -> None:
        self.locale = locale
        self.tz = tz
        self.filters = filters
        self.scope = scope

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.locale, params)

    def share(self, value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    def number(self, value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    def hours(self, value: float | None) -> str:
        if value is None:
            return self.t("tp.none")
        return format_duration(timedelta(minutes=round(value * 60)), self.locale)

    def last_day(self, end: datetime) -> date:
        """The city's last day before an exclusive END (the midnight after it)."""
        return city_day(end - timedelta(seconds=1), self.tz)

    def bar(self, count: int, counts: list[int]) -> float:
        top = max(counts) if counts else 0
        return round(100 * count / top, 1) if top else 0.0

    def query(self, **changes: str | None) -> str:
        """The page's query string with CHANGES (None drops a parameter)."""
        values = {"from": self.filters.first, "to": self.filters.last, "area": self.filters.area}
        values.update(changes)
        kept = {k: v for k, v in values.items() if v}
        return "?" + urlencode(kept) if kept else ""

    def level(self, level: Level) -> str:
        return LEVEL_LABELS[level][self.locale]


def _points(listing: CaseListing, view: PageView) -> list[dict[str, Any]]:
    """The map's markers: what a visitor may see of each recent case, nothing more."""
    points = []
    for item in listing.items:
        if item.lat is None or item.lon is None:
            continue
        category = listing.categories.get(item.category_code)
        points.append(
            {
                "id": item.id,
                "lat": item.lat,
                "lon": item.lon,
                "grid": item.precision == "grid",
                "label": category.label(view.locale) if category else item.category_code,
                "state": view.t(f"status.{item.status.value}"),
                "closed": item.state == "closed",
                "day": format_date(item.reported_on, view.locale),
                "title": item.title,
            }
        )
    return points


def _authority_rows(entries: list[AuthorityEntry], locale: Locale) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        level = LEVEL_LABELS[entry.level][locale]
        if entry.department is not None:
            unit = entry.department.name
        elif entry.function is not None:
            unit = translate(
                "tp.authority.unit_of",
                locale,
                {"level": level, "function": FUNCTION_LABELS[entry.function][locale]},
            )
        else:
            unit = "—"
        rows.append(
            {
                "group": entry.group.label(locale),
                "group_code": entry.group.code,
                "category": entry.category.label(locale),
                "category_code": entry.category.code,
                "whole_group": entry.whole_group,
                "level": level,
                "unit": unit,
                "area": entry.area.name if entry.area else None,
                "limits": entry.limits.as_dict(),
                "total": entry.total_hours,
                "escalates": entry.auto_escalate,
            }
        )
    return rows
