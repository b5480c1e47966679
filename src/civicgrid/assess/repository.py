"""Tables of assessment: the fact table (derived from the cases' timelines; rebuilt at
will), the rulebook's versions with the indicator and scheme lines each holds, months and
their stored results, appeals, alerts and their firings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from civicgrid.assess.domain import (
    FACT_FIELDS,
    Alert,
    AlertFiring,
    AlertWindow,
    Appeal,
    AppealState,
    AssessmentMonth,
    Comparison,
    Kind,
    MonthState,
    ObjectType,
)
from civicgrid.core.db import UtcDateTime, enum_column_type, mapper_registry, metadata

_SQL_TYPES: dict[Kind, Any] = {
    Kind.TEXT: String(80),
    Kind.INT: Integer,
    Kind.BOOL: Boolean,
    Kind.FLOAT: Float,
}

facts = Table(
    "assess_facts",
    metadata,
    # "live": as of now, kept up to date from the timeline; "YYYY-MM": as of that month's
    # end, written when the month is frozen.
    Column("snapshot", String(8), primary_key=True),
    *[
        Column(
            name,
            _SQL_TYPES[kind] if name != "area_path" else String(400),
            primary_key=name == "case_id",
            nullable=name != "case_id",
            autoincrement=False,
        )
        for name, kind in FACT_FIELDS.items()
    ],
    # The refresh that wrote the row: the columnar snapshot copies what is newer than it has.
    Column("refreshed_seq", Integer, nullable=False),
)
Index("ix_assess_facts_seq", facts.c.refreshed_seq)
# A month's rows on PostgreSQL: reported in it or closed in it (a bitmap of the two), the
# open ones from the partial index below; a year's table is then read a month at a time.
Index("ix_assess_facts_reported", facts.c.snapshot, facts.c.reported_ts)
Index("ix_assess_facts_closed", facts.c.snapshot, facts.c.closed_ts)
Index(
    "ix_assess_facts_open",
    facts.c.snapshot,
    facts.c.reported_ts,
    postgresql_where=facts.c.is_open.is_(True),
    sqlite_where=facts.c.is_open.is_(True),
)

watermarks = Table(
    "assess_watermarks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False),
    Column("text", String(64), nullable=False, default=""),
)

versions = Table(
    "assess_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    # What changed: {"indicator": code} or {"scheme": code} or {"presets": true}.
    Column("change", JSON, nullable=False),
)

# A line of the rulebook holds one indicator's or scheme's definition for the versions
# from VERSION_FROM up to (not including) VERSION_TO; lines are never deleted, so a month's
# results can always say which definitions computed them.
definitions = Table(
    "assess_definitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # "indicator" or "scheme"
    Column("code", String(40), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("version_from", Integer, nullable=False),
    Column("version_to", Integer, nullable=True),
)
Index("ix_assess_definitions_in_force", definitions.c.version_to, definitions.c.kind)

months = Table(
    "assess_months",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("month", String(7), nullable=False, unique=True),
    Column("state", enum_column_type(MonthState, 16), nullable=False),
    Column("version", Integer, nullable=True),
    Column("revision", Integer, nullable=False, default=0),
    Column("frozen_at", UtcDateTime(), nullable=True),
    Column("appeal_until", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=True),
)

results = Table(
    "assess_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("month", String(7), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("scheme", String(40), nullable=False),
    Column("object_type", enum_column_type(ObjectType, 16), nullable=False),
    Column("object_code", String(80), nullable=False),
    Column("score", Float, nullable=False),
    Column("grade", String(8), nullable=False),
    Column("rank", Integer, nullable=False),
    # indicator code → [numerator, denominator, rate or null, points or null]
    Column("figures", JSON, nullable=False),
)
Index("ix_assess_results_month", results.c.month, results.c.revision, results.c.scheme)

appeals = Table(
    "assess_appeals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("month", String(7), nullable=False),
    Column("case_id", Integer, nullable=False),
    Column("object_type", enum_column_type(ObjectType, 16), nullable=False),
    Column("object_code", String(80), nullable=False),
    Column("indicator", String(40), nullable=True),
    Column("reason", Text, nullable=False),
    Column("filed_by", String(120), nullable=False),
    Column("filed_at", UtcDateTime(), nullable=False),
    Column("area_path", String(400), nullable=False),
    Column("state", enum_column_type(AppealState, 16), nullable=False),
    Column("decided_by", String(120), nullable=True),
    Column("decision_note", Text, nullable=False, default=""),
    Column("updated_at", UtcDateTime(), nullable=True),
    Column("step_started_at", UtcDateTime(), nullable=True),
    Column("deadline_at", UtcDateTime(), nullable=True),
    Column("warn_at", UtcDateTime(), nullable=True),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("paused_remaining_seconds", Float, nullable=True),
)
Index("ix_assess_appeals_month", appeals.c.month, appeals.c.state)
Index("ix_assess_appeals_deadline", appeals.c.state, appeals.c.deadline_at)

alerts = Table(
    "assess_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("indicator", String(40), nullable=False),
    Column("object_type", enum_column_type(ObjectType, 16), nullable=False),
    Column("comparison", enum_column_type(Comparison, 8), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("window", enum_column_type(AlertWindow, 8), nullable=False),
    Column("area_code", String(32), nullable=True),
    Column("area_path", String(400), nullable=True),
    Column("min_cases", Integer, nullable=False, default=5),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

alert_firings = Table(
    "assess_alert_firings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, nullable=False),
    Column("window", String(10), nullable=False),
    Column("object_code", String(80), nullable=False),
    Column("value", Float, nullable=False),
    Column("fired_at", UtcDateTime(), nullable=False),
    UniqueConstraint("alert_id", "window", "object_code", name="uq_assess_alert_firing"),
)

mapper_registry.map_imperatively(AssessmentMonth, months)
mapper_registry.map_imperatively(Appeal, appeals)
mapper_registry.map_imperatively(Alert, alerts)
mapper_registry.map_imperatively(AlertFiring, alert_firings)


# ------------------------------------------------------------------ facts


class FactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def watermark(self, name: str) -> int:
        found = self.session.execute(
            select(watermarks.c.value).where(watermarks.c.name == name)
        ).scalar()
        return int(found or 0)

    def set_watermark(self, name: str, value: int, text: str = "") -> None:
        updated = self.session.execute(
            watermarks.update().where(watermarks.c.name == name).values(value=value, text=text)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            self.session.execute(insert(watermarks).values(name=name, value=value, text=text))

    def generation(self) -> str:
        """An identity of this fact table's contents: changes when it is rebuilt, so the
        columnar snapshot knows to start over."""
        found = self.session.execute(
            select(watermarks.c.text).where(watermarks.c.name == "generation")
        ).scalar()
        if found:
            return str(found)
        token = uuid.uuid4().hex
        self.set_watermark("generation", 0, token)
        return token

    def next_seq(self) -> int:
        seq = self.watermark("seq") + 1
        self.set_watermark("seq", seq)
        return seq

    def replace(self, snapshot: str, rows: Sequence[Mapping[str, Any]], seq: int) -> None:
        """Write ROWS of SNAPSHOT, replacing the rows of the same cases."""
        ids = [row["case_id"] for row in rows]
        for first in range(0, len(ids), 500):
            chunk = ids[first : first + 500]
            self.session.execute(
                delete(facts).where(and_(facts.c.snapshot == snapshot, facts.c.case_id.in_(chunk)))
            )
        if rows:
            self.session.execute(
                insert(facts),
                [{**row, "snapshot": snapshot, "refreshed_seq": seq} for row in rows],
            )

    def changed_since(self, seq: int, limit: int = 50_000) -> list[dict[str, Any]]:
        stmt = (
            select(facts)
            .where(facts.c.refreshed_seq > seq)
            .order_by(facts.c.refreshed_seq, facts.c.snapshot, facts.c.case_id)
            .limit(limit)
        )
        return [dict(row._mapping) for row in self.session.execute(stmt)]

    def clear(self) -> None:
        self.session.execute(delete(facts))
        self.session.execute(delete(watermarks))

    def count(self, snapshot: str) -> int:
        return int(
            self.session.execute(
                select(func.count()).select_from(facts).where(facts.c.snapshot == snapshot)
            ).scalar()
            or 0
        )

    def of_case(self, snapshot: str, case_id: int) -> dict[str, Any] | None:
        row = self.session.execute(
            select(facts).where(and_(facts.c.snapshot == snapshot, facts.c.case_id == case_id))
        ).first()
        return dict(row._mapping) if row is not None else None


# ------------------------------------------------------------------ the rulebook


@dataclass(frozen=True)
class Version:
    id: int
    created_by: str
    created_at: datetime
    reason: str
    change: dict[str, Any]


class RulebookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def current_version(self) -> int:
        return int(self.session.execute(select(func.max(versions.c.id))).scalar() or 0)

    def versions(self) -> list[Version]:
        rows = self.session.execute(select(versions).order_by(versions.c.id.desc()))
        return [Version(r.id, r.created_by, r.created_at, r.reason, dict(r.change)) for r in rows]

    def definitions(self, version: int | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """kind → code → definition, as of VERSION (None: the one in force)."""
        version = version or self.current_version()
        stmt = select(definitions).where(
            and_(
                definitions.c.version_from <= version,
                (definitions.c.version_to.is_(None)) | (definitions.c.version_to > version),
            )
        )
        found: dict[str, dict[str, dict[str, Any]]] = {"indicator": {}, "scheme": {}}
        for row in self.session.execute(stmt):
            found[row.kind][row.code] = dict(row.definition)
        return found

    def history(self, kind: str, code: str) -> list[tuple[int, int | None, dict[str, Any]]]:
        rows = self.session.execute(
            select(definitions)
            .where(and_(definitions.c.kind == kind, definitions.c.code == code))
            .order_by(definitions.c.version_from.desc())
        )
        return [(r.version_from, r.version_to, dict(r.definition)) for r in rows]

    def new_version(
        self,
        created_by: str,
        at: datetime,
        reason: str,
        change: Mapping[str, Any],
        lines: Iterable[tuple[str, str, Mapping[str, Any]]],
    ) -> int:
        """A new version in which LINES (kind, code, definition) replace the lines of the
        same kind and code; everything else carries over."""
        result = self.session.execute(
            insert(versions).values(
                created_by=created_by, created_at=at, reason=reason, change=dict(change)
            )
        )
        version = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        for kind, code, definition in lines:
            self.session.execute(
                definitions.update()
                .where(
                    and_(
                        definitions.c.kind == kind,
                        definitions.c.code == code,
                        definitions.c.version_to.is_(None),
                    )
                )
                .values(version_to=version)
            )
            self.session.execute(
                insert(definitions).values(
                    kind=kind,
                    code=code,
                    definition=dict(definition),
                    version_from=version,
                    version_to=None,
                )
            )
        return version


# ------------------------------------------------------------------ months and results


class MonthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, month: str) -> AssessmentMonth | None:
        return self.session.execute(
            select(AssessmentMonth).where(months.c.month == month)
        ).scalar_one_or_none()

    def add(self, month: AssessmentMonth) -> None:
        self.session.add(month)
        self.session.flush()

    def frozen(self) -> list[AssessmentMonth]:
        return list(
            self.session.execute(
                select(AssessmentMonth)
                .where(months.c.state == MonthState.FROZEN)
                .order_by(months.c.month.desc())
            ).scalars()
        )

    def write_results(self, month: str, revision: int, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(
                insert(results), [{**row, "month": month, "revision": revision} for row in rows]
            )

    def results(self, month: str, revision: int, scheme: str) -> list[dict[str, Any]]:
        stmt = (
            select(results)
            .where(
                and_(
                    results.c.month == month,
                    results.c.revision == revision,
                    results.c.scheme == scheme,
                )
            )
            .order_by(results.c.rank, results.c.object_code)
        )
        return [dict(r._mapping) for r in self.session.execute(stmt)]


class AppealRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, appeal: Appeal) -> None:
        self.session.add(appeal)
        self.session.flush()

    def get(self, appeal_id: int) -> Appeal | None:
        return self.session.get(Appeal, appeal_id)

    def listing(
        self,
        *,
        month: str | None = None,
        state: AppealState | None = None,
        area_path: str | None = None,
        object_code: str | None = None,
        limit: int = 200,
    ) -> list[Appeal]:
        stmt = select(Appeal).order_by(appeals.c.id.desc()).limit(limit)
        if month:
            stmt = stmt.where(appeals.c.month == month)
        if state:
            stmt = stmt.where(appeals.c.state == state)
        if area_path:
            stmt = stmt.where(appeals.c.area_path.startswith(area_path, autoescape=True))
        if object_code:
            stmt = stmt.where(appeals.c.object_code == object_code)
        return list(self.session.execute(stmt).scalars())

    def accepted(self, month: str) -> list[Appeal]:
        stmt = select(Appeal).where(
            and_(appeals.c.month == month, appeals.c.state == AppealState.ACCEPTED)
        )
        return list(self.session.execute(stmt).scalars())

    def pending_for(self, month: str, case_id: int, indicator: str | None) -> Appeal | None:
        stmt = select(Appeal).where(
            and_(
                appeals.c.month == month,
                appeals.c.case_id == case_id,
                appeals.c.state.in_([AppealState.FILED, AppealState.ACCEPTED]),
            )
        )
        for appeal in self.session.execute(stmt).scalars():
            if appeal.indicator in (None, indicator) or indicator is None:
                return appeal
        return None

    def overdue_candidates(self, now: datetime) -> list[Appeal]:
        stmt = select(Appeal).where(
            and_(
                appeals.c.state == AppealState.FILED,
                appeals.c.deadline_at <= now,
                appeals.c.overdue.is_(False),
            )
        )
        return list(self.session.execute(stmt).scalars())


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, alert: Alert) -> None:
        self.session.add(alert)
        self.session.flush()

    def get(self, alert_id: int) -> Alert | None:
        return self.session.get(Alert, alert_id)

    def listing(self, area_path: str | None = None, active_only: bool = False) -> list[Alert]:
        stmt = select(Alert).order_by(alerts.c.id)
        if active_only:
            stmt = stmt.where(alerts.c.active.is_(True))
        found = list(self.session.execute(stmt).scalars())
        if area_path:
            found = [a for a in found if (a.area_path or "").startswith(area_path)]
        return found

    def fired(self, alert_id: int, window: str, object_code: str) -> bool:
        return (
            self.session.execute(
                select(alert_firings.c.id).where(
                    and_(
                        alert_firings.c.alert_id == alert_id,
                        alert_firings.c.window == window,
                        alert_firings.c.object_code == object_code,
                    )
                )
            ).first()
            is not None
        )

    def add_firing(self, firing: AlertFiring) -> None:
        self.session.add(firing)
        self.session.flush()

    def firings(self, alert_id: int, limit: int = 20) -> list[AlertFiring]:
        stmt = (
            select(AlertFiring)
            .where(alert_firings.c.alert_id == alert_id)
            .order_by(alert_firings.c.id.desc())
            .limit(limit)
        )
        return list(self.session.execute(stmt).scalars())
