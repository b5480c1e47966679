"""The registry pages (一标三实): search per kind within one's area, a record with its change
history and, for the grid's own grid worker, a form to correct it with the reason; the
per-grid summaries (people, houses, floating population, care groups) on a map; and a
linked entity with its records side by side, where a reviewer confirms or splits a record."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidFields
from civicgrid.core.http import allow, get_uow, platform_of, read_form, request_locale
from civicgrid.core.i18n import N_, Locale, format_date, format_datetime, has_message, translate
from civicgrid.core.permissions import Actor
from civicgrid.core.types import RecordId, record_number
from civicgrid.registry import entities, services
from civicgrid.registry.domain import RecordKind
from civicgrid.web.pages import TEMPLATES, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
# The columns each kind's list shows (the detail page shows every field the caller may see).
LIST_COLUMNS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.PERSON: ("name", "id_masked", "phone", "residence", "address_text", "grid_code"),
    RecordKind.HOUSE: ("address_text", "kind", "occupancy_limit", "owner_name", "grid_code"),
    RecordKind.ORGANISATION: ("name", "credit_code", "kind", "address_text", "grid_code"),
    RecordKind.ADDRESS: ("text", "grid_code"),
}
HIDDEN_DETAIL = {"kind", "id", "content_hash", "id_hash", "batch_id", "source_key"}


def registry_links(actor: Actor) -> list[tuple[str, str]]:
    """The registry in the top bar, for those who may open it."""
    if actor.role in services.SUMMARY_READERS:
        return [("/registry", N_("ui.nav.registry"))]
    return []


TEMPLATES.env.globals["registry_links"] = registry_links


def _kind(value: str | None) -> RecordKind:
    try:
        return RecordKind(value or RecordKind.PERSON.value)
    except ValueError:
        return RecordKind.PERSON


@router.get("/registry", response_class=HTMLResponse)
def registry_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.grid_summaries),
) -> HTMLResponse:
    """Search one kind of record in the caller's area; the per-grid summary map above."""
    params = request.query_params
    kind = _kind(params.get("kind"))
    q = params.get("q", "").strip()
    page = record_number(params.get("page")) or 1
    error = None
    found = services.RecordPage([], 0)
    searchable = actor.role in services.RECORD_READERS
    if searchable:
        try:
            found = services.search_records(
                uow,
                actor,
                kind,
                secret_key=platform_of(request).settings.secret_key,
                q=q or None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
        except CivicGridError as problem:
            error = problem.message(request_locale(request))
    summary = services.grid_summaries(uow, actor)
    return render(
        request,
        actor,
        "registry/list.html",
        kinds=list(RecordKind),
        kind=kind,
        q=q,
        page=page,
        page_size=PAGE_SIZE,
        found=found,
        columns=LIST_COLUMNS[kind],
        searchable=searchable,
        error=error,
        summary_json=json.dumps(summary, ensure_ascii=False),
        **_labels(request),
    )


@router.get("/registry/entities/{entity_id}", response_class=HTMLResponse)
def entity_page(
    entity_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(entities.get_entity),
) -> HTMLResponse:
    """One linked entity: its records side by side, disagreements marked, the believed
    value per field with its source, and the form to confirm or split a record."""
    view = entities.get_entity(uow, actor, entity_id)
    decided = request.query_params.get("decided") == "1"
    return _entity(request, actor, view, decided=decided)


def _entity(
    request: Request,
    actor: Actor,
    view: entities.EntityView,
    *,
    decided: bool = False,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    locale = request_locale(request)
    names = [
        translate(f"ui.registry.field.{f}", locale) if has_message(f"ui.registry.field.{f}") else f
        for f in view.disagree
    ]
    return render(
        request,
        actor,
        "registry/entity.html",
        disagree_names="、".join(names),
        status_code=status,
        entity=view,
        may_decide=actor.role in entities.DECIDERS,
        decided=decided,
        errors=errors or {},
        typed=typed or {},
        **_labels(request),
    )


@router.post(
    "/registry/entities/{entity_id}/decisions", response_class=HTMLResponse, response_model=None
)
async def decide_link(
    entity_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(entities.decide_link),
) -> Response:
    """Keep a reviewer's confirm or split of one record of the entity, with the reason."""
    form = await read_form(request)
    typed = {name: str(form.get(name, "")) for name in ("decision", "record_id", "reason")}
    raw_record = typed["record_id"].strip()
    record_id = record_number(raw_record)
    try:
        if record_id is None:
            raise services.FieldProblem(
                "registry_link_not_in_entity",
                field="record_id",
                record=raw_record or "—",
                entity=entity_id,
            )
        entities.decide_link(uow, actor, entity_id, typed["decision"], record_id, typed["reason"])
    except CivicGridError as problem:
        uow.rollback()
        field = str(problem.params.get("field", "reason"))
        errors = {field: problem.message(request_locale(request))}
        view = entities.get_entity(uow, actor, entity_id)
        return _entity(request, actor, view, errors=errors, typed=typed, status=problem.status)
    return RedirectResponse(f"/registry/entities/{entity_id}?decided=1", status_code=303)


@router.get("/registry/{kind}/{record_id}", response_class=HTMLResponse)
def record_page(
    kind: RecordKind,
    record_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.get_record),
) -> HTMLResponse:
    """One record with its change history; the grid's grid worker gets the edit form."""
    detail = services.get_record(uow, actor, kind, record_id)
    return _detail(request, actor, kind, detail, saved=request.query_params.get("saved") == "1")


def _detail(
    request: Request,
    actor: Actor,
    kind: RecordKind,
    detail: services.RecordDetail,
    *,
    saved: bool = False,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    fields = [(k, v) for k, v in detail.record.items() if k not in HIDDEN_DETAIL]
    return render(
        request,
        actor,
        "registry/detail.html",
        status_code=status,
        kind=kind,
        record=detail.record,
        fields=fields,
        changes=detail.changes,
        editable=detail.editable,
        saved=saved,
        errors=errors or {},
        typed=typed or {},
        care_hidden=actor.role not in services.CARE_TAG_READERS,
        **_labels(request),
    )


@router.post("/registry/{kind}/{record_id}", response_class=HTMLResponse, response_model=None)
async def edit_record(
    kind: RecordKind,
    record_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.edit_record),
) -> Response:
    """Save a grid worker's correction (every field of the form, the reason required)."""
    form = await read_form(request)
    reason = str(form.get("reason", ""))
    current = services.get_record(uow, actor, kind, record_id)
    typed = {name: str(form.get(name, "")) for name in current.editable if name in form}
    changes = {
        name: value for name, value in typed.items() if value != _form_value(current.record, name)
    }
    try:
        saved = services.edit_record(
            uow, actor, kind, record_id, changes, reason, platform_of(request).locator_cache
        )
    except InvalidFields as problems:
        uow.rollback()
        locale = request_locale(request)
        errors = {str(p.params.get("field", "")): p.message(locale) for p in problems.problems}
        return _detail(request, actor, kind, current, errors=errors, typed=typed, status=422)
    except CivicGridError as problem:
        uow.rollback()
        field = str(problem.params.get("field", "reason"))
        errors = {field: problem.message(request_locale(request))}
        return _detail(
            request, actor, kind, current, errors=errors, typed=typed, status=problem.status
        )
    if not saved.editable:  # the correction moved it out of her grid: she sees it this once
        return _detail(request, actor, kind, saved, saved=True)
    return RedirectResponse(f"/registry/{kind.value}/{record_id}?saved=1", status_code=303)


def _form_value(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _labels(request: Request) -> dict[str, Any]:
    """`label(field, value)` (names for coded values: floating → 流动人口), `show(value)` and
    `has_label(field)` for the templates, in the reader's language and the city's time zone."""
    locale = request_locale(request)
    tz = platform_of(request).settings.timezone

    def show(value: Any) -> str:
        return _show(value, locale, tz)

    def label(_name: str, value: Any) -> str:
        if isinstance(value, list):
            return "、".join(label(_name, v) for v in value) if value else "—"
        key = f"ui.registry.value.{value}"
        if isinstance(value, str) and has_message(key):
            return translate(key, locale)
        return show(value)

    def has_label(name: str) -> bool:
        return has_message(f"ui.registry.field.{name}")

    return {"label": label, "show": show, "has_label": has_label}


def _show(value: Any, locale: Locale, tz: str) -> str:
    """A field's value as the page prints it."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, datetime):
        return format_datetime(value, locale, tz)
    if isinstance(value, date):
        return format_date(value, locale)
    return str(value)


TEMPLATES.env.globals["registry_form_value"] = _form_value
