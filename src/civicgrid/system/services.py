"""What administrators do with the platform's own machinery: see every message the outbox
holds and its delivery state, send a failed one again, deliver now, and read the history
of any record in the one event log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import NotFound
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.outbox import (
    Delivery,
    DeliveryReport,
    Outbox,
    OutboxMessage,
    Transports,
    deliver_due,
)
from civicgrid.core.permissions import ADMIN_ROLES, Actor, Role, permission
from civicgrid.core.workflow import Event, EventLog

DELIVERER = Actor(name="scheduler", role=Role.ADMIN, display_name="消息发送 Outbox")
# The delivery job's name: its lock keeps two processes from sending the same messages.
DELIVERY_JOB = "outbox.deliver"


@dataclass
class OutboxPorts:
    """How messages leave the platform: a transport per channel (the log by default)."""

    transports: Transports = field(default_factory=Transports)
    clock: Callable[[], datetime] = utcnow


@permission(ADMIN_ROLES, "Deliver the messages that are due")
def deliver_messages(uow: UnitOfWork, actor: Actor, ports: OutboxPorts) -> DeliveryReport:
    """Hand every due message to its transport now (what the outbox job does every few
    seconds); failures wait longer before each retry and give up after the last."""
    return deliver_due(uow, ports.transports, ports.clock(), clock=ports.clock)


@dataclass(frozen=True)
class OutboxSummary:
    counts: dict[Delivery, int]
    messages: list[OutboxMessage]


@permission(ADMIN_ROLES, "The outbox: messages and their delivery state")
def outbox_summary(
    uow: UnitOfWork,
    actor: Actor,
    state: Delivery | None = None,
    record_kind: str | None = None,
    limit: int = 200,
) -> OutboxSummary:
    """How many messages are pending, sent and failed, and the newest ones (of one state
    and record kind when given)."""
    box = Outbox(uow.session)
    return OutboxSummary(box.counts(), list(box.listing(state, record_kind, limit)))


@permission(ADMIN_ROLES, "Send a failed message again")
def retry_message(
    uow: UnitOfWork, actor: Actor, message_id: int, ports: OutboxPorts
) -> OutboxMessage:
    """Put a failed (or waiting) message back in line for the next delivery."""
    message = Outbox(uow.session).get(message_id)
    if message is None:
        raise NotFound("outbox_message_not_found", id=message_id)
    message.retry(ports.clock())
    uow.commit()
    return message


@permission(ADMIN_ROLES, "The history of any record")
def record_history(uow: UnitOfWork, actor: Actor, kind: str, record_id: int) -> list[Event]:
    """Every event of one record, oldest first (who, when, why, old and new)."""
    return list(EventLog(uow.session).of(kind, record_id))


def delivery_job(ports: OutboxPorts, every: timedelta) -> PeriodicJob:
    """The outbox's delivery, every EVERY, as the system."""

    def run(uow: UnitOfWork) -> str:
        report = deliver_messages(uow, DELIVERER, ports)
        if not report:
            return ""
        return f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed"

    return PeriodicJob(DELIVERY_JOB, every, run)
