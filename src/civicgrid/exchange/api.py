"""/api/v1/exchange: the catalogue, uploads, share requests and grants, reading and
exporting rows through a grant (with a unit's API key or a user of that unit), and yes/no
questions answered without the data."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, File, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of, request_locale
from civicgrid.core.masking import Whose
from civicgrid.core.permissions import Actor
from civicgrid.core.schemas import HistoryOut
from civicgrid.core.types import PageNumber, RecordId
from civicgrid.exchange import services
from civicgrid.exchange.domain import (
    Grade,
    GrantState,
    RequestState,
    ShareClass,
    ShareRequest,
    SourceKind,
)
from civicgrid.exchange.exports import MEDIA_TYPES, WRITERS
from civicgrid.exchange.importing import safe_file_name
from civicgrid.exchange.masking import Personal
from civicgrid.exchange.ports import ExchangePorts
from civicgrid.exchange.repository import CatalogueQuery
from civicgrid.exchange.schemas import (
    BatchOut,
    CatalogueOut,
    DatasetIn,
    DatasetOut,
    DatasetSummary,
    DecisionIn,
    GrantOut,
    ReasonIn,
    RejectOut,
    RejectsOut,
    RequestIn,
    RequestOut,
    RowsOut,
    UploadOut,
    VerifyIn,
    VerifyOut,
)

router = ApiRouter(prefix="/api/v1/exchange", tags=["exchange"])
Uow = Annotated[UnitOfWork, Depends(get_uow)]
PAGE_SIZE = 50


def _staff_names(reader: Actor, text: str) -> str:
    """Staff's names (an account may be named by its mobile number) as core.masking shows
    staff identifiers to READER: in full to staff, masked to a unit's system."""
    return masking.identifiers_in(text, reader.role, Whose.STAFF)


def _request_out(reader: Actor, found: ShareRequest, now: datetime) -> RequestOut:
    out = RequestOut.of(found, now)
    out.asked_by = _staff_names(reader, out.asked_by)
    return out


def ports_of(request: Request) -> ExchangePorts:
    ports: ExchangePorts = platform_of(request).exchange
    return ports


# ------------------------------------------------------------------ reading rows
# First: the exchange's busiest route, tried first among its routes.


FIELDS = Query("", max_length=2000, description="fields, comma-separated (none: every granted one)")
FILTERS = Query(
    [],
    description="field:op:value (op eq, in, gte, lte, prefix; in takes a,b,c), on fields "
    "granted in full; repeat for more",
)


@router.get("/datasets/{dataset_id}/rows", response_model=RowsOut)
def read_rows(
    dataset_id: RecordId,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.read),
    fields: str = FIELDS,
    filter: list[str] = FILTERS,
    after: int | None = Query(None, ge=0, le=2**63 - 1, description="the last row id seen"),
    limit: int = Query(100, ge=1, le=services.MAX_PAGE),
) -> Response:
    """Rows through the caller's unit's grant in force: only its fields, only its rows,
    each masked as it says. 403 naming what is missing without one (dataset, field,
    expiry); every read, allowed or refused, is logged."""
    asked = services.RowRequest(_names(fields), filter[:20], after, limit)
    page = RowsOut.of(services.read(uow, actor, ports_of(request), dataset_id, asked))
    # Written as it is: the page is built from the service's own values, and validating
    # it on the way out would cost the exchange's busiest path a pass over its rows.
    return Response(page.model_dump_json(), media_type="application/json")


# ------------------------------------------------------------------ the catalogue


