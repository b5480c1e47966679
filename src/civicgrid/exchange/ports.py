"""What the exchange needs from elsewhere, declared here and connected in bootstrap:

- AuditTrail: the platform's append-only, verifiable log. Every read (allowed or
  refused), export, grant change and verify question is appended to it as an AuditEntry,
  in the transaction of what it records (a refusal in a transaction of its own, since the
  refused request writes nothing else). NoAuditTrail keeps nothing (tests of the exchange
  alone; the platform wires the real log).
- Directory (core.outbox): who works in a unit, to tell both units of each step.
- The working calendar and the secret the keyed hashes are made with, from the settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from civicgrid.areas.repository import AreaRepository
from civicgrid.core.db import bump_revision, read_revision, utcnow
from civicgrid.core.i18n import Locale
from civicgrid.core.outbox import Directory, NoDirectory
from civicgrid.core.ratelimit import RateLimiter
from civicgrid.exchange.domain import Dataset, Grant, WorkingCalendar
from civicgrid.exchange.repository import CatalogueRepository


class AuditAction(StrEnum):
    READ = "read"  # rows read through the API or a page (a sample too)
    REFUSED = "read_refused"  # a read, export or question refused
    EXPORT = "export"  # a chunk of a bulk export
    GRANT = "grant_change"  # a grant made, revoked or expired
    VERIFY = "verify_question"  # a yes/no question answered


@dataclass(frozen=True)
class AuditEntry:
    """One use of shared data: who (ACTOR, ROLE, of UNIT), what (the DATASET's code, its
    FIELDS, under GRANT_ID) and whose records (RECORD_KIND and RECORD_IDS, or only how many
    rows), with a REASON code (a refusal's message key, a grant's change, an answer). It
    holds no personal value: PERSONAL, the identity number or credit code a question asked
    after, is for the log to keep as a salted commitment only."""

    at: datetime
    action: AuditAction
    actor: str
    role: str | None
    unit: str | None
    dataset: str | None
    grant_id: int | None = None
    fields: tuple[str, ...] = ()
    record_kind: str | None = None
    record_ids: tuple[int, ...] = ()
    row_count: int | None = None
    reason: str | None = None
    personal: str | None = None


class AuditTrail(Protocol):
    def append(self, session: Session, entry: AuditEntry) -> None:
        """Append ENTRY in SESSION's transaction (it is kept if and only if that commits)."""


class NoAuditTrail:
    def append(self, session: Session, entry: AuditEntry) -> None:
        return None


class MemoryAuditTrail:
    """Keeps entries in a list once their transaction commits: for tests and the
    benchmark's counts."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def append(self, session: Session, entry: AuditEntry) -> None:
        from sqlalchemy import event

        def keep(_session: Session) -> None:
            with self._lock:
                self.entries.append(entry)

        event.listen(session, "after_commit", keep, once=True)


class AreaNames:
    """Each grid's community and each area's name and path, read once per change of the
    areas (their revision counter) and shared by a process's requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision = -1
        self._names: dict[str, tuple[str, int, str]] = {}
        self._communities: dict[str, str] = {}

    def load(self, session: Session) -> dict[str, tuple[str, int, str]]:
        return self._load(session)[0]

    def _load(self, session: Session) -> tuple[dict[str, tuple[str, int, str]], dict[str, str]]:
        repo = AreaRepository(session)
        revision = repo.revision()
        with self._lock:
            if revision == self._revision:
                return self._names, self._communities
        names = repo.names()
        communities = _communities(names)
        with self._lock:
            self._names, self._communities, self._revision = names, communities, revision
        return names, communities

    def community_of(self, session: Session) -> Callable[[str | None], str | None]:
        """grid code → the name of the community it lies in (None for no grid)."""
        communities = self._load(session)[1]
        return lambda grid: communities.get(grid) if grid else None

    def path_of(self, session: Session, code: str) -> str | None:
        found = self.load(session).get(code)
        return None if found is None else found[2]


def _communities(names: dict[str, tuple[str, int, str]]) -> dict[str, str]:
    """Each area's community (its parent's name; a top area's own) by its code, worked
    out once per change of the areas: masking a page of rows looks one up per row."""
    found: dict[str, str] = {}
    for code, (_name, _rank, path) in names.items():
        codes = path.strip("/").split("/")
        parent = names.get(codes[-2] if len(codes) > 1 else codes[-1])
        if parent is not None:
            found[code] = parent[0]
    return found


CATALOGUE_REVISION = "exchange.catalogue"


class CatalogueCache:
    """The datasets' definitions (fields, grades, source) as reads need them, loaded once
    per process and again when any dataset is registered or changed (its revision
    counter, seen by every process within a second). Reads are the busy path: this spares
    each of them two queries. Held detached from any session, and only read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision = -1
        self._datasets: dict[int, Dataset] = {}

    def get(self, session: Session, dataset_id: int) -> Dataset | None:
        revision = read_revision(session, CATALOGUE_REVISION)
        with self._lock:
            if revision != self._revision:
                self._datasets, self._revision = {}, revision
            found = self._datasets.get(dataset_id)
        if found is not None:
            return found
        loaded = CatalogueRepository(session).get(dataset_id)
        if loaded is None:
            return None
        session.expunge(loaded)  # its fields go with it; a rollback cannot expire them
        with self._lock:
            if revision == self._revision:
                self._datasets[dataset_id] = loaded
        return loaded


class GrantsInUse:
    """The grant each unit last read each dataset under, remembered by the process so that
    a read need not look it up: a grant's terms never change once it is made, and whether
    it is still in force (active, begun, not expired) the read's own query of the rows
    asks at the moment of the read (sources.RowQuery.in_force). A read that gets no row
    looks the grant up again, to tell a grant that ended from the end of the rows. Held
    detached from any session, and only read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[tuple[str, int], Grant] = {}

    def get(self, unit: str, dataset_id: int) -> Grant | None:
        with self._lock:
            return self._grants.get((unit, dataset_id))

    def remember(self, session: Session, unit: str, dataset_id: int, grant: Grant) -> None:
        session.expunge(grant)
        with self._lock:
            self._grants[(unit, dataset_id)] = grant

    def forget(self, unit: str, dataset_id: int) -> None:
        with self._lock:
            self._grants.pop((unit, dataset_id), None)


def catalogue_changed(session: Session) -> None:
    """Tell every process's cache that a definition changed (in SESSION's transaction)."""
    bump_revision(session, CATALOGUE_REVISION)


@dataclass
class ExchangePorts:
    directory: Directory = field(default_factory=NoDirectory)
    audit: AuditTrail = field(default_factory=NoAuditTrail)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    secret_key: str = ""
    clock: Callable[[], datetime] = utcnow
    timezone: str = "Asia/Shanghai"
    locale: Locale = "zh"  # of the notices
    # Yes/no questions per unit: None answers them unlimited (tests of the rules alone).
    verify_limiter: RateLimiter | None = None
    areas: AreaNames = field(default_factory=AreaNames)
    catalogue: CatalogueCache = field(default_factory=CatalogueCache)
    grants_in_use: GrantsInUse = field(default_factory=GrantsInUse)
