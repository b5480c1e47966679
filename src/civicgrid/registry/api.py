"""/api/v1/registry: addresses, houses, people and organisations of the caller's area, the
import batches and the rows they rejected, and the linked entities with reviewers' decisions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of, request_locale
from civicgrid.core.permissions import Actor
from civicgrid.core.types import PageNumber, RecordId
from civicgrid.registry import entities, mapping, services
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.schemas import (
    BatchOut,
    EntityOut,
    ImportOut,
    LinkDecisionIn,
    NearestAddressOut,
    RecordDetailOut,
    RecordPage,
    RecordPatch,
    RejectOut,
    RejectPage,
)

router = ApiRouter(prefix="/api/v1/registry", tags=["registry"])


@router.get("/batches", response_model=list[BatchOut])
def list_batches(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_batches),
    limit: int = Query(100, ge=1, le=1000),
) -> list[BatchOut]:
    """The latest import batches, newest first: source, file, encoding and the counts of
    new, updated, unchanged, rejected and for-review rows."""
    return [BatchOut.of(b) for b in services.list_batches(uow, actor, limit)]


@router.get("/batches/{batch_id}/rejects", response_model=RejectPage)
def list_rejects(
    batch_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_rejects),
    page: PageNumber = 1,
    page_size: int = Query(100, ge=1, le=1000),
) -> RejectPage:
    """Every problem of one batch: row number, field, reason (key, Chinese, English),
    whether the record was stored anyway (for review), and the row as read."""
    batch, items, total = services.list_rejects(
        uow, actor, batch_id, limit=page_size, offset=(page - 1) * page_size
    )
    return RejectPage(
        batch=BatchOut.of(batch),
        items=[RejectOut.of(r) for r in items],
        total=total,
        page=page,
        page_size=page_size,
    )


@router.post("/imports", response_model=ImportOut, status_code=202)
def upload_import(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    kind: Annotated[str, Form(description="addresses, houses, people or organisations")],
    file: Annotated[UploadFile, File(description="a department's CSV (UTF-8 or GBK) or xlsx")],
    source: Annotated[
        str, Form(description="the department the file comes from (default: the kind's)")
    ] = "",
    actor: Actor = allow(services.queue_import),
) -> ImportOut:
    """Upload a department's file: checked at once that it can be read and has the columns
    the kind needs (422 naming the missing one and the columns found), then queued for the
    import job (202). Follow it with `GET /imports/{id}`: its state, progress, counts and
    rejected rows. Rows are added or update the records they are (by source and key), so a
    corrected file of rejected rows, uploaded under the same source, adds to what was
    imported and loses nothing."""
    imports = platform_of(request).registry_imports
    name = Path(file.filename or "upload.csv").name
    path = imports.files.upload_path(Path(name).suffix.lower()[:8])
    try:
        with path.open("wb") as target:
            shutil.copyfileobj(file.file, target)
        batch = services.queue_import(
            uow, actor, RecordKind.parse(kind), path, name, imports.files, source=source
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    imports.start()
    return ImportOut.of(batch, [], 0, 1, 0, request_locale(request))


@router.get("/imports/{batch_id}", response_model=ImportOut)
def import_status(
    batch_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.import_status),
    page: PageNumber = 1,
    page_size: int = Query(100, ge=0, le=1000),
) -> ImportOut:
    """One import batch: queued, running (progress: the share of the file read), done or
    failed (with why, in the reader's language); its counts; and a page of the rows with
    problems (row, field, reason in Chinese and English, whether it was imported anyway for
    review, the row as sent)."""
    view = services.import_status(
        uow, actor, batch_id, limit=page_size, offset=(page - 1) * page_size
    )
    return ImportOut.of(
        view.batch, view.rejects, view.total_rejects, page, page_size, request_locale(request)
    )


@router.get("/imports/{batch_id}/rejected.xlsx", response_class=Response)
def rejected_xlsx(
    batch_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.rejected_workbook),
) -> Response:
    """The batch's rows with problems as an Excel file to correct and upload again: the
    columns as sent (the wrong cells marked), then each row's number, problems and outcome
    in the reader's language."""
    batch, content = services.rejected_workbook(uow, actor, batch_id, request_locale(request))
    stem = Path(batch.file_name).stem or "rows"
    name = f"{stem}.rejected.xlsx"
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="rejected-{batch_id}.xlsx"; '
            f"filename*=UTF-8''{quote(name)}"
        },
    )


