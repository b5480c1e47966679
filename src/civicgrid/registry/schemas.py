"""API shapes for the registry. Records are returned as the services present them (fields
the caller may not see are left out or masked), so their shape is a mapping per kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from civicgrid.registry.domain import Change, ImportBatch, RejectedRow


class RecordPage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


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
