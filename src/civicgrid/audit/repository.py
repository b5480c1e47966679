"""Where the audit log's tree lives: the tree's size and root, the tiles of stored node
hashes (audit.merkle), every signed checkpoint and the witnesses' cosignatures. The entries
themselves are core.ledger's table, which every domain appends to."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    Select,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from civicgrid.audit.merkle import EMPTY_ROOT, TileKey
from civicgrid.core.db import UtcDateTime, metadata
from civicgrid.core.ledger import (
    StoredEntry,
    audit_entries,
    audit_leaves,
    audit_pending,
    naming,
    placed_entries,
    split_ids,
    split_names,
)

BIG_ID = BigInteger().with_variant(Integer, "sqlite")

# One row: how many entries the tree holds and its root (what the sequencer last wrote).
audit_tree = Table(
    "audit_tree",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

audit_tiles = Table(
    "audit_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", BIG_ID, primary_key=True),
    Column("size", BigInteger, nullable=False, index=True),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),  # the signed note as served
    Column("signed_at", UtcDateTime(), nullable=False),
)

audit_cosignatures = Table(
    "audit_cosignatures",
    metadata,
    Column("id", BIG_ID, primary_key=True),
    Column("checkpoint_id", BIG_ID, ForeignKey("audit_checkpoints.id"), nullable=False),
    Column("witness", String(200), nullable=False),  # the witness key's name
    Column("key_id", String(8), nullable=False),  # hex
    Column("line", Text, nullable=False),  # the signature line as the witness wrote it
    Column("cosigned_at", UtcDateTime(), nullable=False),  # the time inside the cosignature
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("checkpoint_id", "witness", "key_id"),
)


@dataclass(frozen=True)
class TreeState:
    size: int
    root: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    size: int
    root: bytes
    note: str
    signed_at: datetime


@dataclass(frozen=True)
class StoredCosignature:
    id: int
    checkpoint_id: int
    witness: str
    key_id: str
    line: str
    cosigned_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class EntryFilter:
    """What the data administrators' page filters the log by (each optional)."""

    unit: str | None = None
    dataset: str | None = None
    actor: str | None = None
    record_kind: str | None = None
    record_ids: tuple[int, ...] = ()
    since: datetime | None = None
    before: datetime | None = None
    actions: tuple[str, ...] = ()


ENTRY_COLUMNS = (
    audit_entries.c.id,
    audit_leaves.c.leaf_index,
    audit_entries.c.at,
    audit_entries.c.action,
    audit_entries.c.actor,
    audit_entries.c.role,
    audit_entries.c.unit,
    audit_entries.c.dataset,
    audit_entries.c.record_kind,
    audit_entries.c.record_ids,
    audit_entries.c.row_count,
    audit_entries.c.fields,
    audit_entries.c.grant_id,
    audit_entries.c.reason,
    audit_entries.c.commitment,
    audit_entries.c.salt.is_not(None).label("salted"),
    audit_entries.c.leaf_hash,
)


def select_entries() -> Select[Any]:
    """The entries with their places, as stored_entry reads them."""
    return select(*ENTRY_COLUMNS).select_from(placed_entries)


