"""Server-rendered pages: the grid map, area details (HTMX partials), login and language."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from civicgrid.accounts import services as accounts
from civicgrid.areas import services as areas
from civicgrid.areas.domain import LEVEL_LABELS, UNIT_KIND_LABELS, Level
from civicgrid.core import csrf
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.http import (
    LOCALE_COOKIE,
    NO_SERVICE,
    TOKEN_COOKIE,
    allow,
    client_address,
    get_uow,
    platform_of,
    request_locale,
    token_of,
)
from civicgrid.core.i18n import (
    LOCALES,
    N_,
    Locale,
    format_date,
    format_datetime,
    format_duration,
    translate,
)
from civicgrid.core.permissions import ANONYMOUS, ROLE_LABELS, Actor, Role

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
# Marks a message key a template only holds (a link's label) for `pybabel extract`.
TEMPLATES.env.globals["N_"] = N_


# Every form that posts carries `{{ csrf_field() }}`, and <body> gives htmx the same token
# as a header (core.csrf): a token for this browser, masked afresh on each page.
@pass_context
def _csrf_token(context: Context) -> str:
    request: Request = context["request"]
    return csrf.form_token(request.scope, platform_of(request).settings.secret_key)


@pass_context
def _csrf_field(context: Context) -> Markup:
    token = _csrf_token(context)
    return Markup(f'<input type="hidden" name="{csrf.FIELD}" value="{token}">')


TEMPLATES.env.globals.update(csrf_token=_csrf_token, csrf_field=_csrf_field)


# The base map the pages' maps draw (static/basemap.js reads it from a <meta>): the city's
# tile layer when Settings configures one, else nothing, and the maps draw what CivicGrid
# knows. The tile server is let into the pages' img-src only then (core.headers).
@pass_context
def _basemap_config(context: Context) -> str:
    settings = platform_of(context["request"]).settings
    if not settings.basemap_url:
        return "{}"
    return json.dumps(
        {
            "url": settings.basemap_url,
            "overlay": settings.basemap_overlay_url,
            "attribution": settings.basemap_attribution,
            "maxZoom": settings.basemap_max_zoom,
            "subdomains": settings.basemap_subdomain_list or "abc",
            "crs": settings.basemap_crs,
        },
        ensure_ascii=False,
    )


TEMPLATES.env.globals["basemap_config"] = _basemap_config


# Every date, time and duration on a page, in the reader's language and the city's time zone
# (render puts both in each page's context): `{{ case.created_at|datetime }}`,
# `|datetime(year=False)`, `|date`, `|duration`.
@pass_context
def _datetime(context: Context, value: datetime | None, year: bool = True) -> str:
    return format_datetime(value, context["lang"], context["timezone"], year=year) if value else "—"


@pass_context
def _date(context: Context, value: date | datetime | None, year: bool = True) -> str:
    return format_date(value, context["lang"], context["timezone"], year=year) if value else "—"


@pass_context
def _duration(context: Context, value: timedelta) -> str:
    return format_duration(value, context["lang"])


TEMPLATES.env.filters.update(datetime=_datetime, date=_date, duration=_duration)

router = APIRouter(include_in_schema=False)


def render(
    request: Request, actor: Actor, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    locale = request_locale(request)

    def t(key: str, **params: Any) -> str:
        return translate(key, locale, params)

    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": locale,
            "timezone": platform_of(request).settings.timezone,
            "other_lang": "en" if locale == "zh" else "zh",
            "actor": actor,
            "role_label": ROLE_LABELS[actor.role][locale] if actor.role else "",
            "level_label": lambda level: LEVEL_LABELS[Level(level)][locale],
            "kind_label": lambda kind: UNIT_KIND_LABELS[kind][locale],
            **context,
        },
        status_code=status_code,
    )


@router.get("/", response_class=HTMLResponse)
def index(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(areas.list_areas),
) -> HTMLResponse:
    """The grid map: the caller's areas drawn as the base map, details beside it."""
    scope_name = None
    shown_levels = [Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID]
    if actor.is_staff and actor.area_code:
        own = areas.area_detail(uow, actor, actor.area_code).area
        scope_name = own.name
        shown_levels = [level for level in shown_levels if level.rank > own.level.rank]
    counts = {level: areas.count_areas(uow, actor, level=level) for level in shown_levels}
    # The city's name is public, whatever part of it the caller is responsible for.
    cities = areas.list_areas(uow, ANONYMOUS, level=Level.CITY, limit=1)
    return render(
        request,
        actor,
        "index.html",
        city_name=cities[0].name if cities else "",
        scope_name=scope_name,
        counts=counts,
    )


