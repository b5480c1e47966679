"""Exchange services: the catalogue, share requests and grants on the workflow kernel,
reading and exporting through grants with masking on the server, yes/no questions, the
quality of each field, and the jobs that expire grants and mark late requests.

Every read, refusal, export, grant change and question is appended to the audit trail
(ports.AuditTrail) in the transaction of what it records; a refused read, which changes
nothing else, commits its entry before the refusal is raised."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from civicgrid.areas.domain import Function
from civicgrid.areas.repository import DepartmentRepository, departments
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import CivicGridError, Conflict, Forbidden, InvalidInput, NotFound
from civicgrid.core.i18n import city_day, format_date, format_datetime, translate
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.outbox import Contact, Outbox, messages_to
from civicgrid.core.permissions import (
    ADMIN_ROLES,
    STAFF_ROLES,
    Actor,
    Role,
    permission,
)
from civicgrid.core.workflow import Context, Event, EventLog, SystemAction, change_event
from civicgrid.exchange.domain import (
    ANSWER_FIELD,
    DECIDERS,
    GRANT_KIND,
    QUESTION_INPUTS,
    REQUEST_KIND,
    REQUESTERS,
    REVOKERS,
    SHARE_GRANT,
    SHARE_REQUEST,
    Answer,
    Dataset,
    DatasetField,
    Decision,
    Frequency,
    Grade,
    Grant,
    GrantAction,
    GrantState,
    Question,
    RequestAction,
    RequestState,
    Scope,
    ShareClass,
    ShareRequest,
    SourceKind,
    Terms,
    check_definition,
    check_terms,
    grant_window,
    needs_admin,
    parse_fields,
)
from civicgrid.exchange.importing import read_file
from civicgrid.exchange.masking import (
    FULL,
    FieldType,
    Hasher,
    Mask,
    MaskKind,
    Personal,
    age_on,
    show_row,
    shower,
)
from civicgrid.exchange.ports import AuditAction, AuditEntry, ExchangePorts, catalogue_changed
from civicgrid.exchange.repository import (
    Batch,
    CatalogueQuery,
    CatalogueRepository,
    FieldQuality,
    FileRepository,
    GrantRepository,
    Reject,
    RequestRepository,
)
from civicgrid.exchange.sources import (
    Filter,
    RowQuery,
    SourceView,
    grids_under,
    is_text,
    last_change,
    read_rows,
    source_columns,
    stream_rows,
    view_of,
)
from civicgrid.registry import views as registry_views

log = logging.getLogger("civicgrid.exchange")

# Who may browse the catalogue: the platform's staff and the units' systems.
CATALOGUE_READERS = STAFF_ROLES | {Role.API_CLIENT}
# Who registers datasets: the data administrators (and the platform's administrator), and
# a unit's own staff for its own datasets.
CURATORS = frozenset({Role.DATA_ADMIN, Role.ADMIN, Role.HANDLER})
# Who reads, exports and asks questions: a unit's staff and its systems, through the
# unit's grants.
READERS = frozenset({Role.HANDLER, Role.DATA_ADMIN, Role.API_CLIENT})
# Who sees requests and grants: the units on either side, the data administrators and
# the platform's administrator (whose view is for audit, not for deciding).
PARTIES = frozenset({Role.HANDLER, Role.DATA_ADMIN, Role.API_CLIENT, Role.ADMIN})
OVERSEERS = frozenset({Role.DATA_ADMIN, Role.ADMIN})

DATASET_KIND = "exchange_dataset"  # the catalogue's entries in the event log
# The platform's own hand when its rules act: a grant's end date, a request that needs no
# data administrator.
RULES = Actor(name="system", role=Role.ADMIN, display_name="数据共享规则 Exchange rules")
BY_RULES = frozenset({"rules"})

TICK_JOB = "exchange.tick"
QUALITY_JOB = "exchange.quality"
SAMPLE_ROWS = 5
MAX_PAGE = 1000
MAX_PURPOSE = 1000


def _entry(
    actor: Actor, action: AuditAction, at: datetime, dataset: Dataset | None, **facts: Any
) -> AuditEntry:
    return AuditEntry(
        at=at,
        action=action,
        actor=actor.name,
        role=actor.role.value if actor.role else None,
        unit=actor.department_code,
        dataset=dataset.code if dataset is not None else None,
        **facts,
    )


def _readable(uow: UnitOfWork, ports: ExchangePorts, dataset_id: int) -> Dataset:
    """A dataset's definition for a read (from the process's cache), or a 404."""
    dataset = ports.catalogue.get(uow.session, dataset_id)
    if dataset is None:
        raise NotFound("exchange_dataset_not_found", id=dataset_id)
    return dataset


def _now(ports: ExchangePorts, now: datetime | None) -> datetime:
    return now or ports.clock()


def _unit_of(actor: Actor) -> str:
    if not actor.department_code:
        raise Forbidden("exchange_no_unit")
    return actor.department_code


def _dataset(uow: UnitOfWork, dataset_id: int) -> Dataset:
    dataset = CatalogueRepository(uow.session).get(dataset_id)
    if dataset is None:
        raise NotFound("exchange_dataset_not_found", id=dataset_id)
    return dataset


# ------------------------------------------------------------------ the catalogue


@dataclass(frozen=True)
class CataloguePage:
    datasets: list[Dataset]
    total: int


@permission(CATALOGUE_READERS, "Search the catalogue of shared datasets")
def search_catalogue(
    uow: UnitOfWork,
    actor: Actor,
    query: CatalogueQuery = CatalogueQuery(),
    limit: int = 50,
    offset: int = 0,
) -> CataloguePage:
    """Datasets whose title, description, code or a field's name or meaning holds the
    words, of the owner, share class, source, grade and personal mark asked, by code."""
    found, total = CatalogueRepository(uow.session).search(query, min(limit, 200), offset)
    return CataloguePage(found, total)


@dataclass(frozen=True)
class DatasetView:
    dataset: Dataset
    quality: dict[str, FieldQuality]
    fresh: bool | None
    batches: list[Batch]


@permission(CATALOGUE_READERS, "Read a dataset's entry in the catalogue")
def get_dataset(uow: UnitOfWork, actor: Actor, dataset_id: int) -> DatasetView:
    """A dataset: its owner, fields with grades and personal marks, share class, each
    field's measured quality, and whether its data is as fresh as its frequency says."""
    dataset = _dataset(uow, dataset_id)
    quality = CatalogueRepository(uow.session).quality(dataset_id)
    batches = FileRepository(uow.session).batches(dataset_id, limit=5)
    return DatasetView(dataset, quality, dataset.is_fresh(utcnow()), batches)


@dataclass(frozen=True)
class FieldIn:
    name: str
    column: str
    type: FieldType
    meaning_zh: str = ""
    meaning_en: str = ""
    grade: Grade = Grade.GENERAL
    personal: Personal = Personal.NONE


@dataclass(frozen=True)
class NewDataset:
    code: str
    owner_unit: str
    title_zh: str
    source_kind: SourceKind
    share_class: ShareClass
    fields: Sequence[FieldIn]
    title_en: str = ""
    description_zh: str = ""
    description_en: str = ""
    source_name: str = ""
    frequency: Frequency = Frequency.MONTHLY
    key_field: str = ""
    grid_field: str = ""


