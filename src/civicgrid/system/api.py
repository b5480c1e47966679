"""/api/v1/system: the outbox and the event log, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of
from civicgrid.core.permissions import Actor
from civicgrid.core.schemas import HistoryOut, OutboxOut
from civicgrid.core.types import RecordId
from civicgrid.system import services
from civicgrid.system.schemas import DeliveredOut, OutboxPageOut, parse_delivery

router = ApiRouter(prefix="/api/v1/system", tags=["system"])


def ports_of(request: Request) -> services.OutboxPorts:
    ports: services.OutboxPorts = platform_of(request).outbox
    return ports


@router.get("/outbox", response_model=OutboxPageOut)
def outbox(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    state: str | None = Query(None, description="pending, sent or failed"),
    kind: str | None = Query(None, description="the record kind: case, warning, …"),
    limit: int = Query(200, ge=1, le=1000),
    actor: Actor = allow(services.outbox_summary),
) -> OutboxPageOut:
    """How many messages are pending, sent and failed, and the newest ones with their
    delivery state, attempts and last error."""
    found = services.outbox_summary(uow, actor, parse_delivery(state), kind, limit)
    return OutboxPageOut(
        counts={state.value: n for state, n in found.counts.items()},
        messages=[OutboxOut.of(m, reveal=True) for m in found.messages],
    )


@router.post("/outbox/{message_id}/retry", response_model=OutboxOut)
def retry_message(
    message_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.retry_message),
) -> OutboxOut:
    """Put a failed message back in line: it goes at the next delivery."""
    message = services.retry_message(uow, actor, message_id, ports_of(request))
    return OutboxOut.of(message, reveal=True)


@router.post("/outbox/deliver", response_model=DeliveredOut)
def deliver(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.deliver_messages),
) -> DeliveredOut:
    """Deliver the messages that are due now instead of at the next run of the job."""
    report = services.deliver_messages(uow, actor, ports_of(request))
    return DeliveredOut(sent=report.sent, retrying=report.retrying, failed=report.failed)


@router.get("/history/{kind}/{record_id}", response_model=list[HistoryOut])
def history(
    kind: str,
    record_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.record_history),
) -> list[HistoryOut]:
    """Every event of one record of any kind (case, warning, unit, account, …)."""
    return [HistoryOut.of(e) for e in services.record_history(uow, actor, kind, record_id)]
