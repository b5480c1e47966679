"""The hotline agent's page (来电登记): a phoned-in report typed in while the caller speaks.

Her phone first, which brings up her earlier cases (she may be calling about one of them:
the call is then added to it); the address, with the registry's standard addresses offered
as she spells it (a chosen one places the case at its point and grid); what happened, with
the categories that fit offered for the agent to confirm; open reports of the same problem
nearby; urgency; then "register" or "register and dispatch now". The services do the work
(cases.hotline); this module reads the form and says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from civicgrid.cases import hotline
from civicgrid.cases import services as cases
from civicgrid.cases.domain import Case, Channel, Priority
from civicgrid.cases.hotline import CallerCase, NewCall, Registered
from civicgrid.cases.services import NewCase
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidFields, InvalidInput
from civicgrid.core.http import allow, get_uow, request_locale
from civicgrid.core.i18n import N_
from civicgrid.core.permissions import Actor, Rule
from civicgrid.core.types import record_number
from civicgrid.web.case_pages import Labels, case_page, labels_for, ports_of
from civicgrid.web.portal import error_list, field_errors

router = APIRouter(include_in_schema=False)

HOTLINE_PAGE = Rule(hotline.HOTLINE_ROLES, "the hotline agent's intake form")
# What the confirmation says of a call, by what was done with it.
OUTCOMES = {
    "dispatched": N_("ui.hotline.done_dispatched"),
    "registered": N_("ui.hotline.done_registered"),
    "added": N_("ui.hotline.done_added"),
}


@dataclass
class CallForm:
    """The fields of the hotline form, as typed."""

    phone: str = ""
    name: str = ""
    address: str = ""
    address_id: str = ""
    description: str = ""
    category: str = ""
    urgent: bool = False

    def to_new_case(self) -> tuple[NewCase, int | None]:
        """The report and the standard address chosen, or every field the page can tell
        is wrong, each named."""
        problems: list[CivicGridError] = []
        if not self.phone:
            problems.append(InvalidInput("ui.hotline.phone_required", field="phone"))
        if not self.description:
            problems.append(InvalidInput("case_description_required", field="description"))
        if not self.category:
            problems.append(InvalidInput("ui.hotline.category_required", field="category"))
        if not self.address:
            problems.append(InvalidInput("ui.hotline.address_required", field="address"))
        if problems:
            raise InvalidFields(problems)
        new = NewCase(
            description=self.description,
            channel=Channel.HOTLINE,
            category=self.category,
            address=self.address,
            reporter_name=self.name,
            reporter_phone=self.phone,
            priority=Priority.URGENT if self.urgent else None,
        )
        return new, record_number(self.address_id)


def call_form(
    phone: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    address_id: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=8000)] = "",
    category: Annotated[str, Form(max_length=32)] = "",
    urgent: Annotated[str, Form(max_length=8)] = "",
) -> CallForm:
    return CallForm(
        phone=phone.strip(),
        name=name.strip(),
        address=address.strip(),
        address_id=address_id.strip(),
        description=description.strip(),
        category=category.strip(),
        urgent=urgent not in ("", "0", "false"),
    )


def _earlier(
    request: Request, uow: UnitOfWork, actor: Actor, phone: str
) -> tuple[list[CallerCase], str]:
    """The caller's earlier cases, or the message saying why they cannot be looked up."""
    if not phone:
        return [], ""
    try:
        return hotline.caller_cases(uow, actor, phone), ""
    except CivicGridError as error:
        uow.rollback()
        return [], error.message(request_locale(request))


def _page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    form: CallForm | None = None,
    error: CivicGridError | None = None,
    done: Case | None = None,
    outcome: str = "",
    stopped: str = "",
    duplicates: list[int] | None = None,
) -> HTMLResponse:
    form = form or CallForm(phone=request.query_params.get("phone", "").strip()[:40])
    grid_codes = [done.grid_code] if done is not None else []
    labels = labels_for(request, uow, actor, grid_codes=grid_codes)
    earlier, lookup_error = _earlier(request, uow, actor, form.phone)
    errors = field_errors(error, request_locale(request))
    return case_page(
        request,
        actor,
        "cases/hotline.html",
        labels,
        status_code=error.status if error is not None else 200,
        form=form,
        errors=errors,
        problems=error_list(errors, labels),
        earlier=earlier,
        lookup_error=lookup_error,
        phone=form.phone,
        done=done,
        confirmation=outcome_text(labels, done, outcome) if done and outcome else "",
        stopped=stopped,
        duplicates=duplicates or [],
    )


@router.get("/hotline", response_class=HTMLResponse)
def hotline_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(hotline.caller_cases, only=HOTLINE_PAGE),
) -> HTMLResponse:
    """The hotline form; after a call, its confirmation (?done=case&how=outcome)."""
    params = request.query_params
    done, outcome = None, params.get("how", "")
    case_id = record_number(params.get("done"))
    if case_id is not None and outcome in OUTCOMES:
        try:
            done = cases.get_case(uow, actor, case_id, ports_of(request)).case
        except CivicGridError:
            uow.rollback()
    return _page(
        request,
        uow,
        actor,
        done=done,
        outcome=outcome if done else "",
        duplicates=_duplicates(params.get("near")) if done else [],
    )


