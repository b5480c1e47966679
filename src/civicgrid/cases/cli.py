"""`civicgrid rules …`, `civicgrid categories …` and `civicgrid cases …`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from civicgrid.cases import services
from civicgrid.cases.services import SCHEDULER, RowsRejected
from civicgrid.cases.taxonomy import (
    DEFAULT_CATEGORIES,
    DEFAULT_RULES,
    TaxonomyChanges,
    parse_categories,
    parse_rules,
    rules_csv,
)
from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import format_datetime, translate
from civicgrid.core.jobs import exclusive
from civicgrid.core.permissions import SYSTEM
from civicgrid.core.rows import Parsed, read_csv_text, write_rejected_rows
from civicgrid.system.services import DELIVERY_JOB, deliver_messages

rules_cli = typer.Typer(help="The authority list (事权清单): who handles which category, how fast.")
categories_cli = typer.Typer(help="The two-level category taxonomy of cases.")
cases_cli = typer.Typer(help="Cases: the scheduler's tick.")

FileArgument = Annotated[
    Path | None, typer.Argument(help="CSV file (UTF-8 or GBK); the built-in default when left out")
]


T = TypeVar("T")


@rules_cli.command("import")
def import_rules(
    file: FileArgument = None,
    reason: Annotated[str, typer.Option(help="why the list is replaced (kept with it)")] = "",
    allow_unrouted: Annotated[
        bool,
        typer.Option(
            "--allow-unrouted",
            help="install it even if it leaves active categories with no line at any level",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Replace the authority list. Columns: category, level, function, department, area,
    accept_h, register_h, dispatch_h, start_h, handle_h, verify_h, close_h, auto_escalate.
    All rows or none: bad rows are listed and saved beside the file for correction. The
    list becomes a new version (lines written as before keep their numbers); open cases
    keep the version they were routed by."""
    path = file or DEFAULT_RULES
    with friendly_errors():
        parsed = parse_rules(read_csv_text(path))
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        done = _install(
            path,
            parsed,
            lambda: services.replace_rules(
                uow, SYSTEM, parsed, reason, allow_unrouted=allow_unrouted
            ),
        )
    changes = done.changes
    if done.version is None:
        out.print(f"{done.lines} rules from {path}: the list in force already reads so")
        return
    out.print(
        f"{done.lines} rules installed from {path} as version {done.version}: "
        f"{changes.added} added, {changes.removed} removed, {changes.kept} kept"
    )


@rules_cli.command("versions")
def rule_versions(db: DbOption = None) -> None:
    """The versions of the authority list: when, who, how and why."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        settings = built.settings
        table = Table("version", "when", "who", "change", "reason")
        for listed in services.rule_versions(uow, SYSTEM):
            version = listed.version
            when = format_datetime(version.created_at, settings.default_locale, settings.timezone)
            table.add_row(
                str(version.id), when, version.created_by, version.change.value, version.reason
            )
    out.print(table)


@rules_cli.command("export")
def export_rules(db: DbOption = None) -> None:
    """Print the authority list as CSV (the columns `rules import` reads)."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        print(rules_csv(services.list_rules(uow, SYSTEM)), end="")


@categories_cli.command("import")
def import_categories(
    file: FileArgument = None,
    deactivate_in_use: Annotated[
        bool,
        typer.Option(
            "--deactivate-in-use",
            help="deactivate categories left out even when open cases or the authority list "
            "still name them",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Replace the taxonomy. Columns: code, name, name_en, parent_code, keywords, urgent,
    description. Every row is checked, all or none (bad rows are saved beside the file).
    Categories left out are deactivated (old cases keep theirs), but not those still in
    use unless --deactivate-in-use."""
    path = file or DEFAULT_CATEGORIES
    with friendly_errors():
        parsed = parse_categories(read_csv_text(path))
    done: list[TaxonomyChanges] = []

    def install() -> int:
        done.append(
            services.replace_categories(uow, SYSTEM, parsed, deactivate_in_use=deactivate_in_use)
        )
        return len(parsed.items)

    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        count = _install(path, parsed, install)
    changes = done[0]
    out.print(
        f"{count} categories installed from {path}: {len(changes.added)} added, "
        f"{len(changes.changed)} changed, {len(changes.deactivated)} deactivated"
        + (f" ({', '.join(changes.deactivated)})" if changes.deactivated else "")
    )


@categories_cli.command("list")
def list_categories(db: DbOption = None) -> None:
    """List the active categories."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        table = Table("code", "name", "name (en)", "group", "urgent")
        for c in services.list_categories(uow, SYSTEM):
            table.add_row(c.code, c.name, c.name_en, c.parent_code or "", "yes" if c.urgent else "")
    out.print(table)


def _install(path: Path, parsed: Parsed[Any], install: Callable[[], T]) -> T:
    """Run INSTALL; when rows are rejected, name each and save them beside PATH."""
    try:
        return install()
    except RowsRejected as rejected:
        lang = locale()
        for problem in rejected.problems:
            err.print(f"[red]✗ {problem.message(lang)}[/red]")
        saved = write_rejected_rows(path, parsed.bad_rows())
        rows = len({p.row for p in rejected.problems})
        message = translate("csv_rejected", lang, {"count": rows, "path": saved})
        err.print(f"[red]{message}[/red]")
        raise typer.Exit(1) from rejected


@cases_cli.command("tick")
def tick_command(db: DbOption = None) -> None:
    """Mark overdue cases, escalate them per the authority list, send stored answers.
    The server or `civicgrid worker` does this every CIVICGRID_SCHEDULER_INTERVAL_SECONDS;
    run this from cron when neither does. It waits for nobody: while another process is
    ticking or sending, it says so and leaves that part to it."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        with exclusive(built.engine, services.TICK_JOB) as mine:
            report = services.tick(uow, SCHEDULER, built.cases) if mine else None
        with exclusive(built.engine, DELIVERY_JOB) as mine:
            delivered = deliver_messages(uow, SCHEDULER, built.outbox) if mine else None
    if report is None:
        out.print("another process is ticking now; nothing marked or escalated here")
    else:
        out.print(f"overdue marked: {report.marked_overdue}, escalated: {report.escalated}")
    if delivered is None:
        out.print("another process is sending messages now")
    else:
        out.print(f"messages sent: {delivered.sent}")
