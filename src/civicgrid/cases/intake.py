"""Group commit for intake (the web server's hottest path).

Requests hand their reports to one writer thread per server process, which checks whatever
has queued up (cases.services.prepare_report), stores the accepted ones in one transaction
(cases.services.store_reports) and only then lets each request answer: the case, or the
error that names what is wrong with it. A busy hour costs one session and one commit per
batch instead of one per report, requests need no worker thread of their own, and nothing
is acknowledged before it is stored. If a batch fails, its reports are taken again one by
one, so that one bad report cannot sink the others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from civicgrid.cases.services import CasePorts, NewCase, Reported, prepare_report, store_reports
from civicgrid.core.db import SessionFactory, UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.permissions import Actor

log = logging.getLogger("civicgrid.intake")


@dataclass
class _Pending:
    actor: Actor
    new: NewCase
    done: Future[Reported]


class IntakeWriter:
    def __init__(
        self,
        session_factory: SessionFactory,
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

    def submit(self, actor: Actor, new: NewCase) -> Future[Reported]:
        """Queue ACTOR's report; the future completes once it is stored, or with the error
        that refused it."""
        done: Future[Reported] = Future()
        with self._lock:
            self._ensure_thread()  # also when called outside a served app's lifetime
            self._queue.put(_Pending(actor, new, done))
        return done

    def _run(self, stopping: threading.Event) -> None:
        """Store batches until told to stop; what is queued by then is still stored."""
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if stopping.is_set():
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
            if len(batch) == 1:
                log.exception("could not store a report")
                batch[0].done.set_exception(_current_error())
                return
            for pending in batch:  # one by one, so one bad report sinks only itself
                self._store([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, CivicGridError):
                pending.done.set_exception(result)
            else:
                pending.done.set_result(result)

    def _write(self, reports: list[tuple[Actor, NewCase]]) -> list[Reported | CivicGridError]:
        """Check each report and store the accepted ones together; a refused report's
        result is the error that says why."""
        results: list[Reported | CivicGridError] = []
        with UnitOfWork(self._session_factory) as uow:
            for actor, new in reports:
                try:
                    results.append(prepare_report(uow, actor, new, self._ports))
                except CivicGridError as exc:
                    results.append(exc)
            store_reports(uow, [r for r in results if isinstance(r, Reported)], self._ports)
        return results


def _current_error() -> BaseException:
    import sys

    error = sys.exc_info()[1]
    return error if error is not None else RuntimeError("report not stored")