def stored_entry(row: Any) -> StoredEntry:
    return StoredEntry(
        id=row.id,
        leaf_index=row.leaf_index,
        at=row.at,
        action=row.action,
        actor=row.actor,
        role=row.role,
        unit=row.unit,
        dataset=row.dataset,
        record_kind=row.record_kind,
        record_ids=split_ids(row.record_ids),
        row_count=row.row_count,
        fields=split_names(row.fields),
        grant=row.grant_id,
        reason=row.reason,
        commitment=row.commitment,
        salted=bool(row.salted),
        leaf_hash=row.leaf_hash,
    )


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -------------------------------------------------------------- the tree

    def state(self, *, lock: bool = False) -> TreeState:
        """The tree's size and root; with LOCK, held against other sequencers until the
        transaction ends (SELECT … FOR UPDATE; SQLite has one writer anyway)."""
        stmt = select(audit_tree.c.size, audit_tree.c.root).where(audit_tree.c.id == 1)
        if lock:
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt).first()
        if row is None:
            return TreeState(0, EMPTY_ROOT)
        return TreeState(int(row.size), bytes(row.root))

    def set_state(self, state: TreeState, at: datetime) -> None:
        values = {"size": state.size, "root": state.root, "updated_at": at}
        updated = self.session.execute(
            audit_tree.update().where(audit_tree.c.id == 1).values(**values)
        )
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            self.session.execute(audit_tree.insert().values(id=1, **values))

    def tiles(self, keys: Iterable[TileKey]) -> dict[TileKey, bytes]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = self.session.execute(
            select(audit_tiles.c.level, audit_tiles.c.idx, audit_tiles.c.hashes).where(
                tuple_(audit_tiles.c.level, audit_tiles.c.idx).in_(wanted)
            )
        )
        return {(int(r.level), int(r.idx)): bytes(r.hashes) for r in rows}

    def state_and_tiles(self, keys: Iterable[TileKey]) -> tuple[TreeState, dict[TileKey, bytes]]:
        """state() and tiles(KEYS) in one statement: a proof's one round trip."""
        t = audit_tiles.c
        tree = select(
            literal(-1, SmallInteger).label("level"),
            audit_tree.c.size.label("idx"),
            audit_tree.c.root.label("hashes"),
        ).where(audit_tree.c.id == 1)
        wanted = sorted(set(keys))
        stmt = (
            union_all(
                tree, select(t.level, t.idx, t.hashes).where(tuple_(t.level, t.idx).in_(wanted))
            )
            if wanted
            else tree
        )
        state = TreeState(0, EMPTY_ROOT)
        tiles = {}
        for level, idx, hashes in self.session.execute(stmt):
            if level < 0:
                state = TreeState(int(idx), bytes(hashes))
            else:
                tiles[(int(level), int(idx))] = bytes(hashes)
        return state, tiles

    def put_tiles(self, tiles: Mapping[TileKey, bytes]) -> None:
        """Write TILES, replacing the partial ones they fill further."""
        if not tiles:
            return
        keys = list(tiles)
        self.session.execute(
            delete(audit_tiles).where(tuple_(audit_tiles.c.level, audit_tiles.c.idx).in_(keys))
        )
        self.session.execute(
            audit_tiles.insert(),
            [{"level": level, "idx": idx, "hashes": tiles[(level, idx)]} for level, idx in keys],
        )

    def tile_range(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """The tiles FIRST … LAST of a level, by index."""
        rows = self.session.execute(
            select(audit_tiles.c.idx, audit_tiles.c.hashes).where(
                audit_tiles.c.level == level, audit_tiles.c.idx.between(first, last)
            )
        )
        return {int(r.idx): bytes(r.hashes) for r in rows}

    def tile_keys(self) -> list[TileKey]:
        rows = self.session.execute(select(audit_tiles.c.level, audit_tiles.c.idx))
        return sorted((int(r.level), int(r.idx)) for r in rows)

    def sequence(self, first_index: int, limit: int) -> list[tuple[int, bytes]]:
        """Take the oldest LIMIT entries off the queue and give them the next places,
        FIRST_INDEX on, in the order of their numbers; (leaf index, leaf hash) of each, in
        order. The entries' own rows are not touched."""
        q = audit_pending.c
        oldest = select(q.entry_id).order_by(q.entry_id).limit(limit).scalar_subquery()
        taken = self.session.execute(
            delete(audit_pending).where(q.entry_id.in_(oldest)).returning(q.entry_id, q.leaf_hash)
        ).all()
        # Sorted as plain tuples: comparing the rows themselves cost the sequencer more
        # than taking them off the queue.
        numbered = sorted((int(entry_id), bytes(leaf_hash)) for entry_id, leaf_hash in taken)
        placed = [
            (first_index + n, entry_id, leaf_hash)
            for n, (entry_id, leaf_hash) in enumerate(numbered)
        ]
        if placed:
            self.session.execute(
                audit_leaves.insert(),
                [{"leaf_index": index, "entry_id": entry_id} for index, entry_id, _ in placed],
            )
        return [(index, leaf_hash) for index, _, leaf_hash in placed]

    def pending(self) -> int:
        """How many entries wait for their place."""
        return int(
            self.session.execute(select(func.count()).select_from(audit_pending)).scalar_one()
        )

    # -------------------------------------------------------------- entries

    def entry_at(self, index: int) -> StoredEntry | None:
        row = self.session.execute(
            select_entries().where(audit_leaves.c.leaf_index == index)
        ).first()
        return stored_entry(row) if row else None

    def index_of_hash(self, leaf_hash: bytes) -> int | None:
        """The place of the first sequenced entry with this leaf hash."""
        return self.session.execute(
            select(func.min(audit_leaves.c.leaf_index))
            .select_from(placed_entries)
            .where(audit_entries.c.leaf_hash == leaf_hash)
        ).scalar()

    def entries(self, where: EntryFilter, limit: int, offset: int) -> tuple[list[StoredEntry], int]:
        """Entries matching WHERE, newest first, and how many match."""
        stmt = self._filtered(select_entries(), where)
        rows = self.session.execute(
            stmt.order_by(audit_entries.c.at.desc(), audit_entries.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        found = [stored_entry(r) for r in rows]
        count = self._filtered(select(func.count()).select_from(audit_entries), where)
        return found, int(self.session.execute(count).scalar_one())

    def _filtered(self, stmt: Select[Any], where: EntryFilter) -> Select[Any]:
        e = audit_entries.c
        if where.unit:
            stmt = stmt.where(e.unit == where.unit)
        if where.dataset:
            stmt = stmt.where(e.dataset == where.dataset)
        if where.actor:
            stmt = stmt.where(e.actor == where.actor)
        if where.actions:
            stmt = stmt.where(e.action.in_(where.actions))
        if where.since is not None:
            stmt = stmt.where(e.at >= where.since)
        if where.before is not None:
            stmt = stmt.where(e.at < where.before)
        if where.record_kind is not None:
            if where.record_ids:
                stmt = stmt.where(naming(where.record_kind, where.record_ids, self.dialect))
            else:
                stmt = stmt.where(e.record_kind == where.record_kind)
        return stmt

    def entries_naming(
        self,
        records: Mapping[str, Sequence[int]],
        limit: int,
        offset: int,
        other_than: str | None = None,
    ) -> tuple[list[StoredEntry], int]:
        """Entries that name any of RECORDS (kind → numbers), newest first, and how many;
        with OTHER_THAN, only those of other actors."""
        conditions = [naming(kind, ids, self.dialect) for kind, ids in records.items() if ids]
        if not conditions:
            return [], 0
        where: ColumnElement[bool] = or_(*conditions)
        if other_than is not None:
            where = and_(where, audit_entries.c.actor != other_than)
        rows = self.session.execute(
            select_entries()
            .where(where)
            .order_by(audit_entries.c.at.desc(), audit_entries.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).where(where)
        return [stored_entry(x) for x in rows], int(self.session.execute(count).scalar_one())

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def leaf_rows(self, batch: int = 20_000) -> Iterator[Any]:
        """(leaf index, then the columns of core.ledger.leaf_of_row in its order) of every
        placed entry, in leaf order (for `audit verify`). A place whose entry is gone
        gives no row."""
        stmt = _leaf_rows().order_by(audit_leaves.c.leaf_index)
        yield from self.session.execute(stmt.execution_options(yield_per=batch))

    @property
    def on_postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def leaf_rows_at(self, indices: Sequence[int]) -> list[Any]:
        """The rows of leaf_rows for these places."""
        leaf_index = audit_leaves.c.leaf_index
        stmt = _leaf_rows().where(leaf_index.in_(list(indices))).order_by(leaf_index)
        return list(self.session.execute(stmt))

    # -------------------------------------------------------------- checkpoints

    def add_checkpoint(self, size: int, root: bytes, note: str, at: datetime) -> int:
        result = self.session.execute(
            audit_checkpoints.insert().values(size=size, root=root, note=note, signed_at=at)
        )
        return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.session.execute(
            select(audit_checkpoints).order_by(audit_checkpoints.c.id.desc()).limit(1)
        ).first()
        return _checkpoint(row) if row else None

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self.session.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id))
        return [_checkpoint(r) for r in rows]

    def checkpoint_with(self, size: int, root: bytes) -> StoredCheckpoint | None:
        row = self.session.execute(
            select(audit_checkpoints)
            .where(audit_checkpoints.c.size == size, audit_checkpoints.c.root == root)
            .order_by(audit_checkpoints.c.id.desc())
            .limit(1)
        ).first()
        return _checkpoint(row) if row else None

    def latest_cosigned(self) -> StoredCheckpoint | None:
        has_cosignature = exists().where(
            audit_cosignatures.c.checkpoint_id == audit_checkpoints.c.id
        )
        row = self.session.execute(
            select(audit_checkpoints)
            .where(has_cosignature)
            .order_by(audit_checkpoints.c.id.desc())
            .limit(1)
        ).first()
        return _checkpoint(row) if row else None

    def cosignatures(self, checkpoint_ids: Iterable[int] | None = None) -> list[StoredCosignature]:
        stmt = select(audit_cosignatures).order_by(audit_cosignatures.c.id)
        if checkpoint_ids is not None:
            stmt = stmt.where(audit_cosignatures.c.checkpoint_id.in_(list(checkpoint_ids)))
        return [
            StoredCosignature(
                r.id, r.checkpoint_id, r.witness, r.key_id, r.line, r.cosigned_at, r.received_at
            )
            for r in self.session.execute(stmt)
        ]

    def put_cosignature(
        self,
        checkpoint_id: int,
        witness: str,
        key_id: str,
        line: str,
        cosigned_at: datetime,
        at: datetime,
    ) -> None:
        """Keep a witness's cosignature (its newer one replaces an older of the same key)."""
        c = audit_cosignatures.c
        self.session.execute(
            delete(audit_cosignatures).where(
                c.checkpoint_id == checkpoint_id, c.witness == witness, c.key_id == key_id
            )
        )
        self.session.execute(
            audit_cosignatures.insert().values(
                checkpoint_id=checkpoint_id,
                witness=witness,
                key_id=key_id,
                line=line,
                cosigned_at=cosigned_at,
                received_at=at,
            )
        )


def _leaf_rows() -> Select[Any]:
    e = audit_entries.c
    return select(
        audit_leaves.c.leaf_index,
        e.at,
        e.action,
        e.actor,
        e.role,
        e.unit,
        e.dataset,
        e.record_kind,
        e.record_ids,
        e.row_count,
        e.fields,
        e.grant_id,
        e.reason,
        e.commitment,
    ).select_from(audit_leaves.join(audit_entries, audit_entries.c.id == audit_leaves.c.entry_id))


# ------------------------------------------------------------------ PostgreSQL's share of a check
# `audit verify` on PostgreSQL hands the server the work it does fastest, each part on a
# connection of its own so the parts run side by side (and beside Python's own checks).


def suspect_leaves(connection: Connection, first: int, end: int, version_json: str) -> list[int]:
    """The places FIRST … END-1 (FIRST a multiple of a tile's width) that lie in a leaf tile
    whose entries' leaves, rebuilt and hashed by the server (core.ledger.leaf_of_row
    written in SQL) and joined in leaf order, are not the hashes the tile holds, or whose
    tile is missing. Each is checked again in Python: the server only sorts out the tiles
    whose entries are certainly as they were (equal SHA-256 of equal bytes), so a
    difference in how it writes JSON can flag an entry but never pass one. A tile at a
    time, not a leaf at a time: the server reads each stored tile once."""
    # The halves of a check already run side by side; workers of its own would only sort
    # again the rows the index gives in order.
    connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    result = connection.execute(
        text(
            "SELECT g.tile, g.first, g.last FROM (SELECT l.leaf_index / 256 AS tile,"
            " min(l.leaf_index) AS first, max(l.leaf_index) AS last, string_agg("
            "sha256('\\x00'::bytea || convert_to('[' || :version || ',\"'"
            " || to_char(e.at AT TIME ZONE 'UTC', :moment) || 'Z\",'"
            " || to_json(e.action)::text || ',' || to_json(e.actor)::text"
            " || ',' || coalesce(to_json(e.role)::text, 'null')"
            " || ',' || coalesce(to_json(e.unit)::text, 'null')"
            " || ',' || coalesce(to_json(e.dataset)::text, 'null')"
            " || ',' || coalesce(to_json(e.record_kind)::text, 'null')"
            " || ',[' || coalesce(e.record_ids, '') || '],'"
            " || coalesce(e.row_count::text, 'null') || ','"
            " || CASE WHEN e.fields IS NULL THEN '[]' ELSE '[\"' || replace(replace(replace("
            "e.fields, '\\', '\\\\'), '\"', '\\\"'), ',', '\",\"') || '\"]' END"
            " || ',' || coalesce(e.grant_id::text, 'null')"
            " || ',' || coalesce(to_json(e.reason)::text, 'null')"
            " || ',' || CASE WHEN e.commitment IS NULL THEN 'null'"
            " ELSE '\"' || encode(e.commitment, 'base64') || '\"' END || ']', 'UTF8')),"
            " ''::bytea ORDER BY l.leaf_index) AS hashes FROM audit_leaves l"
            " JOIN audit_entries e ON e.id = l.entry_id"
            " WHERE l.leaf_index >= :first AND l.leaf_index < :end GROUP BY 1) AS g"
            " LEFT JOIN audit_tiles t ON t.level = 0 AND t.idx = g.tile"
            # The tile may have grown since this check's snapshot: its beginning counts.
            " WHERE substring(t.hashes FROM 1 FOR length(g.hashes)) IS DISTINCT FROM g.hashes"
        ),
        {"first": first, "end": end, "version": version_json, "moment": MOMENT_FORMAT},
    )
    return sorted(i for _tile, a, b in result for i in range(int(a), int(b) + 1))


# How PostgreSQL writes a leaf's time (core.ledger: to the microsecond, then "Z").
MOMENT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US'


def placed_count(connection: Connection, size: int) -> int:
    """How many places below SIZE hold an entry."""
    stmt = _leaf_rows().where(audit_leaves.c.leaf_index < size).subquery()
    return int(connection.execute(select(func.count()).select_from(stmt)).scalar_one())


def missing_places(connection: Connection, size: int, limit: int) -> list[tuple[int, int]]:
    """The runs of places below SIZE that no entry holds (none was placed there, or the
    entry placed there is gone), (first, last)."""
    result = connection.execute(
        text(
            "WITH held AS (SELECT l.leaf_index FROM audit_leaves l JOIN audit_entries e"
            " ON e.id = l.entry_id WHERE l.leaf_index < :size)"
            " SELECT previous + 1, leaf_index - 1 FROM (SELECT leaf_index, coalesce("
            "lag(leaf_index) OVER (ORDER BY leaf_index), -1) AS previous FROM held) AS placed"
            " WHERE leaf_index > previous + 1"
            " UNION ALL SELECT coalesce(max(leaf_index), -1) + 1, :size - 1 FROM held"
            " HAVING coalesce(max(leaf_index), -1) + 1 < :size ORDER BY 1 LIMIT :limit"
        ),
        {"size": size, "limit": limit},
    )
    return [(int(a), int(b)) for a, b in result]


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(row.id, int(row.size), bytes(row.root), row.note, row.signed_at)
