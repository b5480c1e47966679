"""Tables for the taxonomy, the authority list, cases, their reporters and attachments.

A case's timeline is its rows in the platform's event log (core.workflow.events, kind
"case"), append-only; its answers and notices are its rows in the platform's outbox
(core.outbox). "Overdue now" and the dispatch queue are index scans on deadline_at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy import (
    case as sql_case,
)
from sqlalchemy.orm import Session, relationship

from civicgrid.areas.domain import Function, Level
from civicgrid.cases.domain import (
    CASE_KIND,
    OPEN_STATUSES,
    AuthorityListVersion,
    AuthorityRule,
    Case,
    CaseHandler,
    Category,
    Channel,
    ListChange,
    Priority,
    Reporter,
    Status,
)
from civicgrid.core.db import (
    UtcDateTime,
    bump_revision,
    enum_column_type,
    mapper_registry,
    metadata,
    read_revision,
    utcnow,
)
from civicgrid.core.outbox import Outbox, OutboxMessage
from civicgrid.core.workflow import Event, EventLog, events

TAXONOMY_REVISION = "taxonomy"

categories = Table(
    "categories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("name_en", String(100), nullable=False, default=""),
    Column("parent_code", String(32), ForeignKey("categories.code"), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("keywords", Text, nullable=False, default=""),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
)

authority_lists = Table(
    "authority_lists",
    metadata,
    # The version number of the authority list.
    Column("id", Integer, primary_key=True),
    Column("change", enum_column_type(ListChange, 16), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

authority_rules = Table(
    "authority_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("category_code", String(32), ForeignKey("categories.code"), nullable=False),
    Column("level", enum_column_type(Level, 16), nullable=False),
    Column("area_code", String(32), ForeignKey("areas.code"), nullable=True),
    Column("department_function", enum_column_type(Function, 32), nullable=True),
    Column("department_code", String(64), ForeignKey("departments.code"), nullable=True),
    Column("limits", JSON, nullable=False),
    Column("auto_escalate", Boolean, nullable=False, default=True),
    Column("version_from", Integer, ForeignKey("authority_lists.id"), nullable=False),
    Column("version_to", Integer, ForeignKey("authority_lists.id"), nullable=True),
)
Index("ix_authority_rules_category_level", authority_rules.c.category_code, authority_rules.c.level)
# The list in force: the lines no version has ended.
Index("ix_authority_rules_in_force", authority_rules.c.version_to, authority_rules.c.id)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("title", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False),
    Column("channel", enum_column_type(Channel, 24), nullable=False),
    Column("category_code", String(32), ForeignKey("categories.code"), nullable=False),
    Column("status", enum_column_type(Status, 24), nullable=False),
    Column("priority", enum_column_type(Priority, 16), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("address", String(300), nullable=False, default=""),
    Column("grid_code", String(32), ForeignKey("areas.code"), nullable=False),
    Column("area_path", String(400), nullable=False),
    Column("handling_level", enum_column_type(Level, 16), nullable=False),
    Column("handling_area_code", String(32), nullable=False),
    Column("department_code", String(64), ForeignKey("departments.code"), nullable=True),
    Column("suggested_department_code", String(64), nullable=True),
    Column("rule_id", Integer, nullable=True),
    Column("rule_version", Integer, nullable=True),
    Column("time_limits", JSON, nullable=False),
    Column("reporter_username", String(80), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=True),
    Column("step_started_at", UtcDateTime(), nullable=True),
    Column("deadline_at", UtcDateTime(), nullable=True),
    Column("warn_at", UtcDateTime(), nullable=True),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("rework_count", Integer, nullable=False, default=0),
    Column("escalation_count", Integer, nullable=False, default=0),
    Column("pending_extension_hours", Float, nullable=True),
    Column("paused_remaining_seconds", Float, nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("satisfaction", Integer, nullable=True),
    Column("rating_comment", Text, nullable=False, default=""),
    Column("resolution", Text, nullable=False, default=""),
    Column("resolved_on_spot", Boolean, nullable=False, default=False),
    Column("merged_into_id", Integer, ForeignKey("cases.id"), nullable=True),
    Column("reporter_hidden", Boolean, nullable=False, default=False, server_default=false()),
    Column("supporters", Integer, nullable=False, default=0, server_default="0"),
)
# The dispatch queue and "overdue now": open cases by deadline (see bench/queries.py).
Index("ix_cases_status_deadline", cases.c.status, cases.c.deadline_at)
Index("ix_cases_deadline", cases.c.deadline_at)
Index(
    "ix_cases_area_status",
    cases.c.area_path,
    cases.c.status,
    cases.c.deadline_at,
    postgresql_ops={"area_path": "varchar_pattern_ops"},  # prefix LIKE under any collation
)
# The scheduler's question, "past the deadline and not yet marked": only unmarked cases.
Index(
    "ix_cases_unmarked_deadline",
    cases.c.deadline_at,
    postgresql_where=cases.c.overdue.is_(False),
    sqlite_where=cases.c.overdue.is_(False),
)
Index("ix_cases_category_status", cases.c.category_code, cases.c.status)
Index("ix_cases_department_status", cases.c.department_code, cases.c.status)
Index("ix_cases_category_lat", cases.c.category_code, cases.c.lat)  # duplicate search
Index("ix_cases_created", cases.c.created_at)
Index("ix_cases_reporter", cases.c.reporter_username)

case_handlers = Table(
    "case_handlers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("department_code", String(64), ForeignKey("departments.code"), nullable=False),
    Column("lead", Boolean, nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("checked_in_at", UtcDateTime(), nullable=True),
    Column("note", Text, nullable=False, default=""),
)
# A unit's whistled cases (lead false) without touching the table.
Index(
    "ix_case_handlers_department",
    case_handlers.c.department_code,
    case_handlers.c.lead,
    case_handlers.c.case_id,
)

case_reporters = Table(
    "case_reporters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("channel", enum_column_type(Channel, 24), nullable=False),
    Column("name", String(100), nullable=False, default=""),
    Column("phone", String(40), nullable=False, default=""),
    Column("email", String(200), nullable=False, default=""),
    Column("username", String(80), nullable=True, index=True),
    Column("created_at", UtcDateTime(), nullable=True),
    Column("hidden", Boolean, nullable=False, default=False, server_default=false()),
    Column("supporter", Boolean, nullable=False, default=False, server_default=false()),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", String(36), primary_key=True),
    # Set when the upload is attached to a case (its report or an action on it).
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("uploaded_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)


@dataclass(eq=False)
class Attachment:
    """A photo, kept in the database with the case it belongs to (set once attached)."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes
    uploaded_by: str
    created_at: datetime
    case_id: int | None = None


