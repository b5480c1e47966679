"""The administrators' pages: the authority list (事权清单) line by line with its versions,
and the outbox with every message's delivery state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.areas.domain import FUNCTION_LABELS, Function
from civicgrid.cases import services as cases
from civicgrid.cases.domain import STEPS, TimeLimits
from civicgrid.cases.services import RuleEdit
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidFields
from civicgrid.core.http import allow, get_uow, platform_of, request_locale
from civicgrid.core.i18n import N_
from civicgrid.core.outbox import Delivery
from civicgrid.core.permissions import ADMIN_ROLES, Actor, Rule
from civicgrid.core.types import RecordId
from civicgrid.system import services as system
from civicgrid.system.schemas import parse_delivery
from civicgrid.web.case_pages import case_page, labels_for
from civicgrid.web.pages import TEMPLATES

router = APIRouter(include_in_schema=False)

ADMIN_PAGE = Rule(ADMIN_ROLES, "the administrators' pages")
HANDLING_LEVELS = ("community", "street", "district", "city")


def admin_links(actor: Actor) -> list[tuple[str, str]]:
    """The administrators' entry in the top bar."""
    return [("/admin/rules", N_("ui.nav.admin"))] if ADMIN_PAGE.allows(actor) else []


TEMPLATES.env.globals["admin_links"] = admin_links


# ------------------------------------------------------------------ the authority list


def _rules_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    editing: int | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    labels = labels_for(request, uow, actor)
    rules = cases.list_rules(uow, actor)
    locale = labels.locale
    return case_page(
        request,
        actor,
        "admin/rules.html",
        labels,
        status_code=status,
        rules=rules,
        versions=cases.rule_versions(uow, actor, limit=30),
        steps=STEPS,
        defaults=TimeLimits().as_dict(),
        levels=HANDLING_LEVELS,
        functions=[f.value for f in Function],
        function_label=lambda value: FUNCTION_LABELS[Function(value)][locale],
        errors=errors or {},
        editing=editing,
        values=values or {},
        done=request.query_params.get("done", ""),
        done_rule=request.query_params.get("rule", ""),
    )


@router.get("/admin/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.rule_versions, only=ADMIN_PAGE),
) -> HTMLResponse:
    """The authority list in force, a form to add a line and one to change or remove each,
    and the versions of the list: who changed what, when and why."""
    return _rules_page(request, uow, actor)


