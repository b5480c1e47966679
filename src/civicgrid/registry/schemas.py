"""API shapes for the registry. Records are returned as the services present them (fields
the caller may not see are left out or masked), so their shape is a mapping per kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from civicgrid.core.i18n import Locale, translate
from civicgrid.core.types import RecordId
from civicgrid.registry.domain import Change, ImportBatch, RejectedRow
from civicgrid.registry.entities import DecisionView, EntityView
from civicgrid.registry.mapping import NearestAddress
from civicgrid.registry.services import RecordDetail


class RecordPage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    grid_names: dict[str, str] = Field(
        default_factory=dict, description="grid code → name, of the grids the items lie in"
    )


class ChangeOut(BaseModel):
    field: str
    old: str
    new: str
    actor: str
    reason: str
    at: datetime
    batch_id: int | None

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        return cls(
            field=change.field,
            old=change.old,
            new=change.new,
            actor=change.actor,
            reason=change.reason,
            at=change.at,
            batch_id=change.batch_id,
        )


class RecordDetailOut(BaseModel):
    record: dict[str, Any]
    changes: list[ChangeOut]
    editable: list[str] = Field(description="fields the caller may change (PATCH)")

    @classmethod
    def of(cls, detail: RecordDetail) -> RecordDetailOut:
        return cls(
            record=detail.record,
            changes=[ChangeOut.of(c) for c in detail.changes],
            editable=list(detail.editable),
        )


class RecordPatch(BaseModel):
    reason: str = Field(description="why the record is changed (required, kept in the log)")
    changes: dict[str, str] = Field(
        description="field → new value as text, checked as an import checks it"
    )


class BatchOut(BaseModel):
    id: int
    kind: str
    source: str
    file_name: str
    actor: str
    encoding: str
    total: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    review: int
    started_at: datetime
    finished_at: datetime | None
    state: str = Field(description="queued, running, done or failed")

    @classmethod
    def of(cls, batch: ImportBatch) -> BatchOut:
        assert batch.id is not None
        return cls(
            id=batch.id,
            kind=batch.kind.value if hasattr(batch.kind, "value") else str(batch.kind),
            source=batch.source,
            file_name=batch.file_name,
            actor=batch.actor,
            encoding=batch.encoding,
            total=batch.total,
            created=batch.created,
            updated=batch.updated,
            unchanged=batch.unchanged,
            rejected=batch.rejected,
            review=batch.review,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            state=batch.state.value,
        )


class RejectOut(BaseModel):
    row: int
    field: str
    reason: str
    message_zh: str
    message_en: str
    kept: bool = Field(description="true: stored anyway, for review; false: not stored")
    raw: dict[str, str]

    @classmethod
    def of(cls, reject: RejectedRow) -> RejectOut:
        return cls(
            row=reject.row,
            field=reject.field,
            reason=reject.reason,
            message_zh=reject.message_zh,
            message_en=reject.message_en,
            kept=reject.kept,
            raw=reject.raw,
        )


class RejectPage(BaseModel):
    batch: BatchOut
    items: list[RejectOut]
    total: int
    page: int
    page_size: int


class ImportOut(BaseModel):
    """An import batch as the job reads it, with a page of its rejected rows."""

    id: int
    kind: str
    source: str
    file_name: str
    actor: str = Field(description="who uploaded the file (or ran the command)")
    state: str = Field(description="queued, running, done or failed")
    progress: float = Field(description="the share of the file read so far, 0–1")
    estimated_rows: int = Field(description="the rows the file holds, as counted when uploaded")
    total: int = Field(description="rows read and written so far")
    created: int
    updated: int
    unchanged: int
    rejected: int = Field(description="rows not imported, each with its problems")
    review: int = Field(description="rows imported but listed for review")
    error: str | None = Field(description="why a failed batch failed, in the reader's language")
    error_code: str | None = Field(description="the message key of that reason")
    started_at: datetime
    finished_at: datetime | None
    rejects: list[RejectOut] = Field(description="a page of the rows with problems, in file order")
    rejects_total: int
    page: int
    page_size: int
    rejected_xlsx: str = Field(description="where to download the rows to correct, as xlsx")

    @classmethod
    def of(
        cls,
        batch: ImportBatch,
        rejects: list[RejectedRow],
        total: int,
        page: int,
        page_size: int,
        locale: Locale,
    ) -> ImportOut:
        assert batch.id is not None
        error = translate(batch.error, locale, batch.error_params or {}) if batch.error else None
        return cls(
            id=batch.id,
            kind=batch.kind.value,
            source=batch.source,
            file_name=batch.file_name,
            actor=batch.actor,
            state=batch.state.value,
            progress=round(batch.progress, 4),
            estimated_rows=batch.estimated_rows,
            total=batch.total,
            created=batch.created,
            updated=batch.updated,
            unchanged=batch.unchanged,
            rejected=batch.rejected,
            review=batch.review,
            error=error,
            error_code=batch.error or None,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            rejects=[RejectOut.of(r) for r in rejects],
            rejects_total=total,
            page=page,
            page_size=page_size,
            rejected_xlsx=f"/api/v1/registry/imports/{batch.id}/rejected.xlsx",
        )


class BeliefOut(BaseModel):
    value: str | None = Field(description="the value the registry believes")
    source: str | None = Field(description="the source of the record it comes from")
    record_id: int | None = Field(description="the record it comes from")
    reason: str = Field(
        description="source priority, all agree, most frequent, most recent or no value"
    )


class LinkDecisionOut(BaseModel):
    decision: str = Field(description="confirm or split")
    record_a: str
    record_b: str
    actor: str
    reason: str
    at: datetime

    @classmethod
    def of(cls, view: DecisionView) -> LinkDecisionOut:
        return cls(
            decision=view.decision,
            record_a=view.record_a,
            record_b=view.record_b,
            actor=view.actor,
            reason=view.reason,
            at=view.at,
        )


class EntityOut(BaseModel):
    id: int
    kind: str
    records: list[dict[str, Any]] = Field(
        description="the records of the entity the caller may see, as the record API shows them"
    )
    hidden_records: int = Field(description="records of the entity outside the caller's area")
    columns: list[str] = Field(description="the fields the records are lined up on")
    believed: dict[str, BeliefOut] = Field(description="field → the value the registry believes")
    disagree: list[str] = Field(description="the fields the records disagree on")
    decisions: list[LinkDecisionOut] = Field(description="reviewers' decisions, newest first")
    run_id: int
    linked_at: datetime

    @classmethod
    def of(cls, view: EntityView) -> EntityOut:
        return cls(
            id=view.id,
            kind=view.kind.value,
            records=view.records,
            hidden_records=view.hidden_records,
            columns=view.columns,
            believed={k: BeliefOut(**v) for k, v in view.believed.items()},
            disagree=view.disagree,
            decisions=[LinkDecisionOut.of(d) for d in view.decisions],
            run_id=view.run_id,
            linked_at=view.linked_at,
        )


class LinkDecisionIn(BaseModel):
    decision: str = Field(description="confirm (the record is this entity) or split (it is not)")
    record_id: RecordId = Field(description="a record of the entity")
    other_record_id: RecordId | None = Field(
        None,
        description="decide about this pair only; without it the record is confirmed with, "
        "or split from, every other record of the entity",
    )
    reason: str = Field(description="why (required, kept with the decision)")


class NearestAddressOut(BaseModel):
    address: str | None = Field(description="the door or building's standard address")
    building: str | None = Field(description="the building (estate and number), if any")
    distance_m: float | None = Field(description="metres from the point; 0 inside the building")
    grid_code: str | None = None

    @classmethod
    def of(cls, found: NearestAddress | None) -> NearestAddressOut:
        if found is None:
            return cls(address=None, building=None, distance_m=None)
        return cls(
            address=found.address,
            building=found.building or None,
            distance_m=found.distance_m,
            grid_code=found.grid_code,
        )
