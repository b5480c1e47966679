"""The registry pages (一标三实): search per kind within one's area, a record with its change
history and, for the grid's own grid worker, a form to correct it with the reason; the
per-grid summaries (people, houses, floating population, care groups) on a map; a linked
entity with its records side by side, where a reviewer confirms or splits a record; and the
data administrators' imports: upload a department's file, follow the import job, read and
download the rejected rows, correct them and upload them again."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidFields
from civicgrid.core.http import allow, get_uow, platform_of, read_form, request_locale
from civicgrid.core.i18n import N_, Locale, format_date, format_datetime, has_message, translate
from civicgrid.core.permissions import Actor
from civicgrid.core.types import RecordId, record_number
from civicgrid.registry import entities, services
from civicgrid.registry.domain import (
    BatchState,
    CareTag,
    HouseKind,
    OrganisationKind,
    RecordKind,
    Residence,
)
from civicgrid.registry.import_jobs import RegistryImports
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
# Fields whose stored values are codes, shown by their names (ui.registry.value.*).
CODED = {"residence", "kind", "care_tags", "sex", "address_match"}
DATES = {"birth_date", "registered_on", "expires_on"}
# The edit form's inputs: a list of choices, a date picker, a phone or number keypad.
CHOICES: dict[tuple[RecordKind, str], tuple[str, ...]] = {
    (RecordKind.PERSON, "residence"): tuple(r.value for r in Residence),
    (RecordKind.PERSON, "care_tags"): tuple(t.value for t in CareTag),
    (RecordKind.HOUSE, "kind"): tuple(k.value for k in HouseKind),
    (RecordKind.ORGANISATION, "kind"): tuple(k.value for k in OrganisationKind),
}
MANY = {"care_tags"}  # several choices at once (check boxes)
PHONES = {"phone", "owner_phone", "contact_phone"}
NUMBERS = {
    "area_m2": ("0", "100000", "0.01"),
    "occupancy_limit": ("0", "10000", "1"),
    "lat": ("-90", "90", "any"),
    "lon": ("-180", "180", "any"),
}
# The search box's hint per kind, and for those who may find people by their phone.
HINTS = {
    RecordKind.PERSON: N_("ui.registry.hint.people"),
    RecordKind.HOUSE: N_("ui.registry.hint.houses"),
    RecordKind.ORGANISATION: N_("ui.registry.hint.organisations"),
    RecordKind.ADDRESS: N_("ui.registry.hint.addresses"),
}
PHONE_HINTS = {
    RecordKind.PERSON: N_("ui.registry.hint.people_phone"),
    RecordKind.HOUSE: N_("ui.registry.hint.houses_phone"),
    RecordKind.ORGANISATION: N_("ui.registry.hint.organisations_phone"),
}


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


def _residence(value: str | None) -> str:
    return value if value in {r.value for r in Residence} else ""


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
    residence = _residence(params.get("residence")) if kind is RecordKind.PERSON else ""
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
                residence=residence or None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
        except CivicGridError as problem:
            error = _reason(problem, request_locale(request))
    summary = services.grid_summaries(uow, actor)
    phones = actor.role in services.PHONE_READERS and kind in PHONE_HINTS
    return render(
        request,
        actor,
        "registry/list.html",
        kinds=list(RecordKind),
        kind=kind,
        q=q,
        residence=residence,
        residences=[r.value for r in Residence],
        hint=PHONE_HINTS[kind] if phones else HINTS[kind],
        page=page,
        page_size=PAGE_SIZE,
        found=found,
        columns=LIST_COLUMNS[kind],
        searchable=searchable,
        imports=actor.role in services.IMPORTERS,
        error=error,
        summary_json=json.dumps(summary, ensure_ascii=False),
        **_labels(request, found.grid_names),
    )


# ------------------------------------------------------------------ imports on the page


def _imports(request: Request) -> RegistryImports:
    imports: RegistryImports | None = platform_of(request).registry_imports
    assert imports is not None
    return imports


@router.get("/registry/imports", response_class=HTMLResponse)
def imports_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_batches),
) -> HTMLResponse:
    """The latest import batches with their state and counts, and the form to upload a
    department's file (a kind, the department, the file)."""
    return _imports_page(request, uow, actor)


def _imports_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    batches = services.list_batches(uow, actor, 50)
    return render(
        request,
        actor,
        "registry/imports.html",
        status_code=status,
        batches=batches,
        kinds=list(RecordKind),
        errors=errors or {},
        typed=typed or {},
        **_labels(request, {}),
    )


