"""Open311 GeoReport v2 under /open311/ (discovery, services, service definitions, requests,
tokens; JSON and XML) and the attribute list for administrators under /api/v1/open311/.

Errors of the /open311/ routes are the spec's (a list of {code, description}, `<errors>` in
XML; HTTP 400, 403 or 404) instead of the platform's JSON error: their route class catches
everything a route raises, parameter validation included. The same route class forgives a
doubled slash in the path (`/open311/v2//services.json`), which clients that join the
discovery URL with a leading-slash path produce."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from civicgrid.cases.attachments import Upload
from civicgrid.cases.services import CasePorts
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, Forbidden, InvalidInput, NotFound
from civicgrid.core.http import (
    NO_SERVICE,
    ApiRouter,
    allow,
    get_uow,
    platform_of,
    read_form,
    request_locale,
)
from civicgrid.core.i18n import Locale, pick_locale, translate
from civicgrid.core.permissions import Actor, Role, Rule
from civicgrid.core.rows import Parsed
from civicgrid.core.textinput import refuse_unstorable_form
from civicgrid.core.types import record_number
from civicgrid.open311 import services
from civicgrid.open311.domain import (
    FORMATS,
    ErrorItem,
    errors_of,
    read_submission,
    request_query,
    service_notice,
)
from civicgrid.open311.importing import check_attribute_set
from civicgrid.open311.rendering import render
from civicgrid.open311.schemas import (
    AttributeIn,
    definition_out,
    discovery_out,
    errors_out,
    receipt_out,
    request_out,
    service_out,
    token_out,
)

log = logging.getLogger("civicgrid.open311")
MAX_MEDIA_FILES = 9


class Open311Route(APIRoute):
    """A route that answers errors the spec's way and forgives doubled slashes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if "//" in path:
            scope = {**scope, "path": re.sub("/{2,}", "/", path)}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return spec_error(request, exc)

        return answer


def spec_error(request: Request, exc: Exception) -> Response:
    """The spec's error answer for anything an Open311 route raised."""
    locale = open311_locale(request)
    error: CivicGridError
    if isinstance(exc, CivicGridError):
        error = exc
    elif isinstance(exc, RequestValidationError):
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        error = InvalidInput("validation_error", details=details)
    elif isinstance(exc, StarletteHTTPException) and exc.status_code == 404:
        error = NotFound("route_not_found", path=request.url.path)
    elif isinstance(exc, StarletteHTTPException):
        status, items = exc.status_code, [ErrorItem(exc.status_code, str(exc.detail))]
        return render(format_of(request), "errors", errors_out(items), status)
    else:
        log.exception("Open311 request failed: %s", request.url.path)
        message = translate("internal_error", locale)
        return render(format_of(request), "errors", errors_out([ErrorItem(500, message)]), 500)
    status, items = errors_of(error, locale)
    return render(format_of(request), "errors", errors_out(items), status)


def format_of(request: Request) -> str:
    """The format asked for by the path's extension; XML (the spec's required format) when
    it names none we serve."""
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    extension = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    return extension if extension in FORMATS else "xml"


def open311_locale(request: Request) -> Locale:
    """?locale= (Open311 clients' habit) first, then ?lang=, the cookie, Accept-Language."""
    return pick_locale(request.query_params.get("locale"), default=request_locale(request))


def checked_format(fmt: str) -> str:
    if fmt.lower() not in FORMATS:
        raise NotFound("open311_format_not_found", format=fmt)
    return fmt.lower()


def ports_of(request: Request) -> CasePorts:
    ports: CasePorts = platform_of(request).cases
    return ports


router = ApiRouter(prefix="/open311", tags=["open311"], route_class=Open311Route)
attributes_router = ApiRouter(prefix="/api/v1/open311", tags=["open311"])

UoW = Annotated[UnitOfWork, Depends(get_uow)]