def _build(definition: NewDataset, now: datetime) -> Dataset:
    dataset = Dataset(
        code=definition.code.strip(),
        owner_unit=definition.owner_unit.strip(),
        title_zh=definition.title_zh.strip(),
        title_en=definition.title_en.strip(),
        source_kind=definition.source_kind,
        share_class=definition.share_class,
        frequency=definition.frequency,
        source_name=definition.source_name.strip(),
        description_zh=definition.description_zh.strip(),
        description_en=definition.description_en.strip(),
        key_field=definition.key_field.strip(),
        grid_field=definition.grid_field.strip(),
        created_at=now,
        updated_at=now,
    )
    if dataset.source_kind is SourceKind.CASES:
        dataset.source_name = "cases"
    dataset.fields = [
        DatasetField(
            name=f.name.strip(),
            column=(f.column or f.name).strip(),
            type=f.type,
            meaning_zh=f.meaning_zh.strip()[:500],
            meaning_en=f.meaning_en.strip()[:500],
            grade=f.grade,
            personal=f.personal,
            position=i,
        )
        for i, f in enumerate(definition.fields)
    ]
    return dataset


def _may_curate(actor: Actor, owner_unit: str) -> None:
    """A unit's own staff curate its own datasets; data administrators every one."""
    if actor.role is Role.HANDLER and actor.department_code != owner_unit:
        raise Forbidden("exchange_not_owner", unit=owner_unit)


def _describe(dataset: Dataset) -> dict[str, Any]:
    return {
        "code": dataset.code,
        "owner_unit": dataset.owner_unit,
        "title_zh": dataset.title_zh,
        "source": f"{dataset.source_kind.value}:{dataset.source_name}",
        "share_class": dataset.share_class.value,
        "frequency": dataset.frequency.value,
        "fields": {
            f.name: f"{f.type.value} {f.grade.value} {f.personal.value}" for f in dataset.fields
        },
    }


@permission(CURATORS, "Register a dataset in the catalogue")
def register_dataset(
    uow: UnitOfWork,
    actor: Actor,
    definition: NewDataset,
    now: datetime | None = None,
) -> Dataset:
    """Add a dataset to the catalogue: its owner unit, titles, source (a registry kind, the
    cases, an uploaded file, a yes/no question), fields with their grades and personal
    marks, share class and frequency. A 422 names the first thing wrong (a column the
    source does not have, a field named twice, an unknown owner); a 409 a code in use."""
    moment = now or utcnow()
    _may_curate(actor, definition.owner_unit)
    dataset = _build(definition, moment)
    check_definition(dataset, source_columns(dataset))
    if DepartmentRepository(uow.session).get(dataset.owner_unit) is None:
        raise InvalidInput("exchange_unknown_unit", field="owner_unit", unit=dataset.owner_unit)
    repo = CatalogueRepository(uow.session)
    if repo.by_code(dataset.code) is not None:
        raise Conflict("exchange_code_taken", code=dataset.code)
    repo.add(dataset)
    uow.session.flush()
    assert dataset.id is not None
    catalogue_changed(uow.session)
    EventLog(uow.session).add(
        change_event(
            DATASET_KIND,
            dataset.id,
            actor,
            moment,
            {},
            action=SystemAction.CREATE,
            data=_describe(dataset),
        )
    )
    uow.commit()
    return dataset


@permission(CURATORS, "Change a dataset's description, grades and share class")
def update_dataset(
    uow: UnitOfWork,
    actor: Actor,
    dataset_id: int,
    definition: NewDataset,
    reason: str = "",
    now: datetime | None = None,
) -> Dataset:
    """Replace a dataset's definition (titles, fields, grades, share class, frequency). A
    field named by a live grant or an open request stays (409 naming it); the change is a
    row of the dataset's history with every difference."""
    moment = now or utcnow()
    dataset = _dataset(uow, dataset_id)
    _may_curate(actor, dataset.owner_unit)
    if definition.owner_unit != dataset.owner_unit:
        _may_curate(actor, definition.owner_unit)
    changed = _build(definition, moment)
    changed.id = dataset.id
    check_definition(changed, source_columns(changed))
    if changed.code != dataset.code or changed.source_kind is not dataset.source_kind:
        raise InvalidInput("exchange_source_fixed", field="source_kind", dataset=dataset.code)
    kept = {f.name for f in changed.fields}
    for grant in GrantRepository(uow.session).of_unit(None, states=[GrantState.ACTIVE]):
        if grant.dataset_id == dataset.id and set(grant.fields) - kept:
            name = sorted(set(grant.fields) - kept)[0]
            raise Conflict("exchange_field_in_use", field=name, grant=grant.id)
    before = _describe(dataset)
    for name in (
        "owner_unit",
        "title_zh",
        "title_en",
        "description_zh",
        "description_en",
        "source_name",
        "share_class",
        "frequency",
        "key_field",
        "grid_field",
    ):
        setattr(dataset, name, getattr(changed, name))
    by_name = {f.name: f for f in dataset.fields}
    fields = []
    for item in changed.fields:
        existing = by_name.get(item.name)
        if existing is None:
            fields.append(item)
            continue
        for name in ("column", "type", "meaning_zh", "meaning_en", "grade", "personal", "position"):
            setattr(existing, name, getattr(item, name))
        fields.append(existing)
    dataset.fields = fields
    dataset.updated_at = moment
    catalogue_changed(uow.session)
    after = _describe(dataset)
    differences = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    EventLog(uow.session).add(
        change_event(DATASET_KIND, dataset_id, actor, moment, differences, note=reason.strip())
    )
    uow.commit()
    return dataset