@router.post("/registry/imports", response_class=HTMLResponse, response_model=None)
async def upload(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.queue_import),
) -> Response:
    """Queue an uploaded file for the import job and go to its batch, which shows the
    job's progress; a file that cannot be read, or lacks a column, is refused here."""
    form = await read_form(request)
    return await run_in_threadpool(lambda: _upload(request, uow, actor, form))


def _upload(request: Request, uow: UnitOfWork, actor: Actor, form: FormData) -> Response:
    typed = {name: str(form.get(name, "")) for name in ("kind", "source")}
    upload = form.get("file")
    imports = _imports(request)
    path: Path | None = None
    try:
        kind = RecordKind.parse(typed["kind"] or "")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise services.FieldProblem("registry_upload_missing", field="file")
        name = Path(upload.filename).name
        path = imports.files.upload_path(Path(name).suffix.lower()[:8])
        with path.open("wb") as target:
            while block := upload.file.read(1 << 20):
                target.write(block)
        batch = services.queue_import(
            uow, actor, kind, path, name, imports.files, source=typed["source"]
        )
    except CivicGridError as problem:
        uow.rollback()
        if path is not None:
            path.unlink(missing_ok=True)
        field = str(problem.params.get("field", "file"))
        field = field if field in ("kind", "source") else "file"
        errors = {field: _reason(problem, request_locale(request))}
        return _imports_page(request, uow, actor, errors=errors, typed=typed, status=problem.status)
    imports.start()
    return RedirectResponse(f"/registry/imports/{batch.id}?done=uploaded", status_code=303)


@router.get("/registry/imports/{batch_id}", response_class=HTMLResponse)
def batch_page(
    batch_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.import_status),
) -> HTMLResponse:
    """One batch: its progress while the job reads it, then its summary, the rejected rows
    with their problems, the download to correct them and the form to upload them again."""
    page = record_number(request.query_params.get("page")) or 1
    view = services.import_status(uow, actor, batch_id, limit=100, offset=(page - 1) * 100)
    locale = request_locale(request)
    batch = view.batch
    error = translate(batch.error, locale, batch.error_params or {}) if batch.error else ""
    return render(
        request,
        actor,
        "registry/batch.html",
        view=view,
        batch=batch,
        page=page,
        error=error,
        running=batch.state in (BatchState.QUEUED, BatchState.RUNNING),
        percent=round(batch.progress * 100),
        done=request.query_params.get("done", ""),
        kinds=list(RecordKind),
        errors={},
        typed={"kind": batch.kind.value, "source": batch.source},
        problem=lambda reject: reject.message_zh if locale == "zh" else reject.message_en,
        **_labels(request, {}),
    )


# ------------------------------------------------------------------ linked entities


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
    decided = request.query_params.get("decided", "")
    return _entity(request, actor, view, decided=decided)


def _entity(
    request: Request,
    actor: Actor,
    view: entities.EntityView,
    *,
    decided: str = "",
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    confirm_split: bool = False,
    status: int = 200,
) -> HTMLResponse:
    locale = request_locale(request)
    names = [_field_name(f, locale) for f in view.disagree]
    chosen = next((r for r in view.records if str(r["id"]) == (typed or {}).get("record_id")), None)
    return render(
        request,
        actor,
        "registry/entity.html",
        disagree_names="、".join(names),
        status_code=status,
        entity=view,
        may_decide=actor.role in entities.DECIDERS,
        decided=decided if decided in ("confirm", "split", "1") else "",
        errors=errors or {},
        typed=typed or {},
        confirm_split=confirm_split,
        chosen=chosen,
        **_labels(request, view.grid_names),
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
    """Keep a reviewer's confirm or split of one record of the entity, with the reason. A
    split is asked again first ("split record X off?"): it takes the record out of the
    entity at once, and every later linkage run keeps it apart."""
    form = await read_form(request)
    typed = {name: str(form.get(name, "")) for name in ("decision", "record_id", "reason")}
    raw_record = typed["record_id"].strip()
    record_id = record_number(raw_record)
    confirmed = form.get("confirmed") == "yes"
    try:
        if record_id is None:
            raise services.FieldProblem(
                "registry_link_not_in_entity",
                field="record_id",
                record=raw_record or "—",
                entity=entity_id,
            )
        if typed["decision"] == entities.Decision.SPLIT.value and not confirmed:
            # Checked as the split would be, then asked again before anything is kept.
            view = entities.get_entity(uow, actor, entity_id)
            if not typed["reason"].strip():
                raise services.InvalidInput("registry_link_reason_required", field="reason")
            if record_id not in {int(r["id"]) for r in view.records}:
                raise services.FieldProblem(
                    "registry_link_not_in_entity",
                    field="record_id",
                    record=record_id,
                    entity=entity_id,
                )
            return _entity(request, actor, view, typed=typed, confirm_split=True)
        entities.decide_link(uow, actor, entity_id, typed["decision"], record_id, typed["reason"])
    except CivicGridError as problem:
        uow.rollback()
        field = str(problem.params.get("field", "reason"))
        errors = {field: _reason(problem, request_locale(request))}
        view = entities.get_entity(uow, actor, entity_id)
        return _entity(request, actor, view, errors=errors, typed=typed, status=problem.status)
    return RedirectResponse(
        f"/registry/entities/{entity_id}?decided={typed['decision']}", status_code=303
    )


# ------------------------------------------------------------------ one record


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
    inputs = {name: _input(kind, name) for name in detail.editable}
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
        inputs=inputs,
        saved=saved,
        errors=errors or {},
        typed=typed or {},
        care_hidden=actor.role not in services.CARE_TAG_READERS,
        **_labels(request, detail.grid_names),
    )


