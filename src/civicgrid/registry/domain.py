"""一标三实: one standard address (一标) and the actual houses, people and organisations
(三实) at it, as departments report them.

Every record is one department's view of something: it keeps the source that reported it,
that source's own key for it (the identity number for people, the credit code for
organisations, the address for houses and addresses unless the file has its own record
number), the import batch that last wrote it, a hash of its content as imported (what makes
a second import of the same file change nothing), and a nullable `entity_id`: the linked
entity (one person across departments) that record linkage assigns later.

Identity numbers are never stored: a person keeps the keyed hash of the number (to find
and link) and its masked form (region and last four, to read back on the phone). No role
sees the full number again after import; the department that holds it is its owner.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from civicgrid.core.db import utcnow
from civicgrid.core.errors import Forbidden, InvalidInput
from civicgrid.core.permissions import Role
from civicgrid.core.workflow import ActionSpec, Event, Relation, grant
from civicgrid.core.workflow import RecordKind as WorkflowKind


class RecordKind(StrEnum):
    ADDRESS = "addresses"
    HOUSE = "houses"
    PERSON = "people"
    ORGANISATION = "organisations"

    @classmethod
    def parse(cls, value: str) -> RecordKind:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise InvalidInput(
                "registry_unknown_kind", kind=value, allowed=", ".join(k.value for k in cls)
            ) from None


class HouseKind(StrEnum):
    SELF_OCCUPIED = "self_occupied"
    RENTAL = "rental"
    GROUP_RENTAL = "group_rental"
    COMMERCIAL = "commercial"


class Residence(StrEnum):
    REGISTERED = "registered"  # 户籍人口
    FLOATING = "floating"  # 流动人口
    FOREIGN = "foreign"  # 外籍人员 (境外人员): residents of another nationality


class CareTag(StrEnum):
    ELDERLY_ALONE = "elderly_alone"
    EMPTY_NEST = "empty_nest"
    DISABLED = "disabled"
    LEFT_BEHIND_CHILD = "left_behind_child"
    LOW_INCOME = "low_income"
    SERIOUSLY_ILL = "seriously_ill"


class OrganisationKind(StrEnum):
    ENTERPRISE = "enterprise"
    INDIVIDUAL_BUSINESS = "individual_business"
    GOVERNMENT = "government"
    INSTITUTION = "institution"
    SOCIAL_ORGANISATION = "social_organisation"
    OTHER = "other"


# The words departments write for each value (lower case); the values themselves count too.
HOUSE_KIND_WORDS: dict[str, HouseKind] = {
    "自住": HouseKind.SELF_OCCUPIED,
    "自用": HouseKind.SELF_OCCUPIED,
    "自住房": HouseKind.SELF_OCCUPIED,
    "出租": HouseKind.RENTAL,
    "出租房": HouseKind.RENTAL,
    "出租屋": HouseKind.RENTAL,
    "群租": HouseKind.GROUP_RENTAL,
    "群租房": HouseKind.GROUP_RENTAL,
    "商用": HouseKind.COMMERCIAL,
    "商铺": HouseKind.COMMERCIAL,
    "经营": HouseKind.COMMERCIAL,
    "经营用房": HouseKind.COMMERCIAL,
}
RESIDENCE_WORDS: dict[str, Residence] = {
    "户籍": Residence.REGISTERED,
    "户籍人口": Residence.REGISTERED,
    "常住": Residence.REGISTERED,
    "常住人口": Residence.REGISTERED,
    "本地": Residence.REGISTERED,
    "流动": Residence.FLOATING,
    "流动人口": Residence.FLOATING,
    "暂住": Residence.FLOATING,
    "暂住人口": Residence.FLOATING,
    "外来": Residence.FLOATING,
    "外籍": Residence.FOREIGN,
    "外籍人员": Residence.FOREIGN,
    "外籍人口": Residence.FOREIGN,
    "外国人": Residence.FOREIGN,
    "外国籍": Residence.FOREIGN,
    "境外人员": Residence.FOREIGN,
    "境外": Residence.FOREIGN,
}
CARE_TAG_WORDS: dict[str, CareTag] = {
    "独居老人": CareTag.ELDERLY_ALONE,
    "孤寡老人": CareTag.ELDERLY_ALONE,
    "空巢老人": CareTag.EMPTY_NEST,
    "残疾人": CareTag.DISABLED,
    "残疾": CareTag.DISABLED,
    "留守儿童": CareTag.LEFT_BEHIND_CHILD,
    "低保": CareTag.LOW_INCOME,
    "低保户": CareTag.LOW_INCOME,
    "重病": CareTag.SERIOUSLY_ILL,
    "大病": CareTag.SERIOUSLY_ILL,
}
ORGANISATION_KIND_WORDS: dict[str, OrganisationKind] = {
    "企业": OrganisationKind.ENTERPRISE,
    "公司": OrganisationKind.ENTERPRISE,
    "个体工商户": OrganisationKind.INDIVIDUAL_BUSINESS,
    "个体": OrganisationKind.INDIVIDUAL_BUSINESS,
    "机关": OrganisationKind.GOVERNMENT,
    "党政机关": OrganisationKind.GOVERNMENT,
    "事业单位": OrganisationKind.INSTITUTION,
    "社会组织": OrganisationKind.SOCIAL_ORGANISATION,
    "社会团体": OrganisationKind.SOCIAL_ORGANISATION,
    "民办非企业": OrganisationKind.SOCIAL_ORGANISATION,
    "其他": OrganisationKind.OTHER,
}
SEX_WORDS = {
    "男": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "女": "F",
    "f": "F",
    "female": "F",
    "2": "F",
}


@dataclass(eq=False)
class Provenance:
    """Where a record came from: which department, under which key, in which batch."""

    source: str = ""
    source_key: str = ""
    batch_id: int | None = None
    entity_id: int | None = None
    content_hash: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(eq=False)
class StandardAddress(Provenance):
    id: int | None = None
    district: str = ""
    street: str = ""
    community: str = ""
    road: str = ""
    number: str = ""
    estate: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    text: str = ""
    lat: float | None = None
    lon: float | None = None
    grid_code: str | None = None


@dataclass(eq=False)
class House(Provenance):
    id: int | None = None
    kind: HouseKind = HouseKind.SELF_OCCUPIED
    area_m2: float | None = None
    occupancy_limit: int | None = None
    owner_name: str = ""
    owner_phone: str = ""
    manager_name: str = ""
    address_text: str = ""
    address_id: int | None = None
    address_match: str = ""
    grid_code: str | None = None


@dataclass(eq=False)
class Person(Provenance):
    id: int | None = None
    name: str = ""
    id_hash: str = ""
    id_masked: str = ""
    sex: str = ""
    birth_date: date | None = None
    phone: str = ""
    residence: Residence = Residence.REGISTERED
    registered_on: date | None = None
    expires_on: date | None = None
    household_address: str = ""
    address_text: str = ""
    address_id: int | None = None
    address_match: str = ""
    house_id: int | None = None
    grid_code: str | None = None
    care_tags: str = ""  # comma-separated CareTag values: sensitive, see services

    @property
    def tags(self) -> list[CareTag]:
        return [CareTag(t) for t in self.care_tags.split(",") if t]


@dataclass(eq=False)
class Organisation(Provenance):
    id: int | None = None
    name: str = ""
    credit_code: str = ""
    kind: OrganisationKind = OrganisationKind.OTHER
    address_text: str = ""
    address_id: int | None = None
    address_match: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    grid_code: str | None = None


Record = StandardAddress | House | Person | Organisation
RECORD_CLASSES: dict[RecordKind, type[Any]] = {
    RecordKind.ADDRESS: StandardAddress,
    RecordKind.HOUSE: House,
    RecordKind.PERSON: Person,
    RecordKind.ORGANISATION: Organisation,
}


class BatchState(StrEnum):
    """Where an import batch is: a file uploaded on the page waits for the import job
    (queued), is being read and written (running), and ends done (every row checked, the
    good ones written, the bad ones kept) or failed (the file could not be read at all)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(eq=False)
