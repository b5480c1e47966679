"""Group commit for intake (the web server's hottest path).

Requests hand their reports to one writer thread per server process, which checks whatever
has queued up (cases.services.prepare_report), stores the accepted ones in one transaction
(cases.services.store_reports) and only then lets each request answer: the case, or the
error that names what is wrong with it. A busy hour costs one session and one commit per
batch instead of one per report, requests need no worker thread of their own, and nothing
is acknowledged before it is stored. If a batch fails, its reports are taken again one by
one, so that one bad report cannot sink the others.

The writer keeps its own database connection between batches: taking one from the pool
would check it with a round trip to the database every batch. A failed batch closes it (the
database may have gone away), and the next batch opens a new one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from civicgrid.cases.services import CasePorts, NewCase, Reported, prepare_report, store_reports
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.permissions import Actor

log = logging.getLogger("civicgrid.intake")


@dataclass
class _Pending:
    actor: Actor
    new: NewCase
    # Called from the writer thread with the stored report or the error that refused it.
    answer: Callable[[Reported | BaseException], None]


class IntakeWriter:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ports: CasePorts,
        max_batch: int = 200,
        gather_seconds: float = 0.002,
    ) -> None:
        self._session_factory = session_factory
        self._ports = ports
        self._max_batch = max_batch
        self._gather = gather_seconds
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping: threading.Event | None = None
        self._users = 0  # apps using this writer (one platform can serve several)
        self._lock = threading.Lock()
        self._connection: Connection | None = None

    def start(self) -> None:
        with self._lock:
            self._users += 1
            self._ensure_thread()

    def stop(self) -> None:
        """The last user to stop lets the thread finish what is queued, then end."""
        with self._lock:
            self._users = max(self._users - 1, 0)
            thread, stopping = (self._thread, self._stopping) if self._users == 0 else (None, None)
            if thread is not None and stopping is not None:
                self._thread = self._stopping = None
                stopping.set()
        if thread is not None:
            thread.join(timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            # Each thread has its own stop signal, so a writer started while an old one
            # is finishing never takes the old one's signal.
            self._stopping = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stopping,), name="intake-writer", daemon=True
            )
            self._thread.start()

    async def report(self, actor: Actor, new: NewCase) -> Reported:
        """ACTOR's report once it is stored; raises the error that refused it. For request
        handlers: the answer comes back on their event loop, with no thread waiting."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[Reported] = loop.create_future()

        def answer(result: Reported | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, stored, result)

        self._put(_Pending(actor, new, answer))
        return await stored

    def submit(self, actor: Actor, new: NewCase) -> Future[Reported]:
        """Queue ACTOR's report; the future completes once it is stored, or with the error
        that refused it (for callers outside an event loop)."""
        done: Future[Reported] = Future()

        def answer(result: Reported | BaseException) -> None:
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)

        self._put(_Pending(actor, new, answer))
        return done

    def _put(self, pending: _Pending) -> None:
        with self._lock:
            self._ensure_thread()  # also when called outside a served app's lifetime
            self._queue.put(pending)

    def _run(self, stopping: threading.Event) -> None:
        """Store batches until told to stop; what is queued by then is still stored."""
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if stopping.is_set():
                    self._drop_connection()
                    return
                continue
            batch = [first]
            deadline = time.monotonic() + self._gather
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get(timeout=max(deadline - time.monotonic(), 0)))
                except queue.Empty:
                    break
            self._store(batch)

    def _store(self, batch: list[_Pending]) -> None:
        try:
            results = self._write([(p.actor, p.new) for p in batch])
        except Exception:
            self._drop_connection()
            if len(batch) == 1:
                log.exception("could not store a report")
                batch[0].answer(_current_error())
                return
            for pending in batch:  # one by one, so one bad report sinks only itself
                self._store([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.answer(result)

    def _write(self, reports: list[tuple[Actor, NewCase]]) -> list[Reported | CivicGridError]:
        """Check each report and store the accepted ones together; a refused report's
        result is the error that says why."""
        results: list[Reported | CivicGridError] = []
        with UnitOfWork(self._session) as uow:
            for actor, new in reports:
                try:
                    results.append(prepare_report(uow, actor, new, self._ports))
                except CivicGridError as exc:
                    results.append(exc)
            store_reports(uow, [r for r in results if isinstance(r, Reported)], self._ports)
        return results

    def _session(self) -> Session:
        """A session on the writer's own connection (see the module's notes)."""
        if self._connection is None:
            self._connection = self._session_factory.kw["bind"].connect()
        return self._session_factory(bind=self._connection)

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already gone with the database
                log.debug("closing the intake connection failed", exc_info=True)


def _settle(future: asyncio.Future[Reported], result: Reported | BaseException) -> None:
    if future.cancelled():  # the client went away; the report is stored all the same
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _current_error() -> BaseException:
    import sys

    error = sys.exc_info()[1]
    return error if error is not None else RuntimeError("report not stored")