class RuleForm:
    """The fields of the form that adds or changes a line of the authority list."""

    def __init__(
        self,
        category: Annotated[str, Form()] = "",
        level: Annotated[str, Form()] = "",
        function: Annotated[str, Form()] = "",
        department: Annotated[str, Form()] = "",
        area: Annotated[str, Form()] = "",
        accept_h: Annotated[str, Form()] = "",
        register_h: Annotated[str, Form()] = "",
        dispatch_h: Annotated[str, Form()] = "",
        start_h: Annotated[str, Form()] = "",
        handle_h: Annotated[str, Form()] = "",
        verify_h: Annotated[str, Form()] = "",
        close_h: Annotated[str, Form()] = "",
        auto_escalate: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> None:
        hours = {
            "accept": accept_h,
            "register": register_h,
            "dispatch": dispatch_h,
            "start": start_h,
            "handle": handle_h,
            "verify": verify_h,
            "close": close_h,
        }
        self.values = {
            "category": category,
            "level": level,
            "function": function,
            "department": department,
            "area": area,
            "auto_escalate": auto_escalate,
            "reason": reason,
            **{f"{step}_h": typed for step, typed in hours.items()},
        }
        self.reason = reason
        self.edit = RuleEdit(
            category=category,
            level=level,
            function=function or None,
            department=department or None,
            area=area or None,
            limits={step: _hours(typed) for step, typed in hours.items() if typed.strip()},
            auto_escalate=auto_escalate == "on",
        )


def _hours(typed: str) -> float:
    """Hours as typed; what is no number is refused by the service, naming the field."""
    try:
        return float(typed)
    except ValueError:
        return -1.0


def _refused(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    error: CivicGridError,
    values: dict[str, str],
    editing: int | None = None,
) -> HTMLResponse:
    """The page again with what was typed and each problem beside its field."""
    uow.rollback()
    locale = request_locale(request)
    problems = error.problems if isinstance(error, InvalidFields) else [error]
    errors: dict[str, str] = {}
    for problem in problems:
        field = str(problem.params.get("field") or "form")
        errors.setdefault(field, problem.message(locale))
    return _rules_page(
        request, uow, actor, errors=errors, editing=editing, values=values, status=error.status
    )


@router.post("/admin/rules", response_class=HTMLResponse, response_model=None)
def add_rule(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[RuleForm, Depends()],
    actor: Actor = allow(cases.add_rule),
) -> Response:
    """Add a line to the authority list (a new version of it)."""
    try:
        rule = cases.add_rule(uow, actor, form.edit, form.reason)
    except CivicGridError as error:
        return _refused(request, uow, actor, error, form.values)
    return RedirectResponse(f"/admin/rules?done=added&rule={rule.id}#rule-{rule.id}", 303)


@router.post("/admin/rules/{rule_id}", response_class=HTMLResponse, response_model=None)
def change_rule(
    rule_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[RuleForm, Depends()],
    actor: Actor = allow(cases.change_rule),
) -> Response:
    """Change a line: the changed line gets a new number in a new version."""
    try:
        rule = cases.change_rule(uow, actor, rule_id, form.edit, form.reason)
    except CivicGridError as error:
        return _refused(request, uow, actor, error, form.values, editing=rule_id)
    return RedirectResponse(f"/admin/rules?done=changed&rule={rule.id}#rule-{rule.id}", 303)


@router.post("/admin/rules/{rule_id}/remove", response_class=HTMLResponse, response_model=None)
def remove_rule(
    rule_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    reason: Annotated[str, Form()] = "",
    actor: Actor = allow(cases.remove_rule),
) -> Response:
    """Remove a line from the authority list (a new version of it)."""
    try:
        cases.remove_rule(uow, actor, rule_id, reason)
    except CivicGridError as error:
        return _refused(request, uow, actor, error, {"reason": reason}, editing=rule_id)
    return RedirectResponse(f"/admin/rules?done=removed&rule={rule_id}", 303)


# ------------------------------------------------------------------ the outbox


def _outbox_page(
    request: Request, uow: UnitOfWork, actor: Actor, error: str | None = None, status: int = 200
) -> HTMLResponse:
    state_text = request.query_params.get("state", "")
    try:
        state = parse_delivery(state_text)
    except CivicGridError as problem:
        state, error, status = None, problem.message(request_locale(request)), problem.status
    found = system.outbox_summary(uow, actor, state, None, 200)
    return case_page(
        request,
        actor,
        "admin/outbox.html",
        labels_for(request, uow, actor),
        status_code=status,
        counts=found.counts,
        messages=found.messages,
        state=state.value if state else "",
        states=[d.value for d in Delivery],
        error=error,
        done=request.query_params.get("done", ""),
        sent=request.query_params.get("sent", ""),
        message_id=request.query_params.get("message", ""),
    )


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(system.outbox_summary),
) -> HTMLResponse:
    """Every message to a person or a system: pending, sent or failed, with its attempts
    and last error; a failed one can be sent again, and what is due delivered now."""
    return _outbox_page(request, uow, actor)


@router.post("/admin/outbox/{message_id}/retry", response_class=HTMLResponse, response_model=None)
def retry_message(
    message_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(system.retry_message),
) -> Response:
    """Send one message again at the next delivery."""
    try:
        system.retry_message(uow, actor, message_id, platform_of(request).outbox)
    except CivicGridError as error:
        uow.rollback()
        return _outbox_page(request, uow, actor, error.message(request_locale(request)), 404)
    return RedirectResponse(f"/admin/outbox?done=retry&message={message_id}", 303)


@router.post("/admin/outbox/deliver", response_class=HTMLResponse, response_model=None)
def deliver_now(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(system.deliver_messages),
) -> Response:
    """Deliver every message that is due now."""
    report = system.deliver_messages(uow, actor, platform_of(request).outbox)
    return RedirectResponse(f"/admin/outbox?done=delivered&sent={report.sent}", 303)
