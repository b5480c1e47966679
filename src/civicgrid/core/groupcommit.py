"""Group commit: one writer thread per server process stores what many requests hand it,
a batch per transaction, and lets each request answer only once its part is stored.

A busy hour then costs one session and one commit per batch instead of one per request,
and nothing is acknowledged before it is stored. The batch is what queued up while the
last one was written, gathered for at most GATHER_SECONDS more. If a batch fails, its
items are written again one by one, so that one bad item sinks only itself.

The writer keeps its own database connection between batches: taking one from the pool
would check it with a round trip to the database every batch. A failed batch closes it (the
database may have gone away), and the next batch opens a new one.

Used by case intake (cases.intake) and by the audit log's appends (core.ledger.LogWriter).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError

log = logging.getLogger("civicgrid.groupcommit")

Item = TypeVar("Item")
Result = TypeVar("Result")

# Writes a batch in the unit of work and commits it: one result per item, in order, or the
# error that refused that item (the others are stored all the same).
Write = Callable[[UnitOfWork, Sequence[Item]], Sequence[Result | CivicGridError]]


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    # Called from the writer thread with the stored result or the error that refused it.
    answer: Callable[[Result | BaseException], None]


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        name: str,
        session_factory: sessionmaker[Session],
        write: Write[Item, Result],
        max_batch: int = 200,
        gather_seconds: float = 0.002,
    ) -> None:
        self.name = name
        self._session_factory = session_factory
        self._write = write
        self._max_batch = max_batch
        self._gather = gather_seconds
        self._queue: queue.Queue[_Pending[Item, Result]] = queue.Queue()
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
                target=self._run, args=(self._stopping,), name=self.name, daemon=True
            )
            self._thread.start()

    async def stored(self, item: Item) -> Result:
        """ITEM's result once it is stored; raises the error that refused it. For request
        handlers: the answer comes back on their event loop, with no thread waiting."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Result] = loop.create_future()

        def answer(result: Result | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, result)

        self._put(_Pending(item, answer))
        return await done

    def submit(self, item: Item) -> Future[Result]:
        """Queue ITEM; the future completes once it is stored, or with the error that
        refused it (for callers outside an event loop)."""
        done: Future[Result] = Future()

        def answer(result: Result | BaseException) -> None:
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)

        self._put(_Pending(item, answer))
        return done

    def _put(self, pending: _Pending[Item, Result]) -> None:
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

    def _store(self, batch: list[_Pending[Item, Result]]) -> None:
        try:
            with UnitOfWork(self._session) as uow:
                results = self._write(uow, [p.item for p in batch])
        except Exception:
            self._drop_connection()
            if len(batch) == 1:
                log.exception("%s could not store an item", self.name)
                batch[0].answer(_current_error())
                return
            for pending in batch:  # one by one, so one bad item sinks only itself
                self._store([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.answer(result)

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
                log.debug("closing %s's connection failed", self.name, exc_info=True)


def _settle(future: asyncio.Future[Result], result: Result | BaseException) -> None:
    if future.cancelled():  # the client went away; the item is stored all the same
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _current_error() -> BaseException:
    error = sys.exc_info()[1]
    return error if error is not None else RuntimeError("not stored")