mapper_registry.map_imperatively(Category, categories)
mapper_registry.map_imperatively(AuthorityRule, authority_rules)
mapper_registry.map_imperatively(AuthorityListVersion, authority_lists)
mapper_registry.map_imperatively(CaseHandler, case_handlers)
mapper_registry.map_imperatively(Reporter, case_reporters)
mapper_registry.map_imperatively(Attachment, attachments)
mapper_registry.map_imperatively(
    Case,
    cases,
    version_id_col=cases.c.version,  # two people acting at once: the second gets a 409
    properties={
        "handlers": relationship(
            CaseHandler,
            cascade="all, delete-orphan",
            order_by=case_handlers.c.id,
            lazy="selectin",
        )
    },
)


class TaxonomyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def categories(self, *, active_only: bool = False) -> Sequence[Category]:
        stmt = select(Category).order_by(categories.c.code)
        if active_only:
            stmt = stmt.where(categories.c.active.is_(True))
        return self.session.execute(stmt).scalars().all()

    def rules(self, *, every_version: bool = False) -> Sequence[AuthorityRule]:
        """The authority list in force (with EVERY_VERSION: every line ever written, for
        the cases routed by an earlier version)."""
        stmt = select(AuthorityRule).order_by(
            authority_rules.c.category_code, authority_rules.c.level, authority_rules.c.id
        )
        if not every_version:
            stmt = stmt.where(authority_rules.c.version_to.is_(None))
        return self.session.execute(stmt).scalars().all()

    def rule(self, rule_id: int) -> AuthorityRule | None:
        return self.session.get(AuthorityRule, rule_id)

    def current_version(self) -> int:
        """The version of the list in force (0 before any list was installed)."""
        found = self.session.execute(select(func.max(authority_lists.c.id))).scalar()
        return int(found or 0)

    def versions(self, limit: int = 100) -> Sequence[AuthorityListVersion]:
        stmt = select(AuthorityListVersion).order_by(authority_lists.c.id.desc()).limit(limit)
        return self.session.execute(stmt).scalars().all()

    def new_version(self, change: ListChange, actor: str, reason: str) -> AuthorityListVersion:
        version = AuthorityListVersion(change, actor, utcnow(), reason)
        self.session.add(version)
        self.session.flush()
        return version

    def in_use(self, codes: Sequence[str]) -> list[str]:
        """Those of CODES that an open case or a line of the authority list in force names
        (a line may name a level-1 group)."""
        if not codes:
            return []
        by_cases = select(cases.c.category_code).where(
            cases.c.category_code.in_(codes), cases.c.status.in_(list(OPEN_STATUSES))
        )
        by_rules = select(authority_rules.c.category_code).where(
            authority_rules.c.category_code.in_(codes), authority_rules.c.version_to.is_(None)
        )
        return sorted(self.session.execute(by_cases.union(by_rules)).scalars())

    def replace_categories(self, items: Iterable[Category]) -> None:
        """Upsert by code; categories are never deleted (old cases refer to them), only
        deactivated when missing from the new list."""
        existing = {c.code: c for c in self.categories()}
        seen = set()
        for item in items:
            seen.add(item.code)
            current = existing.get(item.code)
            if current is None:
                self.session.add(item)
                continue
            for name in ("name", "name_en", "parent_code", "description", "keywords", "urgent"):
                setattr(current, name, getattr(item, name))
            current.active = item.active
        for code, current in existing.items():
            if code not in seen:
                current.active = False
        self.session.flush()
        self.mark_changed()

    def replace_rules(self, items: Iterable[AuthorityRule], version: int) -> ListChanges:
        """The list of VERSION is ITEMS: a line written exactly as one in force stays (with
        its number), the other lines in force end and the other new ones begin."""
        current = list(self.rules())
        kept: list[AuthorityRule] = []
        added: list[AuthorityRule] = []
        for item in items:
            same = next((r for r in current if r.facts() == item.facts()), None)
            if same is None:
                added.append(item)
            else:
                current.remove(same)
                kept.append(same)
        for ended in current:
            ended.version_to = version
        for item in added:
            item.version_from = version
            self.session.add(item)
        self.session.flush()
        self.mark_changed()
        return ListChanges(added=len(added), removed=len(current), kept=len(kept))

    def add_rule(self, rule: AuthorityRule, version: int) -> None:
        rule.version_from = version
        self.session.add(rule)
        self.session.flush()
        self.mark_changed()

    def end_rule(self, rule: AuthorityRule, version: int) -> None:
        rule.version_to = version
        self.session.flush()
        self.mark_changed()

    def revision(self) -> int:
        return read_revision(self.session, TAXONOMY_REVISION)

    def mark_changed(self) -> None:
        bump_revision(self.session, TAXONOMY_REVISION)


