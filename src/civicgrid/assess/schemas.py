"""What the assessment API takes and gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from civicgrid.assess.domain import Alert, Appeal, AssessmentMonth, ObjectScore
from civicgrid.assess.services import CaseLine, Ranking, Rulebook

Text = Field(default="", max_length=2000)


class ConditionIn(BaseModel):
    field: str = Field(max_length=40, description="a fact column, e.g. closed, reworks, channel")
    op: str = Field(max_length=10, description="=, !=, >, >=, <, <=, in, is_null, not_null")
    value: str | int | float | bool | list[str | int] | None = None


class IndicatorIn(BaseModel):
    """An indicator's definition: the denominator's conditions (all must hold), the
    numerator's (on top of the denominator's), exclusions (any one takes a case out), the
    objects it assesses, the period and how an empty denominator scores."""

    name_zh: str = Field(max_length=60)
    name_en: str = Field(max_length=60)
    objects: list[str] = Field(max_length=7)
    period: str = Field(max_length=20, description="reported, closed or open_at_end")
    denominator: list[ConditionIn] = Field(default_factory=list, max_length=20)
    numerator: list[ConditionIn] = Field(default_factory=list, max_length=20)
    exclusions: list[ConditionIn] = Field(default_factory=list, max_length=20)
    on_zero: str | None = Field(default=None, max_length=10, description="full, zero or skip")
    higher_is_better: bool = True
    keys: dict[str, str] = Field(default_factory=dict, max_length=7)
    description_zh: str = Text
    description_en: str = Text


class RuleIn(BaseModel):
    kind: str = Field(default="linear", max_length=20)
    line: float = 100.0
    per_point: float = 1.0


class ItemIn(BaseModel):
    indicator: str = Field(max_length=40)
    weight: float
    rule: RuleIn = Field(default_factory=RuleIn)


class GradeIn(BaseModel):
    grade: str = Field(max_length=8)
    min_score: float


class SchemeIn(BaseModel):
    name_zh: str = Field(max_length=60)
    name_en: str = Field(max_length=60)
    object: str = Field(max_length=20)
    items: list[ItemIn] = Field(max_length=30)
    grades: list[GradeIn] = Field(default_factory=list, max_length=10)


class IndicatorChange(BaseModel):
    definition: IndicatorIn
    reason: str = Field(max_length=500)


class SchemeChange(BaseModel):
    definition: SchemeIn
    reason: str = Field(max_length=500)


class VersionOut(BaseModel):
    version: int


class RulebookOut(BaseModel):
    version: int
    indicators: list[dict[str, Any]]
    schemes: list[dict[str, Any]]

    @classmethod
    def of(cls, book: Rulebook) -> RulebookOut:
        return cls(
            version=book.version,
            indicators=[i.as_dict() for i in book.indicators.values()],
            schemes=[s.as_dict() for s in book.schemes.values()],
        )


class FigureOut(BaseModel):
    numerator: int
    denominator: int
    rate: float | None
    points: float | None


class RankOut(BaseModel):
    object_code: str
    name: str
    rank: int
    score: float
    grade: str
    trend: str
    previous_rank: int | None
    figures: dict[str, FigureOut]

    @classmethod
    def of(cls, ranking: Ranking, row: ObjectScore) -> RankOut:
        return cls(
            object_code=row.object_code,
            name=ranking.name_of(row.object_code),
            rank=row.rank,
            score=row.score,
            grade=row.grade,
            trend=row.trend,
            previous_rank=row.previous_rank,
            figures={
                code: FigureOut(
                    numerator=f.numerator, denominator=f.denominator, rate=f.rate, points=f.points
                )
                for code, f in row.figures.items()
            },
        )


class RankingOut(BaseModel):
    month: str
    scheme: str
    object_type: str
    version: int
    revision: int
    state: str
    engine: str
    rows: list[RankOut]

    @classmethod
    def of(cls, ranking: Ranking) -> RankingOut:
        return cls(
            month=ranking.month,
            scheme=ranking.scheme.code,
            object_type=ranking.scheme.object_type.value,
            version=ranking.version,
            revision=ranking.revision,
            state=ranking.state.value,
            engine=ranking.engine,
            rows=[RankOut.of(ranking, r) for r in ranking.rows],
        )


class CaseLineOut(BaseModel):
    id: int
    title: str
    status: str
    category_code: str
    grid_code: str
    created_at: datetime

    @classmethod
    def of(cls, line: CaseLine) -> CaseLineOut:
        return cls(**line.__dict__)


class MonthOut(BaseModel):
    month: str
    state: str
    version: int | None
    revision: int
    frozen_at: datetime | None
    appeal_until: datetime | None

    @classmethod
    def of(cls, month: AssessmentMonth) -> MonthOut:
        return cls(
            month=month.month,
            state=month.state.value,
            version=month.version,
            revision=month.revision,
            frozen_at=month.frozen_at,
            appeal_until=month.appeal_until,
        )


class AppealIn(BaseModel):
    month: str = Field(max_length=7, description="YYYY-MM, a frozen month")
    case_id: int = Field(ge=1, le=2_147_483_647)
    reason: str = Field(max_length=2000)
    indicator: str | None = Field(default=None, max_length=40, description="none: every one")
    object: str | None = Field(default=None, max_length=20, description="administrators only")


class DecisionIn(BaseModel):
    accept: bool
    note: str = Field(max_length=2000)


class AppealOut(BaseModel):
    id: int
    month: str
    case_id: int
    object_type: str
    object_code: str
    indicator: str | None
    reason: str
    state: str
    filed_by: str
    filed_at: datetime
    deadline_at: datetime | None
    decided_by: str | None
    decision_note: str

    @classmethod
    def of(cls, appeal: Appeal) -> AppealOut:
        return cls(
            id=appeal.id or 0,
            month=appeal.month,
            case_id=appeal.case_id,
            object_type=appeal.object_type.value,
            object_code=appeal.object_code,
            indicator=appeal.indicator,
            reason=appeal.reason,
            state=appeal.state.value,
            filed_by=appeal.filed_by,
            filed_at=appeal.filed_at,
            deadline_at=appeal.deadline_at,
            decided_by=appeal.decided_by,
            decision_note=appeal.decision_note,
        )


class DecisionOut(BaseModel):
    appeal: AppealOut
    revision: int | None
    changes: list[dict[str, Any]]


class AlertIn(BaseModel):
    name: str = Field(max_length=120)
    indicator: str = Field(max_length=40)
    object: str = Field(max_length=20)
    comparison: str = Field(default="below", max_length=10)
    threshold: float
    window: str = Field(default="week", max_length=10)
    area: str | None = Field(default=None, max_length=32)
    min_cases: int = Field(default=5, ge=1, le=100_000)


class AlertOut(BaseModel):
    id: int
    name: str
    indicator: str
    object_type: str
    comparison: str
    threshold: float
    window: str
    area_code: str | None
    min_cases: int
    active: bool

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls(
            id=alert.id or 0,
            name=alert.name,
            indicator=alert.indicator,
            object_type=alert.object_type.value,
            comparison=alert.comparison.value,
            threshold=alert.threshold,
            window=alert.window.value,
            area_code=alert.area_code,
            min_cases=alert.min_cases,
            active=alert.active,
        )