@permission(CATALOGUE_READERS, "Name the units of the exchange")
def unit_names(uow: UnitOfWork, actor: Actor, codes: Sequence[str]) -> dict[str, str]:
    """Each unit's name by its code (codes of no unit are left out)."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    rows = uow.session.execute(
        select(departments.c.code, departments.c.name).where(departments.c.code.in_(wanted))
    )
    return {str(code): str(name) for code, name in rows}


@permission(CATALOGUE_READERS, "Read a dataset's history")
def dataset_history(uow: UnitOfWork, actor: Actor, dataset_id: int) -> list[Event]:
    """Who registered the dataset, changed its definition and uploaded its files, when."""
    _dataset(uow, dataset_id)
    return list(EventLog(uow.session).of(DATASET_KIND, dataset_id))


@permission(CATALOGUE_READERS, "Read a few masked rows of a dataset")
def sample_rows(
    uow: UnitOfWork, actor: Actor, ports: ExchangePorts, dataset_id: int
) -> list[dict[str, Any]]:
    """The first few rows of a dataset, each field shown as it would be without a grant
    that says otherwise: personal information masked by its kind, sensitive personal
    information hashed, only non-personal data in full. The read is logged."""
    dataset = _dataset(uow, dataset_id)
    if dataset.is_question:
        return []
    view = view_of(dataset)
    masks = {f.name: f.default_mask for f in dataset.fields}
    now = ports.clock()
    rows = read_rows(uow.session, view, RowQuery(dataset.fields, Scope(), limit=SAMPLE_ROWS))
    shown = _showers(uow.session, ports, dataset, masks, now)
    ports.audit.append(
        uow.session,
        _entry(
            actor,
            AuditAction.READ,
            now,
            dataset,
            fields=tuple(masks),
            record_kind=view.record_kind,
            record_ids=tuple(int(r["#id"]) for r in rows),
            row_count=len(rows),
            reason="sample",
        ),
    )
    uow.commit()
    return [show_row(r, shown) for r in rows]


# ------------------------------------------------------------------ uploaded files


@dataclass(frozen=True)
class UploadReport:
    batch: Batch
    encoding: str
    ignored_columns: list[str]
    rejects: list[Reject]


@permission(CURATORS, "Upload a file of a dataset's rows")
def upload_rows(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    dataset_id: int,
    path: Path,
    file_name: str = "",
) -> UploadReport:
    """Check a CSV or xlsx file of the dataset's rows as the registry checks imports, make
    its good rows the dataset's rows, keep the bad ones (row, field, reason in both
    languages) for correction, and measure the fields' quality again. A file without one
    of the dataset's columns is a 422 naming it and the columns found."""
    dataset = _dataset(uow, dataset_id)
    _may_curate(actor, dataset.owner_unit)
    if dataset.source_kind is not SourceKind.FILE:
        raise InvalidInput("exchange_not_a_file_dataset", dataset=dataset.code)
    now = ports.clock()
    grid_codes = set(uow.session.execute(grids_under("/")).scalars())
    checked = read_file(path, dataset, secret=ports.secret_key, grid_codes=grid_codes)
    files = FileRepository(uow.session)
    batch_id = files.start_batch(
        dataset_id, file_name or path.name, actor.name, checked.encoding, now
    )
    files.replace_rows(dataset_id, batch_id, checked.rows)
    files.add_rejects(batch_id, checked.rejects)
    files.finish_batch(batch_id, checked.total, len(checked.rows), checked.rejected_rows, now)
    dataset.data_updated_at = now
    dataset.updated_at = now
    _measure(uow.session, ports, dataset, now)
    EventLog(uow.session).add(
        change_event(
            DATASET_KIND,
            dataset_id,
            actor,
            now,
            {},
            action="upload",
            data={
                "batch": batch_id,
                "file": file_name or path.name,
                "rows": checked.total,
                "imported": len(checked.rows),
                "rejected": checked.rejected_rows,
            },
        )
    )
    uow.commit()
    batch = files.batch(batch_id)
    assert batch is not None
    return UploadReport(batch, checked.encoding, checked.ignored_columns, checked.rejects)


@permission(CURATORS, "Read the rows of an upload kept for correction")
def batch_rejects(
    uow: UnitOfWork, actor: Actor, dataset_id: int, batch_id: int, limit: int = 100, offset: int = 0
) -> tuple[Batch, list[Reject], int]:
    """The rows of one upload that were not taken, as sent, each with its row number, field
    and reason: for the owner unit and the data administrators (they hold the data)."""
    dataset = _dataset(uow, dataset_id)
    _may_curate(actor, dataset.owner_unit)
    files = FileRepository(uow.session)
    batch = files.batch(batch_id)
    if batch is None or batch.dataset_id != dataset_id:
        raise NotFound("exchange_batch_not_found", id=batch_id)
    found, total = files.rejects(batch_id, min(limit, 500), offset)
    return batch, found, total


# ------------------------------------------------------------------ quality


_TEXT_TYPES = {
    FieldType.TEXT,
    FieldType.NAME,
    FieldType.PHONE,
    FieldType.IDENTITY,
    FieldType.KEY_HASH,
    FieldType.CREDIT_CODE,
    FieldType.ADDRESS,
    FieldType.GRID,
}
_CHECKED = {
    FieldType.IDENTITY: "identity",
    FieldType.PHONE: "phone",
    FieldType.CREDIT_CODE: "credit_code",
}


def _measure(session: Session, ports: ExchangePorts, dataset: Dataset, now: datetime) -> None:
    """Each field's completeness, validity (the registry's checks), and the key's repeats,
    stored with the time; and when the source last changed."""
    if dataset.is_question:
        dataset.quality_at = now
        return
    view = view_of(dataset)
    where = [view.condition] if view.condition is not None else []

    def scalar(expression: Any) -> int:
        stmt = select(expression).select_from(view.selectable)
        if where:
            stmt = stmt.where(*where)
        return int(session.execute(stmt).scalar() or 0)

    rows = scalar(func.count())
    measured = []
    grid_codes: set[str] | None = None
    for item in dataset.fields:
        column = view.column(item)
        if is_text(column):
            filled = scalar(func.count(case((and_(column.is_not(None), column != ""), 1))))
        else:
            filled = scalar(func.count(column))
        valid: int | None = None
        if item.type in _CHECKED or (item.type is FieldType.DATE and not view.typed):
            kind = _CHECKED.get(item.type, "date")
            stmt = select(column).select_from(view.selectable).where(*where, column.is_not(None))
            valid = sum(
                1
                for value in session.execute(stmt.execution_options(yield_per=5000)).scalars()
                if value and registry_views.valid_value(kind, str(value))
            )
        elif item.type in (FieldType.DATE, FieldType.DATETIME, FieldType.INTEGER, FieldType.NUMBER):
            valid = filled  # the database's own type holds them
        elif item.type is FieldType.GRID:
            if grid_codes is None:
                grid_codes = set(session.execute(grids_under("/")).scalars())
            stmt = select(column, func.count()).select_from(view.selectable).where(*where)
            valid = sum(
                int(n) for code, n in session.execute(stmt.group_by(column)) if code in grid_codes
            )
        duplicates: int | None = None
        if item.name == dataset.key_field:
            key = view.companion(item)
            key = column if key is None else key
            distinct_keys = scalar(func.count(distinct(key)))
            keyed = scalar(func.count(key))
            duplicates = keyed - distinct_keys
        measured.append(FieldQuality(item.name, rows, filled, valid, duplicates, now))
    CatalogueRepository(session).set_quality(dataset.id or 0, measured)
    dataset.rows = rows
    dataset.quality_at = now
    changed = last_change(session, view)
    if changed is not None:
        dataset.data_updated_at = changed


@permission(CURATORS, "Measure a dataset's quality now")
def measure_quality(
    uow: UnitOfWork, actor: Actor, ports: ExchangePorts, dataset_id: int
) -> dict[str, FieldQuality]:
    """Recompute the dataset's field quality now (the scheduler does it when its source
    changes, and daily)."""
    dataset = _dataset(uow, dataset_id)
    _may_curate(actor, dataset.owner_unit)
    _measure(uow.session, ports, dataset, ports.clock())
    uow.commit()
    return CatalogueRepository(uow.session).quality(dataset_id)


QUALITY_AT_LEAST_EVERY = timedelta(days=1)


