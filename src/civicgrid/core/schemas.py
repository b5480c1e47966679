"""API shapes of the kernel's records every domain shows: a history row and a message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from civicgrid.core.outbox import Delivery, MessageChannel, OutboxMessage
from civicgrid.core.security import mask_email, mask_phone
from civicgrid.core.workflow import Event


class HistoryOut(BaseModel):
    """One row of a record's history: who did what, when, why, from which state to which,
    and the action's facts (for a change, each field's old and new value)."""

    id: int
    kind: str
    record_id: int
    action: str
    actor: str
    actor_role: str
    from_state: str | None
    to_state: str | None
    at: datetime
    note: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> HistoryOut:
        return cls(
            id=event.id or 0,
            kind=event.kind,
            record_id=event.record_id or 0,
            action=event.action,
            actor=event.actor_name,
            actor_role=event.actor_role,
            from_state=event.from_state,
            to_state=event.to_state,
            at=event.at,
            note=event.note,
            data=event.data,
        )


class OutboxOut(BaseModel):
    """A message the platform sent or will send, and where its delivery stands."""

    id: int
    record_kind: str
    record_id: int
    recipient: str
    channel: str
    address: str
    body: str
    created_at: datetime
    state: Delivery = Field(description="pending, sent, or failed after its retries")
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str

    @classmethod
    def of(cls, message: OutboxMessage, *, reveal: bool = False) -> OutboxOut:
        """The message; its phone or e-mail address masked unless REVEAL."""
        address = message.address
        if not reveal and message.channel is MessageChannel.SMS:
            address = mask_phone(address)
        elif not reveal and message.channel is MessageChannel.EMAIL:
            address = mask_email(address)
        return cls(
            id=message.id or 0,
            record_kind=message.record_kind,
            record_id=message.record_id,
            recipient=message.recipient,
            channel=message.channel.value,
            address=address,
            body=message.body,
            created_at=message.created_at,
            state=message.state,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at,
            sent_at=message.sent_at,
            last_error=message.last_error,
        )