@router.get("/datasets", response_model=CatalogueOut)
def search_catalogue(
    uow: Uow,
    actor: Actor = allow(services.search_catalogue),
    q: str = Query("", max_length=100, description="words in a title, description or field"),
    owner: str = Query("", max_length=64, description="the owner unit's code"),
    share_class: ShareClass | None = None,
    source: SourceKind | None = None,
    grade: Grade | None = Query(None, description="datasets with a field of this grade"),
    personal: Personal | None = Query(None, description="datasets with a field of this mark"),
    page: PageNumber = 1,
) -> CatalogueOut:
    """The catalogue (数据资源目录): datasets by code, with their owner, share class,
    highest grade and most personal field."""
    query = CatalogueQuery(q.strip(), owner.strip(), share_class, source, grade, personal)
    found = services.search_catalogue(uow, actor, query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return CatalogueOut(total=found.total, datasets=[DatasetSummary.of(d) for d in found.datasets])


@router.post("/datasets", response_model=DatasetOut, status_code=201)
def register_dataset(
    body: DatasetIn, uow: Uow, actor: Actor = allow(services.register_dataset)
) -> DatasetOut:
    """Register a dataset: owner, titles, source, fields with grades (GB/T 43697-2024) and
    personal marks, share class (国发〔2016〕51号). 422 names what is wrong; 409 a code in use."""
    dataset = services.register_dataset(uow, actor, body.command())
    return DatasetOut.of_view(services.get_dataset(uow, actor, dataset.id or 0))


@router.get("/datasets/{dataset_id}", response_model=DatasetOut)
def get_dataset(
    dataset_id: RecordId, uow: Uow, actor: Actor = allow(services.get_dataset)
) -> DatasetOut:
    """A dataset's schema, grades, personal marks, share class, each field's quality and
    its freshness."""
    return DatasetOut.of_view(services.get_dataset(uow, actor, dataset_id))


@router.put("/datasets/{dataset_id}", response_model=DatasetOut)
def update_dataset(
    dataset_id: RecordId, body: DatasetIn, uow: Uow, actor: Actor = allow(services.update_dataset)
) -> DatasetOut:
    """Replace a dataset's definition (a field named by a live grant stays: 409)."""
    services.update_dataset(uow, actor, dataset_id, body.command(), body.reason)
    return DatasetOut.of_view(services.get_dataset(uow, actor, dataset_id))


@router.get("/datasets/{dataset_id}/history", response_model=list[HistoryOut])
def dataset_history(
    dataset_id: RecordId, uow: Uow, actor: Actor = allow(services.dataset_history)
) -> list[HistoryOut]:
    """Who registered the dataset, changed it and uploaded its files, and when."""
    return [HistoryOut.of(e) for e in services.dataset_history(uow, actor, dataset_id)]


@router.get("/datasets/{dataset_id}/sample")
def sample_rows(
    dataset_id: RecordId,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.sample_rows),
) -> list[dict[str, object]]:
    """A few rows, each field masked as it is without a grant that says otherwise."""
    return services.sample_rows(uow, actor, ports_of(request), dataset_id)


@router.post("/datasets/{dataset_id}/files", response_model=UploadOut, status_code=201)
def upload_rows(
    dataset_id: RecordId,
    request: Request,
    uow: Uow,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or xlsx")],
    actor: Actor = allow(services.upload_rows),
) -> UploadOut:
    """Upload the dataset's rows (its owner unit, or a data administrator). The file's
    columns must be the dataset's (422 naming the missing ones); bad rows are kept for
    correction with their row, field and reason; the good ones replace the dataset's."""
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx", ".xlsm"):
        raise InvalidInput("exchange_file_kind", field="file", name=name[:100])
    with tempfile.TemporaryDirectory(prefix="civicgrid-exchange-") as folder:
        path = Path(folder) / safe_file_name(name)
        with path.open("wb") as target:
            shutil.copyfileobj(file.file, target)
        report = services.upload_rows(uow, actor, ports_of(request), dataset_id, path, name)
    return UploadOut.of(report, request_locale(request))


@router.get("/datasets/{dataset_id}/batches/{batch_id}/rejects", response_model=RejectsOut)
def batch_rejects(
    dataset_id: RecordId,
    batch_id: RecordId,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.batch_rejects),
    page: PageNumber = 1,
) -> RejectsOut:
    """The rows of one upload kept for correction, as sent, with their reasons."""
    batch, found, total = services.batch_rejects(
        uow, actor, dataset_id, batch_id, 100, (page - 1) * 100
    )
    locale = request_locale(request)
    return RejectsOut(
        batch=BatchOut.of(batch), total=total, rejects=[RejectOut.of(r, locale) for r in found]
    )


@router.post("/datasets/{dataset_id}/quality", response_model=DatasetOut)
def measure_quality(
    dataset_id: RecordId,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.measure_quality),
) -> DatasetOut:
    """Measure the dataset's field quality now."""
    services.measure_quality(uow, actor, ports_of(request), dataset_id)
    return DatasetOut.of_view(services.get_dataset(uow, actor, dataset_id))


# ------------------------------------------------------------------ exporting


@router.get("/datasets/{dataset_id}/export")
def export_rows(
    dataset_id: RecordId,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.export),
    format: str = Query("csv", description="csv, xlsx or parquet"),
    fields: str = FIELDS,
    filter: list[str] = FILTERS,
) -> StreamingResponse:
    """Every row the caller's unit's grant allows, masked, as CSV, xlsx or Parquet,
    written while it is read; each chunk is logged with the records it held."""
    ports = ports_of(request)
    prepared = services.export(
        uow, actor, ports, dataset_id, format, services.RowRequest(_names(fields), filter[:20])
    )
    factory = platform_of(request).session_factory
    chunks = prepared.chunks(lambda: UnitOfWork(factory))
    body = WRITERS[prepared.format](prepared.fields, chunks)
    name = f"{prepared.dataset.code}.{prepared.format}"
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[prepared.format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()][:200]


