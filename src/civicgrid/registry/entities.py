"""Linked entities inside the registry (打破信息孤岛): the records several departments hold
about one person become one entity, found by record linkage (`linkage.link_records`, Splink)
over the registry's own tables, with the reviewers' decisions applied on every run.

What is compared inside the database. People rows never hold the identity number, only a
keyed hash of it (`id_hash`) and a masked form (110105********0213). The linkage is given
the hash as the person's identity, so two records agree on identity exactly when their
numbers are the same (an old 15-digit number was already read as its 18-digit form by the
import); the "one digit mistyped" level of the comparison never fires on hashes, which
costs nothing here because the import rejects a number whose check character fails. The
masked form is what the pages show as the identity the registry believes. Every other field
(name through pinyin, birth date, sex, phone, address) is compared as in `linkage.PEOPLE`.
Houses and organisations are linked on their columns as they are (`linkage.HOUSES`,
`linkage.ORGANISATIONS`): a kind is linked once it has a `KindLink` naming its columns.

Entity ids stay put: after each run every new cluster takes the id most of its records had
before (the largest cluster first), so an entity whose membership is the same or overlaps
keeps its page address; only clusters with no earlier entity get a new id. Each record's
`entity_id` is filled in bulk through a staging table, writing only the rows whose entity
changed.

Reviewer decisions are kept by source and source key (which survive a re-import, unlike
row ids), one row per decision with who, why and when; the latest decision about a pair
counts. A split takes the record out of its entity at once (an entity of its own until the
next run places it); a confirmation of a record in another entity moves that record in.
Both are applied again by every later run.

Who sees what follows the registry's records: an entity is shown to whoever sees at least
one of its records, with only the records they see (as `services.present` shows them:
masked identity, care tags only for grid workers and cadres, phones masked for others), and
the values believed from those records only.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork, UtcDateTime, enum_column_type, metadata, utcnow
from civicgrid.core.errors import InvalidInput, NotFound
from civicgrid.core.i18n import N_
from civicgrid.core.masking import Whose
from civicgrid.core.permissions import Actor, permission
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.linkage import (
    SPECS,
    Accuracy,
    Backend,
    Belief,
    LinkageSpec,
    ResolvedEntity,
    ReviewDecisions,
    SurvivorshipRule,
    constrained_clusters,
    link_records,
    resolve_entity,
    uid_of,
)
from civicgrid.registry.repository import CLASSES, TABLES, RegistryRepository
from civicgrid.registry.services import (
    CARE_TAG_READERS,
    IMPORTERS,
    PHONE_FIELDS,
    RECORD_READERS,
    FieldProblem,
    present,
    sees,
)

LINKERS = IMPORTERS
DECIDERS = RECORD_READERS
ENTITY_STAGE = "registry_entity_stage"

# ------------------------------------------------------------------ tables

registry_entities = Table(
    "registry_entities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("kind", enum_column_type(RecordKind, 16), nullable=False),
    # field → {value, source, record_id, reason}: what the registry believes and where from.
    Column("believed", JSON, nullable=False),
    # The fields its records disagree on.
    Column("disagree", JSON, nullable=False),
    Column("records", Integer, nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("linked_at", UtcDateTime(), nullable=False),
)
Index("ix_registry_entities_kind_records", registry_entities.c.kind, registry_entities.c.records)

registry_link_decisions = Table(
    "registry_link_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", enum_column_type(RecordKind, 16), nullable=False),
    Column("source_a", String(64), nullable=False),
    Column("key_a", String(128), nullable=False),
    Column("source_b", String(64), nullable=False),
    Column("key_b", String(128), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)
Index(
    "ix_registry_link_decisions_a",
    registry_link_decisions.c.kind,
    registry_link_decisions.c.source_a,
    registry_link_decisions.c.key_a,
)
Index(
    "ix_registry_link_decisions_b",
    registry_link_decisions.c.kind,
    registry_link_decisions.c.source_b,
    registry_link_decisions.c.key_b,
)

_STAGE = Table(ENTITY_STAGE, MetaData(), Column("record_id", Integer), Column("entity_id", Integer))


class Decision(StrEnum):
    CONFIRM = "confirm"
    SPLIT = "split"


# ------------------------------------------------------------------ what each kind links on


@dataclass(frozen=True)
class KindLink:
    """How one kind of registry record is handed to the linkage: the linkage spec, the
    column each of its fields is read from, the field shown in place of one that is only
    compared (the identity hash is shown as its masked form), and the sources that hold
    each entity once."""

    kind: RecordKind
    spec: LinkageSpec
    columns: dict[str, str]  # linkage field → registry column
    shown_as: dict[str, str] = field(default_factory=dict)  # linkage field → shown column
    one_per_source: tuple[str, ...] = ()
    # The columns the entity page lines up, in order.
    page_columns: tuple[str, ...] = ()

    def page_column(self, name: str) -> str:
        return self.shown_as.get(name, self.columns.get(name, name))

    @property
    def plain_columns(self) -> tuple[str, ...]:
        """The page's columns the linkage does not compare (a person's residence, care
        tags, household address and grid; a house's kind): their records may disagree on
        them all the same, and the page says so."""
        compared = {self.page_column(f) for f in self.columns}
        return tuple(c for c in self.page_columns if c not in compared)

    def disagreements(
        self, resolved: ResolvedEntity, records: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Every page column RECORDS disagree on, in the page's order: the compared fields
        as the linkage reads them (two spellings of one door are one value), the others by
        their values (an empty value disagrees with nothing)."""
        found = {self.page_column(f) for f in resolved.disagreements}
        for column in self.plain_columns:
            values = {_text(r.get(column)).strip() for r in records} - {""}
            if len(values) > 1:
                found.add(column)
        ordered = [c for c in self.page_columns if c in found]
        return ordered + sorted(found - set(ordered))


