"""The verifiable audit log: placing entries in the tree, signed checkpoints, proofs, the
witnesses' cosignatures, checking the whole log, and reading it (data administrators by
unit, person, dataset and time; a resident who read her records).

Design (README, "The audit log"):

- Domains append entries in their own transactions (core.ledger): an insert, no lock. The
  entry's number comes from the table's sequence and may have gaps (a rolled-back
  transaction) or commit out of order, so it is not the leaf index.
- One *sequencer* at a time — the periodic job `audit.checkpoint` (core.jobs: one process
  holds its lock) — gives the committed entries without a place the next leaf indices in
  the order of their numbers (one UPDATE … RETURNING), appends their leaf hashes to the
  tiles (audit.merkle), stores the new size and root, and signs a checkpoint
  (audit.notes) when the tree grew. Before signing it checks that the tree still holds
  the last signed checkpoint, so a rewritten tile is never signed over.
- Proofs read only the tiles: a handful of rows whatever the size.
- `verify_log` recomputes every leaf from its entry's columns, every tile from the level
  below, the root of every checkpoint and every signature, and names the first entry
  found altered, missing or moved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from civicgrid.audit.domain import (
    ConsistencyProof,
    Cosigned,
    InclusionProof,
    Problem,
    VerifyReport,
)
from civicgrid.audit.merkle import (
    HASH_SIZE,
    TILE_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileKey,
    Tiles,
    consistency_ranges,
    expected_width,
    extend,
    inclusion_ranges,
    right_edge,
    tile_root,
    tiles_for,
)
from civicgrid.audit.notes import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    parse_checkpoint,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_checkpoint,
)
from civicgrid.audit.ports import NoOwnRecords, OwnRecords, UnitNames, no_unit_names
from civicgrid.audit.repository import (
    AuditRepository,
    EntryFilter,
    StoredCheckpoint,
    TreeState,
    missing_places,
    placed_count,
    suspect_leaves,
)
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from civicgrid.core.i18n import N_
from civicgrid.core.instance import instance_file
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.ledger import (
    LEAF_VERSION,
    Action,
    Entry,
    Ledger,
    RecordKind,
    StoredEntry,
    leaf_of_row,
)
from civicgrid.core.permissions import ADMIN_ROLES, PUBLIC, Actor, Role, permission
from civicgrid.core.settings import Settings

log = logging.getLogger("civicgrid.audit")

# Who reads the entries: the data office, which answers for the exchange, and administrators.
AUDIT_READERS = frozenset({Role.DATA_ADMIN, Role.ADMIN})
RESIDENTS = frozenset({Role.RESIDENT})
SEQUENCER = Actor(name="audit-sequencer", role=Role.ADMIN, display_name="审计日志 Audit log")
CHECKPOINT_JOB = "audit.checkpoint"
KEY_FILE = "audit_log_key"
# Entries placed per transaction of the sequencer.
SEQUENCE_BATCH = 20_000
PAGE_SIZE = 50
# A cosignature may be this far ahead of the platform's clock (the witness's clock drifts).
COSIGNATURE_SKEW = timedelta(minutes=10)
# `verify_log` names at most this many problems, and then how many more it found.
MAX_PROBLEMS = 50
# The leaf's first element as JSON, for the server's rebuilding of leaves.
VERSION_JSON = json.dumps(LEAF_VERSION)
# The reason code of a resident's own look-up of who read her records.
OWN_READS = "own_reads"


@dataclass
class AuditPorts:
    """The log's identity and keys, the witnesses it knows and how to find a resident's
    own records."""

    origin: str = "civicgrid.localhost/audit"
    # Loads (or makes, on first use) the log's signing key.
    key_source: Callable[[], Signer] | None = None
    # Where key_source reads the key, for a message when the checkpoints carry another's.
    key_place: str = "a key made for this process"
    witnesses: tuple[Verifier, ...] = ()
    own_records: OwnRecords = field(default_factory=NoOwnRecords)
    unit_names: UnitNames = no_unit_names
    clock: Callable[[], datetime] = utcnow
    _signer: Signer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def signer(self) -> Signer:
        with self._lock:
            if self._signer is None:
                if self.key_source is None:
                    self._signer = Signer.generate(self.origin)
                else:
                    self._signer = self.key_source()
                if self._signer.name != self.origin or self._signer.kind != ED25519:
                    raise InvalidInput(
                        "audit_key_origin_mismatch", name=self._signer.name, origin=self.origin
                    )
            return self._signer

    def log_verifier(self) -> Verifier:
        return self.signer().verifier

    def witness(self, name: str, key_id: bytes) -> Verifier | None:
        return next((w for w in self.witnesses if (w.name, w.key_id) == (name, key_id)), None)


def ports_for(
    settings: Settings,
    own_records: OwnRecords | None = None,
    unit_names: UnitNames = no_unit_names,
    clock: Callable[[], datetime] = utcnow,
) -> AuditPorts:
    """The audit ports from the settings: the witnesses' keys are read now (a wrong one
    stops the start, naming it), the signing key when first needed."""
    witnesses = []
    for text in settings.audit_witnesses.split(","):
        if not text.strip():
            continue
        witness = parse_vkey(text)
        if witness.kind != COSIGNATURE_V1:
            raise InvalidInput("audit_witness_key_kind", key=witness.vkey)
        witnesses.append(witness)
    given = settings.audit_signing_key.strip()

    def key_source() -> Signer:
        if given:
            return parse_skey(given)
        text = instance_file(
            settings.instance_dir,
            KEY_FILE,
            lambda: Signer.generate(settings.audit_origin).skey,
            what=("audit log signing key", "审计日志签名密钥"),
            hint=(
                "set CIVICGRID_INSTANCE_DIR or CIVICGRID_AUDIT_SIGNING_KEY",
                "设置 CIVICGRID_INSTANCE_DIR 或 CIVICGRID_AUDIT_SIGNING_KEY",
            ),
        )
        return parse_skey(text)

    return AuditPorts(
        origin=settings.audit_origin,
        key_source=key_source,
        key_place=(
            "CIVICGRID_AUDIT_SIGNING_KEY"
            if given
            else str(settings.instance_dir.absolute() / KEY_FILE)
        ),
        witnesses=tuple(witnesses),
        own_records=own_records or NoOwnRecords(),
        unit_names=unit_names,
        clock=clock,
    )


# ------------------------------------------------------------------ the sequencer


@dataclass(frozen=True)
class Sequenced:
    """What a run of the sequencer did: the tree's size before and after, and the
    checkpoint it signed (None when the tree did not grow)."""

    old: int
    new: int
    checkpoint: StoredCheckpoint | None


def _place_entries(uow: UnitOfWork, now: datetime, batch: int) -> tuple[TreeState, TreeState]:
    """Give every waiting entry its place, BATCH per transaction; (before, after)."""
    repo = AuditRepository(uow.session)
    state = before = repo.state(lock=True)
    while True:
        placed = repo.sequence(state.size, batch)
        if not placed:
            uow.rollback()
            break
        indices = [index for index, _ in placed]
        if indices != list(range(state.size, state.size + len(placed))):
            raise Conflict("audit_sequence_gap", size=state.size)
        partial = repo.tiles(right_edge(state.size))
        changed = extend(state.size, [h for _, h in placed], partial)
        repo.put_tiles(changed)
        size = state.size + len(placed)
        state = TreeState(size, _tiles_for(repo, [(0, size)], changed).root(size))
        repo.set_state(state, now)
        uow.commit()
        if len(placed) < batch:
            break
        state = repo.state(lock=True)
    return before, state


def _tiles_for(
    repo: AuditRepository,
    ranges: Iterable[tuple[int, int]],
    known: dict[TileKey, bytes] | None = None,
) -> Tiles:
    """The tiles the MTH of RANGES needs, read from KNOWN first and the database for the rest."""
    known = dict(known or {})
    missing = tiles_for(ranges) - set(known)
    known.update(repo.tiles(missing))
    return Tiles(known)


@permission(ADMIN_ROLES, "Place new entries in the tree and sign a checkpoint")
def checkpoint_now(
    uow: UnitOfWork, actor: Actor, ports: AuditPorts, batch: int = SEQUENCE_BATCH
) -> Sequenced:
    """Place the entries waiting for a place and sign a checkpoint of the tree when it grew
    since the last one (or when there is none yet). What the job `audit.checkpoint` does
    every few seconds; run it from one process at a time (the job's lock)."""
    now = ports.clock()
    before, after = _place_entries(uow, now, batch)
    repo = AuditRepository(uow.session)
    latest = repo.latest_checkpoint()
    if latest is not None and latest.size == after.size and latest.root == after.root:
        return Sequenced(before.size, after.size, None)
    if latest is not None:
        # Never sign over history: the tree must still hold the last signed checkpoint.
        if latest.size > after.size:
            raise Conflict("audit_tree_shrank", size=after.size, signed=latest.size)
        held = _tiles_for(repo, [(0, latest.size)]).root(latest.size)
        if held != latest.root:
            log.error("the tree no longer holds checkpoint %s: not signing", latest.size)
            raise Conflict("audit_tree_rewritten", size=latest.size)
    note = sign_checkpoint(Checkpoint(ports.origin, after.size, after.root), ports.signer())
    checkpoint_id = repo.add_checkpoint(after.size, after.root, note.render(), now)
    uow.commit()
    stored = StoredCheckpoint(checkpoint_id, after.size, after.root, note.render(), now)
    return Sequenced(before.size, after.size, stored)


def checkpoint_job(ports: AuditPorts, every: timedelta) -> PeriodicJob:
    """The sequencer and the checkpoint's signature, every EVERY (a few seconds)."""

    def run(uow: UnitOfWork) -> str:
        done = checkpoint_now(uow, SEQUENCER, ports)
        if done.checkpoint is None:
            return ""
        return f"checkpoint of {done.new} entries ({done.new - done.old} new)"

    return PeriodicJob(CHECKPOINT_JOB, every, run)


# ------------------------------------------------------------------ what anyone may check


@permission(PUBLIC, "The latest signed checkpoint (anyone may check the log)")
def latest_checkpoint(uow: UnitOfWork, actor: Actor) -> str:
    """The latest checkpoint as a signed note: the log's signature line and every
    witness's cosignature line."""
    repo = AuditRepository(uow.session)
    latest = repo.latest_checkpoint()
    if latest is None:
        raise NotFound("audit_no_checkpoint")
    return _with_cosignatures(repo, latest)


def _with_cosignatures(repo: AuditRepository, checkpoint: StoredCheckpoint) -> str:
    lines = [c.line for c in repo.cosignatures([checkpoint.id])]
    return checkpoint.note + "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@permission(PUBLIC, "The log's public key (anyone may check the log)")
def log_key(uow: UnitOfWork, actor: Actor, ports: AuditPorts) -> str:
    """The verifier key of the log's checkpoints: "<origin>+<key ID>+<base64 key>"."""
    return ports.log_verifier().vkey


def _size_asked(repo: AuditRepository, size: int | None, field_name: str, tree: TreeState) -> int:
    """SIZE, or the latest checkpoint's when not given; within the tree."""
    if size is None:
        latest = repo.latest_checkpoint()
        size = latest.size if latest is not None else tree.size
    if size < 0:
        raise FieldProblem("audit_size_negative", field=field_name, size=size)
    if size > tree.size:
        raise FieldProblem("audit_size_beyond_tree", field=field_name, size=size, tree=tree.size)
    return size


@permission(PUBLIC, "Prove that an entry is in the log (anyone may check the log)")
def inclusion_proof(
    uow: UnitOfWork,
    actor: Actor,
    *,
    index: int | None = None,
    leaf_hash: bytes | None = None,
    size: int | None = None,
) -> InclusionProof:
    """The hashes that lead from the entry at INDEX (or the first with LEAF_HASH) to the
    root of the tree of SIZE entries (by default the latest checkpoint's)."""
    repo = AuditRepository(uow.session)
    if size is not None and leaf_hash is None and index is not None and 0 <= index < size:
        # What a client that knows its checkpoint asks: the tree and the tiles together.
        ranges = [*inclusion_ranges(index, size), (0, size), (index, index + 1)]
        tree, known = repo.state_and_tiles(tiles_for(ranges))
        _size_asked(repo, size, "size", tree)
        return _inclusion_proof(index, size, Tiles(known))
    tree = repo.state()
    size = _size_asked(repo, size, "size", tree)
    if leaf_hash is not None:
        found = repo.index_of_hash(leaf_hash)
        if found is None:
            raise NotFound("audit_leaf_not_found")
        if index is not None and index != found:
            raise FieldProblem("audit_index_and_hash_differ", field="index", index=index)
        index = found
    if index is None:
        raise FieldProblem("audit_index_or_hash_required", field="index")
    if index < 0 or index >= size:
        raise FieldProblem("audit_index_beyond_tree", field="index", index=index, size=size)
    ranges = [*inclusion_ranges(index, size), (0, size), (index, index + 1)]
    return _inclusion_proof(index, size, _tiles_for(repo, ranges))


def _inclusion_proof(index: int, size: int, tiles: Tiles) -> InclusionProof:
    return InclusionProof(
        index=index,
        size=size,
        leaf_hash=tiles.range_hash(index, index + 1),
        hashes=tiles.inclusion_proof(index, size),
        root=tiles.root(size),
    )


@permission(PUBLIC, "Prove that one tree is the beginning of another (anyone may check the log)")
def consistency_proof(
    uow: UnitOfWork, actor: Actor, old: int, new: int | None = None
) -> ConsistencyProof:
    """The hashes that show the tree of OLD entries to be the beginning of the tree of NEW
    entries (by default the latest checkpoint's), nothing changed or taken away."""
    repo = AuditRepository(uow.session)
    tree = repo.state()
    new = _size_asked(repo, new, "new", tree)
    if old < 0:
        raise FieldProblem("audit_size_negative", field="old", size=old)
    if old > new:
        raise FieldProblem("audit_sizes_out_of_order", field="old", old=old, new=new)
    tiles = _tiles_for(repo, [*consistency_ranges(old, new), (0, old), (0, new)])
    return ConsistencyProof(
        old=old,
        new=new,
        hashes=tiles.consistency_proof(old, new),
        old_root=tiles.root(old),
        new_root=tiles.root(new),
    )


@permission(PUBLIC, "Hand in a witness's cosignature of a checkpoint")
def add_cosignatures(uow: UnitOfWork, actor: Actor, note_text: str, ports: AuditPorts) -> list[str]:
    """Keep the cosignatures in NOTE_TEXT (a checkpoint this log signed, with witnesses'
    signature lines) that witnesses known to the platform made and that verify; their
    names. Anyone may hand one in: only a valid signature of a listed witness is kept."""
    note = parse_note(note_text)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != ports.origin:
        raise InvalidInput("audit_cosignature_other_log", origin=checkpoint.origin)
    repo = AuditRepository(uow.session)
    stored = repo.checkpoint_with(checkpoint.size, checkpoint.root)
    if stored is None or parse_note(stored.note).text != note.text:
        raise NotFound("audit_checkpoint_unknown", size=checkpoint.size)
    log_key_id = ports.log_verifier().key_id
    known = []
    for signature in note.signatures:
        if signature.name == ports.origin and signature.key_id == log_key_id:
            continue
        witness = ports.witness(signature.name, signature.key_id)
        if witness is not None:
            known.append((witness, signature))
    if not known:
        raise Forbidden("audit_cosignature_unknown_witness")
    now = ports.clock()
    for witness, signature in known:
        if not witness.verifies(note.text, signature):
            raise InvalidInput("audit_cosignature_invalid", witness=witness.name)
        cosigned_at = datetime.fromtimestamp(signature.timestamp or 0, UTC)
        if cosigned_at > now + COSIGNATURE_SKEW:
            raise InvalidInput("audit_cosignature_in_future", witness=witness.name)
    for witness, signature in known:
        cosigned_at = datetime.fromtimestamp(signature.timestamp or 0, UTC)
        repo.put_cosignature(
            stored.id, witness.name, witness.key_id.hex(), signature.line, cosigned_at, now
        )
    uow.commit()
    return [witness.name for witness, _ in known]


@permission(PUBLIC, "The latest checkpoint a witness cosigned (the transparency page)")
def latest_cosigned(uow: UnitOfWork, actor: Actor) -> Cosigned | None:
    """The newest checkpoint at least one witness cosigned, with who and when."""
    repo = AuditRepository(uow.session)
    found = repo.latest_cosigned()
    if found is None:
        return None
    cosignatures = repo.cosignatures([found.id])
    return Cosigned(
        size=found.size,
        root=found.root,
        note=_with_cosignatures(repo, found),
        signed_at=found.signed_at,
        witnesses=[(c.witness, c.cosigned_at) for c in cosignatures],
    )


# ------------------------------------------------------------------ reading the entries


@permission(AUDIT_READERS, "Read one entry of the audit log")
def entry(uow: UnitOfWork, actor: Actor, index: int) -> StoredEntry:
    """The entry at leaf INDEX, with its leaf (the bytes its hash is taken of)."""
    repo = AuditRepository(uow.session)
    found = repo.entry_at(index) if index >= 0 else None
    if found is None:
        raise NotFound("audit_entry_not_found", index=index, size=repo.state().size)
    return found


@dataclass(frozen=True)
class EntryPage:
    items: list[StoredEntry]
    total: int
    page: int
    page_size: int
    units: dict[str, str] = field(default_factory=dict)  # the units' names by code

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@permission(AUDIT_READERS, "Search the audit log by unit, person, dataset and time")
def search_entries(
    uow: UnitOfWork,
    actor: Actor,
    where: EntryFilter,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    ports: AuditPorts | None = None,
) -> EntryPage:
    """Entries matching WHERE, newest first, a page at a time (with the units' names when
    PORTS know them)."""
    items, total = AuditRepository(uow.session).entries(
        where, page_size, (max(page, 1) - 1) * page_size
    )
    return EntryPage(items, total, page, page_size, _unit_names(uow, items, ports))


def _unit_names(
    uow: UnitOfWork, items: list[StoredEntry], ports: AuditPorts | None
) -> dict[str, str]:
    codes = {e.unit for e in items if e.unit}
    return ports.unit_names(uow.session, codes) if ports and codes else {}


@dataclass(frozen=True)
class MyReads:
    records: dict[str, list[int]]  # her records, by kind
    page: EntryPage


@permission(RESIDENTS, "Who read my records (是谁查看了我的信息)")
def reads_of_my_records(
    uow: UnitOfWork,
    actor: Actor,
    ports: AuditPorts,
    identity_number: str | None = None,
    page: int = 1,
) -> MyReads:
    """Every read and change of the caller's own records by someone else, newest first:
    her registry records (found by the IDENTITY_NUMBER she gives, hashed as the registry
    hashes it, and her account's phone, both of which must match) and the cases she
    reported. The look-up is itself logged, naming the records it found (never the number)."""
    records = ports.own_records.records_of(uow.session, actor.name, identity_number)
    repo = AuditRepository(uow.session)
    offset = (max(page, 1) - 1) * PAGE_SIZE
    items, total = repo.entries_naming(records, PAGE_SIZE, offset, other_than=actor.name)
    people = records.get(RecordKind.PERSON.value, [])
    if people:
        Ledger(uow.session).append(
            Entry.by(
                actor,
                Action.PERSONAL_READ,
                record_kind=RecordKind.PERSON.value,
                record_ids=people,
                reason=OWN_READS,
            )
        )
        uow.commit()
    units = _unit_names(uow, items, ports)
    return MyReads(records, EntryPage(items, total, page, PAGE_SIZE, units))


# ------------------------------------------------------------------ checking the whole log


@permission(AUDIT_READERS, "Check the whole audit log")
def verify_log(uow: UnitOfWork, actor: Actor, ports: AuditPorts) -> VerifyReport:
    """Recompute every leaf from its entry, every stored tile from the level below, the root
    of every checkpoint, and check every signature; the problems found, each naming the
    first entry (or checkpoint) it concerns."""
    started = time.perf_counter()
    session = uow.session
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql and not session.in_transaction():
        # One snapshot for what this session reads, whatever is appended meanwhile.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    repo = AuditRepository(session)
    # Checkpoints first, then the tree: every checkpoint read is then no larger than it
    # (entries placed while the check runs are left for the next one).
    checkpoints = repo.checkpoints()
    tree = repo.state()
    report = VerifyReport(size=tree.size, pending=repo.pending())
    found = _Findings(report)
    tiles = _Findings(VerifyReport())
    if postgresql:
        with _ServerChecks(session.get_bind(), tree.size) as server:
            corrected = _check_tiles(repo, tree.size, tiles)  # meanwhile, in Python
            _check_entries_on_server(repo, server, tree.size, found)
            found.extend(tiles)
            _check_roots(repo, corrected, tree, checkpoints, ports, found)
            _check_cosignatures(repo, checkpoints, ports, found)
    else:
        _check_entries(repo, tree.size, found)
        corrected = _check_tiles(repo, tree.size, found)
        _check_roots(repo, corrected, tree, checkpoints, ports, found)
        _check_cosignatures(repo, checkpoints, ports, found)
    found.close()
    report.seconds = time.perf_counter() - started
    return report


class _ServerChecks:
    """PostgreSQL's share of a check, started at once on connections of their own (the
    leaves in two halves, the missing places, the count) while Python checks the tiles."""

    def __init__(self, engine: Any, size: int) -> None:
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="audit-verify")
        half = size // 2 // TILE_WIDTH * TILE_WIDTH  # each half whole tiles
        self.suspects = [
            self._on_own(suspect_leaves, first, end, VERSION_JSON)
            for first, end in ((0, half), (half, size))
        ]
        self.missing = self._on_own(missing_places, size, MAX_PROBLEMS)
        self.count = self._on_own(placed_count, size)

    def _on_own(self, check: Callable[..., Any], *args: Any) -> Future[Any]:
        def run() -> Any:
            with self.engine.connect() as connection:
                return check(connection, *args)

        return self.pool.submit(run)

    def __enter__(self) -> _ServerChecks:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Findings:
    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        self.more = 0

    def add(self, key: str, at: int | None = None, **params: Any) -> None:
        """A problem KEY that concerns the entry at leaf index AT (None: no one entry)."""
        if len(self.report.problems) >= MAX_PROBLEMS:
            self.more += 1
            return
        self.report.problems.append(Problem(key, params, at))

    def extend(self, other: _Findings) -> None:
        for problem in other.report.problems:
            self.add(problem.key, problem.index, **problem.params)
        self.more += other.more

    def close(self) -> None:
        if self.more:
            self.report.problems.append(Problem(N_("audit_verify_more"), {"count": self.more}))


