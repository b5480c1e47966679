"""The exchange's rules on plain classes: the catalogue's datasets with their graded fields,
the terms a unit asks for (fields and how each is shown, a row scope, a period), share
requests and grants declared on the workflow kernel, and the working-day clock of the
rules' deadlines.

Grading follows GB/T 43697-2024 (数据安全技术 数据分类分级规则): each field is 一般, 重要
or 核心 data, and personal information (个人信息) or sensitive personal information
(敏感个人信息, PIPL art. 28) or neither. A dataset's share class follows the State
Council's 国发〔2016〕51号 (政务信息资源共享管理暂行办法): 无条件共享 (any unit may ask;
the owner answers within 2 working days), 有条件共享 (asked for a purpose; 5 working days)
and 不予共享 (never shared, so never requested). 重要 or 核心 fields and sensitive personal
information also need the data administrator's approval after the owner's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from civicgrid.core.errors import Conflict, Forbidden, InvalidInput
from civicgrid.core.i18n import city_day, day_start
from civicgrid.core.permissions import Role
from civicgrid.core.workflow import ActionSpec, RecordKind, Relation, grant
from civicgrid.exchange.masking import (
    FieldType,
    Mask,
    MaskKind,
    Personal,
    check_mask,
    default_mask,
)


class Grade(StrEnum):
    """GB/T 43697-2024's grades of data."""

    GENERAL = "general"  # 一般数据
    IMPORTANT = "important"  # 重要数据
    CORE = "core"  # 核心数据


class ShareClass(StrEnum):
    """国发〔2016〕51号's classes of government data."""

    UNCONDITIONAL = "unconditional"  # 无条件共享
    CONDITIONAL = "conditional"  # 有条件共享
    NOT_SHARED = "not_shared"  # 不予共享


class SourceKind(StrEnum):
    REGISTRY = "registry"  # a kind of registry record (registry.views)
    CASES = "cases"  # the cases, as cases.views shows them
    FILE = "file"  # rows a unit uploads (CSV or xlsx)
    QUESTION = "question"  # a yes/no question answered from the registry (免证明)


class Frequency(StrEnum):
    """How often the owner promises new data: freshness is measured against it."""

    REALTIME = "realtime"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


# How old a dataset's data may be before it is stale, by its frequency (a day's grace).
FRESH_FOR: dict[Frequency, timedelta] = {
    Frequency.REALTIME: timedelta(days=1),
    Frequency.DAILY: timedelta(days=2),
    Frequency.WEEKLY: timedelta(days=8),
    Frequency.MONTHLY: timedelta(days=32),
    Frequency.QUARTERLY: timedelta(days=93),
    Frequency.YEARLY: timedelta(days=367),
}


class Question(StrEnum):
    """The yes/no questions the platform answers without revealing the data (免证明)."""

    LIVES_AT = "lives_at"  # does the person with this identity number live at this address
    REGISTERED_IN = "registered_in"  # is this person's household registered in this area
    AGE_AT_LEAST = "age_at_least"  # is this person N (60) or older
    ORGANISATION_ACTIVE = "organisation_active"  # is this organisation registered and active


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"  # the platform holds nothing to answer with


# What each question's asker gives besides the question.
QUESTION_INPUTS: dict[Question, tuple[str, ...]] = {
    Question.LIVES_AT: ("identity_number", "address"),
    Question.REGISTERED_IN: ("identity_number", "area"),
    Question.AGE_AT_LEAST: ("identity_number", "age"),
    Question.ORGANISATION_ACTIVE: ("credit_code",),
}
# A question dataset has one field, its answer, graded like any other.
ANSWER_FIELD = "answer"

# The working days the owner has to answer, by share class.
WORKING_DAYS: dict[ShareClass, int] = {ShareClass.UNCONDITIONAL: 2, ShareClass.CONDITIONAL: 5}
# The longest period one grant may run: a unit that needs data for longer asks again.
MAX_GRANT_DAYS = 3 * 366
MAX_FILTER_VALUES = 50
NEEDS_ADMIN_GRADES = frozenset({Grade.IMPORTANT, Grade.CORE})

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# ------------------------------------------------------------------ the catalogue