# Department names as the registry's imports write them, for the roles the survivorship
# rules name: public security holds the registered identity, the grid workers see where
# people live and which phone they answer.
SOURCE_ALIASES: dict[str, tuple[str, ...]] = {
    "public_security": ("公安", "公安局", "户籍"),
    "grid": ("网格采集", "网格"),
    "housing": ("住建", "住建局", "房管"),
    "real_estate": ("不动产登记", "不动产"),
    "market": ("市场监管", "市场监管局", "工商"),
    "tax": ("税务", "税务局"),
}

KINDS: dict[RecordKind, KindLink] = {
    RecordKind.PERSON: KindLink(
        kind=RecordKind.PERSON,
        spec=SPECS["people"],
        columns={
            "name": "name",
            "identity": "id_hash",
            "birth_date": "birth_date",
            "sex": "sex",
            "phone": "phone",
            "address": "address_text",
        },
        shown_as={"identity": "id_masked"},
        one_per_source=("public_security", *SOURCE_ALIASES["public_security"]),
        page_columns=(
            "name",
            "id_masked",
            "sex",
            "birth_date",
            "phone",
            "address_text",
            "household_address",
            "residence",
            "care_tags",
            "grid_code",
        ),
    ),
    RecordKind.HOUSE: KindLink(
        kind=RecordKind.HOUSE,
        spec=SPECS["houses"],
        columns={
            "address": "address_text",
            "owner_name": "owner_name",
            "owner_phone": "owner_phone",
            "area_m2": "area_m2",
        },
        page_columns=(
            "address_text",
            "kind",
            "area_m2",
            "occupancy_limit",
            "owner_name",
            "owner_phone",
            "manager_name",
            "grid_code",
        ),
    ),
    RecordKind.ORGANISATION: KindLink(
        kind=RecordKind.ORGANISATION,
        spec=SPECS["organisations"],
        columns={
            "name": "name",
            "credit_code": "credit_code",
            "address": "address_text",
            "contact_name": "contact_name",
            "contact_phone": "contact_phone",
        },
        page_columns=(
            "name",
            "credit_code",
            "kind",
            "address_text",
            "contact_name",
            "contact_phone",
            "grid_code",
        ),
    ),
}


def kind_link(kind: RecordKind) -> KindLink:
    found = KINDS.get(kind)
    if found is None:
        raise InvalidInput(
            "registry_link_kind_unknown",
            field="kind",
            kind=kind.value,
            allowed=", ".join(k.value for k in KINDS),
        )
    return found


