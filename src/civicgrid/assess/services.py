"""Assessment services: keeping the facts, the rulebook and its versions, rankings and
their cases, frozen months, appeals, reports, threshold alerts, and the command centre.
Each action carries its permission rule beside it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.orm import Session

from civicgrid.areas import services as areas
from civicgrid.areas.domain import Level
from civicgrid.assess import engines
from civicgrid.assess.domain import (
    APPEAL,
    APPELLANTS,
    AREA_OBJECTS,
    ASSESSORS,
    MONTH_RECORD,
    Alert,
    AlertFiring,
    AlertWindow,
    Appeal,
    AppealState,
    AssessmentMonth,
    CaseFacts,
    Decision,
    Indicator,
    MonthState,
    ObjectScore,
    ObjectType,
    Scheme,
    TimelineRow,
    Window,
    check_alert,
    check_appeal_window,
    current_month,
    derive_fact,
    month_has_ended,
    month_window,
    parse_indicator,
    parse_scheme,
    previous_month,
    rank,
    score_object,
    week_window,
)
from civicgrid.assess.engines import LIVE, Scope, facts_to_arrow
from civicgrid.assess.ports import AssessPorts
from civicgrid.assess.repository import (
    AlertRepository,
    AppealRepository,
    FactRepository,
    MonthRepository,
    RulebookRepository,
    Version,
    facts,
)
from civicgrid.cases import views as case_views
from civicgrid.cases.views import case_event_rows, case_rows
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from civicgrid.core.i18n import N_, Locale, translate
from civicgrid.core.jobs import PeriodicJob, exclusive
from civicgrid.core.outbox import Outbox, messages_to
from civicgrid.core.permissions import SYSTEM, Actor, Role, permission
from civicgrid.core.workflow import Context, EventLog, change_event
from civicgrid.insight import views as insight_views

READERS = frozenset({Role.ADMIN, Role.DATA_ADMIN, Role.LEADER, Role.CADRE, Role.HANDLER})
EDITORS = frozenset({Role.ADMIN, Role.DATA_ADMIN})
COMMAND_VIEWERS = frozenset({Role.ADMIN, Role.DATA_ADMIN, Role.LEADER, Role.CADRE, Role.DISPATCHER})
ALERT_EDITORS = frozenset({Role.ADMIN, Role.DATA_ADMIN, Role.LEADER, Role.CADRE})
RULEBOOK_KIND = "assess_rulebook"
APPEAL_NOTICES = {
    "accept": N_("assess.notice.appeal_accepted"),
    "reject": N_("assess.notice.appeal_rejected"),
}
CHUNK = 500

# ------------------------------------------------------------------ the rulebook


@cache
def _preset_text() -> str:
    return (resources.files("civicgrid.assess") / "data" / "presets.json").read_text("utf-8")


def presets() -> dict[str, dict[str, dict[str, Any]]]:
    """The shipped definitions: kind → code → definition (CJ/T 292 positions and regions,
    the department set, 12345's three rates)."""
    raw = json.loads(_preset_text())
    return {
        "indicator": {d["code"]: d for d in raw["indicators"]},
        "scheme": {d["code"]: d for d in raw["schemes"]},
    }


@dataclass
class Rulebook:
    """The indicators and schemes of one version (0: the presets as shipped)."""

    version: int
    indicators: dict[str, Indicator]
    schemes: dict[str, Scheme]

    def scheme(self, code: str) -> Scheme:
        found = self.schemes.get(code)
        if found is None:
            raise InvalidInput("assess_unknown_scheme", field="scheme", code=code or "-")
        return found

    def indicator(self, code: str) -> Indicator:
        found = self.indicators.get(code)
        if found is None:
            raise NotFound("assess_unknown_indicator", field="indicator", code=code or "-")
        return found

    def schemes_for(self, object_type: ObjectType) -> list[Scheme]:
        return [s for s in self.schemes.values() if s.object_type is object_type]


def _parse_book(version: int, raw: dict[str, dict[str, dict[str, Any]]]) -> Rulebook:
    indicators = {code: parse_indicator(d, code) for code, d in raw["indicator"].items()}
    schemes = {code: parse_scheme(d, indicators, code) for code, d in raw["scheme"].items()}
    return Rulebook(version, indicators, schemes)


_books: dict[tuple[str, int], Rulebook] = {}


def rulebook(session: Session, version: int | None = None) -> Rulebook:
    """The rulebook of VERSION (None: the one in force)."""
    repo = RulebookRepository(session)
    current = repo.current_version()
    version = current if version is None else version
    key = (str(session.get_bind().engine.url), version)
    found = _books.get(key)
    if found is None:
        raw = repo.definitions(version) if version else presets()
        found = _parse_book(version, raw)
        if len(_books) > 200:
            _books.clear()
        _books[key] = found
    return found


@permission(READERS | EDITORS | COMMAND_VIEWERS, "Read the indicators and schemes in force")
def read_rulebook(uow: UnitOfWork, actor: Actor, version: int | None = None) -> Rulebook:
    """Every indicator and composite score of the rulebook in force (or of VERSION)."""
    if (
        version is not None
        and not 0 <= version <= RulebookRepository(uow.session).current_version()
    ):
        raise NotFound("assess_unknown_version", field="version", version=version)
    return rulebook(uow.session, version)


@permission(READERS | EDITORS, "Read the versions of the rulebook")
def rulebook_versions(uow: UnitOfWork, actor: Actor) -> list[Version]:
    """Every version of the rulebook, newest first: who, when, why, what changed."""
    return RulebookRepository(uow.session).versions()


@permission(READERS | EDITORS, "Read the earlier definitions of an indicator or scheme")
def definition_history(
    uow: UnitOfWork, actor: Actor, kind: str, code: str
) -> list[tuple[int, int | None, dict[str, Any]]]:
    """(from version, to version or None, definition) of one indicator or scheme."""
    found = RulebookRepository(uow.session).history(kind, code)
    if not found and code in presets()[kind]:
        return [(0, None, presets()[kind][code])]
    return found


def _change(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    kind: str,
    code: str,
    definition: dict[str, Any],
    reason: str,
) -> int:
    if not reason.strip():
        raise InvalidInput("assess_reason_required", field="reason")
    repo = RulebookRepository(uow.session)
    current = repo.current_version()
    before = (repo.definitions(current) if current else presets())[kind].get(code)
    if before == definition:
        raise InvalidInput("assess_nothing_changed", field=kind)
    lines: list[tuple[str, str, dict[str, Any]]] = []
    if current == 0:
        # The first change writes the presets down as they were, beside the change.
        shipped = presets()
        lines = [
            (k, c, d)
            for k in ("indicator", "scheme")
            for c, d in shipped[k].items()
            if (k, c) != (kind, code)
        ]
    lines.append((kind, code, definition))
    version = repo.new_version(actor.name, now, reason.strip(), {kind: code}, lines)
    EventLog(uow.session).add(
        change_event(
            RULEBOOK_KIND,
            version,
            actor,
            now,
            {code: (before, definition)},
            note=reason.strip(),
            data={"kind": kind, "code": code},
        )
    )
    return version


@permission(EDITORS, "Change an indicator (a new version of the rulebook)")
def change_indicator(
    uow: UnitOfWork, actor: Actor, ports: AssessPorts, code: str, raw: dict[str, Any], reason: str
) -> int:
    """Store a new definition of indicator CODE (added when new) as a new version of the
    rulebook, after checking it and every scheme that uses it; returns the version."""
    book = rulebook(uow.session)
    indicator = parse_indicator(raw, code)
    indicators = {**book.indicators, code: indicator}
    for scheme in book.schemes.values():
        parse_scheme(scheme.as_dict(), indicators, scheme.code)
    version = _change(uow, actor, ports.clock(), "indicator", code, indicator.as_dict(), reason)
    uow.commit()
    return version


@permission(EDITORS, "Change a composite score (a new version of the rulebook)")
def change_scheme(
    uow: UnitOfWork, actor: Actor, ports: AssessPorts, code: str, raw: dict[str, Any], reason: str
) -> int:
    """Store a new definition of scheme CODE — its indicators, weights (100 % in all),
    scoring rules and grade bands — as a new version of the rulebook."""
    book = rulebook(uow.session)
    scheme = parse_scheme(raw, book.indicators, code)
    version = _change(uow, actor, ports.clock(), "scheme", code, scheme.as_dict(), reason)
    uow.commit()
    return version


# ------------------------------------------------------------------ the facts


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterable[list[int]]:
    for first in range(0, len(items), size):
        yield list(items[first : first + size])


def derive_facts(
    session: Session, case_ids: Sequence[int], *, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """The fact rows of CASE_IDS from their timelines (as of AS_OF), with the reply quality
    insight gives each closed case."""
    groups = {c.code: c.parent_code or c.code for c in case_views.taxonomy(session)}
    found: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(case_ids)):
        rows = session.execute(
            select(
                case_rows.c.id,
                case_rows.c.channel,
                case_rows.c.category_code,
                case_rows.c.area_path,
                case_rows.c.grid_code,
                case_rows.c.created_at,
                case_rows.c.status,
            ).where(case_rows.c.id.in_(chunk))
        ).all()
        timelines: dict[int, list[TimelineRow]] = {}
        for event in session.execute(
            select(
                case_event_rows.c.case_id,
                case_event_rows.c.action,
                case_event_rows.c.actor_name,
                case_event_rows.c.actor_role,
                case_event_rows.c.from_status,
                case_event_rows.c.to_status,
                case_event_rows.c.at,
                case_event_rows.c.data,
            )
            .where(case_event_rows.c.case_id.in_(chunk))
            .order_by(case_event_rows.c.case_id, case_event_rows.c.id)
        ):
            timelines.setdefault(int(event.case_id), []).append(
                TimelineRow(
                    event.action,
                    event.actor_name,
                    event.actor_role,
                    event.from_status,
                    event.to_status,
                    event.at,
                    event.data or {},
                )
            )
        closed = [r.id for r in rows if str(r.status) == "closed"]
        if as_of is None:
            quality = insight_views.reply_quality(session, closed) if closed else {}
        else:  # a month's snapshot takes the scores its cases' answers already have
            quality = dict(
                session.execute(
                    select(facts.c.case_id, facts.c.reply_quality).where(
                        facts.c.snapshot == LIVE, facts.c.case_id.in_(chunk)
                    )
                ).all()
            )
        for row in rows:
            facts_of = CaseFacts(
                id=row.id,
                channel=str(row.channel),
                category_code=row.category_code,
                group_code=groups.get(row.category_code, row.category_code),
                area_path=row.area_path,
                grid_code=row.grid_code,
                created_at=row.created_at,
            )
            if as_of is not None and row.created_at >= as_of:
                continue
            found.append(
                derive_fact(
                    facts_of,
                    timelines.get(row.id, []),
                    as_of=as_of,
                    reply_quality=quality.get(row.id),
                )
            )
    return found


@dataclass
class FactsReport:
    cases: int
    events_to: int
    seconds: float

    def __str__(self) -> str:
        if not self.cases:
            return ""
        return (
            f"{self.cases} cases' facts refreshed up to event {self.events_to} "
            f"in {self.seconds:.1f} s"
        )


ADMIN_ROLES = frozenset({Role.ADMIN, Role.DATA_ADMIN})


@permission(ADMIN_ROLES, "Bring the fact table up to date with the timelines")
def refresh_facts(
    uow: UnitOfWork, actor: Actor, ports: AssessPorts, *, rebuild: bool = False
) -> FactsReport:
    """Derive again the facts of every case whose timeline grew since the last refresh
    (every case with REBUILD), then bring the columnar snapshot up to date."""
    started = time.monotonic()
    session = uow.session
    repo = FactRepository(session)
    kept: list[str] = []
    if rebuild:
        kept = list(
            session.execute(select(facts.c.snapshot).where(facts.c.snapshot != LIVE).distinct())
            .scalars()
            .all()
        )
        repo.clear()
    done = repo.watermark("events")
    newest = int(session.execute(select(func.max(case_event_rows.c.id))).scalar() or 0)
    changed: list[int] = []
    if newest > done:
        changed = [
            int(x)
            for x in session.execute(
                select(case_event_rows.c.case_id)
                .where(case_event_rows.c.id > done, case_event_rows.c.id <= newest)
                .distinct()
            ).scalars()
        ]
        seq = repo.next_seq()
        for chunk in _chunks(changed):
            repo.replace(LIVE, derive_facts(session, chunk), seq)
        repo.set_watermark("events", newest)
    for label in kept:  # frozen months are derived again, as of their end, after the live rows
        window = month_window(label, ports.clock(), ports.timezone)
        _write_frozen_facts(session, repo, window, repo.next_seq())
    repo.generation()
    uow.commit()
    sync_snapshot(uow, ports)
    return FactsReport(len(changed), newest, time.monotonic() - started)


def sync_snapshot(uow: UnitOfWork, ports: AssessPorts) -> int:
    """Copy the fact rows written since the DuckDB snapshot last looked (all of them when
    the fact table was rebuilt since); returns how many."""
    if ports.engine != "duckdb":
        return 0
    session = uow.session
    repo = FactRepository(session)
    generation = repo.generation()
    uow.commit()
    duck = ports.snapshot()
    known, seq = duck.state()
    reset = known != generation
    since = 0 if reset else seq
    newest = int(session.execute(select(func.max(facts.c.refreshed_seq))).scalar() or 0)
    if not reset and newest <= since:
        return 0
    copied = 0
    stmt = (
        select(facts)
        .where(facts.c.refreshed_seq > since)
        .order_by(facts.c.refreshed_seq, facts.c.snapshot, facts.c.case_id)
        .execution_options(yield_per=50_000)
    )
    first = True
    for part in session.execute(stmt).partitions():
        rows = [dict(r._mapping) for r in part]
        duck.apply(generation, newest, facts_to_arrow(rows), reset=reset and first)
        first = False
        copied += len(rows)
    if first:
        duck.apply(generation, newest, facts_to_arrow([]), reset=reset)
    return copied


@permission(ADMIN_ROLES, "Write the fact table as Parquet files (for Spark)")
def export_facts(uow: UnitOfWork, actor: Actor, folder: Path) -> int:
    """Every fact row (live and frozen months) as Parquet files in FOLDER, a file per
    100,000 rows; returns how many rows."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("facts-*.parquet"):
        old.unlink()
    stmt = select(facts).order_by(facts.c.snapshot, facts.c.case_id)
    written = 0
    result = uow.session.execute(stmt.execution_options(yield_per=100_000))
    for number, part in enumerate(result.partitions()):
        rows = [dict(r._mapping) for r in part]
        pq.write_table(facts_to_arrow(rows), folder / f"facts-{number:05d}.parquet")
        written += len(rows)
    return written


def refresh_job(ports: AssessPorts, every: timedelta) -> PeriodicJob:
    """The facts follow the timelines within EVERY (the command centre's KPI tiles too)."""

    def run(uow: UnitOfWork) -> str:
        return str(refresh_facts(uow, SYSTEM, ports))

    return PeriodicJob("assess.facts", every, run)


@dataclass
class FactsStatus:
    live_rows: int
    events_to: int
    events_newest: int
    engine: str


@permission(READERS | EDITORS, "How far the facts have followed the timelines")
def facts_status(uow: UnitOfWork, actor: Actor, ports: AssessPorts) -> FactsStatus:
    """How many live fact rows there are and up to which event they are derived."""
    repo = FactRepository(uow.session)
    newest = int(uow.session.execute(select(func.max(case_event_rows.c.id))).scalar() or 0)
    return FactsStatus(repo.count(LIVE), repo.watermark("events"), newest, ports.engine)


# ------------------------------------------------------------------ computing a month


@dataclass
class Ranking:
    """One scheme's ranking of one month, for the caller's area."""

    month: str
    window: Window
    scheme: Scheme
    indicators: dict[str, Indicator]
    version: int
    revision: int
    state: MonthState
    rows: list[ObjectScore]
    names: dict[str, str]
    engine: str
    scope: str | None
    percentiles: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def name_of(self, code: str) -> str:
        return self.names.get(code, code)


def _excluded(session: Session, month: str) -> dict[str | None, list[int]]:
    found: dict[str | None, list[int]] = {}
    for appeal in AppealRepository(session).accepted(month):
        found.setdefault(appeal.indicator, []).append(appeal.case_id)
    return found


@dataclass(frozen=True)
class MonthBasis:
    """What a month is computed from: its snapshot, version and appeals."""

    window: Window
    snapshot: str
    version: int
    revision: int
    state: MonthState
    excluded: dict[str | None, list[int]]


def month_basis(session: Session, ports: AssessPorts, month: str) -> MonthBasis:
    window = month_window(month, ports.clock(), ports.timezone)
    record = MonthRepository(session).get(window.label)
    if record is not None and record.state is MonthState.FROZEN:
        return MonthBasis(
            window,
            window.label,
            record.version or 0,
            record.revision,
            record.state,
            _excluded(session, window.label),
        )
    return MonthBasis(
        window,
        LIVE,
        RulebookRepository(session).current_version(),
        0,
        MonthState.OPEN,
        {},
    )


_names: dict[str, tuple[float, dict[str, str]]] = {}
_names_lock = threading.Lock()


def object_names(uow: UnitOfWork, object_type: ObjectType) -> dict[str, str]:
    """Names of areas and units (public); people are shown by their account name."""
    key = f"{uow.session.get_bind().engine.url}:{object_type.value}"
    with _names_lock:
        kept = _names.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
    names: dict[str, str] = {}
    if object_type is ObjectType.UNIT:
        names = {d.code: d.name for d in areas.list_departments(uow, SYSTEM)}
    elif object_type in AREA_OBJECTS:
        names = {
            a.code: a.name for a in areas.list_areas(uow, SYSTEM, level=Level(object_type.value))
        }
    with _names_lock:
        _names[key] = (time.monotonic() + 60, names)
    return names


def compute(
    uow: UnitOfWork,
    ports: AssessPorts,
    basis: MonthBasis,
    scheme: Scheme,
    book: Rulebook,
    scope_path: str | None,
) -> list[ObjectScore]:
    indicators = [book.indicators[i.indicator] for i in scheme.items]
    scope = Scope(basis.snapshot, basis.window, scope_path, basis.excluded)
    found = engines.counts(ports.engine_named(), indicators, scheme.object_type, scope)
    scores = [score_object(scheme, book.indicators, c, code) for code, c in found.items()]
    return rank(scores)


def _ranking(
    uow: UnitOfWork, actor: Actor, ports: AssessPorts, month: str, scheme_code: str
) -> Ranking:
    session = uow.session
    sync_snapshot(uow, ports)
    basis = month_basis(session, ports, month)
    book = rulebook(session, basis.version)
    scheme = book.scheme(scheme_code)
    rows = compute(uow, ports, basis, scheme, book, actor.scope_path)
    try:
        earlier = month_basis(session, ports, previous_month(basis.window.label))
        before_book = rulebook(session, earlier.version)
        before_scheme = before_book.schemes.get(scheme_code)
        if before_scheme is not None:
            before = {
                s.object_code: s
                for s in compute(uow, ports, earlier, before_scheme, before_book, actor.scope_path)
            }
            for row in rows:
                if row.object_code in before:
                    row.previous_rank = before[row.object_code].rank
                    row.previous_score = before[row.object_code].score
    except InvalidInput:
        pass
    return Ranking(
        basis.window.label,
        basis.window,
        scheme,
        book.indicators,
        basis.version,
        basis.revision,
        basis.state,
        rows,
        object_names(uow, scheme.object_type),
        ports.engine,
        actor.scope_path,
    )


@permission(READERS, "Rank the objects of one's area by a scheme for a month")
def rankings(uow: UnitOfWork, actor: Actor, ports: AssessPorts, month: str, scheme: str) -> Ranking:
    """SCHEME's ranking of MONTH (YYYY-MM; the current month is month to date) over the
    cases of the caller's area: each object's figures, score, grade, rank and how its rank
    moved since the month before; a frozen month is computed from its month-end snapshot
    with its rulebook version and accepted appeals."""
    return _ranking(uow, actor, ports, month, scheme)


@dataclass
class CaseLine:
    id: int
    title: str
    status: str
    category_code: str
    grid_code: str
    created_at: datetime


@permission(READERS, "The cases behind one figure of a ranking")
def figure_cases(
    uow: UnitOfWork,
    actor: Actor,
    ports: AssessPorts,
    month: str,
    indicator: str,
    object_type: str,
    object_code: str,
    part: str = "denominator",
) -> list[CaseLine]:
    """The cases counted in one object's numerator or denominator of one indicator in
    MONTH, in the caller's area: the same expression as the figure, filtered to it."""
    session = uow.session
    if part not in ("numerator", "denominator"):
        raise InvalidInput("assess_bad_part", field="part", part=part)
    try:
        kind = ObjectType(object_type)
    except ValueError:
        raise InvalidInput(
            "assess_unknown_object",
            field="object",
            value=object_type,
            known=", ".join(o.value for o in ObjectType),
        ) from None
    sync_snapshot(uow, ports)
    basis = month_basis(session, ports, month)
    definition = rulebook(session, basis.version).indicator(indicator)
    if kind not in definition.objects:
        raise InvalidInput(
            "assess_indicator_not_for_object", field="object", code=indicator, object=kind.value
        )
    scope = Scope(basis.snapshot, basis.window, actor.scope_path, basis.excluded)
    ids = engines.drill(ports.engine_named(), definition, kind, object_code, scope, part)
    lines: list[CaseLine] = []
    for chunk in _chunks(ids):
        for row in session.execute(
            select(
                case_rows.c.id,
                case_rows.c.title,
                case_rows.c.status,
                case_rows.c.category_code,
                case_rows.c.grid_code,
                case_rows.c.created_at,
            )
            .where(case_rows.c.id.in_(chunk))
            .order_by(case_rows.c.id)
        ):
            lines.append(
                CaseLine(
                    row.id,
                    row.title,
                    str(row.status),
                    row.category_code,
                    row.grid_code,
                    row.created_at,
                )
            )
    return lines


# ------------------------------------------------------------------ freezing a month


def _candidates(session: Session, window: Window) -> list[int]:
    """Cases a month's snapshot holds: reported in it, closed in it, or open at its end."""
    stmt = select(case_rows.c.id).where(
        case_rows.c.created_at < window.end,
        (case_rows.c.created_at >= window.start)
        | case_rows.c.closed_at.is_(None)
        | (case_rows.c.closed_at >= window.start),
    )
    return [int(x) for x in session.execute(stmt).scalars()]


def _write_frozen_facts(session: Session, repo: FactRepository, window: Window, seq: int) -> int:
    ids = _candidates(session, window)
    for chunk in _chunks(ids):
        repo.replace(window.label, derive_facts(session, chunk, as_of=window.end), seq)
    return len(ids)


def _store_results(
    uow: UnitOfWork, ports: AssessPorts, basis: MonthBasis, revision: int
) -> dict[str, dict[str, float]]:
    """Compute every scheme city-wide and store the results as REVISION; returns scheme →
    object → score, for the log."""
    book = rulebook(uow.session, basis.version)
    rows = []
    scores: dict[str, dict[str, float]] = {}
    schemes = list(book.schemes.values())
    jobs = [([book.indicators[i.indicator] for i in s.items], s.object_type) for s in schemes]
    scope = Scope(basis.snapshot, basis.window, None, basis.excluded)
    counted = engines.counts_many(ports.engine_named(), jobs, scope)
    for scheme, found in zip(schemes, counted, strict=True):
        ranked = rank([score_object(scheme, book.indicators, c, code) for code, c in found.items()])
        scores[scheme.code] = {r.object_code: r.score for r in ranked}
        for r in ranked:
            rows.append(
                {
                    "scheme": scheme.code,
                    "object_type": scheme.object_type,
                    "object_code": r.object_code,
                    "score": r.score,
                    "grade": r.grade,
                    "rank": r.rank,
                    "figures": {
                        code: [f.numerator, f.denominator, f.rate, f.points]
                        for code, f in r.figures.items()
                    },
                }
            )
    MonthRepository(uow.session).write_results(basis.window.label, revision, rows)
    return scores


@permission(ASSESSORS, "Freeze a month's assessment after its end")
def freeze_month(uow: UnitOfWork, actor: Actor, ports: AssessPorts, month: str) -> AssessmentMonth:
    """Take MONTH's facts as they stood at its end (from the timelines), compute every
    scheme with the rulebook in force, store the results and open the appeal window."""
    session = uow.session
    now = ports.clock()
    window = month_window(month, now, ports.timezone)
    if not month_has_ended(window, now):
        raise Conflict("assess_month_not_over", month=window.label)
    repo = MonthRepository(session)
    record = repo.get(window.label)
    if record is None or record.state is not MonthState.FROZEN:
        # The month's rows take their cases' reply quality from the live rows: bring them up
        # to date with the timelines first (unless a refresh is running elsewhere just now).
        with exclusive(session.get_bind().engine, "assess.facts") as mine:
            if mine:
                refresh_facts(uow, SYSTEM, ports)
        record = repo.get(window.label)
    if record is None:
        record = AssessmentMonth(window.label, updated_at=now)
        repo.add(record)
    facts_repo = FactRepository(session)

    def effect() -> dict[str, Any]:
        count = _write_frozen_facts(session, facts_repo, window, facts_repo.next_seq())
        record.version = RulebookRepository(session).current_version()
        record.frozen_at = now
        record.appeal_until = now + timedelta(days=ports.appeal_days)
        record.revision = 1
        return {"cases": count, "version": record.version}

    event = MONTH_RECORD.apply(record, "freeze", Context(actor, now), effect)
    event.record_id = record.id
    EventLog(session).add(event)
    uow.commit()
    sync_snapshot(uow, ports)
    _store_results(uow, ports, month_basis(session, ports, window.label), 1)
    uow.commit()
    return record


@permission(READERS, "The state of a month: open or frozen, version, revision, appeals")
def month_record(uow: UnitOfWork, actor: Actor, ports: AssessPorts, month: str) -> AssessmentMonth:
    """The month's record (an open one when never frozen)."""
    window = month_window(month, ports.clock(), ports.timezone)
    return MonthRepository(uow.session).get(window.label) or AssessmentMonth(window.label)


@permission(READERS, "A month's history: frozen, recomputed after appeals")
def month_history(uow: UnitOfWork, actor: Actor, ports: AssessPorts, month: str) -> list[Any]:
    record = MonthRepository(uow.session).get(
        month_window(month, ports.clock(), ports.timezone).label
    )
    return (
        list(EventLog(uow.session).of(MONTH_RECORD.name, record.id)) if record and record.id else []
    )


@permission(READERS, "The stored results of a frozen month")
def stored_results(
    uow: UnitOfWork, actor: Actor, ports: AssessPorts, month: str, scheme: str
) -> list[dict[str, Any]]:
    """The official city-wide results of a frozen month's latest revision."""
    record = month_record(uow, actor, ports, month)
    if record.state is not MonthState.FROZEN:
        raise Conflict("assess_month_not_frozen", month=record.month)
    return MonthRepository(uow.session).results(record.month, record.revision, scheme)


# ------------------------------------------------------------------ appeals


def _appellant_object(
    actor: Actor, fact: dict[str, Any], object_type: str | None
) -> tuple[ObjectType, str]:
    if actor.role is Role.HANDLER:
        unit = actor.department_code
        if not unit or fact.get("department_code") != unit:
            raise InvalidInput("assess_case_not_yours", field="case_id", id=fact["case_id"])
        return ObjectType.UNIT, unit
    if actor.role is Role.CADRE:
        if not actor.covers(fact["area_path"]):
            raise Forbidden("forbidden_area", code=fact["grid_code"])
        level = (actor.area_path or "").strip("/").count("/") + 1
        kinds = {
            2: ObjectType.DISTRICT,
            3: ObjectType.STREET,
            4: ObjectType.COMMUNITY,
            5: ObjectType.GRID,
        }
        kind = kinds.get(level, ObjectType.DISTRICT)
        return kind, str(actor.area_code)
    try:
        kind = ObjectType(object_type or ObjectType.UNIT.value)
    except ValueError:
        raise InvalidInput(
            "assess_unknown_object",
            field="object",
            value=object_type,
            known=", ".join(o.value for o in ObjectType),
        ) from None
    from civicgrid.assess.domain import OBJECT_KEYS

    code = fact.get(OBJECT_KEYS[kind])
    if not code:
        raise InvalidInput("assess_case_not_yours", field="case_id", id=fact["case_id"])
    return kind, str(code)


@permission(APPELLANTS, "Appeal a case's counting in a frozen month")
def file_appeal(
    uow: UnitOfWork,
    actor: Actor,
    ports: AssessPorts,
    month: str,
    case_id: int,
    reason: str,
    indicator: str | None = None,
    object_type: str | None = None,
) -> Appeal:
    """A unit (its handler), a cadre (for her area) or an administrator asks that case
    CASE_ID not count in MONTH (for INDICATOR, or every indicator), with the REASON; the
    assessors are told. Only within the month's appeal window."""
    session = uow.session
    now = ports.clock()
    if not reason.strip():
        raise InvalidInput("assess_reason_required", field="reason")
    window = month_window(month, now, ports.timezone)
    record = MonthRepository(session).get(window.label)
    if record is None:
        raise Conflict("assess_month_not_frozen", month=window.label)
    check_appeal_window(record, now)
    fact = FactRepository(session).of_case(window.label, case_id)
    if fact is None:
        raise InvalidInput(
            "assess_case_not_counted", field="case_id", id=case_id, month=window.label
        )
    if indicator:
        rulebook(session, record.version).indicator(indicator)
    kind, code = _appellant_object(actor, fact, object_type)
    repo = AppealRepository(session)
    if repo.pending_for(window.label, case_id, indicator or None) is not None:
        raise Conflict("assess_appeal_exists", id=case_id, month=window.label)
    appeal = Appeal(
        month=window.label,
        case_id=case_id,
        object_type=kind,
        object_code=code,
        reason=reason.strip(),
        filed_by=actor.name,
        filed_at=now,
        area_path=str(fact["area_path"]),
        indicator=indicator or None,
        updated_at=now,
    )
    APPEAL.restart_clock(appeal, now)
    repo.add(appeal)
    EventLog(session).add(
        APPEAL.event(appeal, "file", actor, now, from_state=None, note=appeal.reason)
    )
    assessors = ports.directory.area_staff(session, appeal.area_path, ASSESSORS)
    body = translate(
        "assess.notice.appeal_filed",
        ports.locale,
        {
            "id": appeal.id,
            "month": appeal.month,
            "case": case_id,
            "who": actor.name,
            "reason": appeal.reason,
        },
    )
    Outbox(session).add(messages_to(assessors, APPEAL.name, appeal.id or 0, body, now))
    uow.commit()
    return appeal


@dataclass
class AppealOutcome:
    appeal: Appeal
    revision: int | None  # the month's new revision when the appeal was accepted
    changes: list[dict[str, Any]]


@permission(ASSESSORS, "Accept or reject an appeal (an accepted one recomputes its month)")
def decide_appeal(
    uow: UnitOfWork,
    actor: Actor,
    ports: AssessPorts,
    appeal_id: int,
    accept: bool,
    note: str,
) -> AppealOutcome:
    """Decide appeal APPEAL_ID with a NOTE. Accepted, its case stops counting that month
    and the month is computed again as a new revision; the recomputation and every score
    it changed are written to the month's history. The appellant's unit is told."""
    session = uow.session
    now = ports.clock()
    appeal = AppealRepository(session).get(appeal_id)
    if appeal is None:
        raise NotFound("assess_appeal_not_found", id=appeal_id)
    action = "accept" if accept else "reject"

    def effect() -> dict[str, Any]:
        appeal.decided_by = actor.name
        appeal.decision_note = note.strip()
        return {"case": appeal.case_id, "month": appeal.month}

    event = APPEAL.apply(
        appeal,
        action,
        Context(actor, now),
        effect,
        command=Decision(note.strip()),
        note=note.strip(),
    )
    EventLog(session).add(event)
    revision = None
    changes: list[dict[str, Any]] = []
    if accept:
        session.flush()
        record = MonthRepository(session).get(appeal.month)
        assert record is not None
        before = month_basis(session, ports, appeal.month)
        old = {
            s.code: {
                r.object_code: r.score
                for r in compute(uow, ports, before, s, rulebook(session, before.version), None)
            }
            for s in rulebook(session, before.version).schemes.values()
        }
        revision = record.revision + 1

        def recompute() -> dict[str, Any]:
            record.revision = revision
            return {"appeal": appeal.id, "case": appeal.case_id, "revision": revision}

        month_event = MONTH_RECORD.apply(
            record, "recompute", Context(actor, now), recompute, note=note.strip()
        )
        new = _store_results(uow, ports, month_basis(session, ports, appeal.month), revision)
        for scheme, scores in new.items():
            for code, score in scores.items():
                was = old.get(scheme, {}).get(code)
                if was != score:
                    changes.append(
                        {"scheme": scheme, "object": code, "before": was, "after": score}
                    )
        month_event.data["changes"] = changes[:200]
        EventLog(session).add(month_event)
    if appeal.object_type is ObjectType.UNIT:
        staff = ports.directory.unit_staff(session, appeal.object_code)
        body = translate(
            APPEAL_NOTICES[action],
            ports.locale,
            {
                "id": appeal.id,
                "month": appeal.month,
                "case": appeal.case_id,
                "note": appeal.decision_note,
            },
        )
        Outbox(session).add(messages_to(staff, APPEAL.name, appeal.id or 0, body, now))
    uow.commit()
    return AppealOutcome(appeal, revision, changes)


@permission(APPELLANTS | READERS, "List the appeals of one's area or unit")
def list_appeals(
    uow: UnitOfWork,
    actor: Actor,
    month: str | None = None,
    state: str | None = None,
) -> list[Appeal]:
    """Appeals, newest first: a unit's own, or those of the caller's area."""
    try:
        chosen = AppealState(state) if state else None
    except ValueError:
        raise InvalidInput(
            "assess_unknown_state", field="state", value=state, known=", ".join(AppealState)
        ) from None
    if actor.role is Role.HANDLER:
        return AppealRepository(uow.session).listing(
            month=month, state=chosen, object_code=actor.department_code or "-"
        )
    return AppealRepository(uow.session).listing(
        month=month, state=chosen, area_path=actor.scope_path
    )


@permission(APPELLANTS | READERS, "An appeal's history")
def appeal_history(uow: UnitOfWork, actor: Actor, appeal_id: int) -> list[Any]:
    appeal = AppealRepository(uow.session).get(appeal_id)
    if appeal is None or not actor.covers(appeal.area_path):
        raise NotFound("assess_appeal_not_found", id=appeal_id)
    return list(EventLog(uow.session).of(APPEAL.name, appeal_id))


# ------------------------------------------------------------------ reports


@dataclass
class Report:
    filename: str
    media_type: str
    content: bytes


REPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _area(uow: UnitOfWork, actor: Actor, code: str) -> tuple[str, str, str]:
    found = [a for a in areas.list_areas(uow, SYSTEM, q=code, limit=20) if a.code == code]
    if not found:
        raise InvalidInput("assess_unknown_area", field="area", code=code or "-")
    area = found[0]
    if not actor.covers(area.path):
        raise Forbidden("forbidden_area", code=code)
    return area.code, area.name, area.path


@permission(READERS, "An area's monthly report as Excel or PDF")
def monthly_report(
    uow: UnitOfWork,
    actor: Actor,
    ports: AssessPorts,
    area: str,
    month: str,
    fmt: str,
    locale: Locale = "zh",
) -> Report:
    """Every scheme's ranking of MONTH over the cases of AREA: Excel with a sheet per scheme
    and its chart, or PDF with the filters printed on every page, the charts and tables
    across pages, in an embedded Chinese font."""
    from civicgrid.assess import reports

    if fmt not in REPORT_TYPES:
        raise InvalidInput("assess_bad_format", field="format", value=fmt)
    code, name, path = _area(uow, actor, area)
    scoped = Actor(actor.name, actor.role, code, path, actor.department_code, actor.display_name)
    book = rulebook(uow.session, month_basis(uow.session, ports, month).version)
    rankings_ = [_ranking(uow, scoped, ports, month, s.code) for s in book.schemes.values()]
    header = reports.Header(
        area_code=code,
        area_name=name,
        month=rankings_[0].month if rankings_ else month,
        version=rankings_[0].version if rankings_ else 0,
        revision=rankings_[0].revision if rankings_ else 0,
        state=rankings_[0].state.value if rankings_ else "open",
        generated_at=ports.clock(),
        timezone=ports.timezone,
        engine=ports.engine,
        by=actor.name,
    )
    if fmt == "xlsx":
        content = reports.excel(header, rankings_, locale)
    else:
        content = reports.pdf(header, rankings_, locale, ports.pdf_font)
    return Report(f"assessment-{code}-{header.month}.{fmt}", REPORT_TYPES[fmt], content)


# ------------------------------------------------------------------ the month's end


def _area_cadres(
    session: Session, ports: AssessPorts, uow: UnitOfWork
) -> list[tuple[Any, list[Any]]]:
    """(area, the cadres whose own area it is) for every district, street and community."""
    found = []
    for level in (Level.DISTRICT, Level.STREET, Level.COMMUNITY):
        for area in areas.list_areas(uow, SYSTEM, level=level):
            here = ports.directory.area_staff(session, area.path, frozenset({Role.CADRE}))
            parent_path = area.path.rstrip("/").rsplit("/", 1)[0] + "/"
            above = {
                c.username
                for c in ports.directory.area_staff(session, parent_path, frozenset({Role.CADRE}))
            }
            own = [c for c in here if c.username not in above]
            if own:
                found.append((area, own))
    return found


def send_monthly_reports(uow: UnitOfWork, ports: AssessPorts, month: str) -> int:
    """To each district's, street's and community's cadres: their area's results of MONTH
    and where to download the report, through the outbox."""
    session = uow.session
    now = ports.clock()
    record = MonthRepository(session).get(month)
    sent = 0
    book = rulebook(session, record.version if record else None)
    scheme = book.schemes.get("department") or next(iter(book.schemes.values()))
    for area, cadres in _area_cadres(session, ports, uow):
        scoped = Actor("monthly-report", Role.LEADER, area.code, area.path)
        ranking = _ranking(uow, scoped, ports, month, scheme.code)
        best = ", ".join(ranking.name_of(r.object_code) for r in ranking.rows[:3]) or "—"
        body = translate(
            "assess.notice.monthly_report",
            ports.locale,
            {
                "month": month,
                "area": area.name,
                "scheme": scheme.name(ports.locale),
                "count": len(ranking.rows),
                "best": best,
                "link": f"/assess/report?area={area.code}&month={month}&format=pdf",
            },
        )
        subject = translate(
            "assess.notice.monthly_subject", ports.locale, {"month": month, "area": area.name}
        )
        messages = messages_to(
            cadres, MONTH_RECORD.name, record.id if record and record.id else 0, body, now, subject
        )
        Outbox(session).add(messages)
        sent += len(messages)
    uow.commit()
    return sent


def month_end_job(ports: AssessPorts, every: timedelta = timedelta(hours=1)) -> PeriodicJob:
    """After a month ends: freeze it, send each area's cadres their report, and mark
    appeals past their deadline."""

    def run(uow: UnitOfWork) -> str:
        now = ports.clock()
        done = []
        overdue = AppealRepository(uow.session).overdue_candidates(now)
        for appeal in overdue:
            EventLog(uow.session).add(APPEAL.mark_overdue(appeal, now))
        if overdue:
            uow.commit()
            done.append(f"{len(overdue)} appeals overdue")
        last = previous_month(current_month(now, ports.timezone))
        record = MonthRepository(uow.session).get(last)
        if record is None or record.state is MonthState.OPEN:
            window = month_window(last, now, ports.timezone)
            anything = uow.session.execute(
                select(func.count())
                .select_from(case_rows)
                .where(
                    and_(
                        case_rows.c.created_at >= window.start, case_rows.c.created_at < window.end
                    )
                )
            ).scalar()
            if anything:
                freeze_month(uow, SYSTEM, ports, last)
                sent = send_monthly_reports(uow, ports, last)
                done.append(f"{last} frozen, {sent} reports sent")
        return "; ".join(done)

    return PeriodicJob("assess.month_end", every, run)


# ------------------------------------------------------------------ threshold alerts


@permission(ALERT_EDITORS, "List the threshold alerts of one's area")
def list_alerts(uow: UnitOfWork, actor: Actor) -> list[Alert]:
    """The alerts watching the caller's area or an area inside it."""
    return AlertRepository(uow.session).listing(area_path=actor.scope_path)


@permission(ALERT_EDITORS, "Add a threshold alert")
def add_alert(
    uow: UnitOfWork,
    actor: Actor,
    ports: AssessPorts,
    name: str,
    indicator: str,
    object_type: str,
    comparison: str,
    threshold: Any,
    window: str = "week",
    area: str | None = None,
    min_cases: int = 5,
) -> Alert:
    """ "The on-time rate of any street below 90 % this week": checked every hour; each
    object that crosses the line is reported once per window to the area's cadres and
    leaders."""
    book = rulebook(uow.session)
    kind, how, value = check_alert(
        name, book.indicators.get(indicator), object_type, comparison, threshold
    )
    try:
        period = AlertWindow(window)
    except ValueError:
        raise InvalidInput(
            "assess_unknown_window", field="window", value=window, known="week, month"
        ) from None
    area_code, area_path = actor.area_code, actor.scope_path
    if area:
        area_code, _, area_path = _area(uow, actor, area)
    if not 1 <= int(min_cases) <= 100000:
        raise InvalidInput("assess_min_cases_range", field="min_cases", value=min_cases)
    alert = Alert(
        name=name.strip(),
        indicator=indicator,
        object_type=kind,
        comparison=how,
        threshold=value,
        window=period,
        created_by=actor.name,
        created_at=ports.clock(),
        area_code=area_code,
        area_path=area_path,
        min_cases=int(min_cases),
    )
    AlertRepository(uow.session).add(alert)
    uow.commit()
    return alert


@permission(ALERT_EDITORS, "Stop a threshold alert")
def stop_alert(uow: UnitOfWork, actor: Actor, alert_id: int) -> Alert:
    alert = AlertRepository(uow.session).get(alert_id)
    if alert is None or not actor.covers(alert.area_path or "/"):
        raise NotFound("assess_alert_not_found", id=alert_id)
    alert.active = False
    uow.commit()
    return alert


@permission(ADMIN_ROLES, "Check every alert now and send what crossed its line")
def check_alerts(uow: UnitOfWork, actor: Actor, ports: AssessPorts) -> int:
    """Every active alert against the live facts of its window; returns how many breaches
    were sent (each object once per window)."""
    session = uow.session
    now = ports.clock()
    sync_snapshot(uow, ports)
    book = rulebook(session)
    repo = AlertRepository(session)
    fired = 0
    for alert in repo.listing(active_only=True):
        indicator = book.indicators.get(alert.indicator)
        if indicator is None:
            continue
        if alert.window is AlertWindow.WEEK:
            window = week_window(now, ports.timezone)
        else:
            window = month_window(current_month(now, ports.timezone), now, ports.timezone)
        scope = Scope(LIVE, window, alert.area_path)
        found = engines.counts(ports.engine_named(), [indicator], alert.object_type, scope)
        names = object_names(uow, alert.object_type)
        for code, counts_of in sorted(found.items()):
            numerator, denominator = counts_of.get(indicator.code, (0, 0))
            from civicgrid.assess.domain import Figure

            rate = numerator / denominator if denominator else None
            figure = Figure(numerator, denominator, rate, None)
            if not alert.breached(figure) or repo.fired(alert.id or 0, window.label, code):
                continue
            repo.add_firing(
                AlertFiring(alert.id or 0, window.label, code, round((rate or 0) * 100, 2), now)
            )
            people = ports.directory.area_staff(
                session, alert.area_path or "/", frozenset({Role.CADRE, Role.LEADER})
            )
            body = translate(
                "assess.notice.alert",
                ports.locale,
                {
                    "name": alert.name,
                    "object": names.get(code, code),
                    "indicator": indicator.name(ports.locale),
                    "value": f"{(rate or 0) * 100:.1f}",
                    "threshold": f"{alert.threshold:g}",
                    "window": window.label,
                    "count": denominator,
                },
            )
            Outbox(session).add(messages_to(people, "assess_alert", alert.id or 0, body, now))
            fired += 1
    uow.commit()
    return fired


def alerts_job(ports: AssessPorts, every: timedelta) -> PeriodicJob:
    def run(uow: UnitOfWork) -> str:
        fired = check_alerts(uow, SYSTEM, ports)
        return f"{fired} threshold alerts sent" if fired else ""

    return PeriodicJob("assess.alerts", every, run)


# ------------------------------------------------------------------ the command centre

OPEN_STATES = (
    "reported",
    "accepted",
    "registered",
    "dispatched",
    "in_progress",
    "suspended",
    "resolved",
    "verified",
)
MAP_POINTS = 2000
OVERDUE_LIST = 30
KPI_CODES = ("closure_rate", "ontime_closure_rate", "satisfaction_rate")


def latest_case_event(session: Session) -> int:
    """The newest case event's number: the command centre redraws when it grows."""
    return int(session.execute(select(func.max(case_event_rows.c.id))).scalar() or 0)


_summaries: dict[tuple[str, str | None, int, str], tuple[float, dict[str, Any]]] = {}
_summaries_lock = threading.Lock()
# Hot issues group a month of an area's cases by their words (seconds for a city of a
# million cases): the wall regroups them at most this often, not on every case event.
HOT_SECONDS = 60.0
_hot: dict[tuple[str, str | None], tuple[float, list[dict[str, Any]]]] = {}


def _hot_issues(session: Session, scope: str | None, now: datetime) -> list[dict[str, Any]]:
    key = (str(session.get_bind().engine.url), scope)
    with _summaries_lock:
        kept = _hot.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
    hot = [
        {"title": b.issue.title, "count": len(b.issue.posts), "heat": b.issue.heat}
        for b in insight_views.hot_issues_of(session, scope, now, limit=6)
    ]
    with _summaries_lock:
        if len(_hot) > 200:
            _hot.clear()
        _hot[key] = (time.monotonic() + HOT_SECONDS, hot)
    return hot


def _light(deadline: datetime | None, warn: datetime | None, now: datetime) -> str:
    if deadline is None:
        return "none"
    if now >= deadline:
        return "red"
    if warn is not None and now >= warn:
        return "yellow"
    return "green"


@permission(COMMAND_VIEWERS, "The command centre's live picture of one's area")
def command_summary(
    uow: UnitOfWork, actor: Actor, ports: AssessPorts, locale: str = "zh"
) -> dict[str, Any]:
    """Live cases of the caller's area by deadline light (for the map), today's counts by
    channel and category, the overdue list, open warnings and hot issues, and KPI tiles
    (today's figures and the month to date); `stamp` is the newest case event it shows."""
    from civicgrid.core.i18n import city_day, day_start

    session = uow.session
    now = ports.clock()
    stamp = latest_case_event(session)
    scope = actor.scope_path
    key = (str(session.get_bind().engine.url), scope, stamp, locale)
    with _summaries_lock:
        kept = _summaries.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
    inside = case_rows.c.area_path.startswith(scope, autoescape=True) if scope else true()
    today = day_start(city_day(now, ports.timezone), ports.timezone)
    is_open = case_rows.c.status.in_(OPEN_STATES)

    def count(*conditions: Any) -> int:
        return int(
            session.execute(
                select(func.count()).select_from(case_rows).where(inside, *conditions)
            ).scalar()
            or 0
        )

    open_now = count(is_open)
    red = count(is_open, case_rows.c.deadline_at <= now)
    yellow = count(is_open, case_rows.c.deadline_at > now, case_rows.c.warn_at <= now)
    reported_today = count(case_rows.c.created_at >= today)
    closed_today = count(case_rows.c.closed_at >= today, case_rows.c.status == "closed")
    by_channel: dict[Any, Any] = dict(
        session.execute(
            select(case_rows.c.channel, func.count())
            .where(inside, case_rows.c.created_at >= today)
            .group_by(case_rows.c.channel)
        ).all()
    )
    names = {
        c.code: (c.name if locale == "zh" else c.name_en or c.name)
        for c in case_views.taxonomy(session)
    }
    by_category = [
        {"code": code, "name": names.get(code, code), "count": int(n)}
        for code, n in session.execute(
            select(case_rows.c.category_code, func.count().label("n"))
            .where(inside, case_rows.c.created_at >= today)
            .group_by(case_rows.c.category_code)
            .order_by(func.count().desc(), case_rows.c.category_code)
            .limit(10)
        ).all()
    ]
    overdue = [
        {
            "id": row.id,
            "title": row.title,
            "category": names.get(row.category_code, row.category_code),
            "grid": row.grid_code,
            "status": str(row.status),
            "deadline_at": row.deadline_at.isoformat() if row.deadline_at else None,
            "late_hours": round((now - row.deadline_at).total_seconds() / 3600, 1)
            if row.deadline_at
            else None,
        }
        for row in session.execute(
            select(
                case_rows.c.id,
                case_rows.c.title,
                case_rows.c.category_code,
                case_rows.c.grid_code,
                case_rows.c.status,
                case_rows.c.deadline_at,
            )
            .where(inside, is_open, case_rows.c.deadline_at <= now)
            .order_by(case_rows.c.deadline_at)
            .limit(OVERDUE_LIST)
        )
    ]
    points = [
        [row.id, round(row.lat, 5), round(row.lon, 5), _light(row.deadline_at, row.warn_at, now)]
        for row in session.execute(
            select(
                case_rows.c.id,
                case_rows.c.lat,
                case_rows.c.lon,
                case_rows.c.deadline_at,
                case_rows.c.warn_at,
            )
            .where(inside, is_open, case_rows.c.lat.is_not(None))
            .order_by(case_rows.c.deadline_at)
            .limit(MAP_POINTS)
        )
    ]
    warnings = [
        {
            "id": w.id,
            "kind": w.kind.value,
            "grid": w.grid_code,
            "category": names.get(w.category_code, w.category_code),
            "text": w.explanation(locale),  # type: ignore[arg-type]
        }
        for w in insight_views.open_warnings(session, scope, 8)
    ]
    hot = _hot_issues(session, scope, now)
    summary: dict[str, Any] = {
        "stamp": stamp,
        "at": now.isoformat(),
        "tiles": {
            "reported_today": reported_today,
            "closed_today": closed_today,
            "open_now": open_now,
            "red": red,
            "yellow": yellow,
        },
        "by_channel": {str(k): int(v) for k, v in by_channel.items()},
        "by_category": by_category,
        "overdue": overdue,
        "points": points,
        "warnings": warnings,
        "hot": hot,
        "kpis": _kpis(uow, ports, scope, now, locale),
    }
    with _summaries_lock:
        if len(_summaries) > 200:
            _summaries.clear()
        _summaries[key] = (time.monotonic() + 2.0, summary)
    return summary


def _kpis(
    uow: UnitOfWork, ports: AssessPorts, scope: str | None, now: datetime, locale: str
) -> list[dict[str, Any]]:
    """The month to date's rates for the whole area (its districts' counts added up)."""
    try:
        sync_snapshot(uow, ports)
        book = rulebook(uow.session)
        window = month_window(current_month(now, ports.timezone), now, ports.timezone)
        chosen = [book.indicators[c] for c in KPI_CODES if c in book.indicators]
        chosen = [i for i in chosen if ObjectType.DISTRICT in i.objects]
        found = engines.counts(
            ports.engine_named(), chosen, ObjectType.DISTRICT, Scope(LIVE, window, scope)
        )
    except Exception:  # the wall keeps its other panels when the engine is busy
        return []
    tiles = []
    for indicator in chosen:
        numerator = sum(c.get(indicator.code, (0, 0))[0] for c in found.values())
        denominator = sum(c.get(indicator.code, (0, 0))[1] for c in found.values())
        tiles.append(
            {
                "code": indicator.code,
                "name": indicator.name(locale),
                "numerator": numerator,
                "denominator": denominator,
                "rate": round(numerator * 100 / denominator, 1) if denominator else None,
            }
        )
    return tiles