@permission(ADMIN_ROLES, "Measure the quality of datasets whose data changed")
def refresh_quality(
    uow: UnitOfWork, actor: Actor, ports: ExchangePorts, *, everything: bool = False
) -> int:
    """Measure again each dataset whose source changed since it was last measured (a
    registry import finished since; a case reported or changed since), or that was
    measured more than a day ago; how many were measured. Commits after each dataset.
    (An uploaded file is measured as it is imported.)"""
    now = ports.clock()
    registry_changed = registry_views.last_import(uow.session)
    done = 0
    for dataset in CatalogueRepository(uow.session).all():
        if dataset.is_question:
            continue
        changed: datetime | None = None
        if dataset.source_kind is SourceKind.REGISTRY:
            changed = registry_changed
        elif dataset.source_kind is SourceKind.CASES and dataset.quality_at is not None:
            changed = last_change(uow.session, view_of(dataset))
        stale = (
            everything
            or dataset.quality_at is None
            or now - dataset.quality_at >= QUALITY_AT_LEAST_EVERY
            or (changed is not None and changed > dataset.quality_at)
        )
        if not stale:
            continue
        _measure(uow.session, ports, dataset, now)
        uow.commit()
        done += 1
    return done


# ------------------------------------------------------------------ requests


@dataclass(frozen=True)
class TermsIn:
    """Terms as a unit writes them: (field, mask or None) pairs, an area's code, a filter
    field with its values, and the days."""

    fields: Sequence[tuple[str, str | None]]
    starts_on: date
    ends_on: date
    area_code: str = ""
    filter_field: str = ""
    filter_values: Sequence[str] = ()


def _terms(uow: UnitOfWork, ports: ExchangePorts, dataset: Dataset, given: TermsIn) -> Terms:
    fields = parse_fields(dataset, given.fields)
    area_path = ""
    if given.area_code:
        found = ports.areas.path_of(uow.session, given.area_code.strip())
        if found is None:
            raise InvalidInput("exchange_unknown_area", field="area", code=given.area_code)
        area_path = found
    values = tuple(v.strip() for v in given.filter_values if v.strip())
    return Terms(
        fields,
        Scope(given.area_code.strip(), area_path, given.filter_field.strip(), values),
        given.starts_on,
        given.ends_on,
    )


@permission(REQUESTERS, "Ask another unit for fields of its dataset")
def ask(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    dataset_id: int,
    terms_in: TermsIn,
    purpose: str,
    now: datetime | None = None,
) -> ShareRequest:
    """Ask the owner unit of a dataset for named fields (each with how it is to be shown),
    a row scope, a period and a purpose. The owner has 2 working days to answer for
    无条件共享 data, 5 for 有条件共享; 不予共享 datasets cannot be asked for (409). A
    request while the unit has one open, or a grant whose days overlap, is a 409 naming it."""
    moment = _now(ports, now)
    unit = _unit_of(actor)
    dataset = _dataset(uow, dataset_id)
    if dataset.owner_unit == unit:
        raise Conflict("exchange_own_dataset", dataset=dataset.code)
    purpose = purpose.strip()
    if not purpose:
        raise InvalidInput("exchange_field_missing", field="purpose")
    if len(purpose) > MAX_PURPOSE:
        raise InvalidInput("exchange_too_long", field="purpose", most=MAX_PURPOSE)
    terms = _terms(uow, ports, dataset, terms_in)
    check_terms(dataset, terms, city_day(moment, ports.timezone))
    requests = RequestRepository(uow.session)
    already = requests.open_for(unit, dataset_id)
    if already is not None:
        raise Conflict("exchange_request_open", id=already.id, dataset=dataset.code)
    overlap = GrantRepository(uow.session).overlapping(
        unit, dataset_id, terms.starts_on, terms.ends_on
    )
    if overlap is not None:
        raise Conflict(
            "exchange_grant_overlaps",
            grant=overlap.id,
            dataset=dataset.code,
            ends_on=overlap.ends_on.isoformat(),
        )
    request = ShareRequest(
        dataset_id=dataset_id,
        requester_unit=unit,
        owner_unit=dataset.owner_unit,
        asked_by=actor.name,
        purpose=purpose,
        fields={},
        starts_on=terms.starts_on,
        ends_on=terms.ends_on,
        working_days=dataset.working_days,
        needs_admin=needs_admin(dataset, terms.fields),
        created_at=moment,
        updated_at=moment,
    )
    request.set_terms(terms)
    request.calendar = ports.calendar
    SHARE_REQUEST.restart_clock(request, moment)
    requests.add(request)
    uow.session.flush()
    EventLog(uow.session).add(
        SHARE_REQUEST.event(
            request,
            RequestAction.ASK,
            actor,
            moment,
            from_state=None,
            note=purpose,
            data=terms.as_data(),
        )
    )
    _notify(uow.session, ports, request, dataset, "ask", [request.owner_unit], moment)
    uow.commit()
    return request


def _party(actor: Actor, owner_unit: str, other_unit: str) -> None:
    """The two units and the overseers see a request or a grant; others hear a 403."""
    if actor.role in OVERSEERS:
        return
    if actor.department_code and actor.department_code in (owner_unit, other_unit):
        return
    raise Forbidden("exchange_not_party")


def _request(
    uow: UnitOfWork, actor: Actor, ports: ExchangePorts | None, request_id: int
) -> ShareRequest:
    request = RequestRepository(uow.session).get(request_id)
    if request is None:
        raise NotFound("exchange_request_not_found", id=request_id)
    _party(actor, request.owner_unit, request.requester_unit)
    if ports is not None:
        request.calendar = ports.calendar
    return request


@permission(PARTIES, "Read a share request")
def get_request(uow: UnitOfWork, actor: Actor, request_id: int) -> ShareRequest:
    """One request, for the asking and the owning unit and the data administrators."""
    return _request(uow, actor, None, request_id)


@permission(PARTIES, "List the share requests of one's unit")
def list_requests(
    uow: UnitOfWork,
    actor: Actor,
    side: str = "both",
    states: Sequence[RequestState] = (),
) -> list[ShareRequest]:
    """The requests the caller's unit made ("asked"), received ("owned") or both, newest
    first; the data administrators and the administrator see every unit's."""
    unit = None if actor.role in OVERSEERS and side == "both" else actor.department_code
    if unit is None and actor.role not in OVERSEERS:
        return []
    if unit is None:
        return RequestRepository(uow.session).of_unit(None, states=states)
    return RequestRepository(uow.session).of_unit(unit, side=side, states=states)


@permission(PARTIES, "Read the history of a share request and its grant")
def request_history(uow: UnitOfWork, actor: Actor, request_id: int) -> list[Event]:
    """Every step of the request and of the grant it made — asked, approved, narrowed,
    refused, granted, expired, revoked — who, when and why, oldest first."""
    request = _request(uow, actor, None, request_id)
    history = list(EventLog(uow.session).of(REQUEST_KIND, request_id))
    if request.grant_id is not None:
        history += EventLog(uow.session).of(GRANT_KIND, request.grant_id)
    return sorted(history, key=lambda e: (e.at, e.id or 0))


