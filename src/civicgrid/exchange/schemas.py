"""What the exchange API takes and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from civicgrid.core.types import Day
from civicgrid.core.workflow import Light
from civicgrid.exchange.domain import (
    SHARE_REQUEST,
    Answer,
    Dataset,
    Frequency,
    Grade,
    Grant,
    GrantState,
    Question,
    RequestAction,
    RequestState,
    ShareClass,
    ShareRequest,
    SourceKind,
)
from civicgrid.exchange.masking import FieldType, Personal
from civicgrid.exchange.repository import Batch, FieldQuality, Reject
from civicgrid.exchange.services import (
    DatasetView,
    FieldIn,
    NewDataset,
    RowPage,
    TermsIn,
    UploadReport,
    Verdict,
)

Text = Field(default="", max_length=4000)


class FieldSchema(BaseModel):
    name: str = Field(max_length=64, description="a plain identifier: letters, digits, _")
    column: str = Field(
        default="",
        max_length=200,
        description="the source's column (a file's header; the view's column); the name if empty",
    )
    type: FieldType
    meaning_zh: str = Field(default="", max_length=500)
    meaning_en: str = Field(default="", max_length=500)
    grade: Grade = Field(
        default=Grade.GENERAL, description="GB/T 43697-2024: general, important, core"
    )
    personal: Personal = Field(
        default=Personal.NONE, description="none, personal (个人信息), sensitive (敏感个人信息)"
    )


class DatasetIn(BaseModel):
    code: str = Field(max_length=64)
    owner_unit: str = Field(max_length=64)
    title_zh: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    description_zh: str = Text
    description_en: str = Text
    source_kind: SourceKind
    source_name: str = Field(
        default="",
        max_length=32,
        description="registry kind (people, houses, organisations, addresses) or question",
    )
    share_class: ShareClass = Field(description="unconditional, conditional or not_shared")
    frequency: Frequency = Frequency.MONTHLY
    key_field: str = Field(default="", max_length=64)
    grid_field: str = Field(default="", max_length=64)
    fields: list[FieldSchema] = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=1000, description="why it changed (updates)")

    def command(self) -> NewDataset:
        return NewDataset(
            code=self.code,
            owner_unit=self.owner_unit,
            title_zh=self.title_zh,
            title_en=self.title_en,
            description_zh=self.description_zh,
            description_en=self.description_en,
            source_kind=self.source_kind,
            source_name=self.source_name,
            share_class=self.share_class,
            frequency=self.frequency,
            key_field=self.key_field,
            grid_field=self.grid_field,
            fields=[
                FieldIn(
                    f.name,
                    f.column or f.name,
                    f.type,
                    f.meaning_zh,
                    f.meaning_en,
                    f.grade,
                    f.personal,
                )
                for f in self.fields
            ],
        )


class QualityOut(BaseModel):
    rows: int
    completeness: float | None = Field(description="share of rows with a value")
    validity: float | None = Field(description="share of values the registry's checks pass")
    duplicates: int | None = Field(description="rows repeating a key (the key field only)")
    computed_at: datetime

    @classmethod
    def of(cls, quality: FieldQuality) -> QualityOut:
        return cls(
            rows=quality.rows,
            completeness=quality.completeness,
            validity=quality.validity,
            duplicates=quality.duplicates,
            computed_at=quality.computed_at,
        )


class FieldOut(FieldSchema):
    default_mask: str
    quality: QualityOut | None = None


class DatasetSummary(BaseModel):
    id: int
    code: str
    owner_unit: str
    title_zh: str
    title_en: str
    source_kind: SourceKind
    source_name: str
    share_class: ShareClass
    frequency: Frequency
    highest_grade: Grade
    most_personal: Personal
    working_days: int = Field(description="the owner's time to answer a request")
    rows: int

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetSummary:
        return cls(
            id=dataset.id or 0,
            code=dataset.code,
            owner_unit=dataset.owner_unit,
            title_zh=dataset.title_zh,
            title_en=dataset.title_en,
            source_kind=dataset.source_kind,
            source_name=dataset.source_name,
            share_class=dataset.share_class,
            frequency=dataset.frequency,
            highest_grade=dataset.highest_grade,
            most_personal=dataset.most_personal,
            working_days=dataset.working_days,
            rows=dataset.rows,
        )


class BatchOut(BaseModel):
    id: int
    file_name: str
    actor: str
    encoding: str
    total: int
    imported: int
    rejected: int
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        return cls(
            id=batch.id,
            file_name=batch.file_name,
            actor=batch.actor,
            encoding=batch.encoding,
            total=batch.total,
            imported=batch.imported,
            rejected=batch.rejected,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
        )


class DatasetOut(DatasetSummary):
    description_zh: str
    description_en: str
    key_field: str
    grid_field: str
    data_updated_at: datetime | None
    quality_at: datetime | None
    fresh: bool | None = Field(description="its data as new as its frequency promises")
    fields: list[FieldOut]
    batches: list[BatchOut]

    @classmethod
    def of_view(cls, view: DatasetView) -> DatasetOut:
        dataset = view.dataset
        summary = DatasetSummary.of(dataset).model_dump()
        return cls(
            **summary,
            description_zh=dataset.description_zh,
            description_en=dataset.description_en,
            key_field=dataset.key_field,
            grid_field=dataset.grid_field,
            data_updated_at=dataset.data_updated_at,
            quality_at=dataset.quality_at,
            fresh=view.fresh,
            fields=[
                FieldOut(
                    name=f.name,
                    column=f.column,
                    type=f.type,
                    meaning_zh=f.meaning_zh,
                    meaning_en=f.meaning_en,
                    grade=f.grade,
                    personal=f.personal,
                    default_mask=str(f.default_mask),
                    quality=(
                        QualityOut.of(view.quality[f.name]) if f.name in view.quality else None
                    ),
                )
                for f in dataset.fields
            ],
            batches=[BatchOut.of(b) for b in view.batches],
        )


class CatalogueOut(BaseModel):
    total: int
    datasets: list[DatasetSummary]


class RejectOut(BaseModel):
    row: int
    field: str
    reason: str
    message: str
    raw: dict[str, str]

    @classmethod
    def of(cls, reject: Reject, locale: str) -> RejectOut:
        return cls(
            row=reject.row,
            field=reject.field,
            reason=reject.reason,
            message=reject.message_en if locale == "en" else reject.message_zh,
            raw=reject.raw,
        )


class UploadOut(BaseModel):
    batch: BatchOut
    encoding: str
    ignored_columns: list[str]
    rejects: list[RejectOut] = Field(description="the first 100; the rest by the batch's rejects")

    @classmethod
    def of(cls, report: UploadReport, locale: str) -> UploadOut:
        return cls(
            batch=BatchOut.of(report.batch),
            encoding=report.encoding,
            ignored_columns=report.ignored_columns,
            rejects=[RejectOut.of(r, locale) for r in report.rejects[:100]],
        )


class RejectsOut(BaseModel):
    batch: BatchOut
    total: int
    rejects: list[RejectOut]


# ------------------------------------------------------------------ requests and grants


class FieldAsk(BaseModel):
    field: str = Field(max_length=64)
    mask: str | None = Field(
        default=None,
        max_length=20,
        description="full, last:N, phone, name, hash, year, month, age_band, community; "
        "none: the field's default (personal information masked, sensitive hashed)",
    )


class FilterIn(BaseModel):
    field: str = Field(max_length=64)
    values: list[str] = Field(min_length=1, max_length=50)


class TermsSchema(BaseModel):
    fields: list[FieldAsk] = Field(min_length=1, max_length=200)
    area: str = Field(default="", max_length=32, description="an area's code: its rows only")
    filter: FilterIn | None = Field(
        default=None, description="rows whose field holds one of the values"
    )
    starts_on: Day
    ends_on: Day

    def command(self) -> TermsIn:
        return TermsIn(
            fields=[(f.field, f.mask) for f in self.fields],
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            area_code=self.area,
            filter_field=self.filter.field if self.filter else "",
            filter_values=self.filter.values if self.filter else (),
        )


class RequestIn(TermsSchema):
    dataset_id: int = Field(ge=1, le=2**31 - 1)
    purpose: str = Field(max_length=1000)


class DecisionIn(BaseModel):
    action: Literal["approve", "narrow", "refuse"]
    reason: str = Field(default="", max_length=1000)
    terms: TermsSchema | None = Field(default=None, description="the narrowed terms (narrow)")

    @property
    def request_action(self) -> RequestAction:
        return RequestAction(self.action)


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=1000)


class ScopeOut(BaseModel):
    area: str | None
    filter: FilterIn | None


def _terms_out(record: ShareRequest | Grant) -> dict[str, Any]:
    return {
        "fields": dict(record.fields),
        "scope": ScopeOut(
            area=record.area_code or None,
            filter=(
                FilterIn(field=record.filter_field, values=list(record.filter_values))
                if record.filter_field
                else None
            ),
        ),
        "starts_on": record.starts_on,
        "ends_on": record.ends_on,
        "purpose": record.purpose,
    }


class RequestOut(BaseModel):
    id: int
    dataset_id: int
    requester_unit: str
    owner_unit: str
    asked_by: str
    purpose: str
    fields: dict[str, str] = Field(description="field → how it is shown")
    scope: ScopeOut
    starts_on: date
    ends_on: date
    state: RequestState
    needs_admin: bool = Field(description="the data administrator approves too")
    reason: str
    grant_id: int | None
    created_at: datetime
    deadline_at: datetime | None
    warn_at: datetime | None
    overdue: bool
    light: Light

    @classmethod
    def of(cls, request: ShareRequest, now: datetime) -> RequestOut:
        return cls(
            id=request.id or 0,
            dataset_id=request.dataset_id,
            requester_unit=request.requester_unit,
            owner_unit=request.owner_unit,
            asked_by=request.asked_by,
            state=request.state,
            needs_admin=request.needs_admin,
            reason=request.reason,
            grant_id=request.grant_id,
            created_at=request.created_at or now,
            deadline_at=request.deadline_at,
            warn_at=request.warn_at,
            overdue=request.overdue,
            light=SHARE_REQUEST.light(request, now),
            **_terms_out(request),
        )


class GrantOut(BaseModel):
    id: int
    request_id: int
    dataset_id: int
    consumer_unit: str
    owner_unit: str
    purpose: str
    fields: dict[str, str]
    scope: ScopeOut
    starts_on: date
    ends_on: date
    starts_at: datetime
    expires_at: datetime
    state: GrantState
    live: bool
    ended_at: datetime | None
    end_reason: str

    @classmethod
    def of(cls, grant: Grant, now: datetime) -> GrantOut:
        return cls(
            id=grant.id or 0,
            request_id=grant.request_id,
            dataset_id=grant.dataset_id,
            consumer_unit=grant.consumer_unit,
            owner_unit=grant.owner_unit,
            starts_at=grant.starts_at,
            expires_at=grant.expires_at,
            state=grant.state,
            live=grant.live(now),
            ended_at=grant.ended_at,
            end_reason=grant.end_reason,
            **_terms_out(grant),
        )


# ------------------------------------------------------------------ reading


class MaskedField(BaseModel):
    name: str
    mask: str


class RowsOut(BaseModel):
    dataset_id: int
    grant_id: int
    fields: list[MaskedField]
    rows: list[dict[str, Any]]
    next_after: int | None = Field(description="pass as ?after= for the next page; null at the end")

    @classmethod
    def of(cls, page: RowPage) -> RowsOut:
        # Constructed without validation: every value comes from the service, typed, and
        # checking a page's hundred rows again cost a read more than writing them out.
        return cls.model_construct(
            dataset_id=page.dataset.id or 0,
            grant_id=page.grant.id or 0,
            fields=[
                MaskedField.model_construct(name=n, mask=str(m)) for n, m in page.masks.items()
            ],
            rows=page.rows,
            next_after=page.next_after,
        )


class VerifyIn(BaseModel):
    question: Question
    identity_number: str = Field(default="", max_length=32, description="never stored: only hashed")
    address: str = Field(default="", max_length=300)
    area: str = Field(default="", max_length=32, description="an area's code")
    age: str = Field(default="", max_length=3)
    credit_code: str = Field(default="", max_length=32)

    def inputs(self) -> dict[str, str]:
        return {
            "identity_number": self.identity_number,
            "address": self.address,
            "area": self.area,
            "age": self.age,
            "credit_code": self.credit_code,
        }


class VerifyOut(BaseModel):
    question: Question
    answer: Answer = Field(description="yes, no or unknown — never the data")
    dataset_id: int
    grant_id: int
    asked_at: datetime

    @classmethod
    def of(cls, verdict: Verdict) -> VerifyOut:
        return cls(
            question=verdict.question,
            answer=verdict.answer,
            dataset_id=verdict.dataset.id or 0,
            grant_id=verdict.grant.id or 0,
            asked_at=verdict.asked_at,
        )
