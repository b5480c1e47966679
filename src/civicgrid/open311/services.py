"""Open311 services: the service list and definitions (categories and their attributes),
taking in requests as cases, reading cases as public requests, tokens, the attribute list,
and importing historic 311 exports. Each declares who may call it.

A request is taken in exactly like any other report (cases.services.prepare_report, then
the platform's intake writer); what Open311 adds (token, attribute answers, media_url) is
kept beside the case once it is stored."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from civicgrid.areas.domain import Level
from civicgrid.areas.repository import AreaRepository
from civicgrid.areas.services import add_department
from civicgrid.cases.attachments import Upload
from civicgrid.cases.domain import Case, Category, Channel
from civicgrid.cases.services import (
    CasePorts,
    NewCase,
    Past,
    Reported,
    RowsRejected,
    prepare_report,
    store_past_cases,
)
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidInput, NotFound
from civicgrid.core.permissions import ADMIN_ROLES, PUBLIC, Actor, Role, permission
from civicgrid.core.rows import Parsed, RowProblem
from civicgrid.core.types import record_number
from civicgrid.open311.domain import (
    SUBMITTED,
    AttributeAnswer,
    Problems,
    PublicStatus,
    RequestCase,
    RequestQuery,
    RequestRecord,
    ServiceAttribute,
    Submission,
    check_answers,
    public_status,
    replay_history,
)
from civicgrid.open311.importing import (
    DEFAULT_ATTRIBUTES,
    ImportMapping,
    SourceBatch,
    SourceRow,
    parse_attributes,
)
from civicgrid.open311.repository import Open311Repository
from civicgrid.registry.views import AddressPoint, address_by_id

# Only department systems post requests: the spec asks for an api_key.
SUBMITTERS = frozenset({Role.API_CLIENT})

# ------------------------------------------------------------------ services and definitions


@dataclass(frozen=True)
class Service:
    """A level-2 category as an Open311 service, with its group and its attributes."""

    category: Category
    group: Category | None
    attributes: list[ServiceAttribute]


@lru_cache(maxsize=1)
def default_attributes() -> tuple[ServiceAttribute, ...]:
    """The attribute list shipped with CivicGrid (open311/data/attributes.csv)."""
    parsed = parse_attributes(DEFAULT_ATTRIBUTES.read_text(encoding="utf-8"))
    if parsed.problems:
        raise RuntimeError(f"{DEFAULT_ATTRIBUTES}: {parsed.problems[0].message('en')}")
    return tuple(attribute for _, attribute in parsed.items)


def _attribute_list(uow: UnitOfWork, categories: dict[str, Category]) -> list[ServiceAttribute]:
    """The installed attribute list; until an administrator installs one, the shipped list
    (for the categories that exist)."""
    repo = Open311Repository(uow.session)
    if repo.attributes_installed():
        return list(repo.attributes())
    return [a for a in default_attributes() if a.service_code in categories]


def _services(uow: UnitOfWork, ports: CasePorts) -> dict[str, Service]:
    categories = ports.routing.fresh(uow).categories
    by_service: dict[str, list[ServiceAttribute]] = {}
    for attribute in _attribute_list(uow, categories):
        by_service.setdefault(attribute.service_code, []).append(attribute)
    services = {}
    for code, category in sorted(categories.items()):
        if category.parent_code is None or not category.active:
            continue
        attributes = sorted(by_service.get(code, []), key=lambda a: (a.order, a.code))
        services[code] = Service(category, categories.get(category.parent_code), attributes)
    return services


@permission(PUBLIC, "The Open311 service list")
def list_services(uow: UnitOfWork, actor: Actor, ports: CasePorts) -> list[Service]:
    """Every active level-2 category, as a service, with its level-1 group."""
    return list(_services(uow, ports).values())


@permission(PUBLIC, "One Open311 service definition")
def get_service(uow: UnitOfWork, actor: Actor, code: str, ports: CasePorts) -> Service:
    """A service with its attributes; 404 for anything that is not an active level-2
    category."""
    service = _services(uow, ports).get(code)
    if service is None:
        raise NotFound("open311_service_not_found", code=code)
    return service


@permission(PUBLIC, "When the Open311 services last changed")
def services_changed_at(uow: UnitOfWork, actor: Actor) -> datetime | None:
    """The time the taxonomy or the attribute list last changed (discovery's changeset)."""
    return Open311Repository(uow.session).changed_at()


# ------------------------------------------------------------------ taking in requests


@dataclass
class PreparedRequest:
    """A checked request: the report for the intake writer, and what Open311 keeps beside
    the case once it has its number."""

    new: NewCase
    record: RequestRecord
    answers: list[AttributeAnswer]
    service: Service


@permission(SUBMITTERS, "Check an Open311 request before it is taken in")
def prepare_request(
    uow: UnitOfWork,
    actor: Actor,
    submission: Submission,
    ports: CasePorts,
    media: Sequence[Upload] = (),
) -> PreparedRequest:
    """An Open311 request as a report through the open311 channel: the service is its
    category and the attributes are checked against its definition. The report itself then
    goes through the same intake as every other (place, grid, route, duplicates)."""
    if not submission.service_code:
        raise Problems(submission.problems)
    service = get_service(uow, actor, submission.service_code, ports)
    problems = list(submission.problems)
    lat, lon, address = submission.lat, submission.lon, submission.address_string
    if lat is None and submission.address_id:
        # address_id names a standard address of the registry (标准地址): the report is
        # placed at its point, in its grid, under its written form unless one was sent.
        standard = _standard_address(uow, submission.address_id)
        if standard is not None:
            lat, lon, address = standard.lat, standard.lon, address or standard.text
        elif not address:
            problems.append(
                InvalidInput(
                    "open311_unknown_address_id", value=submission.address_id, field="address_id"
                )
            )
    answers: list[AttributeAnswer] = []
    try:
        answers = check_answers(service.attributes, submission.attributes)
    except Problems as wrong:
        problems.extend(wrong.problems)
    if problems:
        raise Problems(problems)
    uow.rollback()  # reads only: nothing held while the report waits for the intake writer
    category = service.category
    new = NewCase(
        description=submission.description or category.name,
        channel=Channel.OPEN311,
        title=category.name,
        category=category.code,
        lat=lat,
        lon=lon,
        # Without a point, the address is what places the report.
        address=address,
        reporter_name=submission.reporter_name,
        reporter_phone=submission.phone,
        reporter_email=submission.email,
        attachments=list(media),
    )
    record = RequestRecord(
        case_id=0,  # known once the intake writer has stored the case
        source=SUBMITTED,
        created_at=ports.clock(),
        token=secrets.token_hex(16),
        api_client=actor.display_name or actor.name,
        account_id=submission.account_id,
        device_id=submission.device_id,
        media_url=submission.media_url,
        address_id=submission.address_id,
    )
    return PreparedRequest(new, record, answers, service)


def _standard_address(uow: UnitOfWork, address_id: str) -> AddressPoint | None:
    """The registry's standard address numbered ADDRESS_ID, when it has a point."""
    number = record_number(address_id)
    found = address_by_id(uow.session, number) if number is not None else None
    return found if found is not None and found.lat is not None else None


@dataclass
class Receipt:
    record: RequestRecord
    unit_name: str | None  # the unit the authority list gave the case (the service notice)


@permission(SUBMITTERS, "Keep an Open311 request's token and answers beside its case")
def record_request(
    uow: UnitOfWork, actor: Actor, prepared: PreparedRequest, stored: Case
) -> Receipt:
    """Called once the intake writer has stored the case: its token, the attribute answers
    and the Open311 fields, in one transaction."""
    if stored.id is None:
        raise RuntimeError("record_request before the case was stored")
    record = prepared.record
    record.case_id, record.created_at = stored.id, stored.created_at
    repo = Open311Repository(uow.session)
    repo.add_record(record)
    repo.add_answers(stored.id, prepared.answers)
    unit = stored.department_code or stored.suggested_department_code
    names = repo.unit_names([unit] if unit else [])
    uow.commit()
    return Receipt(record, names.get(unit or ""))


# ------------------------------------------------------------------ reading requests


@dataclass
class PublicRequest:
    """A case as anyone may read it: no reporter, no contact, no account."""

    case: RequestCase
    category: Category | None
    record: RequestRecord | None
    unit_name: str | None

    @property
    def expected_at(self) -> datetime | None:
        if public_status(self.case.status) is PublicStatus.OPEN and self.case.deadline_at:
            return self.case.deadline_at
        return self.record.expected_at if self.record else None

    @property
    def updated_at(self) -> datetime:
        if not self.case.is_open and self.case.closed_at is not None:
            return self.case.closed_at
        return self.case.updated_at or self.case.created_at


def _public(uow: UnitOfWork, found: Sequence[RequestCase], ports: CasePorts) -> list[PublicRequest]:
    repo = Open311Repository(uow.session)
    categories = ports.routing.fresh(uow).categories
    records = repo.records_for([c.id for c in found])
    units = repo.unit_names(
        code
        for c in found
        for code in (c.department_code, c.suggested_department_code)
        if code is not None
    )
    return [
        PublicRequest(
            case=case,
            category=categories.get(case.category_code),
            record=records.get(case.id),
            unit_name=units.get(case.department_code or case.suggested_department_code or ""),
        )
        for case in found
    ]


@permission(PUBLIC, "Open311 requests: what anyone may read of cases")
def list_requests(
    uow: UnitOfWork, actor: Actor, query: RequestQuery, ports: CasePorts
) -> list[PublicRequest]:
    """Cases by number, or by service, open/closed and a window of report times; newest
    first, at most 1,000. Public: no personal data of reporters is part of the answer."""
    return _public(uow, Open311Repository(uow.session).find(query), ports)


@permission(PUBLIC, "One Open311 request")
def get_request(uow: UnitOfWork, actor: Actor, request_id: int, ports: CasePorts) -> PublicRequest:
    """One case as a public request; 404 when there is no such case."""
    found = Open311Repository(uow.session).find(RequestQuery(ids=(request_id,)))
    if not found:
        raise NotFound("open311_request_not_found", id=request_id)
    return _public(uow, found, ports)[0]


@permission(PUBLIC, "The request number behind a token")
def request_for_token(uow: UnitOfWork, actor: Actor, token: str) -> RequestRecord:
    """The request a POST answered with TOKEN; 404 for an unknown token."""
    record = Open311Repository(uow.session).record_by_token(token)
    if record is None:
        raise NotFound("open311_token_not_found", token=token)
    return record


# ------------------------------------------------------------------ the attribute list


@permission(PUBLIC, "The service attributes")
def list_attributes(uow: UnitOfWork, actor: Actor, ports: CasePorts) -> list[ServiceAttribute]:
    """Every service's attributes, in both languages (the installed list, or the shipped
    one until an administrator installs one)."""
    categories = ports.routing.fresh(uow).categories
    return sorted(_attribute_list(uow, categories), key=lambda a: (a.service_code, a.order, a.code))


@permission(ADMIN_ROLES, "Replace the service attributes")
def replace_attributes(
    uow: UnitOfWork, actor: Actor, parsed: Parsed[ServiceAttribute], ports: CasePorts
) -> int:
    """Install an attribute list read by open311.importing (CSV) or sent to the API, after
    checking each row's service against the taxonomy; all rows or none."""
    categories = ports.routing.fresh(uow).categories
    problems = list(parsed.problems)
    for row, attribute in parsed.items:
        category = categories.get(attribute.service_code)
        if category is None or category.parent_code is None or not category.active:
            problems.append(
                RowProblem(
                    row,
                    "service_code",
                    "open311_csv_not_a_service",
                    {"value": attribute.service_code},
                )
            )
    if problems:
        parsed.problems = sorted(problems, key=lambda p: p.row)
        raise RowsRejected(parsed.problems)
    fresh = [dataclasses.replace(attribute, id=None) for _, attribute in parsed.items]
    Open311Repository(uow.session).replace_attributes(fresh)
    uow.commit()
    return len(fresh)


# ------------------------------------------------------------------ importing history


@dataclass
class ImportReport:
    """What an import did: rows imported, rows already imported before (skipped), rows
    rejected with their problems, complaint types that fell back to the fallback
    category, and the units created for unmapped agencies."""

    imported: int = 0
    already_imported: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    fallback_types: Counter[str] = field(default_factory=Counter)
    units_created: list[tuple[str, str]] = field(default_factory=list)
    written: bool = False

    @property
    def rejected(self) -> int:
        return len({p.row for p in self.problems})

    def reasons(self) -> Counter[str]:
        """How many rows each kind of problem rejected."""
        return Counter(p.key for p in {p.row: p for p in self.problems}.values())


Progress = Callable[[str, int, int], None]  # (phase, rows just done, rows in the phase)


@dataclass
class _Planned:
    row: SourceRow
    reported: Reported
    unit: str | None


@permission(ADMIN_ROLES, "Import historic 311-style requests as cases")
def import_requests(
    uow: UnitOfWork,
    actor: Actor,
    batch: SourceBatch,
    mapping: ImportMapping,
    ports: CasePorts,
    *,
    partial: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Take in the rows of an export as cases of the open311 channel with their historic
    times: each is placed, categorised and routed by the same intake as a new report (at
    its creation time), then brought to its state (closed, dispatched, …) with the
    export's times, agency and due date. Rows imported before from the same source are
    skipped, so importing a file again changes nothing. Bad rows are named; unless
    PARTIAL, nothing is written when any row is bad."""
    tell = progress or (lambda _phase, _done, _total: None)
    report = ImportReport(problems=list(batch.problems))
    routing = ports.routing.fresh(uow)
    _check_mapping(mapping, routing.units, routing.categories, ports.settings.fallback_category)
    repo = Open311Repository(uow.session)
    known = repo.known_keys(mapping.source, [r.key for r in batch.rows])
    rows = [r for r in batch.rows if r.key not in known]
    report.already_imported = len(batch.rows) - len(rows)
    planned: list[_Planned] = []
    new_units: dict[str, str] = {}
    fallback = ports.settings.fallback_category
    for row in rows:
        tell("check", 1, len(rows))
        try:
            unit = _unit_for(row, mapping, routing.units, new_units)
            category = _category_for(row, mapping, routing.categories)
            at_creation = dataclasses.replace(ports, clock=_clock_at(row.created_at))
            reported = prepare_report(uow, actor, _new_case(row, category or fallback), at_creation)
        except CivicGridError as problem:
            report.problems.append(
                RowProblem(
                    row.row, _column_of(problem, mapping), problem.message_key, problem.params
                )
            )
            continue
        if category is None:
            report.fallback_types[row.type] += 1
        planned.append(_Planned(row, reported, unit))
    report.problems.sort(key=lambda p: p.row)
    if report.problems and not partial:
        return report
    report.units_created = _create_units(uow, actor, new_units)
    now = ports.clock()
    for start in range(0, len(planned), 200):
        chunk = planned[start : start + 200]
        _store_history(uow, actor, chunk, mapping, now)
        report.imported += len(chunk)
        tell("store", len(chunk), len(planned))
    report.written = True
    return report


def _clock_at(moment: datetime) -> Callable[[], datetime]:
    """A clock that stands at MOMENT: intake then dates the report at its historic time."""
    return lambda: moment


def _check_mapping(
    mapping: ImportMapping, units: set[str], categories: dict[str, Category], fallback: str
) -> None:
    """A mapping naming a unit or category this city does not have is wrong as a whole."""
    for agency, unit in mapping.agencies.items():
        if unit not in units:
            raise InvalidInput("open311_import_unknown_unit", agency=agency, unit=unit)
    for kind, code in [*mapping.categories.items(), ("-", fallback)]:
        category = categories.get(code)
        if category is None or category.parent_code is None or not category.active:
            raise InvalidInput("open311_import_unknown_category", type=kind, code=code)


def _unit_for(
    row: SourceRow, mapping: ImportMapping, units: set[str], new_units: dict[str, str]
) -> str | None:
    if not row.agency:
        return None
    unit = mapping.agencies.get(row.agency)
    if unit is not None:
        return unit
    if mapping.unmapped_agencies == "reject":
        raise InvalidInput("open311_import_unmapped_agency", value=row.agency)
    code = mapping.unit_code_prefix + re.sub(r"[^A-Za-z0-9_-]+", "-", row.agency).strip("-")
    if len(code) > 64 or code == mapping.unit_code_prefix:
        raise InvalidInput("open311_import_unmapped_agency", value=row.agency)
    if code not in units:
        new_units.setdefault(code, (row.agency_name or row.agency)[:200])
    return code


def _category_for(
    row: SourceRow, mapping: ImportMapping, categories: dict[str, Category]
) -> str | None:
    """The mapped category, or a type that is itself a category code; None: neither."""
    code = mapping.categories.get(row.type)
    if code is not None:
        return code
    category = categories.get(row.type)
    if category is not None and category.parent_code is not None and category.active:
        return category.code
    return None


def _new_case(row: SourceRow, category: str) -> NewCase:
    return NewCase(
        description=row.text,
        channel=Channel.OPEN311,
        title=(row.type or row.text)[:200],
        category=category,
        lat=row.lat,
        lon=row.lon,
        address=(row.address or row.address_id)[:300],
    )


# Which column of the export a problem found by intake is about.
_PLACE_PROBLEMS = {"outside_city", "lat_lon_swapped", "lat_out_of_range", "lon_out_of_range"}
_ADDRESS_PROBLEMS = {"case_address_unknown", "case_needs_place", "no_grids"}


def _column_of(problem: CivicGridError, mapping: ImportMapping) -> str:
    columns = mapping.columns
    key = problem.message_key
    if key in _PLACE_PROBLEMS:
        return columns.get("lat", "lat")
    if key in _ADDRESS_PROBLEMS:
        return columns.get("address", columns.get("lat", "address"))
    if key == "case_description_too_long":
        return columns.get("description", columns.get("descriptor", "description"))
    if key == "open311_import_unmapped_agency":
        return columns.get("agency", "agency")
    return columns["key"]


def _create_units(
    uow: UnitOfWork, actor: Actor, new_units: dict[str, str]
) -> list[tuple[str, str]]:
    """City-level units for agencies the mapping does not name."""
    if not new_units:
        return []
    cities = AreaRepository(uow.session).list(level=Level.CITY)
    if not cities:
        raise InvalidInput("open311_import_no_city")
    for code, name in sorted(new_units.items()):
        add_department(uow, actor, code=code, name=name, level=Level.CITY, area_code=cities[0].code)
    return sorted(new_units.items())


def _store_history(
    uow: UnitOfWork, actor: Actor, chunk: list[_Planned], mapping: ImportMapping, now: datetime
) -> None:
    """Store one chunk of imported cases with their reporters (none are contacted: this is
    history), their timelines at the export's times and their source keys."""
    repo = Open311Repository(uow.session)
    past: list[Past] = []
    for item in chunk:
        row, case = item.row, item.reported.case
        item.reported.event.data["import"] = {
            "source": mapping.source,
            "key": row.key,
            "row": row.row,
        }
        changed_at = row.closed_at or row.updated_at or row.created_at
        history = replay_history(
            case,
            actor,
            status=row.status,
            changed_at=max(changed_at, row.created_at),
            unit=item.unit,
            due_at=row.due_at,
            now=now,
            data={"source_status": row.status_text, "agency": row.agency or None},
        )
        past.append(Past(item.reported, history))
    store_past_cases(uow, actor, past)
    for item in chunk:
        case, row = item.reported.case, item.row
        assert case.id is not None
        repo.add_record(
            RequestRecord(
                case_id=case.id,
                source=mapping.source,
                source_key=row.key,
                created_at=row.created_at,
                address_id=row.address_id[:100],
                zipcode=row.zipcode[:20],
                expected_at=row.due_at,
            )
        )
    uow.commit()
