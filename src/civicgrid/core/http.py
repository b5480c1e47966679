"""HTTP plumbing shared by every api.py and the pages: the unit of work per request, the
caller's locale, the permission dependency every route must declare, and error rendering.

Credentials are turned into an Actor by an Authenticator that the composition root
(civicgrid.app) installs, so core needs no domain module.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.routing import Match, get_route_path
from starlette.types import Scope

from civicgrid.core import csrf
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, Forbidden, NotAuthenticated
from civicgrid.core.i18n import Locale, pick_locale, translate
from civicgrid.core.permissions import ANONYMOUS, Actor, Rule, rule_of
from civicgrid.core.security import API_KEY_PREFIX, TokenClaims, read_token

TOKEN_COOKIE = "civicgrid_token"
LOCALE_COOKIE = "civicgrid_lang"
# Forms are parsed as they arrive and refused (400) past these: more files than any form
# takes (nine photos; a few more get the form's own "at most nine" beside the field),
# more fields than any form has, or a text field longer than any text we keep. The
# whole body is limited by CIVICGRID_MAX_REQUEST_MB (app.py).
FORM_LIMITS = {"max_files": 20, "max_fields": 300, "max_part_size": 128 * 1024}


@dataclass(frozen=True)
class Credentials:
    kind: Literal["token", "api_key", "cookie"]
    value: str


class Authenticator(Protocol):
    def from_token(self, uow: UnitOfWork, token: str, secret: str) -> Actor: ...
    def from_api_key(self, uow: UnitOfWork, key: str) -> Actor: ...
    def remembered(self, credentials: Credentials, secret: str, engine: Any) -> Actor | None: ...


class ApiRouter(APIRouter):
    """An API router that says "no match" at once for a path outside its prefix. FastAPI
    otherwise tries every route of every router in turn, one regular expression each:
    about a hundred before a read of the exchange, a tenth of that read's CPU."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(self.prefix):
            return Match.NONE, {}
        return super().matches(scope)


def platform_of(request: Request) -> Any:
    return request.app.state.platform


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work. Async because opening one does no I/O (the session
    connects on first use, in the endpoint's thread), which saves two thread-pool hops per
    request; closing returns the connection to the pool."""
    with UnitOfWork(platform_of(request).session_factory) as uow:
        yield uow


def request_locale(request: Request) -> Locale:
    """?lang= first, then the language cookie set by the pages' switch. Pages then fall back
    to the platform's language (Chinese first, whatever the browser says); API clients
    are answered in their Accept-Language."""
    default: Locale = platform_of(request).settings.default_locale
    header = None if is_page(request) else request.headers.get("accept-language")
    return pick_locale(
        request.query_params.get("lang"),
        request.cookies.get(LOCALE_COOKIE),
        header,
        default=default,
    )


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/open311/", "/health", "/openapi"))


# The rule of the few routes that call no service: a form, a redirect, the language
# switch, the health check.
NO_SERVICE = Rule(None, "calls no service: a form, a redirect or a check anyone may use")


class Caller:
    """The permission rule of one route, used as `actor: Actor = allow(service)`: the rule
    the service function declares with @permission, so a route and the service it calls
    can never disagree about who may call them. SOURCES are those service functions (none
    for the few routes that call no service, which name a Rule of their own).

    tests/integration/test_permissions.py fails for any route without exactly one Caller."""

    def __init__(self, rule: Rule, sources: tuple[Callable[..., Any], ...] = ()) -> None:
        self.rule = rule
        self.sources = sources

    async def __call__(self, request: Request) -> Actor:
        # A caller seen lately is known without the database (most requests); anyone else
        # is looked up in a thread, with a connection held only for that.
        credentials = credentials_of(request)
        if needs_csrf_check(request, credentials):
            await check_csrf(request)
        actor = remembered_caller(request, credentials)
        if actor is None:
            actor = await run_in_threadpool(looked_up_caller, request, credentials)
        request.state.actor = actor  # also for the error page when the rule refuses
        self.rule.check(actor)
        return actor


def allow(*actions: Callable[..., Any] | Rule, only: Rule | None = None) -> Any:
    """The route's caller, checked by the rule of the service function it calls (its
    @permission), or of the services when it calls one or another by who is calling (the
    union of their rules); a route that calls no service names a Rule of its own. ONLY
    narrows a page to the roles it is made for (the dispatch page for the centre), never
    wider than its services allow."""
    rules = []
    for action in actions:
        rule = action if isinstance(action, Rule) else rule_of(action)
        if rule is None:
            raise TypeError(f"{getattr(action, '__qualname__', action)} declares no rule")
        rules.append(rule)
    combined = functools.reduce(Rule.union, rules)
    if only is not None:
        combined = combined.within(only)
    sources = tuple(a for a in actions if not isinstance(a, Rule))
    return Depends(Caller(combined, sources))


def credentials_of(request: Request) -> Credentials | None:
    """A bearer token or API key in the headers, else the pages' login cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        credential = header[7:].strip()
        kind: Literal["token", "api_key"] = (
            "api_key" if credential.startswith(API_KEY_PREFIX) else "token"
        )
        return Credentials(kind, credential)
    api_key = request.headers.get("x-api-key")
    if api_key:
        return Credentials("api_key", api_key)
    cookie = request.cookies.get(TOKEN_COOKIE)
    return Credentials("cookie", cookie) if cookie else None


def needs_csrf_check(request: Request, credentials: Credentials | None) -> bool:
    """Whether a browser could have sent this request for another site (core.csrf): every
    unsafe request to the pages, logged in or not (a forged login is an attack too), and
    to the API when the login cookie is its only credential. A bearer token or an API key
    is never added by a browser by itself, so API clients need no token."""
    if request.method in csrf.SAFE_METHODS:
        return False
    if credentials is not None and credentials.kind != "cookie":
        return False
    return is_page(request) or credentials is not None


