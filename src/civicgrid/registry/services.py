"""Registry services (一标三实): importing department files, searching and reading records
within the caller's area, corrections by the grid's grid worker (each one logged with who
and why), the import batches with their rejected rows, and per-grid summaries.

Who sees what (the principle: each role sees what its work needs, PIPL art. 6):

- The full identity number: nobody. It is checked and then kept only as a keyed hash (to
  search and link) and a masked form (110105********0213). A person is found by typing the
  whole number, which is hashed the same way.
- Records (names, addresses, houses, organisations): grid workers in their grid, cadres in
  their area, data administrators and administrators everywhere. Leaders see the per-grid
  summaries (counts) only. Other roles see nothing of the registry.
- Special-care tags (elderly living alone, disabled, left-behind child, …) are sensitive
  personal information: only grid workers (who visit) and cadres (who arrange the care) see
  them, within their area. Data administrators and administrators see that a tag exists
  nowhere: the care counts on the map are aggregates.
- Phones of people, owners and contacts: in full to grid workers and cadres; masked
  (138****5678) to data administrators and administrators.
- Rejected rows keep the row as the department sent it (the identity number included), so
  it can be corrected: only data administrators and administrators, who import, read them.
- Changes: only the grid worker of a record's grid edits it, with a reason (动态更新). A
  correction does not change the record's import content hash, so importing the same file
  again keeps the correction; a changed row in a new file replaces it, logged as a change.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from civicgrid.areas.services import LocatorCache
from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import (
    CivicGridError,
    FieldProblem,
    Forbidden,
    InvalidFields,
    InvalidInput,
    NotFound,
)
from civicgrid.core.i18n import N_, Locale
from civicgrid.core.ledger import Action, Entry, Ledger
from civicgrid.core.ledger import RecordKind as Logged
from civicgrid.core.masking import Whose
from civicgrid.core.permissions import Actor, Role, permission
from civicgrid.core.rows import RowProblem, row_encoding_problem
from civicgrid.core.workflow import Context, Event, EventLog
from civicgrid.registry.addresses import AddressBook, ParsedAddress
from civicgrid.registry.domain import (
    BY_THE_IMPORT,
    CARE_TAG_WORDS,
    EDITABLE,
    HOUSE_KIND_WORDS,
    IMPORT_BATCH,
    IMPORT_KIND,
    ORGANISATION_KIND_WORDS,
    RESIDENCE_WORDS,
    BatchAction,
    BatchState,
    Change,
    ImportBatch,
    RecordKind,
    RejectedRow,
    Residence,
    StandardAddress,
    apply_changes,
    search_terms,
    set_values,
)
from civicgrid.registry.identifiers import (
    IdentifierError,
    IdentityHasher,
    clean,
    parse_identity,
    parse_phone,
)
from civicgrid.registry.importing import (
    AddressFound,
    CheckContext,
    Checked,
    Mapping,
    RowChecker,
    SourceTable,
    default_mapping,
    open_table,
    parse_date,
    problem_messages,
    rejected_rows_xlsx,
    resolve_columns,
)
from civicgrid.registry.repository import (
    IMPORT_COLUMNS,
    TABLES,
    RegistryRepository,
    Scope,
    Upserted,
)

IMPORTERS = frozenset({Role.DATA_ADMIN, Role.ADMIN})
RECORD_READERS = frozenset({Role.GRID_WORKER, Role.CADRE, Role.DATA_ADMIN, Role.ADMIN})
SUMMARY_READERS = RECORD_READERS | {Role.LEADER}
CARE_TAG_READERS = frozenset({Role.GRID_WORKER, Role.CADRE})
# Who reads residents' phones in full: the grid's own staff (core.masking's rule).
PHONE_READERS = masking.FULL[Whose.RESIDENT]
PHONE_FIELDS = ("phone", "owner_phone", "contact_phone")
EDITORS = frozenset({Role.GRID_WORKER})
# The secret of the identity-number hashes is derived from the platform's secret key, so
# the hashes of one installation mean nothing to another.
HASH_CONTEXT = "civicgrid-registry-identity:"
log = logging.getLogger("civicgrid.registry")

DEFAULT_SOURCES = {
    RecordKind.ADDRESS: "standard-addresses",
    RecordKind.HOUSE: "housing",
    RecordKind.PERSON: "population",
    RecordKind.ORGANISATION: "organisations",
}


def hash_secret(secret_key: str) -> str:
    return HASH_CONTEXT + secret_key


def hash_identity(secret_key: str, number: str) -> str:
    """The keyed hash the imports store for NUMBER (see importing.RowChecker)."""
    return IdentityHasher(hash_secret(secret_key))(number)


# ------------------------------------------------------------------ import


@dataclass
class ImportReport:
    batch: ImportBatch
    # (row, problems, kept, the row as read) of every row with a problem.
    bad_rows: list[tuple[int, list[RowProblem], bool, dict[str, str]]] = field(default_factory=list)

    @property
    def problems(self) -> list[RowProblem]:
        return [p for _row, problems, _kept, _raw in self.bad_rows for p in problems]


@permission(IMPORTERS, "Import a department's file into the registry")
def import_records(
    uow: UnitOfWork,
    actor: Actor,
    kind: RecordKind,
    table: SourceTable,
    mapping: Mapping,
    *,
    secret_key: str,
    source: str | None = None,
    locator_cache: LocatorCache | None = None,
    chunk_size: int = 20000,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> ImportReport:
    """Check every row of TABLE and write the good ones as KIND records of SOURCE, chunk by
    chunk: new keys are added, rows whose content changed are updated (each changed field
    logged), identical rows are left alone, so importing a file twice changes nothing.
    Rows with problems are returned and kept in the database with the batch. A source's
    first import writes its rows straight in; into an empty table (PostgreSQL) it is one
    transaction that builds the table's indexes after the rows. The batch runs at once
    (the command's import): its history says it was created and how it ended."""
    columns = resolve_columns(table, mapping, kind)
    first = next(table.rows, None)
    if first is None:
        raise InvalidInput("registry_file_no_rows", path=str(table.path))
    name = (source or mapping.source or DEFAULT_SOURCES[kind]).strip()[:64]
    batch = ImportBatch(
        kind,
        name,
        table.path.name[:400],
        actor.name,
        table.encoding,
        state=BatchState.RUNNING,
        estimated_rows=table.estimated_rows,
    )
    uow.session.add(batch)
    uow.session.flush()
    EventLog(uow.session).add(
        IMPORT_BATCH.event(
            batch,
            BatchAction.CREATE,
            actor,
            utcnow(),
            from_state=None,
            data={"file": batch.file_name, "kind": kind.value, "source": name},
        )
    )
    uow.commit()
    try:
        return _import_into(
            uow,
            actor,
            batch,
            table,
            columns,
            first,
            secret_key=secret_key,
            locator_cache=locator_cache,
            chunk_size=chunk_size,
            progress=progress,
            today=today,
        )
    except BaseException as problem:
        _fail(uow, batch, problem)
        raise


def _import_into(
    uow: UnitOfWork,
    actor: Actor,
    batch: ImportBatch,
    table: SourceTable,
    columns: dict[str, int],
    first: tuple[int, list[str]],
    *,
    secret_key: str,
    locator_cache: LocatorCache | None = None,
    chunk_size: int = 20000,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
    fast_first_load: bool = True,
) -> ImportReport:
    """Read TABLE (whose FIRST row has been taken from it) into BATCH, which is running,
    and finish the batch. FAST_FIRST_LOAD: a load into an empty table on PostgreSQL is one
    transaction that indexes at its end (nobody sees its progress until then)."""
    repo = RegistryRepository(uow.session)
    kind = batch.kind
    assert batch.id is not None
    context = CheckContext(
        source=batch.source,
        batch_id=batch.id,
        secret=hash_secret(secret_key),
        grid_codes=repo.grid_codes(),
        match_address=_address_matcher(repo),
        houses_by_address=repo.houses_by_address() if kind is RecordKind.PERSON else {},
        locate=_grid_locator(uow, locator_cache) if kind is RecordKind.ADDRESS else _nowhere,
        today=today or date.today(),
    )
    checker = RowChecker(kind, columns, context)
    report = ImportReport(batch)
    uow.commit()
    new_source = not repo.has_records(kind, batch.source)
    writer = _ChunkWriter(uow, kind, batch, actor, progress, new_source, fast_first_load)
    writer.start()
    seen: dict[str, int] = {}
    row_of = operator.itemgetter(*IMPORT_COLUMNS[kind])
    key_field = "key" if "key" in columns else _natural_key_field(kind)
    # With a record-number column, a person's identity number or an organisation's credit
    # code under a second number is the same one twice: that row is refused too.
    identity_field = (
        _natural_key_field(kind)
        if key_field == "key" and kind in (RecordKind.PERSON, RecordKind.ORGANISATION)
        else None
    )
    seen_identity: dict[str, int] = {}
    try:
        chunk = _Chunk()
        for number, cells in itertools.chain([first], table.rows):
            offset = table.undecodable.pop(number, None)
            if offset is not None:
                checked: Checked | list[RowProblem] = [
                    row_encoding_problem(number, offset, table.encoding)
                ]
            else:
                checked = checker.check(number, cells)
            if isinstance(checked, Checked) and checked.key in seen:
                first_row = seen[checked.key]
                checked = [
                    RowProblem(number, key_field, "registry_duplicate_key", {"first": first_row})
                ]
            elif (
                isinstance(checked, Checked) and identity_field and checked.natural in seen_identity
            ):
                first_row = seen_identity[checked.natural]
                checked = [
                    RowProblem(
                        number, identity_field, "registry_duplicate_identity", {"first": first_row}
                    )
                ]
            chunk.rows += 1
            if isinstance(checked, Checked):
                seen[checked.key] = number
                if identity_field:
                    seen_identity[checked.natural] = number
                chunk.good.append(row_of(checked.values))
                if checked.review:
                    chunk.add_problems(report, batch, number, checked.review, True, table, cells)
            else:
                chunk.add_problems(report, batch, number, checked, False, table, cells)
            if chunk.rows >= chunk_size:
                writer.put(chunk)
                chunk = _Chunk()
        if chunk.rows:
            writer.put(chunk)
    finally:
        writer.finish()
    now = utcnow()
    batch.finished_at = now
    counts = {
        "total": batch.total,
        "created": batch.created,
        "updated": batch.updated,
        "unchanged": batch.unchanged,
        "rejected": batch.rejected,
        "review": batch.review,
    }
    EventLog(uow.session).add(
        IMPORT_BATCH.apply(batch, BatchAction.FINISH, _job_context(now), lambda: counts)
    )
    uow.session.add(batch)
    uow.commit()
    return report


# The import job (and the command running its own import) moves batches by the rules.
IMPORT_JOB = Actor(name="system", role=Role.ADMIN, display_name="CivicGrid")


def _job_context(now: datetime) -> Context:
    return Context(IMPORT_JOB, now, frozenset({BY_THE_IMPORT.name}))


def _fail(uow: UnitOfWork, batch: ImportBatch, problem: BaseException) -> None:
    """Mark BATCH failed after PROBLEM, in a transaction of its own: a file that could not
    be read says why (its message key); anything else is logged with its traceback and
    the batch says only that the import failed."""
    uow.rollback()
    assert batch.id is not None
    found = RegistryRepository(uow.session).batch(batch.id)
    if found is None or found.state not in (BatchState.QUEUED, BatchState.RUNNING):
        return
    if isinstance(problem, CivicGridError):
        key, params = problem.message_key, {k: _plain(v) for k, v in problem.params.items()}
    else:
        if isinstance(problem, Exception):
            log.error("import batch %s failed", batch.id, exc_info=problem)
        key, params = N_("registry_import_failed"), {}
    now = utcnow()

    def effect() -> dict[str, Any]:
        found.error, found.error_params = key, params
        found.finished_at = now
        return {"error": key, "params": params}

    EventLog(uow.session).add(
        IMPORT_BATCH.apply(found, BatchAction.FAIL, _job_context(now), effect)
    )
    uow.commit()


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


# ------------------------------------------------------------------ imports on the page


@dataclass(frozen=True)
class ImportFiles:
    """Where uploaded files wait for the import job (a folder of the instance, readable by
    its owner only; each file is deleted once read)."""

    folder: Path

    def keep(self, path: Path, batch_id: int) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.folder / f"batch-{batch_id}{path.suffix.lower()}"
        shutil.move(str(path), target)
        target.chmod(0o600)
        return target

    def upload_path(self, suffix: str) -> Path:
        """A new path in the folder for an upload to be written to (then queued or removed)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=self.folder)
        os.close(handle)
        return Path(name)


UPLOAD_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")


@permission(IMPORTERS, "Upload a department's file to the registry, imported by the import job")
def queue_import(
    uow: UnitOfWork,
    actor: Actor,
    kind: RecordKind,
    path: Path,
    file_name: str,
    files: ImportFiles,
    *,
    source: str | None = None,
) -> ImportBatch:
    """Check that the file at PATH can be read and has the columns KIND needs (a 422
    naming the missing column and the columns found), keep it for the import job and
    queue a batch, which the job reads (`run_queued_imports`): its state, progress,
    counts and rejected rows can be followed meanwhile."""
    name = Path(file_name).name[:400] or "upload.csv"
    if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise FieldProblem(
            "registry_upload_kind", field="file", name=name[:100], allowed="CSV, xlsx"
        )
    source_name = (source or "").strip()
    if len(source_name) > 64:
        raise FieldProblem("registry_too_long", field="source", limit=64, length=len(source_name))
    table = open_table(path)
    try:
        resolve_columns(table, default_mapping(kind), kind)
        if next(table.rows, None) is None:
            raise InvalidInput("registry_file_no_rows", path=name)
    finally:
        _close(table)
    batch = ImportBatch(
        kind,
        source_name or DEFAULT_SOURCES[kind],
        name,
        actor.name,
        table.encoding,
        state=BatchState.QUEUED,
        estimated_rows=table.estimated_rows,
    )
    uow.session.add(batch)
    uow.session.flush()
    assert batch.id is not None
    batch.stored_file = str(files.keep(path, batch.id))
    EventLog(uow.session).add(
        IMPORT_BATCH.event(
            batch,
            BatchAction.UPLOAD,
            actor,
            utcnow(),
            from_state=None,
            data={"file": name, "kind": kind.value, "source": batch.source},
        )
    )
    uow.commit()
    return batch


def _close(table: SourceTable) -> None:
    close = getattr(table.rows, "close", None)
    if close is not None:
        close()


def run_queued_imports(
    uow: UnitOfWork,
    *,
    secret_key: str,
    locator_cache: LocatorCache | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> list[ImportBatch]:
    """The import job: read every queued upload, oldest first, until none is left (or
    STOPPING). Call it holding the job's lock (core.jobs): a batch found running was cut
    short when its process died, and is read again from its start (what it wrote stays;
    writing it again changes nothing). Each file is deleted once read."""
    repo = RegistryRepository(uow.session)
    done: list[ImportBatch] = []
    while not stopping():
        waiting = [b for b in repo.open_batches() if b.stored_file]
        if not waiting:
            break
        batch = waiting[0]
        now = utcnow()
        if batch.state is BatchState.RUNNING:
            EventLog(uow.session).add(
                IMPORT_BATCH.apply(batch, BatchAction.RETRY, _job_context(now), lambda: {})
            )
            for counter in ("total", "created", "updated", "unchanged", "rejected", "review"):
                setattr(batch, counter, 0)
            repo.clear_rejects(batch.id or 0)
            uow.commit()
        _run_upload(uow, batch, secret_key=secret_key, locator_cache=locator_cache)
        done.append(batch)
    return done


def _run_upload(
    uow: UnitOfWork, batch: ImportBatch, *, secret_key: str, locator_cache: LocatorCache | None
) -> None:
    stored = Path(batch.stored_file)
    batch_id = batch.id or 0
    now = utcnow()

    def start() -> dict[str, Any]:
        batch.started_at = now
        return {}

    EventLog(uow.session).add(
        IMPORT_BATCH.apply(batch, BatchAction.START, _job_context(now), start)
    )
    uow.commit()
    try:
        _read_upload(uow, batch, stored, secret_key=secret_key, locator_cache=locator_cache)
    except Exception as problem:
        _fail(uow, batch, problem)
    finally:
        stored.unlink(missing_ok=True)
        uow.rollback()
        found = RegistryRepository(uow.session).batch(batch_id)
        if found is not None and found.stored_file:
            found.stored_file = ""
            uow.commit()


def _read_upload(
    uow: UnitOfWork,
    batch: ImportBatch,
    stored: Path,
    *,
    secret_key: str,
    locator_cache: LocatorCache | None,
) -> None:
    if not stored.exists():
        raise InvalidInput("registry_import_file_gone", path=batch.file_name)
    table = open_table(stored)
    try:
        columns = resolve_columns(table, default_mapping(batch.kind), batch.kind)
        first = next(table.rows, None)
        if first is None:
            raise InvalidInput("registry_file_no_rows", path=batch.file_name)
        _import_into(
            uow,
            # The uploader's name is on every change the file makes, as on a command's.
            Actor(name=batch.actor, role=Role.DATA_ADMIN),
            batch,
            table,
            columns,
            first,
            secret_key=secret_key,
            locator_cache=locator_cache,
            # About twenty steps of progress for the page, each chunk committed.
            chunk_size=max(500, min(20000, batch.estimated_rows // 20)),
            fast_first_load=False,
        )
    finally:
        _close(table)


@dataclass
class _Chunk:
    """Checked rows on their way to the database."""

    rows: int = 0
    good: list[tuple[Any, ...]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    review: int = 0

    def add_problems(
        self,
        report: ImportReport,
        batch: ImportBatch,
        number: int,
        problems: list[RowProblem],
        kept: bool,
        table: SourceTable,
        cells: list[str],
    ) -> None:
        raw = table.raw(cells)
        report.bad_rows.append((number, problems, kept, raw))
        for problem in problems:
            zh, en = problem_messages(problem)
            self.rejects.append(
                {
                    "batch_id": batch.id,
                    "row": number,
                    "field": problem.column,
                    "reason": problem.key,
                    "message_zh": zh,
                    "message_en": en,
                    "raw": raw,
                    "kept": kept,
                }
            )
        if kept:
            self.review += 1
        else:
            self.rejected += 1


class _ChunkWriter(threading.Thread):
    """Writes checked chunks while the next one is being checked: the database works on
    one chunk while Python reads the next (the driver lets go of the interpreter while it
    waits). The only user of the unit of work until `finish`."""

    def __init__(
        self,
        uow: UnitOfWork,
        kind: RecordKind,
        batch: ImportBatch,
        actor: Actor,
        progress: Callable[[int], None] | None,
        new_source: bool,
        fast_first_load: bool = True,
    ) -> None:
        super().__init__(name="registry-import-writer", daemon=True)
        self.new_source = new_source
        self.fast_first_load = fast_first_load
        self.uow = uow
        self.kind = kind
        self.batch = batch
        self.actor = actor
        self.progress = progress
        self.chunks: queue.Queue[_Chunk | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None

    def put(self, chunk: _Chunk) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.chunks.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self.is_alive():
            self.chunks.put(None)
            self.join()
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        try:
            repo = RegistryRepository(self.uow.session)
            # Into an empty table the whole load is one transaction that builds the indexes
            # at its end; otherwise each chunk is committed as it is written.
            first_load = (
                self.new_source and self.fast_first_load and repo.begin_first_load(self.kind)
            )
            if not first_load:
                self.uow.commit()
            while (chunk := self.chunks.get()) is not None:
                self.write(repo, chunk, commit=not first_load)
            if first_load:
                repo.finish_first_load(self.kind)
                self.uow.commit()
        except BaseException as exc:  # handed to the reading thread, which raises it
            self.error = exc
            self.uow.rollback()

    def write(self, repo: RegistryRepository, chunk: _Chunk, *, commit: bool) -> None:
        batch = self.batch
        if self.new_source:
            upserted = Upserted(repo.insert_new(self.kind, chunk.good), 0, [])
        else:
            upserted = repo.upsert(self.kind, chunk.good)
        batch.total += chunk.rows
        batch.created += upserted.created
        batch.updated += upserted.updated
        batch.unchanged += len(chunk.good) - upserted.created - upserted.updated
        batch.rejected += chunk.rejected
        batch.review += chunk.review
        now = utcnow()
        reason = f"import batch {batch.id} ({batch.source}, {batch.file_name})"
        repo.add_changes(
            Change(
                self.kind,
                record_id,
                column,
                _text(old),
                _text(new),
                self.actor.name,
                reason,
                batch_id=batch.id,
                at=now,
            )
            for record_id, column, old, new in upserted.changes
            if column not in ("batch_id", "address_match")
        )
        repo.add_rejects(chunk.rejects)
        self.uow.session.add(batch)
        if commit:
            self.uow.commit()
        else:
            self.uow.session.flush()
        if self.progress:
            self.progress(chunk.rows)


def _natural_key_field(kind: RecordKind) -> str:
    return {
        RecordKind.PERSON: "id_number",
        RecordKind.ORGANISATION: "credit_code",
        RecordKind.HOUSE: "address",
        RecordKind.ADDRESS: "address",
    }[kind]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _nowhere(_lon: float, _lat: float) -> str | None:
    return None


def _grid_locator(
    uow: UnitOfWork, cache: LocatorCache | None
) -> Callable[[float, float], str | None]:
    if cache is None:
        return _nowhere
    locator = cache.get(uow)

    def locate(lon: float, lat: float) -> str | None:
        found = locator.locate(lon, lat)
        return found[0] if found else None

    return locate


def _address_matcher(repo: RegistryRepository) -> Callable[[str], AddressFound]:
    """Free text → standard address, remembered per text (a building's residents repeat it)."""
    standard = repo.standard_addresses()
    book = AddressBook((a.id, _parsed(a)) for a in standard if a.id is not None)
    grids = {a.id: a.grid_code for a in standard}
    known: dict[str, AddressFound] = {}

    def match(text: str) -> AddressFound:
        found = known.get(text)
        if found is None:
            if len(known) > 200_000:
                known.clear()
            matched = book.match(text)
            found = AddressFound(
                matched.address_id,
                matched.how,
                grids.get(matched.address_id) if matched.address_id else None,
            )
            known[text] = found
        return found

    return match


def _parsed(a: StandardAddress) -> ParsedAddress:
    return ParsedAddress(
        a.district, a.street, a.community, a.road, a.number, a.estate, a.building, a.unit, a.room
    )


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class RecordPage:
    items: list[dict[str, Any]]
    total: int
    grid_names: dict[str, str] = field(default_factory=dict)  # code → name of the grids shown


def _scope(actor: Actor) -> Scope:
    return Scope(actor.scope_path)


def present(kind: RecordKind, record: Any, actor: Actor) -> dict[str, Any]:
    """A record as ACTOR may see it: care tags only for those who need them, phones masked
    for those who do not; identity numbers are masked for everyone (only the mask is kept)."""
    shown: dict[str, Any] = {"kind": kind.value}
    for column in TABLES[kind].columns:
        value = getattr(record, column.name)
        shown[column.name] = value.value if hasattr(value, "value") else value
    shown.pop("content_hash", None)
    if kind is RecordKind.PERSON:
        # Without a record number of its own a person's key is the hash: neither is shown.
        if shown.get("source_key") == shown.pop("id_hash", None):
            shown.pop("source_key", None)
        if actor.role in CARE_TAG_READERS:
            shown["care_tags"] = record.tags and [t.value for t in record.tags]
        else:
            shown.pop("care_tags", None)
    for phone in PHONE_FIELDS:
        if phone in shown:
            shown[phone] = masking.phone(shown[phone], actor.role, Whose.RESIDENT)
    return shown


# The personal fields each kind shows, for the audit log (core.ledger), under the log's name
# of the kind: a phone read masked is logged as such. Standard addresses hold nobody's data.
PERSONAL_FIELDS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.PERSON: ("name", "id_masked", "sex", "birth_date", "phone", "address_text"),
    RecordKind.HOUSE: ("owner_name", "owner_phone", "manager_name"),
    RecordKind.ORGANISATION: ("contact_name", "contact_phone"),
}
LOGGED_KINDS = {
    RecordKind.PERSON: Logged.PERSON,
    RecordKind.HOUSE: Logged.HOUSE,
    RecordKind.ORGANISATION: Logged.ORGANISATION,
}


def _log_read(
    uow: UnitOfWork, actor: Actor, kind: RecordKind, ids: list[int], personal: str | None = None
) -> None:
    """Every read of people's data goes into the audit log, in the read's own transaction."""
    if kind not in PERSONAL_FIELDS or not ids:
        return
    full = actor.role in PHONE_READERS
    phones = ("phone", "owner_phone", "contact_phone")
    fields = [f if full or f not in phones else f"{f}:masked" for f in PERSONAL_FIELDS[kind]]
    if kind is RecordKind.PERSON and actor.role in CARE_TAG_READERS:
        fields.append("care_tags")
    entry = Entry.by(
        actor,
        Action.PERSONAL_READ,
        record_kind=LOGGED_KINDS[kind].value,
        record_ids=ids,
        fields=fields,
        personal=personal,
    )
    Ledger(uow.session).append(entry)
    uow.commit()


@permission(RECORD_READERS, "Search registry records of one's area")
def search_records(
    uow: UnitOfWork,
    actor: Actor,
    kind: RecordKind,
    *,
    secret_key: str,
    q: str | None = None,
    grid: str | None = None,
    residence: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RecordPage:
    """Records of KIND in the caller's area. Q finds a whole identity number (hashed, as it
    is kept) or any part of a name, an address or a credit code (one character: of a name);
    for those who read residents' phones in full (the grid's own staff), any part of a
    phone too, and nobody else finds a record by its phone. RESIDENCE (people): registered,
    floating or foreign residents only."""
    q = (q or "").strip()
    id_hash = None
    terms = None
    if q and kind is RecordKind.PERSON and len(clean(q)) in (15, 18) and clean(q)[:6].isdigit():
        try:
            id_hash = hash_identity(secret_key, parse_identity(q).value)
        except IdentifierError as exc:
            raise InvalidInput(exc.reason, field="q", **exc.params) from exc
    elif q:
        terms = search_terms(q, parse_phone)
    if residence:
        try:
            residence = Residence(residence).value
        except ValueError:
            raise FieldProblem(
                "registry_unknown_value",
                field="residence",
                value=residence[:40],
                allowed=", ".join(r.value for r in Residence),
            ) from None
    repo = RegistryRepository(uow.session)
    items, total = repo.search(
        kind,
        _scope(actor),
        terms=terms,
        phones=actor.role in PHONE_READERS,
        id_hash=id_hash,
        grid_code=grid,
        residence=residence if kind is RecordKind.PERSON else None,
        limit=limit,
        offset=offset,
    )
    number = parse_identity(q).value if id_hash else None  # kept only as a commitment
    _log_read(uow, actor, kind, [r.id for r in items], personal=number)
    grids = repo.grid_names(r.grid_code for r in items)
    return RecordPage([present(kind, r, actor) for r in items], total, grids)


def _visible(uow: UnitOfWork, actor: Actor, kind: RecordKind, record_id: int) -> Any:
    repo = RegistryRepository(uow.session)
    record = repo.get(kind, record_id)
    if record is None or not sees(repo, actor, record):
        raise NotFound("not_found", what=f"{kind.value}/{record_id}")
    return record


def sees(
    repo: RegistryRepository,
    actor: Actor,
    record: Any,
    paths: dict[str, str | None] | None = None,
) -> bool:
    """Whether RECORD lies in ACTOR's area. Records outside every grid are for the data
    administrators to place, who see everything. PATHS remembers each grid's path across
    calls (an entity's records share a few grids)."""
    if actor.scope_path is None:
        return True
    code = record.grid_code
    if code is None:
        return False
    known = paths if paths is not None else {}
    if code not in known:
        known[code] = repo.grid_path(code)
    path = known[code]
    return path is not None and actor.covers(path)


@dataclass(frozen=True)
class RecordDetail:
    record: dict[str, Any]
    changes: list[Change]
    editable: tuple[str, ...]
    # code → name of the record's grid and of the grids its history names.
    grid_names: dict[str, str] = field(default_factory=dict)


@permission(RECORD_READERS, "Read one registry record and its change history")
def get_record(uow: UnitOfWork, actor: Actor, kind: RecordKind, record_id: int) -> RecordDetail:
    """One record of the caller's area with every change made to it, newest first."""
    record = _visible(uow, actor, kind, record_id)
    _log_read(uow, actor, kind, [record.id])
    return _detail(uow, actor, kind, record)


def _detail(uow: UnitOfWork, actor: Actor, kind: RecordKind, record: Any) -> RecordDetail:
    changes = RegistryRepository(uow.session).changes_of(kind, record.id)
    if actor.role not in CARE_TAG_READERS:
        changes = [c for c in changes if c.field != "care_tags"]
    for change in changes:
        if change.field in PHONE_FIELDS:
            change.old = masking.phone(change.old, actor.role, Whose.RESIDENT)
            change.new = masking.phone(change.new, actor.role, Whose.RESIDENT)
    editable = EDITABLE[kind] if _may_edit(actor, record) else ()
    codes = [record.grid_code] + [
        code for c in changes if c.field == "grid_code" for code in (c.old, c.new)
    ]
    grids = RegistryRepository(uow.session).grid_names(codes)
    return RecordDetail(present(kind, record, actor), changes, editable, grids)


def _may_edit(actor: Actor, record: Any) -> bool:
    return (
        actor.role in EDITORS
        and record.grid_code is not None
        and (actor.area_code == record.grid_code)
    )


@permission(EDITORS, "Correct a registry record of one's own grid (动态更新)")
def edit_record(
    uow: UnitOfWork,
    actor: Actor,
    kind: RecordKind,
    record_id: int,
    values: dict[str, str],
    reason: str,
    locator_cache: LocatorCache | None = None,
) -> RecordDetail:
    """Set the given fields (as text, checked like an import) on a record of the caller's
    own grid, logging each field that changes with the caller and the REASON. A standard
    address moved on the map is placed again (LOCATOR_CACHE: the server's map of grids;
    without it the grids are read afresh)."""
    record = _visible(uow, actor, kind, record_id)
    if not _may_edit(actor, record):
        raise Forbidden("registry_not_your_grid", code=record.grid_code or "-")
    checked = check_edit(kind, values)
    repo = RegistryRepository(uow.session)
    changes = apply_changes(kind, record, checked, actor.name, reason)
    if any(c.field == "address_text" for c in changes):
        # A new address is matched again: the standard address, its grid and the house.
        found = _address_matcher(repo)(record.address_text)
        placed: dict[str, Any] = {
            "address_id": found.address_id,
            "address_match": found.how,
            "grid_code": found.grid_code or record.grid_code,
        }
        if kind is RecordKind.PERSON:
            placed["house_id"] = (
                repo.house_at(found.address_id) if found.address_id is not None else None
            )
        changes += set_values(kind, record, placed, actor.name, reason.strip())
    if kind is RecordKind.ADDRESS and any(c.field in ("lat", "lon") for c in changes):
        changes += _place_again(uow, repo, record, locator_cache, actor.name, reason.strip())
    repo.add_changes(changes)
    uow.commit()
    # The record as corrected, even when the correction moved it out of the caller's grid.
    return _detail(uow, actor, kind, record)


def _place_again(
    uow: UnitOfWork,
    repo: RegistryRepository,
    address: StandardAddress,
    cache: LocatorCache | None,
    actor: str,
    reason: str,
) -> list[Change]:
    """A standard address whose point was corrected lies in the grid of its new point, and
    so does every house, person and organisation matched to it; a point in no grid is
    refused (nothing of the correction is kept)."""
    if address.lat is None or address.lon is None or address.id is None:
        return []
    grid = _grid_locator(uow, cache or LocatorCache())(address.lon, address.lat)
    if grid is None:
        raise InvalidInput("outside_city", lat=address.lat, lon=address.lon, field="lat")
    changes = set_values(RecordKind.ADDRESS, address, {"grid_code": grid}, actor, reason)
    if changes:
        for kind in (RecordKind.HOUSE, RecordKind.PERSON, RecordKind.ORGANISATION):
            for record in repo.at_address(kind, address.id):
                changes += set_values(kind, record, {"grid_code": grid}, actor, reason)
    return changes


def check_edit(kind: RecordKind, values: dict[str, str]) -> dict[str, Any]:
    """Field texts → values; every wrong field is named at once."""
    problems: list[CivicGridError] = []
    checked: dict[str, Any] = {}
    for name, raw in values.items():
        text = (raw or "").strip()
        if name not in EDITABLE[kind]:
            problems.append(
                InvalidInput(
                    "registry_field_not_editable", field=name, allowed=", ".join(EDITABLE[kind])
                )
            )
            continue
        try:
            checked[name] = _edit_value(kind, name, text)
        except IdentifierError as exc:
            problems.append(FieldProblem(exc.reason, **{**exc.params, "field": name}))
        except InvalidInput as exc:
            problems.append(FieldProblem(exc.message_key, **{**exc.params, "field": name}))
    if problems:
        raise InvalidFields(problems)
    return checked


def _edit_value(kind: RecordKind, name: str, text: str) -> Any:
    if name in ("phone", "owner_phone", "contact_phone"):
        return parse_phone(text) if text else ""
    if name in ("registered_on", "expires_on"):
        if not text:
            return None
        parsed = parse_date(text)
        if parsed is None:
            raise InvalidInput("registry_bad_date", value=text)
        return parsed
    if name in ("area_m2", "lat", "lon", "occupancy_limit"):
        if not text:
            return None
        most = {"lat": 90, "lon": 180}.get(name, 100000)
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput("registry_bad_number", value=text, most=most) from None
        if not 0 <= number <= most or (name == "occupancy_limit" and not number.is_integer()):
            raise InvalidInput("registry_bad_number", value=text, most=most)
        return int(number) if name == "occupancy_limit" else number
    if name == "care_tags":
        tags = set()
        for part in re.split(r"[、,，;；|/\s]+", text):
            if part:
                tags.add(_word(part, CARE_TAG_WORDS).value)
        return ",".join(sorted(tags))
    if name == "residence":
        return _word(text, RESIDENCE_WORDS)
    if name == "kind":
        return _word(
            text, HOUSE_KIND_WORDS if kind is RecordKind.HOUSE else ORGANISATION_KIND_WORDS
        )
    if name == "name" and not text:
        raise InvalidInput("registry_required")
    return text[:300]


def _word(text: str, words: dict[str, Any]) -> Any:
    lowered = text.lower()
    if lowered in words:
        return words[lowered]
    for value in words.values():
        if value.value == lowered:
            return value
    raise InvalidInput("registry_unknown_value", value=text, allowed="、".join(words))


# ------------------------------------------------------------------ batches


@permission(IMPORTERS, "List import batches")
def list_batches(uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[ImportBatch]:
    """The latest import batches, newest first, with their counts."""
    return RegistryRepository(uow.session).batches(limit)


@permission(IMPORTERS, "Read the rows an import rejected or set aside for review")
def list_rejects(
    uow: UnitOfWork, actor: Actor, batch_id: int, limit: int = 100, offset: int = 0
) -> tuple[ImportBatch, list[RejectedRow], int]:
    """One batch and its rejected rows (row, field, reason in Chinese and English, the row
    as read), in file order."""
    repo = RegistryRepository(uow.session)
    batch = repo.batch(batch_id)
    if batch is None:
        raise NotFound("not_found", what=f"batch {batch_id}")
    items, total = repo.rejects(batch_id, limit, offset)
    return batch, items, total


@dataclass(frozen=True)
class BatchView:
    """One import batch as the page and the API follow it: its state, counts and progress,
    a page of its rejected rows and its history (uploaded, started, finished or failed)."""

    batch: ImportBatch
    rejects: list[RejectedRow]
    total_rejects: int
    history: list[Event]


@permission(IMPORTERS, "Follow an import batch: its state, progress, counts and rejected rows")
def import_status(
    uow: UnitOfWork, actor: Actor, batch_id: int, limit: int = 100, offset: int = 0
) -> BatchView:
    """One batch: queued, running (with the rows read so far against the rows the file
    holds), done or failed (with why); its rejected rows (row, field, reason, the row as
    sent), in file order, and its history. Reading the rows as sent is logged."""
    repo = RegistryRepository(uow.session)
    batch = repo.batch(batch_id)
    if batch is None:
        raise NotFound("not_found", what=f"batch {batch_id}")
    items, total = repo.rejects(batch_id, limit, offset)
    history = list(EventLog(uow.session).of(IMPORT_KIND, batch_id))
    if items:
        _log_rejects(uow, actor, batch_id, len({r.row for r in items}), Action.PERSONAL_READ)
    return BatchView(batch, items, total, history)


def _log_rejects(uow: UnitOfWork, actor: Actor, batch_id: int, rows: int, action: Action) -> None:
    """Rejected rows are kept as the department sent them, identity numbers and all: who
    read them, and how many, goes into the audit log."""
    entry = Entry.by(
        actor,
        action,
        record_kind=REJECTED_ROWS,
        record_ids=[batch_id],
        row_count=rows,
        fields=["rejected_rows"],
    )
    Ledger(uow.session).append(entry)
    uow.commit()


# The audit log's name for the rows of one batch kept as sent (core.ledger: a kind of our own).
REJECTED_ROWS = "registry.rejected_rows"


@permission(
    IMPORTERS, "Download the rows an import rejected or kept for review, to correct and upload"
)
def rejected_workbook(
    uow: UnitOfWork, actor: Actor, batch_id: int, locale: Locale = "zh"
) -> tuple[ImportBatch, bytes]:
    """The batch's rejected rows and those kept for review as an Excel file: the columns
    as the file had them, each row's problems and what became of it (in LOCALE), the wrong
    cells marked. Corrected, it is uploaded again under the same source: its rows are added
    or update what they are, and nothing imported before is lost. The download is logged."""
    repo = RegistryRepository(uow.session)
    batch = repo.batch(batch_id)
    if batch is None:
        raise NotFound("not_found", what=f"batch {batch_id}")
    rejects = repo.all_rejects(batch_id)
    workbook = rejected_rows_xlsx(batch.kind, rejects, locale)
    _log_rejects(uow, actor, batch_id, len({r.row for r in rejects}), Action.EXPORT)
    return batch, workbook


# ------------------------------------------------------------------ summaries


@permission(SUMMARY_READERS, "Per-grid registry counts of one's area")
def grid_summaries(uow: UnitOfWork, actor: Actor) -> dict[str, dict[str, int]]:
    """grid code → people, floating population, people in care groups, houses, rentals
    and organisations, for the grids of the caller's area."""
    return RegistryRepository(uow.session).summary(_scope(actor))


# ------------------------------------------------------------------ a resident's own records


class OwnPersonRecords:
    """Which person records are a resident's own, for the audit log's "who read my data"
    (audit.ports.OwnRecords): those whose identity number hashes as the one she gives AND
    whose phone is her account's (PHONE_OF), so knowing someone's number is not enough."""

    def __init__(self, secret_key: str, phone_of: Callable[[Session, str], str | None]) -> None:
        self.secret_key = secret_key
        self.phone_of = phone_of

    def records_of(
        self, session: Session, username: str, identity_number: str | None
    ) -> dict[str, list[int]]:
        if not identity_number or not identity_number.strip():
            return {}
        try:
            number = parse_identity(identity_number).value
        except IdentifierError as exc:
            raise FieldProblem(exc.reason, field="identity_number", **exc.params) from exc
        try:
            phone = parse_phone(self.phone_of(session, username) or "")
        except IdentifierError:
            return {Logged.PERSON.value: []}
        people, _ = RegistryRepository(session).search(
            RecordKind.PERSON,
            Scope(None),
            id_hash=hash_identity(self.secret_key, number),
            phone=phone,
            limit=20,
        )
        return {Logged.PERSON.value: [p.id for p in people]}