@permission(DECIDERS, "Approve, narrow or refuse a share request")
def decide(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    request_id: int,
    action: RequestAction,
    reason: str = "",
    narrowed: TermsIn | None = None,
    now: datetime | None = None,
) -> ShareRequest:
    """The owner unit's decision on a request (then, for 重要/核心 fields or sensitive
    personal information, the data administrator's): approve the terms as asked, narrow
    them (fewer fields, a mask that hides more, fewer rows, fewer days; with a reason) or
    refuse (with a reason). The last approval makes the grant; both units hear of every
    step. A 409 names the request's state and what it allows."""
    moment = _now(ports, now)
    request = _request(uow, actor, ports, request_id)
    dataset = _dataset(uow, request.dataset_id)
    reason = reason.strip()
    if action not in (RequestAction.APPROVE, RequestAction.NARROW, RequestAction.REFUSE):
        raise InvalidInput("exchange_unknown_action", action=str(action))
    before_state = request.state
    terms = request.terms
    new_terms = terms
    if action is RequestAction.NARROW:
        if narrowed is None:
            raise InvalidInput("exchange_field_missing", field="terms")
        new_terms = _terms(uow, ports, dataset, narrowed)
        check_terms(dataset, new_terms, city_day(moment, ports.timezone))
        terms.narrowed_to(new_terms)

    def effect() -> dict[str, Any]:
        request.reason = reason
        if before_state is RequestState.ASKED and action is not RequestAction.REFUSE:
            request.owner_decided_by = actor.name
        if action is RequestAction.NARROW:
            request.set_terms(new_terms)
            return {"before": terms.as_data(), "after": new_terms.as_data()}
        return {}

    event = SHARE_REQUEST.apply(
        request,
        action.value,
        Context(actor, moment),
        effect,
        command=Decision(reason),
        note=reason,
    )
    log_rows = EventLog(uow.session)
    log_rows.add(event)
    request.needs_admin = needs_admin(dataset, request.fields)
    if request.state is RequestState.REVIEW and not request.needs_admin:
        log_rows.add(
            SHARE_REQUEST.apply(
                request,
                RequestAction.GRANT.value,
                Context(RULES, moment, BY_RULES),
                dict,
                note=translate("exchange.no_admin_needed", ports.locale),
            )
        )
    if request.state is RequestState.APPROVED:
        _make_grant(uow, actor, ports, request, dataset, moment)
    elif request.state is RequestState.REVIEW:
        _notify(
            uow.session,
            ports,
            request,
            dataset,
            "review",
            [request.requester_unit, *_data_units(uow.session)],
            moment,
        )
    else:
        _notify(
            uow.session,
            ports,
            request,
            dataset,
            action.value,
            [request.requester_unit, request.owner_unit],
            moment,
            reason=reason,
        )
    uow.commit()
    return request


@permission(REQUESTERS, "Withdraw one's unit's share request")
def withdraw(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    request_id: int,
    reason: str = "",
    now: datetime | None = None,
) -> ShareRequest:
    """The asking unit takes back a request still waiting for a decision."""
    moment = _now(ports, now)
    request = _request(uow, actor, ports, request_id)
    dataset = _dataset(uow, request.dataset_id)
    event = SHARE_REQUEST.apply(
        request, RequestAction.WITHDRAW.value, Context(actor, moment), dict, note=reason.strip()
    )
    EventLog(uow.session).add(event)
    _notify(uow.session, ports, request, dataset, "withdraw", [request.owner_unit], moment)
    uow.commit()
    return request


def _make_grant(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    request: ShareRequest,
    dataset: Dataset,
    now: datetime,
) -> Grant:
    overlap = GrantRepository(uow.session).overlapping(
        request.requester_unit, request.dataset_id, request.starts_on, request.ends_on
    )
    if overlap is not None:
        raise Conflict(
            "exchange_grant_overlaps",
            grant=overlap.id,
            dataset=dataset.code,
            ends_on=overlap.ends_on.isoformat(),
        )
    starts_at, expires_at = grant_window(request.starts_on, request.ends_on, ports.timezone)
    assert request.id is not None
    made = Grant(
        request_id=request.id,
        dataset_id=request.dataset_id,
        consumer_unit=request.requester_unit,
        owner_unit=request.owner_unit,
        purpose=request.purpose,
        fields={},
        starts_on=request.starts_on,
        ends_on=request.ends_on,
        starts_at=starts_at,
        expires_at=expires_at,
        end_reason="",
        created_at=now,
        updated_at=now,
    )
    made.set_terms(request.terms)
    GrantRepository(uow.session).add(made)
    uow.session.flush()
    assert made.id is not None
    request.grant_id = made.id
    EventLog(uow.session).add(
        SHARE_GRANT.event(
            made,
            GrantAction.CREATE,
            actor,
            now,
            from_state=None,
            data={"request": request.id, **request.terms.as_data()},
        )
    )
    _audit_grant(uow.session, ports, actor, made, dataset, "made", now)
    _notify(
        uow.session,
        ports,
        request,
        dataset,
        "granted",
        [request.requester_unit, request.owner_unit],
        now,
        grant=made,
    )
    return made


def _audit_grant(
    session: Session,
    ports: ExchangePorts,
    actor: Actor,
    grant: Grant,
    dataset: Dataset,
    outcome: str,
    at: datetime,
) -> None:
    ports.audit.append(
        session,
        _entry(
            actor,
            AuditAction.GRANT,
            at,
            dataset,
            grant_id=grant.id,
            fields=tuple(grant.fields),
            reason=outcome,
        ),
    )


# ------------------------------------------------------------------ grants


def _grant(uow: UnitOfWork, actor: Actor, grant_id: int) -> Grant:
    found = GrantRepository(uow.session).get(grant_id)
    if found is None:
        raise NotFound("exchange_grant_not_found", id=grant_id)
    _party(actor, found.owner_unit, found.consumer_unit)
    return found


@permission(PARTIES, "Read a grant")
def get_grant(uow: UnitOfWork, actor: Actor, grant_id: int) -> Grant:
    """One grant, for the two units and the data administrators."""
    return _grant(uow, actor, grant_id)


@permission(PARTIES, "List the grants of one's unit")
def list_grants(
    uow: UnitOfWork, actor: Actor, side: str = "both", states: Sequence[GrantState] = ()
) -> list[Grant]:
    """The grants the caller's unit holds ("received"), gave ("given") or both, newest
    first; the data administrators and the administrator see every unit's."""
    unit = None if actor.role in OVERSEERS and side == "both" else actor.department_code
    if unit is None and actor.role not in OVERSEERS:
        return []
    return GrantRepository(uow.session).of_unit(unit, side=side, states=states)


@permission(REVOKERS, "Revoke a grant at once")
def revoke(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    grant_id: int,
    reason: str,
    now: datetime | None = None,
) -> Grant:
    """End a grant now, with a reason: the owner unit, or a data administrator. The next
    read under it is a 403 saying it was revoked; both units hear of it."""
    moment = _now(ports, now)
    found = _grant(uow, actor, grant_id)
    dataset = _dataset(uow, found.dataset_id)

    def effect() -> dict[str, Any]:
        found.ended_at = moment
        found.end_reason = reason.strip()
        return {}

    event = SHARE_GRANT.apply(
        found,
        GrantAction.REVOKE.value,
        Context(actor, moment),
        effect,
        command=Decision(reason.strip()),
        note=reason.strip(),
    )
    EventLog(uow.session).add(event)
    _audit_grant(uow.session, ports, actor, found, dataset, "revoked", moment)
    request = RequestRepository(uow.session).get(found.request_id)
    assert request is not None
    _notify(
        uow.session,
        ports,
        request,
        dataset,
        "revoke",
        [found.consumer_unit, found.owner_unit],
        moment,
        grant=found,
        reason=reason.strip(),
    )
    uow.commit()
    return found


