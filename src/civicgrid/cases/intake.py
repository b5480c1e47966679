"""Group commit for intake (the web server's hottest path), on core.groupcommit.

Requests hand their reports to one writer thread per server process, which checks whatever
has queued up (cases.services.prepare_report), stores the accepted ones in one transaction
(cases.services.store_reports) and only then lets each request answer: the case, or the
error that names what is wrong with it. Requests need no worker thread of their own, and
nothing is acknowledged before it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from civicgrid.cases.services import CasePorts, NewCase, Reported, prepare_report, store_reports
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.groupcommit import GroupCommit
from civicgrid.core.permissions import Actor


class IntakeWriter(GroupCommit[tuple[Actor, NewCase], Reported]):
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ports: CasePorts,
        max_batch: int = 200,
        gather_seconds: float = 0.002,
    ) -> None:
        super().__init__(
            "intake-writer", session_factory, self._check_and_store, max_batch, gather_seconds
        )
        self._ports = ports

    async def report(self, actor: Actor, new: NewCase) -> Reported:
        """ACTOR's report once it is stored; raises the error that refused it."""
        return await self.stored((actor, new))

    def _check_and_store(
        self, uow: UnitOfWork, reports: Sequence[tuple[Actor, NewCase]]
    ) -> list[Reported | CivicGridError]:
        """Check each report and store the accepted ones together; a refused report's
        result is the error that says why."""
        results: list[Reported | CivicGridError] = []
        for actor, new in reports:
            try:
                results.append(prepare_report(uow, actor, new, self._ports))
            except CivicGridError as exc:
                results.append(exc)
        store_reports(uow, [r for r in results if isinstance(r, Reported)], self._ports)
        return results
