"""Open311 GeoReport v2 as plain Python: how our case states read as open/closed, what a
client submits and how it is checked, service attributes (the "service definitions") and
their answers, the request filters and the spec's error model.

An Open311 service request *is* a case (cases.domain.Case); this module only translates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from civicgrid.cases.domain import (
    CASE,
    OPEN_STATUSES,
    Action,
    Case,
    CaseHandler,
    Status,
)
from civicgrid.core.errors import CivicGridError, InvalidInput
from civicgrid.core.i18n import LOCALES, Locale, translate
from civicgrid.core.permissions import Actor
from civicgrid.core.types import FIRST_DAY, LAST_DAY, is_email, is_phone, record_number
from civicgrid.core.workflow import Event

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json", "xml": "text/xml"}
MAX_DESCRIPTION_CHARS = 4000  # the spec's limit on description
MAX_DATE_RANGE = timedelta(days=90)  # start_date … end_date, and the default window
MAX_REQUESTS = 1000  # GET requests answers at most this many, newest first

# ------------------------------------------------------------------ states


class PublicStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def public_status(status: Status) -> PublicStatus:
    """The one place our many states become Open311's two: everything still being worked on
    (reported … verified, suspended too) is open; closed, rejected, voided and merged into
    another case are closed."""
    return PublicStatus.OPEN if status in OPEN_STATUSES else PublicStatus.CLOSED


def statuses_of(public: PublicStatus) -> list[Status]:
    """Our states that read as PUBLIC (for filtering in the database)."""
    return sorted(s for s in Status if public_status(s) is public)


class Stated(Protocol):
    """A case as far as its state goes (a RequestCase, a Case)."""

    @property
    def status(self) -> Status: ...

    @property
    def merged_into_id(self) -> int | None: ...


def status_notes(case: Stated) -> str:
    """The precise state in Chinese and English ("已派遣 Dispatched"); a merged case names
    the request it was merged into."""
    if case.status is Status.MERGED and case.merged_into_id is not None:
        params = {"id": case.merged_into_id}
        return " ".join(translate("open311.merged_into", lang, params) for lang in LOCALES)
    key = f"status.{case.status.value}"
    return f"{translate(key, 'zh')} {translate(key, 'en')}"


def service_notice(unit_name: str | None, locale: Locale) -> str:
    """What will happen: the unit the authority list (or the dispatcher) gave the case."""
    if unit_name:
        return translate("open311.notice", locale, {"department": unit_name})
    return translate("open311.notice_centre", locale)


# ------------------------------------------------------------------ errors


@dataclass(frozen=True)
class ErrorItem:
    """One entry of the spec's error list."""

    code: int
    description: str


class Problems(InvalidInput):
    """Several things wrong with one request (each field or attribute named); Open311
    answers one error entry for each."""

    def __init__(self, problems: Sequence[CivicGridError]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.message_key, **first.params)

    def message(self, locale: Locale) -> str:
        return "; ".join(p.message(locale) for p in self.problems)


def spec_status(status: int) -> int:
    """The spec's HTTP statuses: 403 for a missing or wrong api_key (and anything else the
    caller may not do), 404 for what does not exist, 400 for every other refusal."""
    if status in (401, 403):
        return 403
    if status == 404:
        return 404
    if 400 <= status < 500:
        return 400
    return status


def errors_of(error: CivicGridError, locale: Locale) -> tuple[int, list[ErrorItem]]:
    """The HTTP status and the spec's error list for ERROR, in LOCALE."""
    status = spec_status(error.status)
    problems = error.problems if isinstance(error, Problems) else [error]
    return status, [ErrorItem(status, p.message(locale)) for p in problems]


# ------------------------------------------------------------------ service attributes


class Datatype(StrEnum):
    STRING = "string"  # one line
    NUMBER = "number"
    DATETIME = "datetime"  # ISO 8601
    TEXT = "text"  # may have line breaks
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"


LIST_DATATYPES = frozenset({Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST})
MAX_STRING_CHARS = 500
MAX_TEXT_CHARS = 4000


@dataclass(eq=False)
class ServiceAttribute:
    """A question asked with one service (category): the spec's service definition
    attribute, with its texts in Chinese and English. VALUES are the options of list
    datatypes: [{"key", "name", "name_en"}]. A non-variable attribute only informs."""

    service_code: str
    code: str
    datatype: Datatype
    order: int
    description: str
    description_en: str = ""
    datatype_description: str = ""
    datatype_description_en: str = ""
    required: bool = False
    variable: bool = True
    values: list[dict[str, str]] = field(default_factory=list)
    id: int | None = None

    def keys(self) -> list[str]:
        return [v["key"] for v in self.values]

    def describe(self, locale: Locale) -> str:
        return (self.description_en if locale == "en" else "") or self.description

    def describe_datatype(self, locale: Locale) -> str:
        return (self.datatype_description_en if locale == "en" else "") or self.datatype_description

    def option_name(self, option: Mapping[str, str], locale: Locale) -> str:
        return (option.get("name_en", "") if locale == "en" else "") or option["name"]