class ImportBatch:
    """One department file imported once: its counts so far (TOTAL is the rows read and
    written, which the page shows as progress against ESTIMATED_ROWS), and its state on
    the workflow kernel (IMPORT_BATCH), each move a row of its history."""

    kind: RecordKind
    source: str
    file_name: str
    actor: str
    encoding: str = ""
    id: int | None = None
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    review: int = 0
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    # A command's import runs at once; an uploaded file waits for the import job.
    state: BatchState = BatchState.RUNNING
    estimated_rows: int = 0
    # Where an uploaded file waits for the job (deleted once it has been read: it holds
    # whole identity numbers, which the registry keeps only hashed).
    stored_file: str = ""
    # Why a batch failed: a message key and its parameters (shown in the reader's language).
    error: str = ""
    error_params: dict[str, Any] | None = None

    @property
    def progress(self) -> float:
        """The share of the file read so far, 0–1 (1 once done)."""
        if self.state is BatchState.DONE:
            return 1.0
        if self.estimated_rows <= 0:
            return 0.0
        return min(self.total / self.estimated_rows, 0.99)


class BatchAction(StrEnum):
    UPLOAD = "upload"  # the history row of a file queued from the page or the API
    CREATE = "create"  # the history row of a command's import, which runs at once
    START = "start"
    FINISH = "finish"
    FAIL = "fail"
    RETRY = "retry"  # a run cut short (its process died) is queued again


