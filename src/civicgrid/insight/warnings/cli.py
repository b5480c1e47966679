"""`civicgrid insight warnings …`: scan the cases for hot spots and surges, and list the
warnings raised."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from civicgrid.console import DbOption, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import Locale, format_date, translate
from civicgrid.core.jobs import exclusive
from civicgrid.core.permissions import SYSTEM
from civicgrid.insight.warnings import services
from civicgrid.insight.warnings.domain import RiskWarning
from civicgrid.insight.warnings.schemas import parse_day, parse_query
from civicgrid.system.services import DELIVERY_JOB, deliver_messages

warnings_cli = typer.Typer(
    help="Hot spots and surges (风险预警): scan the cases, list the warnings.",
    no_args_is_help=True,
)


@warnings_cli.command("scan")
def scan(
    db: DbOption = None,
    day: Annotated[
        str | None,
        typer.Option("--date", help="the day to scan, YYYY-MM-DD (the city's day; default today)"),
    ] = None,
) -> None:
    """Look for hot spots and surges on one day, raise warnings for the new ones and send
    the notices (what the server does every CIVICGRID_WARNING_SCAN_MINUTES)."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        ports = built.warnings
        with exclusive(built.engine, services.SCAN_JOB) as mine:
            if not mine:
                out.print(translate("warning.scan_running", lang))
                return
            report = services.scan_warnings(uow, SYSTEM, ports, parse_day(day))
        with exclusive(built.engine, DELIVERY_JOB) as mine:
            sent = deliver_messages(uow, SYSTEM, built.outbox).sent if mine else 0
        out.print(
            translate(
                "warning.scanned",
                lang,
                {
                    "day": format_date(report.day, lang),
                    "hotspots": report.hotspots,
                    "surges": report.surges,
                    "raised": len(report.raised),
                    "updated": report.updated,
                    "notices": report.notices,
                    "cases": report.cases,
                },
            )
        )
        for warning in report.raised:
            out.print(f"#{warning.id} {warning.explanation(lang)}")
        if sent:
            out.print(translate("warning.sent", lang, {"count": sent}))


@warnings_cli.command("list")
def list_command(
    db: DbOption = None,
    state: Annotated[
        str | None, typer.Option(help="new, acknowledged, closed or open (the default)")
    ] = "open",
    kind: Annotated[str | None, typer.Option(help="hotspot or surge")] = None,
    category: Annotated[str | None, typer.Option(help="a category or a level-1 group")] = None,
    since: Annotated[str | None, typer.Option(help="seen on or after YYYY-MM-DD")] = None,
) -> None:
    """The warnings, the most recently seen first, with their explanations."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        query = parse_query(kind, category, None if state == "all" else state, since)
        found = services.list_warnings(uow, SYSTEM, query)
        if found:
            out.print(warnings_table(found, lang))
        else:
            out.print(translate("warning.none", lang))


def warnings_table(found: list[RiskWarning], lang: Locale) -> Table:
    table = Table("#", "kind", "grid", "category", "day", "observed / expected", "state")
    table.add_column("explanation", overflow="fold")
    for w in found:
        table.add_row(
            str(w.id),
            translate(f"ui.warnings.kind.{w.kind.value}", lang),
            w.grid_code,
            w.category_code,
            format_date(w.day, lang)
            if w.last_seen == w.day
            else f"{format_date(w.day, lang)} – {format_date(w.last_seen, lang)}",
            f"{w.observed} / {w.expected:.1f}",
            translate(f"ui.warnings.state.{w.state.value}", lang),
            w.explanation(lang),
        )
    return table