def _leaf_hashes_of_rows(rows: Iterable[Any]) -> Iterator[tuple[int, bytes]]:
    """(leaf index, leaf hash recomputed from the entry's columns), in leaf order; ROWS are
    AuditRepository.leaf_rows (read by position: a million of them)."""
    sha256 = hashlib.sha256
    for index, *columns in rows:
        yield index, sha256(b"\x00" + leaf_of_row(*columns)).digest()


def _check_entries_on_server(
    repo: AuditRepository, server: _ServerChecks, size: int, found: _Findings
) -> None:
    """The server rebuilt and hashed every leaf; Python checks again the entries it could
    not vouch for, and names the missing places."""
    found.report.entries = server.count.result()
    for first, last in server.missing.result():
        found.add(N_("audit_verify_missing"), first, first=first, last=last)
    suspects = sorted(i for part in server.suspects for i in part.result())
    altered = []
    for start in range(0, len(suspects), 5_000):
        rows = repo.leaf_rows_at(suspects[start : start + 5_000])
        altered += _altered(repo, _leaf_hashes_of_rows(rows))
    _name_altered(repo, altered, size, found)


def _check_entries(repo: AuditRepository, size: int, found: _Findings) -> None:
    """Every entry's leaf, rebuilt from its columns, against the leaf hash the tiles hold
    at its place: missing places, altered entries, entries moved from their place."""
    expected = 0
    rows = []
    for row in repo.leaf_rows():
        index = row[0]
        if index >= size:
            break  # placed after the check began
        found.report.entries += 1
        if index > expected:
            found.add(N_("audit_verify_missing"), expected, first=expected, last=index - 1)
        expected = index + 1
        rows.append(row)
    if expected < size:
        found.add(N_("audit_verify_missing"), expected, first=expected, last=size - 1)
    _name_altered(repo, _altered(repo, _leaf_hashes_of_rows(rows)), size, found)