@router.get("/partials/area/{code}", response_class=HTMLResponse)
def area_panel(
    code: str,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(areas.area_detail),
) -> HTMLResponse:
    """The detail panel of one area (loaded by HTMX when a grid is tapped)."""
    try:
        detail = areas.area_detail(uow, actor, code)
    except CivicGridError as error:
        return render(
            request,
            actor,
            "partials/error.html",
            status_code=error.status,
            message=error.message(request_locale(request)),
        )
    return render(request, actor, "partials/area_detail.html", detail=detail)


@router.get("/partials/search", response_class=HTMLResponse)
def search_panel(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    q: str = "",
    actor: Actor = allow(areas.list_areas),
) -> HTMLResponse:
    """Areas whose name or code contains Q, for the search box."""
    found = areas.list_areas(uow, actor, q=q.strip(), limit=20) if q.strip() else []
    return render(request, actor, "partials/search.html", found=found, q=q)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", actor: Actor = allow(NO_SERVICE)) -> HTMLResponse:
    """The login form."""
    return render(request, actor, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    actor: Actor = allow(accounts.log_in),
) -> Response:
    """Check the credentials and keep the access token in an HttpOnly cookie. Too many
    wrong passwords lock the account for a while; the page says until when."""
    settings = platform_of(request).settings
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    try:
        issued = accounts.log_in(
            uow,
            actor,
            username,
            password,
            settings.secret_key,
            ttl,
            throttle=request.app.state.login_throttle,
            address=client_address(request),
        )
    except CivicGridError as error:
        page = render(
            request,
            actor,
            "login.html",
            status_code=error.status,
            next=_safe_next(next),
            error=error.message(request_locale(request)),
            username=username,
        )
        if error.status == 429:
            page.headers["Retry-After"] = str(error.params.get("seconds", 60))
        return page
    target = _safe_next(next)
    if target == "/":  # no page asked for: the page of her daily work
        target = LANDING.get(Role(issued.user.role), "/")
    response = RedirectResponse(target, status_code=303)
    remember_login(response, issued.access_token, ttl, settings.environment == "production")
    return response


# Where each role's daily work starts: a login that asked for no page lands there. A leader's
# and a cadre's is the command centre of their area; a resident's is the grid map with the
# report and tracking links.
LANDING: dict[Role, str] = {
    Role.DISPATCHER: "/dispatch",
    Role.HANDLER: "/inbox",
    Role.GRID_WORKER: "/grid",
    Role.LEADER: "/command",
    Role.CADRE: "/command",
    Role.DATA_ADMIN: "/registry",
    Role.ADMIN: "/admin/rules",
}


def remember_login(response: Response, token: str, ttl: timedelta, secure: bool) -> None:
    """Keep the access token in an HttpOnly cookie (login and sign-up)."""
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
    )


@router.post("/logout")
def logout(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(accounts.log_out),
) -> RedirectResponse:
    """End the session of this browser's login (its token stops working at once, not only
    the cookie) and forget the cookie."""
    accounts.log_out(uow, actor, token_of(request), request.app.state.ended_tokens)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/lang/{locale}")
def switch_language(locale: str, next: str = "/", actor: Actor = allow(NO_SERVICE)) -> Response:
    """Remember the chosen page language (zh or en) in a cookie."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    chosen: Locale = "en" if locale == "en" else "zh"
    if locale in LOCALES:
        response.set_cookie(LOCALE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax")
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """What a person sees when a page refuses them or is not there (installed as the
    app's error page; API clients keep getting JSON)."""
    actor = getattr(request.state, "actor", ANONYMOUS)
    return render(request, actor, "error.html", status_code=status, status=status, message=message)


def _safe_next(target: str) -> str:
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