@router.get("/discovery.{fmt}")
def discovery(
    fmt: str, request: Request, uow: UoW, actor: Actor = allow(services.services_changed_at)
) -> Response:
    """Service discovery: the GeoReport v2 endpoint of this server (its URL has no trailing
    slash; clients append `/services.json`), its formats and the changeset of the service
    list."""
    fmt = checked_format(fmt)
    base = str(request.base_url)
    document = discovery_out(
        base, services.services_changed_at(uow, actor), open311_locale(request)
    )
    return render(fmt, "discovery", document)


@router.get("/v2/services.{fmt}")
def service_list(
    fmt: str,
    request: Request,
    uow: UoW,
    actor: Actor = allow(services.list_services),
    jurisdiction_id: str | None = None,
    locale: str | None = None,
) -> Response:
    """Every level-2 category as a service; names in Chinese, in English with `?locale=en`
    or `Accept-Language: en`. `jurisdiction_id` is accepted and ignored (one city)."""
    fmt = checked_format(fmt)
    lang = open311_locale(request)
    found = services.list_services(uow, actor, ports_of(request))
    return render(fmt, "services", [service_out(s, lang) for s in found])


@router.get("/v2/services/{service_code}.{fmt}")
def service_definition(
    service_code: str,
    fmt: str,
    request: Request,
    uow: UoW,
    actor: Actor = allow(services.get_service),
    jurisdiction_id: str | None = None,
    locale: str | None = None,
) -> Response:
    """A service's attributes (questions asked with a request); 404 for an unknown code."""
    fmt = checked_format(fmt)
    service = services.get_service(uow, actor, service_code, ports_of(request))
    return render(fmt, "service_definition", definition_out(service, open311_locale(request)))


# Open311 clients send their api_key inside the form, read by the route itself; the
# services it calls then check the department system the key names (SUBMITTERS).
OPEN311_SUBMISSION = Rule(None, "an Open311 client: its api_key comes in the form")


@router.post("/v2/requests.{fmt}")
async def post_request(
    fmt: str, request: Request, uow: UoW, actor: Actor = allow(OPEN311_SUBMISSION)
) -> Response:
    """Report a problem (form-encoded or multipart): `api_key` (required; 403 when missing
    or wrong), `service_code`, `lat`+`long` or `address_string` or `address_id`,
    `attribute[CODE]` (and `attribute[CODE][]` for multivaluelists), `description`
    (at most 4,000 characters), `media_url`, the reporter's `first_name`, `last_name`,
    `email`, `phone`, `account_id`, `device_id`; multipart may add photos as `media`.
    The request is a case: it is answered with its number at once (service_request_id,
    without a token, as the spec has it for a number known at once)."""
    fmt = checked_format(fmt)
    form = await read_form(request)
    refuse_unstorable_form(form.multi_items())  # a multipart form is read here, not before
    api_key = str(form.get("api_key") or request.query_params.get("api_key") or "")
    caller = await run_in_threadpool(api_client, request, uow, api_key, actor)
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    submission = read_submission(fields)
    media = []
    for name, value in form.multi_items():
        if name == "media" and isinstance(value, UploadFile) and value.filename:
            media.append(Upload(value.filename, await value.read()))
    if len(media) > MAX_MEDIA_FILES:
        raise InvalidInput("open311_too_many_media", max=MAX_MEDIA_FILES)
    ports = ports_of(request)
    prepared = await run_in_threadpool(
        services.prepare_request, uow, caller, submission, ports, media
    )
    # Taken in by the process's intake writer with the other reports of the moment, exactly
    # as POST /api/v1/cases is; the answer waits for the commit (cases.intake).
    intake = platform_of(request).intake
    reported = await intake.report(caller, prepared.new)
    receipt = await run_in_threadpool(services.record_request, uow, caller, prepared, reported.case)
    notice = service_notice(receipt.unit_name, open311_locale(request))
    answer = receipt_out(receipt.record, notice, submission.account_id)
    return render(fmt, "service_requests", [answer])