@router.post("/hotline", response_class=HTMLResponse, response_model=None)
def take_call(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[CallForm, Depends(call_form)],
    intent: Annotated[str, Form(max_length=16)] = "register",
    add_to: Annotated[str, Form(max_length=20)] = "",
    actor: Actor = allow(hotline.register_call, hotline.add_call, only=HOTLINE_PAGE),
) -> Response:
    """Register the call (and with intent=dispatch, dispatch it now), or with ADD_TO add
    it to that earlier case; then the page again, saying what happened."""
    ports = ports_of(request)
    try:
        target = record_number(add_to) if add_to else None
        if add_to and target is None:
            raise InvalidInput("ui.form.not_a_number", field="number", value=add_to)
        if target is not None:
            call = NewCall(phone=form.phone, name=form.name, note=form.description)
            added = hotline.add_call(uow, actor, target, call, ports)
            return _done(added.case, "added")
        new, address_id = form.to_new_case()
        registered = hotline.register_call(
            uow, actor, new, ports, address_id=address_id, dispatch=intent == "dispatch"
        )
    except CivicGridError as error:
        uow.rollback()
        return _page(request, uow, actor, form=form, error=error)
    if registered.stopped is not None:
        return _stopped(request, uow, actor, registered)
    outcome = "dispatched" if registered.dispatched else "registered"
    return _done(registered.case, outcome, registered.reported.possible_duplicates)


def _done(case: Case, outcome: str, duplicates: list[int] | None = None) -> RedirectResponse:
    """To the form again, saying what happened (and which open cases nearby may be the
    same problem, for the queue to merge)."""
    params: dict[str, Any] = {"done": case.id, "how": outcome}
    if duplicates:
        params["near"] = ",".join(str(i) for i in duplicates[:MAX_DUPLICATES])
    return RedirectResponse(f"/hotline?{urlencode(params)}", status_code=303)


MAX_DUPLICATES = 10


def _duplicates(value: str | None) -> list[int]:
    numbers = (record_number(part) for part in (value or "").split(",")[:MAX_DUPLICATES])
    return [n for n in numbers if n is not None]


def _stopped(
    request: Request, uow: UnitOfWork, actor: Actor, registered: Registered
) -> HTMLResponse:
    """Registered, but dispatching it stopped (no unit routed, …): the page says how far
    it went and why, and the case waits in the queue."""
    reason = registered.stopped.message(request_locale(request)) if registered.stopped else ""
    return _page(request, uow, actor, done=registered.case, outcome="registered", stopped=reason)


@router.get("/hotline/caller", response_class=HTMLResponse)
def caller_history(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    phone: str = "",
    actor: Actor = allow(hotline.caller_cases, only=HOTLINE_PAGE),
) -> HTMLResponse:
    """The caller's earlier cases, as the form shows them while the agent types."""
    labels = labels_for(request, uow, actor)
    earlier, lookup_error = _earlier(request, uow, actor, phone.strip()[:40])
    return case_page(
        request,
        actor,
        "cases/_caller.html",
        labels,
        earlier=earlier,
        lookup_error=lookup_error,
        phone=phone.strip()[:40],
    )


@router.get("/hotline/addresses", response_model=None)
def address_suggestions(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    q: str = "",
    actor: Actor = allow(hotline.suggest_addresses, only=HOTLINE_PAGE),
) -> JSONResponse:
    """Standard addresses holding every word typed, with their point and grid's name."""
    found = hotline.suggest_addresses(uow, actor, q[:200])
    codes = {a.grid_code for a in found if a.grid_code}
    labels = labels_for(request, uow, actor, grid_codes=codes)
    return JSONResponse(
        [
            {
                "id": a.id,
                "text": a.text,
                "lat": a.lat,
                "lon": a.lon,
                "grid": labels.grid(a.grid_code) if a.grid_code else "",
            }
            for a in found
        ]
    )


@router.get("/hotline/nearby", response_class=HTMLResponse)
def nearby(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    category: str = "",
    lat: float | None = None,
    lon: float | None = None,
    actor: Actor = allow(cases.nearby_cases, only=HOTLINE_PAGE),
) -> HTMLResponse:
    """Open cases of the same problem near the chosen address, each of which the call may
    be added to instead."""
    labels = labels_for(request, uow, actor)
    found: list[Any] = []
    if category and lat is not None and lon is not None:
        try:
            found = cases.nearby_cases(uow, actor, category, lat, lon, ports_of(request))
        except CivicGridError:
            uow.rollback()
    return case_page(request, actor, "cases/_hotline_nearby.html", labels, found=found)


def outcome_text(labels: Labels, case: Case, outcome: str) -> str:
    """What the confirmation says: the case's number, and where it went."""
    unit = case.department_code or case.suggested_department_code
    return labels.t(
        OUTCOMES[outcome],
        id=case.id,
        unit=labels.unit(unit) if unit else labels.t("ui.hotline.no_unit"),
        grid=labels.grid(case.grid_code),
        status=labels.status(case.status.value),
        count=case.supporters,
    )
