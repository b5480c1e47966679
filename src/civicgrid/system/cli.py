"""`civicgrid outbox …`: the messages the platform sends, and their delivery."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from civicgrid.console import DbOption, friendly_errors, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import format_datetime
from civicgrid.core.permissions import SYSTEM
from civicgrid.system import services
from civicgrid.system.schemas import parse_delivery

outbox_cli = typer.Typer(
    help="The outbox: every message to a person or a system, and its delivery.",
    no_args_is_help=True,
)


@outbox_cli.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help="pending, sent or failed")] = None,
    kind: Annotated[str | None, typer.Option(help="the record kind: case, warning, …")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
    db: DbOption = None,
) -> None:
    """How many messages are pending, sent and failed, and the newest ones."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        settings = built.settings
        found = services.outbox_summary(uow, SYSTEM, parse_delivery(state), kind, limit)
        out.print("  ".join(f"{s.value}: {n}" for s, n in found.counts.items()))
        table = Table("id", "when", "for", "to", "via", "state", "tries", "error")
        for m in found.messages:
            when = format_datetime(m.created_at, settings.default_locale, settings.timezone)
            table.add_row(
                str(m.id),
                when,
                f"{m.record_kind} {m.record_id}",
                m.recipient,
                m.channel.value,
                m.state.value,
                str(m.attempts),
                m.last_error[:60],
            )
    out.print(table)


@outbox_cli.command("retry")
def retry_command(
    message: Annotated[int, typer.Argument(help="the message's id")], db: DbOption = None
) -> None:
    """Put a failed message back in line for the next delivery."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        found = services.retry_message(uow, SYSTEM, message, built.outbox)
        out.print(f"{found.id}\t{found.state.value}")


@outbox_cli.command("deliver")
def deliver_command(db: DbOption = None) -> None:
    """Deliver every message that is due now (what the outbox job does every few seconds)."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        report = services.deliver_messages(uow, SYSTEM, built.outbox)
    out.print(f"sent: {report.sent}, retrying: {report.retrying}, failed: {report.failed}")
