"""Tables for the registry (一标三实), mapped onto the plain domain classes, and the bulk
writes the imports use:

- a source's first import (it has no records yet, so every row is new) copies its rows
  straight into the records (COPY on PostgreSQL, one executemany on SQLite); into a table
  that holds no records at all, on PostgreSQL, the secondary indexes and the source-key
  constraint are dropped for the load and built once at its end, in the same transaction;
- any later import puts rows into a temporary staging table, drops from it the rows whose
  content hash is the stored one (unchanged), and writes the rest with one set-based
  statement per chunk that inserts new keys and updates rows whose content hash differs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from civicgrid.areas.repository import areas
from civicgrid.core.db import UtcDateTime, enum_column_type, mapper_registry, metadata, utcnow
from civicgrid.core.workflow import EventLog, events
from civicgrid.registry.domain import (
    BatchState,
    Change,
    House,
    HouseKind,
    ImportBatch,
    Organisation,
    OrganisationKind,
    Person,
    RecordKind,
    RejectedRow,
    Residence,
    SearchTerms,
    StandardAddress,
    change_events,
    change_kind,
    changes_in,
)

# References between records (batch_id, address_id, house_id) are set by the import from
# what it has just read, not checked by foreign keys: a constraint trigger per row would
# cost a third of a bulk load's time.


def _provenance() -> list[Column[Any]]:
    return [
        Column("source", String(64), nullable=False),
        Column("source_key", String(128), nullable=False),
        Column("batch_id", Integer, nullable=True),
        # The linked entity (record linkage); null until linked.
        Column("entity_id", Integer, nullable=True),
        Column("content_hash", String(32), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    ]


registry_batches = Table(
    "registry_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", enum_column_type(RecordKind, 16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("file_name", String(400), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("encoding", String(32), nullable=False),
    Column("total", Integer, nullable=False),
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("review", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    # Its state on the workflow kernel (domain.IMPORT_BATCH); batches from before the
    # import job were all done when they were written.
    Column("state", enum_column_type(BatchState, 16), nullable=False, server_default="done"),
    Column("estimated_rows", Integer, nullable=False, server_default="0"),
    Column("stored_file", String(400), nullable=False, server_default=""),
    Column("error", String(64), nullable=False, server_default=""),
    Column("error_params", JSON, nullable=True),
)

registry_addresses = Table(
    "registry_addresses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("district", String(40), nullable=False),
    Column("street", String(40), nullable=False),
    Column("community", String(40), nullable=False),
    Column("road", String(60), nullable=False),
    Column("number", String(20), nullable=False),
    Column("estate", String(60), nullable=False),
    Column("building", String(20), nullable=False),
    Column("unit", String(20), nullable=False),
    Column("room", String(20), nullable=False),
    Column("text", String(300), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("grid_code", String(32), nullable=True),
    *_provenance(),
    UniqueConstraint("source", "source_key", name="uq_registry_addresses_source_key"),
)
Index(
    "ix_registry_addresses_entity",
    registry_addresses.c.entity_id,
    postgresql_where=registry_addresses.c.entity_id.is_not(None),
    sqlite_where=registry_addresses.c.entity_id.is_not(None),
)
Index("ix_registry_addresses_grid", registry_addresses.c.grid_code)
Index("ix_registry_addresses_text", registry_addresses.c.text)
# The base map reads the doors inside a map's bounds (registry.mapping).
Index("ix_registry_addresses_place", registry_addresses.c.lat, registry_addresses.c.lon)

registry_houses = Table(
    "registry_houses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", enum_column_type(HouseKind, 16), nullable=False),
    Column("area_m2", Float, nullable=True),
    Column("occupancy_limit", Integer, nullable=True),
    Column("owner_name", String(100), nullable=False),
    Column("owner_phone", String(20), nullable=False),
    Column("manager_name", String(100), nullable=False),
    Column("address_text", String(300), nullable=False),
    Column("address_id", Integer, nullable=True),
    Column("address_match", String(12), nullable=False),
    Column("grid_code", String(32), nullable=True),
    *_provenance(),
    UniqueConstraint("source", "source_key", name="uq_registry_houses_source_key"),
)
Index(
    "ix_registry_houses_entity",
    registry_houses.c.entity_id,
    postgresql_where=registry_houses.c.entity_id.is_not(None),
    sqlite_where=registry_houses.c.entity_id.is_not(None),
)
Index("ix_registry_houses_grid_kind", registry_houses.c.grid_code, registry_houses.c.kind)
Index("ix_registry_houses_address", registry_houses.c.address_id)

registry_people = Table(
    "registry_people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("id_hash", String(64), nullable=False),
    Column("id_masked", String(18), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("phone", String(20), nullable=False),
    Column("residence", enum_column_type(Residence, 16), nullable=False),
    Column("registered_on", Date, nullable=True),
    Column("expires_on", Date, nullable=True),
    Column("household_address", String(300), nullable=False),
    Column("address_text", String(300), nullable=False),
    Column("address_id", Integer, nullable=True),
    Column("address_match", String(12), nullable=False),
    Column("house_id", Integer, nullable=True),
    Column("grid_code", String(32), nullable=True),
    Column("care_tags", String(200), nullable=False),
    *_provenance(),
    UniqueConstraint("source", "source_key", name="uq_registry_people_source_key"),
)
Index(
    "ix_registry_people_entity",
    registry_people.c.entity_id,
    postgresql_where=registry_people.c.entity_id.is_not(None),
    sqlite_where=registry_people.c.entity_id.is_not(None),
)
Index("ix_registry_people_name", registry_people.c.name)
Index("ix_registry_people_phone", registry_people.c.phone)
Index("ix_registry_people_id_hash", registry_people.c.id_hash)
# Per-grid summaries (people, floating, care groups) read this index only.
Index(
    "ix_registry_people_grid",
    registry_people.c.grid_code,
    registry_people.c.residence,
    registry_people.c.care_tags,
)

registry_organisations = Table(
    "registry_organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("credit_code", String(18), nullable=False),
    Column("kind", enum_column_type(OrganisationKind, 24), nullable=False),
    Column("address_text", String(300), nullable=False),
    Column("address_id", Integer, nullable=True),
    Column("address_match", String(12), nullable=False),
    Column("contact_name", String(100), nullable=False),
    Column("contact_phone", String(20), nullable=False),
    Column("grid_code", String(32), nullable=True),
    *_provenance(),
    UniqueConstraint("source", "source_key", name="uq_registry_organisations_source_key"),
)
Index(
    "ix_registry_organisations_entity",
    registry_organisations.c.entity_id,
    postgresql_where=registry_organisations.c.entity_id.is_not(None),
    sqlite_where=registry_organisations.c.entity_id.is_not(None),
)
Index("ix_registry_organisations_name", registry_organisations.c.name)
Index("ix_registry_organisations_credit_code", registry_organisations.c.credit_code)
Index("ix_registry_organisations_grid", registry_organisations.c.grid_code)

# The standard address's map (标准地址的图层): building footprints (建筑物轮廓) and named
# roads, each with its GeoJSON geometry (WGS-84) and its bounding box, which is what a
# map's bounds are matched on. The base map draws them where no tiles are configured.
registry_map_features = Table(
    "registry_map_features",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # building | road
    Column("name", String(100), nullable=False),  # 锦绣苑3栋, 人民路
    Column("address", String(300), nullable=False),  # the building's standard address
    Column("grid_code", String(32), nullable=True),
    Column("geometry", JSON, nullable=False),
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("source", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index(
    "ix_registry_map_features_box",
    registry_map_features.c.min_lon,
    registry_map_features.c.min_lat,
)
Index("ix_registry_map_features_grid", registry_map_features.c.grid_code)

registry_rejects = Table(
    "registry_rejects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", Integer, ForeignKey("registry_batches.id"), nullable=False, index=True),
    Column("row", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("message_zh", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("raw", JSON, nullable=False),
    Column("kept", Boolean, nullable=False),
)

# ------------------------------------------------------------------ search indexes
#
# The search box matches any part of a name, an address, a credit code or (for those who
# may read them) a phone. Names are two or three characters, and people type one or two of
# them, which PostgreSQL's trigram indexes (pg_trgm) alone cannot find: two typed
# characters hold no trigram. So the indexes hold the trigrams of each text with every
# character written twice (人民路 → 人人民民路路: 人人民, 人民民, 民民路 …), where two typed
# characters make two trigrams, and names with every character written three times
# (张三 → 张张张三三三), where one typed character makes one. What the index finds is
# then checked against the columns themselves (and a phone only for those who may read
# it), so the index only narrows the rows read. SQLite reads the columns directly.

# Per kind: the column of names (None: the kind has none) and the other searched texts.
SEARCHED: dict[RecordKind, tuple[str | None, tuple[str, ...]]] = {
    RecordKind.PERSON: ("name", ("address_text", "phone")),
    RecordKind.HOUSE: ("owner_name", ("address_text", "owner_phone")),
    RecordKind.ORGANISATION: ("name", ("credit_code", "address_text", "contact_phone")),
    RecordKind.ADDRESS: (None, ("text",)),
}
PHONE_COLUMNS: dict[RecordKind, str] = {
    RecordKind.PERSON: "phone",
    RecordKind.HOUSE: "owner_phone",
    RecordKind.ORGANISATION: "contact_phone",
}


def _repeated(expression: Any, times: int) -> Any:
    """EXPRESSION with every character written TIMES times, as the search indexes hold it
    (the constants are written into the statement, so the planner matches the index)."""
    return func.regexp_replace(
        expression,
        literal_column("'(.)'"),
        literal_column("'" + "\\1" * times + "'"),
        literal_column("'g'"),
    )


def _other_texts(table: Table, kind: RecordKind) -> Any:
    columns = [table.c[name] for name in SEARCHED[kind][1]]
    joined: Any = columns[0]
    for column in columns[1:]:
        joined = joined + literal_column("' '") + column
    return joined


def _search_indexes(kind: RecordKind, table: Table, short: str) -> None:
    names, _others = SEARCHED[kind]
    if names is not None:
        Index(
            f"ix_registry_{short}_name_search",
            _repeated(table.c[names], 3).label("grams"),
            postgresql_using="gin",
            postgresql_ops={"grams": "gin_trgm_ops"},
            # PostgreSQL writes the expression back in a form of its own, which autogenerate
            # cannot compare: the migration creates it, a test checks it is there.
            info={"autogenerate": False},
        ).ddl_if(dialect="postgresql")
    Index(
        f"ix_registry_{short}_text_search",
        _repeated(_other_texts(table, kind), 2).label("grams"),
        postgresql_using="gin",
        postgresql_ops={"grams": "gin_trgm_ops"},
        info={"autogenerate": False},
        # Several columns joined by a constant: SQLAlchemy does not tell the table itself.
        _table=table,
    ).ddl_if(dialect="postgresql")


_search_indexes(RecordKind.PERSON, registry_people, "people")
_search_indexes(RecordKind.HOUSE, registry_houses, "houses")
_search_indexes(RecordKind.ORGANISATION, registry_organisations, "organisations")
_search_indexes(RecordKind.ADDRESS, registry_addresses, "addresses")

TABLES: dict[RecordKind, Table] = {
    RecordKind.ADDRESS: registry_addresses,
    RecordKind.HOUSE: registry_houses,
    RecordKind.PERSON: registry_people,
    RecordKind.ORGANISATION: registry_organisations,
}
CLASSES: dict[RecordKind, type[Any]] = {
    RecordKind.ADDRESS: StandardAddress,
    RecordKind.HOUSE: House,
    RecordKind.PERSON: Person,
    RecordKind.ORGANISATION: Organisation,
}
# What an import writes: every column but the id and the timestamps.
IMPORT_COLUMNS: dict[RecordKind, list[str]] = {
    kind: [c.name for c in table.columns if c.name not in ("id", "created_at", "updated_at")]
    for kind, table in TABLES.items()
}
STAGE = "registry_stage"

mapper_registry.map_imperatively(StandardAddress, registry_addresses)
mapper_registry.map_imperatively(House, registry_houses)
mapper_registry.map_imperatively(Person, registry_people)
mapper_registry.map_imperatively(Organisation, registry_organisations)
mapper_registry.map_imperatively(ImportBatch, registry_batches)
mapper_registry.map_imperatively(RejectedRow, registry_rejects)


@dataclass
class Upserted:
    created: int
    updated: int
    # (record id, column, old value, new value) of every changed field of updated rows.
    changes: list[tuple[int, str, Any, Any]]


@dataclass(frozen=True)
class Scope:
    """Which records a caller may see: all (path None) or those in grids under PATH."""

    path: str | None


class RegistryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Per kind, the statements that build what `begin_first_load` dropped.
        self._deferred: dict[RecordKind, list[str]] = {}

    # -------------------------------------------------------------- bulk import

    def upsert(self, kind: RecordKind, rows: Sequence[tuple[Any, ...]]) -> Upserted:
        """Write ROWS (values in IMPORT_COLUMNS order, unique by source and source key):
        new keys are inserted, rows whose content hash differs are updated, others untouched."""
        if not rows:
            return Upserted(0, 0, [])
        table = TABLES[kind]
        columns = IMPORT_COLUMNS[kind]
        stage = self._stage(kind, rows)
        data = [c for c in columns if c not in ("source", "source_key", "batch_id")]
        same_key = and_(table.c.source == stage.c.source, table.c.source_key == stage.c.source_key)
        changed = self.session.execute(
            select(table.c.id, *(table.c[c] for c in data), *(stage.c[c] for c in data))
            .join_from(table, stage, same_key)
            .where(table.c.content_hash != stage.c.content_hash)
        ).all()
        # Unchanged rows leave the stage before the insert: ON CONFLICT DO UPDATE would lock
        # (and so write) every one of them even though its WHERE leaves it as it is.
        self.session.execute(
            delete(stage).where(
                exists()
                .where(same_key, table.c.content_hash == stage.c.content_hash)
                .select_from(table)
            )
        )
        changes: list[tuple[int, str, Any, Any]] = []
        width = len(data)
        for row in changed:
            for i, name in enumerate(data):
                old, new = row[1 + i], row[1 + width + i]
                if name not in ("content_hash", "entity_id") and old != new:
                    changes.append((int(row[0]), name, old, new))
        now = utcnow()
        dialect = self.session.get_bind().dialect.name
        maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = maker(table).from_select(
            [*columns, "created_at", "updated_at"],
            select(
                *(stage.c[c] for c in columns),
                _now(now).label("created_at"),
                _now(now).label("updated_at"),
            ).where(true()),
        )
        update_columns = [c for c in columns if c not in ("source", "source_key", "entity_id")]
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.source, table.c.source_key],
            set_={**{c: statement.excluded[c] for c in update_columns}, "updated_at": now},
            where=table.c.content_hash != statement.excluded.content_hash,
        )
        written = len(self.session.execute(statement.returning(table.c.id)).all())
        return Upserted(written - len(changed), len(changed), changes)

    def insert_new(self, kind: RecordKind, rows: Sequence[tuple[Any, ...]]) -> int:
        """Write ROWS of a source that had no records when its import began: all are new,
        so they go straight into the records, without a staging table or a look for
        conflicts (the import has made the keys unique; the constraint still holds)."""
        if not rows:
            return 0
        table = TABLES[kind]
        names = [*IMPORT_COLUMNS[kind], "created_at", "updated_at"]
        now = utcnow()
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            _copy(connection, table.name, names, ((*row, now, now) for row in rows))
        else:
            raw_sqlite = connection.connection.driver_connection
            assert raw_sqlite is not None
            # The timestamp as SQLAlchemy stores it on SQLite (UTC, without the zone).
            bind = UtcDateTime().bind_processor(connection.dialect)
            stamp = bind(now) if bind else now
            marks = ", ".join("?" * len(names))
            raw_sqlite.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})",
                [(*(_sqlite_value(v) for v in row), stamp, stamp) for row in rows],
            )
        return len(rows)

    def begin_first_load(self, kind: RecordKind) -> bool:
        """Whether KIND's table is empty, so its first load can build the indexes after the
        rows (PostgreSQL only): if so the table is locked and its secondary indexes and
        unique constraints are dropped, to be built again by `finish_first_load` in the same
        transaction. An index built from all the rows at once takes a fifth of the time of
        a million random insertions into it; if the load fails, the rollback brings the
        indexes back with the empty table. Readers of the table wait until the load is in."""
        if self.session.get_bind().dialect.name != "postgresql":
            return False
        table = TABLES[kind].name
        self.session.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        if self.session.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
            return False
        # What the database has (whatever migrations made), not what this module declares.
        constraints = self.session.execute(
            text(
                "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = CAST(:table AS regclass) AND c.contype = 'u' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' "
                "AND f.conindid = c.conindid) ORDER BY c.conname"
            ),
            {"table": table},
        ).all()
        indexes = self.session.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = CAST(:table AS regclass) AND NOT x.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
                "ORDER BY i.relname"
            ),
            {"table": table},
        ).all()
        for name, _definition in constraints:
            self.session.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        for name, _definition in indexes:
            self.session.execute(text(f'DROP INDEX "{name}"'))
        self._deferred[kind] = [
            *(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for name, d in constraints),
            *(str(d) for _name, d in indexes),
        ]
        return True

    def finish_first_load(self, kind: RecordKind) -> None:
        """Build the indexes and constraints `begin_first_load` dropped."""
        # Enough memory to sort a million keys without spilling to disk, for this load only.
        self.session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for statement in self._deferred.pop(kind, []):
            self.session.execute(text(statement))

    def _stage(self, kind: RecordKind, rows: Sequence[tuple[Any, ...]]) -> Table:
        table = TABLES[kind]
        columns = IMPORT_COLUMNS[kind]
        connection = self.session.connection()
        # A temporary table lives with its connection; made again for every chunk because
        # the session may hand back its connection between chunks.
        connection.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
        connection.execute(
            text(
                f"CREATE TEMPORARY TABLE {STAGE} AS SELECT {', '.join(columns)} "
                f"FROM {table.name} WHERE 1 = 0"
            )
        )
        stage = _STAGE_TABLES[kind]
        if connection.dialect.name == "postgresql":
            _copy(connection, STAGE, columns, rows)
        else:
            # The driver's own executemany: SQLAlchemy's per-row type handling would cost
            # more than the insert. Dates go in as SQLAlchemy stores them (ISO text).
            raw_sqlite = connection.connection.driver_connection
            assert raw_sqlite is not None
            marks = ", ".join("?" * len(columns))
            raw_sqlite.executemany(
                f"INSERT INTO {STAGE} ({', '.join(columns)}) VALUES ({marks})",
                [tuple(_sqlite_value(v) for v in row) for row in rows],
            )
        return stage

    def has_records(self, kind: RecordKind, source: str) -> bool:
        table = TABLES[kind]
        found = self.session.execute(
            select(table.c.id).where(table.c.source == source).limit(1)
        ).scalar()
        return found is not None

    # -------------------------------------------------------------- reading

    def get(self, kind: RecordKind, record_id: int) -> Any:
        return self.session.get(CLASSES[kind], record_id)

    def at_address(self, kind: RecordKind, address_id: int) -> list[Any]:
        """The houses, people or organisations matched to one standard address."""
        table = TABLES[kind]
        stmt = select(CLASSES[kind]).where(table.c.address_id == address_id)
        return list(self.session.execute(stmt).scalars())

    def grid_path(self, grid_code: str | None) -> str | None:
        if grid_code is None:
            return None
        return self.session.execute(select(areas.c.path).where(areas.c.code == grid_code)).scalar()

    def search(
        self,
        kind: RecordKind,
        scope: Scope,
        *,
        terms: SearchTerms | None = None,
        phones: bool = False,
        id_hash: str | None = None,
        phone: str | None = None,
        grid_code: str | None = None,
        residence: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Any], int]:
        """Records of KIND in SCOPE, by id: those TERMS match (any part of a name, an
        address, a credit code; of a phone too when PHONES), of one identity hash, one
        whole phone, one grid or (people) one residence."""
        table = TABLES[kind]
        where = self._conditions(kind, scope, terms, phones, id_hash, phone, grid_code, residence)
        items = (
            self.session.execute(
                select(CLASSES[kind]).where(*where).order_by(table.c.id).limit(limit).offset(offset)
            )
            .scalars()
            .all()
        )
        count = select(func.count()).select_from(table).where(*where)
        return list(items), int(self.session.execute(count).scalar_one())

    def _conditions(
        self,
        kind: RecordKind,
        scope: Scope,
        terms: SearchTerms | None,
        phones: bool,
        id_hash: str | None,
        phone: str | None,
        grid_code: str | None,
        residence: str | None,
    ) -> list[Any]:
        table = TABLES[kind]
        where: list[Any] = []
        if scope.path is not None:
            where.append(table.c.grid_code.in_(_grids_under(scope.path)))
        if grid_code:
            where.append(table.c.grid_code == grid_code)
        if residence and kind is RecordKind.PERSON:
            where.append(table.c.residence == residence)
        if id_hash is not None and kind is RecordKind.PERSON:
            where.append(table.c.id_hash == id_hash)
        if phone and kind in PHONE_COLUMNS:
            where.append(table.c[PHONE_COLUMNS[kind]] == phone)
        if terms is not None and terms.text:
            dialect = self.session.get_bind().dialect.name
            where.extend(_matching(kind, table, terms, phones, dialect == "postgresql"))
        return where

    def changes_of(self, kind: RecordKind, record_id: int) -> list[Change]:
        """Every field change of a record, newest first, from its rows in the event log."""
        history = EventLog(self.session).of(change_kind(kind), record_id)
        return [change for event in reversed(history) for change in changes_in(kind, event)]

    def add_changes(self, changes: Iterable[Change]) -> None:
        """One event per record (and batch) with the fields that changed, in the log."""
        rows = change_events(changes)
        if rows:
            self.session.execute(insert(events), rows)

    def add_rejects(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(registry_rejects), rows)

    def batches(self, limit: int = 100) -> list[ImportBatch]:
        return list(
            self.session.execute(
                select(ImportBatch).order_by(registry_batches.c.id.desc()).limit(limit)
            ).scalars()
        )

    def batch(self, batch_id: int) -> ImportBatch | None:
        return self.session.get(ImportBatch, batch_id)

    def rejects(self, batch_id: int, limit: int, offset: int) -> tuple[list[RejectedRow], int]:
        items = self.session.execute(
            select(RejectedRow)
            .where(registry_rejects.c.batch_id == batch_id)
            .order_by(registry_rejects.c.row, registry_rejects.c.id)
            .limit(limit)
            .offset(offset)
        ).scalars()
        total = self.session.execute(
            select(func.count())
            .select_from(registry_rejects)
            .where(registry_rejects.c.batch_id == batch_id)
        ).scalar_one()
        return list(items), int(total)

    def all_rejects(self, batch_id: int) -> list[RejectedRow]:
        """Every problem of one batch, in file order."""
        return list(
            self.session.execute(
                select(RejectedRow)
                .where(registry_rejects.c.batch_id == batch_id)
                .order_by(registry_rejects.c.row, registry_rejects.c.id)
            ).scalars()
        )

    def clear_rejects(self, batch_id: int) -> None:
        """A batch read again from its start keeps only the problems of that reading."""
        self.session.execute(
            delete(registry_rejects).where(registry_rejects.c.batch_id == batch_id)
        )

    def open_batches(self) -> list[ImportBatch]:
        """The batches queued or running, oldest first (the import job's queue)."""
        return list(
            self.session.execute(
                select(ImportBatch)
                .where(registry_batches.c.state.in_([BatchState.QUEUED, BatchState.RUNNING]))
                .order_by(registry_batches.c.id)
            ).scalars()
        )

    def grid_names(self, codes: Iterable[str | None]) -> dict[str, str]:
        """Grid code → its name, for the codes given."""
        wanted = sorted({c for c in codes if c})
        if not wanted:
            return {}
        rows = self.session.execute(
            select(areas.c.code, areas.c.name).where(areas.c.code.in_(wanted))
        )
        return {str(code): str(name) for code, name in rows}

    def standard_addresses(self) -> list[StandardAddress]:
        return list(self.session.execute(select(StandardAddress)).scalars())

    def houses_by_address(self) -> dict[int, int]:
        """Standard address → the house at it (the first recorded, when several are)."""
        rows = self.session.execute(
            select(registry_houses.c.address_id, func.min(registry_houses.c.id))
            .where(registry_houses.c.address_id.is_not(None))
            .group_by(registry_houses.c.address_id)
        )
        return {int(a): int(h) for a, h in rows}

    def house_at(self, address_id: int) -> int | None:
        """The house at one standard address, as houses_by_address gives it."""
        found = self.session.execute(
            select(func.min(registry_houses.c.id)).where(registry_houses.c.address_id == address_id)
        ).scalar()
        return None if found is None else int(found)

    def grid_codes(self) -> set[str]:
        return set(
            self.session.execute(select(areas.c.code).where(areas.c.level == "grid")).scalars()
        )

    # -------------------------------------------------------------- per-grid summaries

    def summary(self, scope: Scope) -> dict[str, dict[str, int]]:
        """grid code → people, floating, foreign, care (people with any care tag), houses,
        rentals (rental and group rental), organisations."""
        found: dict[str, dict[str, int]] = {}

        def put(grid: str | None, name: str, value: int) -> None:
            if grid is None:
                return
            found.setdefault(grid, {}).setdefault(name, 0)
            found[grid][name] += int(value)

        people = registry_people
        stmt = select(people.c.grid_code, people.c.residence, people.c.care_tags, func.count())
        stmt = stmt.group_by(people.c.grid_code, people.c.residence, people.c.care_tags)
        if scope.path is not None:
            stmt = stmt.where(people.c.grid_code.in_(_grids_under(scope.path)))
        for grid, residence, tags, n in self.session.execute(stmt):
            put(grid, "people", n)
            if Residence(residence) is Residence.FLOATING:
                put(grid, "floating", n)
            elif Residence(residence) is Residence.FOREIGN:
                put(grid, "foreign", n)
            if tags:
                put(grid, "care", n)
        houses = registry_houses
        stmt = select(houses.c.grid_code, houses.c.kind, func.count()).group_by(
            houses.c.grid_code, houses.c.kind
        )
        if scope.path is not None:
            stmt = stmt.where(houses.c.grid_code.in_(_grids_under(scope.path)))
        for grid, kind, n in self.session.execute(stmt):
            put(grid, "houses", n)
            if HouseKind(kind) in (HouseKind.RENTAL, HouseKind.GROUP_RENTAL):
                put(grid, "rentals", n)
        orgs = registry_organisations
        stmt = select(orgs.c.grid_code, func.count()).group_by(orgs.c.grid_code)
        if scope.path is not None:
            stmt = stmt.where(orgs.c.grid_code.in_(_grids_under(scope.path)))
        for grid, n in self.session.execute(stmt):
            put(grid, "organisations", n)
        return found


# The staging tables' descriptions (never created through these; see `_stage`).
_STAGE_TABLES = {
    kind: Table(STAGE, MetaData(), *(Column(c, table.c[c].type) for c in IMPORT_COLUMNS[kind]))
    for kind, table in TABLES.items()
}


def _copy(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """COPY ROWS into TABLE on PostgreSQL in the binary format, with the columns' types
    given up front: the driver then packs each row in C, a sixth of the time it takes to
    write the text format (which formats every value with its own adapter)."""
    raw = connection.connection.driver_connection
    assert raw is not None
    types: dict[str, str] = dict(
        connection.execute(
            text(
                "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0"
            ),
            {"table": table},
        ).all()
    )
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types([types[c] for c in columns])
        write = copy.write_row
        for row in rows:
            write(row)


def _sqlite_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _now(now: Any) -> Any:
    return literal(now, UtcDateTime())


def _grids_under(path: str) -> Select[Any]:
    return select(areas.c.code).where(
        areas.c.level == "grid", areas.c.path.startswith(path, autoescape=True)
    )


def _like(text: str) -> str:
    """A LIKE pattern finding TEXT anywhere, its wildcards escaped (with a backslash, the
    escape pg_trgm reads when it takes trigrams from a pattern)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _twice(text: str, times: int) -> str:
    return "".join(c * times for c in text)


def _matching(
    kind: RecordKind, table: Table, terms: SearchTerms, phones: bool, indexed: bool
) -> list[Any]:
    """The conditions of a search for TERMS: any part of a name; with two characters or
    more, any part of an address or credit code; with PHONES, any part of the phone (the
    digits typed) or the whole number. INDEXED (PostgreSQL): first what the search indexes
    find, which holds every match and a few more."""
    names, others = SEARCHED[kind]
    text = terms.text
    short = len(text) < 2 and names is not None  # one character: names only
    exact: list[Any] = []
    guesses: list[Any] = []
    if names is not None:
        exact.append(table.c[names].ilike(_like(text), escape="\\"))
        guesses.append(_repeated(table.c[names], 3).ilike(_like(_twice(text, 3)), escape="\\"))
    if not short:
        exact.extend(
            table.c[c].ilike(_like(text), escape="\\")
            for c in others
            if c != PHONE_COLUMNS.get(kind)
        )
        guesses.append(
            _repeated(_other_texts(table, kind), 2).ilike(_like(_twice(text, 2)), escape="\\")
        )
    phone_column = PHONE_COLUMNS.get(kind)
    if phones and phone_column is not None and terms.digits:
        exact.append(table.c[phone_column].like(_like(terms.digits), escape="\\"))
        typed = {terms.digits, *([terms.phone] if terms.phone else [])} - {text}
        for number in sorted(typed):
            guesses.append(
                _repeated(_other_texts(table, kind), 2).ilike(_like(_twice(number, 2)), escape="\\")
            )
        if terms.phone:
            exact.append(table.c[phone_column] == terms.phone)
    found = [or_(*exact)]
    # One character of a kind without names makes no trigram: its texts are read instead.
    if indexed and (names is not None or len(text) >= 2):
        found.insert(0, or_(*guesses))
    return found