def _altered(
    repo: AuditRepository, computed: Iterable[tuple[int, bytes]]
) -> list[tuple[int, bytes]]:
    """The places whose recomputed leaf hash is not the one in the tiles."""
    window: dict[int, bytes] = {}
    window_end = -1
    altered = []
    for index, leaf in computed:
        tile_index, offset = divmod(index, TILE_WIDTH)
        if tile_index > window_end or tile_index not in window:
            window = repo.tile_range(0, tile_index, tile_index + 63)
            window_end = tile_index + 63
        data = window.get(tile_index, b"")
        if data[offset * HASH_SIZE : (offset + 1) * HASH_SIZE] != leaf:
            altered.append((index, leaf))
    return altered


def _name_altered(
    repo: AuditRepository, altered: list[tuple[int, bytes]], size: int, found: _Findings
) -> None:
    if not altered:
        return
    # An altered entry whose leaf the tree holds elsewhere was moved (rows reordered).
    wanted = {computed for _, computed in altered[:MAX_PROBLEMS]}
    places = _places_of(repo, wanted, size)
    for index, computed in altered:
        elsewhere = places.get(computed)
        if elsewhere is not None and elsewhere != index:
            found.add(N_("audit_verify_moved"), index, index=index, was=elsewhere)
        else:
            found.add(N_("audit_verify_altered"), index, index=index)