@router.get("/entities/{entity_id}", response_model=EntityOut)
def get_entity(
    entity_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(entities.get_entity),
) -> EntityOut:
    """One linked entity: the caller's visible records of it side by side, the value the
    registry believes per field with its source, the fields the records disagree on, and
    the reviewers' decisions about them."""
    return EntityOut.of(entities.get_entity(uow, actor, entity_id))


@router.post("/entities/{entity_id}/decisions", response_model=EntityOut)
def decide(
    entity_id: RecordId,
    body: LinkDecisionIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(entities.decide_link),
) -> EntityOut:
    """Confirm a record as this entity or split it off, with the reason; kept with who and
    when and applied by every later linkage run. A split record gets an entity of its own
    at once. 422 names the field when the record is not of this entity or the reason is
    missing."""
    view = entities.decide_link(
        uow,
        actor,
        entity_id,
        body.decision,
        body.record_id,
        body.reason,
        other_record_id=body.other_record_id,
    )
    return EntityOut.of(view)


@router.get("/map")
def map_features(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(mapping.map_features),
    bbox: str = Query(..., description="the map's bounds: west,south,east,north (WGS-84)"),
) -> dict[str, Any]:
    """Building footprints, named roads and door addresses (never a unit or a room) inside
    the bounds, as a GeoJSON FeatureCollection for the base map: the caller's area for
    staff, the city for the public. Empty, with `too_large`, for bounds wider than about
    15 km; `truncated` when more were there than one answer holds."""
    view = mapping.map_features(uow, actor, mapping.Bounds.parse(bbox))
    return {
        "type": "FeatureCollection",
        "too_large": view.too_large,
        "truncated": view.truncated,
        "features": [
            {
                "type": "Feature",
                "geometry": f.geometry,
                "properties": {
                    "kind": f.kind,
                    "name": f.name,
                    "address": f.address,
                    "grid_code": f.grid_code,
                },
            }
            for f in view.features
        ],
    }


@router.get("/map/nearest", response_model=NearestAddressOut)
def nearest_address(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(mapping.nearest_address),
    lat: float = Query(..., description="latitude, WGS-84"),
    lon: float = Query(..., description="longitude, WGS-84"),
) -> NearestAddressOut:
    """The standard address (door or building) at or nearest the point, within 250 m:
    what the report form names under the resident's pin. `address` is null when there is
    none so near."""
    found = mapping.nearest_address(uow, actor, lat, lon)
    return NearestAddressOut.of(found)


@router.get("/{kind}", response_model=RecordPage)
def search(
    kind: RecordKind,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.search_records),
    q: str | None = Query(
        None,
        description="a whole identity number, or any part of a name, an address or a credit "
        "code (one character: of a name); any part of a phone for the grid's own staff",
    ),
    grid: str | None = Query(None, description="only this grid"),
    residence: str | None = Query(
        None, description="people only: registered, floating or foreign residents"
    ),
    page: PageNumber = 1,
    page_size: int = Query(50, ge=1, le=500),
) -> RecordPage:
    """Records of one kind in the caller's area. An identity number is hashed before the
    search; it is never stored or returned (people show its masked form)."""
    found = services.search_records(
        uow,
        actor,
        kind,
        secret_key=platform_of(request).settings.secret_key,
        q=q,
        grid=grid,
        residence=residence,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return RecordPage(
        items=found.items,
        total=found.total,
        page=page,
        page_size=page_size,
        grid_names=found.grid_names,
    )


@router.get("/{kind}/{record_id}", response_model=RecordDetailOut)
def get_record(
    kind: RecordKind,
    record_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.get_record),
) -> RecordDetailOut:
    """One record of the caller's area with its change history (newest first) and the
    fields the caller may change."""
    detail = services.get_record(uow, actor, kind, record_id)
    return RecordDetailOut.of(detail)


@router.patch("/{kind}/{record_id}", response_model=RecordDetailOut)
def patch_record(
    kind: RecordKind,
    record_id: RecordId,
    body: RecordPatch,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.edit_record),
) -> RecordDetailOut:
    """Correct fields of a record of the caller's own grid (grid workers), with the reason;
    each changed field is logged. 422 names every wrong field."""
    detail = services.edit_record(
        uow,
        actor,
        kind,
        record_id,
        body.changes,
        body.reason,
        platform_of(request).locator_cache,
    )
    return RecordDetailOut.of(detail)