def api_client(request: Request, uow: UnitOfWork, api_key: str, actor: Actor) -> Actor:
    """The department system behind the request's api_key (or its X-API-Key header)."""
    if api_key:
        authenticator = request.app.state.authenticator
        client: Actor = authenticator.from_api_key(uow, api_key)
        uow.rollback()
        return client
    if actor.role is Role.API_CLIENT:
        return actor
    raise Forbidden("open311_api_key_missing")


@router.get("/v2/requests.{fmt}")
def request_list(
    fmt: str,
    request: Request,
    uow: UoW,
    actor: Actor = allow(services.list_requests),
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    jurisdiction_id: str | None = None,
    locale: str | None = None,
) -> Response:
    """Requests, newest first, at most 1,000: `service_request_id` (comma list; overrides
    the rest), `service_code` (comma list), `status` (open, closed), `start_date` and
    `end_date` (W3C datetimes at most 90 days apart; by default the last 90 days).
    Public, so nothing about reporters is part of the answer."""
    fmt = checked_format(fmt)
    ports = ports_of(request)
    query = request_query(
        service_request_id=service_request_id,
        service_code=service_code,
        status=status,
        start_date=start_date,
        end_date=end_date,
        now=ports.clock(),
    )
    lang = open311_locale(request)
    found = services.list_requests(uow, actor, query, ports)
    return render(fmt, "service_requests", [request_out(r, lang) for r in found])


@router.get("/v2/requests/{service_request_id}.{fmt}")
def request_detail(
    service_request_id: str,
    fmt: str,
    request: Request,
    uow: UoW,
    actor: Actor = allow(services.get_request),
    jurisdiction_id: str | None = None,
    locale: str | None = None,
) -> Response:
    """One request (a list of one, as the spec has it); 404 when there is none."""
    fmt = checked_format(fmt)
    number = record_number(service_request_id)
    if number is None:
        raise NotFound("open311_request_not_found", id=service_request_id)
    ports = ports_of(request)
    found = services.get_request(uow, actor, number, ports)
    return render(fmt, "service_requests", [request_out(found, open311_locale(request))])


@router.get("/v2/tokens/{token}.{fmt}")
def token_detail(
    token: str,
    fmt: str,
    uow: UoW,
    actor: Actor = allow(services.request_for_token),
    jurisdiction_id: str | None = None,
) -> Response:
    """The request number behind a token from POST requests; 404 for an unknown token."""
    fmt = checked_format(fmt)
    record = services.request_for_token(uow, actor, token)
    return render(fmt, "service_requests", [token_out(record)])


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
def not_found(rest: str, request: Request, actor: Actor = allow(NO_SERVICE)) -> Response:
    """Anything else under /open311/ is a 404 in the spec's error format."""
    raise NotFound("route_not_found", path=request.url.path)


# ------------------------------------------------------------------ administrators


@attributes_router.get("/attributes", response_model=list[AttributeIn])
def attribute_list(
    request: Request, uow: UoW, actor: Actor = allow(services.list_attributes)
) -> list[AttributeIn]:
    """The attributes of every service in both languages (the shipped list until an
    administrator installs one)."""
    found = services.list_attributes(uow, actor, ports_of(request))
    return [AttributeIn.of(a) for a in found]


@attributes_router.put("/attributes", response_model=list[AttributeIn])
def replace_attribute_list(
    body: list[AttributeIn],
    request: Request,
    uow: UoW,
    actor: Actor = allow(services.replace_attributes),
) -> list[AttributeIn]:
    """Replace the attribute list (administrators): every attribute is checked (its
    service, a unique code and order within it, options for list datatypes); all or none."""
    parsed: Parsed[Any] = Parsed(items=[(i, a.to_attribute()) for i, a in enumerate(body, 1)])
    ports = ports_of(request)
    services.replace_attributes(uow, actor, check_attribute_set(parsed), ports)
    return [AttributeIn.of(a) for a in services.list_attributes(uow, actor, ports)]