# ------------------------------------------------------------------ requests and grants


@router.get("/requests", response_model=list[RequestOut])
def list_requests(
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.list_requests),
    side: str = Query("both", pattern="^(asked|owned|both)$"),
    state: RequestState | None = None,
) -> list[RequestOut]:
    """Requests the caller's unit made (asked), received (owned) or both, newest first,
    with their deadline lights."""
    now = ports_of(request).clock()
    found = services.list_requests(uow, actor, side, [state] if state else [])
    return [_request_out(actor, r, now) for r in found]


@router.post("/requests", response_model=RequestOut, status_code=201)
def ask(
    body: RequestIn, request: Request, uow: Uow, actor: Actor = allow(services.ask)
) -> RequestOut:
    """Ask the owner unit for fields of a dataset (each with its mask), a scope, a period
    and a purpose. 409 for 不予共享 datasets, an open request or an overlapping grant."""
    ports = ports_of(request)
    made = services.ask(uow, actor, ports, body.dataset_id, body.command(), body.purpose)
    return _request_out(actor, made, ports.clock())


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(
    request_id: RecordId, request: Request, uow: Uow, actor: Actor = allow(services.get_request)
) -> RequestOut:
    """One request, for either unit and the data administrators."""
    found = services.get_request(uow, actor, request_id)
    return _request_out(actor, found, ports_of(request).clock())


@router.get("/requests/{request_id}/history", response_model=list[HistoryOut])
def request_history(
    request_id: RecordId, uow: Uow, actor: Actor = allow(services.request_history)
) -> list[HistoryOut]:
    """Asked, approved, narrowed, refused, granted, expired, revoked: who, when, why."""
    history = [HistoryOut.of(e) for e in services.request_history(uow, actor, request_id)]
    for row in history:
        row.actor = _staff_names(actor, row.actor)
    return history


@router.post("/requests/{request_id}/decision", response_model=RequestOut)
def decide(
    request_id: RecordId,
    body: DecisionIn,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.decide),
) -> RequestOut:
    """Approve, narrow (with the narrowed terms and a reason) or refuse (with a reason);
    the owner unit first, then the data administrator where the fields need it."""
    ports = ports_of(request)
    narrowed = body.terms.command() if body.terms is not None else None
    decided = services.decide(
        uow, actor, ports, request_id, body.request_action, body.reason, narrowed
    )
    return _request_out(actor, decided, ports.clock())


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut)
def withdraw(
    request_id: RecordId,
    request: Request,
    uow: Uow,
    body: ReasonIn | None = None,
    actor: Actor = allow(services.withdraw),
) -> RequestOut:
    """The asking unit takes back a request still waiting for a decision."""
    ports = ports_of(request)
    done = services.withdraw(uow, actor, ports, request_id, body.reason if body else "")
    return _request_out(actor, done, ports.clock())


@router.get("/grants", response_model=list[GrantOut])
def list_grants(
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.list_grants),
    side: str = Query("both", pattern="^(received|given|both)$"),
    state: GrantState | None = None,
) -> list[GrantOut]:
    """Grants the caller's unit holds (received), gave (given) or both, newest first."""
    now = ports_of(request).clock()
    found = services.list_grants(uow, actor, side, [state] if state else [])
    return [GrantOut.of(g, now) for g in found]


@router.get("/grants/{grant_id}", response_model=GrantOut)
def get_grant(
    grant_id: RecordId, request: Request, uow: Uow, actor: Actor = allow(services.get_grant)
) -> GrantOut:
    """One grant, for either unit and the data administrators."""
    return GrantOut.of(services.get_grant(uow, actor, grant_id), ports_of(request).clock())


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
def revoke(
    grant_id: RecordId,
    body: ReasonIn,
    request: Request,
    uow: Uow,
    actor: Actor = allow(services.revoke),
) -> GrantOut:
    """End a grant now, with a reason (its owner unit, or a data administrator)."""
    ports = ports_of(request)
    return GrantOut.of(services.revoke(uow, actor, ports, grant_id, body.reason), ports.clock())


@router.post("/verify", response_model=VerifyOut)
def verify(
    body: VerifyIn, request: Request, uow: Uow, actor: Actor = allow(services.verify)
) -> VerifyOut:
    """Ask a granted yes/no question (免证明): lives_at (identity_number, address),
    registered_in (identity_number, area), age_at_least (identity_number, age),
    organisation_active (credit_code). The answer is yes, no or unknown, never the data;
    each question is logged and limited per unit (429)."""
    verdict = services.verify(uow, actor, ports_of(request), body.question.value, body.inputs())
    return VerifyOut.of(verdict)
