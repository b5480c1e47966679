"""What the warnings API answers, and reading its filters."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from civicgrid.core.errors import InvalidInput
from civicgrid.insight.warnings.domain import RiskWarning, WarningKind, WarningState
from civicgrid.insight.warnings.services import WarningQuery


class ExplanationOut(BaseModel):
    zh: str
    en: str


class WarningOut(BaseModel):
    id: int
    kind: WarningKind
    grid: str
    category: str
    day: date
    window_start: date
    last_seen: date
    cluster: list[str]
    observed: int
    expected: float
    score: float
    q_value: float
    explanation: ExplanationOut
    state: WarningState
    handled_by: str | None
    handled_at: datetime | None
    note: str
    created_at: datetime

    @classmethod
    def of(cls, warning: RiskWarning) -> WarningOut:
        return cls(
            id=warning.id or 0,
            kind=warning.kind,
            grid=warning.grid_code,
            category=warning.category_code,
            day=warning.day,
            window_start=warning.window_start,
            last_seen=warning.last_seen,
            cluster=list(warning.cluster),
            observed=warning.observed,
            expected=warning.expected,
            score=warning.score,
            q_value=warning.q_value,
            explanation=ExplanationOut(zh=warning.explanation_zh, en=warning.explanation_en),
            state=warning.state,
            handled_by=warning.handled_by,
            handled_at=warning.handled_at,
            note=warning.note,
            created_at=warning.created_at,
        )


class HandleIn(BaseModel):
    note: str = ""


def parse_day(value: str | None) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput("warning_bad_date", value=value) from exc


def parse_query(
    kind: str | None = None,
    category: str | None = None,
    state: str | None = None,
    since: str | None = None,
) -> WarningQuery:
    """The filters as typed in a query string: 'open' is new or acknowledged; a wrong value
    is a 422 naming it and what is allowed."""
    chosen_kind = None
    if kind:
        try:
            chosen_kind = WarningKind(kind)
        except ValueError as exc:
            allowed = ", ".join(k.value for k in WarningKind)
            raise InvalidInput("warning_unknown_kind", value=kind, allowed=allowed) from exc
    chosen_state = None
    if state and state != "open":
        try:
            chosen_state = WarningState(state)
        except ValueError as exc:
            allowed = ", ".join(["open", *(s.value for s in WarningState)])
            raise InvalidInput("warning_unknown_state", value=state, allowed=allowed) from exc
    return WarningQuery(
        kind=chosen_kind,
        category=category.strip() if category and category.strip() else None,
        state=chosen_state,
        open_only=state == "open",
        since=parse_day(since),
    )
