"""API shapes of the outbox."""

from __future__ import annotations

from pydantic import BaseModel

from civicgrid.core.errors import InvalidInput
from civicgrid.core.outbox import Delivery
from civicgrid.core.schemas import OutboxOut


class OutboxPageOut(BaseModel):
    counts: dict[str, int]
    messages: list[OutboxOut]


class DeliveredOut(BaseModel):
    sent: int
    retrying: int
    failed: int


def parse_delivery(value: str | None) -> Delivery | None:
    if not value:
        return None
    try:
        return Delivery(value)
    except ValueError as exc:
        allowed = ", ".join(d.value for d in Delivery)
        raise InvalidInput("outbox_unknown_state", state=value, allowed=allowed) from exc