@dataclass(eq=False)
class AttributeAnswer:
    """One submitted value of an attribute for a case (a multivaluelist gives several)."""

    code: str
    value: str
    case_id: int | None = None
    id: int | None = None


def check_answers(
    attributes: Sequence[ServiceAttribute], submitted: Mapping[str, Sequence[str]]
) -> list[AttributeAnswer]:
    """The answers to ATTRIBUTES in SUBMITTED (attribute code → values), checked against each
    attribute's datatype, options and whether it is required; every problem is named."""
    asked = {a.code: a for a in attributes if a.variable}
    problems: list[CivicGridError] = []
    for code in submitted:
        if code not in asked:
            problems.append(
                InvalidInput(
                    "open311_attribute_unknown", code=code, allowed=", ".join(asked) or "-"
                )
            )
    answers: list[AttributeAnswer] = []
    for attribute in sorted(asked.values(), key=lambda a: (a.order, a.code)):
        values = [v.strip() for v in submitted.get(attribute.code, []) if v.strip()]
        try:
            answers.extend(_answers_to(attribute, values))
        except InvalidInput as problem:
            problems.append(problem)
    if problems:
        raise Problems(problems)
    return answers


def _answers_to(attribute: ServiceAttribute, values: list[str]) -> list[AttributeAnswer]:
    code, datatype = attribute.code, attribute.datatype
    if not values:
        if attribute.required:
            raise InvalidInput("open311_attribute_required", code=code)
        return []
    if datatype is not Datatype.MULTIVALUELIST and len(values) > 1:
        raise InvalidInput("open311_attribute_one_value", code=code)
    if datatype in LIST_DATATYPES:
        keys = attribute.keys()
        for value in values:
            if value not in keys:
                raise InvalidInput(
                    "open311_attribute_bad_value", code=code, value=value, allowed=", ".join(keys)
                )
        return [AttributeAnswer(code, value) for value in dict.fromkeys(values)]
    value = values[0]
    if datatype is Datatype.NUMBER:
        number = _number(value)
        if number is None:
            raise InvalidInput("open311_attribute_not_number", code=code, value=value)
        return [AttributeAnswer(code, f"{number:g}")]
    if datatype is Datatype.DATETIME:
        moment = parse_w3c_datetime(value, f"attribute[{code}]")
        if moment is None:
            raise InvalidInput("open311_attribute_not_datetime", code=code, value=value)
        return [AttributeAnswer(code, w3c(moment))]
    limit = MAX_TEXT_CHARS if datatype is Datatype.TEXT else MAX_STRING_CHARS
    if len(value) > limit:
        raise InvalidInput("open311_attribute_too_long", code=code, max=limit)
    if datatype is Datatype.STRING and ("\n" in value or "\r" in value):
        raise InvalidInput("open311_attribute_line_break", code=code)
    return [AttributeAnswer(code, value)]


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------ dates


# The datetimes a client may name (core.types' days): any record's, with room to add a
# filter's 90 days or a zone's offset without passing datetime's own end in year 9999.
EARLIEST = datetime.combine(FIRST_DAY, time(), UTC)
LATEST = datetime.combine(LAST_DAY, time(), UTC) + timedelta(days=1)


def parse_w3c_datetime(value: str, field: str = "datetime") -> datetime | None:
    """A W3C (ISO 8601) date or datetime as an aware UTC datetime, or None when VALUE is
    none; one before EARLIEST or from LATEST on is refused naming FIELD. A missing zone
    reads as UTC; a '+' that a client forgot to escape in a query string (and so arrived as
    a space) is taken back."""
    text = value.strip()
    if re.search(r"\d \d\d:?\d\d$", text):
        text = text[: text.rindex(" ")] + "+" + text[text.rindex(" ") + 1 :]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Compared before converting: 9999-12-31T23:00-05:00 in UTC is past datetime's end.
    if not EARLIEST <= parsed < LATEST:
        raise InvalidInput("open311_datetime_out_of_range", field=field, value=value)
    return parsed.astimezone(UTC)