IMPORT_KIND = "registry.import"
# Only the import job (or the command running its own import) moves a batch: the proof
# is the caller's context, never a person's request.
BY_THE_IMPORT: Relation[Any] = Relation(
    "import_job",
    lambda batch, ctx: False,
    lambda batch, ctx: Forbidden("registry_import_by_the_job"),
)
_THE_IMPORT = (grant({Role.ADMIN, Role.DATA_ADMIN}, BY_THE_IMPORT),)
IMPORT_BATCH: WorkflowKind[ImportBatch] = WorkflowKind(
    name=IMPORT_KIND,
    actions={
        BatchAction.START.value: ActionSpec(
            BatchAction.START.value,
            {BatchState.QUEUED.value: BatchState.RUNNING.value},
            _THE_IMPORT,
        ),
        BatchAction.FINISH.value: ActionSpec(
            BatchAction.FINISH.value,
            {BatchState.RUNNING.value: BatchState.DONE.value},
            _THE_IMPORT,
        ),
        BatchAction.FAIL.value: ActionSpec(
            BatchAction.FAIL.value,
            {
                BatchState.QUEUED.value: BatchState.FAILED.value,
                BatchState.RUNNING.value: BatchState.FAILED.value,
            },
            _THE_IMPORT,
        ),
        BatchAction.RETRY.value: ActionSpec(
            BatchAction.RETRY.value,
            {BatchState.RUNNING.value: BatchState.QUEUED.value},
            _THE_IMPORT,
        ),
    },
    open_states=frozenset({BatchState.QUEUED.value, BatchState.RUNNING.value}),
    messages="registry_import",
)


@dataclass(eq=False)
class RejectedRow:
    """A row that could not be stored (KEPT false), or one stored that needs a person to look
    at it (KEPT true: an address no standard address matches, an unknown grid)."""

    batch_id: int
    row: int
    field: str
    reason: str  # i18n key
    message_zh: str
    message_en: str
    raw: dict[str, str]
    kept: bool = False
    id: int | None = None


@dataclass(eq=False)
class Change:
    """One field of one record changed (动态更新): by whom, when, why, from what to what.
    Stored in the platform's event log, one event per record and correction or import
    batch (see change_events)."""

    kind: RecordKind
    record_id: int
    field: str
    old: str
    new: str
    actor: str
    reason: str
    batch_id: int | None = None
    at: datetime = dataclasses.field(default_factory=utcnow)


class ChangeAction(StrEnum):
    CORRECT = "correct"  # a grid worker's correction on the spot
    IMPORT = "import"  # a department's file changed the record


def change_kind(kind: RecordKind) -> str:
    """The event log's kind of a registry record ("registry.people", …)."""
    return f"registry.{kind.value}"


