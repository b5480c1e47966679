"""The residents' portal, phone first: an account of one's own (or none), reporting in three
steps with a category suggested while typing, "someone already reported this — add your
voice" before sending, and following a case in plain words, where its reporter says whether
the fix held, rates it and reopens it — with the case's number and her phone when she has
no account.

As everywhere, the pages only build requests and call the services; what a person may do
is decided there. Form errors come back beside the field they concern, with everything
else as it was typed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.accounts import services as accounts
from civicgrid.accounts.domain import MIN_PASSWORD_LENGTH, NewResident
from civicgrid.cases import services as cases
from civicgrid.cases.domain import Channel
from civicgrid.cases.repository import CaseFilter
from civicgrid.cases.services import REPORTER_PASS_TTL, Followed, NearbyCase
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import (
    CivicGridError,
    InvalidFields,
    InvalidInput,
    NotAuthenticated,
)
from civicgrid.core.http import (
    NO_SERVICE,
    allow,
    count_attempt,
    get_uow,
    platform_of,
    request_locale,
)
from civicgrid.core.i18n import Locale, has_message
from civicgrid.core.permissions import Actor, Role, Rule
from civicgrid.core.types import RecordId, record_number
from civicgrid.web.case_pages import (
    ActionForm,
    Labels,
    ReportForm,
    _number,
    _whole,
    case_page,
    labels_for,
    ports_of,
)
from civicgrid.web.pages import _safe_next, remember_login, render

router = APIRouter(include_in_schema=False)

TRACK_COOKIE = "civicgrid_track"

# ------------------------------------------------------------------ errors beside their field

# The field of errors that do not name one themselves.
KEY_FIELDS = {
    "case_needs_place": "place",
    "case_address_unknown": "address",
    "outside_city": "place",
    "no_grids": "place",
    "lat_out_of_range": "place",
    "lon_out_of_range": "place",
    "lat_lon_swapped": "place",
    "unknown_category": "category",
    "case_description_too_long": "description",
    "case_description_required": "description",
    "case_guest_needs_phone": "phone",
}
# The step of the report form where each field is put right.
REPORT_STEPS = {"category": 1, "description": 1, "text": 1, "place": 2, "address": 2}


def field_of(error: CivicGridError) -> str:
    named = str(error.params.get("field") or KEY_FIELDS.get(error.message_key, ""))
    return "place" if named in ("lat", "lon") else named


def field_errors(error: CivicGridError | None, locale: Locale) -> dict[str, str]:
    """Field → message for each problem ERROR names ("" for those about no field)."""
    if error is None:
        return {}
    problems = error.problems if isinstance(error, InvalidFields) else [error]
    found: dict[str, str] = {}
    for problem in problems:
        field = field_of(problem)
        found[field] = "；".join(filter(None, [found.get(field), problem.message(locale)]))
    return found


def error_list(errors: dict[str, str], labels: Labels) -> list[str]:
    """Each problem with the name of its field, for the summary above a form."""
    named = [(f"ui.field.{field}", message) for field, message in errors.items()]
    return [
        f"{labels.t(key)}：{message}" if has_message(key) else message for key, message in named
    ]


# The portal is for residents and people without an account; staff report through their
# own pages (and would report in the wrong channel here).
PORTAL = Rule(frozenset({Role.RESIDENT}), "the residents' portal", anonymous=True)


# ------------------------------------------------------------------ an account of one's own


@router.get("/signup", response_class=HTMLResponse, response_model=None)
def signup_page(
    request: Request, next: str = "/report", actor: Actor = allow(NO_SERVICE)
) -> Response:
    """A resident creates her own account: a name, her mobile number, a password."""
    if not actor.is_anonymous:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _signup(request, actor, next=_safe_next(next))


@router.post("/signup", response_class=HTMLResponse, response_model=None)
def signup(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    display_name: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/report",
    actor: Actor = allow(accounts.sign_up),
) -> Response:
    """Create the account and log her in (a few sign-ups an hour per address)."""
    settings = platform_of(request).settings
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    new = NewResident(display_name, phone, password, password_again, username)
    try:
        count_attempt(request, "signup")
        issued = accounts.sign_up(uow, actor, new, settings.secret_key, ttl)
    except CivicGridError as error:
        uow.rollback()
        return _signup(request, actor, next=_safe_next(next), error=error, new=new)
    response = RedirectResponse(_safe_next(next), status_code=303)
    remember_login(response, issued.access_token, ttl, settings.environment == "production")
    return response


def _signup(
    request: Request,
    actor: Actor,
    *,
    next: str,
    error: CivicGridError | None = None,
    new: NewResident | None = None,
) -> HTMLResponse:
    locale = request_locale(request)
    errors = field_errors(error, locale)
    labels = Labels(locale, ports_of(request).clock(), [])
    return render(
        request,
        actor,
        "signup.html",
        status_code=error.status if error else 200,
        next=next,
        new=new,
        errors=errors,
        problems=error_list(errors, labels),
        min_password=MIN_PASSWORD_LENGTH,
    )


# ------------------------------------------------------------------ reporting


@router.get("/report", response_class=HTMLResponse)
def report_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(NO_SERVICE, only=PORTAL),
) -> HTMLResponse:
    """Report a problem in three steps: what (typed freely, the category suggested), where
    (a pin, the phone's position or an address), then photos and how to reach you — with
    open cases of the same problem nearby offered before sending. With an account or
    without one (then a mobile number is needed)."""
    return _report(request, uow, actor)


@router.post("/report", response_class=HTMLResponse, response_model=None)
def report_submit(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[ReportForm, Depends()],
    actor: Actor = allow(cases.report_case, cases.report_as_guest, only=PORTAL),
) -> Response:
    """Send the report (channel resident_web); without an account, a few an hour per
    address."""
    ports = ports_of(request)
    try:
        if actor.is_anonymous:
            count_attempt(request, "guest")
            reported = cases.report_as_guest(
                uow, actor, form.to_new_case(Channel.RESIDENT_WEB), ports
            )
        else:
            reported = cases.report_case(uow, actor, form.to_new_case(Channel.RESIDENT_WEB), ports)
    except CivicGridError as error:
        uow.rollback()
        return _report(request, uow, actor, error=error, form=form)
    # Without an account the case page is not hers to open: the notice says how to follow.
    notice = "sent" if actor.is_anonymous else "done"
    return RedirectResponse(f"/report?{notice}={reported.case.id}", status_code=303)


@router.get("/report/nearby", response_class=HTMLResponse)
def report_nearby(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    category: str = "",
    lat: str = "",
    lon: str = "",
    actor: Actor = allow(cases.nearby_cases),
) -> HTMLResponse:
    """Open cases of the chosen category near the pin, each with a button to add one's
    voice (the report form loads this once it knows both); empty when there are none."""
    ports = ports_of(request)
    found: list[NearbyCase] = []
    try:
        at_lat, at_lon = _number(lat, "lat"), _number(lon, "lon")
        if category and at_lat is not None and at_lon is not None:
            found = cases.nearby_cases(uow, actor, category, at_lat, at_lon, ports)
    except CivicGridError:
        found = []  # the form says what is wrong with its fields when it is sent
    labels = labels_for(request, uow, actor)
    return case_page(request, actor, "cases/_nearby.html", labels, nearby=found)


@router.post("/cases/{case_id}/support", response_class=HTMLResponse, response_model=None)
def support(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[ReportForm, Depends()],
    actor: Actor = allow(cases.support_case),
) -> Response:
    """Add one's voice (附议) to a case nearby with what the report form holds: her words,
    photos and how to reach her. Back to the form, as typed, when that cannot be done."""
    try:
        if actor.is_anonymous:
            count_attempt(request, "guest")
        cases.support_case(uow, actor, case_id, form.to_supporter(), ports_of(request))
    except CivicGridError as error:
        uow.rollback()
        return _report(request, uow, actor, error=error, form=form)
    if actor.is_anonymous:
        return RedirectResponse(f"/report?joined={case_id}", status_code=303)
    return RedirectResponse(f"/cases/{case_id}?joined=1", status_code=303)


def _notice_number(request: Request, name: str) -> int | None:
    return record_number(request.query_params.get(name))


def _report(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    error: CivicGridError | None = None,
    form: ReportForm | None = None,
) -> HTMLResponse:
    ports = ports_of(request)
    labels = labels_for(request, uow, actor)
    mine: list[Any] = []
    supported: list[Any] = []
    phone = ""
    just_reported = None
    if not actor.is_anonymous:
        mine = cases.list_cases(uow, actor, CaseFilter(), ports, page_size=20, order="newest").items
        supported = cases.supported_cases(uow, actor)
        phone = accounts.own_account(uow, actor).phone
        done = _notice_number(request, "done")
        if done is not None:
            try:
                just_reported = cases.get_case(uow, actor, done, ports).case
            except CivicGridError:
                just_reported = None
    errors = field_errors(error, labels.locale)
    steps = [REPORT_STEPS.get(field, 3) for field in errors]
    return case_page(
        request,
        actor,
        "cases/report.html",
        labels,
        status_code=error.status if error else 200,
        mine=mine,
        supported=supported,
        just_reported=just_reported,
        sent=_notice_number(request, "sent"),
        joined=_notice_number(request, "joined"),
        errors=errors,
        problems=error_list(errors, labels),
        start_step=min(steps) if steps else 1,
        form=form,
        account_phone=phone,
    )


# ------------------------------------------------------------------ following a case


@router.get("/track", response_class=HTMLResponse)
def track_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    number: str = "",
    actor: Actor = allow(cases.follow_with_pass),
) -> HTMLResponse:
    """Follow a case without an account: its number and the phone given when reporting.
    The case looked up last (within half an hour) is shown again, as it is now."""
    token = request.cookies.get(TRACK_COOKIE)
    if token:
        try:
            followed = cases.follow_with_pass(uow, actor, token, ports_of(request))
        except CivicGridError as error:
            response = _track(request, uow, actor, number=number, error=error)
            response.delete_cookie(TRACK_COOKIE, path="/track")
            return response
        return _track(request, uow, actor, followed=followed, done=request.query_params.get("done"))
    return _track(request, uow, actor, number=number)


@router.post("/track", response_class=HTMLResponse)
def track_lookup(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    number: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    actor: Actor = allow(cases.follow_case),
) -> HTMLResponse:
    """The case's progress in plain words and the answers sent to this phone; for the
    person who filed it, whether the fix held, a rating, reopening. Posted, so the phone
    number stays out of addresses and browser history; a few attempts a minute per address."""
    try:
        count_attempt(request, "track")
        case_id = _whole(number, "number")
        if case_id is None:
            raise InvalidInput("ui.form.not_a_number", field="number", value="")
        followed = cases.follow_case(uow, actor, case_id, phone, ports_of(request))
    except CivicGridError as error:
        return _track(request, uow, actor, number=number, error=error)
    response = _track(request, uow, actor, followed=followed)
    _keep_pass(request, response, followed)
    return response


@router.post("/track/act", response_class=HTMLResponse, response_model=None)
def track_act(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[ActionForm, Depends()],
    actor: Actor = allow(cases.act_as_reporter),
) -> Response:
    """The case's reporter, having given its number and her phone, says whether the fix
    held, rates the result or reopens it; on the timeline as the case's reporter."""
    token = request.cookies.get(TRACK_COOKIE, "")
    ports = ports_of(request)
    try:
        followed = cases.act_as_reporter(uow, actor, token, form.to_request(), ports)
    except NotAuthenticated as expired:
        response = _track(request, uow, actor, error=expired)
        response.delete_cookie(TRACK_COOKIE, path="/track")
        return response
    except CivicGridError as error:
        uow.rollback()
        followed = cases.follow_with_pass(uow, actor, token, ports)
        return _track(
            request,
            uow,
            actor,
            followed=followed,
            error=error,
            failed=form.action,
            values=form.values(),
        )
    sent = RedirectResponse(f"/track?done={form.action}", status_code=303)
    _keep_pass(request, sent, followed)
    return sent


@router.post("/track/forget")
def track_forget(actor: Actor = allow(NO_SERVICE)) -> RedirectResponse:
    """Stop following the case on this device (forget the lookup)."""
    response = RedirectResponse("/track", status_code=303)
    response.delete_cookie(TRACK_COOKIE, path="/track")
    return response


def _keep_pass(request: Request, response: Response, followed: Followed) -> None:
    """The pass proves the phone for a while, so acting needs no phone in the page."""
    response.set_cookie(
        TRACK_COOKIE,
        followed.pass_token,
        max_age=int(REPORTER_PASS_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        path="/track",
        secure=platform_of(request).settings.environment == "production",
    )


def _track(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    followed: Followed | None = None,
    number: str = "",
    error: CivicGridError | None = None,
    failed: str = "",
    values: dict[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    ports = ports_of(request)
    labels = Labels(request_locale(request), ports.clock(), cases.list_categories(uow, actor))
    errors = field_errors(error, labels.locale)
    view = followed.view if followed else None
    return case_page(
        request,
        actor,
        "cases/track.html",
        labels,
        status_code=error.status if error else 200,
        view=view,
        is_filer=bool(followed and followed.is_filer),
        number=str(view.case.id) if view else number,
        error=error.message(labels.locale) if error else None,
        errors=errors,
        failed=failed,
        values=values or {},
        done=done,
    )