def _rules(spec: LinkageSpec, *, remember: bool = False) -> tuple[SurvivorshipRule, ...]:
    """The spec's survivorship rules with the registry's department names beside the
    roles they name. REMEMBER: each rule's reading of a value is kept for the rules' life
    (a whole run: addresses and names repeat, and reading an address is the dearest part
    of resolving 100,000 records)."""
    return tuple(
        dataclasses.replace(
            rule,
            sources=tuple(
                s for role in rule.sources for s in (role, *SOURCE_ALIASES.get(role, ()))
            ),
            same=functools.cache(rule.same) if remember and rule.same else rule.same,
        )
        for rule in spec.survivorship
    )


# ------------------------------------------------------------------ repository


class EntityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def records_for_linkage(self, link: KindLink) -> pa.Table:
        """Every record of the kind: record_id (the row id), source, source_key, the
        linkage fields, the shown forms and the current entity_id."""
        table = TABLES[link.kind]
        extra = sorted(set(link.shown_as.values()) | set(link.plain_columns))
        rows = self.session.execute(
            select(
                table.c.id,
                table.c.source,
                table.c.source_key,
                table.c.entity_id,
                *(table.c[column].label(name) for name, column in link.columns.items()),
                *(table.c[column] for column in extra),
            ).order_by(table.c.id)
        ).all()
        names = ["id", "source", "source_key", "entity_id", *link.columns, *extra]
        columns: dict[str, Any] = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        arrays: dict[str, pa.Array] = {
            "record_id": pa.array([str(v) for v in columns["id"]], pa.string()),
            "id": pa.array(columns["id"], pa.int64()),
            "entity_id": pa.array(columns["entity_id"], pa.int64()),
        }
        for name in ("source", "source_key", *link.columns, *extra):
            arrays[name] = pa.array([_text(v) for v in columns[name]], pa.string())
        return pa.table(arrays)

    def decisions(self, kind: RecordKind) -> list[dict[str, Any]]:
        """Every decision about KIND, oldest first."""
        d = registry_link_decisions
        rows = self.session.execute(
            select(d).where(d.c.kind == kind).order_by(d.c.at, d.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def decisions_about(self, kind: RecordKind, keys: Sequence[tuple[str, str]]) -> list[Any]:
        d = registry_link_decisions
        if not keys:
            return []
        wanted = list(keys)
        return list(
            self.session.execute(
                select(d)
                .where(
                    d.c.kind == kind,
                    or_(
                        tuple_(d.c.source_a, d.c.key_a).in_(wanted),
                        tuple_(d.c.source_b, d.c.key_b).in_(wanted),
                    ),
                )
                .order_by(d.c.at.desc(), d.c.id.desc())
            ).mappings()
        )

    def record_labels(
        self, kind: RecordKind, keys: set[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """(source, source key) → "source #id" for the records still in the registry."""
        table = TABLES[kind]
        if not keys:
            return {}
        rows = self.session.execute(
            select(table.c.source, table.c.source_key, table.c.id).where(
                tuple_(table.c.source, table.c.source_key).in_(sorted(keys))
            )
        )
        return {(s, k): f"{s} #{i}" for s, k, i in rows}

    def add_decisions(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(registry_link_decisions), rows)

    def entity(self, entity_id: int) -> Any:
        return (
            self.session.execute(
                select(registry_entities).where(registry_entities.c.id == entity_id)
            )
            .mappings()
            .first()
        )

    def members(self, kind: RecordKind, entity_id: int) -> list[Any]:
        table = TABLES[kind]
        return list(
            self.session.execute(
                select(CLASSES[kind]).where(table.c.entity_id == entity_id).order_by(table.c.id)
            ).scalars()
        )

    def next_entity_id(self) -> int:
        current = self.session.execute(select(func.max(registry_entities.c.id))).scalar()
        return int(current or 0) + 1

    def next_run_id(self, kind: RecordKind) -> int:
        current = self.session.execute(
            select(func.max(registry_entities.c.run_id)).where(registry_entities.c.kind == kind)
        ).scalar()
        return int(current or 0) + 1

    def replace_entities(self, kind: RecordKind, rows: list[dict[str, Any]]) -> None:
        self.session.execute(delete(registry_entities).where(registry_entities.c.kind == kind))
        if rows:
            self.session.execute(insert(registry_entities), rows)

    def put_entity(self, row: dict[str, Any]) -> None:
        self.session.execute(delete(registry_entities).where(registry_entities.c.id == row["id"]))
        self.session.execute(insert(registry_entities), [row])

    def drop_entity(self, entity_id: int) -> None:
        self.session.execute(delete(registry_entities).where(registry_entities.c.id == entity_id))

    def set_entity_ids(self, kind: RecordKind, pairs: Sequence[tuple[int, int]]) -> int:
        """Set entity_id = E on each record R of (R, E), in one statement through a staging
        table; only rows whose entity changes are written. Returns how many changed."""
        table = TABLES[kind]
        connection = self.session.connection()
        connection.execute(text(f"DROP TABLE IF EXISTS {ENTITY_STAGE}"))
        connection.execute(
            text(f"CREATE TEMPORARY TABLE {ENTITY_STAGE} (record_id INTEGER, entity_id INTEGER)")
        )
        if connection.dialect.name == "postgresql":
            raw = connection.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {ENTITY_STAGE} (record_id, entity_id) FROM STDIN") as copy,
            ):
                for pair in pairs:
                    copy.write_row(pair)
            differs = "IS DISTINCT FROM"
        else:
            raw_sqlite = connection.connection.driver_connection
            assert raw_sqlite is not None
            raw_sqlite.executemany(
                f"INSERT INTO {ENTITY_STAGE} (record_id, entity_id) VALUES (?, ?)", list(pairs)
            )
            differs = "IS NOT"
        changed = connection.execute(
            text(
                f"UPDATE {table.name} SET entity_id = s.entity_id FROM {ENTITY_STAGE} s "
                f"WHERE {table.name}.id = s.record_id "
                f"AND {table.name}.entity_id {differs} s.entity_id"
            )
        ).rowcount
        connection.execute(text(f"DROP TABLE {ENTITY_STAGE}"))
        return int(changed or 0)

    def set_entity_of(self, kind: RecordKind, record_id: int, entity_id: int) -> None:
        table = TABLES[kind]
        self.session.execute(
            table.update().where(table.c.id == record_id).values(entity_id=entity_id)
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value.value if hasattr(value, "value") else value)


# ------------------------------------------------------------------ decisions → the linkage


def _latest_decisions(rows: Sequence[dict[str, Any]]) -> dict[frozenset[tuple[str, str]], Any]:
    """The decision that counts for each pair: the latest (ROWS are oldest first)."""
    latest: dict[frozenset[tuple[str, str]], Any] = {}
    for row in rows:
        pair = frozenset(((row["source_a"], row["key_a"]), (row["source_b"], row["key_b"])))
        latest[pair] = row["decision"]
    return latest


def review_decisions(
    rows: Sequence[dict[str, Any]], record_of: dict[tuple[str, str], str], source_of: dict[str, str]
) -> ReviewDecisions:
    """The stored decisions (by source and source key) as the linkage's pairs of
    (source, record id); decisions about records no longer in the registry are left out."""
    must: list[tuple[tuple[str, str], tuple[str, str]]] = []
    cannot: list[tuple[tuple[str, str], tuple[str, str]]] = []
    for pair, decision in _latest_decisions(rows).items():
        keys = sorted(pair)
        if len(keys) != 2 or any(k not in record_of for k in keys):
            continue
        a, b = (record_of[k] for k in keys)
        linked = ((source_of[a], a), (source_of[b], b))
        (must if decision == Decision.CONFIRM else cannot).append(linked)
    return ReviewDecisions(must_link=must, cannot_link=cannot)


# ------------------------------------------------------------------ linking the registry

RunProgress = Callable[[str, int, int], None]
RUN_STAGES = ("read", "prepare", "load", "train", "predict", "cluster", "resolve", "write")


@dataclass
class LinkRun:
    """What one linkage run of the registry did."""

    kind: RecordKind
    run_id: int
    records: int
    entities: int
    linked_entities: int  # with two records or more
    disagreeing_entities: int
    pairs: int
    kept_ids: int  # entities that kept the id they had
    changed_records: int  # records whose entity_id changed
    decisions: int
    timings: dict[str, float]
    accuracy: Accuracy | None = None
    conflicts: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)


def _entity_row(
    link: KindLink,
    entity_id: int,
    resolved: ResolvedEntity,
    shown: dict[str, dict[str, str]],
    records: Sequence[Mapping[str, Any]],
    run_id: int,
    now: datetime,
) -> dict[str, Any]:
    """The stored row of one entity: its believed values and the columns its RECORDS
    (each with the page's plain columns) disagree on."""
    return {
        "id": entity_id,
        "kind": link.kind,
        "believed": _believed(link, resolved, shown),
        "disagree": link.disagreements(resolved, records) if len(records) > 1 else [],
        "records": len(records),
        "run_id": run_id,
        "linked_at": now,
    }


def _believed(
    link: KindLink, resolved: ResolvedEntity, shown: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The beliefs as stored and shown: fields by their shown column, a value only
    compared (the identity hash) replaced by the believed record's shown form (SHOWN:
    shown column → record id → value)."""
    found: dict[str, Any] = {}
    for name, belief in resolved.values.items():
        value = belief.value
        if name in link.shown_as and belief.record_id is not None:
            value = shown[link.shown_as[name]].get(belief.record_id) or None
        found[link.page_column(name)] = {
            "value": value,
            "source": belief.source,
            "record_id": int(belief.record_id) if belief.record_id else None,
            "reason": belief.reason,
        }
    return found


@permission(LINKERS, "Link the registry's records into entities (record linkage)")
def link_registry(
    uow: UnitOfWork,
    actor: Actor,
    kind: RecordKind = RecordKind.PERSON,
    *,
    backend: Backend = "duckdb",
    progress: RunProgress | None = None,
    threshold: float | None = None,
    seed: int = 42,
) -> LinkRun:
    """Link every record of KIND in the registry into entities with Splink, applying the
    reviewers' stored decisions; write one entity row per entity (believed values, the
    fields its records disagree on) and each record's entity_id. Entities keep their ids
    where their records did. Records carry no truth labels, so no accuracy is computed."""
    link = kind_link(kind)
    quiet_splink()
    repo = EntityRepository(uow.session)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    total = len(RUN_STAGES)

    def tell(stage: str) -> None:
        if progress is not None:
            progress(stage, RUN_STAGES.index(stage) if stage in RUN_STAGES else total, total)

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - started
        started = now

    tell("read")
    records = repo.records_for_linkage(link)
    record_ids = records["record_id"].to_pylist()
    sources = records["source"].to_pylist()
    source_of = dict(zip(record_ids, sources, strict=True))
    record_of = dict(
        zip(zip(sources, records["source_key"].to_pylist(), strict=True), record_ids, strict=True)
    )
    decision_rows = repo.decisions(kind)
    decisions = review_decisions(decision_rows, record_of, source_of)
    compared = records.select(["source", "record_id", *link.columns])
    lap("read")

    accuracy = None
    conflicts: list[tuple[tuple[str, str], tuple[str, str]]] = []
    pairs = 0
    if len(records) >= 2:

        def inner(stage: str, _done: int, _total: int) -> None:
            if stage in RUN_STAGES:
                tell(stage)

        from splink.internals.exceptions import EMTrainingException

        try:
            result = link_records(
                compared,
                link.spec,
                backend=backend,
                decisions=decisions,
                one_per_source=link.one_per_source,
                threshold=threshold,
                seed=seed,
                progress=inner,
            )
        except EMTrainingException:
            # Not one pair of records agrees on what the model trains on (a single
            # department's file without duplicates): nothing links but what reviewers
            # confirmed, so every other record is an entity of its own.
            cluster_of, conflicts = _unlinked(record_ids, source_of, decisions)
        else:
            timings.update(result.timings)
            cluster_of = dict(
                zip(
                    result.clusters["record_id"].to_pylist(),
                    result.clusters["entity_id"].to_pylist(),
                    strict=True,
                )
            )
            accuracy, conflicts, pairs = result.accuracy, result.conflicts, len(result.pairs)
        started = time.perf_counter()
    else:
        cluster_of, conflicts = _unlinked(record_ids, source_of, decisions)

    tell("resolve")
    members: dict[str, list[int]] = defaultdict(list)
    for position, record in enumerate(record_ids):
        members[cluster_of[record]].append(position)
    old_ids = records["entity_id"].to_pylist()
    new_id_of, kept = _stable_ids(members, old_ids, repo.next_entity_id())

    rows_of_records = compared.to_pylist()
    plain_of_records = records.select(list(link.plain_columns)).to_pylist()
    shown = {
        column: dict(zip(record_ids, records[column].to_pylist(), strict=True))
        for column in set(link.shown_as.values())
    }
    run_id = repo.next_run_id(kind)
    now = utcnow()
    rules = _rules(link.spec, remember=True)
    entity_rows: list[dict[str, Any]] = []
    assignments: list[tuple[int, int]] = []
    disagreeing = linked = 0
    for cluster, positions in members.items():
        entity_id = new_id_of[cluster]
        resolved = (
            resolve_single(rows_of_records[positions[0]], rules)
            if len(positions) == 1
            else resolve_entity([rows_of_records[p] for p in positions], rules)
        )
        plain = [plain_of_records[p] for p in positions]
        row = _entity_row(link, entity_id, resolved, shown, plain, run_id, now)
        linked += len(positions) > 1
        disagreeing += bool(row["disagree"])
        entity_rows.append(row)
        assignments.extend((int(record_ids[p]), entity_id) for p in positions)
    lap("resolve")

    tell("write")
    repo.replace_entities(kind, entity_rows)
    changed = repo.set_entity_ids(kind, assignments)
    uow.commit()
    lap("write")
    tell("done")
    return LinkRun(
        kind=kind,
        run_id=run_id,
        records=len(records),
        entities=len(entity_rows),
        linked_entities=linked,
        disagreeing_entities=disagreeing,
        pairs=pairs,
        kept_ids=kept,
        changed_records=changed,
        decisions=len(decisions.must_link) + len(decisions.cannot_link),
        timings=timings,
        accuracy=accuracy,
        conflicts=conflicts,
    )


def resolve_single(record: dict[str, Any], rules: Sequence[SurvivorshipRule]) -> ResolvedEntity:
    """`resolve_entity` of an entity of one record, without its bookkeeping for several
    (most entities of a city have one record, and a run resolves them all)."""
    values: dict[str, Belief] = {}
    source, record_id = str(record["source"]), str(record["record_id"])
    for rule in rules:
        raw = record.get(rule.field)
        text = "" if raw is None else str(raw).strip()
        key = (rule.same(text) if rule.same else text) if text else None
        if key is None or key == "":
            values[rule.field] = Belief(None, None, None, "no value")
        else:
            reason = "source priority" if source in rule.sources else "all agree"
            values[rule.field] = Belief(text, source, record_id, reason)
    return ResolvedEntity(((source, record_id),), values, {})


def _unlinked(
    record_ids: Sequence[str], source_of: dict[str, str], decisions: ReviewDecisions
) -> tuple[dict[str, str], list[tuple[tuple[str, str], tuple[str, str]]]]:
    """Record id → cluster when no pair scored: only the reviewers' confirmations join."""
    uids = [uid_of((source_of[r], r)) for r in record_ids]
    clusters, conflicts = constrained_clusters(uids, [], decisions)
    return {r: clusters[u] for r, u in zip(record_ids, uids, strict=True)}, conflicts


def quiet_splink() -> None:
    """Splink's warnings about comparison levels a small sample never shows, kept off the
    screen: a handler of our own at ERROR stops Splink adding its default one when each
    Linker sets its logger back to WARNING."""
    splink = logging.getLogger("splink")
    if not splink.handlers:
        handler = logging.StreamHandler()
        handler.setLevel(logging.ERROR)
        splink.addHandler(handler)
        splink.propagate = False


def _stable_ids(
    members: dict[str, list[int]], old_ids: Sequence[int | None], next_id: int
) -> tuple[dict[str, int], int]:
    """Cluster → entity id: each cluster, the largest first, takes the earlier entity id
    most of its records had and no bigger cluster took; the others get new ids. Returns
    the ids and how many clusters kept one."""
    chosen: dict[str, int] = {}
    taken: set[int] = set()
    kept = 0
    for cluster in sorted(members, key=lambda c: (-len(members[c]), c)):
        counts = Counter(o for o in (old_ids[p] for p in members[cluster]) if o is not None)
        for old, _n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            if old not in taken:
                chosen[cluster] = int(old)
                taken.add(int(old))
                kept += 1
                break
    for cluster in sorted(members, key=lambda c: (-len(members[c]), c)):
        if cluster not in chosen:
            while next_id in taken:
                next_id += 1
            chosen[cluster] = next_id
            taken.add(next_id)
            next_id += 1
    return chosen, kept


# ------------------------------------------------------------------ reading one entity


@dataclass(frozen=True)
class DecisionView:
    decision: str
    record_a: str  # "source:source_key" — or the record id when the key is not shown
    record_b: str
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class EntityView:
    """One entity as ACTOR may see it: the records side by side, what the registry
    believes per field (value, source, record id, why) and where the records disagree."""

    id: int
    kind: RecordKind
    records: list[dict[str, Any]]  # as services.present shows them
    hidden_records: int  # records outside the caller's area
    columns: list[str]
    believed: dict[str, dict[str, Any]]
    disagree: list[str]
    decisions: list[DecisionView]
    run_id: int
    linked_at: datetime
    grid_names: dict[str, str] = field(default_factory=dict)  # code → name, of its records


def _visible_members(
    uow: UnitOfWork, actor: Actor, entity_id: int
) -> tuple[Any, KindLink, list[Any], int]:
    repo = EntityRepository(uow.session)
    entity = repo.entity(entity_id)
    if entity is None:
        raise NotFound("not_found", what=f"entity/{entity_id}")
    link = kind_link(RecordKind(entity["kind"]))
    members = repo.members(link.kind, entity_id)
    registry = RegistryRepository(uow.session)
    paths: dict[str, str | None] = {}
    visible = [m for m in members if sees(registry, actor, m, paths)]
    if not visible:
        raise NotFound("not_found", what=f"entity/{entity_id}")
    return entity, link, visible, len(members) - len(visible)


def _resolve_records(link: KindLink, records: Sequence[Any]) -> ResolvedEntity:
    rows = [
        {
            "source": r.source,
            "record_id": str(r.id),
            **{name: _text(getattr(r, column)) for name, column in link.columns.items()},
        }
        for r in records
    ]
    return resolve_entity(rows, _rules(link.spec))


def _plain(link: KindLink, record: Any) -> dict[str, str]:
    """A record's plain columns (KindLink.plain_columns) as text."""
    return {column: _text(getattr(record, column)) for column in link.plain_columns}


def _shown(link: KindLink, records: Sequence[Any]) -> dict[str, dict[str, str]]:
    return {
        column: {str(r.id): _text(getattr(r, column)) for r in records}
        for column in set(link.shown_as.values())
    }


@permission(RECORD_READERS, "Read a linked entity: its records side by side")
def get_entity(uow: UnitOfWork, actor: Actor, entity_id: int) -> EntityView:
    """One entity: the caller's visible records of it side by side, the value the registry
    believes per field (from those records) with its source, the fields they disagree on,
    and the reviewers' decisions about its records, newest first."""
    entity, link, visible, hidden = _visible_members(uow, actor, entity_id)
    resolved = _resolve_records(link, visible)
    believed = _believed(link, resolved, _shown(link, visible))
    for name in PHONE_FIELDS:
        if believed.get(name, {}).get("value"):
            believed[name]["value"] = masking.phone(
                believed[name]["value"], actor.role, Whose.RESIDENT
            )
    columns = [c for c in link.page_columns if c != "care_tags" or actor.role in CARE_TAG_READERS]
    keys = [(r.source, r.source_key) for r in visible]
    about = EntityRepository(uow.session).decisions_about(link.kind, keys)
    label = EntityRepository(uow.session).record_labels(
        link.kind,
        {(d[s], d[k]) for d in about for s, k in (("source_a", "key_a"), ("source_b", "key_b"))},
    )
    decisions = [
        DecisionView(
            d["decision"],
            label.get((d["source_a"], d["key_a"]), d["source_a"]),
            label.get((d["source_b"], d["key_b"]), d["source_b"]),
            d["actor"],
            d["reason"],
            d["at"],
        )
        for d in about
    ]
    return EntityView(
        id=int(entity["id"]),
        kind=link.kind,
        records=[present(link.kind, r, actor) for r in visible],
        hidden_records=hidden,
        columns=columns,
        believed=believed,
        disagree=[
            c
            for c in link.disagreements(resolved, [_plain(link, r) for r in visible])
            if c in columns
        ],
        decisions=decisions,
        run_id=int(entity["run_id"]),
        linked_at=entity["linked_at"],
        grid_names=RegistryRepository(uow.session).grid_names(r.grid_code for r in visible),
    )


# ------------------------------------------------------------------ reviewer decisions


@permission(DECIDERS, "Confirm or split a linked record, with a reason (kept for every run)")
def decide_link(
    uow: UnitOfWork,
    actor: Actor,
    entity_id: int,
    decision: str,
    record_id: int,
    reason: str,
    *,
    other_record_id: int | None = None,
) -> EntityView:
    """Record a reviewer's decision about RECORD_ID of the entity, with the REASON:
    `split` — the record is not this entity: split from OTHER_RECORD_ID only, or from every
    other record of the entity; it gets an entity of its own now. `confirm` — the record
    is this entity: confirmed with OTHER_RECORD_ID (which may be in another entity; it
    moves into this one), or with every other record of the entity. Each decision is kept
    by source and source key, with who and when, and applied by every later linkage run."""
    try:
        chosen = Decision(decision)
    except ValueError:
        raise FieldProblem(
            "registry_link_bad_decision", field="decision", value=decision, allowed="confirm, split"
        ) from None
    if not reason.strip():
        raise InvalidInput("registry_link_reason_required", field="reason")
    entity, link, visible, _hidden = _visible_members(uow, actor, entity_id)
    by_id = {int(r.id): r for r in visible}
    record = by_id.get(record_id)
    if record is None:
        raise FieldProblem(
            "registry_link_not_in_entity", field="record_id", record=record_id, entity=entity_id
        )
    registry = RegistryRepository(uow.session)
    if other_record_id is None:
        others = [r for r in visible if int(r.id) != record_id]
        if not others:
            raise FieldProblem("registry_link_alone", field="record_id", record=record_id)
    else:
        if other_record_id == record_id:
            raise FieldProblem(
                "registry_link_same_record", field="other_record_id", record=record_id
            )
        other = by_id.get(other_record_id)
        if other is None and chosen is Decision.CONFIRM:
            other = registry.get(link.kind, other_record_id)
            if other is not None and not sees(registry, actor, other):
                other = None
        if other is None:
            key = (
                N_("registry_link_not_in_entity")
                if chosen is Decision.SPLIT
                else N_("registry_link_no_record")
            )
            raise FieldProblem(
                key, field="other_record_id", record=other_record_id, entity=entity_id
            )
        others = [other]
    repo = EntityRepository(uow.session)
    now = utcnow()
    repo.add_decisions(
        [
            {
                "kind": link.kind,
                "source_a": record.source,
                "key_a": record.source_key,
                "source_b": o.source,
                "key_b": o.source_key,
                "decision": chosen.value,
                "actor": actor.name,
                "reason": reason.strip(),
                "at": now,
            }
            for o in others
        ]
    )
    # The decision shows at once; the next run applies it again with everything else.
    run_id = int(entity["run_id"])
    if chosen is Decision.SPLIT:
        alone = repo.next_entity_id()
        repo.set_entity_of(link.kind, record_id, alone)
        uow.session.expire_all()
        _refresh(uow, link, alone, run_id)
    else:
        for o in others:
            if o.entity_id != entity_id:
                previous = o.entity_id
                repo.set_entity_of(link.kind, int(o.id), entity_id)
                if previous is not None:
                    uow.session.expire_all()
                    _refresh(uow, link, int(previous), run_id)
    uow.session.expire_all()
    _refresh(uow, link, entity_id, run_id)
    uow.commit()
    return get_entity(uow, actor, entity_id)


def _refresh(uow: UnitOfWork, link: KindLink, entity_id: int, run_id: int) -> None:
    """Rewrite one entity's row from its records as they are now (gone when none are)."""
    repo = EntityRepository(uow.session)
    members = repo.members(link.kind, entity_id)
    if not members:
        repo.drop_entity(entity_id)
        return
    resolved = _resolve_records(link, members)
    shown = _shown(link, members)
    plain = [_plain(link, m) for m in members]
    repo.put_entity(_entity_row(link, entity_id, resolved, shown, plain, run_id, utcnow()))