@dataclass(frozen=True)
class ListChanges:
    """What a replacement of the authority list changed, in lines."""

    added: int
    removed: int
    kept: int


class CaseFilter:
    """What the case list may be narrowed by (all optional)."""

    def __init__(
        self,
        *,
        statuses: Sequence[Status] | None = None,
        category: str | None = None,
        grid: str | None = None,
        department: str | None = None,
        overdue: bool | None = None,
        q: str | None = None,
        now: datetime | None = None,
        yellow: bool = False,
        ids: Sequence[int] | None = None,
        phones: bool = False,
    ) -> None:
        self.statuses = statuses
        self.category = category
        self.grid = grid
        self.department = department
        self.overdue = overdue
        self.q = q
        self.now = now
        # 黄灯: past the warning share of the step's time (warn_at), not yet past its deadline.
        self.yellow = yellow
        self.ids = ids  # these cases only (a page refreshing the rows it shows)
        # Whether q also finds cases by a reporter's phone (roles that read phones in full).
        self.phones = phones


def _like(text: str) -> str:
    """TEXT as a LIKE pattern finding it anywhere: %, _ and the escape character itself
    are characters to find, not wildcards (ESCAPE '/' on SQLite and PostgreSQL alike)."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


_SEPARATORS = re.compile(r"[\s\-()+]")
_CASE_NUMBER = re.compile(r"^(?:#|no\.?|案件|编号)?\s*(\d{1,9})$", re.IGNORECASE)
# A number this long is a phone (or part of one) as well as a case number.
MIN_PHONE_SEARCH = 4
# The most cases one searched number finds (a few digits of a phone may be in many).
SEARCH_CAP = 5000


def phone_digits_sql(column: Any) -> Any:
    """COLUMN with the separators people type in phones left out, in SQL."""
    for ch in (" ", "-", "+", "(", ")"):
        column = func.replace(column, ch, "")
    return column


_SEARCHED_TEXTS = (cases.c.title, cases.c.description, cases.c.address)


def searches_phone(q: str) -> bool:
    """Whether Q could be (part of) a phone number, which numbered_cases looks for."""
    digits = _SEPARATORS.sub("", q.strip())
    return digits.isascii() and digits.isdigit() and len(digits) >= MIN_PHONE_SEARCH


def numbered_cases(q: str, *, phones: bool = False) -> Any:
    """When Q is a number, the ids of the cases it finds: the case it numbers and, only
    with PHONES (roles that read reporters' phones in full), those with a reporter whose
    phone holds it, written with spaces or dashes or not. None when Q is not a number."""
    q = q.strip()[:200]
    number = _CASE_NUMBER.match(q)
    if number is None and not searches_phone(q):
        return None
    found: list[Any] = []
    if number is not None:
        found.append(select(literal(int(number.group(1))).label("id")))
    if phones and searches_phone(q):
        digits = _SEPARATORS.sub("", q)
        found.append(
            select(case_reporters.c.case_id.label("id")).where(
                phone_digits_sql(case_reporters.c.phone).like(_like(digits), escape="/")
            )
        )
    if not found:
        return select(cases.c.id).where(false())
    return union_all(*found) if len(found) > 1 else found[0]


def words_condition(q: str) -> Any:
    """What the one search box finds when Q is not a number (numbered_cases): its words all
    found in the title, the description or the address. LIKE's wildcards are characters
    to find; words with letters are matched in either case."""
    words = [
        or_(*(_contains(column, word) for column in _SEARCHED_TEXTS))
        for word in q.strip()[:200].split()
    ]
    return and_(*words)


def _contains(column: Any, word: str) -> Any:
    # Words without letters of two cases (Chinese, digits) need no ILIKE, which is several
    # times slower over a million rows.
    if word.lower() == word.upper():
        return column.like(_like(word), escape="/")
    return column.ilike(_like(word), escape="/")


class CaseScope:
    """Which cases a caller may see, as SQL: an area path prefix, a department, a reporter
    account, or everything."""

    def __init__(
        self,
        *,
        area_path: str | None = None,
        department: str | None = None,
        reporter: str | None = None,
        reported_by: str | None = None,
        everything: bool = False,
    ) -> None:
        self.area_path = area_path
        self.department = department
        self.reporter = reporter  # an account among the reporters (residents, merged cases)
        self.reported_by = reported_by  # the account that filed the report (grid workers)
        self.everything = everything


_SEQUENCES: dict[str, str] = {}


def _table_of(row: object) -> str:
    table: Table = inspect(type(row)).local_table
    return table.name


def _sequence_of(session: Session, table: str) -> str:
    """The PostgreSQL sequence that numbers TABLE's ids (the same in every database made
    by the migrations, so it is asked once per process)."""
    if table not in _SEQUENCES:
        found = session.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
        ).scalar_one()
        _SEQUENCES[table] = str(found)
    return _SEQUENCES[table]


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        # The cases a searched number names, looked up once for a page and its count.
        self._numbered: dict[tuple[str, bool], list[int]] = {}

    def get(self, case_id: int, *, for_update: bool = False) -> Case | None:
        stmt = select(Case).where(cases.c.id == case_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar()

    def add(self, case: Case) -> None:
        self.session.add(case)

    def number(self, *groups: Sequence[object]) -> bool:
        """Give new rows their ids before they are inserted, one group per table, all in
        one query: PostgreSQL draws them from the tables' sequences, so the rows that refer
        to them can be filled in at once and every table's rows go in as one short INSERT
        run for each row in a pipeline (statements the driver and the server parse once,
        where asking for new ids back sends a long many-row VALUES list every batch).
        False on SQLite, whose rows are numbered as add_new inserts them."""
        groups = tuple(group for group in groups if group)
        if not groups or self.session.get_bind().dialect.name != "postgresql":
            return False
        sequences = [_sequence_of(self.session, _table_of(group[0])) for group in groups]
        stmt = select(*(func.nextval(sequence) for sequence in sequences)).select_from(
            func.generate_series(1, max(len(group) for group in groups))
        )
        numbers = self.session.execute(stmt).all()
        for column, group in enumerate(groups):
            for row, drawn in zip(group, numbers, strict=False):
                row.id = drawn[column]  # type: ignore[attr-defined]
        return True

    def add_new(self, rows: Sequence[object], *, learn_ids: bool = False) -> None:
        """Insert new cases, reporters, timeline rows, photos or answers in as few statements
        as the database allows, without the session tracking them afterwards (intake: many
        new rows at once, none changed again in the same transaction). With LEARN_IDS, rows
        that have no id yet (see `number`) get theirs back."""
        if rows:
            returning = learn_ids and any(getattr(row, "id", 0) is None for row in rows)
            self.session.bulk_save_objects(rows, return_defaults=returning)

    def add_event(self, case: Case, event: Event) -> None:
        """Append to the timeline (the only write the timeline knows)."""
        event.record_id = case.id
        EventLog(self.session).add(event)

    def timeline(self, case_id: int) -> Sequence[Event]:
        return EventLog(self.session).of(CASE_KIND, case_id)

    def reporters(self, case_id: int) -> Sequence[Reporter]:
        stmt = (
            select(Reporter)
            .where(case_reporters.c.case_id == case_id)
            .order_by(case_reporters.c.id)
        )
        return self.session.execute(stmt).scalars().all()

    def add_reporter(self, reporter: Reporter) -> None:
        self.session.add(reporter)

    def messages(self, case_id: int) -> Sequence[OutboxMessage]:
        """What the outbox holds for the case: answers to its reporters, notices to units."""
        return Outbox(self.session).of(CASE_KIND, case_id)

    def add_messages(self, messages: Sequence[OutboxMessage]) -> None:
        Outbox(self.session).add(messages)

    # -- lists

    def _scoped(
        self, stmt: Select[Any], scope: CaseScope, f: CaseFilter | None = None
    ) -> Select[Any]:
        if scope.everything:
            return stmt
        conditions = []
        if scope.area_path is not None:
            conditions.append(cases.c.area_path.startswith(scope.area_path, autoescape=True))
        if scope.department is not None:
            # A unit's cases: those it leads, and those it was summoned to by a whistle. The
            # latter are few, so they are looked up first and spelled out, which lets the
            # database combine two index scans instead of walking every case.
            summoned = self._summoned(scope.department, f.statuses if f else None)
            led = cases.c.department_code == scope.department
            conditions.append(or_(led, cases.c.id.in_(summoned)) if summoned else led)
        if scope.reporter is not None:
            joined = exists().where(
                and_(
                    case_reporters.c.case_id == cases.c.id,
                    case_reporters.c.username == scope.reporter,
                    case_reporters.c.supporter.is_(False),
                )
            )
            conditions.append(or_(cases.c.reporter_username == scope.reporter, joined))
        if scope.reported_by is not None:
            conditions.append(cases.c.reporter_username == scope.reported_by)
        if not conditions:
            return stmt.where(False)  # type: ignore[arg-type]
        return stmt.where(or_(*conditions))

    def _summoned(self, department: str, statuses: Sequence[Status] | None) -> list[int]:
        stmt = (
            select(case_handlers.c.case_id)
            .join(cases, cases.c.id == case_handlers.c.case_id)
            .where(case_handlers.c.department_code == department, case_handlers.c.lead.is_(False))
        )
        if statuses:
            stmt = stmt.where(cases.c.status.in_(list(statuses)))
        return [int(i) for i in self.session.execute(stmt).scalars()]

    def _filtered(self, stmt: Select[Any], f: CaseFilter) -> Select[Any]:
        if f.statuses:
            stmt = stmt.where(cases.c.status.in_(list(f.statuses)))
        if f.category:
            # A level-1 group stands for its categories: spelled out, so the index serves it.
            group = self.session.execute(
                select(categories.c.code).where(categories.c.parent_code == f.category)
            ).scalars()
            stmt = stmt.where(cases.c.category_code.in_([f.category, *group]))
        if f.grid:
            stmt = stmt.where(cases.c.grid_code == f.grid)
        if f.department:
            stmt = stmt.where(cases.c.department_code == f.department)
        if f.overdue is not None and f.now is not None:
            late = and_(
                cases.c.status.in_(list(OPEN_STATUSES)),
                cases.c.deadline_at < f.now,
            )
            stmt = stmt.where(late if f.overdue else ~late)
        if f.ids is not None:
            stmt = stmt.where(cases.c.id.in_(list(f.ids)))
        if f.yellow and f.now is not None:
            stmt = stmt.where(
                cases.c.status.in_(list(OPEN_STATUSES)),
                cases.c.warn_at <= f.now,
                cases.c.deadline_at > f.now,
            )
        if f.q and f.q.strip():
            stmt = stmt.where(self._search(f.q, f.phones))
        return stmt

    def _search(self, q: str, phones: bool) -> Any:
        numbered = numbered_cases(q, phones=phones)
        if numbered is None:
            return words_condition(q)
        key = (q, phones)
        if key not in self._numbered:
            found = self.session.execute(numbered.limit(SEARCH_CAP)).scalars()
            self._numbered[key] = sorted({int(i) for i in found})
        return cases.c.id.in_(self._numbered[key])

    def list(
        self,
        scope: CaseScope,
        f: CaseFilter,
        *,
        order: str = "deadline",
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[Case]:
        stmt = self._filtered(self._scoped(select(Case), scope, f), f)
        if order == "deadline":
            # NULLS LAST matches the index order, so the first page is an index scan.
            stmt = stmt.order_by(cases.c.deadline_at.asc().nulls_last(), cases.c.id)
        else:
            stmt = stmt.order_by(cases.c.id.desc())
        return self.session.execute(stmt.limit(limit).offset(offset)).scalars().all()

    def count(self, scope: CaseScope, f: CaseFilter, cap: int | None = None) -> int:
        """How many cases match, counting no further than CAP (a queue of a million cases
        needs "1,000+", not a full scan)."""
        if cap is None:
            counted = select(func.count()).select_from(cases)
            stmt = self._filtered(self._scoped(counted, scope, f), f)
            return int(self.session.execute(stmt).scalar_one())
        matching = self._filtered(self._scoped(select(cases.c.id), scope, f), f).limit(cap + 1)
        stmt = select(func.count()).select_from(matching.subquery())
        return int(self.session.execute(stmt).scalar_one())

    def overdue_unmarked(self, now: datetime, limit: int = 500) -> Sequence[Case]:
        """Open cases whose step deadline has passed and that the scheduler has not marked."""
        stmt = (
            select(Case)
            .where(
                cases.c.deadline_at < now,
                cases.c.overdue.is_(False),
                cases.c.status.in_(list(OPEN_STATUSES)),
            )
            .order_by(cases.c.deadline_at)
            .limit(limit)
        )
        return self.session.execute(stmt).scalars().all()

    def open_in_boxes(
        self, boxes: Sequence[Box], since: datetime
    ) -> Sequence[tuple[int, str, float, float, datetime]]:
        """(id, category, lat, lon, reported at) of the open cases reported since SINCE
        inside any of BOXES (each a category and a stretch of map): the duplicate search of
        a whole intake batch in one statement, with the few closed cases left out here."""
        if not boxes:
            return []
        params: dict[str, object] = {"since": since}
        for n, box in enumerate(boxes):
            params |= {
                f"c{n}": box.category_code,
                f"s{n}": box.min_lat,
                f"n{n}": box.max_lat,
                f"w{n}": box.min_lon,
                f"e{n}": box.max_lon,
            }
        rows = self.session.execute(_open_in_boxes(len(boxes)), params)
        return [
            (int(i), str(category), float(lat), float(lon), at)
            for i, category, lat, lon, at, status in rows
            if status in OPEN_STATUSES
        ]

    def supported_by(self, username: str, limit: int) -> Sequence[Case]:
        """The cases the account added her voice to (附议), newest first."""
        supported = select(case_reporters.c.case_id).where(
            case_reporters.c.username == username, case_reporters.c.supporter.is_(True)
        )
        stmt = select(Case).where(cases.c.id.in_(supported)).order_by(cases.c.id.desc())
        return self.session.execute(stmt.limit(limit)).scalars().all()

    def get_many(self, ids: Sequence[int]) -> Sequence[Case]:
        if not ids:
            return []
        stmt = select(Case).where(cases.c.id.in_(ids)).order_by(cases.c.id)
        return self.session.execute(stmt).scalars().all()

    def among(self, scope: CaseScope, ids: Sequence[int], f: CaseFilter | None = None) -> set[int]:
        """Which of IDS the SCOPE may see (and, with F, match it)."""
        if not ids:
            return set()
        stmt = self._scoped(select(cases.c.id).where(cases.c.id.in_(list(ids))), scope, f)
        if f is not None:
            stmt = self._filtered(stmt, f)
        return {int(i) for i in self.session.execute(stmt).scalars()}

    def clusters(
        self, scope: CaseScope, f: CaseFilter, frame: Frame, limit: int
    ) -> Sequence[Cluster]:
        """The matching cases inside FRAME counted per cell of its grid: the map of a whole
        queue in one bounded answer, however many cases it holds. A cell's point is the
        mean of its cases'; a cell of one case names it."""
        c = cases.c
        assert f.now is not None
        row_of: Any
        column_of: Any
        if self.session.get_bind().dialect.name == "postgresql":
            row_of = func.floor((c.lat - frame.south) / frame.cell_lat)
            column_of = func.floor((c.lon - frame.west) / frame.cell_lon)
        else:  # SQLite has no floor() unless built with its maths functions
            row_of = cast((c.lat - frame.south) / frame.cell_lat, Integer)
            column_of = cast((c.lon - frame.west) / frame.cell_lon, Integer)
        # Only a running clock has a light: a finished case's old deadline is no alarm.
        running = c.status.in_(list(OPEN_STATUSES))
        red = func.sum(sql_case((and_(running, c.deadline_at <= f.now), 1), else_=0))
        yellow = func.sum(
            sql_case((and_(running, c.warn_at <= f.now, c.deadline_at > f.now), 1), else_=0)
        )
        stmt = select(
            func.count().label("n"),
            func.avg(c.lat).label("lat"),
            func.avg(c.lon).label("lon"),
            red.label("red"),
            yellow.label("yellow"),
            func.min(c.id).label("first"),
            func.max(c.title).label("title"),
            func.max(c.status).label("status"),
        ).where(
            c.lat.between(frame.south, frame.north),
            c.lon.between(frame.west, frame.east),
        )
        stmt = self._filtered(self._scoped(stmt, scope, f), f)
        stmt = stmt.group_by(row_of, column_of).order_by(func.count().desc()).limit(limit)
        found = []
        for row in self.session.execute(stmt):
            light = "red" if row.red else "yellow" if row.yellow else "green"
            if row.status not in OPEN_STATUSES and row.n == 1:
                light = "none"
            one = row.n == 1
            found.append(
                Cluster(
                    count=int(row.n),
                    lat=float(row.lat),
                    lon=float(row.lon),
                    light=light,
                    case_id=int(row.first) if one else None,
                    title=str(row.title) if one else None,
                )
            )
        return found

    def count_in(self, scope: CaseScope, f: CaseFilter, frame: Frame | None = None) -> int:
        """How many matching cases have a point (inside FRAME)."""
        stmt = select(func.count()).select_from(cases).where(cases.c.lat.is_not(None))
        if frame is not None:
            stmt = stmt.where(
                cases.c.lat.between(frame.south, frame.north),
                cases.c.lon.between(frame.west, frame.east),
            )
        stmt = self._filtered(self._scoped(stmt, scope, f), f)
        return int(self.session.execute(stmt).scalar_one())

    def last_moves(self, ids: Sequence[int], actions: Sequence[str]) -> dict[int, Event]:
        """The newest of the timeline rows named ACTIONS of each of the cases IDS."""
        found: dict[int, Event] = {}
        if not ids:
            return found
        stmt = (
            select(Event)
            .where(
                events.c.kind == CASE_KIND,
                events.c.record_id.in_(list(ids)),
                events.c.action.in_(list(actions)),
            )
            .order_by(events.c.id)
        )
        for event in self.session.execute(stmt).scalars():
            found[int(event.record_id or 0)] = event
        return found

    def rows_for_export(self, scope: CaseScope, f: CaseFilter, cap: int) -> Sequence[Any]:
        """The matching cases' columns a list shows (not the ORM objects: an export may
        hold a hundred thousand), by deadline as the queue orders them, at most CAP."""
        c = cases.c
        stmt: Select[Any] = select(
            c.id,
            c.title,
            c.description,
            c.category_code,
            c.status,
            c.priority,
            c.channel,
            c.grid_code,
            c.address,
            c.lat,
            c.lon,
            c.department_code,
            c.suggested_department_code,
            c.created_at,
            c.deadline_at,
            c.warn_at,
            c.supporters,
            c.reporter_hidden,
        )
        stmt = self._filtered(self._scoped(stmt, scope, f), f)
        stmt = stmt.order_by(c.deadline_at.asc().nulls_last(), c.id).limit(cap)
        return self.session.execute(stmt).all()

    def first_reporters(self, ids: Sequence[int]) -> dict[int, Reporter]:
        """Each case's first reporter (not one who only added her voice)."""
        found: dict[int, Reporter] = {}
        for first in range(0, len(ids), 1000):
            chunk = list(ids[first : first + 1000])
            stmt = (
                select(Reporter)
                .where(case_reporters.c.case_id.in_(chunk), case_reporters.c.supporter.is_(False))
                .order_by(case_reporters.c.id)
            )
            for reporter in self.session.execute(stmt).scalars():
                found.setdefault(int(reporter.case_id or 0), reporter)
        return found


class AttachmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, attachment: Attachment) -> None:
        self.session.add(attachment)

    def add_all(self, items: Sequence[Attachment]) -> None:
        self.session.add_all(list(items))

    def get(self, attachment_id: str) -> Attachment | None:
        return self.session.get(Attachment, attachment_id)

    def attach(self, attachment_ids: Sequence[str], case_id: int) -> None:
        for attachment_id in attachment_ids:
            attachment = self.get(attachment_id)
            if attachment is not None and attachment.case_id is None:
                attachment.case_id = case_id


@dataclass(frozen=True)
class Frame:
    """A stretch of map cut into cells (degrees of latitude and longitude)."""

    south: float
    west: float
    north: float
    east: float
    cell_lat: float
    cell_lon: float


@dataclass(frozen=True)
class Cluster:
    """The matching cases of one cell of a Frame: how many, where on average, the worst
    deadline light among them, and the case itself when it is alone."""

    count: int
    lat: float
    lon: float
    light: str
    case_id: int | None = None
    title: str | None = None


@dataclass(frozen=True)
class Box:
    category_code: str
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


@functools.lru_cache(maxsize=256)
def _open_in_boxes(count: int) -> Select[Any]:
    """The statement for COUNT boxes, built once per count (building it is most of the cost
    of a small query)."""
    c = cases.c
    return select(c.id, c.category_code, c.lat, c.lon, c.created_at, c.status).where(
        c.created_at >= bindparam("since"),
        or_(
            *(
                and_(
                    c.category_code == bindparam(f"c{n}"),
                    c.lat.between(bindparam(f"s{n}"), bindparam(f"n{n}")),
                    c.lon.between(bindparam(f"w{n}"), bindparam(f"e{n}")),
                )
                for n in range(count)
            )
        ),
    )