def _places_of(repo: AuditRepository, wanted: set[bytes], size: int) -> dict[bytes, int]:
    places: dict[bytes, int] = {}
    last_tile = (size - 1) // TILE_WIDTH if size else -1
    for first in range(0, last_tile + 1, 256):
        for tile_index, data in repo.tile_range(0, first, first + 255).items():
            for offset in range(0, len(data), HASH_SIZE):
                node = data[offset : offset + HASH_SIZE]
                if node in wanted:
                    places.setdefault(node, tile_index * TILE_WIDTH + offset // HASH_SIZE)
    return places


def _check_tiles(repo: AuditRepository, size: int, found: _Findings) -> dict[TileKey, bytes]:
    """Every tile above the leaves against the roots of the full tiles below it (the leaf
    tiles were checked against the entries), and that no tile is missing or left over.
    The tiles found wrong, as they should be (to compute the roots from)."""
    for key in repo.tile_keys():
        if expected_width(key, size) == 0:
            found.add(N_("audit_verify_tile_extra"), None, level=key[0], tile=key[1])
    corrected: dict[TileKey, bytes] = {}
    below = bytearray()  # the roots of the full tiles of the level below, in order
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        last_tile = (count - 1) // TILE_WIDTH
        roots = bytearray()
        for first in range(0, last_tile + 1, 256):
            last = min(first + 255, last_tile)
            chunk = repo.tile_range(level, first, last)
            for tile_index in range(first, last + 1):
                width = expected_width((level, tile_index), size) * HASH_SIZE
                data = chunk.get(tile_index, b"")
                if len(data) < width:
                    found.add(N_("audit_verify_tile_missing"), None, level=level, tile=tile_index)
                data = data[:width]
                if level > 0:
                    should = bytes(below[tile_index * TILE_BYTES : tile_index * TILE_BYTES + width])
                    if data != should:
                        if len(data) == width:
                            found.add(
                                N_("audit_verify_tile_mismatch"), None, level=level, tile=tile_index
                            )
                        corrected[(level, tile_index)] = data = should
                elif len(data) < width:
                    data = data.ljust(width, b"\0")
                if width == TILE_BYTES:
                    roots += tile_root(data)
        below = roots
        level += 1
    return corrected


def _check_roots(
    repo: AuditRepository,
    corrected: dict[TileKey, bytes],
    tree: TreeState,
    checkpoints: list[StoredCheckpoint],
    ports: AuditPorts,
    found: _Findings,
) -> None:
    """The tree's stored root, and each checkpoint: signed by the log, and its root that of
    the tree at its size. A checkpoint the tree no longer agrees with names the entries
    between the last one it agrees with and its size."""

    def root_at(sizes: list[int]) -> dict[int, bytes]:
        tiles = _tiles_for(repo, [(0, s) for s in sizes], corrected)
        return {s: tiles.root(s) for s in sizes}

    found.report.checkpoints = len(checkpoints)
    if root_at([tree.size])[tree.size] != tree.root:
        found.add(N_("audit_verify_tree_root"), None, size=tree.size)
    log_key = ports.log_verifier()
    agreed = 0
    ordered = sorted(checkpoints, key=lambda c: (c.size, c.id))
    unsigned: list[int] = []  # sizes of the checkpoints without a good signature of the key
    signed_with_key = False
    for first in range(0, len(ordered), 200):
        batch = ordered[first : first + 200]
        roots = root_at(sorted({c.size for c in batch if c.size <= tree.size}))
        for stored in batch:
            try:
                note = parse_note(stored.note)
                checkpoint = parse_checkpoint(note.text)
            except NoteError:
                found.add(N_("audit_verify_checkpoint_unreadable"), None, size=stored.size)
                continue
            mine = [s for s in note.signatures if log_key.signed(s)]
            signed_with_key = signed_with_key or bool(mine)
            if not mine or not all(log_key.verifies(note.text, s) for s in mine):
                unsigned.append(stored.size)
            if (checkpoint.size, checkpoint.root, checkpoint.origin) != (
                stored.size,
                stored.root,
                ports.origin,
            ):
                found.add(N_("audit_verify_checkpoint_columns"), None, size=stored.size)
            if checkpoint.size > tree.size:
                found.add(
                    N_("audit_verify_checkpoint_beyond"),
                    tree.size,
                    size=checkpoint.size,
                    tree=tree.size,
                )
            elif roots[checkpoint.size] != checkpoint.root:
                found.add(
                    N_("audit_verify_checkpoint_root"),
                    agreed,
                    size=checkpoint.size,
                    first=agreed,
                    last=checkpoint.size - 1,
                )
            else:
                agreed = max(agreed, checkpoint.size)
    # Not one checkpoint signed with the key this process holds: most likely the command
    # did not find the server's key (another instance folder), so say that once rather
    # than calling every checkpoint forged.
    if ordered and not signed_with_key:
        found.add(
            N_("audit_verify_not_this_key"),
            None,
            count=len(ordered),
            vkey=log_key.vkey,
            place=ports.key_place,
        )
        return
    for size in unsigned:
        found.add(N_("audit_verify_checkpoint_signature"), None, size=size)


def _check_cosignatures(
    repo: AuditRepository,
    checkpoints: list[StoredCheckpoint],
    ports: AuditPorts,
    found: _Findings,
) -> None:
    texts = {}
    for checkpoint in checkpoints:
        try:
            texts[checkpoint.id] = (parse_note(checkpoint.note).text, checkpoint.size)
        except NoteError:
            continue
    for cosignature in repo.cosignatures(texts):
        found.report.cosignatures += 1
        try:
            line = parse_note("x\n\n" + cosignature.line).signatures[0]
        except NoteError:
            found.add(N_("audit_verify_cosignature"), None, witness=cosignature.witness, size="?")
            continue
        witness = ports.witness(line.name, line.key_id)
        if witness is None:
            continue  # a witness no longer listed: nothing to check it with
        text, size = texts[cosignature.checkpoint_id]
        if not witness.verifies(text, line):
            found.add(N_("audit_verify_cosignature"), None, witness=witness.name, size=size)