@dataclass(eq=False)
class DatasetField:
    """One field of a dataset: what it is called, what it holds and means, and its grade."""

    name: str
    column: str  # the source's column (a file's header, a view's column)
    type: FieldType
    meaning_zh: str = ""
    meaning_en: str = ""
    grade: Grade = Grade.GENERAL
    personal: Personal = Personal.NONE
    position: int = 0
    dataset_id: int | None = None
    id: int | None = None

    @property
    def needs_admin(self) -> bool:
        return self.grade in NEEDS_ADMIN_GRADES or self.personal is Personal.SENSITIVE

    @property
    def default_mask(self) -> Mask:
        return default_mask(self.type, self.personal)


@dataclass(eq=False)
class Dataset:
    """A dataset in the catalogue (数据资源目录): its owner, what it is, where its rows
    come from, its fields and its share class."""

    code: str
    owner_unit: str
    title_zh: str
    title_en: str
    source_kind: SourceKind
    share_class: ShareClass
    frequency: Frequency = Frequency.MONTHLY
    source_name: str = ""  # the registry kind, "cases", the question; "" for a file
    description_zh: str = ""
    description_en: str = ""
    key_field: str = ""  # the field that identifies a row ("" none)
    grid_field: str = ""  # the field that places a row in a grid ("" none)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    data_updated_at: datetime | None = None  # when its rows last changed, as far as known
    quality_at: datetime | None = None
    rows: int = 0  # as the last quality run counted them
    id: int | None = None
    fields: list[DatasetField] = field(default_factory=list)

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title_zh

    def description(self, locale: str) -> str:
        return (
            self.description_en if locale == "en" and self.description_en else self.description_zh
        )

    def field_named(self, name: str) -> DatasetField:
        """The field NAME, or a 422 naming it and the fields the dataset has."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise InvalidInput(
            "exchange_unknown_field",
            field=name,
            dataset=self.code,
            allowed=", ".join(f.name for f in self.fields) or "-",
        )

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    @property
    def grid(self) -> str:
        """The field that places a row in a grid ("" when rows lie nowhere)."""
        return self.grid_field

    @property
    def highest_grade(self) -> Grade:
        order = list(Grade)
        return max((f.grade for f in self.fields), key=order.index, default=Grade.GENERAL)

    @property
    def most_personal(self) -> Personal:
        order = list(Personal)
        return max((f.personal for f in self.fields), key=order.index, default=Personal.NONE)

    @property
    def is_question(self) -> bool:
        return self.source_kind is SourceKind.QUESTION

    @property
    def working_days(self) -> int:
        return WORKING_DAYS.get(self.share_class, WORKING_DAYS[ShareClass.CONDITIONAL])

    def requestable(self) -> None:
        """A 409 when the dataset may not be requested (不予共享)."""
        if self.share_class is ShareClass.NOT_SHARED:
            raise Conflict("exchange_not_shared", dataset=self.code)

    def is_fresh(self, now: datetime) -> bool | None:
        """Whether its data is as new as its frequency promises; None when unknown."""
        if self.data_updated_at is None:
            return None
        return now - self.data_updated_at <= FRESH_FOR[self.frequency]


def check_definition(dataset: Dataset, columns: Iterable[str] | None) -> None:
    """A 422 naming the first thing wrong with a dataset's definition: its code, a field's
    name (unique, a plain identifier), a column its source does not have (COLUMNS: the
    source's columns; None for a file, whose header is checked on upload), the key or grid
    field, or a question dataset with other than its one answer field."""
    if not _CODE.match(dataset.code):
        raise InvalidInput("exchange_bad_code", field="code", code=dataset.code)
    if not dataset.title_zh.strip():
        raise InvalidInput("exchange_field_missing", field="title_zh")
    if not dataset.owner_unit.strip():
        raise InvalidInput("exchange_field_missing", field="owner_unit")
    if not dataset.fields:
        raise InvalidInput("exchange_no_fields", dataset=dataset.code)
    seen: set[str] = set()
    available = None if columns is None else set(columns)
    for item in dataset.fields:
        if not _NAME.match(item.name):
            raise InvalidInput("exchange_bad_field_name", field=item.name)
        if item.name in seen:
            raise InvalidInput("exchange_field_twice", field=item.name)
        seen.add(item.name)
        if available is not None and item.column not in available:
            raise InvalidInput(
                "exchange_unknown_column",
                field=item.name,
                column=item.column,
                allowed=", ".join(sorted(available)),
            )
        if not item.column.strip():
            raise InvalidInput("exchange_field_missing", field=f"{item.name}.column")
    for role in ("key_field", "grid_field"):
        name = getattr(dataset, role)
        if name and name not in seen:
            raise InvalidInput(
                "exchange_unknown_field", field=name, dataset=dataset.code, allowed=", ".join(seen)
            )
    if dataset.grid_field and dataset.field_named(dataset.grid_field).type is not FieldType.GRID:
        raise InvalidInput("exchange_grid_field_type", field=dataset.grid_field)
    if dataset.is_question:
        if dataset.source_name not in {q.value for q in Question}:
            raise InvalidInput(
                "exchange_unknown_question",
                question=dataset.source_name,
                allowed=", ".join(q.value for q in Question),
            )
        if [f.name for f in dataset.fields] != [ANSWER_FIELD]:
            raise InvalidInput("exchange_question_fields", field=ANSWER_FIELD)


# ------------------------------------------------------------------ terms


@dataclass(frozen=True)
class Scope:
    """Which rows: those in an area (its grids), and/or those whose FILTER_FIELD holds one
    of FILTER_VALUES; nothing set means every row."""

    area_code: str = ""
    area_path: str = ""
    filter_field: str = ""
    filter_values: tuple[str, ...] = ()

    def within(self, wider: Scope) -> bool:
        """True when every row this scope takes, WIDER takes too."""
        if wider.area_path and not self.area_path.startswith(wider.area_path):
            return False
        if wider.filter_field:
            if self.filter_field != wider.filter_field:
                return False
            if not set(self.filter_values) <= set(wider.filter_values):
                return False
        return True

    def as_data(self) -> dict[str, Any]:
        return {
            "area": self.area_code or None,
            "filter": (
                {"field": self.filter_field, "values": list(self.filter_values)}
                if self.filter_field
                else None
            ),
        }


@dataclass(frozen=True)
class Terms:
    """What a unit asks for or is granted: fields and how each is shown, which rows, and
    the days (in the city's calendar, both included) it may read them."""

    fields: Mapping[str, Mask]
    scope: Scope
    starts_on: date
    ends_on: date

    def narrowed_to(self, narrower: Terms) -> None:
        """A 422 naming the first way NARROWER would show more than these terms: a field
        not asked for, a mask that shows more, more rows, a longer period."""
        for name, mask in narrower.fields.items():
            asked = self.fields.get(name)
            if asked is None:
                raise InvalidInput("exchange_narrow_adds_field", field=name)
            if not mask.hides_at_least(asked):
                raise InvalidInput(
                    "exchange_narrow_shows_more", field=name, mask=str(mask), asked=str(asked)
                )
        if not narrower.scope.within(self.scope):
            raise InvalidInput("exchange_narrow_wider_scope", field="scope")
        if narrower.starts_on < self.starts_on or narrower.ends_on > self.ends_on:
            raise InvalidInput(
                "exchange_narrow_longer_period",
                field="period",
                starts_on=self.starts_on.isoformat(),
                ends_on=self.ends_on.isoformat(),
            )

    def as_data(self) -> dict[str, Any]:
        return {
            "fields": {name: str(mask) for name, mask in self.fields.items()},
            **self.scope.as_data(),
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
        }


def check_terms(dataset: Dataset, terms: Terms, today: date) -> None:
    """A 422 (or 409) naming the first thing wrong with TERMS for DATASET: a field it does
    not have or a mask the field cannot take, a filter on a field it does not have, an area
    for rows that lie nowhere, a period that is back to front, over or too long."""
    dataset.requestable()
    if not terms.fields:
        raise InvalidInput("exchange_field_missing", field="fields")
    for name, mask in terms.fields.items():
        item = dataset.field_named(name)
        check_mask(item.type, mask, name)
        if mask.kind is MaskKind.COMMUNITY and not dataset.grid:
            raise InvalidInput("exchange_no_grid", field=name, dataset=dataset.code)
    scope = terms.scope
    if scope.filter_field:
        dataset.field_named(scope.filter_field)
        if not scope.filter_values or len(scope.filter_values) > MAX_FILTER_VALUES:
            raise InvalidInput(
                "exchange_filter_values", field="scope.filter", most=MAX_FILTER_VALUES
            )
    if scope.area_code and not dataset.grid:
        raise InvalidInput("exchange_no_grid", field="scope.area", dataset=dataset.code)
    if terms.ends_on < terms.starts_on:
        raise InvalidInput("exchange_period_backwards", field="ends_on")
    if terms.ends_on < today:
        raise InvalidInput("exchange_period_over", field="ends_on", day=terms.ends_on.isoformat())
    if (terms.ends_on - terms.starts_on).days + 1 > MAX_GRANT_DAYS:
        raise InvalidInput("exchange_period_too_long", field="ends_on", most=MAX_GRANT_DAYS)


def parse_fields(dataset: Dataset, asked: Iterable[tuple[str, str | None]]) -> dict[str, Mask]:
    """(field, mask or None) pairs → field → mask, each field's own default mask where
    none is given. A field named twice is a 422 (two grants of one field would contradict
    each other)."""
    found: dict[str, Mask] = {}
    for name, mask in asked:
        item = dataset.field_named(name)
        if name in found:
            raise InvalidInput("exchange_field_twice", field=name)
        found[name] = Mask.parse(mask, name) if mask else item.default_mask
    return found


def needs_admin(dataset: Dataset, fields: Iterable[str]) -> bool:
    """Whether terms with FIELDS need the data administrator's approval too: 重要 or 核心
    data, or sensitive personal information."""
    return any(dataset.field_named(name).needs_admin for name in fields)


# ------------------------------------------------------------------ the working-day clock


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days in the city: Monday to Friday, less its public HOLIDAYS, plus the
    weekend WORKDAYS the State Council moves work to around them (调休). Both lists come
    from the settings, set each year after the State Council's notice; without them only
    weekends are skipped."""

    timezone: str = "Asia/Shanghai"
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def deadline(self, start: datetime, days: int) -> datetime:
        """The end (midnight after it, as a UTC instant) of the DAYSth working day after
        the day START falls on in the city: asked on a Friday with 2 working days, the
        answer is due by the end of Tuesday."""
        day = city_day(start, self.timezone)
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day_start(day + timedelta(days=1), self.timezone)


def parse_days(text: str, setting: str) -> frozenset[date]:
    """'2026-01-01, 2026-02-15..2026-02-23' → those days; a ValueError naming SETTING and
    the part it cannot read."""
    days: set[date] = set()
    for part in (p.strip() for p in text.replace("；", ",").replace(";", ",").split(",")):
        if not part:
            continue
        first, _, last = part.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ValueError(f"{setting}: cannot read {part!r} (YYYY-MM-DD or A..B)") from None
        if end < start or (end - start).days > 366:
            raise ValueError(f"{setting}: {part!r} is not a period of at most a year")
        days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return frozenset(days)


# ------------------------------------------------------------------ requests and grants


class RequestState(StrEnum):
    ASKED = "asked"  # waits for the owner unit
    REVIEW = "review"  # the owner approved; waits for the data administrator
    APPROVED = "approved"  # a grant was made
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class RequestAction(StrEnum):
    ASK = "ask"  # the first row of a request's history
    APPROVE = "approve"
    NARROW = "narrow"  # approve fewer fields, fewer rows or a shorter period
    REFUSE = "refuse"
    WITHDRAW = "withdraw"
    # The rules' own sign-off when the terms need no data administrator (一般 data, no
    # sensitive personal information): the owner's approval is then the last word.
    GRANT = "grant"


class GrantState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class GrantAction(StrEnum):
    CREATE = "create"
    REVOKE = "revoke"
    EXPIRE = "expire"


REQUEST_KIND = "share_request"
GRANT_KIND = "share_grant"


class _HasTerms:
    fields: dict[str, str]
    area_code: str
    area_path: str
    filter_field: str
    filter_values: list[str]
    starts_on: date
    ends_on: date

    @property
    def terms(self) -> Terms:
        return Terms(
            {name: Mask.parse(mask, name) for name, mask in self.fields.items()},
            Scope(self.area_code, self.area_path, self.filter_field, tuple(self.filter_values)),
            self.starts_on,
            self.ends_on,
        )

    def set_terms(self, terms: Terms) -> None:
        self.fields = {name: str(mask) for name, mask in terms.fields.items()}
        self.area_code = terms.scope.area_code
        self.area_path = terms.scope.area_path
        self.filter_field = terms.scope.filter_field
        self.filter_values = list(terms.scope.filter_values)
        self.starts_on = terms.starts_on
        self.ends_on = terms.ends_on


@dataclass(eq=False)
class ShareRequest(_HasTerms):
    """A unit's request for fields of another unit's dataset, with the terms as they stand
    (the owner or the data administrator may have narrowed them; the event log keeps what
    was first asked)."""

    dataset_id: int
    requester_unit: str
    owner_unit: str
    asked_by: str
    purpose: str
    fields: dict[str, str]
    starts_on: date
    ends_on: date
    working_days: int
    area_code: str = ""
    area_path: str = ""
    filter_field: str = ""
    filter_values: list[str] = field(default_factory=list)
    state: RequestState = RequestState.ASKED
    needs_admin: bool = False
    owner_decided_by: str = ""
    reason: str = ""  # the last decision's reason (a refusal's, a narrowing's)
    grant_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    step_started_at: datetime | None = None
    deadline_at: datetime | None = None
    warn_at: datetime | None = None
    overdue: bool = False
    paused_remaining_seconds: float | None = None
    id: int | None = None

    # The city's working days, for the step clock: the service hands in the configured
    # calendar before it acts (without one only weekends are skipped). Not stored.
    calendar: WorkingCalendar | None = field(default=None, repr=False, compare=False)

    def step_hours(self, step: str) -> float | None:
        """Hours from the step's start to the end of its last working day."""
        if self.step_started_at is None:
            return None
        calendar = self.calendar or WorkingCalendar()
        deadline = calendar.deadline(self.step_started_at, self.working_days)
        return (deadline - self.step_started_at).total_seconds() / 3600

    @property
    def is_open(self) -> bool:
        return self.state in (RequestState.ASKED, RequestState.REVIEW)


@dataclass(eq=False)
class Grant(_HasTerms):
    """What a unit may read of a dataset, and until when: made when a request is approved,
    ended by its date (expired, by the platform) or by the owner (revoked)."""

    request_id: int
    dataset_id: int
    consumer_unit: str
    owner_unit: str
    purpose: str
    fields: dict[str, str]
    starts_on: date
    ends_on: date
    starts_at: datetime  # the first moment of starts_on in the city
    expires_at: datetime  # the moment after the last of ends_on in the city
    area_code: str = ""
    area_path: str = ""
    filter_field: str = ""
    filter_values: list[str] = field(default_factory=list)
    state: GrantState = GrantState.ACTIVE
    ended_at: datetime | None = None
    end_reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None

    def live(self, now: datetime) -> bool:
        return self.state is GrantState.ACTIVE and self.starts_at <= now < self.expires_at

    def masks(self) -> dict[str, Mask]:
        return dict(self.terms.fields)


def grant_window(starts_on: date, ends_on: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants a grant of those days (the city's, both included) runs between."""
    return day_start(starts_on, timezone), day_start(ends_on + timedelta(days=1), timezone)


# ------------------------------------------------------------------ who decides: the kinds

UNIT_DECIDERS = frozenset({Role.HANDLER, Role.DATA_ADMIN})
REQUESTERS = frozenset({Role.HANDLER, Role.DATA_ADMIN})


def _in_unit(unit: str, actor_unit: str | None) -> bool:
    return bool(actor_unit) and actor_unit == unit


def _owner_refusal(request: ShareRequest, ctx: Any) -> Forbidden | Conflict:
    if _in_unit(request.owner_unit, ctx.actor.department_code):
        # The owner has decided already: the request waits for someone else now.
        return Conflict("exchange_decided", id=request.id, state=request.state.value)
    return Forbidden("exchange_not_owner", unit=request.owner_unit)


def _admin_refusal(request: ShareRequest, ctx: Any) -> Forbidden | Conflict:
    if request.state is not RequestState.REVIEW:
        return Conflict("exchange_owner_first", id=request.id, unit=request.owner_unit)
    return Forbidden("exchange_second_person", name=request.owner_decided_by)


# The owner unit's step: its staff decide a request still waiting for it.
OWNER_STEP: Relation[ShareRequest] = Relation(
    "owner_step",
    lambda r, ctx: (
        r.state is RequestState.ASKED and _in_unit(r.owner_unit, ctx.actor.department_code)
    ),
    _owner_refusal,
)
# The data administrator's step: a request the owner approved, decided by another person.
ADMIN_STEP: Relation[ShareRequest] = Relation(
    "admin_step",
    lambda r, ctx: r.state is RequestState.REVIEW and ctx.actor.name != r.owner_decided_by,
    _admin_refusal,
)
REQUESTER_UNIT: Relation[ShareRequest] = Relation(
    "requester_unit",
    lambda r, ctx: _in_unit(r.requester_unit, ctx.actor.department_code),
    lambda r, ctx: Forbidden("exchange_not_requester", unit=r.requester_unit),
)
# Only the platform's rules take these, never a person: the proof is the caller's context.
BY_THE_RULES: Relation[Any] = Relation(
    "rules",
    lambda r, ctx: False,
    lambda r, ctx: Forbidden("exchange_by_the_rules"),
)

_DECIDING = {RequestState.ASKED.value: RequestState.REVIEW.value}
_DECIDING |= {RequestState.REVIEW.value: RequestState.APPROVED.value}
_OPEN_TO = {
    RequestState.ASKED.value: RequestState.REFUSED.value,
    RequestState.REVIEW.value: RequestState.REFUSED.value,
}

SHARE_REQUEST: RecordKind[ShareRequest] = RecordKind(
    name=REQUEST_KIND,
    actions={
        RequestAction.APPROVE.value: ActionSpec(
            RequestAction.APPROVE.value,
            _DECIDING,
            (grant(UNIT_DECIDERS, OWNER_STEP), grant({Role.DATA_ADMIN}, ADMIN_STEP)),
        ),
        RequestAction.NARROW.value: ActionSpec(
            RequestAction.NARROW.value,
            _DECIDING,
            (grant(UNIT_DECIDERS, OWNER_STEP), grant({Role.DATA_ADMIN}, ADMIN_STEP)),
            requires=("reason",),
        ),
        RequestAction.REFUSE.value: ActionSpec(
            RequestAction.REFUSE.value,
            _OPEN_TO,
            # The data administrator may refuse any request, at either step.
            (grant(UNIT_DECIDERS, OWNER_STEP), grant({Role.DATA_ADMIN})),
            requires=("reason",),
        ),
        RequestAction.WITHDRAW.value: ActionSpec(
            RequestAction.WITHDRAW.value,
            {
                RequestState.ASKED.value: RequestState.WITHDRAWN.value,
                RequestState.REVIEW.value: RequestState.WITHDRAWN.value,
            },
            (grant(REQUESTERS, REQUESTER_UNIT),),
        ),
        RequestAction.GRANT.value: ActionSpec(
            RequestAction.GRANT.value,
            {RequestState.REVIEW.value: RequestState.APPROVED.value},
            (grant({Role.ADMIN}, BY_THE_RULES),),
        ),
    },
    open_states=frozenset({RequestState.ASKED.value, RequestState.REVIEW.value}),
    messages="share_request",
    state_labels="ui.exchange.state",
    steps={RequestState.ASKED.value: "owner_review", RequestState.REVIEW.value: "admin_review"},
    step_hours=lambda request, step: request.step_hours(step),
)
# The roles that decide requests (the rules' own sign-off is the platform's, no person's).
DECIDERS = UNIT_DECIDERS

OWNER_UNIT: Relation[Grant] = Relation(
    "owner_unit",
    lambda g, ctx: _in_unit(g.owner_unit, ctx.actor.department_code),
    lambda g, ctx: Forbidden("exchange_not_owner", unit=g.owner_unit),
)
SHARE_GRANT: RecordKind[Grant] = RecordKind(
    name=GRANT_KIND,
    actions={
        GrantAction.REVOKE.value: ActionSpec(
            GrantAction.REVOKE.value,
            {GrantState.ACTIVE.value: GrantState.REVOKED.value},
            # The owner unit, or any data administrator, ends a grant at once.
            (grant(UNIT_DECIDERS, OWNER_UNIT), grant({Role.DATA_ADMIN})),
            requires=("reason",),
        ),
        GrantAction.EXPIRE.value: ActionSpec(
            GrantAction.EXPIRE.value,
            {GrantState.ACTIVE.value: GrantState.EXPIRED.value},
            (grant({Role.ADMIN}, BY_THE_RULES),),
        ),
    },
    open_states=frozenset({GrantState.ACTIVE.value}),
    messages="share_grant",
    state_labels="ui.exchange.grant_state",
)
REVOKERS = UNIT_DECIDERS


@dataclass(frozen=True)
class Decision:
    """What a decision says: its reason (a refusal and a narrowing need one)."""

    reason: str = ""