def w3c(moment: datetime) -> str:
    """ISO 8601 with the zone offset, to the second ("2013-12-26T04:59:08+00:00")."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------ reading requests


@dataclass(frozen=True)
class RequestCase:
    """A case as Open311 reads it (from cases.views.case_rows): no reporter, no contact,
    no account. Answers are built from this, never from the case itself."""

    id: int
    status: Status
    merged_into_id: int | None
    category_code: str
    description: str
    address: str
    lat: float | None
    lon: float | None
    reporter_hidden: bool
    department_code: str | None
    suggested_department_code: str | None
    created_at: datetime
    updated_at: datetime | None
    deadline_at: datetime | None
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class RequestQuery:
    """What GET requests asks for: either numbers (which override everything else) or
    services, states and a window of requested_datetime."""

    ids: tuple[int, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_REQUESTS


def _comma_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def request_query(
    *,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    now: datetime,
) -> RequestQuery:
    """Read GET requests' arguments by the spec: comma lists, open/closed, and a window of
    at most 90 days (by default the last 90 days)."""
    ids = _comma_list(service_request_id)
    if ids:
        numbers = []
        for value in ids:
            number = record_number(value)
            if number is None:
                raise InvalidInput("open311_bad_request_id", value=value)
            numbers.append(number)
        return RequestQuery(ids=tuple(dict.fromkeys(numbers)))
    statuses: list[Status] = []
    for value in _comma_list(status):
        try:
            statuses.extend(statuses_of(PublicStatus(value.lower())))
        except ValueError as exc:
            raise InvalidInput("open311_bad_status", value=value) from exc
    start = _date_argument("start_date", start_date)
    end = _date_argument("end_date", end_date)
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_DATE_RANGE
    if end is None:
        end = start + MAX_DATE_RANGE
    if end < start:
        raise InvalidInput("open311_date_range_reversed")
    if end - start > MAX_DATE_RANGE:
        raise InvalidInput("open311_date_range_too_long", days=MAX_DATE_RANGE.days)
    return RequestQuery(
        service_codes=tuple(dict.fromkeys(_comma_list(service_code))),
        statuses=tuple(sorted(set(statuses))),
        start=start,
        end=end,
    )


def _date_argument(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    parsed = parse_w3c_datetime(value, name)
    if parsed is None:
        raise InvalidInput("open311_bad_datetime", field=name, value=value)
    return parsed


# ------------------------------------------------------------------ what a client submits

# Longest accepted value of each field (the columns that keep them are this wide).
FIELD_LIMITS: dict[str, int] = {
    "service_code": 32,
    "address_string": 300,
    "address_id": 100,
    "email": 200,
    "device_id": 100,
    "account_id": 100,
    "first_name": 50,
    "last_name": 50,
    "phone": 40,
    "media_url": 500,
}
_ATTRIBUTE_FIELD = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class Submission:
    """A POST requests form, read and checked field by field (attributes are checked
    against the service's definition later, by the service)."""

    service_code: str
    lat: float | None = None
    lon: float | None = None
    address_string: str = ""
    address_id: str = ""
    description: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    media_url: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)
    # What is wrong with the fields; raised together with the attributes' problems.
    problems: list[CivicGridError] = field(default_factory=list)

    @property
    def reporter_name(self) -> str:
        """Family name first for Chinese names (王 + 芳 → 王芳), given name first otherwise."""
        first, last = self.first_name, self.last_name
        if _CJK.search(first + last):
            return f"{last}{first}"
        return f"{first} {last}".strip()


def read_submission(fields: Iterable[tuple[str, str]]) -> Submission:
    """The fields of a POST requests form (repeated keys allowed, for multivaluelists),
    checked: service_code, a location (lat+long, address_string or address_id), the
    description's length, media_url, e-mail, phone and every field's length. The problems found
    are kept in `problems`, to be answered together with the attributes' problems."""
    single: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for name, value in fields:
        match = _ATTRIBUTE_FIELD.match(name)
        if match:
            attributes.setdefault(match.group(1), []).append(value)
        else:
            single.setdefault(name, value.strip())
    problems: list[CivicGridError] = []
    service_code = single.get("service_code", "")
    if not service_code:
        problems.append(InvalidInput("open311_field_required", field="service_code"))
    for name, limit in FIELD_LIMITS.items():
        if len(single.get(name, "")) > limit:
            problems.append(InvalidInput("open311_field_too_long", field=name, max=limit))
    description = single.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(
            InvalidInput(
                "open311_description_too_long", max=MAX_DESCRIPTION_CHARS, length=len(description)
            )
        )
    lat, lon = _coordinate(single, "lat", problems), _coordinate(single, "long", problems)
    given = [name for name in ("lat", "long") if single.get(name)]
    if len(given) == 1:
        problems.append(InvalidInput("open311_lat_long_pair"))
    has_point = lat is not None and lon is not None
    if not (given or single.get("address_string") or single.get("address_id")):
        problems.append(InvalidInput("open311_location_required"))
    media_url = single.get("media_url", "")
    if media_url and not _is_web_url(media_url):
        problems.append(InvalidInput("open311_bad_media_url", value=media_url))
    # The form of an e-mail address or a phone, when it is not already too long.
    email, phone = single.get("email", ""), single.get("phone", "")
    if email and len(email) <= FIELD_LIMITS["email"] and not is_email(email):
        problems.append(InvalidInput("open311_bad_email", value=email))
    if phone and len(phone) <= FIELD_LIMITS["phone"] and not is_phone(phone):
        problems.append(InvalidInput("open311_bad_phone", value=phone))
    return Submission(
        service_code=service_code,
        lat=lat if has_point else None,
        lon=lon if has_point else None,
        address_string=single.get("address_string", ""),
        address_id=single.get("address_id", ""),
        description=description,
        email=email,
        device_id=single.get("device_id", ""),
        account_id=single.get("account_id", ""),
        first_name=single.get("first_name", ""),
        last_name=single.get("last_name", ""),
        phone=phone,
        media_url=media_url,
        attributes=attributes,
        problems=problems,
    )


