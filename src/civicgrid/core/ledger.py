"""The audit log's entries: one append-only table below every domain, so the exchange, the
registry and the cases record every access to personal data without importing each other
or the audit domain (which sequences the entries into a Merkle tree, signs checkpoints and
serves proofs: civicgrid.audit).

How a domain records an access, in the transaction of the access itself::

    from civicgrid.core.ledger import Action, Entry, Ledger

    Ledger(uow.session).append(
        Entry.by(actor, Action.PERSONAL_READ, record_kind="person", record_ids=[17],
                 fields=("name", "phone"))
    )
    uow.commit()

`append` returns the entry's number (its `id`, known at once) and queues the entry for
the audit sequencer, which gives it its place in the tree (`leaf_index`, 0, 1, 2 …
without gaps) within a few seconds of the commit; `Ledger.leaf_index(id)` says it once
given. An entry that is rolled back with its transaction never existed: nothing was read
either.

An entry is written once and never rewritten (only its salt may be erased): its place is
kept in a table of its own, `audit_leaves`, and the queue of entries still waiting for
one is `audit_pending`, as Trillian keeps its sequenced leaves apart from their data.
Writing the place into the entry's row would copy the whole row, and every index over it
(the GIN index of the records it names the dearest), a second time for each entry.

What an entry holds — and never holds:

- what happened (`Action`), who (an account's name, or `apikey:NAME` for a department
  system; the role; the handling unit), the dataset, the kind of record and the records'
  numbers (or only how many rows), the field names, the grant it was read under, and a
  reason code (a message key such as `grant_expired`, never free text);
- no personal value: no name, phone or identity number. Where one matters (the identity
  number a verify question asked about), `personal=` takes it and the entry keeps only a
  salted commitment, HMAC-SHA256(salt, value), with the random salt kept beside the entry
  but outside the tree. Whoever holds the value and the salt can show the entry was about
  it; erasing the salt (`forget`) leaves a commitment nobody can test a guess against,
  and the tree, which never held the salt, does not change.

Each entry is the leaf of an RFC 6962 tree: its canonical bytes (`leaf_bytes`, a JSON
array of the fields above) hashed as SHA-256(0x00 || leaf). The leaf hash is kept with
the entry when it is appended; `civicgrid audit verify` recomputes it from the columns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from civicgrid.core.db import UtcDateTime, metadata, utcnow
from civicgrid.core.permissions import Actor
from civicgrid.core.security import mask_phone

# The first element of every leaf: what the rest of the array means.
LEAF_VERSION = "civicgrid-audit/1"
# A name the log may hold (a field, a kind of record, a dataset, a reason): no spaces, no
# commas, nothing that could carry a sentence about a person.
_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,120}")
MAX_ACTOR_CHARS = 160
# A mobile number in a resident's login name (kept masked: 138****5678).
_LONG_NUMBER = re.compile(r"\+?\d{6,}")


class Action(StrEnum):
    """What happened."""

    READ = "read"  # rows of a dataset read through the exchange under a grant
    READ_REFUSED = "read_refused"  # a read refused (no live grant, a field not granted…)
    EXPORT = "export"  # a bulk export of a dataset
    GRANT_CHANGE = "grant_change"  # a grant asked for, narrowed, approved, refused, revoked…
    VERIFY_QUESTION = "verify_question"  # a yes/no question answered without the data
    PERSONAL_READ = "personal_read"  # personal data shown by the registry or the cases
    PERSONAL_CHANGE = "personal_change"  # personal data changed


class RecordKind(StrEnum):
    """The kinds of record an entry may name, so readers of the log (a resident's "who read
    my data") find every read of the same record whichever domain made it. A domain may
    name another kind of its own (letters, digits and `_.:/-`)."""

    PERSON = "person"  # a registry person (registry `people.id`)
    HOUSE = "house"  # a registry house
    ORGANISATION = "organisation"  # a registry organisation
    ADDRESS = "address"  # a registry standard address
    CASE = "case"  # a case: its reporters' names and contacts


audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("action", String(24), nullable=False),
    Column("actor", String(MAX_ACTOR_CHARS), nullable=False),
    Column("role", String(24), nullable=True),
    Column("unit", String(64), nullable=True, index=True),
    Column("dataset", String(120), nullable=True, index=True),
    Column("record_kind", String(120), nullable=True),
    Column("record_ids", Text, nullable=True),  # "17,18,19"
    Column("row_count", BigInteger, nullable=True),
    Column("fields", Text, nullable=True),  # "name,phone"
    Column("grant_id", BigInteger, nullable=True),
    Column("reason", String(120), nullable=True),
    Column("commitment", LargeBinary(32), nullable=True),
    # Beside the commitment, outside the leaf: erased to forget whom it concerned.
    Column("salt", LargeBinary(32), nullable=True),
    Column("leaf_hash", LargeBinary(32), nullable=False, index=True),
)

# Each entry's place in the tree, given by the sequencer (civicgrid.audit). No foreign key:
# an entry deleted behind the log's back is what `audit verify` is there to find.
audit_leaves = Table(
    "audit_leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_id", BigInteger, nullable=False, unique=True),
)

# The sequencer's queue: the entries still without a place (with their leaf hashes, all
# the sequencer needs of them), written with the entry and taken off as it is placed.
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

# An entry with its place (None while it waits for one).
placed_entries = audit_entries.outerjoin(
    audit_leaves, audit_leaves.c.entry_id == audit_entries.c.id
)

# "Every read of person 17" is one indexed look-up on PostgreSQL: a GIN index of the blocks
# of record numbers each entry names (17 lies in block 0, numbers 0 to 1023), worked out
# from the entry's own list (the very column its leaf is built from, so no second table
# can say otherwise; audit_record_blocks is made by migration 0026), then the list itself
# decides. A page of a hundred records is one or two keys, written into the index at
# once: a key for every record cost a read's insert a hundred keys, and merging them from
# the index's pending list stalled the insert that filled it for 300 to 600 ms every few
# seconds. SQLite, for a small installation, reads the entries of that kind.
RECORD_BLOCK = 1024
RECORD_BLOCKS = func.audit_record_blocks(audit_entries.c.record_ids, type_=ARRAY(BigInteger))
Index(
    "ix_audit_entries_record_blocks",
    RECORD_BLOCKS,
    postgresql_using="gin",
    postgresql_with={"fastupdate": "off"},
    # PostgreSQL writes the expression back in a form of its own, which autogenerate cannot
    # compare: the migration creates it, tests/integration/test_audit_log.py uses it.
    info={"autogenerate": False},
).ddl_if(dialect="postgresql")
Index("ix_audit_entries_record_kind", audit_entries.c.record_kind, audit_entries.c.at)


def naming(record_kind: str, record_ids: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """The entries that name any of these records of RECORD_KIND (DIALECT: the database's)."""
    ids = [int(i) for i in record_ids]
    of_kind = audit_entries.c.record_kind == record_kind
    listed = literal(",") + audit_entries.c.record_ids + literal(",")
    named = or_(*[listed.like(f"%,{i},%") for i in ids])
    if dialect == "postgresql":  # the blocks' index finds the candidates, the list decides
        blocks = sorted({i // RECORD_BLOCK for i in ids})
        return and_(of_kind, RECORD_BLOCKS.overlap(cast(blocks, ARRAY(BigInteger))), named)
    return and_(of_kind, named)


class InvalidEntry(ValueError):
    """An entry the log cannot hold as given (a programming error in the caller)."""


@dataclass(frozen=True)
class Entry:
    """One access to record. Build it with `Entry.by(actor, action, …)`."""

    action: Action
    actor: str
    role: str | None = None
    unit: str | None = None
    dataset: str | None = None
    record_kind: str | None = None
    record_ids: tuple[int, ...] = ()
    row_count: int | None = None
    fields: tuple[str, ...] = ()
    grant: int | None = None
    reason: str | None = None
    # A personal value the entry is about (an identity number asked after): only a salted
    # commitment to it is kept.
    personal: str | None = None
    at: datetime | None = None

    @classmethod
    def by(
        cls,
        actor: Actor,
        action: Action,
        *,
        dataset: str | None = None,
        record_kind: str | None = None,
        record_ids: Iterable[int] = (),
        row_count: int | None = None,
        fields: Iterable[str] = (),
        grant: int | None = None,
        reason: str | None = None,
        personal: str | None = None,
        at: datetime | None = None,
    ) -> Entry:
        """ACTOR did ACTION: the account (or API key) name, role and unit come from the actor.
        A resident's login may be her mobile number: the log keeps it masked, as it keeps
        no personal value."""
        name = actor.name
        if not actor.is_staff:
            name = _LONG_NUMBER.sub(lambda m: mask_phone(m.group(0)), name) or "anonymous"
        return cls(
            action=Action(action),
            actor=name,
            role=actor.role.value if actor.role else None,
            unit=actor.department_code,
            dataset=dataset,
            record_kind=record_kind,
            record_ids=tuple(record_ids),
            row_count=row_count,
            fields=tuple(fields),
            grant=grant,
            reason=reason,
            personal=personal,
            at=at,
        )

    def __post_init__(self) -> None:
        if not self.actor or len(self.actor) > MAX_ACTOR_CHARS:
            raise InvalidEntry(f"actor must be 1 to {MAX_ACTOR_CHARS} characters")
        for label, value in (
            ("dataset", self.dataset),
            ("record_kind", self.record_kind),
            ("reason", self.reason),
            ("unit", self.unit),
        ):
            if value is not None and not _NAME.fullmatch(value):
                raise InvalidEntry(f"{label} {value!r} is not a name the log may hold")
        for name in self.fields:
            if not _NAME.fullmatch(name):
                raise InvalidEntry(f"field {name!r} is not a name the log may hold")
        if self.record_ids and self.record_kind is None:
            raise InvalidEntry("record_ids need a record_kind")
        if any(not isinstance(i, int) or i < 0 for i in self.record_ids):
            raise InvalidEntry("record_ids must be whole numbers")
        if self.row_count is not None and self.row_count < 0:
            raise InvalidEntry("row_count must not be negative")


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the log holds it (what `audit verify`, the API and the pages read)."""

    id: int
    leaf_index: int | None
    at: datetime
    action: str
    actor: str
    role: str | None
    unit: str | None
    dataset: str | None
    record_kind: str | None
    record_ids: tuple[int, ...]
    row_count: int | None
    fields: tuple[str, ...]
    grant: int | None
    reason: str | None
    commitment: bytes | None
    salted: bool  # whether the salt is still kept (False once forgotten)
    leaf_hash: bytes

    @property
    def leaf(self) -> bytes:
        return leaf_bytes(
            self.at,
            self.action,
            self.actor,
            self.role,
            self.unit,
            self.dataset,
            self.record_kind,
            self.record_ids,
            self.row_count,
            self.fields,
            self.grant,
            self.reason,
            self.commitment,
        )


def leaf_bytes(
    at: datetime,
    action: str,
    actor: str,
    role: str | None,
    unit: str | None,
    dataset: str | None,
    record_kind: str | None,
    record_ids: Sequence[int],
    row_count: int | None,
    fields: Sequence[str],
    grant: int | None,
    reason: str | None,
    commitment: bytes | None,
) -> bytes:
    """The entry's canonical bytes, the tree's leaf: exactly
    json.dumps([LEAF_VERSION, at, action, actor, role, unit, dataset, record_kind,
    record_ids, row_count, fields, grant, reason, commitment], ensure_ascii=False,
    separators=(",", ":")) in UTF-8, the time in UTC to the microsecond ("…T…​.ffffffZ"),
    the commitment in base64 (or null). Written out piece by piece, each string encoded
    by json.dumps itself, because `audit verify` recomputes a million of them."""
    ids = "[" + ",".join([str(int(i)) for i in record_ids]) + "]"
    names = "[" + ",".join([_json(name) for name in fields]) + "]"
    return _leaf(
        at,
        action,
        actor,
        role,
        unit,
        dataset,
        record_kind,
        ids,
        row_count,
        names,
        grant,
        reason,
        commitment,
    )


def leaf_of_row(
    at: datetime,
    action: str,
    actor: str,
    role: str | None,
    unit: str | None,
    dataset: str | None,
    record_kind: str | None,
    record_ids: str | None,
    row_count: int | None,
    fields: str | None,
    grant: int | None,
    reason: str | None,
    commitment: bytes | None,
) -> bytes:
    """The leaf of an entry as its row stores it (record_ids and fields comma-joined):
    leaf_bytes of the same entry, without parsing the lists back. Any other text in a
    column gives other bytes, so a changed row never passes for the one it was."""
    ids = "[" + (record_ids or "") + "]"
    names = "[" + ",".join([_json(name) for name in fields.split(",")]) + "]" if fields else "[]"
    return _leaf(
        at,
        action,
        actor,
        role,
        unit,
        dataset,
        record_kind,
        ids,
        row_count,
        names,
        grant,
        reason,
        commitment,
    )


def _leaf(
    at: datetime,
    action: str,
    actor: str,
    role: str | None,
    unit: str | None,
    dataset: str | None,
    record_kind: str | None,
    ids: str,
    row_count: int | None,
    names: str,
    grant: int | None,
    reason: str | None,
    commitment: bytes | None,
) -> bytes:
    if at.utcoffset():
        at = at.astimezone(UTC)
    moment = at.replace(tzinfo=None).isoformat(timespec="microseconds")
    parts = (
        _VERSION_JSON,
        '"' + moment + 'Z"',
        _json(action),
        _json(actor),
        _json(role),
        _json(unit),
        _json(dataset),
        _json(record_kind),
        ids,
        "null" if row_count is None else str(int(row_count)),
        names,
        "null" if grant is None else str(int(grant)),
        _json(reason),
        "null" if commitment is None else '"' + _b64(bytes(commitment)) + '"',
    )
    return ("[" + ",".join(parts) + "]").encode()


# Names repeat from entry to entry (actors, units, fields): each is JSON-encoded once.
_ENCODED: dict[str | None, str] = {None: "null"}
_MAX_ENCODED = 100_000


def _json(value: str | None) -> str:
    found = _ENCODED.get(value)
    if found is None:
        found = json.dumps(value, ensure_ascii=False)
        if len(_ENCODED) < _MAX_ENCODED:
            _ENCODED[value] = found
    return found


_VERSION_JSON = json.dumps(LEAF_VERSION)


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 6962: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def commitment_to(value: str, salt: bytes) -> bytes:
    return hmac.new(salt, value.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _joined(values: Iterable[Any]) -> str | None:
    text = ",".join(str(v) for v in values)
    return text or None


class Ledger:
    """Appending to the log, in the caller's transaction (commit it as usual)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, entry: Entry) -> int:
        """Add ENTRY; its number (`id`). The place in the tree follows within seconds."""
        return self.append_all([entry])[0]

    def append_all(self, entries: Sequence[Entry]) -> list[int]:
        """Add ENTRIES in this order, each queued for the sequencer; their numbers."""
        session = self.session
        if _is_sqlite(session):
            # SQLite's writers take turns through the session's own execution (core.db).
            numbers = []
            for entry in entries:
                row = _row(entry)
                number = int(session.execute(_INSERT_ENTRY, row).scalar_one())
                session.execute(_QUEUE_ENTRY, {"entry_id": number, "leaf_hash": row["leaf_hash"]})
                numbers.append(number)
            return numbers
        # On PostgreSQL the entry and its place in the queue are one statement, sent
        # straight to the session's connection (half the CPU of the session's execution).
        execute = session.connection().execute
        return [int(execute(_INSERT_AND_QUEUE, _row(entry)).scalar_one()) for entry in entries]

    def leaf_index(self, entry_id: int) -> int | None:
        """Where the sequencer placed the entry numbered ENTRY_ID (None: not yet)."""
        return self.session.execute(
            select(audit_leaves.c.leaf_index).where(audit_leaves.c.entry_id == entry_id)
        ).scalar_one_or_none()

    def committed_to(self, entry_id: int, value: str) -> bool | None:
        """Whether the entry's commitment is to VALUE; None when it has none or its salt
        was erased."""
        row = self.session.execute(
            select(audit_entries.c.commitment, audit_entries.c.salt).where(
                audit_entries.c.id == entry_id
            )
        ).first()
        if row is None or row.commitment is None or row.salt is None:
            return None
        return hmac.compare_digest(commitment_to(value, row.salt), row.commitment)

    def forget(self, record_kind: str, record_ids: Iterable[int]) -> int:
        """Erase the salts of the entries naming these records (the person's data is being
        deleted): their commitments can no longer be tested against any value. The tree
        is untouched. How many entries lost their salt."""
        ids = list(record_ids)
        if not ids:
            return 0
        dialect = self.session.get_bind().dialect.name
        result = self.session.execute(
            update(audit_entries)
            .where(naming(record_kind, ids, dialect), audit_entries.c.salt.is_not(None))
            .values(salt=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _row(entry: Entry) -> dict[str, Any]:
    at = (entry.at or utcnow()).astimezone(UTC)
    salt = commitment = None
    if entry.personal is not None:
        salt = secrets.token_bytes(32)
        commitment = commitment_to(entry.personal, salt)
    row_count = entry.row_count
    if row_count is None and entry.record_ids:
        row_count = len(entry.record_ids)
    leaf = leaf_bytes(
        at,
        entry.action.value,
        entry.actor,
        entry.role,
        entry.unit,
        entry.dataset,
        entry.record_kind,
        entry.record_ids,
        row_count,
        entry.fields,
        entry.grant,
        entry.reason,
        commitment,
    )
    return {
        "at": at,
        "action": entry.action.value,
        "actor": entry.actor,
        "role": entry.role,
        "unit": entry.unit,
        "dataset": entry.dataset,
        "record_kind": entry.record_kind,
        "record_ids": _joined(entry.record_ids),
        "row_count": row_count,
        "fields": _joined(entry.fields),
        "grant_id": entry.grant,
        "reason": entry.reason,
        "commitment": commitment,
        "salt": salt,
        "leaf_hash": leaf_hash(leaf),
    }


_INSERT_ENTRY = insert(audit_entries).returning(audit_entries.c.id)
_QUEUE_ENTRY = insert(audit_pending)
_ENTRY_COLUMNS = [c.name for c in audit_entries.c if c.name != "id"]
_NEW_ENTRY = (
    insert(audit_entries)
    .values({name: bindparam(name) for name in _ENTRY_COLUMNS})
    .returning(audit_entries.c.id, audit_entries.c.leaf_hash)
    .cte("new_entry")
)
_INSERT_AND_QUEUE = (
    insert(audit_pending)
    .from_select(["entry_id", "leaf_hash"], select(_NEW_ENTRY.c.id, _NEW_ENTRY.c.leaf_hash))
    .returning(audit_pending.c.entry_id)
)


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def split_ids(text: str | None) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",")) if text else ()


def split_names(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()