async def check_csrf(request: Request) -> None:
    """403 unless the request comes from our own origin with the token of a form we drew
    for this browser (a form field, or htmx's X-CSRF-Token header)."""
    settings = platform_of(request).settings
    trusted = [o.strip() for o in settings.trusted_origins.split(",") if o.strip()]
    foreign = csrf.foreign_origin(request.headers, request.url.scheme, trusted)
    if foreign is not None:
        raise Forbidden("csrf_foreign_origin", origin=foreign[:100])
    token = request.headers.get(csrf.HEADER)
    content_type = request.headers.get("content-type", "")
    if token is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await read_form(request)).get(csrf.FIELD)
        token = field if isinstance(field, str) else None
    browser = csrf.browser_secret(request.scope)
    secret = None if browser.minted else browser.value
    if not csrf.token_matches(token, settings.secret_key, secret):
        raise Forbidden("csrf_token_invalid")


async def read_form(request: Request) -> FormData:
    """The request's form, parsed within FORM_LIMITS as FastAPI parses Form parameters
    (app.py), for routes that read the form themselves."""
    return await request.form(**FORM_LIMITS)


def remembered_caller(request: Request, credentials: Credentials | None) -> Actor | None:
    if credentials is None:
        return ANONYMOUS
    authenticator: Authenticator = request.app.state.authenticator
    platform = platform_of(request)
    return authenticator.remembered(credentials, platform.settings.secret_key, platform.engine)


def looked_up_caller(request: Request, credentials: Credentials | None) -> Actor:
    with UnitOfWork(platform_of(request).session_factory) as uow:
        return authenticate(request, uow, credentials)


def authenticate(request: Request, uow: UnitOfWork, credentials: Credentials | None) -> Actor:
    """The actor behind the request's CREDENTIALS (credentials_of); anonymous without."""
    authenticator: Authenticator = request.app.state.authenticator
    secret = platform_of(request).settings.secret_key
    if credentials is None:
        return ANONYMOUS
    if credentials.kind == "api_key":
        return authenticator.from_api_key(uow, credentials.value)
    if credentials.kind == "token":
        return authenticator.from_token(uow, credentials.value, secret)
    try:
        return authenticator.from_token(uow, credentials.value, secret)
    except NotAuthenticated:
        # A stale page cookie must not lock the visitor out of public pages.
        request.state.stale_cookie = True
        return ANONYMOUS


def count_attempt(request: Request, name: str) -> None:
    """One attempt by this client against the app's limiter NAME; 429 when over it. The
    attempt is stored in a transaction of its own (a failed guess counts even when the
    request's own is rolled back), so call this before the request writes: on SQLite a
    thread that holds the write turn would wait for itself."""
    limiter = request.app.state.limiters[name]
    limiter.check(client_address(request))


def token_of(request: Request) -> TokenClaims | None:
    """The claims of the request's access token (a bearer token or the pages' cookie), or
    None without a valid one (an API key, nothing, a stale cookie)."""
    credentials = credentials_of(request)
    if credentials is None or credentials.kind == "api_key":
        return None
    try:
        return read_token(credentials.value, platform_of(request).settings.secret_key)
    except NotAuthenticated:
        return None


def client_address(request: Request) -> str:
    """The client's address: the socket's peer, or what a trusted proxy forwarded
    (core.proxies has set it by now)."""
    return request.client.host if request.client else "-"


def limit_attempts(name: str) -> Any:
    """The same, as a route dependency."""

    def check(request: Request) -> None:
        count_attempt(request, name)

    return Depends(check)


def wants_html(request: Request) -> bool:
    return is_page(request) and "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    retry_after: int | None = None,
    details: dict[str, Any] | None = None,
) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)  # a 429: how many seconds to wait
    if status == 401 and wants_html(request):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    # People get a page in the site's frame; the web layer installs how it is drawn.
    page = getattr(request.app.state, "error_page", None)
    if page is not None and wants_html(request):
        rendered: Response = page(request, status, message)
        rendered.headers.update(headers)
        return rendered
    return JSONResponse(
        {"error": {"code": code, "message": message, **(details or {})}},
        status_code=status,
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CivicGridError)
    async def domain_error(request: Request, exc: CivicGridError) -> Response:
        seconds = exc.params.get("seconds") if exc.status == 429 else None
        return error_response(
            request,
            exc.status,
            exc.message_key,
            exc.message(request_locale(request)),
            retry_after=int(seconds) if isinstance(seconds, int | float) else None,
            details=exc.details(),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in exc.errors()
        )
        locale = request_locale(request)
        message = translate("validation_error", locale, {"details": details})
        return error_response(request, 422, "validation_error", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        locale = request_locale(request)
        if exc.status_code == 404:
            message = translate("route_not_found", locale, {"path": request.url.path})
            return error_response(request, 404, "not_found", message)
        if exc.status_code == 405:
            message = translate("method_not_allowed", locale)
            return error_response(request, 405, "method_not_allowed", message)
        if exc.status_code == 413:
            limit = platform_of(request).settings.max_request_mb
            message = translate("request_too_large", locale, {"max": f"{limit:g}"})
            return error_response(request, 413, "request_too_large", message)
        if isinstance(exc.__context__, MultiPartException):  # past FORM_LIMITS, or malformed
            message = translate("form_unreadable", locale, {"details": exc.detail})
            return error_response(request, 400, "form_unreadable", message)
        return error_response(request, exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        message = translate("internal_error", request_locale(request))
        return error_response(request, 500, "internal_error", message)