@dataclass
class TickReport:
    expired: list[int] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)


@permission(ADMIN_ROLES, "Expire grants past their date and mark late requests")
def tick(
    uow: UnitOfWork, actor: Actor, ports: ExchangePorts, now: datetime | None = None
) -> TickReport:
    """What the clock does, without anyone acting: each grant past its last day expires
    (the platform's own event, both units told), and each request past its working-day
    deadline is marked overdue (红灯), the owner unit told."""
    moment = _now(ports, now)
    report = TickReport()
    log_rows = EventLog(uow.session)
    requests = RequestRepository(uow.session)
    for found in GrantRepository(uow.session).due_to_expire(moment):

        def effect(found: Grant = found) -> dict[str, Any]:
            found.ended_at = found.expires_at
            return {"expires_at": found.expires_at.isoformat()}

        log_rows.add(
            SHARE_GRANT.apply(
                found, GrantAction.EXPIRE.value, Context(RULES, moment, BY_RULES), effect
            )
        )
        request = requests.get(found.request_id)
        dataset = CatalogueRepository(uow.session).get(found.dataset_id)
        if dataset is not None:
            _audit_grant(uow.session, ports, RULES, found, dataset, "expired", moment)
        if request is not None and dataset is not None:
            _notify(
                uow.session,
                ports,
                request,
                dataset,
                "expire",
                [found.consumer_unit, found.owner_unit],
                moment,
                grant=found,
            )
        report.expired.append(found.id or 0)
    for late in requests.newly_overdue(moment):
        log_rows.add(SHARE_REQUEST.mark_overdue(late, moment))
        dataset = CatalogueRepository(uow.session).get(late.dataset_id)
        if dataset is not None:
            waiting = [late.owner_unit] if late.state is RequestState.ASKED else []
            if late.state is RequestState.REVIEW:
                waiting = _data_units(uow.session)
            _notify(
                uow.session,
                ports,
                late,
                dataset,
                "overdue",
                [*waiting, late.requester_unit],
                moment,
            )
        report.overdue.append(late.id or 0)
    uow.commit()
    return report


def tick_job(ports: ExchangePorts, every: timedelta) -> PeriodicJob:
    """The scheduler's clock for grants and requests."""

    def run(uow: UnitOfWork) -> str:
        report = tick(uow, RULES, ports)
        if not (report.expired or report.overdue):
            return ""
        return f"{len(report.expired)} grants expired, {len(report.overdue)} requests overdue"

    return PeriodicJob(TICK_JOB, every, run)


def quality_job(ports: ExchangePorts, every: timedelta) -> PeriodicJob:
    """The scheduler's quality measurement of datasets whose data changed."""

    def run(uow: UnitOfWork) -> str:
        done = refresh_quality(uow, RULES, ports)
        return f"{done} datasets measured" if done else ""

    return PeriodicJob(QUALITY_JOB, every, run)


# ------------------------------------------------------------------ notices


def _data_units(session: Session) -> list[str]:
    """The units of the data administration (大数据局), who hear of the second step."""
    return list(
        session.execute(
            select(departments.c.code).where(departments.c.function == Function.DATA)
        ).scalars()
    )


def _notify(
    session: Session,
    ports: ExchangePorts,
    request: ShareRequest,
    dataset: Dataset,
    what: str,
    units: Sequence[str],
    at: datetime,
    *,
    grant: Grant | None = None,
    reason: str = "",
) -> None:
    """One notice per person of UNITS, in the platform's language, on the request (or on
    the grant, for what happens to a grant)."""
    locale = ports.locale
    tz = ports.timezone
    body = translate(
        f"exchange.notice.{what}",
        locale,
        {
            "id": request.id,
            "grant": grant.id if grant else "",
            "dataset": dataset.title(locale),
            "requester": request.requester_unit,
            "owner": request.owner_unit,
            "fields": ", ".join(request.fields),
            "purpose": request.purpose[:200],
            "reason": reason or "—",
            "deadline": format_datetime(request.deadline_at, locale, tz)
            if request.deadline_at
            else "—",
            "starts_on": format_date(request.starts_on, locale),
            "ends_on": format_date(request.ends_on, locale),
        },
    )
    people: list[Contact] = []
    for unit in dict.fromkeys(units):
        people += ports.directory.unit_staff(session, unit)
    kind, record = (
        (GRANT_KIND, grant.id)
        if grant is not None and what != "granted"
        else (
            REQUEST_KIND,
            request.id,
        )
    )
    Outbox(session).add(messages_to(people, kind, record or 0, body, at))


# ------------------------------------------------------------------ reading through grants


@dataclass(frozen=True)
class RowRequest:
    """What a reader asks: fields (none: every granted field), filters, where to start
    (after a row's id) and how many."""

    fields: Sequence[str] = ()
    filters: Sequence[str] = ()
    after: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class RowPage:
    dataset: Dataset
    grant: Grant
    masks: dict[str, Mask]
    rows: list[dict[str, Any]]
    next_after: int | None


@dataclass(frozen=True)
class _Plan:
    dataset: Dataset
    grant: Grant
    view: SourceView
    query: RowQuery
    masks: dict[str, Mask]
    filters: list[str]


def _refused(
    uow: UnitOfWork,
    ports: ExchangePorts,
    actor: Actor,
    dataset_id: int | None,
    error: CivicGridError,
    personal: str | None = None,
) -> CivicGridError:
    """Log a refused read, export or question and commit it (a refusal comes before the
    service writes anything else), and hand back the error to raise."""
    ports.audit.append(
        uow.session,
        _entry(
            actor,
            AuditAction.REFUSED,
            ports.clock(),
            None if dataset_id is None else CatalogueRepository(uow.session).get(dataset_id),
            reason=error.message_key,
            personal=personal,
        ),
    )
    uow.commit()
    return error


def _live_grant(uow: UnitOfWork, unit: str, dataset: Dataset, now: datetime, tz: str) -> Grant:
    """The unit's grant of the dataset in force now, or a 403 saying why there is none:
    never granted, expired (when), revoked (when, why), not begun (when)."""
    assert dataset.id is not None
    grants = GrantRepository(uow.session).of_reader(unit, dataset.id)
    for candidate in grants:
        if candidate.live(now):
            return candidate
    if not grants:
        raise Forbidden("exchange_no_grant", dataset=dataset.code, unit=unit)
    latest = grants[0]
    if latest.state is GrantState.REVOKED:
        raise Forbidden(
            "exchange_grant_revoked",
            dataset=dataset.code,
            grant=latest.id,
            at=format_date(latest.ended_at or now, "en", tz),
            reason=latest.end_reason or "-",
        )
    if latest.state is GrantState.ACTIVE and latest.starts_at > now:
        raise Forbidden(
            "exchange_grant_not_started",
            dataset=dataset.code,
            grant=latest.id,
            starts_on=latest.starts_on.isoformat(),
        )
    raise Forbidden(
        "exchange_grant_expired",
        dataset=dataset.code,
        grant=latest.id,
        ends_on=latest.ends_on.isoformat(),
    )


