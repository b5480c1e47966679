"""One outbox for every message to a person or a system.

A service that changes a record writes the messages the change causes (a reporter's
answer, a unit's new work, a warning, later a grant or an alarm) as `outbox` rows in the
same transaction as the change, so a message exists exactly when its cause does. One
delivery loop (`deliver_due`, a periodic job of the server or of `civicgrid worker`)
hands each to its transport by channel, and keeps its delivery state: pending, sent, or
failed after retries with growing waits. The state is shown on the record's page and
to administrators (`civicgrid outbox`, /admin/outbox).

Transports: the log (the default for every channel), e-mail over SMTP, and an HTTP
webhook (an SMS gateway, or a department's own system). Messages on the "web" channel
reach a person inside the platform, so delivering them is writing them to the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Column, Index, Integer, String, Table, Text, func, select, update
from sqlalchemy.orm import Session

from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork, UtcDateTime, enum_column_type, mapper_registry, metadata
from civicgrid.core.permissions import Role

log = logging.getLogger("civicgrid.notify")


class MessageChannel(StrEnum):
    SMS = "sms"  # a mobile number
    EMAIL = "email"  # an e-mail address
    WEB = "web"  # an account, read inside the platform
    WEBHOOK = "webhook"  # a system's URL (a department's own system)


class Delivery(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS; an administrator may retry it


outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    # What caused it: a record of some kind (events.kind) and its id.
    Column("record_kind", String(32), nullable=False),
    Column("record_id", Integer, nullable=False),
    # Who it is for, as the record knows them: "reporter:12", "user:alice", "unit:CODE".
    Column("recipient", String(120), nullable=False),
    Column("channel", enum_column_type(MessageChannel, 16), nullable=False),
    Column("address", String(500), nullable=False),
    Column("subject", String(200), nullable=False, default=""),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("state", enum_column_type(Delivery, 16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=False, default=""),
)
# The delivery loop's question: pending messages that are due, oldest first.
Index("ix_outbox_due", outbox.c.state, outbox.c.next_attempt_at, outbox.c.id)
# A record's messages (a case's answers and notices).
Index("ix_outbox_record", outbox.c.record_kind, outbox.c.record_id, outbox.c.id)


@dataclass(eq=False)
class OutboxMessage:
    """A message to one recipient, stored before it is sent."""

    record_kind: str
    record_id: int
    recipient: str
    channel: MessageChannel
    address: str
    body: str
    created_at: datetime
    subject: str = ""
    state: Delivery = Delivery.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        if self.next_attempt_at is None and self.state is Delivery.PENDING:
            self.next_attempt_at = self.created_at

    @property
    def is_sent(self) -> bool:
        return self.state is Delivery.SENT

    def retry(self, now: datetime) -> None:
        """Send it again at the next delivery (an administrator's retry of a failed one)."""
        if self.state is not Delivery.SENT:
            self.state = Delivery.PENDING
            self.next_attempt_at = now


mapper_registry.map_imperatively(OutboxMessage, outbox)


# ------------------------------------------------------------------ who to tell


@dataclass(frozen=True)
class Contact:
    """A person the platform can reach: an account with what it knows of how."""

    username: str
    name: str = ""
    phone: str = ""
    email: str = ""

    @property
    def recipient(self) -> str:
        return f"user:{self.username}"

    def best_channel(self) -> tuple[MessageChannel, str]:
        """A phone first (staff read SMS in the field), then e-mail, else the platform."""
        if self.phone:
            return MessageChannel.SMS, self.phone
        if self.email:
            return MessageChannel.EMAIL, self.email
        return MessageChannel.WEB, self.username


class Directory(Protocol):
    """Who works where: the accounts domain implements it (wired in bootstrap)."""

    def unit_staff(self, session: Session, unit_code: str) -> list[Contact]:
        """The active accounts of a handling unit."""

    def area_staff(self, session: Session, area_path: str, roles: frozenset[Role]) -> list[Contact]:
        """The active accounts of ROLES whose area holds the area at AREA_PATH (its own
        area or one above it)."""


class NoDirectory:
    """A directory that knows nobody (tests of a single domain)."""

    def unit_staff(self, session: Session, unit_code: str) -> list[Contact]:
        return []

    def area_staff(self, session: Session, area_path: str, roles: frozenset[Role]) -> list[Contact]:
        return []


def messages_to(
    contacts: Sequence[Contact],
    record_kind: str,
    record_id: int,
    body: str,
    at: datetime,
    subject: str = "",
) -> list[OutboxMessage]:
    """One message per contact (each once), on the contact's best channel."""
    messages = []
    seen = set()
    for contact in contacts:
        if contact.username in seen:
            continue
        seen.add(contact.username)
        channel, address = contact.best_channel()
        messages.append(
            OutboxMessage(
                record_kind=record_kind,
                record_id=record_id,
                recipient=contact.recipient,
                channel=channel,
                address=address,
                subject=subject,
                body=body,
                created_at=at,
            )
        )
    return messages


# ------------------------------------------------------------------ the table


class Outbox:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, messages: Sequence[OutboxMessage]) -> None:
        self.session.add_all(list(messages))

    def of(self, record_kind: str, record_id: int) -> Sequence[OutboxMessage]:
        stmt = (
            select(OutboxMessage)
            .where(outbox.c.record_kind == record_kind, outbox.c.record_id == record_id)
            .order_by(outbox.c.id)
        )
        return self.session.execute(stmt).scalars().all()

    def get(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        """Pending messages whose time has come, oldest first. On PostgreSQL the rows are
        locked and rows another deliverer holds are skipped, so two worker processes never
        send the same message."""
        stmt = (
            select(OutboxMessage)
            .where(outbox.c.state == Delivery.PENDING, outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return self.session.execute(stmt).scalars().all()

    def listing(
        self, state: Delivery | None = None, record_kind: str | None = None, limit: int = 200
    ) -> Sequence[OutboxMessage]:
        """The newest messages, of one delivery state and record kind when given."""
        stmt = select(OutboxMessage).order_by(outbox.c.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(outbox.c.state == state)
        if record_kind is not None:
            stmt = stmt.where(outbox.c.record_kind == record_kind)
        return self.session.execute(stmt).scalars().all()

    def counts(self) -> dict[Delivery, int]:
        rows = self.session.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
        found = {Delivery(state): int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in Delivery}

    def mark_all_sent(self, record_kind: str) -> None:
        """Messages of a history that already happened (the demo's past month) count as
        sent when they were written."""
        self.session.execute(
            update(outbox)
            .where(outbox.c.record_kind == record_kind, outbox.c.state == Delivery.PENDING)
            .values(state=Delivery.SENT, sent_at=outbox.c.created_at, next_attempt_at=None)
        )


# ------------------------------------------------------------------ transports


class Transport(Protocol):
    def send(self, message: OutboxMessage) -> None:
        """Deliver one message or raise; the outbox retries later."""


class LogTransport:
    """Writes the message to the log (the `civicgrid.notify` logger): the default, and how
    messages read inside the platform are delivered. The log is read by whoever runs the
    server, so the phones, e-mails and identity numbers in it are masked as for someone
    who may read none of them in full (core.masking); the message itself is kept as sent."""

    def send(self, message: OutboxMessage) -> None:
        log.info(
            "to %s via %s (%s %s): %s",
            masking.identifiers_in(message.address, None, masking.Whose.REPORTER),
            message.channel.value,
            message.record_kind,
            message.record_id,
            masking.identifiers_in(message.body, None, masking.Whose.REPORTER),
        )


@dataclass(frozen=True)
class SmtpTransport:
    """E-mail over SMTP (STARTTLS when asked, a login when a user is given)."""

    host: str
    port: int = 25
    sender: str = "civicgrid@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0

    def send(self, message: OutboxMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject or message.body.splitlines()[0][:60]
        mail.set_content(message.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(mail)


SIGNATURE_HEADER = "X-CivicGrid-Signature"


@dataclass(frozen=True)
class WebhookTransport:
    """POSTs the message as JSON to a URL: an SMS gateway (URL fixed by the settings) or a
    department's own system (the message's address is its URL, when URL is empty). With
    a SECRET, the body's HMAC-SHA256 goes in the X-CivicGrid-Signature header
    ("sha256=<hex>") so the receiver can check it came from the platform. Any answer but
    2xx is a failure to retry."""

    url: str = ""
    secret: str = ""
    timeout: float = 10.0

    def send(self, message: OutboxMessage) -> None:
        target = self.url or message.address
        payload = {
            "id": message.id,
            "channel": message.channel.value,
            "to": message.address,
            "recipient": message.recipient,
            "subject": message.subject,
            "body": message.body,
            "record": {"kind": message.record_kind, "id": message.record_id},
            "created_at": message.created_at.isoformat(),
        }
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), data, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        request = urllib.request.Request(target, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            raise DeliveryError(f"HTTP {error.code} from {target}") from error
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status} from {target}")


class DeliveryError(Exception):
    """A transport could not deliver; the message stays pending for a retry."""


@dataclass
class Transports:
    """The transport of each channel; the log for any channel not configured."""

    by_channel: Mapping[MessageChannel, Transport] = field(default_factory=dict)
    fallback: Transport = field(default_factory=LogTransport)

    def of(self, channel: MessageChannel) -> Transport:
        return self.by_channel.get(channel, self.fallback)


# ------------------------------------------------------------------ delivering

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def retry_wait(attempts: int) -> timedelta:
    """30 s after the first failure, doubling each time, at most an hour."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.retrying or self.failed)


def deliver_due(
    uow: UnitOfWork,
    transports: Transports,
    now: datetime,
    limit: int = 200,
    clock: Callable[[], datetime] | None = None,
) -> DeliveryReport:
    """Hand every due message to its transport, once each; a failure waits longer before
    each retry (retry_wait) and gives up after MAX_ATTEMPTS. Commits."""
    report = DeliveryReport()
    for message in Outbox(uow.session).due(now, limit):
        try:
            transports.of(message.channel).send(message)
        except Exception as error:  # any transport failure is retried, never lost
            message.attempts += 1
            message.last_error = f"{type(error).__name__}: {error}"[:1000]
            if message.attempts >= MAX_ATTEMPTS:
                message.state = Delivery.FAILED
                message.next_attempt_at = None
                report.failed += 1
                log.error("gave up on message %s after %s attempts", message.id, message.attempts)
            else:
                message.next_attempt_at = now + retry_wait(message.attempts)
                report.retrying += 1
                log.warning("message %s not delivered (%s); retrying", message.id, error)
            continue
        message.attempts += 1
        message.state = Delivery.SENT
        message.sent_at = clock() if clock is not None else now
        message.next_attempt_at = None
        message.last_error = ""
        report.sent += 1
    uow.commit()
    return report