def _input(kind: RecordKind, name: str) -> dict[str, Any]:
    """How the edit form asks for a field: choices (one or several), a date picker, a phone
    keypad, a number within its range, or text."""
    choices = CHOICES.get((kind, name))
    if choices is not None:
        return {"type": "checkboxes" if name in MANY else "select", "choices": choices}
    if name in DATES:
        return {"type": "date"}
    if name in PHONES:
        return {"type": "tel"}
    if name in NUMBERS:
        low, high, step = NUMBERS[name]
        return {"type": "number", "min": low, "max": high, "step": step}
    return {"type": "text"}


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
    typed: dict[str, str] = {}
    for name in current.editable:
        if name not in form:
            continue
        if name in MANY:  # check boxes: every one ticked (a hidden empty one says "none")
            typed[name] = ",".join(sorted(str(v) for v in form.getlist(name) if str(v).strip()))
        else:
            typed[name] = str(form.get(name, ""))
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
        errors = {str(p.params.get("field", "")): _reason(p, locale) for p in problems.problems}
        return _detail(request, actor, kind, current, errors=errors, typed=typed, status=422)
    except CivicGridError as problem:
        uow.rollback()
        field = str(problem.params.get("field", "reason"))
        errors = {field: _reason(problem, request_locale(request))}
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
        return ",".join(sorted(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _reason(problem: CivicGridError, locale: Locale) -> str:
    """What is wrong, shown beside the field it is about (without the field's code name,
    which an API caller reads in front of it)."""
    return translate(problem.message_key, locale, problem.params)


def _field_name(name: str, locale: Locale) -> str:
    key = f"ui.registry.field.{name}"
    return translate(key, locale) if has_message(key) else translate("ui.registry.field.other")


def _labels(request: Request, grid_names: dict[str, str]) -> dict[str, Any]:
    """For the templates, in the reader's language and the city's time zone: `label(field,
    value)` (a coded value by its name: floating → 流动人口; a grid by its name; a date as
    the city writes it), `field_name(field)`, `show(value)`, and `change_value(field,
    text)` for the history, which keeps values as text."""
    locale = request_locale(request)
    tz = platform_of(request).settings.timezone

    def show(value: Any) -> str:
        return _show(value, locale, tz)

    def coded(value: str) -> str:
        key = f"ui.registry.value.{value}"
        return translate(key, locale) if has_message(key) else value

    def label(name: str, value: Any) -> str:
        if value is None or value == "" or value == []:
            return "—"
        if name == "grid_code":
            code = str(value)
            return f"{grid_names[code]}（{code}）" if grid_names.get(code) else code
        if name in CODED:
            values = value if isinstance(value, list) else [value]
            return "、".join(coded(str(v)) for v in values)
        if name in DATES and isinstance(value, str):  # a believed value, kept as text
            try:
                return show(date.fromisoformat(value))
            except ValueError:
                return value
        return show(value)

    def change_value(name: str, text: str) -> str:
        """A value in the change history (kept as text: care tags "a,b", dates ISO)."""
        if not text:
            return "—"
        if name == "care_tags":
            return label(name, [t for t in text.split(",") if t])
        return label(name, text)

    def field_name(name: str) -> str:
        return _field_name(name, locale)

    return {
        "label": label,
        "show": show,
        "field_name": field_name,
        "change_value": change_value,
        "choice_label": coded,
    }


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