def _plan(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    dataset: Dataset,
    asked: RowRequest,
    *,
    remembered: bool = False,
) -> _Plan:
    """What a read of DATASET by ACTOR's unit takes, under its grant in force. With
    REMEMBERED, the grant the process remembers for the unit and the dataset (found and
    remembered when there is none), whose being in force the query of the rows asks."""
    unit = _unit_of(actor)
    if dataset.is_question:
        raise InvalidInput("exchange_question_not_rows", dataset=dataset.code)
    assert dataset.id is not None
    now = ports.clock()
    known = ports.grants_in_use.get(unit, dataset.id) if remembered else None
    if known is not None and known.id is not None and known.live(now):
        live, in_force = known, (known.id, now)
    else:
        live, in_force = _live_grant(uow, unit, dataset, now, ports.timezone), None
        if remembered:
            ports.grants_in_use.remember(uow.session, unit, dataset.id, live)
    masks = live.masks()
    wanted = list(dict.fromkeys(n.strip() for n in asked.fields if n.strip())) or list(masks)
    for name in wanted:
        dataset.field_named(name)  # 422 for a field the dataset does not have
        if name not in masks:
            raise Forbidden(
                "exchange_field_not_granted",
                field=name,
                dataset=dataset.code,
                granted=", ".join(masks),
            )
    filters = []
    for text in asked.filters:
        wanted_filter = Filter.parse(text)
        item = dataset.field_named(wanted_filter.field)
        mask = masks.get(item.name)
        if mask is None:
            raise Forbidden(
                "exchange_field_not_granted",
                field=item.name,
                dataset=dataset.code,
                granted=", ".join(masks),
            )
        if mask != FULL:
            # A condition on a masked field would tell its value row by row.
            raise Forbidden("exchange_filter_masked", field=item.name, mask=str(mask))
        filters.append((item, wanted_filter))
    fields = [dataset.field_named(name) for name in wanted]
    limit = max(1, min(asked.limit, MAX_PAGE))
    query = RowQuery(fields, live.terms.scope, filters, asked.after, limit, in_force)
    return _Plan(
        dataset,
        live,
        view_of(dataset),
        query,
        {name: masks[name] for name in wanted},
        [f"{f.field}:{f.op.value}" for _item, f in filters],
    )


def _showers(
    session: Session,
    ports: ExchangePorts,
    dataset: Dataset,
    masks: dict[str, Mask],
    now: datetime,
) -> dict[str, Callable[[Any, Any], Any]]:
    hasher = Hasher(ports.secret_key)
    today = city_day(now, ports.timezone)
    needs_names = any(m.kind is MaskKind.COMMUNITY for m in masks.values())
    community = ports.areas.community_of(session) if needs_names else (lambda _grid: None)
    return {
        name: shower(
            name,
            dataset.field_named(name).type,
            mask,
            hasher=hasher,
            today=today,
            community_of=community,
        )
        for name, mask in masks.items()
    }


@permission(READERS, "Read rows of a dataset through one's unit's grant")
def read(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    dataset_id: int,
    asked: RowRequest = RowRequest(),
) -> RowPage:
    """A page of the dataset's rows under the caller's unit's grant in force: only the
    granted fields, only the granted rows (its area, its filter), each field masked as the
    grant says, filtered further by the caller's conditions on fields granted in full.
    Without a live grant a 403 names what is missing (the dataset, a field, the expiry).
    Every read, allowed or refused, is logged."""
    # The only write is the log entry, which is durable when its statement returns and
    # before the page is answered; a transaction around the read would add two round trips.
    uow.each_statement_commits()
    try:
        dataset = _readable(uow, ports, dataset_id)
        plan = _plan(uow, actor, ports, dataset, asked, remembered=True)
        rows = read_rows(uow.session, plan.view, plan.query)
        if not rows and plan.query.in_force is not None:
            # No row: the end of the rows, or the grant remembered has ended since.
            ports.grants_in_use.forget(_unit_of(actor), dataset_id)
            plan = _plan(uow, actor, ports, dataset, asked, remembered=True)
            rows = read_rows(uow.session, plan.view, plan.query)
    except CivicGridError as error:
        raise _refused(uow, ports, actor, dataset_id, error) from None
    now = ports.clock()
    shown = _showers(uow.session, ports, dataset, plan.masks, now)
    ports.audit.append(
        uow.session,
        _entry(
            actor,
            AuditAction.READ,
            now,
            dataset,
            grant_id=plan.grant.id,
            fields=tuple(plan.masks),
            record_kind=plan.view.record_kind,
            record_ids=tuple(int(r["#id"]) for r in rows),
            row_count=len(rows),
        ),
    )
    uow.commit()
    next_after = int(rows[-1]["#id"]) if len(rows) == plan.query.limit else None
    return RowPage(dataset, plan.grant, plan.masks, [show_row(r, shown) for r in rows], next_after)


class Export:
    """A bulk export prepared under a grant: its masked rows, a chunk at a time, each
    chunk logged (with the records it held) in its own transaction as it is read."""

    CHUNK = 5000

    def __init__(self, plan: _Plan, actor: Actor, ports: ExchangePorts, fmt: str) -> None:
        self.plan = plan
        self.actor = actor
        self.ports = ports
        self.format = fmt
        # Read now: the rows are written after the request's own transaction has ended.
        self.grant_id = plan.grant.id

    @property
    def dataset(self) -> Dataset:
        return self.plan.dataset

    @property
    def fields(self) -> list[str]:
        return list(self.plan.masks)

    def chunks(self, open_uow: Callable[[], UnitOfWork]) -> Iterator[list[dict[str, Any]]]:
        plan = self.plan
        with open_uow() as uow:
            now = self.ports.clock()
            shown = _showers(uow.session, self.ports, plan.dataset, plan.masks, now)
            for rows in stream_rows(uow.session, plan.view, plan.query, self.CHUNK):
                self.ports.audit.append(
                    uow.session,
                    _entry(
                        self.actor,
                        AuditAction.EXPORT,
                        self.ports.clock(),
                        plan.dataset,
                        grant_id=self.grant_id,
                        fields=tuple(plan.masks),
                        record_kind=plan.view.record_kind,
                        record_ids=tuple(int(r["#id"]) for r in rows),
                        row_count=len(rows),
                        reason=self.format,
                    ),
                )
                uow.commit()
                yield [show_row(r, shown) for r in rows]


EXPORT_FORMATS = ("csv", "xlsx", "parquet")


@permission(READERS, "Export a dataset's granted rows")
def export(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    dataset_id: int,
    fmt: str,
    asked: RowRequest = RowRequest(),
) -> Export:
    """Prepare a bulk export (CSV, xlsx or Parquet) of every row the caller's unit's grant
    allows, masked as it says; the rows are read and logged chunk by chunk as they are
    written. Refused as a read is, and logged the same way."""
    try:
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(
                "exchange_export_format",
                field="format",
                format=fmt,
                allowed=", ".join(EXPORT_FORMATS),
            )
        dataset = _readable(uow, ports, dataset_id)
        plan = _plan(
            uow,
            actor,
            ports,
            dataset,
            RowRequest(asked.fields, asked.filters, asked.after, MAX_PAGE),
        )
    except CivicGridError as error:
        raise _refused(uow, ports, actor, dataset_id, error) from None
    return Export(plan, actor, ports, fmt)