def _coordinate(
    single: Mapping[str, str], name: str, problems: list[CivicGridError]
) -> float | None:
    value = single.get(name, "")
    if not value:
        return None
    number = _number(value)
    if number is None:
        problems.append(InvalidInput("open311_not_a_number", field=name, value=value))
    return number


def _is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


# ------------------------------------------------------------------ what Open311 adds to a case


@dataclass(eq=False)
class RequestRecord:
    """What Open311 keeps beside a case: how it came in (a POST, with its token; or an
    import, with the source's key so a second import of the same file adds nothing) and
    the spec's fields the case itself does not have. Personal fields (account_id,
    device_id) are kept for the centre and never shown by the public reads."""

    case_id: int
    source: str
    created_at: datetime
    token: str | None = None
    source_key: str | None = None
    api_client: str = ""
    account_id: str = ""
    device_id: str = ""
    media_url: str = ""
    address_id: str = ""
    zipcode: str = ""
    expected_at: datetime | None = None


SUBMITTED = "open311"  # the source of requests POSTed to this server


# ------------------------------------------------------------------ imported history

# The action that brings a case into each state, for the timeline row of an imported state.
ACTION_INTO: dict[Status, Action] = {
    Status.ACCEPTED: Action.ACCEPT,
    Status.REJECTED: Action.REJECT,
    Status.REGISTERED: Action.REGISTER,
    Status.DISPATCHED: Action.DISPATCH,
    Status.IN_PROGRESS: Action.START,
    Status.SUSPENDED: Action.SUSPEND,
    Status.RESOLVED: Action.RESOLVE,
    Status.VERIFIED: Action.VERIFY,
    Status.CLOSED: Action.CLOSE,
    Status.VOIDED: Action.VOID,
}
# States in which a unit holds the case (the others only suggest one).
HELD_STATUSES = frozenset(
    {
        Status.DISPATCHED,
        Status.IN_PROGRESS,
        Status.SUSPENDED,
        Status.RESOLVED,
        Status.VERIFIED,
        Status.CLOSED,
    }
)


def replay_history(
    case: Case,
    actor: Actor,
    *,
    status: Status,
    changed_at: datetime,
    unit: str | None,
    due_at: datetime | None,
    now: datetime,
    data: Mapping[str, object],
) -> list[Event]:
    """Bring a freshly reported CASE (created at its historic time) to the state an export
    says it is in, with the export's times: one timeline row for that state at CHANGED_AT,
    the unit that held it, the due date as its deadline, and an overdue mark at the due
    date when that has passed by NOW (so the scheduler does not escalate old history)."""
    created = case.created_at
    if unit is not None:  # the export's agency, not the authority list, had the case
        case.suggested_department_code = unit
    events: list[Event] = []
    if status is not Status.REPORTED:
        case.status = status
        events.append(
            CASE.event(
                case,
                ACTION_INTO[status],
                actor,
                changed_at,
                from_state=Status.REPORTED,
                data={"imported": True, **data, "department": unit},
            )
        )
        if unit is not None and status in HELD_STATUSES:
            case.department_code = unit
            case.handlers = [CaseHandler(unit, lead=True, assigned_at=created)]
    if case.is_open:
        case.start_clock(changed_at if status is not Status.REPORTED else created)
        if due_at is not None and case.step_started_at is not None:
            started = case.step_started_at
            CASE.set_deadline(case, started, due_at)
            if due_at <= started:
                case.warn_at = due_at
        if case.deadline_at is not None and case.deadline_at < now:
            events.append(case.mark_overdue(case.deadline_at))
    else:
        case.closed_at = changed_at
        if status is Status.CLOSED:
            case.resolved_at = changed_at
        case.step_started_at = changed_at
        case.deadline_at = case.warn_at = None
    events.sort(key=lambda e: e.at)
    case.updated_at = max([created, *(e.at for e in events)])
    return events