def change_events(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """The event rows of CHANGES: one per record, correction or batch, listing each field's
    old and new value; the reason is the note (a correction's, or the batch's)."""
    grouped: dict[tuple[RecordKind, int, int | None, str, str, datetime], dict[str, list[str]]]
    grouped = {}
    for c in changes:
        key = (c.kind, c.record_id, c.batch_id, c.actor, c.reason, c.at)
        grouped.setdefault(key, {})[c.field] = [c.old, c.new]
    return [
        {
            "kind": change_kind(kind),
            "record_id": record_id,
            "action": (ChangeAction.IMPORT if batch_id is not None else ChangeAction.CORRECT).value,
            "actor_name": actor,
            "actor_role": "",
            "from_state": None,
            "to_state": None,
            "at": at,
            "note": reason,
            "data": {"changes": fields} | ({"batch": batch_id} if batch_id is not None else {}),
            "attachments": [],
        }
        for (kind, record_id, batch_id, actor, reason, at), fields in grouped.items()
    ]


def changes_in(kind: RecordKind, event: Event) -> list[Change]:
    """The field changes one event of a registry record holds."""
    batch = event.data.get("batch")
    return [
        Change(
            kind,
            int(event.record_id or 0),
            name,
            str(old),
            str(new),
            event.actor_name,
            event.note,
            batch_id=int(batch) if batch is not None else None,
            at=event.at,
        )
        for name, (old, new) in (event.data.get("changes") or {}).items()
    ]


# ------------------------------------------------------------------ searching


@dataclass(frozen=True)
class SearchTerms:
    """What someone typed into the search box, read for each way it can match: TEXT is
    matched against any part of names, addresses and credit codes; DIGITS (when the text
    is a number: spaces, dashes and brackets left out) against any part of a phone, and
    PHONE (a whole number, as the imports keep it) against the whole of one, for those
    who may read phones."""

    text: str
    digits: str = ""
    phone: str | None = None


_PHONE_SEPARATORS = re.compile(r"[\s\-()（）+]")


def search_terms(q: str, parse_phone: Any = None) -> SearchTerms:
    """Q as typed (full-width digits and letters made plain, spaces run together). PARSE_PHONE
    (identifiers.parse_phone) reads a whole phone number, or raises."""
    text = " ".join(unicodedata.normalize("NFKC", q).split())
    digits = _PHONE_SEPARATORS.sub("", text)
    if not (digits.isascii() and digits.isdigit() and len(digits) >= 3):
        return SearchTerms(text)
    phone = None
    if parse_phone is not None and len(digits) >= 7:
        try:
            phone = parse_phone(text)
        except ValueError:
            phone = None
    return SearchTerms(text, digits, phone)


# ------------------------------------------------------------------ editing by grid workers

# What a grid worker may correct on the spot, per kind, and how each value is read.
EDITABLE: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.ADDRESS: ("lat", "lon"),
    RecordKind.HOUSE: (
        "kind",
        "area_m2",
        "occupancy_limit",
        "owner_name",
        "owner_phone",
        "manager_name",
    ),
    RecordKind.PERSON: (
        "name",
        "phone",
        "residence",
        "registered_on",
        "expires_on",
        "address_text",
        "care_tags",
    ),
    RecordKind.ORGANISATION: ("name", "kind", "contact_name", "contact_phone", "address_text"),
}


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def apply_changes(
    kind: RecordKind, record: Any, values: dict[str, Any], actor: str, reason: str
) -> list[Change]:
    """Set the VALUES (already checked) on RECORD and return one change row per field that
    really changed. A reason is required: the change log says why, not only what."""
    if not reason.strip():
        raise InvalidInput("registry_reason_required", field="reason")
    unknown = sorted(set(values) - set(EDITABLE[kind]))
    if unknown:
        raise InvalidInput(
            "registry_field_not_editable",
            field=unknown[0],
            allowed=", ".join(EDITABLE[kind]),
        )
    return set_values(kind, record, values, actor, reason.strip())


def set_values(
    kind: RecordKind, record: Any, values: dict[str, Any], actor: str, reason: str
) -> list[Change]:
    """Set VALUES on RECORD, one change row per field that really changed (also for what a
    correction implies, such as the standard address a new address text matches)."""
    changes: list[Change] = []
    now = utcnow()
    for name, new in values.items():
        old = getattr(record, name)
        if as_text(old) == as_text(new):
            continue
        setattr(record, name, new)
        assert record.id is not None
        changes.append(
            Change(kind, record.id, name, as_text(old), as_text(new), actor, reason, at=now)
        )
    if changes:
        record.updated_at = now
    return changes