# ------------------------------------------------------------------ verify without revealing


@dataclass(frozen=True)
class Verdict:
    question: Question
    answer: Answer
    dataset: Dataset
    grant: Grant
    asked_at: datetime


def _normal_address(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s,，。.、\-—#＃]", "", text).lower()


def _question_dataset(
    uow: UnitOfWork, unit: str, question: Question, now: datetime, tz: str
) -> tuple[Dataset, Grant]:
    """The dataset of QUESTION whose grant the unit holds now; a 403 naming the question
    (and why an old grant no longer counts) when it holds none."""
    datasets = [
        d
        for d in CatalogueRepository(uow.session).all()
        if d.is_question and d.source_name == question.value
    ]
    if not datasets:
        raise NotFound("exchange_question_not_offered", question=question.value)
    refusal: CivicGridError | None = None
    for dataset in datasets:
        try:
            return dataset, _live_grant(uow, unit, dataset, now, tz)
        except Forbidden as error:
            refusal = refusal or error
    assert refusal is not None
    raise refusal


@permission(READERS, "Ask a yes/no question about a person or an organisation")
def verify(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    question: str,
    inputs: dict[str, str],
) -> Verdict:
    """Answer yes, no or unknown — never the data — to a question the caller's unit is
    granted: does the person with this identity number live at this address, is her
    household registered in this area, is she N or older, is this organisation registered.
    The number typed is only hashed, never kept. Each question is logged and a unit's
    questions are limited per minute (429 past it)."""
    now = ports.clock()
    try:
        try:
            kind = Question(question)
        except ValueError:
            raise InvalidInput(
                "exchange_unknown_question",
                question=question[:40],
                allowed=", ".join(q.value for q in Question),
            ) from None
        unit = _unit_of(actor)
        dataset, live = _question_dataset(uow, unit, kind, now, ports.timezone)
        if ports.verify_limiter is not None:
            ports.verify_limiter.check(unit)
        for name in QUESTION_INPUTS[kind]:
            if not str(inputs.get(name, "")).strip():
                raise InvalidInput("exchange_field_missing", field=name)
        looked = _answer(uow.session, ports, kind, inputs, live.terms.scope, now)
    except CivicGridError as error:
        about = inputs.get("identity_number") or inputs.get("credit_code") or None
        raise _refused(uow, ports, actor, None, error, about) from None
    ports.audit.append(
        uow.session,
        _entry(
            actor,
            AuditAction.VERIFY,
            now,
            dataset,
            grant_id=live.id,
            fields=(ANSWER_FIELD,),
            record_kind=looked.record_kind,
            record_ids=looked.record_ids,
            reason=looked.answer.value,
            personal=looked.about,
        ),
    )
    uow.commit()
    return Verdict(kind, looked.answer, dataset, live, now)


@dataclass(frozen=True)
class _Looked:
    """An answer, the records it was read from, and the number it was about (which the
    log keeps only as a salted commitment)."""

    answer: Answer
    record_kind: str
    record_ids: tuple[int, ...]
    about: str


def _identity(text: str) -> str:
    try:
        return registry_views.parse_identity(text).value
    except registry_views.IdentifierError as error:
        raise InvalidInput(
            "exchange_verify_input",
            field="identity_number",
            reason=translate(error.reason, "en", error.params),
        ) from None


def _answer(
    session: Session,
    ports: ExchangePorts,
    question: Question,
    inputs: dict[str, str],
    scope: Scope,
    now: datetime,
) -> _Looked:
    """The answer, and what it was read from (for the log)."""
    if question is Question.ORGANISATION_ACTIVE:
        try:
            code = registry_views.parse_credit_code(inputs["credit_code"])
        except registry_views.IdentifierError as error:
            raise InvalidInput(
                "exchange_verify_input",
                field="credit_code",
                reason=translate(error.reason, "en", error.params),
            ) from None
        orgs = registry_views.record_rows("organisations")
        stmt = select(orgs.c.id).where(orgs.c.credit_code == code)
        if scope.area_path:
            stmt = stmt.where(orgs.c.grid_code.in_(grids_under(scope.area_path)))
        found = tuple(int(i) for i in session.execute(stmt.limit(20)).scalars())
        # The registry holds registrations, not deregistrations: absent is not "no".
        answer = Answer.YES if found else Answer.UNKNOWN
        return _Looked(answer, "organisation", found, code)
    number = _identity(inputs["identity_number"])
    # Every input is checked before anyone is looked up: a wrong one is a 422 naming it,
    # whether or not the registry knows the person.
    inside: set[str] = set()
    if question is Question.REGISTERED_IN:
        code = inputs["area"].strip()
        path = ports.areas.path_of(session, code)
        if path is None:
            raise InvalidInput("exchange_unknown_area", field="area", code=code)
        inside = set(session.execute(grids_under(path)).scalars())
    age = str(inputs.get("age", "")).strip()
    if question is Question.AGE_AT_LEAST and not (
        age.isascii() and age.isdigit() and 0 <= int(age) <= 150
    ):
        raise InvalidInput("exchange_verify_input", field="age", reason="0-150")
    id_hash = registry_views.identity_hash(ports.secret_key)(number)
    people = registry_views.record_rows("people")
    stmt = select(
        people.c.id,
        people.c.grid_code,
        people.c.address_text,
        people.c.address_id,
        people.c.birth_date,
        people.c.residence,
    ).where(people.c.id_hash == id_hash)
    if scope.area_path:
        stmt = stmt.where(people.c.grid_code.in_(grids_under(scope.area_path)))
    records = session.execute(stmt.limit(20)).all()
    ids = tuple(int(r.id) for r in records)

    def looked(answer: Answer) -> _Looked:
        return _Looked(answer, "person", ids, number)

    if not records:
        return looked(Answer.UNKNOWN)
    if question is Question.LIVES_AT:
        wanted = _normal_address(inputs["address"])
        texts = {_normal_address(r.address_text or "") for r in records}
        address_ids = [r.address_id for r in records if r.address_id is not None]
        if address_ids:
            addresses = registry_views.record_rows("addresses")
            texts |= {
                _normal_address(t)
                for t in session.execute(
                    select(addresses.c.text).where(addresses.c.id.in_(address_ids))
                ).scalars()
            }
        return looked(Answer.YES if wanted and wanted in texts else Answer.NO)
    if question is Question.REGISTERED_IN:
        registered = any(
            str(r.residence) == "registered" and r.grid_code in inside for r in records
        )
        return looked(Answer.YES if registered else Answer.NO)
    births = [r.birth_date for r in records if r.birth_date is not None]
    if not births:
        return looked(Answer.UNKNOWN)
    today = city_day(now, ports.timezone)
    old_enough = {age_on(born, today) >= int(age) for born in births}
    if len(old_enough) > 1:
        return looked(Answer.UNKNOWN)  # the departments disagree: no guess
    return looked(Answer.YES if old_enough.pop() else Answer.NO)
